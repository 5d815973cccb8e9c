"""Optimised envelopes: successive LP on sensitivities, verified with full power flows.

Methods registered here (``oe-opt run --method lp|alloc``):

``lp``
    The equal-allocation envelope (one value for every flexible customer, as
    ``step`` and ``bisect``) with the study's envelope caps.
``alloc``
    One envelope per flexible customer, with per-customer caps
    (``[customers] export_max_kw`` / ``import_max_kw``) and the objective
    ``[envelope] allocation``: ``equal`` (all equal), ``proportional``
    (x_i = w_i lam with ``[customers] export_weight`` / ``import_weight``),
    ``max_total`` (largest sum), ``maxmin`` (lexicographic: largest minimum,
    then largest sum) or ``log_fair`` (largest sum of log x_i, piecewise
    linear).

The loop (:func:`verify_and_tighten`), per period and direction:

1. Full power flow with every flexible customer at 0 kW.  If a limit breaks,
   the period is infeasible and reported exactly as ``step``/``bisect`` do
   (status ``infeasible``, the failing constraint as binding, OE NaN).
2. Linearise there (:mod:`oe_opt.sensitivity`; analytic by default: no power
   flow, counted in ``extra["n_sensitivity"]``; or finite differences,
   whose perturbation runs count as power flows) and solve the LP
   (:class:`oe_opt.lp.EnvelopeLP`) with every limit row tightened by a small
   margin (``margin_kw`` × the row's total sensitivity).
3. Full power flow at the LP candidate.  Re-linearise at the candidate (the
   sensitivities taken at 0 kW under-predict, e.g., the current growth at
   high import) and solve the LP again.  A verified candidate is accepted
   when the re-linearised LP cannot improve it by more than ``tol_kw``.
   From the third violating candidate in a row on (re-linearising alone is
   not closing in, e.g. an LP that swaps power between customers with
   nearly equal sensitivities), the violation is added to the margin of the
   violated rows ("tighten by the violation", until a candidate verifies)
   and the following LPs may move each variable by at most a quarter of the
   last step (a trust region, so that the LP cannot jump between nearly
   equivalent vertices where the linearisation of the other vertex is off).
4. If no candidate is verified after ``max_iter`` LPs, the last candidate is
   scaled back towards the last verified one: Newton steps on the segment
   between them with the linearisation at the candidate, then bisection
   (full power flows) until the step is below ``tol_kw``.

The reported envelope is always a verified one: :class:`SearchResult` carries
the power-flow check at it, ``n_powerflows`` (every full power flow,
including perturbation runs), ``n_lp`` (LP solves) and ``extra``:
``n_sensitivity`` (analytic linearisations), ``history`` (every candidate
as a :class:`Candidate`), ``sensitivity`` (``analytic`` | ``fd``) and, for
``alloc``, ``allocation``.

Extending (issue 4: fairness metrics, heuristics): build the pieces with
:func:`make_solver` (or use the registered factories through
:func:`oe_opt.methods.get_method`) and call the returned ``solve(ev,
direction)``; per-customer envelopes are ``SearchResult.oe_kw`` (array, kW,
in ``case.flex_names`` order).  New objectives plug in as a callable
``objective(lp: EnvelopeLP) -> LPSolution`` (see :mod:`oe_opt.lp`) plus an
``improves(x_new, x_old, tol)`` test.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .case import DayCase
from .errors import NetworkError
from .evaluator import PowerFlowEvaluator, signed_kw
from .limits import LimitCheck
from .lp import EnvelopeLP, LPSolution
from .methods import Solve, cap_kw, register
from .network import DssNetwork
from .search import AT_CAP, FEASIBLE, INFEASIBLE, SearchResult
from .sensitivity import Linearisation, QuantityLayout, SensitivityModel
from .study import LimitSpec, Study

#: default margin (kW per customer) the LP keeps from every linearised limit
MARGIN_KW = 5e-4
#: a verified candidate is accepted when the re-linearised LP improves it by less than this (kW)
TOL_KW = 1e-4


@dataclass(frozen=True)
class LimitRows:
    """Limits on the monitored-quantity vector, one row per limit: ``sign * y[q] <= bound``.

    Attributes
    ----------
    q : ndarray of int
        Quantity index of each row.
    sign : ndarray
        +1 for an upper limit, -1 for a lower limit.
    bound : ndarray
        ``sign * limit`` (V or A).
    labels : list of str
        ``kind:element`` as in :class:`~oe_opt.limits.LimitCheck` (``v_max``,
        ``v_min``, ``line``, ``transformer``).
    """

    q: np.ndarray
    sign: np.ndarray
    bound: np.ndarray
    labels: list[str]

    @property
    def n(self) -> int:
        return len(self.q)


def limit_rows(layout: QuantityLayout, limits: LimitSpec) -> LimitRows:
    """The voltage and thermal limits as rows on the quantity vector.

    Voltages get an upper (``v_max_v``) and a lower (``v_min_v``) row; every
    line and transformer phase current an upper row at ``line_max_pct`` /
    ``transformer_max_pct`` of its rated current (the loading is the largest
    phase current, as in :mod:`oe_opt.limits`).
    """
    v = np.nonzero(layout.is_voltage)[0]
    cur = np.nonzero(~layout.is_voltage)[0]
    pct = np.where(layout.kind[cur] == "line", limits.line_max_pct, limits.transformer_max_pct)
    q = np.concatenate([v, v, cur])
    sign = np.concatenate([np.ones(len(v)), -np.ones(len(v)), np.ones(len(cur))])
    bound = np.concatenate([np.full(len(v), limits.v_max_v), np.full(len(v), -limits.v_min_v),
                            layout.rating_a[cur] * pct / 100.0])
    labels = ([f"v_max:{layout.element[i]}" for i in v] + [f"v_min:{layout.element[i]}" for i in v]
              + [f"{layout.kind[i]}:{layout.element[i]}" for i in cur])
    return LimitRows(q, sign, bound, labels)


def headroom(rows: LimitRows, y: np.ndarray) -> np.ndarray:
    """Remaining room of every limit row (V or A; negative = violated)."""
    return rows.bound - rows.sign * y[rows.q]


def lp_rows(rows: LimitRows, lin: Linearisation, dy_dx: np.ndarray, x0: np.ndarray,
            margin_kw: float, extra: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Linearised limits ``A x <= b`` in envelope variables.

    Parameters
    ----------
    rows : LimitRows
    lin : Linearisation
        Quantities at the linearisation point.
    dy_dx : ndarray, shape (n_q, n_var)
        Change of each quantity per kW of each envelope variable.
    x0 : ndarray, shape (n_var,)
        Envelope variables at the linearisation point (kW).
    margin_kw : float
        Each row is tightened by ``margin_kw * sum_i |A_ki|`` (the change if
        every variable moved by `margin_kw`).
    extra : ndarray, optional
        Further tightening per row (V or A).

    Returns
    -------
    (A, b)
        ``b`` is clipped at 0: 0 kW is verified feasible, so the LP always has it.
    """
    a = rows.sign[:, None] * dy_dx[rows.q]
    b = headroom(rows, lin.y) + a @ x0 - margin_kw * np.abs(a).sum(axis=1)
    if extra is not None:
        b = b - extra
    return a, np.maximum(b, 0.0)


@dataclass
class Candidate:
    """One candidate of the verify-and-tighten loop.

    Attributes
    ----------
    x_kw : ndarray
        Envelope variables (kW).
    ok : bool
        The full power flow at the candidate holds every limit.
    binding : str
        Smallest-margin (or violated) constraint there.
    margin_pct : float
        Its margin (%; negative = violated).
    step : str
        ``zero`` (0 kW check), ``lp`` (an LP solution), ``scale`` (scaled back).
    """

    x_kw: np.ndarray
    ok: bool
    binding: str
    margin_pct: float
    step: str


Objective = Callable[[EnvelopeLP], LPSolution]
Improves = Callable[[np.ndarray, np.ndarray, float], bool]


def _improves_componentwise(x_new: np.ndarray, x_old: np.ndarray, tol: float) -> bool:
    return bool(np.any(x_new > x_old + tol))


def improvement_test(allocation: str, weights: np.ndarray | None = None) -> Improves:
    """``improves(x_new, x_old, tol)``: does the LP's new solution beat the verified one?

    Componentwise for equal allocation; by the objective's value for the
    others (their optimal allocations need not be unique).
    """
    if allocation == "equal":
        return _improves_componentwise
    if allocation == "max_total":
        return lambda xn, xo, tol: float(xn.sum()) > float(xo.sum()) + tol
    if allocation == "maxmin":
        return lambda xn, xo, tol: (float(xn.min()) > float(xo.min()) + tol
                                    or (float(xn.min()) >= float(xo.min()) - tol
                                        and float(xn.sum()) > float(xo.sum()) + tol))
    if allocation == "proportional":
        w = np.asarray(weights, dtype=float)
        pos = w > 0
        return lambda xn, xo, tol: float(np.min(xn[pos] / w[pos])) > \
            float(np.min(xo[pos] / w[pos])) + tol / float(w.max())
    if allocation == "log_fair":
        def improves(xn: np.ndarray, xo: np.ndarray, tol: float) -> bool:
            floor = 1e-3
            return float(np.sum(np.log(np.maximum(xn, floor)) - np.log(np.maximum(xo, floor)))) \
                > tol * float(np.sum(1.0 / np.maximum(xo, floor)))
        return improves
    raise ValueError(f"unknown allocation {allocation!r}")


class Linearise:
    """Linearisations in envelope variables at the last solved state.

    ``p_flex = sign * E x`` with ``E`` the (n_flex, n_var) direction matrix
    (a column of ones for one equal value, the identity for per-customer
    variables) and sign -1 for exports.
    """

    def __init__(self, sens: SensitivityModel, directions: np.ndarray, method: str = "analytic",
                 delta_kw: float = 0.01):
        if method not in ("analytic", "fd"):
            raise ValueError(f"sensitivity must be 'analytic' or 'fd', got {method!r}")
        self.sens, self.e, self.method, self.delta_kw = sens, directions, method, delta_kw
        self.n_analytic = 0

    def __call__(self, ev: PowerFlowEvaluator, direction: str, x: np.ndarray) -> tuple[
            Linearisation, np.ndarray]:
        """(linearisation, dy/dx) at envelope `x`, whose power flow is the last solved state."""
        s = -1.0 if direction == "export" else 1.0
        p = signed_kw(direction, self.e @ x)
        if self.method == "analytic":
            self.n_analytic += 1
            lin = self.sens.analytic(p, self.e)
        else:
            lin = self.sens.finite_difference(ev.solve, p, s * self.e, self.delta_kw,
                                              y0=self.sens.quantities())
            return lin, lin.dy_dp
        return lin, s * lin.dy_dp


def verify_and_tighten(ev: PowerFlowEvaluator, direction: str, lp: EnvelopeLP,
                       linearise: Linearise, rows: LimitRows, caps_kw: np.ndarray,
                       objective: Objective, improves: Improves = _improves_componentwise, *,
                       tol_kw: float = TOL_KW, margin_kw: float = MARGIN_KW,
                       max_iter: int = 8) -> SearchResult:
    """Successive LP with full power-flow verification for one period and direction.

    Parameters
    ----------
    ev : PowerFlowEvaluator
        Set to the period (:meth:`PowerFlowEvaluator.set_period`).
    direction : str
        ``export`` or ``import``.
    lp : EnvelopeLP
        With ``n_customers`` = number of envelope variables.
    linearise : Linearise
        Maps envelope variables to the flexible customers and linearises.
    rows : LimitRows
    caps_kw : ndarray
        Cap of each envelope variable (kW).
    objective : callable
        ``objective(lp) -> LPSolution`` after ``lp.update``.
    improves : callable
        Acceptance test, see :func:`improvement_test`.
    tol_kw, margin_kw, max_iter : float, float, int
        See the module docstring.

    Returns
    -------
    SearchResult
        ``oe_kw`` is a float for one variable, else an array (kW).
    """
    n0 = ev.n_powerflows
    n_sens0 = linearise.n_analytic
    caps = np.asarray(caps_kw, dtype=float)
    nvar = len(caps)
    e = linearise.e
    history: list[Candidate] = []

    def check(x: np.ndarray, step: str) -> LimitCheck:
        c = ev.check(signed_kw(direction, e @ x))
        history.append(Candidate(x, c.ok, c.binding, c.margin_pct, step))
        return c

    def result(x, status, binding, c, n_lp) -> SearchResult:
        oe = float(x[0]) if nvar == 1 else x
        extra = {"n_sensitivity": linearise.n_analytic - n_sens0, "history": history,
                 "sensitivity": linearise.method}
        return SearchResult(oe, status, binding, c, ev.n_powerflows - n0, n_lp, extra)

    x0 = np.zeros(nvar)
    c0 = check(x0, "zero")
    if not c0.ok:
        return result(np.full(nvar, np.nan), INFEASIBLE, c0.binding, c0, 0)
    if np.all(caps <= 0):
        return result(x0, AT_CAP, "cap", c0, 0)

    lin, dy = linearise(ev, direction, x0)
    best_x, best_c = x0, c0          # last verified candidate
    last_x, last_c = x0, c0          # last candidate (its state is the linearisation point)
    extra = np.zeros(rows.n)
    n_lp, fails = 0, 0
    radius: float | None = None      # trust region (kW) once re-linearising oscillates
    network_bound = True
    accepted = False
    for _ in range(max_iter):
        a, b = lp_rows(rows, lin, dy, last_x, margin_kw, extra)
        box = (None, None) if radius is None else (last_x - radius, last_x + radius)
        lp.update(a, b, caps, *box)
        sol = objective(lp)
        n_lp += sol.n_solves
        if not sol.ok and radius is not None:
            lp.set_box(None, None)
            sol = objective(lp)
            n_lp += sol.n_solves
        if not sol.ok:
            break
        x = np.clip(sol.x, 0.0, caps)
        network_bound = len(sol.binding_rows) > 0
        if last_c.ok and not improves(x, last_x, tol_kw):
            accepted = True
            break
        c = check(x, "lp")
        if not c.converged:
            last_x, last_c = x, c
            break
        lin, dy = linearise(ev, direction, x)
        if c.ok:
            best_x, best_c, fails = x, c, 0
            extra[:] = 0.0           # verified: the linearisation here is trusted again
            if np.all(x >= caps - 1e-12):
                last_x, last_c, accepted = x, c, True
                break
        else:
            fails += 1
            if fails >= 3:
                # re-linearising alone is not closing in: tighten the violated rows by
                # their violation (the limits are kept that much further away from now on)
                # and limit the next steps to a quarter of this one (trust region)
                extra = extra + np.maximum(-headroom(rows, lin.y), 0.0)
                step = 0.25 * float(np.max(np.abs(x - last_x)))
                radius = step if radius is None else min(radius, step)
        last_x, last_c = x, c
    if not accepted:
        network_bound = True
        if last_c.ok:
            pass
        elif last_c.converged:
            last_x, last_c = _scale_back(check, lambda x: linearise(ev, direction, x), rows,
                                         best_x, best_c, last_x, lin, dy, margin_kw, tol_kw)
        else:
            last_x, last_c = _bisect_segment(check, best_x, best_c, last_x, tol_kw)
    if np.all(last_x >= caps - 1e-9) or not network_bound:
        return result(last_x, AT_CAP, "cap", last_c, n_lp)
    return result(last_x, FEASIBLE, last_c.binding, last_c, n_lp)


def _scale_back(check: Callable[[np.ndarray, str], LimitCheck], linearise, rows: LimitRows,
                good_x: np.ndarray, good_c: LimitCheck, bad_x: np.ndarray, lin: Linearisation,
                dy: np.ndarray, margin_kw: float, tol_kw: float, max_newton: int = 3):
    """Scale a violating candidate back towards a verified one until the power flow holds.

    Newton steps on the segment ``good + alpha (bad - good)`` with the
    linearisation at the current point (each row's usage is moved below its
    margin), then bisection on the segment if those do not verify.
    """
    d = bad_x - good_x
    alpha, x = 1.0, bad_x
    for _ in range(max_newton):
        a = rows.sign[:, None] * dy[rows.q]
        usage = -headroom(rows, lin.y) + margin_kw * np.abs(a).sum(axis=1)
        rate = a @ d
        need = (usage > 0) & (rate > 0)
        if not need.any():
            break
        alpha = float(np.clip(alpha - np.max(usage[need] / rate[need]), 0.0, alpha))
        x = good_x + alpha * d
        c = check(x, "scale")
        if c.ok:
            return x, c
        if not c.converged:
            break
        lin, dy = linearise(x)
    return _bisect_segment(check, good_x, good_c, x, tol_kw)


def _bisect_segment(check: Callable[[np.ndarray, str], LimitCheck], good_x: np.ndarray,
                    good_c: LimitCheck, bad_x: np.ndarray, tol_kw: float):
    """Bisection on the segment from a verified to a violating candidate (full power flows)."""
    lo, hi = 0.0, 1.0
    span = float(np.max(np.abs(bad_x - good_x)))
    best_x, best_c = good_x, good_c
    while (hi - lo) * span > tol_kw:
        mid = 0.5 * (lo + hi)
        x = good_x + mid * (bad_x - good_x)
        c = check(x, "scale")
        if c.ok:
            lo, best_x, best_c = mid, x, c
        else:
            hi = mid
    return best_x, best_c


# ----------------------------------------------------------------- methods
def _shared(net: DssNetwork, key: tuple, build: Callable[[], object]):
    """Objects built once per compiled network (sensitivity model, LPs) and reused across days.

    Kept on the network object itself, so they live exactly as long as it does.
    """
    store = net.__dict__.setdefault("_optimise_cache", {})
    if key not in store:
        store[key] = build()
    return store[key]


def sensitivity_model(net: DssNetwork, flex_idx: np.ndarray, analytic: bool = True) -> SensitivityModel:
    """The (cached) sensitivity model of `net` for these flexible customers."""
    key = ("sens", tuple(int(i) for i in flex_idx), analytic)
    return _shared(net, key, lambda: SensitivityModel(net, flex_idx, analytic=analytic))


def make_solver(study: Study, net: DssNetwork, case: DayCase, *, per_customer: bool,
                allocation: str = "equal", sensitivity: str = "auto",
                backend: str = "highspy", tol_kw: float = TOL_KW, margin_kw: float = MARGIN_KW,
                max_iter: int = 8) -> Solve:
    """A ``solve(ev, direction) -> SearchResult`` for the ``lp`` or ``alloc`` method.

    Parameters
    ----------
    per_customer : bool
        One variable per flexible customer with per-customer caps (``alloc``),
        or a single equal-allocation value with the envelope caps (``lp``).
    allocation : str
        Objective for per-customer variables.
    sensitivity : str
        ``analytic`` (Y matrix, no power flows), ``fd`` (perturbation runs) or
        ``auto`` (analytic unless the circuit has elements it does not model,
        see :mod:`oe_opt.sensitivity`).
    backend : str
        :class:`EnvelopeLP` backend.
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
    rows = limit_rows(sens.layout, study.limits)
    if per_customer:
        e = np.eye(n_flex)
    else:
        e = np.ones((n_flex, 1))
        allocation = "equal"
    nvar = e.shape[1]
    lp = _shared(net, ("lp", nvar, rows.n, backend), lambda: EnvelopeLP(nvar, rows.n, backend=backend))
    lin = Linearise(sens, e, sensitivity)

    def caps_weights(direction: str) -> tuple[np.ndarray, np.ndarray | None]:
        if not per_customer:
            return np.array([cap_kw(study, direction)]), None
        c = study.customers
        caps = np.array([getattr(c, f"{direction}_max_kw")[n] for n in case.flex_names])
        w = getattr(c, f"{direction}_weight")
        weights = np.array([w.get(n, cap) for n, cap in zip(case.flex_names, caps)])
        return caps, weights

    def solve(ev: PowerFlowEvaluator, direction: str) -> SearchResult:
        caps, weights = caps_weights(direction)
        res = verify_and_tighten(
            ev, direction, lp, lin, rows, caps,
            lambda model: model.solve_allocation(allocation, weights),
            improvement_test(allocation, weights), tol_kw=tol_kw, margin_kw=margin_kw,
            max_iter=max_iter)
        if per_customer:
            res.extra["allocation"] = allocation
        return res

    return solve


@register("lp")
def _lp(study: Study, net: DssNetwork, case: DayCase) -> Solve:
    return make_solver(study, net, case, per_customer=False)


@register("alloc")
def _alloc(study: Study, net: DssNetwork, case: DayCase) -> Solve:
    return make_solver(study, net, case, per_customer=True, allocation=study.envelope.allocation)
