"""Baseline methods with full power flows: the tutorial's stepping search and bisection.

Both work on a single equal-allocation value through a callable
``check(oe_kw) -> LimitCheck`` that applies the value to every flexible
customer in one direction and runs a power flow.  A period where even 0 kW
breaks a limit is reported as infeasible with the failing constraint.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from oe_opt.methods.evaluator import PowerFlowEvaluator
from oe_opt.methods.registry import Solve, register
from oe_opt.methods.result import AT_CAP, FEASIBLE, INFEASIBLE, SearchResult
from oe_opt.model.limits import LimitCheck
from oe_opt.network.base import NetworkEngine
from oe_opt.inputs.case import DayCase
from oe_opt.problem import EnvelopeProblem

Check = Callable[[float], LimitCheck]

def step_search(check: Check, cap_kw: float, step_kw: float) -> SearchResult:
    """The tutorial's stepping search.

    Start at the cap and reduce by `step_kw` until every limit holds; stop at
    0 kW.  0 kW is checked first so that infeasible periods are recognised.

    Parameters
    ----------
    check : callable
        ``check(oe_kw) -> LimitCheck`` with one full power flow.
    cap_kw : float
        Export or import cap (kW).
    step_kw : float
        Search step (kW).

    Returns
    -------
    SearchResult
        ``n_powerflows`` counts the calls to `check`.
    """
    n = 1
    c0 = check(0.0)
    if not c0.ok:
        return SearchResult(np.nan, INFEASIBLE, c0.binding, c0, n)
    last_fail: LimitCheck | None = None
    k = 0
    while True:
        x = round(cap_kw - k * step_kw, 9)
        if x <= 1e-9:
            break
        c = check(x)
        n += 1
        if c.ok:
            if k == 0:
                return SearchResult(x, AT_CAP, "cap", c, n)
            return SearchResult(x, FEASIBLE, last_fail.binding, c, n)
        last_fail = c
        k += 1
    return SearchResult(0.0, FEASIBLE, last_fail.binding if last_fail else "cap", c0, n)


def bisect_search(check: Check, cap_kw: float, tol_kw: float = 0.001) -> SearchResult:
    """Exact envelope by bisection on [0, cap] with full power flows.

    Parameters
    ----------
    check : callable
        ``check(oe_kw) -> LimitCheck`` with one full power flow.
    cap_kw : float
        Export or import cap (kW).
    tol_kw : float
        Width of the final bracket (kW); 0.001 kW = 1 W.

    Returns
    -------
    SearchResult
        The lower (feasible) end of the final bracket.
    """
    n = 1
    c0 = check(0.0)
    if not c0.ok:
        return SearchResult(np.nan, INFEASIBLE, c0.binding, c0, n)
    if cap_kw <= 0:
        return SearchResult(0.0, AT_CAP, "cap", c0, n)
    ccap = check(cap_kw)
    n += 1
    if ccap.ok:
        return SearchResult(float(cap_kw), AT_CAP, "cap", ccap, n)
    lo, hi, clo, chi = 0.0, float(cap_kw), c0, ccap
    while hi - lo > tol_kw:
        mid = 0.5 * (lo + hi)
        c = check(mid)
        n += 1
        if c.ok:
            lo, clo = mid, c
        else:
            hi, chi = mid, c
    return SearchResult(lo, FEASIBLE, chi.binding, clo, n)


# ------------------------------------------------------------ registered methods
def _counted(res: SearchResult, ev: PowerFlowEvaluator, n0: int) -> SearchResult:
    """`res` with ``n_powerflows`` = the evaluator's power flows since `n0` (one per check, or
    more when a check iterates, e.g. the flexible customers' volt-var response)."""
    res.n_powerflows = max(res.n_powerflows, ev.n_powerflows - n0)
    return res


def _checker(problem: EnvelopeProblem, net: NetworkEngine, case: DayCase):
    """The corner checker of an ``any_use`` problem (None for ``full_use``)."""
    if problem.holds_for == "full_use":
        return None
    from oe_opt.methods.any_use import checker_for

    return checker_for(net, case, problem.limits)


def _equal_search(problem: EnvelopeProblem, net: NetworkEngine, case: DayCase,
                  search: Callable[[Check, float], SearchResult]) -> Solve:
    """A method running ``search(check, cap_kw)`` on one equal value per direction; for
    ``any_use`` the check also runs the worst corners (:class:`~oe_opt.methods.any_use.EqualChecks`)."""
    from oe_opt.methods.any_use import EqualChecks

    checker = _checker(problem, net, case)

    def solve(ev: PowerFlowEvaluator, direction: str) -> SearchResult:
        n0 = ev.n_powerflows
        check = EqualChecks(checker, ev, direction, problem.holds_for)
        return _counted(check.finish(search(check, problem.cap_kw(direction))), ev, n0)

    return solve


@register("step")
def _step(problem: EnvelopeProblem, net: NetworkEngine, case: DayCase) -> Solve:
    return _equal_search(problem, net, case,
                         lambda check, cap: step_search(check, cap, problem.step_kw))


@register("bisect")
def _bisect(problem: EnvelopeProblem, net: NetworkEngine, case: DayCase) -> Solve:
    return _equal_search(problem, net, case,
                         lambda check, cap: bisect_search(check, cap, problem.tolerance_kw))
