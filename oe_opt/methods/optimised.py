"""The optimised methods ``lp`` and ``alloc``: the successive LP of :mod:`oe_opt.methods.slp`
wired to the problem, the network's sensitivity model and the envelope LP.

``lp``
    The equal-allocation envelope (one value for every flexible customer, as
    ``step`` and ``bisect``) with the envelope caps.  With analytic sensitivities
    it runs the fast core of :mod:`oe_opt.methods.equal_fast` (the one-variable LP
    by its ratio test, quadratic steps on the rows, a verified 1 W bracket);
    otherwise (and with ``make_solver(..., core="slp")``) the successive LP.
``alloc``
    One envelope per flexible customer, with per-customer caps and the
    problem's allocation objective (any name of :mod:`oe_opt.model.allocations`);
    from :data:`ACTIVE_SET_MIN_VARIABLES` customers on, the LP holds only the rows
    near binding (:class:`EnvelopeLP` ``active_set``, constraint generation).

The solvers run with BLAS pinned to one thread (:mod:`oe_opt.methods.blas`).
"""

from __future__ import annotations

import weakref
from typing import Callable

import numpy as np

from oe_opt.errors import NetworkError
from oe_opt.inputs.case import DayCase
from oe_opt.methods.blas import one_blas_thread
from oe_opt.methods.evaluator import PowerFlowEvaluator
from oe_opt.methods.registry import Solve, register
from oe_opt.methods.result import SearchResult
from oe_opt.methods.slp import MARGIN_KW, MAX_CUTS, TOL_KW, Linearise, verify_and_tighten
from oe_opt.model.allocations import get_allocation
from oe_opt.model.limits import limit_rows
from oe_opt.model.lp import EnvelopeLP
from oe_opt.model.sensitivity import SensitivityModel
from oe_opt.network.opendss import DssNetwork
from oe_opt.problem import EnvelopeProblem

#: objects built once per compiled network (sensitivity models, LPs), reused across days; an
#: entry lives exactly as long as its network object
_PER_NETWORK: "weakref.WeakKeyDictionary[DssNetwork, dict]" = weakref.WeakKeyDictionary()


def _shared(net: DssNetwork, key: tuple, build: Callable[[], object]):
    store = _PER_NETWORK.setdefault(net, {})
    if key not in store:
        store[key] = build()
    return store[key]


#: per-customer LPs with at least this many variables use the active-set LP
ACTIVE_SET_MIN_VARIABLES = 50


def sensitivity_model(net: DssNetwork, flex_idx: np.ndarray, analytic: bool = True) -> SensitivityModel:
    """The (cached) sensitivity model of `net` for these flexible customers."""
    key = ("sens", tuple(int(i) for i in flex_idx), analytic)
    return _shared(net, key, lambda: SensitivityModel(net, flex_idx, analytic=analytic))


def make_solver(problem: EnvelopeProblem, net: DssNetwork, case: DayCase, *, per_customer: bool,
                allocation: str = "equal", sensitivity: str = "auto",
                backend: str = "highspy", tol_kw: float = TOL_KW, margin_kw: float = MARGIN_KW,
                max_iter: int = 8, core: str = "auto") -> Solve:
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
    """
    n_flex = len(case.flex_idx)
    if sensitivity == "auto":
        try:
            sens = sensitivity_model(net, case.flex_idx, analytic=True)
            sensitivity = "analytic"
        except NetworkError:
            sens = sensitivity_model(net, case.flex_idx, analytic=False)
            sensitivity = "fd"
    else:
        sens = sensitivity_model(net, case.flex_idx, analytic=sensitivity == "analytic")
    rows = limit_rows(sens.layout, problem.limits)
    if per_customer:
        e = np.eye(n_flex)
    else:
        e = np.ones((n_flex, 1))
        allocation = "equal"
    objective = get_allocation(allocation)
    nvar = e.shape[1]
    # one variable: its LP solved by the ratio test (the same optimum as HiGHS, tested)
    equal_solver = "ratio" if nvar == 1 else "highs"
    if not per_customer and (core == "fast" or (core == "auto" and sensitivity == "analytic")):
        return _fast_equal_solver(problem, sens, rows, margin_kw)
    # many customers: every row is dense and few bind, so HiGHS holds only the rows near
    # binding and gets the others when its solution violates them (constraint generation)
    active = backend == "highspy" and nvar >= ACTIVE_SET_MIN_VARIABLES
    lp = _shared(net, ("lp", nvar, rows.n, backend, equal_solver, active),
                 lambda: EnvelopeLP(nvar, rows.n + MAX_CUTS, backend=backend,
                                    equal_solver=equal_solver, active_set=active))
    lin = Linearise(sens, e, sensitivity)

    def caps_weights(direction: str) -> tuple[np.ndarray, np.ndarray | None]:
        if not per_customer:
            return np.array([problem.cap_kw(direction)]), None
        return problem.customer_caps_kw(direction), problem.weights(direction)

    def solve(ev: PowerFlowEvaluator, direction: str) -> SearchResult:
        caps, weights = caps_weights(direction)
        with one_blas_thread():
            res = _slp(ev, direction, caps, weights)
        if per_customer:
            res.extra["allocation"] = allocation
        return res

    def _slp(ev: PowerFlowEvaluator, direction: str, caps, weights) -> SearchResult:
        return verify_and_tighten(
            ev, direction, lp, lin, rows, caps,
            lambda model: objective.solve(model, weights), objective.improves(weights),
            componentwise=objective.componentwise, tol_kw=tol_kw, margin_kw=margin_kw,
            max_iter=max_iter)

    return solve


def _fast_equal_solver(problem: EnvelopeProblem, sens: SensitivityModel, rows,
                       margin_kw: float) -> Solve:
    from oe_opt.methods.equal_fast import SLOPE_REFRESH, solve_equal_fast
    from oe_opt.model.sensitivity import DENSE_MAX_INJECTIONS

    # per evaluator (one per day): what a period leaves for the next (the rows' curvature)
    memory: "weakref.WeakKeyDictionary[PowerFlowEvaluator, dict]" = weakref.WeakKeyDictionary()
    # small networks (dense sensitivity solver): a linearisation costs less than the power flows
    # a kept one adds, so every period linearises (measured in benchmarks/optimiser_speed.py)
    refresh = 1 if len(sens.injection_nodes) <= DENSE_MAX_INJECTIONS else SLOPE_REFRESH

    def solve(ev: PowerFlowEvaluator, direction: str) -> SearchResult:
        with one_blas_thread():
            return solve_equal_fast(ev, direction, sens, rows, problem.cap_kw(direction),
                                    margin_kw=margin_kw, bracket_kw=problem.tolerance_kw,
                                    memory=memory.setdefault(ev, {}), slope_refresh=refresh)

    return solve


@register("lp")
def _lp(problem: EnvelopeProblem, net: DssNetwork, case: DayCase) -> Solve:
    return make_solver(problem, net, case, per_customer=False)


@register("alloc")
def _alloc(problem: EnvelopeProblem, net: DssNetwork, case: DayCase) -> Solve:
    return make_solver(problem, net, case, per_customer=True, allocation=problem.allocation)
