"""The engine door: DssNetwork implements the protocol; an incomplete engine does not."""

from __future__ import annotations

from conftest import REPO
from oe_opt.network.base import NetworkEngine
from oe_opt.network.opendss import DssNetwork


def test_dss_network_is_a_network_engine():
    net = DssNetwork(REPO / "networks" / "test_lv" / "master.dss")
    assert isinstance(net, NetworkEngine)
    net.solve()
    assert net.matrices().n_nodes > 31 and net.topology()


def test_an_object_missing_a_required_name_is_not():
    class NoReader:
        master = load_names = load_bus = voltage_labels = line_names = transformer_names = None
        line_rating_a = pv_customers = None
        n_powerflows = 0

        def load_index(self, names, what="customer"): ...
        def set_loads(self, idx, p_kw, q_kvar=None): ...
        def set_pv_output(self, fraction): ...
        def set_pv_irradiance(self, pv_idx, irradiance): ...
        def set_source_pu(self, pu): ...
        def solve(self): ...
        def reset_solution(self): ...
        def matrices(self): ...
        def topology(self): ...
        def time_series(self): ...

    assert not isinstance(NoReader(), NetworkEngine)

    class Complete(NoReader):
        def read_state(self): ...

    assert isinstance(Complete(), NetworkEngine)
