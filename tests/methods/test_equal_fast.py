"""lp's fast core: the exact envelope within its verified 1 W bracket, like bisect."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import TUTORIAL
from oe_opt.methods.any_use import CornerChecker
from oe_opt.methods.evaluator import PowerFlowEvaluator
from oe_opt.methods.optimised import make_solver
from oe_opt.methods.result import AT_CAP, FEASIBLE
from oe_opt.methods.search import bisect_search
from oe_opt.problem import build_problem
from oe_opt.runs.day import Session
from oe_opt.study import load_study


class RecordingChecker(CornerChecker):
    """A corner checker that records every check: (direction, the first customer's envelope,
    whether the rule chose the corners there)."""

    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self.calls = []

    def check(self, ev, direction, oe_cust, holds_for="any_use", linearise_failed=True,
              masks=None):
        self.calls.append((direction, float(oe_cust[0]), masks is None))
        return super().check(ev, direction, oe_cust, holds_for, linearise_failed, masks)


@pytest.fixture(scope="module")
def tutorial():
    st = load_study(TUTORIAL)
    session = Session(st)
    case = session.case()
    return st, session, case, build_problem(st, case.flex_names)


@pytest.mark.parametrize("t", [10, 24, 34, 40])
def test_fast_core_is_within_its_bracket_of_the_exact_envelope(tutorial, t):
    st, session, case, problem = tutorial
    fast = make_solver(problem, session.net, case, per_customer=False, core="fast")
    ev = PowerFlowEvaluator(session.net, st.limits, case)
    for d in ("export", "import"):
        ev.set_period(t)
        res = fast(ev, d)
        assert res.extra["core"] == "equal_fast" and res.verified
        exact = bisect_search(lambda x: ev.check_direction(d, x), problem.cap_kw(d), 1e-7)
        assert res.status == exact.status
        if res.status == AT_CAP:
            assert res.oe_kw == problem.cap_kw(d)
            continue
        assert res.status == FEASIBLE
        assert exact.oe_kw - 0.001 <= res.oe_kw <= exact.oe_kw + 1e-6
        # the bracket: a candidate at most 1 W above the reported one failed its power flow
        bad = [c.x_kw[0] for c in res.extra["history"] if not c.ok]
        assert bad and min(bad) - res.oe_kw <= 0.001 and min(bad) > exact.oe_kw
        assert res.binding == exact.binding
        assert res.n_powerflows <= 5


def test_shared_zero_state_gives_the_results_of_separate_checks(tutorial):
    st, session, case, problem = tutorial
    fast = make_solver(problem, session.net, case, per_customer=False, core="fast")
    ev1 = PowerFlowEvaluator(session.net, st.limits, case)
    ev2 = PowerFlowEvaluator(session.net, st.limits, case)   # each day's evaluator: own memory
    shared, separate, pf_shared, pf_separate = [], [], 0, 0
    for t in (8, 20, 34):
        for d in ("export", "import"):
            ev1.set_period(t)
            r = fast(ev1, d)
            shared.append((r.oe_kw, r.status, r.binding))
            pf_shared += r.n_powerflows
        for d in ("export", "import"):
            ev2.set_period(t)
            ev2.period_cache.clear()                      # as if each direction checked 0 kW itself
            r = fast(ev2, d)
            separate.append((r.oe_kw, r.status, r.binding))
            pf_separate += r.n_powerflows
    for (a, sa, ba), (b, sb, bb) in zip(shared, separate):
        assert sa == sb and ba == bb and a == pytest.approx(b, abs=1e-6)
    assert pf_separate - pf_shared == 3                    # one 0-kW power flow saved per period


def test_a_bracket_wider_than_bisects_is_honoured(tutorial):
    st, session, case, problem = tutorial
    from dataclasses import replace
    wide = replace(problem, tolerance_kw=0.05)
    fast = make_solver(wide, session.net, case, per_customer=False, core="fast")
    ev = PowerFlowEvaluator(session.net, st.limits, case)
    ev.set_period(34)
    res = fast(ev, "import")
    exact = bisect_search(lambda x: ev.check_direction("import", x), problem.cap_kw("import"), 1e-7)
    assert exact.oe_kw - 0.05 <= res.oe_kw <= exact.oe_kw + 1e-6 and res.verified


@pytest.mark.parametrize("t", [26, 34])
def test_any_use_fast_core_checks_the_worst_corners_like_bisect(tutorial, t):
    """any_use: the fast core's envelope is within its 1 W bracket of bisect's (the same
    corner checks at every candidate), and without the corner checks the same core reports
    an envelope that a subset of the customers breaks."""
    from oe_opt.methods.any_use import EqualChecks, checker_for
    from oe_opt.methods.equal_fast import solve_equal_fast

    st, session, case, _ = tutorial
    st_any = st.with_holds_for("any_use")
    problem = build_problem(st_any, case.flex_names)
    fast = make_solver(problem, session.net, case, per_customer=False)      # the default route
    ev = PowerFlowEvaluator(session.net, st_any.limits, case)
    checker = checker_for(session.net, case, st_any.limits)
    for d in ("export", "import"):
        ev.set_period(t)
        res = fast(ev, d)
        assert res.extra["core"] == "equal_fast" and res.extra["holds_for"] == "any_use"
        assert res.verified and res.status == FEASIBLE and res.extra["n_corner_checks"] > 0
        checks = EqualChecks(checker, ev, d, "any_use")
        exact = bisect_search(checks, problem.cap_kw(d), 1e-6)
        assert exact.oe_kw - 0.001 <= res.oe_kw <= exact.oe_kw + 1e-5
        assert checker.check(ev, d, np.full(ev.n_flex, res.oe_kw), "any_use").ok
        # the full-use core on the same rows, without corners: a subset breaks its envelope
        ev.set_period(t)
        blind = solve_equal_fast(ev, d, checker.sens, checker.rows, problem.cap_kw(d))
        assert blind.oe_kw > res.oe_kw + 0.05
        assert not checker.check(ev, d, np.full(ev.n_flex, blind.oe_kw), "any_use").ok


def test_reused_corners_never_decide_the_reported_envelope(tutorial):
    """any_use with ``reuse_corners`` (the large-network setting, forced here on the tutorial):
    passes that cannot end the search are checked at the corners chosen before, but every
    reported envelope's last check is the rule's own (its linearisation, its corners), some
    searches need that confirmation, fewer linearisations are made, and the envelopes stay
    within the bracket of bisect's."""
    from oe_opt.methods.any_use import EqualChecks, checker_for
    from oe_opt.methods.equal_fast import solve_equal_fast

    st, session, case, _ = tutorial
    st_any = st.with_holds_for("any_use")
    problem = build_problem(st_any, case.flex_names)
    plain = checker_for(session.net, case, st_any.limits)
    ev = PowerFlowEvaluator(session.net, st_any.limits, case)
    lins, confirms = {}, 0
    for reuse in (False, True):
        rec = RecordingChecker(plain.sens, plain.rows)
        for t in range(20, 44, 2):
            for d in ("export", "import"):
                ev.set_period(t)
                res = solve_equal_fast(ev, d, rec.sens, rec.rows, problem.cap_kw(d),
                                       checker=rec, reuse_corners=reuse)
                assert res.verified
                last = [c for c in rec.calls if c[0] == d and c[1] == res.oe_kw][-1]
                assert last[2], (t, d, "the reported envelope was checked at kept corners")
                if reuse:
                    confirms += sum(c.step == "confirm" for c in res.extra["history"])
                    if t in (26, 34):
                        checks = EqualChecks(plain, ev, d, "any_use")
                        exact = bisect_search(checks, problem.cap_kw(d), 1e-6)
                        assert exact.oe_kw - 0.001 <= res.oe_kw <= exact.oe_kw + 1e-5
                rec.calls.clear()
        lins[reuse] = rec.n_linearisations
    assert confirms > 0
    assert lins[True] < lins[False]


def test_first_candidate_corners_come_from_the_zero_kw_rows(tutorial, monkeypatch):
    """any_use with ``reuse_corners``: the first candidate is checked at the corners the
    per-customer rows at 0 kW predict (no linearisation of its own) from
    ``KEEP_CORNERS_MIN_FLEX`` flexible customers (forced here on the tutorial); below it, it is
    linearised.  The kept corners save linearisations, the
    reported envelope is still checked at the rule's own corners and stays within the bracket
    of bisect's."""
    from oe_opt.methods import equal_fast
    from oe_opt.methods.any_use import EqualChecks, checker_for

    st, session, case, _ = tutorial
    st_any = st.with_holds_for("any_use")
    problem = build_problem(st_any, case.flex_names)
    plain = checker_for(session.net, case, st_any.limits)
    ev = PowerFlowEvaluator(session.net, st_any.limits, case)
    lins = {}
    for keep in (False, True):
        monkeypatch.setattr(equal_fast, "KEEP_CORNERS_MIN_FLEX", 0 if keep else 10 ** 9)
        rec = RecordingChecker(plain.sens, plain.rows)
        for t in (24, 30, 34, 40):
            for d in ("export", "import"):
                ev.set_period(t)
                res = equal_fast.solve_equal_fast(ev, d, rec.sens, rec.rows, problem.cap_kw(d),
                                                  checker=rec, reuse_corners=True)
                assert res.verified
                first = [c for c in rec.calls if c[0] == d][0]
                if res.status == FEASIBLE:
                    assert first[2] is (not keep), (t, d, keep)
                last = [c for c in rec.calls if c[0] == d and c[1] == res.oe_kw][-1]
                assert last[2], (t, d, "the reported envelope was checked at kept corners")
                checks = EqualChecks(plain, ev, d, "any_use")
                exact = bisect_search(checks, problem.cap_kw(d), 1e-6)
                assert exact.oe_kw - 0.001 <= res.oe_kw <= exact.oe_kw + 1e-5
                rec.calls.clear()
        lins[keep] = rec.n_linearisations
    assert lins[True] < lins[False]


@pytest.mark.parametrize("holds_for", ["full_use", "any_use"])
def test_no_point_is_solved_twice_on_the_tutorial(tutorial, holds_for):
    """Every power flow of the fast core is a new point: on the tutorial (no reused corners)
    nothing is checked twice, and the power flows are the candidates' (with the shared 0-kW
    flow in the first direction and, for any_use, the corners)."""
    st, session, case, _ = tutorial
    study = st.with_holds_for(holds_for)
    problem = build_problem(study, case.flex_names)
    solve = make_solver(problem, session.net, case, per_customer=False)

    class Counting(PowerFlowEvaluator):
        def check(self, p_flex_kw):
            self.seen.append(tuple(np.round(np.ravel(p_flex_kw), 12)))
            return super().check(p_flex_kw)

    ev = Counting(session.net, study.limits, case)
    for t in (12, 26, 34, 40):
        for k, d in enumerate(("export", "import")):
            ev.seen = []
            ev.set_period(t, apply=k == 0)
            res = solve(ev, d)
            assert len(ev.seen) == len(set(ev.seen)), (t, d, "a point solved twice")
            assert res.n_powerflows == len(ev.seen)
            corners = res.extra.get("n_corner_checks", 0)
            candidates = len(res.extra["history"]) - 1            # without the 0-kW point
            assert res.n_powerflows == candidates + corners + (k == 0)
