"""The fast core of ``alloc`` (max_total) at feeder scale: a lean successive LP, stopped at a
stated tolerance.

:func:`~oe_opt.methods.row_generation.row_generation_slp` solves the per-customer LP on an
active set of rows, re-solved on the local power-flow model with cutting planes (tangents of
the model at predicted states: one factorisation and one adjoint per row each) until it agrees
with the model to a fraction of the margin.  At 2,000 customers that took 50-150 HiGHS solves
and 300-700 rows per period-direction against about three binding at the end.  Here
(:func:`solve_alloc_fast`, ``max_total`` only) the same LP, the same rows and the same
verification, with less work per power flow:

* **few rows**: the first LP holds the rows near binding at the start and the
  :data:`INIT_ROWS` that bind first on the first-order ray to the caps (and the rows that
  bound the same direction's last period); after each LP the local model
  (:class:`~oe_opt.model.sensitivity.LocalModel`, one prediction of every quantity) names the
  rows it finds *violated* (not merely near), and only the most violated join (at least
  :data:`ADD_ROWS`, one per :data:`ADD_PER_VARIABLES` customers, at most
  :data:`ADD_ROWS_MAX`: one row of a feeder often covers its neighbours, the next LP shows
  whether it did);
* **shifts, not cutting planes**: the model's curvature enters as a parallel shift of each row
  (its gap between the model and the line at the last LP solution), repeated until no row
  joins and the LP total changes by less than :data:`MOVE_REL`; only a row more than
  :data:`TANGENT_FRAC` of its limit off its line (a magnitude through its kink, e.g. a feeder
  current reversing with the exports) gets the model's tangent (a gradient at a predicted
  state); where the LP cannot satisfy the model the candidate backs off along its step; every
  row keeps :data:`MODEL_FRAC` of its limit for the model's error;
* **sparse rows**: coefficients below :data:`SPARSE_FRAC` of a row's largest are left out of
  the LP (the shift accounts for them at the solution); the gradients of rows far from binding
  are kept from the last linearisation (:data:`REFRESH_FRAC`);
* **a stopping tolerance** on the LP bound: the optimum of the LP (model shifts included) at
  the verified state the loop last linearised at.  A verified candidate is accepted when its
  total is within ``rel_tol`` (default :data:`REL_TOL`, 0.2 %) of that bound (typically the
  first candidate, when the power flow confirms the model), else its state is linearised and
  the LP solved there again: the new bound; a verified point within ``rel_tol`` of it (or
  above it) is accepted.  Which bound a candidate may be accepted against is ``accept``
  (:data:`ACCEPT`; default :data:`ACCEPT_DEFAULT`, ``auto``): the bound of the state it was
  linearised from only where that linearisation's rounds needed no tangent, else only the
  bound at its own state (on the MV-LV feeder the former stopped up to 1.5 MW below in an
  export period).  **The allocation is therefore optimal only to within ``rel_tol`` of the
  LP bound at the last verified linearisation point**, not to the last watt, and like every
  successive LP it is a local method;
* **the LP in place**: rows appended to HiGHS, their bounds changed and a tangent's row
  swapped without rebuilding (``EnvelopeLP(open_rows=True)`` keeps HiGHS's basis; only a new
  linearisation replaces the rows: on the MV-LV feeder a rebuild and its alien basis cost
  ~130 ms, and 22 of an export period's 24 rebuilds were tangents or rows joining or
  leaving the box's reach; periods 24 and 30 took a median 0.78 of their time with the
  rows swapped in place, paired in one process, the same envelopes), and the LP ``lean``:
  the customers' variables and the limit rows alone, without the other objectives' free
  variables and rows (4 per customer), which cost the simplex its time (the 21 LP updates of
  an export period at 2,000 customers: 200-290 ms with them, 70-110 ms without).

Every reported envelope is a full power flow's verdict on every limit (``ev.check``): a
candidate that breaks a limit is never reported; the rows the power flow finds violated join
and are tightened by their violation (the linearisation kept), and after
:data:`MAX_FAILS` such candidates in a row, or :data:`MAX_LINEARISATIONS` linearisations, the
last candidate is scaled back towards the best verified one
(:func:`~oe_opt.methods.slp.settle`; kept only if it gives more).  ``extra`` of the result as
:func:`~oe_opt.methods.row_generation.row_generation_slp`'s, plus ``bound_kw`` (the LP bound the
reported point was accepted against, kW; NaN when the loop ended without accepting one, e.g.
scaled back after failures), ``bound_state_kw`` (the total of the verified state that bound
was solved at: the reported point's own when accepted against its own state), ``rel_tol``,
``accept`` and ``n_tangents``.
"""

from __future__ import annotations

import numpy as np

from oe_opt.methods.evaluator import PowerFlowEvaluator, signed_kw
from oe_opt.methods.result import AT_CAP, FEASIBLE, INFEASIBLE, SearchResult
from oe_opt.methods.row_generation import (ActiveRows, RowGradients, grown_rows, initial_rows,
                                          start_point)
from oe_opt.methods.slp import Candidate, settle
from oe_opt.model.limits import LimitCheck, LimitRows, headroom, row_margin
from oe_opt.model.lp import EnvelopeLP
from oe_opt.model.sensitivity import Linearisation, SensitivityModel
from oe_opt.study import ALLOC_ACCEPT, EnvelopeSpec

#: the verified total may stop this share below the LP bound at its own state
REL_TOL = 2e-3
#: rows of the first LP besides the near-binding ones (first to bind towards the caps)
INIT_ROWS = 16
#: rows that join the LP after one LP round (the most violated in the local model), at least
#: ADD_ROWS; with many customers one per ADD_PER_VARIABLES customers, at most ADD_ROWS_MAX.
#: Measured (max_total, one process, 2026-12-02): one per 2 customers instead of one per 16
#: takes the LP solves of an export period from 9-13 to 6-9 (with ~530 rows in the LP instead
#: of ~400 at 2,000 customers); alloc 20-25 % faster on the 300- and
#: 2,000-customer feeders (syn300 12 periods 0.60 -> 0.46 s, syn2000 4 periods 0.94 -> 0.77 s,
#: totals within 2e-5 of each other); the cap keeps the MV-LV feeder's (2,110 flexible)
#: rounds to 256 new rows (its day 328-334 s in two runs, within its 600 s;
#: benchmarks/results/alloc_mvlv_day.md)
ADD_ROWS = 8
ADD_PER_VARIABLES = 2
ADD_ROWS_MAX = 256
#: rows near binding (share of their limit) at a power flow join the LP too
NEAR_FRAC = 1e-4
#: LP rounds on one linearisation (row generation and model shifts)
MAX_ROUNDS = 25
#: the rounds on one linearisation stop when the LP total changed by less than this share
#: and no row joined (the LP is degenerate: its vertex may swap without changing the total)
MOVE_REL = 5e-4
#: linearisations (at verified candidates) per period-direction
MAX_LINEARISATIONS = 6
#: candidates in a row the power flow rejects (each tightens the violated rows) before the
#: last one is scaled back to the best verified point
MAX_FAILS = 3
#: at a new linearisation, rows within this share of their limit get new gradients; the
#: others keep those of the last linearisation (inf: every row new)
REFRESH_FRAC = 2e-3
#: a row the model finds violated and this share of its limit off its line gets the model's
#: tangent instead (at most MAX_TANGENTS a round)
TANGENT_FRAC = 0.2
MAX_TANGENTS = 16
#: every row kept this share of its limit further away (the local model's error at a
#: candidate, measured at 2,000 customers: up to 2e-5)
MODEL_FRAC = 3e-5
#: row coefficients below this share of the row's largest are left out of the LP (0: none)
SPARSE_FRAC = 1e-2
#: rows within this share of their limit at the reported point seed the next period
KEEP_FRAC = 2e-3
#: how a verified candidate is accepted (``accept`` of :func:`solve_alloc_fast`): ``model``
#: against the LP bound of the state it was linearised from, ``own_state`` only against the
#: bound at its own state.  Measured (one process, 2026-12-02): on the synthetic feeders both
#: give the same totals to 0.01 kW (syn300 12 periods, syn2000 4 periods) and ``own_state``
#: costs 1.7x (syn300) to 3.1x (syn2000) the time (benchmarks/results/alloc_accept.md).  On the integrated MV-LV feeder (40 %
#: flexible) the slopes turn along the step and ``model`` can stop well below what the
#: successive LP reaches: period 30's export 6,085 kW with ``model`` (4 linearisations),
#: 6,266 kW with ``own_state`` (still rising at its 6th, MAX_LINEARISATIONS), and with
#: ADD_ROWS_MAX = 512 4,711 kW (``model``, 2 linearisations) against 6,274 kW (``own_state``)
#: ``auto``: ``model``, except after a linearisation whose LP rounds gave a row the model's
#: tangent (a magnitude through its kink, e.g. a current reversing with the exports): then
#: ``own_state``.  The synthetic feeders never need a tangent (``auto`` is ``model`` there);
#: on the MV-LV feeder period 24's export 4,704 kW (``model``) -> 5,983 kW (``auto``, as
#: ``own_state``), at 6.6x that period's time
ACCEPT = ALLOC_ACCEPT
#: ``accept`` when the caller names none (the study's default, ``[envelope] alloc_accept``).  ``auto``: measured on the MV-LV feeder's day
#: (benchmarks/alloc_mvlv_day.py --budget-s 600, one run each, 2026-12-02) it finds 4.0 % more
#: export than ``model`` (272,484 against 262,022 kW over the day; 10 of 48 export periods
#: higher, by 0.6-1.5 MW; imports the same) in 501 s against ``model``'s 417 s
#: (alloc_mvlv_day_auto.md, alloc_mvlv_day_model.md); on the synthetic feeders it is ``model``
ACCEPT_DEFAULT = EnvelopeSpec.alloc_accept
#: start each period's LP with the rows kept from the same direction's previous period (the
#: ``memory`` of :func:`solve_alloc_fast`).  Measured on the MV-LV feeder
#: (benchmarks/alloc_mvlv_day.py --budget-s 600, the day in one run_day, the machine otherwise
#: quiet, 2026-12-02): with them 38 of 96 period-directions finished in 600 s, without them 44
#: (the kept rows, hundreds there, cost more gradients than the rounds they save), so off
CARRY_ROWS = False


def solve_alloc_fast(ev: PowerFlowEvaluator, direction: str, lp: EnvelopeLP,
                     sens: SensitivityModel, e: np.ndarray, all_rows: LimitRows,
                     caps_kw: np.ndarray, *,
                     margin_kw: float, tol_kw: float, rel_tol: float = REL_TOL,
                     start: np.ndarray | None = None, memory: dict | None = None,
                     max_linearisations: int = MAX_LINEARISATIONS,
                     accept: str | None = None) -> SearchResult:
    """``alloc`` max_total for one period and direction (see the module docstring).

    Parameters
    ----------
    ev : PowerFlowEvaluator
        Set to the period.
    direction : str
        ``export`` or ``import``.
    lp : EnvelopeLP
        One variable per flexible customer, room for every row, ``open_rows=True``.
    sens : SensitivityModel
        Analytic (``analytic_rows``).
    e : ndarray
        The (n_flex, n_flex) identity (kept by the caller: the sensitivity model keeps its
        sparse form for the last array it saw).
    all_rows : LimitRows
        Every limit row.
    caps_kw : ndarray
        Cap per customer (kW).
    margin_kw, tol_kw : float
        The LP's margin from every row (kW of the most sensitive customer,
        :func:`~oe_opt.model.limits.row_margin`) and the scale-back tolerance (kW).
    rel_tol : float
        Stopping tolerance: a verified total within this share of the LP bound at its own
        state is accepted (0.002 = 0.2 %).
    start : ndarray, optional
        A verified envelope to start from (kW per customer; e.g. the equal allocation's);
        default 0 kW.
    memory : dict, optional
        Kept by the caller from one period to the next: the rows near binding at the end of
        the last period in this direction join the first LP.
    accept : str, optional
        ``model``: a verified candidate within `rel_tol` of the LP bound at the state it was
        linearised from is accepted (the LP on the local model there found no more);
        ``own_state``: only against the LP bound at its own state (each verified candidate is
        linearised and the LP solved there once more); ``auto``: ``own_state`` after a
        linearisation whose rounds needed a tangent, else ``model``.  None:
        :data:`ACCEPT_DEFAULT`.  See :data:`ACCEPT`.

    Returns
    -------
    SearchResult
        Verified by a full power flow on every limit; ``oe_kw`` an array (kW).
    """
    if accept is None:
        accept = ACCEPT_DEFAULT
    if accept not in ACCEPT:
        raise ValueError(f"accept must be one of {', '.join(ACCEPT)}, got {accept!r}")
    # the fast cores' checks (as the equal core's), not every element's currents
    # (PDElements.AllCurrentsMagAng: ~3 ms a check at 2,000 customers)
    with ev.fast_checks():
        return _solve_alloc_fast(ev, direction, lp, sens, e, all_rows, caps_kw,
                                 margin_kw=margin_kw, tol_kw=tol_kw, rel_tol=rel_tol,
                                 start=start, memory=memory,
                                 max_linearisations=max_linearisations, accept=accept)


def _solve_alloc_fast(ev: PowerFlowEvaluator, direction: str, lp: EnvelopeLP,
                      sens: SensitivityModel, e: np.ndarray, all_rows: LimitRows,
                      caps_kw: np.ndarray, *, margin_kw: float, tol_kw: float, rel_tol: float,
                      start: np.ndarray | None, memory: dict | None,
                      max_linearisations: int, accept: str) -> SearchResult:
    """:func:`solve_alloc_fast` with its arguments checked and the evaluator's checks set."""
    n0 = ev.n_powerflows
    caps = np.asarray(caps_kw, dtype=float)
    nvar = len(caps)
    s = -1.0 if direction == "export" else 1.0
    history: list[Candidate] = []
    active = ActiveRows(all_rows)
    active.max_add = max(ADD_ROWS, min(nvar // ADD_PER_VARIABLES, ADD_ROWS_MAX))
    counts = {"n_generated": 0, "n_sensitivity": 0, "n_model": 0, "n_tangents": 0}
    bound_kw = np.nan
    bound_state_kw = np.nan          # the total of the verified state bound_kw was solved at

    def check(x: np.ndarray, step: str) -> LimitCheck:
        c = ev.check(signed_kw(direction, x))
        history.append(Candidate(x, c.ok, c.binding, c.margin_pct, step))
        return c

    def linearise(x: np.ndarray, reuse: RowGradients | None = None,
                  fresh: np.ndarray | None = None) -> tuple[Linearisation, RowGradients]:
        counts["n_sensitivity"] += 1
        lin = sens.analytic_rows(signed_kw(direction, x), e)
        return lin, RowGradients(lin, s, nvar, reuse, fresh)

    def result(x, status, binding, c, n_lp) -> SearchResult:
        extra = {"history": history, "sensitivity": "analytic", "n_rows": all_rows.n,
                 "n_active_rows": len(active.idx), "active_rows": active.idx.copy(),
                 "bound_kw": bound_kw, "bound_state_kw": bound_state_kw, "rel_tol": rel_tol,
                 "accept": accept, **counts}
        return SearchResult(x, status, binding, c, ev.n_powerflows - n0, n_lp, extra)

    x0, c0 = start_point(check, start, nvar, caps)
    if not c0.ok:
        return result(np.full(nvar, np.nan), INFEASIBLE, c0.binding, c0, 0)
    if np.all(caps <= 0):
        return result(x0, AT_CAP, "cap", c0, 0)

    lp.set_anchor(None)               # max_total alone (the vertex HiGHS finds)
    lin, dy = linearise(x0)
    tangents_at_lin = 0               # counts["n_tangents"] when `lin` was made
    active.add(initial_rows(active, lin, s * (caps - x0), INIT_ROWS))
    if CARRY_ROWS and memory is not None and direction in memory:
        active.add(memory[direction])
    best_x, best_c, best_y = x0, c0, lin.y
    x_lin = x0
    cand_x, cand_c = x0, c0           # the last candidate checked
    extra = np.zeros(0)               # tightening by measured violations (V or A per row)
    n_lp, fails, n_lin = 0, 0, 1
    model_bound = None
    accepted = False
    network_bound = True
    for _ in range(max_linearisations + MAX_FAILS):
        sol, n, worst = _rounds(lp, active, lin, dy, x_lin, caps, margin_kw, extra, s, counts)
        n_lp += n
        if sol is not None and fails == 0 and float(np.clip(sol.x, 0.0, caps).sum()) < float(
                best_x.sum()):
            # below the verified state it was linearised at: the kept shifts (taken far from
            # it) are too tight there; the rounds again, each shift the last gap only
            sol, n, worst = _rounds(lp, active, lin, dy, x_lin, caps, margin_kw, extra, s,
                                    counts, keep_shift=False)
            n_lp += n
        if sol is None:
            break
        x = np.clip(sol.x, 0.0, caps)
        network_bound = len(sol.binding_rows) > 0
        if fails == 0:
            # the LP bound at the verified state x_lin (where the LP could not satisfy the
            # model, its total is above what the model allows: the bound only higher): stop
            # when it promises too little more
            bound_kw, bound_state_kw = float(x.sum()), float(x_lin.sum())
            if float(best_x.sum()) >= (1.0 - rel_tol) * bound_kw or np.all(best_x >= caps - 1e-9):
                accepted = True
                break
            # the optimum of the LP on the local model there (None where the LP could not
            # satisfy the model): a verified candidate this close to it needs no new state
            # (accept "model", or "auto" where no row needed a tangent since `lin` was made)
            bent = counts["n_tangents"] > tangents_at_lin     # a row through its kink here
            model_bound = (bound_kw if worst >= -NEAR_FRAC and (
                accept == "model" or (accept == "auto" and not bent)) else None)
        if worst < -NEAR_FRAC:
            # the LP could not satisfy the model (a step too long for the series, or rows
            # whose clipped right-hand side leaves them violated): back along the step to
            # where the model holds
            x = _back_off(lin, active.all, x_lin, x, s, counts)
        if n_lin >= max_linearisations:
            break
        c = check(x, "lp")
        cand_x, cand_c = x, c
        if not c.converged:
            break
        y = sens.quantities()
        n_before = len(active.idx)
        active.add(active.near(y, NEAR_FRAC))      # measured: violated or near
        counts["n_generated"] += len(active.idx) - n_before
        extra = np.concatenate([extra, np.zeros(len(active.idx) - len(extra))])
        if c.ok:
            best_x, best_c, best_y, fails = x, c, y, 0
            if np.all(x >= caps - 1e-9):
                accepted = True
                break
            if model_bound is not None and float(x.sum()) >= (1.0 - rel_tol) * model_bound:
                bound_kw, accepted = model_bound, True     # bound_state_kw: its state's
                break
            # a verified state: linearise there (the next LP is the bound at it)
            # (new gradients for the rows near binding; the others keep theirs)
            rows = active.rows()
            near = rows.q[headroom(rows, y) / np.abs(rows.bound) < REFRESH_FRAC]
            lin, dy = linearise(x, dy if REFRESH_FRAC < np.inf else None, near)
            n_lin += 1
            tangents_at_lin = counts["n_tangents"]
            x_lin, extra[:] = x, 0.0
        else:
            # the model missed a violation: keep the linearisation, tighten the rows the
            # power flow finds violated by their violation (and the margin again)
            fails += 1
            if fails > MAX_FAILS:
                break
            rows = active.rows()
            over = np.maximum(-headroom(rows, y), 0.0)
            extra = extra + np.where(over > 0, over + np.abs(rows.bound) * NEAR_FRAC, 0.0)
    last_x, last_c = best_x, best_c
    if not accepted:
        network_bound = True
        bound_kw = bound_state_kw = np.nan
        if not cand_c.ok:
            lin_c, dy_c = linearise(cand_x) if cand_c.converged else (lin, dy)
            x_s, c_s = settle(check, linearise, active.rows(), best_x, best_c, cand_x, cand_c,
                              lin_c, dy_c, margin_kw, tol_kw)
            # scaled back towards the best verified point: kept only if it gives more
            if c_s.ok and float(x_s.sum()) > float(best_x.sum()):
                last_x, last_c, best_y = x_s, c_s, sens.quantities()
    if CARRY_ROWS and memory is not None and last_c.ok:
        rows = active.rows()
        rel = headroom(rows, best_y) / np.abs(rows.bound)
        memory[direction] = active.idx[rel < KEEP_FRAC]
    if np.all(last_x >= caps - 1e-9) or not network_bound:
        return result(last_x, AT_CAP, "cap", last_c, n_lp)
    return result(last_x, FEASIBLE, last_c.binding, last_c, n_lp)


def _sparse(a: np.ndarray) -> np.ndarray:
    """Row coefficients below :data:`SPARSE_FRAC` of the row's largest (in magnitude) set to 0."""
    if SPARSE_FRAC <= 0 or not a.size:
        return a
    return np.where(np.abs(a) >= SPARSE_FRAC * np.abs(a).max(axis=1, keepdims=True), a, 0.0)


def _rounds(lp: EnvelopeLP, active: ActiveRows, lin: Linearisation, dy: RowGradients,
            x_lin: np.ndarray, caps: np.ndarray, margin_kw: float, extra: np.ndarray,
            s: float, counts: dict, keep_shift: bool = True):
    """LP rounds on one linearisation: solve, predict every quantity with the local model at
    the solution, shift the rows in the LP by the model's gap there, add the rows most
    violated in the model (``active.max_add`` at most); until no row joins and the LP total
    changes by less than :data:`MOVE_REL`.

    The rows are the linearisation's, with the coefficients below :data:`SPARSE_FRAC` of each
    row's largest left out (:func:`_sparse`: the shift, from the model, accounts for what
    they leave out at the solution).  A row the model finds violated and more than
    :data:`TANGENT_FRAC` of its limit off its line (a magnitude through its kink, e.g. a
    line current reversing with the exports) is replaced by the model's tangent at the
    solution (its gradient at the predicted state, at most :data:`MAX_TANGENTS` rows a
    round).  Returns (the last optimal solution or None, LP solves, the smallest headroom of
    any row in the model at it, as a share of the row's limit: negative if the LP could not
    satisfy it)."""
    model = lin.model
    shift = np.zeros(0)
    total_prev = None
    sol_ok = None
    n = 0
    worst = -np.inf
    # the LP's rows as far as built: coefficients (sparsified; a tangent in place of its row),
    # linear usage at x = 0 and margin; the rows only grow (appended rows keep their places)
    a = np.zeros((0, len(x_lin)))
    a_buf = a                                  # `a` is its first rows (grown by doubling)
    use0 = margin = np.zeros(0)
    for _ in range(MAX_ROUNDS):
        rows = active.rows()
        shift = np.concatenate([shift, np.zeros(rows.n - len(shift))])
        ext = np.concatenate([extra, np.zeros(rows.n - len(extra))])
        if rows.n > len(a):
            new = slice(len(a), rows.n)
            a_new = _sparse(rows.sign[new, None] * dy[rows.q[new]])
            a_buf = grown_rows(a_buf, len(a), rows.n)
            a_buf[new] = a_new
            a = a_buf[:rows.n]
            use0 = np.concatenate([use0, rows.sign[new] * lin.y[rows.q[new]] - a_new @ x_lin])
            margin = np.concatenate([margin, row_margin(a_new, margin_kw)])
        room = (rows.bound - margin - ext - use0                          # for a x
                - MODEL_FRAC * np.abs(rows.bound))
        lp.update(a, np.maximum(room - shift, 0.0), caps)
        sol = lp.solve_max_total()
        n += sol.n_solves
        if not sol.ok:
            break
        sol_ok = sol
        x = np.clip(sol.x, 0.0, caps)
        counts["n_model"] += 1
        step = s * (x - x_lin)
        y = model.predict(step)
        use = rows.sign * y[rows.q]
        gap = use - (use0 + a @ x)
        # a row once found bending above its line keeps at least that shift (`keep_shift`:
        # the LP would otherwise swing between vertices from round to round)
        shift = np.where(shift > 0, np.maximum(shift, gap), gap) if keep_shift else gap
        bad = np.nonzero((use > rows.bound) & (gap > TANGENT_FRAC * np.abs(rows.bound)))[0]
        if len(bad):
            bad = bad[np.argsort(-gap[bad])][:MAX_TANGENTS]
            g = rows.sign[bad, None] * s * model.gradient(step, rows.q[bad])
            counts["n_tangents"] += len(bad)
            for k, gk in zip(bad, g):        # the tangent in place of the row from now on
                a[k] = _sparse(gk[None, :])[0]
                use0[k] = float(use[k] - gk @ x)
                margin[k] = row_margin(a[k:k + 1], margin_kw)[0]
            shift[bad] = 0.0
        rel = active.relative_headroom(y)
        worst = float(rel.min())
        n_before = len(active.idx)
        active.add(active.near(y, 0.0, rel=rel))
        counts["n_generated"] += len(active.idx) - n_before
        total = float(x.sum())
        if len(active.idx) == n_before and not len(bad) and total_prev is not None and (
                abs(total - total_prev) <= MOVE_REL * max(total, 1e-9)):
            break
        total_prev = total
    return sol_ok, n, worst


def _back_off(lin: Linearisation, rows: LimitRows, x_lin: np.ndarray, x: np.ndarray, s: float,
              counts: dict, halvings: int = 8) -> np.ndarray:
    """The point ``x_lin + t (x - x_lin)``, t = 1/2, 1/4, ..., where the local model first
    holds every row (within :data:`NEAR_FRAC`); the shortest tried if none does."""
    t = 1.0
    for _ in range(halvings):
        t *= 0.5
        xt = x_lin + t * (x - x_lin)
        counts["n_model"] += 1
        y = lin.model.predict(s * (xt - x_lin))
        if np.min(headroom(rows, y) / np.abs(rows.bound)) >= -NEAR_FRAC:
            break
    return xt
