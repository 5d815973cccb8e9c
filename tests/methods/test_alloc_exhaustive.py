"""alloc against an exhaustive check on a small network (issue 9, "done when").

Two flexible customers on the Test LV Circuit (the others keep their demand and PV), caps raised
to 40 kW so that the network limits bind.  The exhaustive check needs no model at all: for every
envelope of the first customer on a grid it finds, by bisection with full OpenDSS power flows,
the largest envelope of the second that holds (for ``any_use`` at every corner of the box:
both at their envelope, each alone), then refines the grid around the best point.  Its best
point is verified, so it is a lower bound of the true optimum within the grid step.
"""

from __future__ import annotations

import numpy as np
import pytest

from conftest import dump_toml, tutorial_dict
from oe_opt.methods.evaluator import PowerFlowEvaluator
from oe_opt.methods.registry import get_method
from oe_opt.problem import build_problem
from oe_opt.runs.day import Session
from oe_opt.study import load_study

FLEXIBLE = ["load_mg1_24", "load_mg1_30"]
CAP_KW = 40.0
#: alloc's tolerance against the exhaustive optimum: 0.01 % of the total (issue 9 item 4) or 2 W
REL_TOL = 1e-4
ABS_TOL_KW = 2e-3
FINE_KW = 0.01


@pytest.fixture(scope="module")
def small_study(tmp_path_factory):
    data = tutorial_dict()
    data["customers"]["flexible"] = FLEXIBLE
    data["envelope"]["export_max_kw"] = CAP_KW
    data["envelope"]["import_max_kw"] = CAP_KW
    path = tmp_path_factory.mktemp("exhaustive") / "two_flexible.toml"
    path.write_text(dump_toml(data))
    return load_study(path)


def _setup(study, holds_for: str, allocation: str):
    st = study.with_holds_for(holds_for).with_allocation(allocation)
    session = Session(st)
    case = session.case()
    problem = build_problem(st, case.flex_names)
    ev = PowerFlowEvaluator(session.net, st.limits, case)
    return get_method("alloc")(problem, session.net, case), get_method("lp")(problem, session.net,
                                                                           case), ev


def exhaustive(ev, direction: str, holds_for: str, allocation: str) -> np.ndarray:
    """The best verified grid point (kW per customer) for `allocation` (max_total: largest total;
    maxmin: largest minimum, then largest total)."""

    def holds(a: float, b: float) -> bool:
        points = [(a, b)] if holds_for == "full_use" else [(a, b), (a, 0.0), (0.0, b)]
        return all(ev.check_direction(direction, np.array(p)).ok for p in points)

    def second_max(a: float, tol_kw: float = 1e-4) -> float | None:
        if not holds(a, 0.0):
            return None
        if holds(a, CAP_KW):
            return CAP_KW
        lo, hi = 0.0, CAP_KW
        while hi - lo > tol_kw:
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if holds(a, mid) else (lo, mid)
        return lo

    def score(a: float, b: float) -> float:
        return a + b if allocation == "max_total" else 1e3 * min(a, b) + a + b

    def scan(grid):
        best = None
        for a in grid:
            b = second_max(float(a))
            if b is not None and (best is None or score(a, b) > score(*best)):
                best = (float(a), b)
        return best

    a0, _ = scan(np.arange(0.0, CAP_KW + 1e-9, 0.5))
    return np.array(scan(np.arange(max(0.0, a0 - 0.5), min(CAP_KW, a0 + 0.5) + 1e-9, FINE_KW)))


def matches_exhaustive(x: np.ndarray, best: np.ndarray, allocation: str) -> bool:
    """Is `x` within alloc's tolerance of the exhaustive optimum `best` (both kW)?  Not lower
    than it by more than the tolerance, and not higher than the grid allows (a verified `x`
    cannot beat the true optimum, which is at most one fine grid step above `best`)."""
    tol = max(ABS_TOL_KW, REL_TOL * best.sum())
    if allocation == "maxmin" and x.min() < best.min() - tol:
        return False
    return best.sum() - tol <= x.sum() <= best.sum() + 2 * FINE_KW


@pytest.mark.parametrize("holds_for, allocation, period, direction", [
    ("full_use", "max_total", 24, "export"),
    ("any_use", "max_total", 24, "export"),
    ("any_use", "maxmin", 24, "export"),
    ("any_use", "max_total", 36, "import"),
])
def test_alloc_is_within_its_tolerance_of_an_exhaustive_check(small_study, holds_for, allocation,
                                                              period, direction):
    alloc, lp, ev = _setup(small_study, holds_for, allocation)
    ev.set_period(period)
    res = alloc(ev, direction)
    x = np.asarray(res.oe_kw)
    assert res.verified
    best = exhaustive(ev, direction, holds_for, allocation)
    assert matches_exhaustive(x, best, allocation), (x, best)
    if direction == "export":
        # the comparison catches a worse allocation: the equal one (lp), verified but below the
        # optimum total, and the exhaustive point pushed 1 % above the network's limit
        ev.set_period(period)
        equal = np.asarray(lp(ev, direction).oe_kw)
        if allocation == "max_total":
            assert not matches_exhaustive(equal, best, allocation)
        assert not matches_exhaustive(best * 1.01, best, allocation)
        worse = x.copy()
        worse[np.argmax(worse)] -= 0.05
        assert not matches_exhaustive(worse, best, allocation)
