"""The optimised methods ``lp`` and ``alloc``: the successive LP of :mod:`oe_opt.methods.slp`
wired to the problem, the network's sensitivity model and the envelope LP.

``lp``
    The equal-allocation envelope (one value for every flexible customer, as
    ``step`` and ``bisect``) with the envelope caps.  With analytic sensitivities
    and no optional (MV, unbalance) limits it runs the fast core of
    :mod:`oe_opt.methods.equal_fast` (the one-variable LP by its ratio test, quadratic
    steps on the rows, a verified 1 W bracket; for ``any_use`` on the worst-corner rows,
    each candidate checked at all-at-OE and its worst corners as ``bisect`` checks it);
    otherwise (and with ``make_solver(..., core="slp")``) the successive LP, and for
    ``any_use`` the worst-corner successive LP of :mod:`oe_opt.methods.any_use`.
``alloc``
    One envelope per flexible customer, with per-customer caps and the
    problem's allocation objective (any name of :mod:`oe_opt.model.allocations`);
    from :data:`ACTIVE_SET_MIN_VARIABLES` customers on, the LP holds only the rows
    near binding (:class:`EnvelopeLP` ``active_set``, constraint generation); from
    :data:`~oe_opt.methods.row_generation.MIN_VARIABLES` on (analytic sensitivities,
    ``full_use``, no optional limits) the rows are also *linearised* only when near binding
    (:mod:`oe_opt.methods.row_generation`: adjoint gradients, rows added when the local
    model or a power flow finds them violated or near).

The solvers run with BLAS pinned to one thread (:mod:`oe_opt.methods.blas`).
"""

from __future__ import annotations

import weakref

import numpy as np

from oe_opt.errors import NetworkError
from oe_opt.inputs.case import DayCase
from oe_opt.methods import alloc_fast
from oe_opt.methods.blas import one_blas_thread
from oe_opt.methods.cache import sensitivity_model, shared
from oe_opt.methods.evaluator import PowerFlowEvaluator
from oe_opt.methods.extra_rows import ExtraLinearise, ExtraQuantities
from oe_opt.methods.registry import Solve, register
from oe_opt.methods.result import SearchResult
from oe_opt.methods.row_generation import MIN_VARIABLES as ROW_GENERATION_MIN_VARIABLES
from oe_opt.methods.row_generation import row_generation_slp
from oe_opt.methods.slp import MARGIN_KW, MAX_CUTS, TOL_KW, Linearise, verify_and_tighten
from oe_opt.model.allocations import get_allocation
from oe_opt.model.limits import limit_rows
from oe_opt.model.lp import EnvelopeLP
from oe_opt.model.sensitivity import SensitivityModel
from oe_opt.network.base import NetworkEngine, mv_elements
from oe_opt.problem import EnvelopeProblem

#: maxmin's second stage holds every customer at least (1 - MAXMIN_HOLD) x the first stage's
#: verified minimum (0.005 %)
MAXMIN_HOLD = 5e-5

#: per-customer LPs with at least this many variables use the active-set LP
ACTIVE_SET_MIN_VARIABLES = 50


def make_solver(problem: EnvelopeProblem, net: NetworkEngine, case: DayCase, *, per_customer: bool,
                allocation: str = "equal", sensitivity: str = "auto",
                backend: str = "highspy", tol_kw: float = TOL_KW, margin_kw: float = MARGIN_KW,
                max_iter: int = 8, core: str = "auto", screening: bool | None = None,
                row_generation: str = "auto", alloc_core: str = "auto",
                rel_tol: float | None = None, alloc_accept: str | None = None) -> Solve:
    """A ``solve(ev, direction) -> SearchResult`` for the ``lp`` or ``alloc`` method.

    Parameters
    ----------
    problem : EnvelopeProblem
        Caps, weights and limits.
    per_customer : bool
        One variable per flexible customer with per-customer caps (``alloc``),
        or a single equal-allocation value with the envelope caps (``lp``).
    allocation : str
        Objective for per-customer variables (a registered allocation).
    sensitivity : str
        ``analytic`` (Y matrix, no power flows), ``fd`` (perturbation runs) or
        ``auto`` (analytic unless the circuit has elements it does not model,
        see :mod:`oe_opt.model.sensitivity`).
    backend : str
        :class:`EnvelopeLP` backend.
    core : str
        For one equal value: ``fast`` (:mod:`oe_opt.methods.equal_fast`: the LP by its
        ratio test, quadratic steps on the rows, a verified 1 W bracket), ``slp`` (the
        successive LP of :mod:`oe_opt.methods.slp`) or ``auto`` (fast with analytic
        sensitivities).  Per-customer variables always use the successive LP.
    screening : bool, optional
        The fast core's screening solves on networks with inverter controls
        (:func:`~oe_opt.methods.equal_fast.solve_equal_fast`); None: its default.
    row_generation : str
        Per-customer variables: ``on`` (the LP holds only the rows near binding, the
        others added when the local model or a power flow finds them violated or near:
        :mod:`oe_opt.methods.row_generation`), ``off`` (every row linearised at every
        power flow) or ``auto`` (on from :data:`~oe_opt.methods.row_generation.MIN_VARIABLES`
        customers).  Only with analytic sensitivities, ``holds_for = "full_use"`` and no
        optional (MV, unbalance) limits; otherwise off.
    alloc_core : str
        With row generation and ``max_total``: ``fast`` (:mod:`oe_opt.methods.alloc_fast`:
        few rows, model shifts instead of cutting planes, stopped within `rel_tol` of the LP
        bound), ``slp`` (:func:`~oe_opt.methods.row_generation.row_generation_slp`) or
        ``auto`` (fast).  The other objectives always use ``slp``.
    rel_tol : float, optional
        The fast core's stopping tolerance (share of the LP bound; default
        :data:`oe_opt.methods.alloc_fast.REL_TOL`).
    alloc_accept : str, optional
        The fast core's acceptance (``accept`` of
        :func:`~oe_opt.methods.alloc_fast.solve_alloc_fast`): ``model`` (the LP bound of the
        state a candidate was linearised from), ``own_state`` (its own state's bound) or
        ``auto``; None: the problem's (``[envelope] alloc_accept``).
    """
    n_flex = len(case.flex_idx)
    if sensitivity == "auto" and getattr(case, "flex_q_mode", "zero") != "zero":
        # the analytic model moves P only; with [customers] flexible_q the flexible customers'
        # Q follows P (fixed pf) or their voltage (volt-var), which the perturbation runs (full
        # power flows, with the evaluator's volt-var iteration) contain
        sensitivity = "fd"
    if sensitivity == "auto":
        try:
            sens = sensitivity_model(net, case.flex_idx, analytic=True)
            sensitivity = "analytic"
        except NetworkError:
            sens = sensitivity_model(net, case.flex_idx, analytic=False)
            sensitivity = "fd"
    else:
        sens = sensitivity_model(net, case.flex_idx, analytic=sensitivity == "analytic")
    # the optional MV-voltage / unbalance limits: rows on quantities appended to the layout
    extra = ExtraQuantities(net, problem.limits)
    rows = limit_rows(extra.layout(sens.layout), problem.limits, mv_elements(net))
    if per_customer:
        e = np.eye(n_flex)
    else:
        e = np.ones((n_flex, 1))
        allocation = "equal"
    objective = get_allocation(allocation)
    nvar = e.shape[1]
    # one variable: its LP solved by the ratio test (the same optimum as HiGHS, tested)
    equal_solver = "ratio" if nvar == 1 else "highs"
    fast = core == "fast" or (core == "auto" and sensitivity == "analytic")
    if not per_customer and fast and not extra.n:
        return _fast_equal_solver(problem, sens, rows, margin_kw, screening)
    # many customers: every row is dense and few bind, so HiGHS holds only the rows near
    # binding and gets the others when its solution violates them (constraint generation)
    active = backend == "highspy" and nvar >= ACTIVE_SET_MIN_VARIABLES
    if row_generation not in ("auto", "on", "off"):
        raise ValueError(f"row_generation must be 'auto', 'on' or 'off', got {row_generation!r}")
    generating = (per_customer and backend == "highspy" and sensitivity == "analytic"
                  and problem.holds_for == "full_use" and not extra.n
                  and (row_generation == "on" or (row_generation == "auto"
                                                  and nvar >= ROW_GENERATION_MIN_VARIABLES)))
    if alloc_core not in ("auto", "fast", "slp"):
        raise ValueError(f"alloc_core must be 'auto', 'fast' or 'slp', got {alloc_core!r}")
    fast_alloc = generating and allocation == "max_total" and alloc_core != "slp"
    if alloc_accept is None:
        alloc_accept = problem.alloc_accept
    if alloc_accept not in alloc_fast.ACCEPT:
        raise ValueError(f"alloc_accept must be one of {', '.join(alloc_fast.ACCEPT)}, got "
                         f"{alloc_accept!r}")
    if generating:
        # the rows change from one update to the next: they live in HiGHS only (open_rows)
        # the log tangent cuts (n_breakpoints rows per customer) only for log_fair: the other
        # objectives leave them free, and every row costs HiGHS time in each run; the fast
        # max_total core solves max_total alone: its LP has no other objective's variables
        # or rows (lean)
        n_bp = 16 if allocation == "log_fair" else 1
        lp = shared(net, ("lp-open", nvar, rows.n, n_bp, fast_alloc), lambda: EnvelopeLP(
            nvar, rows.n + MAX_CUTS, n_breakpoints=n_bp, open_rows=True, lean=fast_alloc))
    else:
        lp = shared(net, ("lp", nvar, rows.n, backend, equal_solver, active),
                    lambda: EnvelopeLP(nvar, rows.n + MAX_CUTS, backend=backend,
                                       equal_solver=equal_solver, active_set=active))
    lin = ExtraLinearise(sens, e, sensitivity, extra) if extra.n else Linearise(sens, e, sensitivity)

    def caps_weights(direction: str) -> tuple[np.ndarray, np.ndarray | None]:
        if not per_customer:
            return np.array([problem.cap_kw(direction)]), None
        return problem.customer_caps_kw(direction), problem.weights(direction)

    # per evaluator (one per day): the rows near binding at the end of the last period
    row_memory: "weakref.WeakKeyDictionary[PowerFlowEvaluator, dict]" = weakref.WeakKeyDictionary()
    equal_memory: "weakref.WeakKeyDictionary[PowerFlowEvaluator, dict]" = weakref.WeakKeyDictionary()
    checker = None
    if problem.holds_for == "any_use":
        from oe_opt.methods.any_use import CornerChecker

        # the worst-corner rows come from the sensitivity model's quantities; the optional
        # MV-voltage / unbalance limits (forward-difference rows) are not rows of the any-use LP:
        # the full power flows at all-at-OE and at the corners check them like every limit
        checker = CornerChecker(sens, limit_rows(sens.layout, problem.limits, mv_elements(net)))

    def run(ev: PowerFlowEvaluator, direction: str, caps: np.ndarray, solve_lp, improves,
            componentwise: bool, start: np.ndarray | None = None) -> SearchResult:
        if generating:
            return _generate_from_equal(ev, direction, lp, sens, e, rows, caps, solve_lp,
                                        improves, componentwise, tol_kw, margin_kw, max_iter,
                                        start, row_memory.setdefault(ev, {}),
                                        equal_memory.setdefault(ev, {}), problem.tolerance_kw,
                                        fast_alloc, rel_tol, alloc_accept)
        if checker is not None:
            from oe_opt.methods.any_use import any_use_slp

            return any_use_slp(ev, direction, lp, checker, e, caps, solve_lp, improves,
                               componentwise=componentwise, tol_kw=tol_kw, margin_kw=margin_kw,
                               start=start)
        return verify_and_tighten(ev, direction, lp, lin, rows, caps, solve_lp, improves,
                                  componentwise=componentwise, tol_kw=tol_kw,
                                  margin_kw=margin_kw, max_iter=max_iter, start=start)

    def solve(ev: PowerFlowEvaluator, direction: str) -> SearchResult:
        caps, weights = caps_weights(direction)
        # every check of the successive LPs as the fast cores' (the node voltages read once,
        # the branch currents |M V|, the LimitChecker built once): the same verdicts
        with one_blas_thread(), ev.fast_checks():
            res = run(ev, direction, caps, lambda model: objective.solve(model, weights),
                      objective.improves(weights), objective.componentwise)
            if per_customer and allocation == "maxmin":
                res = _maxmin_second_stage(res, caps, lambda t_min, x1: run(
                    ev, direction, caps, lambda model: model.solve_max_total_above(t_min),
                    get_allocation("max_total").improves(None), False, start=x1))
        if per_customer:
            res.extra["allocation"] = allocation
        return res

    return solve


def _generate_from_equal(ev: PowerFlowEvaluator, direction: str, lp: EnvelopeLP,
                         sens: SensitivityModel, e: np.ndarray, rows, caps: np.ndarray, solve_lp,
                         improves, componentwise: bool, tol_kw: float, margin_kw: float,
                         max_iter: int, start: np.ndarray | None, row_memory: dict,
                         equal_memory: dict, bracket_kw: float, fast: bool = False,
                         rel_tol: float | None = None, accept: str | None = None
                         ) -> SearchResult:
    """Row generation (:func:`row_generation_slp`) started from the verified equal-allocation
    envelope (the fast core of :mod:`oe_opt.methods.equal_fast`, one variable: a few power
    flows): its state is near the limits that bind, so the first LP holds the right rows and
    moves less than from 0 kW.  The 0-kW check is the equal core's (an infeasible period is
    reported as such); the power flows of both count.  `fast`: max_total by
    :func:`~oe_opt.methods.alloc_fast.solve_alloc_fast` (stopped within `rel_tol`, accepted
    by `accept`)."""
    from oe_opt.methods.equal_fast import solve_equal_fast
    from oe_opt.methods.result import INFEASIBLE

    n_eq = 0
    if start is None:
        eq = solve_equal_fast(ev, direction, sens, rows, float(np.max(caps)), margin_kw=margin_kw,
                              bracket_kw=bracket_kw, memory=equal_memory)
        n_eq = eq.n_powerflows
        if eq.status == INFEASIBLE:
            eq.oe_kw = np.full(len(caps), np.nan)
            return eq
        if eq.verified and float(eq.oe_kw) > 0:
            start = np.minimum(float(eq.oe_kw), caps)
    if fast:
        from oe_opt.methods.alloc_fast import REL_TOL, solve_alloc_fast

        res = solve_alloc_fast(ev, direction, lp, sens, e, rows, caps, margin_kw=margin_kw,
                               tol_kw=tol_kw, rel_tol=REL_TOL if rel_tol is None else rel_tol,
                               start=start, memory=row_memory, accept=accept)
    else:
        res = row_generation_slp(ev, direction, lp, sens, e, rows, caps, solve_lp, improves,
                                 componentwise=componentwise, tol_kw=tol_kw,
                                 margin_kw=margin_kw, max_iter=max_iter, start=start,
                                 memory=row_memory)
    res.n_powerflows += n_eq
    return res


#: flexible customers from which lp's any-use searches reuse corners (``reuse_corners`` of
#: :func:`~oe_opt.methods.equal_fast.solve_equal_fast`).  Measured (benchmarks/optimiser_speed.py
#: --holds-for any_use): with 126-1,000 flexible customers it makes lp 1.6-2.2x faster; on the
#: InvControl network (19, each power flow a control loop) the confirmations cost more than the
#: linearisations saved (bisect / lp 3.42 -> 3.16)
REUSE_CORNERS_MIN_FLEX = 50


def _fast_equal_solver(problem: EnvelopeProblem, sens: SensitivityModel, rows,
                       margin_kw: float, screening: bool | None = None) -> Solve:
    from oe_opt.methods.equal_fast import SLOPE_REFRESH, solve_equal_fast
    from oe_opt.model.sensitivity import DENSE_MAX_INJECTIONS

    # per evaluator (one per day): what a period leaves for the next (the rows' curvature)
    memory: "weakref.WeakKeyDictionary[PowerFlowEvaluator, dict]" = weakref.WeakKeyDictionary()
    # small networks (dense sensitivity solver): a linearisation costs less than the power flows
    # a kept one adds, so every period linearises (measured in benchmarks/optimiser_speed.py);
    # any use with many flexible customers: a per-customer linearisation costs a solve per
    # customer, so candidates that cannot end a search reuse the corners chosen before
    # (reuse_corners; REUSE_CORNERS_MIN_FLEX)
    refresh = 1 if len(sens.injection_nodes) <= DENSE_MAX_INJECTIONS else SLOPE_REFRESH

    checker = None
    if problem.holds_for == "any_use":
        from oe_opt.methods.any_use import CornerChecker

        checker = CornerChecker(sens, rows)

    def solve(ev: PowerFlowEvaluator, direction: str) -> SearchResult:
        with one_blas_thread():
            return solve_equal_fast(ev, direction, sens, rows, problem.cap_kw(direction),
                                    margin_kw=margin_kw, bracket_kw=problem.tolerance_kw,
                                    memory=memory.setdefault(ev, {}), slope_refresh=refresh,
                                    checker=checker, screening=screening,
                                    reuse_corners=sens.n_flex >= REUSE_CORNERS_MIN_FLEX)

    return solve


def _maxmin_second_stage(first: SearchResult, caps: np.ndarray, run) -> SearchResult:
    """maxmin's second stage as a successive LP of its own: the largest total with every
    customer at least the first stage's verified minimum (within :data:`MAXMIN_HOLD`),
    started from the first stage's envelopes and verified as usual.

    The lexicographic LP of one solve (:meth:`EnvelopeLP.solve_maxmin`) holds the minimum
    of its own linearisation only, and the loop accepts a candidate as soon as the minimum
    stops improving, so the total can stop short; here the minimum is a fixed bound and the
    loop runs until the total cannot improve (``max_total``'s acceptance test).  The second
    stage's result is kept when verified, holding the minimum and with a larger total.
    """
    from oe_opt.methods.result import INFEASIBLE

    if first.status == INFEASIBLE or not first.verified:
        return first
    x1 = np.asarray(first.oe_kw, dtype=float)
    if np.all(x1 >= caps - 1e-9):
        return first
    t1 = float(x1.min())
    t_min = t1 - MAXMIN_HOLD * t1
    second = run(t_min, x1)
    x2 = np.asarray(second.oe_kw, dtype=float)
    better = (second.status != INFEASIBLE and second.verified and x2.min() >= t_min - 1e-9
              and x2.sum() > x1.sum())
    out = second if better else first
    stage1 = {"oe_kw": x1, "n_powerflows": first.n_powerflows, "n_lp": first.n_lp}
    total_pf, total_lp = first.n_powerflows + second.n_powerflows, first.n_lp + second.n_lp
    out.extra = dict(out.extra, maxmin_stage1=stage1, maxmin_stage2_kept=bool(better))
    out.n_powerflows, out.n_lp = total_pf, total_lp
    return out


@register("lp")
def _lp(problem: EnvelopeProblem, net: NetworkEngine, case: DayCase) -> Solve:
    return make_solver(problem, net, case, per_customer=False)


@register("alloc")
def _alloc(problem: EnvelopeProblem, net: NetworkEngine, case: DayCase) -> Solve:
    return make_solver(problem, net, case, per_customer=True, allocation=problem.allocation)
