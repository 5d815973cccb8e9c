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


def test_a_row_product_into_a_buffer_gives_the_products_bits():
    """RowProduct as a new array or written into a buffer: the same bits (the entries'
    products summed per row by reduceat, as before the buffer), the CSR product's values,
    and empty rows 0 whatever the buffer held."""
    import numpy as np
    import scipy.sparse as sp

    from oe_opt.network.base import RowProduct

    rng = np.random.default_rng(7)
    dense = sp.random(40, 30, density=0.2, random_state=3, format="csr")
    dense = sp.csr_matrix((dense + sp.eye(40, 30, format="csr")) * (1 + 0.5j))  # no empty row
    holes = sp.csr_matrix(sp.diags((np.arange(40) % 3 != 0).astype(float)) @ dense)
    holes.eliminate_zeros()                                        # rows 0, 3, ... empty
    v = rng.normal(size=30) + 1j * rng.normal(size=30)
    for m in (dense, holes):
        m.sort_indices()
        rows = np.nonzero(np.diff(m.indptr))[0]
        want = np.zeros(40, dtype=complex)
        want[rows] = np.add.reduceat(m.data * v[m.indices], m.indptr[:-1][rows])
        rp = RowProduct(m)
        assert rp._dense_rows == (m is dense)
        out = np.full(40, np.nan + 0j)
        rp.into(v, out)
        assert np.array_equal(rp(v), want) and np.array_equal(out, want)
        assert np.allclose(out, m @ v, rtol=1e-13, atol=0)
