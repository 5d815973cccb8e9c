"""The optional limits of issue 12 in the optimiser: voltage unbalance (``vuf``) on the tutorial,
MV voltages and MV line ratings on a small MV-LV model built here; lp against bisect."""

from __future__ import annotations

import dss
import numpy as np
import pytest

from conftest import dump_toml, tutorial_dict, write_mvlv_network
from oe_opt.errors import NetworkError
from oe_opt.inputs.case import build_day_case, read_profile_data
from oe_opt.methods.evaluator import PowerFlowEvaluator
from oe_opt.network.opendss import DssNetwork
from oe_opt.runs.day import Session, run_day
from oe_opt.study import load_study


def own_session(st) -> Session:
    net = DssNetwork(st.network.master, pv_kw=dict(st.customers.der_kw),
                     voltage_bases_kv=st.network.voltage_bases_kv, engine=dss.DSS.NewContext())
    return Session(st, net=net)


def per_period(env):
    return env.groupby(["period", "direction"]).agg(
        oe_kw=("oe_kw", "first"), binding=("binding", "first"), verified=("verified", "all"),
        status=("status", "first"))


def lp_and_bisect(path, periods):
    st = load_study(path)
    session = own_session(st)
    bis = per_period(run_day(st, "bisect", session=session, periods=periods, voltages=False).envelopes)
    lp = per_period(run_day(st, "lp", session=session, periods=periods, voltages=False).envelopes)
    return bis, lp


def mvlv_study(folder, limits: dict, mv_normamps: float = 200.0):
    master = write_mvlv_network(folder, mv_normamps=mv_normamps)
    d = tutorial_dict()
    d["network"] = {"master": str(master)}
    d["profiles"].update(assignment="seeded", seed=1)
    d["customers"] = {"flexible": ["c1", "c2", "c3", "c4"], "fixed_pf": 0.95}
    d["envelope"].update(export_max_kw=40.0, import_max_kw=40.0)
    d["limits"].update(limits)
    path = folder / "mvlv.toml"
    path.write_text(dump_toml(d))
    return path


def test_unbalance_limit_binds_and_lp_matches_bisect(write_study):
    # the tutorial day at 18:00 with a tight unbalance limit: VUF (the 13 single-phase
    # customers are unevenly spread over the phases) binds before the voltages
    bis_off, _ = lp_and_bisect(write_study(), [36])
    bis, lp = lp_and_bisect(write_study({"limits": {"vuf_max_pct": 0.3}}), [36])
    for direction in ("export", "import"):
        assert bis.loc[(36, direction), "binding"].startswith("vuf:bus_")
        assert lp.loc[(36, direction), "binding"].startswith("vuf:bus_")
        assert bis.loc[(36, direction), "oe_kw"] < bis_off.loc[(36, direction), "oe_kw"] - 0.3
    assert lp.verified.all()
    assert np.abs(lp.oe_kw - bis.oe_kw).max() < 0.01


def test_unbalance_limit_is_checked_by_the_evaluator(write_study):
    st = load_study(write_study({"limits": {"vuf_max_pct": 0.3}}))
    session = own_session(st)
    ev = PowerFlowEvaluator(session.net, st.limits, session.case())
    ev.set_period(36)
    ok, bad = ev.check_direction("import", 2.0), ev.check_direction("import", 12.0)
    assert ok.ok and not bad.ok
    assert bad.binding.startswith("vuf:")
    assert ev.last_state.vuf_pct.max() > 0.3
    assert bad.margin_pct == pytest.approx((0.3 - ev.last_state.vuf_pct.max()) / 0.3 * 100)


def test_mv_voltage_limits_bind_on_an_mv_lv_feeder_and_lp_matches_bisect(tmp_path):
    bis_off, _ = lp_and_bisect(mvlv_study(tmp_path, {}), [12])
    bis, lp = lp_and_bisect(mvlv_study(tmp_path, {"mv_v_max_pu": 1.0003, "mv_v_min_pu": 0.9993}),
                            [12])
    assert bis_off.loc[(12, "export"), "binding"] == "v_max:c4"   # LV customer voltage
    assert bis.loc[(12, "export"), "binding"].startswith("mv_v_max:mv")
    assert bis.loc[(12, "import"), "binding"].startswith("mv_v_min:mv")
    assert lp.binding.str.startswith("mv_v_").all()
    assert (bis.oe_kw < bis_off.oe_kw - 1.0).all()
    assert lp.verified.all()
    assert np.abs(lp.oe_kw - bis.oe_kw).max() < 0.01


def test_mv_line_rating_binds_with_an_mv_label(tmp_path):
    bis, lp = lp_and_bisect(mvlv_study(tmp_path, {}, mv_normamps=3.0), [36])
    assert (bis.binding == "mv_line:mv2").all() and (lp.binding == "mv_line:mv2").all()
    assert np.abs(lp.oe_kw - bis.oe_kw).max() < 0.01


def test_mv_limits_on_a_network_without_mv_buses_are_refused(tmp_path):
    lv = tmp_path / "lv.dss"
    lv.write_text("Clear\nNew Circuit.lv basekv=0.416 pu=1.0 phases=3 bus1=src\n"
                  "New Line.l1 bus1=src bus2=b1 r1=0.01 x1=0.01 normamps=300 units=km length=1\n"
                  "New Load.c1 bus1=b1.1 phases=1 kv=0.24 kw=1 model=1\n"
                  "Set VoltageBases=[0.416]\nCalcVoltageBases\n")
    d = tutorial_dict()
    d["network"] = {"master": str(lv)}
    d["profiles"].update(assignment="seeded")
    d["customers"] = {"flexible": ["c1"]}
    d["limits"]["mv_v_max_pu"] = 1.05
    path = tmp_path / "lv.toml"
    path.write_text(dump_toml(d))
    st = load_study(path)
    net = DssNetwork(lv, engine=dss.DSS.NewContext())
    case = build_day_case(st, net, read_profile_data(st, net))
    with pytest.raises(NetworkError, match=r"lv.dss: \[limits\] mv_v_max_pu is set but the network "
                                           r"has no MV bus"):
        PowerFlowEvaluator(net, st.limits, case)


def test_heuristic_reduces_everyone_on_an_unbalance_violation(write_study):
    st = load_study(write_study({"limits": {"vuf_max_pct": 0.3}}))
    session = own_session(st)
    env = run_day(st, "heuristic", session=session, periods=[36], voltages=False).envelopes
    assert env.verified.all()
    ev = PowerFlowEvaluator(session.net, st.limits, session.case())
    ev.set_period(36)
    for direction, g in env.groupby("direction"):
        assert ev.check(np.where(direction == "export", -1, 1) * g.oe_kw.to_numpy()).ok
