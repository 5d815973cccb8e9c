"""Any-use envelopes (issue 9): they hold at every subset of customers tried (full power flows),
lp agrees with bisect, and the corner checks catch a full_use envelope that breaks a limit when
only some customers use it."""

from __future__ import annotations

import dss
import numpy as np
import pytest

from conftest import TUTORIAL
from oe_opt.methods.any_use import (CornerChecker, choose_corners, checker_for, merge_checks,
                                    row_coefficients, worst_corner_rows)
from oe_opt.methods.evaluator import PowerFlowEvaluator
from oe_opt.methods.registry import get_method
from oe_opt.network.opendss import DssNetwork
from oe_opt.problem import build_problem
from oe_opt.runs.day import Session, run_day
from oe_opt.study import load_study

#: tutorial day 220: midday exports limited by v_max, evening imports by the feeder-head line
PERIODS = [26, 34, 36]


@pytest.fixture(scope="module")
def tutorial():
    st = load_study(TUTORIAL).with_holds_for("any_use")
    net = DssNetwork(st.network.master, pv_kw=dict(st.customers.der_kw),
                     voltage_bases_kv=st.network.voltage_bases_kv, engine=dss.DSS.NewContext())
    session = Session(st, net=net)
    case = session.case()
    return st, session, case, PowerFlowEvaluator(session.net, st.limits, case)


@pytest.fixture(scope="module")
def runs(tutorial):
    st, session, _, _ = tutorial
    out = {}
    for hf in ("full_use", "any_use"):
        for m in ("bisect", "lp"):
            env = run_day(st.with_holds_for(hf), m, session=session, periods=PERIODS,
                          voltages=False).envelopes
            out[hf, m] = env.groupby(["period", "direction"]).first()
    return out


def subsets(n: int, rng: np.random.Generator, n_random: int = 20) -> list[np.ndarray]:
    """Every single customer, every leave-one-out set and `n_random` random subsets."""
    eye = np.eye(n, dtype=bool)
    out = list(eye) + list(~eye)
    while len(out) < 2 * n + n_random:
        m = rng.random(n) < 0.5
        if 1 < m.sum() < n - 1:
            out.append(m)
    return out


def test_worst_corner_rows_are_the_positive_part():
    a = np.array([[1.0, -2.0, 3.0], [-1.0, -1.0, -1.0]])
    assert worst_corner_rows(a, np.ones((3, 1))).ravel().tolist() == [4.0, 0.0]
    assert np.array_equal(worst_corner_rows(a, np.eye(3)), [[1, 0, 3], [0, 0, 0]])


def test_any_use_envelopes_hold_at_every_subset_tried(tutorial, runs):
    """lp's and alloc's any-use envelopes: every single customer, leave-one-out and 20 random
    subsets at their OE (the others at 0 kW) hold every limit, full power flows."""
    st, session, case, ev = tutorial
    rng = np.random.default_rng(9)
    n = len(case.flex_names)
    masks = subsets(n, rng)
    problem = build_problem(st.with_allocation("max_total"), case.flex_names)
    alloc = get_method("alloc")(problem, session.net, case)
    worst = np.inf
    for (t, d), r in runs["any_use", "lp"].iterrows():
        assert r.verified
        ev.set_period(t)
        per_customer = np.asarray(alloc(ev, d).oe_kw)
        for oe in (np.full(n, r.oe_kw), per_customer):
            ev.set_period(t)
            for m in masks:
                c = ev.check_direction(d, np.where(m, oe, 0.0))
                assert c.ok, (t, d, np.flatnonzero(m), c.binding, c.margin_pct)
                worst = min(worst, c.margin_pct)
    assert worst < 0.5  # some subset comes within 0.5 % of a limit: the test is not vacuous


def test_lp_within_10_w_of_bisect_for_both_definitions(runs):
    for hf in ("full_use", "any_use"):
        b, o = runs[hf, "bisect"], runs[hf, "lp"]
        assert (o.status == b.status).all()
        assert ((o.oe_kw - b.oe_kw).abs() <= 0.01).all(), hf
        assert o.verified.all() and b.verified.all()
    # any use costs envelope in every limited period-direction here
    assert (runs["any_use", "bisect"].oe_kw < runs["full_use", "bisect"].oe_kw - 0.05).all()


def test_corner_checks_catch_a_full_use_envelope_broken_by_a_subset(tutorial, runs):
    """Period 34 import: the full_use envelope holds with all 13 at it, but a subset at it
    overloads the feeder-head line (the neutral shift raises the phase-a current); exports:
    a subset lifts a voltage above 253 V.  The corner check finds both; all-at-OE does not."""
    st, session, case, ev = tutorial
    checker = checker_for(session.net, case, st.limits)
    n = len(case.flex_names)
    for d, kind in (("import", "line:line_mg1_t1_f1"), ("export", "v_max:")):
        oe = runs["full_use", "bisect"].loc[(34, d), "oe_kw"]
        ev.set_period(34)
        pc = checker.check(ev, d, np.full(n, oe), "any_use")
        assert pc.full.ok                       # what full_use checks
        assert not pc.ok and pc.failed_corner is not None
        mask, c, _, _ = pc.corners[pc.failed_corner]
        assert 1 < mask.sum() < n and c.binding.startswith(kind), c.binding
        assert pc.check.margin_pct == c.margin_pct <= pc.full.margin_pct
        # the same subset at the any-use envelope holds
        ev.set_period(34)
        oe_any = runs["any_use", "bisect"].loc[(34, d), "oe_kw"]
        assert ev.check_direction(d, np.where(mask, oe_any, 0.0)).ok
    # full_use ignores the corners: the check is the all-at-OE point only
    ev.set_period(34)
    assert checker.check(ev, "import", np.full(n, oe), "full_use").corners == []


def test_corner_choice_rule():
    """Rows within the window of the tightest predicted corner margin, deduplicated, without the
    all-at-OE point, at most max_corners, customers with a positive sensitivity at their OE."""
    from oe_opt.model.limits import LimitRows

    rows = LimitRows(np.arange(4), np.ones(4), np.full(4, 100.0), ["v_max:a", "v_max:b", "v_max:c",
                                                                   "v_max:d"])
    y = np.array([99.0, 99.0, 99.0, 90.0])
    a = np.array([[1.0, -1.0, 1.0],      # corner {0, 2}: predicted usage 99 + 1 = 100
                  [0.5, -1.0, 0.5],      # the same corner again (deduplicated)
                  [1.0, 1.0, 1.0],       # all-at-OE: already checked
                  [-1.0, 1.0, -1.0]])    # corner {1}: far from binding (margin 8 %)
    oe = np.ones(3)
    got = choose_corners(rows, y, a, oe, window_pct=0.5, max_corners=6)
    assert [m.tolist() for m, _ in got] == [[True, False, True]]
    assert got[0][1] == pytest.approx(0.0)
    wide = choose_corners(rows, y, a, oe, window_pct=20.0, max_corners=6)
    assert [m.tolist() for m, _ in wide] == [[True, False, True], [False, True, False]]
    assert len(choose_corners(rows, y, a, oe, window_pct=20.0, max_corners=1)) == 1
    # a customer at 0 kW is in no corner
    got0 = choose_corners(rows, y, a, np.array([1.0, 1.0, 0.0]), window_pct=20.0)
    assert all(not m[2] for m, _ in got0)


def test_step_bisect_and_heuristic_honour_holds_for(tutorial, runs):
    st, session, case, ev = tutorial
    n = len(case.flex_names)
    rng = np.random.default_rng(1)
    masks = subsets(n, rng, n_random=10)
    for m in ("step", "heuristic"):
        solve = get_method(m)(build_problem(st, case.flex_names), session.net, case)
        for t, d in [(34, "import"), (26, "export")]:
            ev.set_period(t)
            res = solve(ev, d)
            assert res.verified and res.extra["holds_for"] == "any_use"
            assert res.extra["n_corner_checks"] >= 1
            oe = np.broadcast_to(np.asarray(res.oe_kw, dtype=float), (n,))
            if m == "step":
                assert oe[0] <= runs["any_use", "bisect"].loc[(t, d), "oe_kw"] + 1e-9
            ev.set_period(t)
            for mask in masks:
                assert ev.check_direction(d, np.where(mask, oe, 0.0)).ok, (m, t, d)


def test_the_reported_check_is_the_worst_checked_point(tutorial):
    st, session, case, ev = tutorial
    solve = get_method("lp")(build_problem(st, case.flex_names), session.net, case)
    ev.set_period(26)
    res = solve(ev, "export")
    assert res.extra["n_corners"] >= 1
    ev.set_period(26)
    full = ev.check_direction("export", np.full(len(case.flex_names), res.oe_kw))
    assert res.check.margin_pct < full.margin_pct       # a corner is tighter than all-at-OE
    assert res.check.v_highest_v >= full.v_highest_v
    merged = merge_checks([full, res.check])
    assert merged.margin_pct == res.check.margin_pct and merged.ok


def test_any_use_with_an_optional_limit_is_verified_and_agrees_with_bisect(write_study):
    """Optional (forward-difference) limits are no rows of the any-use LP; the full power flows
    at all-at-OE and at the corners check them: a verified envelope, not a crash."""
    st = load_study(write_study({"limits": {"vuf_max_pct": 0.3},
                                 "envelope": {"holds_for": "any_use"}}))
    session = Session(st)
    out = {m: run_day(st, m, session=session, periods=[36], voltages=False).envelopes
           for m in ("bisect", "lp")}
    for m, env in out.items():
        assert env.verified.all() and (env.status == "ok").all(), m
        assert env.binding.str.startswith("vuf:").all(), m
    diff = (out["lp"].groupby("direction").oe_kw.first()
            - out["bisect"].groupby("direction").oe_kw.first())
    assert diff.abs().max() <= 0.01 and diff.max() <= 0.001
