"""The project's Test LV Circuit against the seed encoding, and the adapter's readings."""

from __future__ import annotations

import math

import dss
import numpy as np
import pytest

from conftest import REPO, SEED
from oe_opt.network.opendss import DssNetwork

OURS = REPO / "networks" / "test_lv" / "master.dss"
SEED_MASTER = SEED / "test-lv-circuit" / "LVcircuit-master.txt"


def _set_state(circuit, p_kw, q_kvar):
    loads = circuit.Loads
    for i, (p, q) in enumerate(zip(p_kw, q_kvar)):
        loads.idx = i + 1
        loads.kW, loads.kvar = float(p), float(q)


@pytest.mark.skipif(not SEED_MASTER.exists(), reason="seed network not available")
def test_every_node_voltage_matches_the_seed_network():
    seed_engine = dss.DSS.NewContext()
    seed_engine.Text.Command = f'Compile "{SEED_MASTER}"'
    seed_engine.Text.Command = "Set VoltageBases=[22.0, 0.400]"
    seed_engine.Text.Command = "calcvoltagebases"
    ours = DssNetwork(OURS, pv_kw={"load_mg1_8": 10.0, "load_mg1_21": 10.0},
                      engine=dss.DSS.NewContext())
    seed = seed_engine.ActiveCircuit
    for name, bus in (("load_mg1_8", "bus_mg1_t1_f1_l8.1"), ("load_mg1_21", "bus_mg1_t1_f1_l21.1")):
        seed_engine.Text.Command = (f"New PVSystem.pv_{name} phases=1 bus1={bus} kv=0.23 kva=10 "
                                    f"pmpp=10 irradiance=0 pf=1 %cutin=0.05 %cutout=0.05 "
                                    f"vmaxpu=1.5 vminpu=0.5")
    assert [n.lower() for n in seed.Loads.AllNames] == ours.load_names
    assert ours.load_names == [f"load_mg1_{i}" for i in range(1, 32)]
    rng = np.random.default_rng(3)
    for _ in range(3):
        p = rng.uniform(-8, 8, 31)
        q = p * math.tan(math.acos(0.95))
        pv = rng.uniform(0, 1, 2)
        _set_state(seed, p, q)
        ours.set_loads(np.arange(31), p, q)
        for k, g in enumerate(pv):
            seed.PVSystems.idx = k + 1
            seed.PVSystems.Irradiance = float(g)
        ours.set_pv_output(pv)
        seed.Solution.Solve()
        ours.solve()
        assert seed.Solution.Converged
        v_seed = dict(zip([n.lower() for n in seed.AllNodeNames], seed.AllBusVmagPu))
        v_ours = dict(zip(ours.node_names, ours.circuit.AllBusVmagPu))
        assert set(v_seed) == set(v_ours)
        diff = max(abs(v_seed[n] - v_ours[n]) for n in v_seed)
        assert diff < 1e-6
        # and the network is not trivially flat: loads move the voltages
        assert np.ptp(list(v_ours.values())) > 1e-3


def test_monitors_one_node_per_single_phase_customer_and_ratings():
    net = DssNetwork(OURS)
    assert len(net.voltage_labels) == 31
    assert net.voltage_labels == net.load_names
    assert len(net.line_names) == 28 + 31
    rating = dict(zip(net.line_names, net.line_rating_a))
    assert rating["line_mg1_t1_f1_l1"] == 325 and rating["serviceline_l1"] == 128
    # transformer: per-phase rated current of both windings, kVA/(sqrt(3) kV)
    assert net.transformer_names == ["transformer_mg1_tr1"]
    net.solve()
    mats = net.matrices()
    tx = mats.current_kind == "transformer"
    assert set(np.array(mats.current_element)[tx]) == {"transformer_mg1_tr1"}
    assert sorted(set(mats.current_rating_a[tx])) == pytest.approx(
        sorted([500 / (math.sqrt(3) * 22), 500 / (math.sqrt(3) * 0.433)]))
    assert tx.sum() == 6  # three phases of both windings


def test_bulk_readings_equal_element_by_element_readings():
    net = DssNetwork(OURS)
    rng = np.random.default_rng(7)
    net.set_loads(np.arange(31), rng.uniform(0, 6, 31), rng.uniform(0, 2, 31))
    net.solve()
    state = net.read_state()
    c = net.circuit
    for k, name in enumerate(net.load_names):
        c.SetActiveElement(f"load.{name}")
        c.SetActiveBus(c.ActiveCktElement.BusNames[0])
        assert state.voltage_v[k] == pytest.approx(c.ActiveBus.VMagAngle[0], rel=1e-12)
    for k, name in enumerate(net.line_names):
        c.Lines.Name = name
        nph = c.ActiveCktElement.NumPhases
        i_max = max(c.ActiveCktElement.CurrentsMagAng[0:2 * nph:2])
        assert state.line_loading_pct[k] == pytest.approx(i_max / c.Lines.NormAmps * 100, rel=1e-12)
    c.SetActiveElement("transformer.transformer_mg1_tr1")
    mags = c.ActiveCktElement.CurrentsMagAng
    lv = max(mags[8], mags[10], mags[12])
    hv = max(mags[0], mags[2], mags[4])
    expected = max(lv / (500 / (math.sqrt(3) * 0.433)), hv / (500 / (math.sqrt(3) * 22))) * 100
    assert state.transformer_loading_pct[0] == pytest.approx(expected, rel=1e-12)
    assert state.transformer_loading_pct[0] > 1.0


def test_unknown_load_is_named():
    net = DssNetwork(OURS)
    with pytest.raises(Exception, match="load_mg1_99"):
        net.load_index(["load_mg1_1", "load_mg1_99"])


def test_missing_master_is_named(tmp_path):
    with pytest.raises(Exception, match="nothere.dss"):
        DssNetwork(tmp_path / "nothere.dss")


def test_a_network_replaced_on_its_engine_refuses_to_run_instead_of_crashing():
    engine = dss.DSS.NewContext()
    first = DssNetwork(OURS, engine=engine)
    first.set_loads(np.arange(31), np.ones(31))
    second = DssNetwork(OURS, engine=engine)
    with pytest.raises(Exception, match="another network was compiled on the same OpenDSS engine"):
        first.set_loads(np.arange(31), np.ones(31))
    with pytest.raises(Exception, match="another network was compiled"):
        first.solve()
    second.set_loads(np.arange(31), np.ones(31))
    second.solve()


def test_unbalance_and_mv_voltages_equal_opendss_own_readings():
    net = DssNetwork(OURS, engine=dss.DSS.NewContext())
    rng = np.random.default_rng(5)
    n = len(net.load_names)
    net.set_loads(np.arange(n), rng.uniform(-8, 8, n), rng.uniform(-1, 1, n))
    net.solve()
    state = net.read_state(mv=True, vuf=True)
    c = net.circuit
    seq = []
    for bus in net.three_phase_buses:
        c.SetActiveBus(bus)
        v0, v1, v2 = list(c.ActiveBus.SeqVoltages)
        seq.append(v2 / v1 * 100)
    assert len(net.three_phase_buses) == 30
    assert state.vuf_pct.max() > 0.5          # an unbalanced state
    assert state.vuf_pct == pytest.approx(seq, rel=1e-9, abs=1e-12)
    pu = dict(zip([x.lower() for x in c.AllNodeNames], c.AllBusVmagPu))
    assert net.mv_node_names == ["sourcebus.1", "sourcebus.2", "sourcebus.3"]
    assert state.mv_voltage_pu == pytest.approx([pu[k] for k in net.mv_node_names], rel=1e-12)
    # off unless asked for
    assert len(net.read_state().vuf_pct) == 0 and len(net.read_state().mv_voltage_pu) == 0


def test_mv_lines_and_transformers_are_told_from_lv_ones(tmp_path):
    from conftest import write_mvlv_network

    net = DssNetwork(write_mvlv_network(tmp_path), engine=dss.DSS.NewContext())
    assert net.mv_line_names == {"mv1", "mv2"}
    assert set(net.line_names) - net.mv_line_names == {"lv1", "lv2"}
    assert net.mv_transformer_names == frozenset()          # dt has an LV winding
    assert net.bus_kv_base_ll()["mv2"] == pytest.approx(11.0)
    assert net.bus_kv_base_ll()["lv1"] == pytest.approx(0.416)

def test_yprim_state_reader_equals_opendss_currents():
    """|M V| from the solved node voltages (YNodeVarray) and the elements' Yprim gives the
    loadings and voltages of PDElements.AllCurrentsMagAng / AllBusVmag to rounding."""
    net = DssNetwork(OURS)
    rng = np.random.default_rng(3)
    for _ in range(5):
        net.set_loads(np.arange(31), rng.uniform(-8, 10, 31), rng.uniform(-1, 2, 31))
        net.solve()
        old, new = net.read_state("pdelements"), net.read_state("yprim")
        for field in ("voltage_v", "line_loading_pct", "transformer_loading_pct"):
            x, y = getattr(old, field), getattr(new, field)
            # 1e-9 relative; currents that cancel to ~0 (idle service cables) to 1e-9 % of rating
            assert np.allclose(y, x, rtol=1e-9, atol=1e-9), field
        assert new.line_loading_pct.max() > 10     # currents that matter were compared
    # the reader reads the present state: a different solution gives different loadings
    net.set_loads(np.arange(31), np.full(31, 12.0), np.zeros(31))
    net.solve()
    assert not np.allclose(net.read_state("yprim").line_loading_pct, new.line_loading_pct)
    with pytest.raises(ValueError, match="currents"):
        net.read_state("nonsense")
