"""Successive LP on sensitivities, verified with full power flows (the ``lp``/``alloc`` core).

The methods that use it are wired in :mod:`oe_opt.methods.optimised`: ``alloc`` always, ``lp``
where its fast core (:mod:`oe_opt.methods.equal_fast`) does not apply; with ``holds_for =
"any_use"`` the worst-corner loop of :mod:`oe_opt.methods.any_use` runs instead and shares
:func:`bisect_segment` with this loop.

The loop (:func:`verify_and_tighten`), per period and direction:

1. Full power flow with every flexible customer at 0 kW.  If a limit breaks,
   the period is infeasible and reported exactly as ``step``/``bisect`` do
   (status ``infeasible``, the failing constraint as binding, OE NaN).
2. Linearise there (:mod:`oe_opt.model.sensitivity`; analytic by default: no power
   flow, counted in ``extra["n_sensitivity"]``; or finite differences,
   whose perturbation runs count as power flows) and solve the LP
   (:class:`oe_opt.model.lp.EnvelopeLP`) with every limit row tightened by a small
   margin (``margin_kw`` × the row's largest sensitivity, :func:`row_margin`)
   on the local power-flow model (:func:`solve_on_model`): the analytic
   linearisation comes with a power series of the power flow around the
   solved state (:class:`oe_opt.model.sensitivity.LocalModel`, order 4; a few
   solves with the factorisation of the linearisation, no power flow,
   counted in ``extra["n_model"]``), the LP solution is checked against it
   and the rows are corrected (cutting planes where the model bends above
   them, tangents where it bends below, parallel shifts) until the LP agrees
   with the model.  This predicts the curvature the plain linearisation
   misses (import currents growing faster than linearly as voltages fall)
   and, with the cutting planes, shares a curtailment among customers with
   nearly equal sensitivities instead of jumping between the vertices of
   the LP (which customer takes it) from one power flow to the next.  A
   tiny tie-break (:meth:`EnvelopeLP.set_anchor`, ``ANCHOR_WEIGHT`` per kW)
   keeps the LP at the last candidate among equally good solutions.
3. Full power flow at the LP candidate.  Re-linearise at the candidate and
   solve on its model again.  A verified candidate is accepted when that
   cannot improve it by more than ``tol_kw``, or when it improved the
   previous verified LP candidate by less than ``creep_kw`` per variable
   (the loop is creeping, e.g. along nearly parallel voltage limits).
   Typically a limited period takes the 0-kW check and one or two
   candidates.  From the third violating candidate in a row on
   (re-linearising alone is not closing in), the violation is added to the
   margin of the violated rows ("tighten by the violation", until a
   candidate verifies) and the following LPs may move each variable by at
   most a quarter of the last step (a trust region).
4. If no candidate is verified after ``max_iter`` LPs, the last candidate is
   scaled back towards the last verified one: Newton steps on the segment
   between them with the linearisation at the candidate, then bisection
   (full power flows) until the step is below ``tol_kw``.

The reported envelope is always a verified one: :class:`SearchResult` carries
the power-flow check at it, ``n_powerflows`` (every full power flow,
including perturbation runs), ``n_lp`` (LP solves) and ``extra``:
``n_sensitivity`` (analytic linearisations at solved states), ``n_model``
(predictions of the local model), ``history`` (every candidate
as a :class:`Candidate`), ``sensitivity`` (``analytic`` | ``fd``) and, for
``alloc``, ``allocation``.

New objectives are entries of :mod:`oe_opt.model.allocations` (how to solve
them on the LP, how to tell an improvement); nothing here changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from oe_opt.methods.evaluator import PowerFlowEvaluator, signed_kw
from oe_opt.methods.result import AT_CAP, FEASIBLE, INFEASIBLE, SearchResult
from oe_opt.model.allocations import Improves
from oe_opt.model.limits import LimitCheck, LimitRows, headroom, lp_rows, row_margin
from oe_opt.model.lp import EnvelopeLP, LPSolution
from oe_opt.model.sensitivity import Linearisation, SensitivityModel

#: default margin (kW per customer) the LP keeps from every linearised limit
MARGIN_KW = 5e-4
#: a verified candidate is accepted when the re-linearised LP improves it by less than this (kW)
TOL_KW = 1e-4
#: ... or when it improves the previous verified LP candidate by less than this per variable (kW)
CREEP_KW = 1e-4
#: most LP re-solves on the local power-flow model per full power flow (see :func:`solve_on_model`)
MAX_INNER = 10
#: the LP rows agree with the local model when within this share of the margin
MODEL_TOL = 0.1
#: most cutting planes kept on top of the limit rows (see :func:`solve_on_model`)
MAX_CUTS = 48
#: re-solves that add cutting planes; the following ones shift the rows (see :func:`solve_on_model`)
MAX_CUT_ROUNDS = 5
#: cutting-plane points carried to the model of the next power flow (see :func:`solve_on_model`)
MAX_WARM = 8
#: tie-break towards the linearisation point: objective units per kW of 1-norm distance
ANCHOR_WEIGHT = 1e-5


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


@dataclass
class Progress:
    """Where a successive LP stands between candidates (:func:`verify_and_tighten`,
    :func:`~oe_opt.methods.row_generation.row_generation_slp`).

    Attributes
    ----------
    best_x, best_c
        The last verified candidate (kW per variable) and its check.
    last_x, last_c
        The last candidate (its state is the linearisation point) and its check.
    extra : ndarray
        Tightening of each LP row by violations measured at failed candidates (V or A).
    fails : int
        Failed candidates in a row.
    radius : float or None
        Trust region (kW) once re-linearising alone does not close in.
    """

    best_x: np.ndarray
    best_c: LimitCheck
    last_x: np.ndarray
    last_c: LimitCheck
    extra: np.ndarray
    fails: int = 0
    radius: float | None = None

    def box(self) -> tuple:
        """The trust region around the last candidate, as ``(lower, upper)`` (None: none)."""
        if self.radius is None:
            return (None, None)
        return (self.last_x - self.radius, self.last_x + self.radius)

    def record(self, x: np.ndarray, c: LimitCheck, c0: LimitCheck, rows: LimitRows,
               y: np.ndarray, improves: Improves, creep: float, caps: np.ndarray) -> bool:
        """Record the converged candidate `x` (check `c`, quantities `y` there); True when
        the search ends at it (accepted).

        A verified candidate is the new best and trusts the linearisation again (no
        tightening); it ends the search when it creeps (improves the previous verified LP
        candidate by less than `creep` in the sense of `improves`; `c0`, the start's check,
        is not an LP candidate) or reaches every cap.  After three failures in a row,
        re-linearising alone is not closing in: the violated rows are tightened by their
        violation (the limits kept that much further away from now on) and the next steps
        limited to a quarter of this one (trust region).
        """
        if c.ok:
            creeping = self.best_c is not c0 and not improves(x, self.best_x, creep)
            self.best_x, self.best_c, self.fails = x, c, 0
            self.extra[:] = 0.0
            if creeping or np.all(x >= caps - 1e-12):
                self.last_x, self.last_c = x, c
                return True
        else:
            self.fails += 1
            if self.fails >= 3:
                self.extra = self.extra + np.maximum(-headroom(rows, y), 0.0)
                step = 0.25 * float(np.max(np.abs(x - self.last_x)))
                self.radius = step if self.radius is None else min(self.radius, step)
        self.last_x, self.last_c = x, c
        return False


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
        self.n_model = 0

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

    def model(self, lin: Linearisation, direction: str,
              x_from: np.ndarray) -> "EnvelopeModel | None":
        """The local power-flow model of `lin` (linearised at envelope `x_from`) in envelope
        variables; None without one (finite differences)."""
        if lin.model is None:
            return None
        return EnvelopeModel(self, lin.model, -1.0 if direction == "export" else 1.0, x_from)


class EnvelopeModel:
    """A :class:`~oe_opt.model.sensitivity.LocalModel` seen in envelope variables (no power flow).

    ``quantities(x)``: the monitored quantities (V, A) predicted at envelope
    `x` (kW); ``gradient(x, q_idx)``: the change of quantities `q_idx` per kW
    of each envelope variable there.  Each prediction is counted in
    ``linearise.n_model``.
    """

    def __init__(self, linearise: Linearise, model, sign: float, x_from: np.ndarray):
        self._lin, self._model, self._s, self._x0 = linearise, model, sign, np.asarray(x_from)

    def _step(self, x: np.ndarray) -> np.ndarray:
        return self._s * (np.asarray(x, dtype=float) - self._x0)

    def quantities(self, x: np.ndarray) -> np.ndarray:
        self._lin.n_model += 1
        return self._model.predict(self._step(x))

    def gradient(self, x: np.ndarray, q_idx: np.ndarray) -> np.ndarray:
        """Change of the quantities `q_idx` per kW of each envelope variable at `x`."""
        return self._s * self._model.gradient(self._step(x), q_idx)


def verify_and_tighten(ev: PowerFlowEvaluator, direction: str, lp: EnvelopeLP,
                       linearise: Linearise, rows: LimitRows, caps_kw: np.ndarray,
                       objective: Objective, improves: Improves, *,
                       componentwise: bool = True,
                       tol_kw: float = TOL_KW, margin_kw: float = MARGIN_KW,
                       max_iter: int = 8, max_inner: int = MAX_INNER,
                       max_cut_rounds: int | None = None,
                       creep_kw: float = CREEP_KW,
                       start: np.ndarray | None = None) -> SearchResult:
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
        Acceptance test ``improves(x_new, x_old, tol)``, from the objective's
        :class:`~oe_opt.model.allocations.Allocation`.
    componentwise : bool
        `improves` compares variable by variable (its tolerances are per
        variable; else they are totals).
    tol_kw, margin_kw, max_iter : float, float, int
        See the module docstring.
    max_inner, max_cut_rounds : int
        LP re-solves on the local model per power flow, and of them the
        rounds adding cutting planes (default: ``MAX_CUT_ROUNDS``, 0 for one
        variable), see :func:`solve_on_model`.
    creep_kw : float
        Accept a verified candidate that improves the previous verified LP
        candidate by less than this per variable (kW; in the sense of
        `improves`: per variable for the componentwise test, times the number
        of variables for the others).
    start : ndarray, optional
        Start from these (verified) envelope variables instead of 0 kW: one
        full power flow there replaces the 0-kW check (e.g. maxmin's second
        stage from the first stage's result).

    Returns
    -------
    SearchResult
        ``oe_kw`` is a float for one variable, else an array (kW).
    """
    n0 = ev.n_powerflows
    n_sens0 = linearise.n_analytic
    n_model0 = linearise.n_model
    caps = np.asarray(caps_kw, dtype=float)
    nvar = len(caps)
    if max_cut_rounds is None:
        max_cut_rounds = MAX_CUT_ROUNDS if nvar > 1 else 0
    # creep_kw per variable: the componentwise test compares each variable, the others a total
    creep = creep_kw if componentwise else creep_kw * nvar
    e = linearise.e
    history: list[Candidate] = []

    def check(x: np.ndarray, step: str) -> LimitCheck:
        c = ev.check(signed_kw(direction, e @ x))
        history.append(Candidate(x, c.ok, c.binding, c.margin_pct, step))
        return c

    def result(x, status, binding, c, n_lp) -> SearchResult:
        oe = float(x[0]) if nvar == 1 else x
        extra = {"n_sensitivity": linearise.n_analytic - n_sens0,
                 "n_model": linearise.n_model - n_model0, "history": history,
                 "sensitivity": linearise.method}
        return SearchResult(oe, status, binding, c, ev.n_powerflows - n0, n_lp, extra)

    x0 = np.zeros(nvar) if start is None else np.asarray(start, dtype=float)
    c0 = check(x0, "zero" if start is None else "start")
    if not c0.ok:
        return result(np.full(nvar, np.nan), INFEASIBLE, c0.binding, c0, 0)
    if np.all(caps <= 0):
        return result(x0, AT_CAP, "cap", c0, 0)

    lin, dy = linearise(ev, direction, x0)
    prog = Progress(x0, c0, x0, c0, np.zeros(rows.n))
    n_lp = 0
    warm: list = []                  # cutting-plane points of the last model
    curvature: float | None = None   # largest LP-model disagreement seen (see solve_on_model)
    network_bound = True
    accepted = False
    for _ in range(max_iter):
        lp.set_anchor(prog.last_x, ANCHOR_WEIGHT)
        sol, k, warm, curvature = solve_on_model(
            lp, objective, rows, lin, dy, prog.last_x, caps, prog.box(), margin_kw, prog.extra,
            linearise.model(lin, direction, prog.last_x), warm, curvature, max_inner,
            max_cut_rounds)
        n_lp += k
        if not sol.ok:
            break
        x = np.clip(sol.x, 0.0, caps)
        network_bound = len(sol.binding_rows) > 0
        if prog.last_c.ok and not improves(x, prog.last_x, tol_kw):
            accepted = True
            break
        c = check(x, "lp")
        if not c.converged:
            prog.last_x, prog.last_c = x, c
            break
        lin, dy = linearise(ev, direction, x)
        # creeping: the previous verified candidate was an LP one and this one improves it
        # by less than creep_kw per variable (a further power flow would gain about as
        # little; e.g. nearly parallel voltage limits let each re-linearisation move a bit)
        if prog.record(x, c, c0, rows, lin.y, improves, creep, caps):
            accepted = True
            break
    lp.set_anchor(None)
    last_x, last_c = prog.last_x, prog.last_c
    if not accepted:
        network_bound = True
        last_x, last_c = settle(check, lambda x: linearise(ev, direction, x), rows, prog.best_x,
                                prog.best_c, last_x, last_c, lin, dy, margin_kw, tol_kw)
    if np.all(last_x >= caps - 1e-9) or not network_bound:
        return result(last_x, AT_CAP, "cap", last_c, n_lp)
    return result(last_x, FEASIBLE, last_c.binding, last_c, n_lp)


def solve_on_model(lp: EnvelopeLP, objective: Objective, rows: LimitRows, lin: Linearisation,
                   dy: np.ndarray, x_lin: np.ndarray, caps: np.ndarray, box: tuple,
                   margin_kw: float, extra: np.ndarray,
                   model: EnvelopeModel | None,
                   warm: list[tuple[np.ndarray, np.ndarray]] | None = None,
                   curvature: float | None = None, max_inner: int = MAX_INNER,
                   max_cut_rounds: int = MAX_CUT_ROUNDS,
                   ) -> tuple[LPSolution, int, list[tuple[np.ndarray, np.ndarray]], float | None]:
    """The LP optimum on the local power-flow model around one power flow.

    The limit rows linearised at `x_lin` are exact there only: along a step
    the quantities bend away (import currents grow faster than linearly as
    the voltages fall; export voltages rise slower), and the sensitivities
    change (a curtailed customer's own current sensitivity falls, so another
    customer on the same phase becomes the cheaper one to curtail).  A plain
    LP then jumps between nearly equivalent vertices from one power flow to
    the next.  Here the LP is re-solved on the local model instead
    (`model`: the quantities and their sensitivities at the state predicted
    after the step to `x`, :class:`~oe_opt.model.sensitivity.LocalModel`; no power
    flow), for every row that binds in the LP or is violated in the model:

    * where the model lies above the LP's rows (convex, e.g. import
      currents), its tangent at `x` is added as a further row (a cutting
      plane; the earlier ones stay, so the LP settles between vertices
      instead of jumping, e.g. shares a curtailment among customers with
      nearly equal sensitivities).  After `max_cut_rounds` rounds the rows
      are shifted by the remaining gap instead (cutting planes close the
      last bit slowly when the objective hardly changes along the limit);
    * where it lies below (concave, e.g. export voltages), the row is
      replaced by the tangent at `x` (a Newton step towards the limit); so
      is every row when there are no cutting-plane rounds (one variable).

    This stops when every such row agrees with the model at the LP solution
    within ``MODEL_TOL`` of its margin, or after `max_inner` re-solves.
    Without a model (finite differences) it is one LP.  A step so short that
    the curvature seen so far cannot move any row by that much is not
    predicted at all (a verified candidate's re-solve typically).

    Parameters
    ----------
    warm : list of (x, rows), optional
        Points of an earlier call (e.g. at the previous power flow) whose
        tangents, taken from this model, start the cutting planes (only the
        listed limit rows).
    curvature : float, optional
        Largest disagreement seen so far between the LP rows and the model,
        in units of the tolerance per squared kW of step (1-norm); None:
        nothing seen yet (always predict).
    max_inner, max_cut_rounds : int
        LP re-solves on the model; of them, rounds that add cutting planes
        (0: only shift or replace rows, e.g. for one variable, where cutting
        planes bring nothing over a Newton step).

    Returns
    -------
    (LPSolution, int, list, float or None)
        The last solution, the number of LP solves, the cutting-plane
        points (for `warm` of the next call) and the updated `curvature`.
    """
    a, b = lp_rows(rows, lin, dy, x_lin, margin_kw, extra)
    margin = row_margin(a, margin_kw)
    limit = rows.bound - margin - extra                      # usage allowed per row
    tol = MODEL_TOL * margin + 1e-9
    room = max(0, min(MAX_CUTS, lp.m - rows.n))
    cuts_a, cuts_b, cuts_k = np.zeros((0, a.shape[1])), np.zeros(0), np.zeros(0, dtype=int)
    points: list[tuple[np.ndarray, np.ndarray]] = []

    def usage(x: np.ndarray) -> np.ndarray:
        return rows.sign * model.quantities(x)[rows.q]      # model usage at x (V or A)

    def tangents(x: np.ndarray, use: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Gradient of the model usage of rows k at x and the rhs of their tangents there."""
        g = rows.sign[k, None] * model.gradient(x, rows.q[k])
        return g, limit[k] - use[k] + g @ x

    def add_cuts(x: np.ndarray, k: np.ndarray, g: np.ndarray, rhs: np.ndarray) -> None:
        """Tangent rows (g, rhs) of limit rows k at x as cutting planes."""
        nonlocal cuts_a, cuts_b, cuts_k
        if len(k):
            cuts_a = np.vstack([cuts_a, g])
            cuts_b = np.concatenate([cuts_b, np.maximum(rhs, 0.0)])
            cuts_k = np.concatenate([cuts_k, k])
            points.append((x, k))

    for x_p, k_p in (warm or ()) if model is not None else ():
        k_p = k_p[: max(room - len(cuts_k), 0)]
        if len(k_p):
            add_cuts(x_p, k_p, *tangents(x_p, usage(x_p), k_p))
    n_lp = 0
    sol = None
    x_exact = x_lin                    # where (one variable) every row was last made exact
    for it in range(max_inner + 1):
        lp.update(np.vstack([a, cuts_a]), np.concatenate([b, cuts_b]), caps, *box)
        sol = objective(lp)
        n_lp += sol.n_solves
        if not sol.ok and box[0] is not None:
            lp.set_box(None, None)
            box = (None, None)
            sol = objective(lp)
            n_lp += sol.n_solves
        if not sol.ok or it == max_inner:
            break
        if model is None:
            break
        x = np.clip(sol.x, 0.0, caps)
        step2 = float(np.abs(x - x_lin).sum()) ** 2
        near2 = float(np.abs(x - x_exact).sum()) ** 2
        if curvature is not None and curvature * min(step2, near2) <= 0.5:
            break
        use = usage(x)
        # the LP's own usage at x: its most restrictive row of each limit
        lp_use = limit - (b - a @ x)
        if len(cuts_k):
            np.maximum.at(lp_use, cuts_k, limit[cuts_k] - (cuts_b - cuts_a @ x))
        relevant = (lp_use >= limit - tol) | (use > limit + tol)
        gap = use - lp_use
        if it == 0 and step2 > 0:
            seen = float(np.max(np.abs(gap[relevant]) / tol[relevant], initial=0.0)) / step2
            curvature = seen if curvature is None else max(curvature, seen)
        above = relevant & (gap > tol)
        below = relevant & (gap < -tol)
        if not (above.any() or below.any()):
            break
        a, b = a.copy(), b.copy()
        cut = np.zeros(rows.n, dtype=bool)
        cut[cuts_k] = True
        if not max_cut_rounds:
            # one variable: replace every row by its tangent at x (a Newton step on the model)
            replace, shift, new = np.abs(gap) > tol, np.zeros(rows.n, dtype=bool), above[:0]
        else:
            # concave rows (below, no cutting planes): the tangent at x, every such row (not only
            # the binding ones: with many customers the next voltage row to bind would otherwise
            # cost a re-solve each); rows with cutting planes move parallel (shift) when below,
            # and when above once the cutting-plane rounds or the room for them are used up
            near = limit - use <= np.max(np.abs(gap[relevant]), initial=0.0) + tol
            replace = (gap < -tol) & ~cut & (relevant | near)
            new = np.nonzero(above)[0] if it < max_cut_rounds else above[:0]
            new = new[: max(room - len(cuts_k), 0)]
            shift = (above | (below & cut))
            shift[new] = False
        if shift.any():
            b[shift] = np.maximum(b[shift] - gap[shift], 0.0)
            mine = shift[cuts_k]
            cuts_b = cuts_b.copy()
            cuts_b[mine] = np.maximum(cuts_b[mine] - gap[cuts_k[mine]], 0.0)
        x_exact = x if not max_cut_rounds else x_lin
        if replace.any() or len(new):
            rep = np.nonzero(replace)[0]
            g, rhs = tangents(x, use, np.concatenate([rep, new]))
            a[rep], b[rep] = g[: len(rep)], np.maximum(rhs[: len(rep)], 0.0)
            keep = ~replace[cuts_k]
            cuts_a, cuts_b, cuts_k = cuts_a[keep], cuts_b[keep], cuts_k[keep]
            add_cuts(x, new, g[len(rep):], rhs[len(rep):])
    return sol, n_lp, points[-MAX_WARM:] if MAX_WARM else [], curvature


def settle(check: Callable[[np.ndarray, str], LimitCheck], linearise_at, rows: LimitRows,
           best_x: np.ndarray, best_c: LimitCheck, last_x: np.ndarray, last_c: LimitCheck,
           lin: Linearisation, dy: np.ndarray, margin_kw: float,
           tol_kw: float) -> tuple[np.ndarray, LimitCheck]:
    """Where a successive LP that accepted no candidate ends: its last candidate if that held,
    else scaled back towards the best verified one (a converged violation, :func:`_scale_back`)
    or bisected on the segment between them (no convergence, :func:`bisect_segment`).
    `linearise_at(x) -> (lin, dy)`."""
    if last_c.ok:
        return last_x, last_c
    if last_c.converged:
        return _scale_back(check, linearise_at, rows, best_x, best_c, last_x, lin, dy,
                           margin_kw, tol_kw)
    return bisect_segment(check, best_x, best_c, last_x, tol_kw)


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
        usage = -headroom(rows, lin.y) + row_margin(a, margin_kw)
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
    return bisect_segment(check, good_x, good_c, x, tol_kw)


def bisect_segment(check: Callable[[np.ndarray, str], LimitCheck], good_x: np.ndarray,
                    good_c: LimitCheck, bad_x: np.ndarray, tol_kw: float):
    """Bisection on the segment from a verified to a violating candidate (full power flows).

    `check(x, step)` returns anything with ``ok``; the last passing point and its check are
    returned."""
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
