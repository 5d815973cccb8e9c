"""The optimiser: lp against bisect on two studies, the verify-and-tighten loop, infeasible
periods and the per-customer allocation method."""

from __future__ import annotations

import dss
import numpy as np
import pandas as pd
import pytest

from conftest import REPO, TUTORIAL
from oe_opt.runs.day import Session, run_day
from oe_opt.io.results import ENVELOPE_COLUMNS
from oe_opt.network.opendss import DssNetwork
from oe_opt.methods.evaluator import PowerFlowEvaluator
from oe_opt.model.limits import margins_pct
from oe_opt.model.lp import EnvelopeLP
from oe_opt.methods.cache import sensitivity_model
from oe_opt.methods.optimised import make_solver
from oe_opt.methods.registry import get_method
from oe_opt.methods.slp import Linearise, verify_and_tighten
from oe_opt.model.allocations import get_allocation
from oe_opt.model.limits import headroom, limit_rows
from oe_opt.problem import build_problem
from oe_opt.model.sensitivity import SensitivityModel
from oe_opt.methods.search import bisect_search
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


@pytest.fixture(scope="module", params=[(TUTORIAL, "full_use"), (SECOND, "full_use"),
                                        (SECOND, "any_use")],
                ids=["tutorial", "second", "second-any_use"])
def day_runs(request):
    path, holds_for = request.param
    st = load_study(path).with_holds_for(holds_for)
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
    # power flows: at most a third of bisection's (no perturbation runs: analytic sensitivities);
    # any_use: both check the chosen corners at every verified candidate; lp has fewer candidates
    if st.envelope.holds_for == "full_use":
        assert o.pf.mean() <= b.pf.mean() / 3
    else:
        assert o.pf.mean() < b.pf.mean()
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


def plain_lp_loop(st, session, case, ev, direction: str, allocation: str = "equal", **kw):
    """verify_and_tighten with plain LPs (no local model: ``max_inner=0``), on its own LP; one
    variable (as ``lp``) for ``equal``, else one per customer (as ``alloc``)."""
    sens = sensitivity_model(session.net, case.flex_idx)
    rows = limit_rows(sens.layout, st.limits)
    problem = build_problem(st, case.flex_names)
    if allocation == "equal":
        e, caps, weights = np.ones((len(case.flex_idx), 1)), np.array([problem.cap_kw(direction)]), None
    else:
        e = np.eye(len(case.flex_idx))
        caps, weights = problem.customer_caps_kw(direction), problem.weights(direction)
    lp = EnvelopeLP(e.shape[1], rows.n)
    objective = get_allocation(allocation)
    return verify_and_tighten(ev, direction, lp, Linearise(sens, e), rows, caps,
                              lambda m: objective.solve(m, weights), objective.improves(weights),
                              componentwise=objective.componentwise, max_inner=0, **kw)


def test_the_local_model_corrects_the_optimistic_first_linearisation(tutorial):
    """Imports at midday: with the PV of the fixed customers exporting, the feeder current first
    falls and then grows with the flexible customers' import, so the sensitivities at 0 kW
    under-predict it at high power.  A plain LP on them proposes a candidate that fails the full
    power flow, and the loop re-linearises at it until the power flow holds.  Solved on the local
    power-flow model around the 0-kW state instead (no power flow), the first candidate holds."""
    st, session, case, ev = tutorial
    ev.set_period(24)
    plain = plain_lp_loop(st, session, case, ev, "import")
    hist = plain.extra["history"]
    assert hist[0].step == "zero" and hist[0].ok
    assert hist[1].step == "lp" and not hist[1].ok          # optimistic first candidate
    assert hist[1].x_kw[0] > plain.oe_kw + 0.1
    assert hist[-1].ok and np.isclose(hist[-1].x_kw[0], plain.oe_kw)
    # the successive LP core (lp's fast core is tested in tests/methods/test_equal_fast.py)
    solve = make_solver(build_problem(st, case.flex_names), session.net, case, per_customer=False,
                        core="slp")
    ev.set_period(24)
    res = solve(ev, "import")
    hist = res.extra["history"]
    assert [c.step for c in hist] == ["zero", "lp"] and all(c.ok for c in hist)
    assert res.verified and res.status == "ok" and res.check.ok and res.extra["n_model"] >= 1
    assert res.n_powerflows == 2 < plain.n_powerflows
    # one analytic linearisation at 0 kW and at every candidate, none of them a power flow
    assert res.n_powerflows == len(hist) and res.extra["n_sensitivity"] == len(hist)
    ev.set_period(24)
    exact = bisect_search(lambda x: ev.check_direction("import", x), build_problem(st, case.flex_names).cap_kw("import"), 1e-6)
    for r in (res, plain):
        assert exact.oe_kw - 0.01 <= r.oe_kw <= exact.oe_kw
    # the candidate just above the verified one really violates the binding constraint
    assert not ev.check_direction("import", res.oe_kw + 0.01).ok


def test_scale_back_when_the_lp_iterations_run_out(tutorial):
    """With a single (plain) LP the violating candidate is scaled back towards 0 kW (Newton steps
    on the segment, then bisection) until the power flow holds."""
    st, session, case, ev = tutorial
    ev.set_period(24)
    res = plain_lp_loop(st, session, case, ev, "import", max_iter=1)
    steps = [c.step for c in res.extra["history"]]
    assert steps[:2] == ["zero", "lp"] and "scale" in steps and not res.extra["history"][1].ok
    assert res.verified and res.n_lp == 1
    ev.set_period(24)
    exact = bisect_search(lambda x: ev.check_direction("import", x), build_problem(st, case.flex_names).cap_kw("import"), 1e-6)
    assert exact.oe_kw - 0.01 <= res.oe_kw <= exact.oe_kw


def test_finite_difference_sensitivities_give_the_same_envelope(tutorial):
    st, session, case, ev = tutorial
    fd = make_solver(build_problem(st, case.flex_names), session.net, case, per_customer=False, sensitivity="fd")
    an = get_method("lp")(build_problem(st, case.flex_names), session.net, case)
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
    # one power flow at 0 kW per period, shared by its two directions (lp's fast core)
    assert (o.pf.groupby(level="period").sum() == 1).all() and (o.n_lp == 0).all()


@pytest.fixture(scope="module")
def unequal():
    st = load_study(UNEQUAL).with_holds_for("full_use")  # the local model of the full_use loop
    session = own_session(st)
    case = session.case()
    return st, session, case, PowerFlowEvaluator(session.net, st.limits, case)


ALLOCS = ("equal", "proportional", "max_total", "maxmin", "log_fair")


def test_local_model_predicts_the_power_flow_after_a_step(unequal):
    """The local model of an analytic linearisation (power series of the power flow around the
    solved state) against full power flows, at the evening peak with every customer at its
    import limit, for curtailing two customers by 8 kW: each order closes most of the error the
    one before leaves (the linear prediction misses the feeder-head current by ~0.3 A); the
    sensitivities at the predicted state are those of the real one; the dense and sparse
    solvers and the adjoint (a few quantities) agree."""
    st, session, case, ev = unequal
    sens = sensitivity_model(session.net, case.flex_idx)
    caps = np.array([st.customers.import_max_kw[n] for n in case.flex_names])
    step = np.zeros(len(caps))
    step[[6, -1]] = -2.0, -6.0
    ev.set_period(45)
    ev.solve(caps + step)
    actual = sens.analytic(caps + step)
    ev.solve(caps)
    lin = sens.analytic(caps)
    err = [float(np.abs(lin.model.predict(step, order) - actual.y).max()) for order in (1, 2, 3, 4)]
    assert err[0] > 0.1 and err[3] < 1e-4
    assert all(later < 0.1 * earlier for earlier, later in zip(err, err[1:]))
    pred = lin.model.linearise(step)
    assert np.abs(pred.y - actual.y).max() < 1e-4 and np.allclose(pred.p_kw, caps + step)
    scale = np.abs(actual.dy_dp).max()
    assert np.abs(pred.dy_dp - actual.dy_dp).max() < 1e-6 * scale
    assert np.abs(lin.dy_dp - actual.dy_dp).max() > 1e-3 * scale     # they do change
    volt = np.nonzero(sens.layout.is_voltage)[0]
    cur = np.nonzero(~sens.layout.is_voltage)[0]
    q = np.concatenate([volt[:2], cur[np.argsort(-actual.y[cur])[:3]]])
    assert np.abs(lin.model.gradient(step, q) - pred.dy_dp[q]).max() < 1e-9 * scale
    sparse = SensitivityModel(session.net, case.flex_idx, solver="sparse")
    ev.solve(caps)
    for directions, c in ((None, step), (np.ones((len(caps), 1)), np.array([-0.5]))):
        a, b = sens.analytic(caps, directions), sparse.analytic(caps, directions)
        assert np.abs(a.model.predict(c) - b.model.predict(c)).max() < 1e-5
        assert np.abs(a.model.gradient(c, q) - b.model.gradient(c, q)).max() < 1e-6 * scale


def test_nearly_tied_customers_take_a_curtailment_in_few_power_flows(unequal):
    """Evening peak, imports limited by the feeder-head line: the customers on its loaded phase
    have nearly equal sensitivities of its current, so which of them takes the curtailment is
    nearly a tie for max_total.  A plain LP jumps between those vertices from one power flow to
    the next (the curtailed customer's own sensitivity falls, so another becomes the cheaper
    one); on the local model (cutting planes, tie-break) the loop needs the 0-kW check and at
    most two candidates, and shares the curtailment among the tied customers."""
    st, session, case, ev = unequal
    solve = make_solver(build_problem(st.with_allocation("max_total"), case.flex_names), session.net, case, per_customer=True,
                        allocation="max_total")
    ev.set_period(36)
    res = solve(ev, "import")
    ev.set_period(36)
    plain = plain_lp_loop(st, session, case, ev, "import", "max_total")
    assert res.verified and plain.verified and res.binding == "line:line_mg1_t1_f1_l1"
    assert res.n_powerflows <= 3 < plain.n_powerflows
    assert np.sum(res.oe_kw) >= np.sum(plain.oe_kw) - 1e-3
    caps = np.array([st.customers.import_max_kw[n] for n in case.flex_names])
    assert np.sum(res.oe_kw < caps - 0.01) >= 2                      # shared, not one vertex
    ev.set_period(36)
    assert ev.check_direction("import", res.oe_kw).ok


@pytest.mark.parametrize("period, direction", [(26, "export"), (36, "import")])
def test_allocation_objectives_are_verified_and_ordered(unequal, period, direction):
    st, session, case, ev = unequal
    c = st.customers
    caps = np.array([getattr(c, f"{direction}_max_kw")[n] for n in case.flex_names])
    weights = np.array([getattr(c, f"{direction}_weight")[n] for n in case.flex_names])
    out = {}
    for alloc in ALLOCS:
        solve = make_solver(build_problem(st.with_allocation(alloc), case.flex_names), session.net, case, per_customer=True,
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
    alloc = make_solver(build_problem(st, case.flex_names), session.net, case, per_customer=True, allocation="equal")
    lp = get_method("lp")(build_problem(st, case.flex_names), session.net, case)
    for t, d in ((20, "export"), (20, "import")):
        ev.set_period(t)
        r1 = alloc(ev, d)
        ev.set_period(t)
        r2 = lp(ev, d)
        assert np.allclose(r1.oe_kw, r2.oe_kw, atol=1e-3) and r1.binding == r2.binding


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
    from oe_opt.model.sensitivity import SensitivityModel

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
    solve = get_method("lp")(build_problem(st, case.flex_names), session.net, case)
    ev.set_period(30)
    res = solve(ev, "export")
    assert res.extra["sensitivity"] == "fd" and res.verified
    ev.set_period(30)
    exact = bisect_search(lambda x: ev.check_direction("export", x), build_problem(st, case.flex_names).cap_kw("export"), 1e-6)
    assert exact.oe_kw - 0.01 <= res.oe_kw <= exact.oe_kw
