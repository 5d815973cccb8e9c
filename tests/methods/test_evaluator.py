"""The evaluator: the flexible customers' reactive power (``[customers] flexible_q``) applied in the
full power flow, reported at the envelope, lp against bisect with it; and the shared 0-kW check
(one power flow per period for both directions)."""

from __future__ import annotations

import math

import dss
import numpy as np
import pytest

from conftest import TUTORIAL
from oe_opt.methods.evaluator import PowerFlowEvaluator
from oe_opt.network.opendss import DssNetwork
from oe_opt.runs.day import Session, run_day
from oe_opt.study import load_study

TAN_095 = math.tan(math.acos(0.95))


def own_session(st) -> Session:
    net = DssNetwork(st.network.master, pv_kw=dict(st.customers.der_kw),
                     voltage_bases_kv=st.network.voltage_bases_kv, engine=dss.DSS.NewContext())
    return Session(st, net=net)


@pytest.mark.parametrize("mode, sign", [("absorb", 1.0), ("inject", -1.0)])
def test_fixed_power_factor_is_in_the_power_flow(write_study, mode, sign):
    st = load_study(write_study({"customers": {"flexible_q": {"pf": 0.95, "mode": mode}}}))
    session = own_session(st)
    case = session.case()
    ev = PowerFlowEvaluator(session.net, st.limits, case)
    ev.set_period(12)
    for direction, p in (("export", -6.0), ("import", 4.0)):
        ev.check_direction(direction, abs(p))
        # what OpenDSS solved: each flexible load's own complex power (kW, kvar)
        c = session.net.circuit
        for i in case.flex_idx[:3]:
            c.Loads.idx = int(i) + 1
            powers = np.asarray(c.ActiveCktElement.Powers)
            kw, kvar = powers[0::2].sum(), powers[1::2].sum()
            assert kw == pytest.approx(p, abs=1e-6)
            assert kvar == pytest.approx(sign * abs(p) * TAN_095, abs=1e-6)


def test_absorbing_raises_the_export_envelope_and_lp_matches_bisect(write_study):
    periods = [12, 36]

    def day(fq):
        st = load_study(write_study({"customers": {"flexible_q": fq}}))
        session = own_session(st)
        return {m: run_day(st, m, session=session, periods=periods, voltages=False).envelopes
                .groupby(["period", "direction"]).first() for m in ("bisect", "lp")}

    zero, absorb, inject = day("zero"), day({"pf": 0.95, "mode": "absorb"}), \
        day({"pf": 0.95, "mode": "inject"})
    exp = (slice(None), "export")
    assert (absorb["bisect"].loc[exp, "oe_kw"] > zero["bisect"].loc[exp, "oe_kw"] + 1.0).all()
    assert (inject["bisect"].loc[exp, "oe_kw"] < zero["bisect"].loc[exp, "oe_kw"] - 0.5).all()
    for res in (absorb, inject):
        assert np.abs(res["lp"].oe_kw - res["bisect"].oe_kw).max() < 0.01
        assert res["lp"].verified.all()
    # Q at the envelope in the table: |P| tan(acos 0.95), + absorbed
    assert absorb["lp"].q_kvar.to_numpy() == pytest.approx(absorb["lp"].oe_kw.to_numpy() * TAN_095)
    assert inject["lp"].q_kvar.to_numpy() == pytest.approx(-inject["lp"].oe_kw.to_numpy() * TAN_095)
    assert (zero["lp"].q_kvar == 0).all()


# AS/NZS 4777.2:2020 Australia A volt-var points (V, % of rated VA, + supplied), written out here
AS4777_A = ([207.0, 220.0, 240.0, 258.0], [44.0, 0.0, 0.0, -60.0])


def test_volt_var_response_is_in_the_power_flow(write_study):
    st = load_study(write_study({"customers": {"flexible_q": "as4777_a", "flexible_kva": 8.0}}))
    session = own_session(st)
    case = session.case()
    ev = PowerFlowEvaluator(session.net, st.limits, case)
    ev.set_period(12)
    c = session.net.circuit
    seen = []
    for direction, oe in (("export", 9.0), ("import", 12.0), ("export", 3.0)):
        check = ev.check_direction(direction, oe)
        for j, i in enumerate(case.flex_idx):
            c.Loads.idx = int(i) + 1
            powers = np.asarray(c.ActiveCktElement.Powers)
            v = np.abs(np.asarray(c.ActiveCktElement.Voltages, dtype=float).view(complex)[0])
            want = -np.interp(v, *AS4777_A) / 100 * 8.0          # load sign: + absorbed
            assert powers[1::2].sum() == pytest.approx(want, abs=1e-4)
            assert check.flex_q_kvar[j] == pytest.approx(powers[1::2].sum(), abs=1e-4)
            seen.append(want)
    assert max(seen) > 1.0                         # absorbing, on the curve's 240-258 V slope


def test_volt_var_lets_more_export_and_lp_matches_bisect(write_study):
    periods = [12]

    def day(fq):
        st = load_study(write_study({"customers": {"flexible_q": fq}}))
        session = own_session(st)
        return {m: run_day(st, m, session=session, periods=periods, voltages=False).envelopes
                .groupby(["period", "direction"]).first() for m in ("bisect", "lp")}

    zero, vv = day("zero"), day("as4777_a")
    assert vv["bisect"].loc[(12, "export"), "oe_kw"] > zero["bisect"].loc[(12, "export"), "oe_kw"] + 2
    assert vv["lp"].loc[(12, "export"), "q_kvar"] > 1.0            # absorbing at the export OE
    assert np.abs(vv["lp"].oe_kw - vv["bisect"].oe_kw).max() < 0.01
    assert vv["lp"].verified.all()
    # every power flow of the volt-var iterations is counted, for bisect too (more than its checks)
    assert (vv["bisect"].n_powerflows > 3 * zero["bisect"].n_powerflows).all()


def test_volt_watt_curtails_exports_in_the_power_flow(write_study):
    curve = {"volt_var": [[207, 44], [220, 0], [240, 0], [258, -60]],
             "volt_watt": [[246, 100], [256, 20]]}
    st = load_study(write_study({"customers": {"flexible_q": curve}}))
    session = own_session(st)
    case = session.case()
    ev = PowerFlowEvaluator(session.net, st.limits, case)
    ev.set_period(12)
    check = ev.check_direction("export", 10.0)
    c = session.net.circuit
    delivered = []
    for j, i in enumerate(case.flex_idx):
        c.Loads.idx = int(i) + 1
        powers = np.asarray(c.ActiveCktElement.Powers)
        v = np.abs(np.asarray(c.ActiveCktElement.Voltages, dtype=float).view(complex)[0])
        allowed = min(10.0, np.interp(v, [246, 256], [100, 20]) / 100 * 10.0)
        assert -powers[0::2].sum() == pytest.approx(allowed, abs=1e-4)
        assert check.flex_p_kw[j] == pytest.approx(powers[0::2].sum(), abs=1e-4)
        delivered.append(allowed)
    assert min(delivered) < 9.0 and check.ok      # curtailed, and so within the limits at 10 kW
    env = run_day(st, "lp", session=session, periods=[12], voltages=False).envelopes
    exp = env[env.direction == "export"]
    assert (exp.oe_kw == 10.0).all() and (exp.p_kw < exp.oe_kw).any()   # p_kw: delivered


def test_the_named_curve_s_volt_watt_does_not_act_at_a_verified_export_envelope(write_study):
    # Australia A's volt-watt starts at 253 V = v_max_v: a verified envelope never reaches it
    named = load_study(write_study({"customers": {"flexible_q": "as4777_a"}}))
    assert named.customers.flexible_q.volt_watt == ((253.0, 100.0), (260.0, 20.0))
    points = load_study(write_study({"customers": {"flexible_q": {
        "volt_var": [[207, 44], [220, 0], [240, 0], [258, -60]]}}}, name="points.toml"))
    oe = [run_day(st, "bisect", session=own_session(st), periods=[12], voltages=False).envelopes
          for st in (named, points)]
    assert np.abs(oe[0].oe_kw.to_numpy() - oe[1].oe_kw.to_numpy()).max() < 1e-9
    assert (oe[0].p_kw == oe[0].oe_kw).all()


def test_zero_check_is_shared_by_the_directions_of_a_period_and_renewed_per_period():
    st = load_study(TUTORIAL)
    session = Session(st)
    case = session.case()
    ev = PowerFlowEvaluator(session.net, st.limits, case)
    ev.set_period(30)
    c0, v0 = ev.check_zero(session.net.node_voltages_y)
    assert ev.n_powerflows == 1
    ev.check_direction("export", 6.0)                     # the engine moves on
    ev.set_period(30)                                     # the other direction, same period
    c1, v1 = ev.check_zero(session.net.node_voltages_y)
    assert ev.n_powerflows == 0 and c1 is c0 and v1 is v0  # no power flow: the kept check
    fresh = ev.check(0.0)                                 # what a separate check would give
    assert fresh.ok == c0.ok and fresh.binding == c0.binding
    assert np.allclose(fresh.voltage_v, c0.voltage_v, rtol=1e-9)
    assert np.allclose(session.net.node_voltages_y(), v0, rtol=1e-8)
    ev.set_period(12)                                     # another period: solved again
    c2, _ = ev.check_zero()
    assert ev.n_powerflows == 1 and not np.allclose(c2.voltage_v, c0.voltage_v)


def test_the_lean_check_gives_the_full_checks_verdict_state_and_powers():
    st = load_study(TUTORIAL)
    session = own_session(st)
    case = session.case()
    outcomes = []
    for lean in (False, True):
        session.net.reset_solution()
        ev = PowerFlowEvaluator(session.net, st.limits, case, state_reader="yprim")
        ev.lean = lean
        ev.set_period(26)
        got = []
        for direction, kw in (("export", 0.0), ("export", 3.0), ("export", 9.0),
                              ("import", 12.0), ("import", 14.0)):
            c = ev.check_direction(direction, kw)
            got.append((c.ok, c.binding, c.margin_pct, c.v_lowest_v, c.v_highest_v,
                        c.max_line_loading_pct, c.transformer_loading_pct,
                        c.flex_p_kw.tolist(), c.flex_q_kvar.tolist(), ev.n_powerflows))
        outcomes.append(got)
    assert outcomes[0] == outcomes[1]
    # the points cover holding and broken limits (the comparison can tell them apart)
    assert {o[0] for o in outcomes[1]} == {True, False}


# ------------------------------------------------ the fused check of the fast core (issue 9 item 5)
def _fused_case(session, st):
    from oe_opt.model.sensitivity import SensitivityModel

    case = session.case()
    ev = PowerFlowEvaluator(session.net, st.limits, case, state_reader="yprim")
    ev.lean = True
    sens = SensitivityModel(session.net, case.flex_idx, analytic=True)
    return case, ev, sens


@pytest.mark.parametrize("period, kw, holds", [(12, -3.0, True), (12, -9.0, False),
                                               (36, 8.0, True), (36, 30.0, False),
                                               (26, 0.0, True)])
def test_the_fused_check_is_the_lean_check_to_the_last_bit(period, kw, holds):
    """One node-voltage read for the verdict and the quantities gives the same check (every
    field, every array) as the lean check reading the state itself, on holding and broken
    states (the tutorial's lines and its two-winding transformer)."""
    st = load_study(TUTORIAL)
    case, ev, sens = _fused_case(own_session(st), st)
    rng = np.random.default_rng(period)
    p = kw * rng.uniform(0.5, 1.5, len(case.flex_idx))
    ev.set_period(period)
    got, v, y = ev.check_quantities(p, sens)
    # the lean check's own reading of the same solved state
    ref = ev.net.read_state("yprim")
    from oe_opt.model.limits import LimitChecker
    from oe_opt.network.base import mv_elements

    checker = LimitChecker(st.limits, ev.net.voltage_labels, ev.net.line_names,
                           ev.net.transformer_names, mv_elements(ev.net))
    want = checker(ref, flex_q_kvar=case.flex_q_kvar(p), flex_p_kw=p)
    assert (got.ok, got.binding, got.margin_pct, got.v_lowest_v, got.v_highest_v,
            got.max_line_loading_pct, got.transformer_loading_pct) == (
        want.ok, want.binding, want.margin_pct, want.v_lowest_v, want.v_highest_v,
        want.max_line_loading_pct, want.transformer_loading_pct)
    for a, b in ((got.voltage_v, ref.voltage_v), (ev.last_state.line_loading_pct,
                                                   ref.line_loading_pct),
                 (ev.last_state.transformer_loading_pct, ref.transformer_loading_pct),
                 (got.flex_p_kw, want.flex_p_kw), (got.flex_q_kvar, want.flex_q_kvar),
                 (v, sens.node_voltages()), (y, sens.quantities(sens.node_voltages()))):
        assert np.array_equal(a, b)
    assert len(ref.transformer_loading_pct) == 1 and len(ref.line_loading_pct) > 50
    # holding and broken states alike
    assert got.ok == holds


def test_the_state_of_quantities_reads_each_element_from_its_own_currents():
    """The state from the quantities follows each line's own phase currents: raising one
    current entry raises that line's loading and no other; a layout naming an element the
    state does not have is refused."""
    from oe_opt.model.limits import QuantityState
    from oe_opt.model.sensitivity import QuantityLayout

    layout = QuantityLayout(kind=np.array(["voltage", "line", "line", "line", "transformer",
                                           "transformer"]),
                            element=["c1", "a", "b", "a", "t", "t"],
                            rating_a=np.array([np.nan, 100.0, 200.0, 100.0, 50.0, 500.0]))
    qs = QuantityState(layout, ["a", "b"], ["t"])
    st = qs(np.array([230.0, 10.0, 20.0, 30.0, 40.0, 100.0]))
    assert st.voltage_v.tolist() == [230.0]
    assert st.line_loading_pct.tolist() == [30.0, 10.0]       # a: max(10, 30) / 100 A
    assert st.transformer_loading_pct.tolist() == [80.0]      # t: 40 A of its 50 A winding
    st = qs(np.array([230.0, 10.0, 150.0, 30.0, 40.0, 100.0]))
    assert st.line_loading_pct.tolist() == [30.0, 75.0]
    with pytest.raises(ValueError, match="not in the state"):
        QuantityState(layout, ["a"], ["t"])
    with pytest.raises(ValueError, match="no monitored current"):
        QuantityState(layout, ["a", "b", "c"], ["t"])
