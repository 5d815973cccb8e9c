"""The optimiser: lp against bisect on two studies, the verify-and-tighten loop, infeasible
periods and the per-customer allocation method."""

from __future__ import annotations

import dss
import numpy as np
import pandas as pd
import pytest

from conftest import REPO, TUTORIAL
from oe_opt.chain import ENVELOPE_COLUMNS, Session, run_day
from oe_opt.network import DssNetwork
from oe_opt.evaluator import PowerFlowEvaluator
from oe_opt.limits import margins_pct
from oe_opt.lp import EnvelopeLP
from oe_opt.methods import cap_kw, get_method
from oe_opt.optimise import (Linearise, improvement_test, limit_rows, headroom, make_solver,
                             sensitivity_model, verify_and_tighten)
from oe_opt.search import bisect_search
from oe_opt.study import load_study

SECOND = REPO / "models" / "second.toml"
UNEQUAL = REPO / "models" / "unequal_der.toml"


def own_session(st) -> Session:
    """A session on its own OpenDSS engine (fixtures of this module stay alive side by side)."""
    net = DssNetwork(st.network.master, pv_kw=dict(st.customers.der_kw),
                     voltage_bases_kv=st.network.voltage_bases_kv, engine=dss.DSS.NewContext())
    return Session(st, net=net)


def per_period(env: pd.DataFrame) -> pd.DataFrame:
    return env.groupby(["period", "direction"]).agg(
        oe_kw=("oe_kw", "first"), status=("status", "first"), binding=("binding", "first"),
        pf=("n_powerflows", "first"), n_lp=("n_lp", "first"), verified=("verified", "all"),
        spread=("oe_kw", lambda s: s.max() - s.min()))


@pytest.fixture(scope="module", params=[TUTORIAL, SECOND], ids=["tutorial", "second"])
def day_runs(request):
    st = load_study(request.param)
    session = own_session(st)
    return st, run_day(st, "bisect", session=session), run_day(st, "lp", session=session)


def test_lp_matches_bisect_in_every_period(day_runs):
    st, bis, lp = day_runs
    assert list(lp.envelopes.columns) == ENVELOPE_COLUMNS
    assert (lp.envelopes.method == "lp").all()
    b, o = per_period(bis.envelopes), per_period(lp.envelopes)
    assert (o.spread.fillna(0) == 0).all()  # equal allocation
    assert o.verified.all()
    assert (o.status == b.status).all()
    diff = o.oe_kw - b.oe_kw
    assert (diff.abs() <= 0.01).all()
    assert (diff <= 0.001).all()
    limited = b.status == "ok"
    assert limited.any()
    assert (o.binding[limited] == b.binding[limited]).all()
    # power flows: at most a third of bisection's (no perturbation runs: analytic sensitivities)
    assert o.pf.mean() <= b.pf.mean() / 3
    assert (o.n_lp >= 1).all()


def test_lp_is_registered_and_the_tutorial_default():
    assert callable(get_method("lp")) and callable(get_method("alloc"))
    assert load_study(TUTORIAL).envelope.method == "lp"


@pytest.fixture(scope="module")
def tutorial():
    st = load_study(TUTORIAL)
    session = own_session(st)
    case = session.case()
    return st, session, case, PowerFlowEvaluator(session.net, st.limits, case)


def test_optimistic_first_linearisation_is_tightened(tutorial):
    """Imports at midday: with the PV of the fixed customers exporting, the feeder current first
    falls and then grows with the flexible customers' import, so the sensitivities at 0 kW
    under-predict it at high power.  The first LP candidate fails the full power flow; the loop
    re-linearises at the candidate until the power flow holds."""
    st, session, case, ev = tutorial
    solve = get_method("lp")(st, session.net, case)
    ev.set_period(24)
    res = solve(ev, "import")
    hist = res.extra["history"]
    assert hist[0].step == "zero" and hist[0].ok
    assert hist[1].step == "lp" and not hist[1].ok          # optimistic first candidate
    assert hist[1].x_kw[0] > res.oe_kw + 0.1
    assert hist[-1].ok and np.isclose(hist[-1].x_kw[0], res.oe_kw)
    assert res.verified and res.status == "ok" and res.check.ok
    # one analytic linearisation at 0 kW and at every candidate, none of them a power flow
    assert res.n_powerflows == len(hist) and res.extra["n_sensitivity"] == len(hist)
    ev.set_period(24)
    exact = bisect_search(lambda x: ev.check_direction("import", x), cap_kw(st, "import"), 1e-6)
    assert exact.oe_kw - 0.01 <= res.oe_kw <= exact.oe_kw
    # the candidate just above the verified one really violates the binding constraint
    assert not ev.check_direction("import", res.oe_kw + 0.01).ok


def test_scale_back_when_the_lp_iterations_run_out(tutorial):
    """With a single LP the violating candidate is scaled back towards 0 kW (Newton steps on the
    segment, then bisection) until the power flow holds."""
    st, session, case, ev = tutorial
    sens = sensitivity_model(session.net, case.flex_idx)
    rows = limit_rows(sens.layout, st.limits)
    lp = EnvelopeLP(1, rows.n)
    lin = Linearise(sens, np.ones((len(case.flex_idx), 1)))
    ev.set_period(24)
    res = verify_and_tighten(ev, "import", lp, lin, rows, np.array([cap_kw(st, "import")]),
                             lambda m: m.solve_equal(), max_iter=1)
    steps = [c.step for c in res.extra["history"]]
    assert steps[:2] == ["zero", "lp"] and "scale" in steps and not res.extra["history"][1].ok
    assert res.verified and res.n_lp == 1
    ev.set_period(24)
    exact = bisect_search(lambda x: ev.check_direction("import", x), cap_kw(st, "import"), 1e-6)
    assert exact.oe_kw - 0.01 <= res.oe_kw <= exact.oe_kw


def test_finite_difference_sensitivities_give_the_same_envelope(tutorial):
    st, session, case, ev = tutorial
    fd = make_solver(st, session.net, case, per_customer=False, sensitivity="fd")
    an = get_method("lp")(st, session.net, case)
    for t, d in ((10, "export"), (30, "import")):
        ev.set_period(t)
        r_fd = fd(ev, d)
        ev.set_period(t)
        r_an = an(ev, d)
        assert abs(r_fd.oe_kw - r_an.oe_kw) < 1e-3 and r_fd.verified
        assert r_fd.extra["sensitivity"] == "fd" and r_fd.extra["n_sensitivity"] == 0
        # perturbation runs are power flows: one per linearisation
        assert r_fd.n_powerflows == 2 * len(r_fd.extra["history"])  # + one perturbation run each


def test_limit_rows_agree_with_the_limit_check(tutorial):
    st, session, case, ev = tutorial
    sens = sensitivity_model(session.net, case.flex_idx)
    rows = limit_rows(sens.layout, st.limits)
    ev.set_period(26)
    for x in (0.0, 13.5):
        state = ev.solve(np.full(len(case.flex_idx), x))
        room = headroom(rows, sens.quantities())
        m = margins_pct(state, st.limits)
        c = ev.check(np.full(len(case.flex_idx), x))
        assert (room.min() >= 0) == c.ok
        vmax = np.array([lab.startswith("v_max:") for lab in rows.labels])
        assert np.allclose(room[vmax] / st.limits.v_max_v * 100, m["v_max"], atol=1e-9)
        worst = rows.labels[int(np.argmin(room / np.abs(rows.bound)))]
        assert worst == c.binding


def test_infeasible_periods_as_in_step_and_bisect(write_study):
    hot = load_study(write_study({"network": {"source_pu": 1.10}}))
    session = own_session(hot)
    periods = [0, 12, 30]
    b = per_period(run_day(hot, "bisect", session=session, periods=periods).envelopes)
    s = per_period(run_day(hot, "step", session=session, periods=periods).envelopes)
    o = per_period(run_day(hot, "lp", session=session, periods=periods).envelopes)
    assert (o.status == "infeasible").all()
    for other in (b, s):
        assert (o.status == other.status).all() and (o.binding == other.binding).all()
    assert o.binding.str.startswith("v_max:").all()
    assert o.oe_kw.isna().all() and o.verified.all()
    assert (o.pf == 1).all() and (o.n_lp == 0).all()


@pytest.fixture(scope="module")
def unequal():
    st = load_study(UNEQUAL)
    session = own_session(st)
    case = session.case()
    return st, session, case, PowerFlowEvaluator(session.net, st.limits, case)


ALLOCS = ("equal", "proportional", "max_total", "maxmin", "log_fair")


@pytest.mark.parametrize("period, direction", [(26, "export"), (36, "import")])
def test_allocation_objectives_are_verified_and_ordered(unequal, period, direction):
    st, session, case, ev = unequal
    c = st.customers
    caps = np.array([getattr(c, f"{direction}_max_kw")[n] for n in case.flex_names])
    weights = np.array([getattr(c, f"{direction}_weight")[n] for n in case.flex_names])
    out = {}
    for alloc in ALLOCS:
        solve = make_solver(st.with_allocation(alloc), session.net, case, per_customer=True,
                            allocation=alloc)
        ev.set_period(period)
        res = solve(ev, direction)
        x = np.asarray(res.oe_kw)
        assert x.shape == (len(case.flex_names),)
        assert res.verified and res.check.ok and res.extra["allocation"] == alloc
        assert np.all(x >= -1e-12) and np.all(x <= caps + 1e-9)
        # the reported envelopes hold in an independent power flow
        ev.set_period(period)
        assert ev.check_direction(direction, x).ok
        out[alloc] = x
    tol = 0.01
    assert np.ptp(out["equal"]) < 1e-9
    ratio = out["proportional"] / weights
    assert np.ptp(ratio) < 1e-6 * ratio.max()
    assert out["maxmin"].min() >= out["equal"].min() - tol
    for alloc in ALLOCS:
        assert out["max_total"].sum() >= out[alloc].sum() - tol
    floor = 1e-3 * caps
    logsum = {k: np.sum(np.log(np.maximum(v, floor))) for k, v in out.items()}
    assert logsum["log_fair"] >= max(logsum.values()) - 0.05


def test_alloc_equal_matches_lp_with_equal_caps(tutorial):
    st, session, case, ev = tutorial
    alloc = make_solver(st, session.net, case, per_customer=True, allocation="equal")
    lp = get_method("lp")(st, session.net, case)
    for t, d in ((20, "export"), (20, "import")):
        ev.set_period(t)
        r1 = alloc(ev, d)
        ev.set_period(t)
        r2 = lp(ev, d)
        assert np.allclose(r1.oe_kw, r2.oe_kw, atol=1e-3) and r1.binding == r2.binding


def test_improvement_tests():
    x = np.array([1.0, 2.0])
    assert improvement_test("equal")(x + 0.01, x, 1e-4)
    assert not improvement_test("equal")(x + 1e-5, x, 1e-4)
    assert not improvement_test("max_total")(np.array([2.0, 1.0]), x, 1e-4)
    assert improvement_test("maxmin")(np.array([1.5, 1.5]), x, 1e-4)
    assert improvement_test("proportional", np.array([1.0, 2.0]))(2 * x, x, 1e-4)
    assert improvement_test("log_fair")(np.array([1.5, 1.6]), x, 1e-4)
    with pytest.raises(ValueError):
        improvement_test("magic")


def test_alloc_runs_through_the_chain(unequal):
    st, session, case, ev = unequal
    res = run_day(st, "alloc", session=session, periods=[24])
    env = res.envelopes
    assert list(env.columns) == ENVELOPE_COLUMNS and len(env) == 2 * len(case.flex_names)
    assert env.verified.all() and (env.method == "alloc").all()
    assert env.groupby("direction").oe_kw.nunique().max() > 1  # per-customer values


def test_circuits_the_analytic_model_does_not_cover_fall_back_to_finite_differences(
        write_study, tmp_path):
    """A constant-impedance load (model=2) is not a constant-power injection: the analytic
    sensitivities refuse the circuit and the lp method uses perturbation runs instead."""
    import shutil

    from oe_opt.errors import NetworkError
    from oe_opt.sensitivity import SensitivityModel

    src = REPO / "networks" / "test_lv"
    net_dir = tmp_path / "net"
    shutil.copytree(src, net_dir)
    loads = net_dir / "loads.dss"
    lines = loads.read_text().splitlines()
    lines = [ln.replace("model=1", "model=2") if ln.startswith("New Load.load_mg1_3 ") else ln
             for ln in lines]
    loads.write_text("\n".join(lines) + "\n")
    st = load_study(write_study({"network": {"master": str(net_dir / "master.dss")}}))
    session = own_session(st)
    case = session.case()
    with pytest.raises(NetworkError, match="model=1"):
        SensitivityModel(session.net, case.flex_idx)
    ev = PowerFlowEvaluator(session.net, st.limits, case)
    solve = get_method("lp")(st, session.net, case)
    ev.set_period(30)
    res = solve(ev, "export")
    assert res.extra["sensitivity"] == "fd" and res.verified
    ev.set_period(30)
    exact = bisect_search(lambda x: ev.check_direction("export", x), cap_kw(st, "export"), 1e-6)
    assert exact.oe_kw - 0.01 <= res.oe_kw <= exact.oe_kw
