"""Per-customer envelopes at feeder scale: the successive LP with only the rows near binding.

With one variable per flexible customer every limit row is dense (one
coefficient per customer) and a feeder has thousands of rows (a voltage row
per customer and bound, a current row per phase of every line and
transformer), of which a few dozen bind.  :func:`verify_and_tighten`
(:mod:`oe_opt.methods.slp`) linearises every row at every power flow (one
solve per customer) and hands them all to the LP; here
(:func:`row_generation_slp`, the same loop otherwise) the LP holds an
*active set* of rows that grows (constraint generation):

* the linearisation is matrix-free (:meth:`SensitivityModel.analytic_rows`):
  the quantities of the solved state and one factorisation of the linearised
  power flow; the gradient of a row is one transposed solve (the adjoint)
  with it, made only for the rows in the LP (:class:`RowGradients`);
* the first rows (:func:`initial_rows`): those nearest to binding at the start
  (headroom below :data:`NEAR_FRAC` of the limit) and the :data:`INIT_ROWS`
  that bind first along the ray to every customer at its cap (first-order
  prediction, one solve);
* after each LP, the local power-flow model (:class:`LocalModel`, the order-4
  series: a few solves) predicts every monitored quantity at the LP solution;
  rows it finds violated or within :data:`NEAR_FRAC` of their limit join the
  LP and it is re-solved (at most :data:`MAX_GENERATION` rounds per LP);
* after each full power flow, every limit's headroom is known; the rows
  violated or near binding there join too.

The acceptance test, the margins, the cutting planes on the local model, the
trust region and the scale-back are those of :func:`verify_and_tighten`, on
the active rows; every reported envelope is a full power flow's verdict on
every limit (``ev.check``), so a row the LP never held cannot be broken
unnoticed.  ``extra`` of the result adds ``n_rows`` (every limit row),
``n_active_rows`` and ``active_rows`` (the rows in the LP at the end: how many,
their indices in every row) and ``n_generated`` (rows added after the first LP).

Used by ``alloc`` (:mod:`oe_opt.methods.optimised`) from
:data:`MIN_VARIABLES` flexible customers on, with analytic sensitivities,
``holds_for = "full_use"`` and no optional (MV, unbalance) limits.
"""

from __future__ import annotations

import numpy as np

from oe_opt.methods.evaluator import PowerFlowEvaluator, signed_kw
from oe_opt.methods.result import AT_CAP, FEASIBLE, INFEASIBLE, SearchResult
from oe_opt.methods.slp import (ANCHOR_WEIGHT, CREEP_KW, MAX_CUT_ROUNDS, MAX_INNER, Candidate,
                                Linearise, Objective, Progress, settle,
                                solve_on_model)
from oe_opt.model.allocations import Improves
from oe_opt.model.limits import LimitCheck, LimitRows, headroom, lp_rows
from oe_opt.model.lp import EnvelopeLP
from oe_opt.model.sensitivity import Linearisation, SensitivityModel

#: rows of the first LP besides the near-binding ones: the first to bind towards the caps
INIT_ROWS = 32
#: a row joins the LP when its headroom (predicted or measured) is below this share of its
#: limit (0.025 V at 253 V, 0.03 A at 300 A), or violated
NEAR_FRAC = 1e-4
#: most rows added at once, at least (the most violated first: one row of a feeder often covers
#: its neighbours, so adding every violated row at once would fill the LP with rows never
#: binding); with many customers one per ADD_PER_VARIABLES variables (more LV feeders)
MAX_ADD = 16
ADD_PER_VARIABLES = 16
#: rows within this share of their limit at the end of a period seed the next period
KEEP_FRAC = 2e-3
#: model-based row-generation rounds per LP (re-solves after adding predicted violations)
MAX_GENERATION = 30
#: solves on the local model per power flow (each after rows were added at the last one)
MAX_SOLVES_ON_MODEL = 12
#: per-customer LPs with at least this many variables use row generation
MIN_VARIABLES = 100


class ActiveRows:
    """The growing set of limit rows in the LP (indices into every row, in order added)."""

    def __init__(self, rows: LimitRows):
        self.all = rows
        self.idx = np.zeros(0, dtype=int)
        self._in = np.zeros(rows.n, dtype=bool)
        self._rows: LimitRows | None = None
        self.max_add = MAX_ADD

    def add(self, k: np.ndarray) -> int:
        """Add rows `k` (indices of every row); returns how many were new."""
        k = np.unique(np.asarray(k, dtype=int))
        k = k[~self._in[k]]
        if len(k):
            self._in[k] = True
            self.idx = np.concatenate([self.idx, k])
            self._rows = None
        return len(k)

    def rows(self) -> LimitRows:
        """The active rows as :class:`LimitRows` (appended rows keep their positions)."""
        if self._rows is None:
            a, i = self.all, self.idx
            self._rows = LimitRows(a.q[i], a.sign[i], a.bound[i], [a.labels[j] for j in i])
        return self._rows

    def relative_headroom(self, y: np.ndarray) -> np.ndarray:
        """Every row's headroom at quantities `y` as a share of its limit (negative:
        violated)."""
        return headroom(self.all, y) / np.abs(self.all.bound)

    def near(self, y: np.ndarray, frac: float | None = None,
             most: int | None = None, rel: np.ndarray | None = None) -> np.ndarray:
        """Rows (of every row) not in the set, violated or within `frac` of their limit at
        quantities `y` (default :data:`NEAR_FRAC`): the `most` (default ``max_add``, set
        from :data:`MAX_ADD`) with the smallest headroom relative to their limit.  `rel`:
        :meth:`relative_headroom` of `y` if already computed (overwritten)."""
        frac = NEAR_FRAC if frac is None else frac
        most = self.max_add if most is None else most
        rel = self.relative_headroom(y) if rel is None else rel
        rel[self._in] = np.inf
        k = np.nonzero(rel < frac)[0]
        if len(k) > most:
            k = k[np.argpartition(rel[k], most)[:most]]
        return k


def grown_rows(buf: np.ndarray, used: int, rows: int) -> np.ndarray:
    """`buf` (its first `used` rows kept) with room for `rows` rows: itself if it has it, else
    a copy twice as long (rows appended batch by batch cost one copy of what is kept each
    time the room doubles, not one per batch)."""
    if len(buf) >= rows:
        return buf
    out = np.empty((max(rows, 2 * len(buf)), buf.shape[1]))
    out[:used] = buf[:used]
    return out


class RowGradients:
    """``dy/dx`` of a matrix-free linearisation, row by row on demand (the adjoint).

    ``g[q]`` for an array of quantity indices returns their sensitivities per kW of each
    envelope variable (shape ``(len(q), n_var)``), computing the ones not asked for before
    in one batch of transposed solves.  With `reuse` (the gradients at an earlier state of
    the same period and direction) every quantity it knew, except `fresh`, keeps its
    earlier gradient (a row far from binding: its right-hand side is exact, its slope from
    a state nearby).
    """

    def __init__(self, lin: Linearisation, sign: float, n_var: int,
                 reuse: "RowGradients | None" = None, fresh: np.ndarray | None = None):
        self.lin, self.sign = lin, sign
        self._pos = np.full(len(lin.y), -1, dtype=int)
        self._g = np.zeros((0, n_var))
        self.n_rows = 0
        if reuse is not None:
            # the gradients of an earlier state for every quantity it knew but `fresh`
            keep = reuse._pos >= 0
            if fresh is not None:
                keep[np.asarray(fresh, dtype=int)] = False
            q = np.nonzero(keep)[0]
            self._pos[q] = np.arange(len(q))
            self._g = reuse._g[reuse._pos[q]]
        self._used = len(self._g)                 # rows of _g in use (the rest: room)

    def __getitem__(self, q) -> np.ndarray:
        q = np.asarray(q, dtype=int)
        missing = np.unique(q[self._pos[q] < 0])
        if len(missing):
            g = self.sign * self.lin.model.gradient(np.zeros(self.lin.model.e.shape[1]), missing)
            used = self._used
            self._pos[missing] = used + np.arange(len(missing))
            self._g = grown_rows(self._g, used, used + len(missing))
            self._g[used:used + len(missing)] = g
            self._used = used + len(missing)
            self.n_rows += len(missing)
        return self._g[self._pos[q]]


def initial_rows(active: ActiveRows, lin: Linearisation, step_c: np.ndarray,
                 n: int = INIT_ROWS) -> np.ndarray:
    """The rows near binding at `lin` and the `n` rows that bind first along the first-order
    ray ``y + t dy`` to the step `step_c` (load-sign kW per direction; every customer to its
    cap), among those that bind before it."""
    rows = active.all
    y1 = lin.model.predict(step_c, order=1)
    u0 = rows.sign * lin.y[rows.q]
    rise = rows.sign * y1[rows.q] - u0
    room = headroom(rows, lin.y)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(rise > 0, room / rise, np.inf)
    first = np.argsort(t)[:n]
    first = first[t[first] < 1.0]
    return np.union1d(first, active.near(lin.y, most=n))


def start_point(check, start: np.ndarray | None, nvar: int,
                caps: np.ndarray | None = None) -> tuple[np.ndarray, LimitCheck]:
    """The verified start of a per-customer search: `start` (e.g. the equal allocation's
    envelope, clipped to `caps`) if its power flow holds, else 0 kW.

    ``check(x, step)`` checks envelopes `x` (kW per customer) with a full power flow.
    Returns (x0, its check); a check that fails at 0 kW is the caller's infeasible period.
    """
    if start is None:
        return np.zeros(nvar), check(np.zeros(nvar), "zero")
    x0 = np.asarray(start, dtype=float)
    if caps is not None:
        x0 = np.minimum(x0, caps)
    c0 = check(x0, "start")
    if not c0.ok:
        x0 = np.zeros(nvar)
        c0 = check(x0, "zero")
    return x0, c0


def row_generation_slp(ev: PowerFlowEvaluator, direction: str, lp: EnvelopeLP,
                       sens: SensitivityModel, e: np.ndarray, all_rows: LimitRows,
                       caps_kw: np.ndarray, objective: Objective, improves: Improves, *,
                       componentwise: bool = False, tol_kw: float, margin_kw: float,
                       max_iter: int = 8, max_inner: int = MAX_INNER,
                       max_cut_rounds: int = MAX_CUT_ROUNDS, creep_kw: float = CREEP_KW,
                       start: np.ndarray | None = None, init_rows: int = INIT_ROWS,
                       generate: bool = True, memory: dict | None = None) -> SearchResult:
    """:func:`~oe_opt.methods.slp.verify_and_tighten` on an active set of rows (see the module
    docstring) for one period and direction.

    Parameters
    ----------
    lp : EnvelopeLP
        With ``n_customers`` = number of envelope variables and room for every row
        (``open_rows=True``: the rows live in HiGHS only).
    sens : SensitivityModel
        Analytic (``analytic_rows``).
    e : ndarray
        The (n_flex, n_var) direction matrix (the identity for per-customer variables).
    all_rows : LimitRows
        Every limit row.
    generate : bool
        Add rows (those the model predicts violated or near at an LP solution, those a
        power flow finds so); False keeps the first rows only (for tests).
    init_rows : int
        Rows of the first LP besides the near-binding ones (:func:`initial_rows`).
    memory : dict, optional
        Kept by the caller from one period to the next (per day): the rows near binding at
        the end of the last period in this direction join the first LP.

    Other parameters as :func:`~oe_opt.methods.slp.verify_and_tighten`.

    Returns
    -------
    SearchResult
        Verified by a full power flow (every limit); ``oe_kw`` an array (kW).
    """
    n0 = ev.n_powerflows
    caps = np.asarray(caps_kw, dtype=float)
    nvar = len(caps)
    s = -1.0 if direction == "export" else 1.0
    creep = creep_kw if componentwise else creep_kw * nvar
    wrap = Linearise(sens, e, "analytic")          # the local model in envelope variables
    history: list[Candidate] = []
    active = ActiveRows(all_rows)
    active.max_add = max(MAX_ADD, nvar // ADD_PER_VARIABLES)
    counts = {"n_generated": 0}

    def check(x: np.ndarray, step: str) -> LimitCheck:
        c = ev.check(signed_kw(direction, e @ x))
        history.append(Candidate(x, c.ok, c.binding, c.margin_pct, step))
        return c

    def linearise(x: np.ndarray) -> tuple[Linearisation, RowGradients]:
        wrap.n_analytic += 1
        lin = sens.analytic_rows(signed_kw(direction, e @ x), e)
        return lin, RowGradients(lin, s, nvar)

    def result(x, status, binding, c, n_lp) -> SearchResult:
        extra = {"n_sensitivity": wrap.n_analytic, "n_model": wrap.n_model, "history": history,
                 "sensitivity": "analytic", "n_rows": all_rows.n,
                 "n_active_rows": len(active.idx), "active_rows": active.idx.copy(), **counts}
        return SearchResult(x, status, binding, c, ev.n_powerflows - n0, n_lp, extra)

    x0, c0 = start_point(check, start, nvar)
    if not c0.ok:
        return result(np.full(nvar, np.nan), INFEASIBLE, c0.binding, c0, 0)
    if np.all(caps <= 0):
        return result(x0, AT_CAP, "cap", c0, 0)

    lin, dy = linearise(x0)
    active.add(initial_rows(active, lin, s * (caps - x0), init_rows))
    if memory is not None and direction in memory:
        active.add(memory[direction])

    def grow(k: np.ndarray, extra: np.ndarray) -> tuple[LimitRows, np.ndarray, bool]:
        added = active.add(k)
        rows = active.rows()
        return rows, np.concatenate([extra, np.zeros(rows.n - len(extra))]), added > 0

    rows = active.rows()
    prog = Progress(x0, c0, x0, c0, np.zeros(rows.n))
    n_lp = 0
    warm: list = []
    curvature: float | None = None
    network_bound = True
    accepted = False
    for _ in range(max_iter):
        box = prog.box()
        lp.set_anchor(prog.last_x, ANCHOR_WEIGHT)
        model = wrap.model(lin, direction, prog.last_x)
        for round_ in range(MAX_SOLVES_ON_MODEL):
            if generate:
                # row generation on the model with the plain LP: add the rows the model
                # predicts violated or near at its solution (every limit, no power flow)
                for _ in range(MAX_GENERATION):
                    a, b = lp_rows(rows, lin, dy, prog.last_x, margin_kw, prog.extra)
                    lp.update(a, b, caps, *box)
                    sol = objective(lp)
                    n_lp += sol.n_solves
                    if not sol.ok:
                        break
                    y_x = model.quantities(np.clip(sol.x, 0.0, caps))
                    n_before = len(active.idx)
                    rows, prog.extra, added = grow(active.near(y_x), prog.extra)
                    counts["n_generated"] += len(active.idx) - n_before
                    if not added:
                        break
            sol, k, warm, curvature = solve_on_model(
                lp, objective, rows, lin, dy, prog.last_x, caps, box, margin_kw, prog.extra, model,
                warm, curvature, max_inner, max_cut_rounds)
            n_lp += k
            if not sol.ok or not generate:
                break
            # the model's solution may reach rows the plain LP did not: add them, re-solve
            n_before = len(active.idx)
            rows, prog.extra, added = grow(
                active.near(model.quantities(np.clip(sol.x, 0.0, caps))), prog.extra)
            counts["n_generated"] += len(active.idx) - n_before
            if not added:
                break
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
        lin, dy = linearise(x)
        # the power flow gives every limit's headroom: the rows violated or near binding join
        if generate:
            n_before = len(active.idx)
            rows, prog.extra, _ = grow(active.near(lin.y), prog.extra)
            counts["n_generated"] += len(active.idx) - n_before
        if prog.record(x, c, c0, rows, lin.y, improves, creep, caps):
            accepted = True
            break
    lp.set_anchor(None)
    last_x, last_c = prog.last_x, prog.last_c
    if not accepted:
        network_bound = True
        last_x, last_c = settle(check, linearise, rows, prog.best_x, prog.best_c, last_x, last_c,
                                lin, dy, margin_kw, tol_kw)
    if memory is not None and last_c.ok and lin.y is not None:
        # the rows near binding at the end (measured: the last power flow) seed the next period
        rel = headroom(rows, lin.y) / np.abs(rows.bound)
        memory[direction] = active.idx[rel < KEEP_FRAC]
    if np.all(last_x >= caps - 1e-9) or not network_bound:
        return result(last_x, AT_CAP, "cap", last_c, n_lp)
    return result(last_x, FEASIBLE, last_c.binding, last_c, n_lp)
