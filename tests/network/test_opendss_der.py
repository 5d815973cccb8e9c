"""DER customers' PV is sized by ``der_kw`` (kVA = Pmpp), not a fixed 10 kW."""

from __future__ import annotations

import numpy as np
import pytest

from oe_opt.runs.day import open_network
from oe_opt.study import load_study


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    from conftest import dump_toml, tutorial_dict

    data = tutorial_dict()
    data["customers"]["der_kw"] = {"load_mg1_8": 3.0, "load_mg1_21": 6.6}
    path = tmp_path_factory.mktemp("der") / "der.toml"
    path.write_text(dump_toml(data))
    return load_study(path)


def test_pv_systems_take_each_customers_der_size(study):
    net = open_network(study)
    pvs = net.circuit.PVSystems
    sizes = {}
    for name in net.pv_customers:
        pvs.Name = f"pv_{name}"
        sizes[name] = (pvs.kVArated, pvs.Pmpp)
    assert sizes == {"load_mg1_8": (3.0, 3.0), "load_mg1_21": (6.6, 6.6)}
    # at full sun each produces its rating
    net.set_pv_output(np.ones(len(net.pv_customers)))
    net.solve()
    out = {}
    for name in net.pv_customers:
        net.circuit.SetActiveElement(f"PVSystem.pv_{name}")
        out[name] = -sum(net.circuit.ActiveCktElement.Powers[0::2])
    assert out["load_mg1_8"] == pytest.approx(3.0, rel=0.02)
    assert out["load_mg1_21"] == pytest.approx(6.6, rel=0.02)
