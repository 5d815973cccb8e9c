"""The linear network model read from OpenDSS (DssNetwork.matrices) against OpenDSS itself."""

from __future__ import annotations

import dss
import numpy as np
import pytest

from conftest import REPO
from oe_opt.network.opendss import DssNetwork

OURS = REPO / "networks" / "test_lv" / "master.dss"


@pytest.fixture(scope="module")
def solved():
    net = DssNetwork(OURS, pv_kw={"load_mg1_8": 10.0}, engine=dss.DSS.NewContext())
    rng = np.random.default_rng(11)
    net.set_loads(np.arange(31), rng.uniform(-4, 6, 31), rng.uniform(0, 1, 31))
    net.set_pv_output(np.array([0.7]))
    net.solve()
    return net, net.matrices()


def test_network_y_is_the_system_y_without_loads(solved):
    net, mats = solved
    y_net = mats.y_network.toarray()
    y_sys = net.system_y_without_pc().toarray()
    assert np.max(np.abs(y_net - y_sys)) <= 1e-9 * np.max(np.abs(y_sys))
    # Kirchhoff: no current is injected at nodes without loads, PV or source
    v = mats.node_voltages()
    inj = y_net @ v
    used = set(mats.source_nodes.tolist())
    for nodes in mats.injection_nodes:
        used.update(int(n) for n in nodes if n >= 0)
    free = np.setdiff1d(np.arange(len(v)), sorted(used))
    assert len(free) > 0 and len(used) > 31
    assert np.max(np.abs(inj[free])) < 1e-6 * np.max(np.abs(inj))
    # ... and at a load's node it is the load's own current: S = V conj(I) is its kW (load sign)
    k = net.load_names.index("load_mg1_5")
    node = mats.load_nodes[k][0]
    s_inj = v[node] * np.conj(inj[node])
    state_kw = -s_inj.real / 1000.0
    assert state_kw == pytest.approx(mats_kw(net, k), rel=1e-6)


def mats_kw(net, k):
    """kW drawn by load k according to OpenDSS's own element power reading."""
    c = net.circuit
    c.SetActiveElement(f"load.{net.load_names[k]}")
    return sum(c.ActiveCktElement.Powers[0::2])


def test_maps_match_the_state_readers(solved):
    net, mats = solved
    v = mats.node_voltages()
    state = net.read_state()
    assert np.allclose(np.abs(v[mats.voltage_nodes]), state.voltage_v, rtol=1e-12)
    cur = np.abs(mats.current_map @ v)
    assert mats.current_map.shape == (len(mats.current_kind), mats.n_nodes)
    for k, name in enumerate(net.line_names):
        rows = (mats.current_kind == "line") & (np.array(mats.current_element) == name)
        rating = mats.current_rating_a[rows]
        assert rows.any() and np.all(rating == net.line_rating_a[k])
        assert cur[rows].max() / rating[0] * 100 == pytest.approx(state.line_loading_pct[k],
                                                                     rel=1e-9)
    tx = mats.current_kind == "transformer"
    assert (cur[tx] / mats.current_rating_a[tx]).max() * 100 == pytest.approx(
        state.transformer_loading_pct[0], rel=1e-9)


def test_injections_and_load_models(solved):
    net, mats = solved
    assert len(mats.load_nodes) == len(net.load_names) == len(mats.load_model)
    assert (mats.load_model == 1).all()  # the Test LV Circuit's loads are constant power
    assert "pvsystem.pv_load_mg1_8" in mats.injection_names
    # single-phase grounded-wye customers: one phase node, then ground
    assert all(len(n) == 2 and n[0] >= 0 and n[-1] == -1 for n in mats.load_nodes)
    assert all(mats.node_order[n[0]].split(".")[0] == net.load_bus[i].split(".")[0]
               for i, n in enumerate(mats.load_nodes))


def test_a_constant_impedance_load_is_reported_by_its_model_code(tmp_path):
    import shutil

    shutil.copytree(OURS.parent, tmp_path / "net")
    loads = tmp_path / "net" / "loads.dss"
    loads.write_text("\n".join(ln.replace("model=1", "model=2") if ln.startswith(
        "New Load.load_mg1_3 ") else ln for ln in loads.read_text().splitlines()) + "\n")
    net = DssNetwork(tmp_path / "net" / "master.dss", engine=dss.DSS.NewContext())
    net.solve()
    model = net.matrices().load_model
    assert model[net.load_names.index("load_mg1_3")] == 2 and (np.delete(model, 2) == 1).all()


def test_topology_walks_from_the_source(solved):
    net, _ = solved
    paths = net.topology()
    k = net.load_names.index("load_mg1_21")
    path = paths[net.load_bus[k].split(".")[0]]
    assert path[0] == "transformer.transformer_mg1_tr1" and path[-1] == "line.serviceline_l21"
    assert all(p[:len(path[:1])] == path[:1] for b, p in paths.items() if p)  # one transformer


def test_the_matrices_node_voltages_are_each_new_solved_state_as_opendss_gives_it():
    """The model's node-voltage reader (the engine's own fast view of ``YNodeVarray``) gives
    OpenDSS's complex voltages, in YNodeOrder, of the state solved last, not a kept one."""
    from oe_opt.network.opendss_matrices import complex_array

    net = DssNetwork(OURS, engine=dss.DSS.NewContext())
    net.solve()
    mats = net.matrices()

    v0 = mats.node_voltages()
    assert v0.dtype == complex and np.array_equal(v0, complex_array(net.circuit.YNodeVarray))
    net.set_loads(np.array([5]), np.array([12.0]), np.array([0.0]))
    net.solve()
    v1 = mats.node_voltages()
    assert np.array_equal(v1, complex_array(net.circuit.YNodeVarray))
    assert not np.array_equal(v0, v1)                  # the new state, not the old one
