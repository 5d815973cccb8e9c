"""Any-use envelopes: limits that hold for every use in [0, OE_i] by every flexible customer.

An envelope is a limit, not a set-point: each flexible customer may export
(import) anything between 0 and its OE, independently of the others.  With
``[envelope] holds_for = "any_use"`` (the default) every method guarantees
the limits on that whole box, not only at the point where every customer is
at its OE (``full_use``, the tutorial's definition).

Worst corners
-------------
To first order a limit row's usage ``u_k`` (V or A, signed so that more is
worse) changes by ``a_ki`` per kW of customer i's use.  Over the box
``0 <= y_i <= OE_i`` the linear usage is largest at the corner with
``y_i = OE_i`` where ``a_ki > 0`` and ``y_i = 0`` elsewhere, so the any-use
row is ``sum_i max(a_ki, 0) OE_i <= limit`` (the positive part of the row;
:func:`worst_corner_rows`).  On the unbalanced 4-wire Test LV Circuit some
``a_ki`` are negative (a customer on another phase lowers the usage through
the neutral), so the worst corner is a proper subset of the customers.

Which corners are checked with full power flows (:func:`choose_corners`)
------------------------------------------------------------------------
At a candidate, after the full power flow with every customer at its OE
(all-at-OE; the all-at-0 point is checked first by every method), the
per-customer sensitivities ``a_ki`` are computed at that state (analytic, no
power flow; finite differences where the analytic model does not apply).
For every limit row the worst corner is predicted, with its margin
``m_k = margin at all-at-OE - sum_i max(-a_ki, 0) OE_i`` (in % of the
limit).  The rows whose predicted worst-corner margin is within
:data:`WINDOW_PCT` of the smallest one are kept; their corners (the set of
customers with ``a_ki > 0`` and ``OE_i > 0``) are deduplicated, the
all-at-OE and all-at-0 points are dropped (already checked), and the
:data:`MAX_CORNERS` with the smallest predicted margins get one full power
flow each.  A candidate holds only if every one of these points holds; the
reported check is the worst of them (:func:`merge_checks`).

What stays unchecked: corners of rows further than :data:`WINDOW_PCT` from
the tightest, corners beyond :data:`MAX_CORNERS`, and interior points of the
box.  To first order the usage is linear in the uses, so its maximum over
the box is at the row's worst corner and interior points cannot be worse;
the rows far from the tightest would need a prediction error larger than the
window to break.  Second-order effects (constant-power currents growing as
voltages fall, the neutral shift) bend the usage; the bend is small for the
tutorial's 5-14 kW per customer but can move the true worst point off the
predicted corner (e.g. when ``a_ki`` is close to 0 the customer's sign can
flip along the box).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from oe_opt.errors import NetworkError
from oe_opt.methods.blas import one_blas_thread
from oe_opt.methods.evaluator import PowerFlowEvaluator, signed_kw
from oe_opt.methods.result import AT_CAP, FEASIBLE, INFEASIBLE, SearchResult
from oe_opt.methods.slp import ANCHOR_WEIGHT, Candidate, bisect_segment
from oe_opt.model.limits import LimitCheck, LimitRows, headroom, limit_rows
from oe_opt.model.sensitivity import Linearisation, SensitivityModel

#: rows whose predicted worst-corner margin is within this (% of the limit) of the tightest
WINDOW_PCT = 0.5
#: most corner power flows per candidate (besides all-at-OE and all-at-0)
MAX_CORNERS = 6
#: a customer is in a row's worst corner when its usage sensitivity is above this (per kW)
SIGN_EPS = 0.0


def merge_checks(checks: list[LimitCheck]) -> LimitCheck:
    """The worst of several checked points as one :class:`LimitCheck`.

    ``ok`` when every point holds; ``binding``, ``margin_pct`` and the
    voltages of the point with the smallest margin; the extremes (lowest and
    highest voltage, highest loadings) over all points.
    """
    if len(checks) == 1:
        return checks[0]
    worst = min(checks, key=lambda c: c.margin_pct)
    if not worst.converged:
        return worst
    return LimitCheck(
        ok=all(c.ok for c in checks), binding=worst.binding, margin_pct=worst.margin_pct,
        v_lowest_v=min(c.v_lowest_v for c in checks), v_highest_v=max(c.v_highest_v for c in checks),
        max_line_loading_pct=max(c.max_line_loading_pct for c in checks),
        transformer_loading_pct=max(c.transformer_loading_pct for c in checks),
        converged=True, voltage_v=worst.voltage_v)


def row_coefficients(rows: LimitRows, dy_kw: np.ndarray) -> np.ndarray:
    """Change of every limit row's usage (V or A, more = worse) per kW of each customer's
    envelope use (`dy_kw`: quantities per kW of envelope, shape (n_q, n_flex))."""
    return rows.sign[:, None] * dy_kw[rows.q]


def worst_corner_rows(a_cust: np.ndarray, e: np.ndarray) -> np.ndarray:
    """Any-use rows in envelope variables: the positive part of the per-customer rows.

    Parameters
    ----------
    a_cust : ndarray, shape (n_rows, n_flex)
        :func:`row_coefficients`.
    e : ndarray, shape (n_flex, n_var)
        Customers' envelopes per envelope variable (ones column: equal
        allocation; identity: per customer).

    Returns
    -------
    ndarray, shape (n_rows, n_var)
        ``max(a_ki, 0) @ e``: the usage change at each row's worst corner.
    """
    return np.clip(a_cust, 0.0, None) @ e


def predicted_corner_margin_pct(rows: LimitRows, y: np.ndarray, a_cust: np.ndarray,
                                oe_cust: np.ndarray) -> np.ndarray:
    """Linear prediction of each row's margin (% of its limit) at its worst corner, from the
    all-at-OE state with quantities `y` and per-customer rows `a_cust`."""
    room = headroom(rows, y) - np.clip(-a_cust, 0.0, None) @ oe_cust
    return 100.0 * room / np.abs(rows.bound)


def choose_corners(rows: LimitRows, y: np.ndarray, a_cust: np.ndarray, oe_cust: np.ndarray,
                   window_pct: float = WINDOW_PCT, max_corners: int = MAX_CORNERS
                   ) -> list[tuple[np.ndarray, float]]:
    """The worst corners to check at envelopes `oe_cust` (see the module docstring).

    Returns
    -------
    list of (mask, predicted margin %)
        Boolean masks over the flexible customers (True: at its OE, False: 0),
        tightest first, without the all-at-OE and all-at-0 points.
    """
    on = oe_cust > 0
    if on.sum() < 2:
        return []
    m = predicted_corner_margin_pct(rows, y, a_cust, oe_cust)
    order = np.argsort(m, kind="stable")
    if not len(order):
        return []
    cut = m[order[0]] + window_pct
    seen: set[bytes] = set()
    out = []
    for k in order:
        if m[k] > cut or len(out) >= max_corners:
            break
        mask = (a_cust[k] > SIGN_EPS) & on
        if not mask.any() or np.array_equal(mask, on):
            continue
        key = mask.tobytes()
        if key in seen:
            continue
        seen.add(key)
        out.append((mask, float(m[k])))
    return out


@dataclass
class PointsCheck:
    """The checks of one candidate: all-at-OE and the chosen corners.

    Attributes
    ----------
    check : LimitCheck
        :func:`merge_checks` of every point checked.
    full : LimitCheck
        The all-at-OE point.
    lin : Linearisation or None
        Per-customer linearisation at the all-at-OE state (None if its power
        flow did not converge); ``dy`` its sensitivities per kW of envelope.
    dy : ndarray or None
    corners : list of (mask, LimitCheck, quantities or None, NetworkState or None)
        Each checked corner (customers True at their OE, the others at 0).
    full_state : NetworkState or None
        The solved all-at-OE state.
    """

    check: LimitCheck
    full: LimitCheck
    lin: Linearisation | None
    dy: np.ndarray | None
    corners: list
    full_state: object = None
    #: the quantities (V, A) of the all-at-OE state (None if it did not converge)
    full_y: np.ndarray | None = None

    @property
    def ok(self) -> bool:
        return self.check.ok

    @property
    def failed_corner(self) -> np.ndarray | None:
        """Index in `corners` of the worst failed corner (None if no corner failed)."""
        bad = [(c.margin_pct, i) for i, (m, c, _, _) in enumerate(self.corners) if not c.ok]
        return min(bad, key=lambda t: t[0])[1] if bad else None


class CornerChecker:
    """Full power-flow checks of a candidate at all-at-OE and its worst corners.

    Parameters
    ----------
    sens : SensitivityModel
        Per-customer sensitivities (analytic if prepared, else finite
        differences, whose runs count as power flows).
    rows : LimitRows
        The limit rows on ``sens.layout``.
    window_pct, max_corners : float, int
        The corner rule (:func:`choose_corners`).
    """

    def __init__(self, sens: SensitivityModel, rows: LimitRows,
                 window_pct: float = WINDOW_PCT, max_corners: int = MAX_CORNERS):
        self.sens, self.rows = sens, rows
        self.window_pct, self.max_corners = window_pct, max_corners
        self.analytic = True
        self.n_corner_checks = 0
        self.n_linearisations = 0

    def linearise(self, ev: PowerFlowEvaluator, direction: str, oe_cust: np.ndarray,
                  v: np.ndarray | None = None) -> tuple[Linearisation, np.ndarray]:
        """(linearisation, quantities per kW of each customer's envelope) at the last solved
        state, which must be `oe_cust` (kW) in `direction` (`v`: its node voltages, if read)."""
        s = -1.0 if direction == "export" else 1.0
        p = signed_kw(direction, oe_cust)
        n = len(oe_cust)
        self.n_linearisations += 1
        if self.analytic:
            try:
                with one_blas_thread():
                    lin = self.sens.analytic(p, np.eye(n), v=v)
                return lin, s * lin.dy_dp
            except NetworkError:
                self.analytic = False
        lin = self.sens.finite_difference(ev.solve, p, s * np.eye(n), 0.01,
                                          y0=self.sens.quantities())
        return lin, lin.dy_dp

    def check(self, ev: PowerFlowEvaluator, direction: str, oe_cust: np.ndarray,
              holds_for: str = "any_use", linearise_failed: bool = True,
              masks: list[np.ndarray] | None = None) -> PointsCheck:
        """Check envelopes `oe_cust` (kW per flexible customer): all-at-OE, and for
        ``any_use`` (when all-at-OE holds) the worst corners chosen at that state.

        With `linearise_failed` the per-customer linearisation is made at a
        violating all-at-OE state too (the successive LP re-linearises there).
        With `masks` (corners chosen at another point, e.g. a nearby candidate's) those
        corners are checked instead, without a linearisation (``lin`` None): a
        *provisional* check, which rejects a candidate when a corner breaks a limit
        (a real violation) but does not show the rule's corners at this state hold.
        """
        oe = np.asarray(oe_cust, dtype=float)
        if holds_for == "full_use":
            full = ev.check_direction(direction, oe)
            return PointsCheck(full, full, None, None, [], ev.last_state)
        # the check and the quantities from one read of the solved state
        full, v, y = ev.check_quantities(signed_kw(direction, oe), self.sens)
        state = ev.last_state
        if not full.converged or (not full.ok and (masks is not None or not linearise_failed)):
            return PointsCheck(full, full, None, None, [], state, y)
        if masks is not None:
            lin = dy = None
            chosen = [m & (oe > 0) for m in masks]
            chosen = [m for m in chosen if m.any() and not np.array_equal(m, oe > 0)]
        else:
            lin, dy = self.linearise(ev, direction, oe, v)
            if not full.ok:
                return PointsCheck(full, full, lin, dy, [], state, y)
            a = row_coefficients(self.rows, dy)
            chosen = [mask for mask, _ in choose_corners(self.rows, y, a, oe, self.window_pct,
                                                         self.max_corners)]
        found = []
        for mask in chosen:
            c, _, q = ev.check_quantities(signed_kw(direction, np.where(mask, oe, 0.0)),
                                          self.sens)
            self.n_corner_checks += 1
            found.append((mask, c, q, ev.last_state if c.converged else None))
        merged = merge_checks([full] + [c for _, c, _, _ in found])
        return PointsCheck(merged, full, lin, dy, found, state, y)


def checker_for(net, case, limits) -> CornerChecker:
    """A :class:`CornerChecker` on the (cached) sensitivity model of `net` for the case's
    flexible customers (analytic where it applies, else finite differences)."""
    from oe_opt.methods.cache import sensitivity_model

    try:
        sens = sensitivity_model(net, case.flex_idx, analytic=True)
    except NetworkError:
        sens = sensitivity_model(net, case.flex_idx, analytic=False)
    return CornerChecker(sens, limit_rows(sens.layout, limits))


class EqualChecks:
    """``check(oe_kw) -> LimitCheck`` for the equal-allocation searches (step, bisect):
    every flexible customer at `oe_kw`, plus the worst corners for ``any_use``.

    Counts the corner power flows (``n_corner_checks``) and keeps the 0-kW check, so that
    :meth:`finish` reports the worst of every point checked at the reported envelope.
    """

    def __init__(self, checker: CornerChecker | None, ev: PowerFlowEvaluator, direction: str,
                 holds_for: str):
        self.checker, self.ev, self.direction, self.holds_for = checker, ev, direction, holds_for
        self.n0 = checker.n_corner_checks if checker is not None else 0
        self.pf0 = ev.n_powerflows
        self.zero: LimitCheck | None = None
        self.corners_at: dict[float, int] = {}

    def __call__(self, oe_kw: float) -> LimitCheck:
        if self.checker is None or self.holds_for == "full_use":
            return self.ev.check_direction(self.direction, oe_kw)
        pc = self.checker.check(self.ev, self.direction, np.full(self.ev.n_flex, float(oe_kw)),
                                self.holds_for, linearise_failed=False)
        if oe_kw == 0.0:
            self.zero = pc.check
        self.corners_at[float(oe_kw)] = len(pc.corners)
        return pc.check

    def finish(self, res):
        """Record the corner counts in ``res.extra`` and merge the 0-kW check into ``res.check``."""
        if self.checker is None or self.holds_for == "full_use":
            return res
        res.extra["holds_for"] = self.holds_for
        res.extra["n_corner_checks"] = self.checker.n_corner_checks - self.n0
        res.n_powerflows = self.ev.n_powerflows - self.pf0     # with the corners' power flows
        oe = float(np.nan_to_num(res.oe_kw, nan=0.0))
        res.extra["n_corners"] = self.corners_at.get(oe, 0)
        if res.status != "infeasible" and self.zero is not None and res.check is not self.zero:
            res.check = merge_checks([self.zero, res.check])
        return res


# ------------------------------------------------------------------ the successive LP
def any_use_slp(ev: PowerFlowEvaluator, direction: str, lp, checker: CornerChecker,
                e: np.ndarray, caps_kw: np.ndarray, objective, improves, *,
                componentwise: bool = True, tol_kw: float = 1e-4, margin_kw: float = 5e-4,
                max_iter: int = 12, creep_kw: float = 1e-4,
                start: np.ndarray | None = None) -> SearchResult:
    """Successive LP on the worst-corner rows, verified at all-at-OE and the worst corners.

    Per period and direction:

    1. all-at-0 power flow (infeasible period if it breaks a limit);
    2. per-customer linearisation at the last candidate's all-at-OE state and
       the LP on the any-use rows (:func:`worst_corner_rows`: the positive
       part of each row, its constant term the usage at the linearisation
       point plus the row's total change back to it, ``b = headroom + a e x0``),
       each row tightened by ``margin_kw`` times its largest coefficient and by
       the *corner bias* below;
    3. full power flows at the LP candidate (all-at-OE) and its chosen
       corners (:meth:`CornerChecker.check`).  The corner bias of a row is
       the largest amount by which a checked point's power flow exceeds the
       row's linear worst-corner prediction (what the linearisation at
       all-at-OE misses about the corners: the neutral shift, constant-power
       currents); it replaces the previous bias at every candidate, so the
       loop is a Newton iteration on the checked corners' real usage;
    4. a verified candidate is accepted when the LP re-solved there cannot
       improve it by more than `tol_kw` (or by more than `creep_kw` per
       variable over the previous verified one), or when it is at the caps;
       if no candidate is accepted after `max_iter` LPs, bisection on the
       segment from the last verified candidate to the last one (full power
       flows at every checked point).

    `start`: begin at these verified envelope variables instead of 0 kW (as
    :func:`~oe_opt.methods.slp.verify_and_tighten`).

    Returns
    -------
    SearchResult
        ``check`` the worst of every point checked at the envelope (with the
        0-kW point); ``extra``: ``holds_for``, ``n_corner_checks`` (corner
        power flows of this period-direction), ``n_corners`` (corners checked
        at the reported envelope), ``n_sensitivity``, ``history``.
    """
    from oe_opt.model.limits import row_margin

    rows = checker.rows
    n0, nc0, ns0 = ev.n_powerflows, checker.n_corner_checks, checker.n_linearisations
    caps = np.asarray(caps_kw, dtype=float)
    nvar = len(caps)
    creep = creep_kw if componentwise else creep_kw * nvar
    history: list = []
    checks: dict[bytes, PointsCheck] = {}

    def check(x: np.ndarray, step: str) -> PointsCheck:
        pc = checker.check(ev, direction, e @ x, "any_use")
        history.append(Candidate(x, pc.ok, pc.check.binding, pc.check.margin_pct, step))
        checks[np.asarray(x, dtype=float).tobytes()] = pc
        return pc

    def result(x, status, binding, c, n_lp) -> SearchResult:
        oe = float(x[0]) if nvar == 1 else x
        pc = checks.get(np.asarray(x, dtype=float).tobytes())
        extra = {"holds_for": "any_use", "n_corner_checks": checker.n_corner_checks - nc0,
                 "n_corners": len(pc.corners) if pc is not None else 0,
                 "n_sensitivity": checker.n_linearisations - ns0, "history": history,
                 "sensitivity": "analytic" if checker.analytic else "fd"}
        if status != INFEASIBLE and c is not c0:
            c = merge_checks([c0, c])
        return SearchResult(oe, status, binding, c, ev.n_powerflows - n0, n_lp, extra)

    x0 = np.zeros(nvar) if start is None else np.asarray(start, dtype=float)
    p0 = check(x0, "zero" if start is None else "start")
    c0 = p0.check
    if not c0.ok:
        return result(np.full(nvar, np.nan), INFEASIBLE, c0.binding, c0, 0)
    if np.all(caps <= 0):
        return result(x0, AT_CAP, "cap", c0, 0)

    lin, dy = p0.lin, p0.dy
    bias = np.zeros(rows.n)
    best_x, best = x0, p0
    last_x, last = x0, p0
    n_lp, fails = 0, 0
    radius: float | None = None
    network_bound, accepted = True, False
    for _ in range(max_iter):
        a_cust = row_coefficients(rows, dy)
        a = worst_corner_rows(a_cust, e)
        b = headroom(rows, lin.y) + (a_cust @ e) @ last_x - row_margin(a, margin_kw) - bias
        box = (None, None) if radius is None else (last_x - radius, last_x + radius)
        lp.set_anchor(last_x, ANCHOR_WEIGHT)
        lp.update(a, np.maximum(b, 0.0), caps, *box)
        sol = objective(lp)
        n_lp += sol.n_solves
        if not sol.ok and box[0] is not None:
            lp.set_box(None, None)
            sol = objective(lp)
            n_lp += sol.n_solves
        if not sol.ok:
            break
        x = np.clip(sol.x, 0.0, caps)
        network_bound = len(sol.binding_rows) > 0
        if last.ok and not improves(x, last_x, tol_kw):
            accepted = True
            break
        pc = check(x, "lp")
        if not pc.full.converged:
            last_x, last = x, pc
            break
        lin, dy = pc.lin, pc.dy
        bias = _corner_bias(rows, lin.y, row_coefficients(rows, dy), e @ x, pc)
        if pc.ok:
            creeping = best is not p0 and not improves(x, best_x, creep)
            best_x, best, fails = x, pc, 0
            if creeping or np.all(x >= caps - 1e-12):
                last_x, last, accepted = x, pc, True
                break
        else:
            fails += 1
            if fails >= 3:
                step = 0.25 * float(np.max(np.abs(x - last_x)))
                radius = step if radius is None else min(radius, step)
        last_x, last = x, pc
    lp.set_anchor(None)
    if not accepted:
        network_bound = True
        if not last.ok:
            last_x, last = bisect_segment(check, best_x, best, last_x, tol_kw)
    c = last.check
    if np.all(last_x >= caps - 1e-9) or not network_bound:
        return result(last_x, AT_CAP, "cap", c, n_lp)
    return result(last_x, FEASIBLE, c.binding, c, n_lp)


def _corner_bias(rows: LimitRows, y: np.ndarray, a_cust: np.ndarray, oe_cust: np.ndarray,
                 pc: PointsCheck) -> np.ndarray:
    """Per row, the checked power flows' usage minus the linear worst-corner usage predicted
    at the all-at-OE state (V or A).

    A row whose predicted worst corner was checked gets that corner's error (either sign:
    the LP then stands on the power flow there, as the searches do); every row also gets at
    least the largest excess of any checked point over its prediction.
    """
    predicted = rows.sign * y[rows.q] + np.clip(-a_cust, 0.0, None) @ oe_cust  # worst-corner usage
    bias = np.zeros(rows.n)
    if not pc.corners:
        return bias
    on = oe_cust > 0
    worst = (a_cust > SIGN_EPS) & on[None, :]
    keys = {m.tobytes(): i for i, (m, _, q, _) in enumerate(pc.corners) if q is not None}
    for i, (_, c, q, _) in enumerate(pc.corners):
        if q is not None:
            bias = np.maximum(bias, rows.sign * q[rows.q] - predicted)
    for k in range(rows.n):
        i = keys.get(worst[k].tobytes())
        if i is not None:
            q = pc.corners[i][2]
            bias[k] = rows.sign[k] * q[rows.q[k]] - predicted[k]
    return bias
