"""The fast core of ``lp`` (equal allocation): one variable, its LP by the ratio test, then
quadratic steps on the limit rows until a verified 1 W bracket.

Per period and direction (:func:`solve_equal_fast`):

1. The 0-kW power flow, shared by both directions of the period
   (:meth:`PowerFlowEvaluator.check_zero`), with the analytic linearisation
   there (computed once per period from the kept node voltages).  A broken
   limit at 0 kW: ``infeasible``, as ``step``/``bisect`` report it.
2. The envelope LP's rows ``A x <= b`` at 0 kW (:func:`~oe_opt.model.limits.lp_rows`,
   the same rows as the successive LP), the equal-allocation LP of
   :class:`~oe_opt.model.lp.EnvelopeLP` solved by its ratio test
   (:func:`~oe_opt.model.ratio.ratio_solve`: what ``EnvelopeLP(...,
   equal_solver="ratio").solve_equal()`` computes, equal to HiGHS, tested).
3. Full power flows at the candidates.  Each power flow gives every limit
   row's exact headroom there (the state read through ``|M V|`` of the solved
   node voltages, :meth:`DssNetwork.read_state` ``currents="yprim"``).  Every row
   is then modelled by the quadratic through the verified point nearest the
   limit and the two other nearest power flows (with the 0-kW derivative while
   there are fewer), and the next candidate is the smallest root over the rows
   (the one-variable LP's ratio test on the quadratic rows), aimed a quarter of
   the bracket below the predicted limit, then just above the verified point.
4. It stops when a verified point and a violating one are at most
   ``bracket_kw`` (1 W) apart: the reported envelope is the verified point, the
   binding constraint the one violated just above, as ``bisect`` reports them.
   Steps that would not shrink the bracket are replaced by bisection, so it
   always ends (at worst like ``bisect``).

Every reported envelope is the verified end of a bracket whose other end
failed a full power flow: it is within ``bracket_kw`` of the exact envelope,
like ``bisect``'s own answer.
"""

from __future__ import annotations

import numpy as np

from typing import TYPE_CHECKING

from oe_opt.methods.any_use import choose_corners, merge_checks, worst_corner_rows
from oe_opt.methods.evaluator import PowerFlowEvaluator
from oe_opt.methods.result import AT_CAP, FEASIBLE, INFEASIBLE, SearchResult
from oe_opt.methods.screening import screened_limit
from oe_opt.methods.slp import MARGIN_KW, Candidate
from oe_opt.model.limits import LimitCheck, LimitRows, headroom, row_margin
from oe_opt.model.ratio import ratio_solve
from oe_opt.model.sensitivity import Linearisation, SensitivityModel

if TYPE_CHECKING:
    from oe_opt.methods.any_use import CornerChecker

#: width of the verified bracket (kW): 1 W, bisect's default tolerance
BRACKET_KW = 0.001
#: most power flows per period-direction before the result is the last verified point
MAX_POWERFLOWS = 60
#: a candidate aims this many brackets below the predicted limit ...
AIM = 0.5
#: ... unless the prediction is within this many brackets of a verified (violating) point: then
#: the candidate is one bracket above (below) it, which closes the bracket if it fails (holds)
CLOSE = 1.5
#: periods of a day that one analytic linearisation at 0 kW serves (see ``memory``)
SLOPE_REFRESH = 6
#: any use with ``reuse_corners`` and at least this many flexible customers: the first candidate
#: is checked (provisionally) at the corners the per-customer rows at 0 kW predict there, without
#: a linearisation of its own.  Measured (benchmarks/optimiser_speed.py --holds-for any_use):
#: at 1,000 flexible customers (syn2000) it saves 3 of 8 linearisations and bisect / lp goes
#: from 2.4 to 3.5 with the same envelopes; at 126-150 (hpk11_lv, syn300) the corners predicted
#: at 0 kW are poorer, more candidates fail their confirmation and lp is 15-75 % slower.
KEEP_CORNERS_MIN_FLEX = 500
#: predictions of the local power-flow model refining the first candidate (0: the plain LP).
#: Measured (benchmarks/optimiser_speed.py, one process): 2 steps save 25-40 % of the power
#: flows but cost more time than they save (each is a power series of order 4), so 0.
MODEL_STEPS = 0
#: screening solves (:func:`~oe_opt.methods.screening.screened_limit`) when the network has
#: inverter controls: True, False or None (whenever the network has them).  False: on the
#: InvControl LV network they saved ~0.2 full power flows per period-direction but cost more
#: time than those (benchmarks/results/optimiser_speed_invctl.md: lp 12 % slower with them)
SCREENING: bool | None = False
#: width of the screened bracket (:func:`~oe_opt.methods.screening.screened_limit`), in brackets
SCREEN_TOL = 2.0


def _row_roots(x_ok: float, h_ok: np.ndarray, pts: list[tuple[float, np.ndarray]],
               x0_slope: np.ndarray | None, g_ok: np.ndarray | None = None) -> np.ndarray:
    """Per row, the smallest u > 0 where the row's quadratic model crosses 0 at x_ok + u.

    With the derivative at x_ok (`g_ok`, from a linearisation at its power flow), the
    model has that value and slope at x_ok and goes through the other point of `pts`
    nearest x_ok (a straight line without one).  Otherwise it goes through (x_ok, h_ok)
    and the two other points of `pts` nearest x_ok; with only one other point, the
    derivative at 0 (`x0_slope`, when one of the points is 0) is the third condition.
    inf where the model does not cross.
    """
    others = sorted((p for p in pts if p[0] != x_ok), key=lambda p: abs(p[0] - x_ok))[:2]
    c0 = h_ok
    if g_ok is not None:
        c1 = g_ok
        if others:
            x1, h1 = others[0]
            u1 = x1 - x_ok
            c2 = (h1 - c0 - c1 * u1) / u1 ** 2
        else:
            c2 = np.zeros_like(c0)
    elif len(others) >= 2:
        (x1, h1), (x2, h2) = others
        u1, u2 = x1 - x_ok, x2 - x_ok
        d1, d2 = (h1 - c0) / u1, (h2 - c0) / u2          # = c1 + c2 u
        c2 = (d1 - d2) / (u1 - u2)
        c1 = d1 - c2 * u1
    elif len(others) == 1 and x0_slope is not None:
        x1, h1 = others[0]
        if x_ok == 0.0:
            c1 = x0_slope
            c2 = (h1 - c0 - c1 * x1) / x1 ** 2
        else:  # points 0 (= x1) and x_ok: h = h0 + s x + c x^2, re-expressed around x_ok
            c = (c0 - h1 - x0_slope * x_ok) / x_ok ** 2
            c1, c2 = x0_slope + 2 * c * x_ok, c
    elif x0_slope is not None and x_ok == 0.0:
        c1, c2 = x0_slope, np.zeros_like(c0)
    else:
        return np.full(len(c0), np.inf)
    return _smallest_root_quiet(c0, c1, c2)


def _smallest_root(c0: np.ndarray, c1: np.ndarray, c2: np.ndarray) -> np.ndarray:
    """Per row, the smallest u > 0 with ``c0 + c1 u + c2 u^2 = 0`` (inf if none; ``c0 >= 0``).

    The numerically stable pair of roots ``q / c2`` and ``c0 / q`` with
    ``q = -(c1 + sign(c1) sqrt(disc)) / 2``; for ``c2 = 0`` the second is the
    linear root ``-c0 / c1`` and the first is infinite.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        return _smallest_root_quiet(c0, c1, c2)


def _smallest_root_quiet(c0: np.ndarray, c1: np.ndarray, c2: np.ndarray) -> np.ndarray:
    """:func:`_smallest_root` under the caller's ``np.errstate(divide=, invalid="ignore")``."""
    sq = np.sqrt(c1 * c1 - 4.0 * c2 * c0)                # nan: no real root
    q = -0.5 * (c1 + np.copysign(sq, c1))
    r1 = q / c2
    r2 = c0 / q
    r1[~(r1 > 0)] = np.inf
    r2[~(r2 > 0)] = np.inf
    return np.minimum(r1, r2)


def solve_equal_fast(ev: PowerFlowEvaluator, direction: str, sens: SensitivityModel,
                     rows: LimitRows, cap_kw: float, *,
                     margin_kw: float = MARGIN_KW, bracket_kw: float = BRACKET_KW,
                     max_powerflows: int = MAX_POWERFLOWS, model_steps: int = MODEL_STEPS,
                     slope_steps: bool = False, memory: dict | None = None,
                     slope_refresh: int = SLOPE_REFRESH,
                     checker: "CornerChecker | None" = None,
                     screening: bool | None = None,
                     reuse_corners: bool = False) -> SearchResult:
    """The equal-allocation envelope of one period and direction (see the module notes).

    Parameters
    ----------
    ev : PowerFlowEvaluator
        Set to the period.
    direction : str
        ``export`` or ``import``.
    sens : SensitivityModel
        With analytic sensitivities, for the evaluator's flexible customers.
    rows : LimitRows
        The limit rows on ``sens.layout``.
    cap_kw : float
        Envelope cap (kW).
    margin_kw : float
        Margin of the LP rows at 0 kW (as the successive LP's).
    bracket_kw : float
        Width of the verified bracket (kW).
    max_powerflows : int
        Power flows after which the last verified point is reported.
    model_steps : int
        Refine the first candidate on the local power-flow model around 0 kW
        (predictions of :class:`~oe_opt.model.sensitivity.LocalModel`, no power flow).
    slope_steps : bool
        Linearise at every verified candidate (analytic, no power flow) for the
        next step instead of fitting the rows through the earlier power flows.
    memory : dict, optional
        Kept by the caller from one period of a day to the next (one dict per day
        and evaluator): the rows' curvature found in each direction, which makes the
        first candidate of the next period the root of quadratic rather than linear
        rows, and the sensitivities at 0 kW, recomputed every `slope_refresh` periods
        (in between, the kept ones start the search).  Only where the search starts
        depends on it, not what is verified.
    slope_refresh : int
        Periods one linearisation at 0 kW serves (1: every period its own).
    checker : CornerChecker, optional
        ``holds_for = "any_use"``: every candidate is checked by
        :meth:`~oe_opt.methods.any_use.CornerChecker.check` (all-at-OE and the
        worst corners chosen there, as ``bisect`` checks it); the first
        candidate comes from the any-use rows at 0 kW (the positive part of the
        per-customer rows, :func:`~oe_opt.methods.any_use.worst_corner_rows`),
        and the rows' headroom at a candidate is the smallest over the points
        checked there.  None: ``full_use`` (all-at-OE only).
    reuse_corners : bool
        With a `checker`: a candidate that passes where it cannot end the search (not at
        the cap, not closing the bracket) is checked at the corners the rule chose at the
        last candidate it linearised (the first candidate, from :data:`KEEP_CORNERS_MIN_FLEX`
        flexible customers: at the corners the per-customer rows at 0 kW predict there),
        without a per-customer linearisation of its own; the reported envelope is always
        checked at the rule's own corners (its power flow is solved again when it was not).
        For networks where that linearisation costs many power flows (one solve per flexible
        customer); on small ones it costs more power flows than it saves.
    screening : bool, optional
        Aim each full power flow after the first at the limit located by screening solves
        (:func:`~oe_opt.methods.screening.screened_limit`: the controls held where the last
        full power flow left them), on networks with inverter controls
        (``net.has_controls``).  None: :data:`SCREENING`.  Screens never accept a
        candidate: the verified bracket is of full power flows.

    Returns
    -------
    SearchResult
        ``extra``: ``history`` (every candidate, :class:`~oe_opt.methods.slp.Candidate`),
        ``n_sensitivity`` (analytic linearisations computed in this call: 1 for the
        first direction of a period, 0 for the second), ``n_screens`` (screening solves),
        ``n_model`` 0, ``sensitivity`` ``analytic`` and ``core`` ``equal_fast``; with a `checker`
        also ``holds_for``, ``n_corner_checks`` and ``n_corners`` (as ``bisect``'s),
        and ``check`` the worst of every point checked at the envelope with the 0-kW one.
    """
    n0, s0 = ev.n_powerflows, ev.n_screens
    if screening is None:
        screening = SCREENING
    # (screens aim the all-at-OE check; with any-use corners every candidate is a full check)
    screening = (screening is not False and checker is None
                 and bool(getattr(ev.net, "has_controls", False)))
    history: list[Candidate] = []
    n_lin = n_model = 0
    nf = len(ev.case.flex_idx)
    # with any-use corners a candidate costs up to 1 + max_corners power flows
    pf_limit = max_powerflows * (1 + (checker.max_corners if checker is not None else 0))
    nc0 = checker.n_corner_checks if checker is not None else 0
    corners_at: dict[float, int] = {}
    # any use: per-customer sensitivities at 0 kW (the worst corner of every row); full use:
    # the sum over the customers (everyone moves together)
    e0 = np.eye(nf) if checker is not None else np.ones((nf, 1))
    checks = ev.fast_checks()
    checks.__enter__()
    errstate = np.errstate(divide="ignore", invalid="ignore")   # the roots' inf and nan
    errstate.__enter__()
    try:
        c0, v0 = ev.check_zero(sens=sens)
        history.append(Candidate(np.zeros(1), c0.ok, c0.binding, c0.margin_pct, "zero"))

        def result(oe, status, binding, c, n_lp):
            extra = {"n_sensitivity": n_lin, "n_model": n_model, "history": history,
                     "n_screens": ev.n_screens - s0,
                     "sensitivity": "analytic", "core": "equal_fast"}
            if checker is not None:
                extra.update(holds_for="any_use", n_corner_checks=checker.n_corner_checks - nc0,
                             n_corners=corners_at.get(float(np.nan_to_num(oe, nan=0.0)), 0))
                if status != INFEASIBLE and c is not c0:
                    c = merge_checks([c0, c])
            return SearchResult(oe, status, binding, c, ev.n_powerflows - n0, n_lp, extra)

        if not c0.ok:
            return result(np.nan, INFEASIBLE, c0.binding, c0, 0)
        if cap_kw <= 0:
            return result(0.0, AT_CAP, "cap", c0, 0)
        key = ("equal_fast_lin0", id(sens), e0.shape[1])
        lin0 = ev.period_cache.get(key)
        if lin0 is None:
            kept = None if memory is None else memory.get("dy_dp")
            if kept is not None and memory["age"] < slope_refresh:
                # the sensitivities at 0 kW of a recent period of the day (they change little
                # from one period to the next; only where the search starts depends on them)
                lin0 = Linearisation(sens.quantities(v0), kept, np.zeros(nf), "analytic")
                memory["age"] += 1
            else:
                lin0 = sens.analytic(np.zeros(nf), e0, v=v0)
                n_lin = 1
                if memory is not None:
                    memory["dy_dp"], memory["age"] = lin0.dy_dp, 1
            ev.period_cache[key] = lin0
        s = -1.0 if direction == "export" else 1.0
        dy = s * lin0.dy_dp                                   # per kW of envelope
        a = rows.sign[:, None] * dy[rows.q]                   # the LP rows' coefficients
        a_cust0 = a                                           # any use: per customer at 0 kW
        if checker is not None:
            a = worst_corner_rows(a, np.ones((nf, 1)))      # the any-use rows: positive parts
        h0 = headroom(rows, lin0.y)
        slope0 = -a[:, 0]                                      # d headroom / d kW at 0
        curv = None if memory is None else memory.get(direction)
        n_lp = 0
        capped = False                                         # the linear LP: no row binds

        def linear_lp() -> tuple[float, bool]:
            # the envelope LP (equal allocation, one variable) by its ratio test: what
            # EnvelopeLP(1, ..., equal_solver="ratio").solve_equal() gives on these rows
            # (tested), without the model's bookkeeping (the rows of lp_rows, with margins);
            # (its envelope in [0, cap], whether no row binds: the cap is its answer)
            nonlocal n_lp
            n_lp += 1
            b = np.maximum(h0 - row_margin(a, margin_kw), 0.0)
            sol = ratio_solve(a[:, 0], b, 0.0, cap_kw)
            return (float(np.clip(sol.t, 0.0, cap_kw)) if sol.ok else cap_kw,
                    bool(sol.ok and not sol.binding.size))

        if curv is not None:
            # the rows' curvature seen at the previous period of the day (it changes slowly
            # from one period to the next): the LP's rows made quadratic, solved by the ratio
            # test (smallest crossing), aimed just below the predicted limit
            u = _smallest_root_quiet(h0, slope0, curv)   # the fit of h0, not the margined rows
            n_lp += 1
            xm = float(u.min()) if u.size else np.inf
            x = cap_kw if xm >= cap_kw else max(xm - AIM * bracket_kw, 0.0)
            if x <= 0.0:
                x, _ = linear_lp()
        else:
            x, capped = linear_lp()
            if capped:
                x = cap_kw
        if (curv is None and not capped and model_steps and lin0.model is not None
                and checker is None):
            # the LP on the local power-flow model around 0 kW (no power flow): quadratic
            # rows through the model's predictions, re-solved by the ratio test
            mpts: list[tuple[float, np.ndarray]] = [(0.0, h0)]
            xm = x
            for _ in range(model_steps):
                mpts.append((xm, headroom(rows, lin0.model.predict(np.array([s * xm])))))
                n_model += 1
                u = _row_roots(0.0, h0, mpts, slope0)
                n_lp += 1
                new = min(float(u.min()) if u.size else np.inf, cap_kw)
                if not np.isfinite(new) or abs(new - xm) <= 0.1 * bracket_kw:
                    xm = new if np.isfinite(new) else xm
                    break
                xm = new
            if xm < cap_kw:
                x = max(xm - 0.25 * bracket_kw, 0.5 * xm)      # aim just below the predicted limit
            else:
                x = cap_kw

        # any use with reuse_corners: the corners the rule chose at the last candidate it
        # linearised (or, for the first, predicted at 0 kW), and the passes checked at those
        # kept corners instead of their own
        # (provisional: the reported envelope is never one of them, see the confirmation below)
        kept_masks: list[np.ndarray] | None = None
        if (checker is not None and reuse_corners and x < cap_kw
                and nf >= KEEP_CORNERS_MIN_FLEX):
            # the first candidate's corners predicted from the per-customer rows at 0 kW (no
            # linearisation at the candidate: a provisional check, confirmed at the end)
            oe_x = np.full(nf, x)
            y_x = lin0.y + dy @ oe_x
            kept_masks = [m for m, _ in choose_corners(rows, y_x, a_cust0, oe_x,
                                                       checker.window_pct, checker.max_corners)]
        provisional: set[float] = set()

        def check(x: float, confirm: bool = True) -> tuple[LimitCheck, np.ndarray | None]:
            """The candidate's check and every row's headroom there (None: no convergence);
            any use: at the corners the rule chooses there, or (`confirm` False, once the rule
            has chosen corners in this search) at the kept ones."""
            nonlocal kept_masks
            if checker is None:
                c, _, y = ev.check_quantities(s * x, sens)      # signed_kw, as a float
                return c, (headroom(rows, y) if y is not None else None)
            masks = None if (confirm or kept_masks is None or not reuse_corners) else kept_masks
            pc = checker.check(ev, direction, np.full(nf, x), "any_use", linearise_failed=False,
                               masks=masks)
            corners_at[float(x)] = len(pc.corners)
            if masks is None:
                provisional.discard(float(x))
            else:
                provisional.add(float(x))
            if pc.lin is not None:
                kept_masks = [m for m, _, _, _ in pc.corners]
            if not pc.full.converged:
                return pc.check, None
            # all-at-OE's quantities (its linearisation's, or its state's), then every
            # converged corner's
            y = pc.lin.y if pc.lin is not None else pc.full_y
            h = headroom(rows, y)
            for _, _, q, _ in pc.corners:
                if q is not None:
                    h = np.minimum(h, headroom(rows, q))
            return pc.check, h

        pts: list[tuple[float, np.ndarray]] = [(0.0, h0)]
        slopes: dict[float, np.ndarray] = {}
        active: np.ndarray | None = None                         # rows the steps look at
        x_ok, h_ok, c_ok = 0.0, h0, c0
        conf = (x_ok, h_ok, c_ok)                                # the largest confirmed pass
        x_bad: float | None = None
        c_bad: LimitCheck | None = None
        last_gap = np.inf
        while True:
            # any use: the rule's own corners where this candidate may end the search (at the
            # cap, or where it closes the bracket), else the kept corners
            c, h = check(x, confirm=x >= cap_kw or (x_bad is not None
                                                    and x_bad - x <= CLOSE * bracket_kw))
            step = "lp" if len(history) == 1 else "model"
            history.append(Candidate(np.array([x]), c.ok, c.binding, c.margin_pct, step))
            if h is not None:
                pts.append((x, h))
            if c.ok:
                x_ok, h_ok, c_ok = x, h, c
                if x_ok not in provisional:
                    conf = (x_ok, h_ok, c_ok)
                if x >= cap_kw:
                    return result(float(cap_kw), AT_CAP, "cap", c, n_lp)
            else:
                x_bad, c_bad = x, c
            if x_bad is not None and x_bad - x_ok <= bracket_kw and x_ok in provisional:
                # the bracket closed on a pass checked at kept corners: the rule's own corners
                # there (its power flow again, its linearisation)
                c, h = check(x_ok, confirm=True)
                history.append(Candidate(np.array([x_ok]), c.ok, c.binding, c.margin_pct,
                                         "confirm"))
                if h is not None:
                    pts = [p for p in pts if p[0] != x_ok] + [(x_ok, h)]
                if c.ok:
                    x_ok, h_ok, c_ok = x_ok, h, c
                    conf = (x_ok, h_ok, c_ok)
                else:
                    x_bad, c_bad = x_ok, c
                    x_ok, h_ok, c_ok = conf
            hi = cap_kw if x_bad is None else x_bad
            if x_bad is not None and x_bad - x_ok <= bracket_kw:
                if memory is not None and x_ok > 0:
                    # the rows' curvature between 0 and the limit, for the next period
                    memory[direction] = (h_ok - h0 - slope0 * x_ok) / x_ok ** 2
                return result(float(x_ok), FEASIBLE, c_bad.binding, c_ok, n_lp)
            if ev.n_powerflows - n0 >= pf_limit:
                x_ok, h_ok, c_ok = conf
                return result(float(x_ok), FEASIBLE,
                              c_bad.binding if c_bad is not None else "cap", c_ok, n_lp)
            if c.ok and slope_steps and checker is None and x_ok not in slopes and x_ok > 0:
                # the exact slope of every row at this verified state (no power flow)
                lin = sens.analytic(np.full(nf, s * x_ok), np.ones((nf, 1)))
                n_lin += 1
                slopes[x_ok] = -(rows.sign * (s * lin.dy_dp[:, 0])[rows.q])
            # the one-variable LP on the quadratic rows: the smallest crossing over the rows
            # of the active set (rows that can bind near the limit; a row violated at any
            # power flow joins it; all rows while there is no bracket below 2 x the step)
            if h is not None and active is not None:
                viol = np.nonzero(h < 0)[0]
                if len(viol):
                    active = np.unique(np.concatenate((active, viol)))   # = np.union1d
            idx = slice(None) if active is None else active
            sub = [(px, ph[idx]) for px, ph in pts]
            u = _row_roots(x_ok, h_ok[idx], sub, slope0[idx],
                           None if x_ok not in slopes else slopes[x_ok][idx])
            n_lp += 1
            umin = float(u.min()) if u.size else np.inf
            if active is None and np.isfinite(umin):
                keep = np.nonzero(u <= 2.0 * umin + 10 * bracket_kw)[0]
                active = keep if len(keep) else None
            r = x_ok + umin
            close = r - x_ok <= CLOSE * bracket_kw or (x_bad is not None
                                                       and x_bad - r <= CLOSE * bracket_kw)
            if screening and not close:
                # the limit located by screens with the controls held where this full power
                # flow left them (cheap solves; only where the next full one aims)
                rs = screened_limit(ev, direction, x_ok, hi, r, SCREEN_TOL * bracket_kw, cap_kw)
                if rs is not None:
                    r = rs if rs < cap_kw else cap_kw + AIM * bracket_kw
            gap = hi - x_ok
            if r - x_ok <= CLOSE * bracket_kw:
                t = x_ok + 0.999 * bracket_kw                  # a failure closes the bracket
            elif x_bad is not None and x_bad - r <= CLOSE * bracket_kw:
                t = x_bad - 0.999 * bracket_kw                 # a success closes the bracket
            else:
                t = r - AIM * bracket_kw                       # just below the predicted limit
            if x_bad is None and t >= cap_kw:
                t = cap_kw
            # safeguard: inside the bracket, and bisection when the bracket stops shrinking
            if not (x_ok < t < hi) or (x_bad is not None and gap > 0.5 * last_gap
                                       and len(history) > 4):
                t = 0.5 * (x_ok + hi) if x_bad is not None else min(max(t, x_ok + bracket_kw),
                                                                     cap_kw)
                if not (x_ok < t <= hi):
                    t = 0.5 * (x_ok + hi)
            last_gap = gap
            x = float(t)
    finally:
        errstate.__exit__(None, None, None)
        checks.__exit__(None, None, None)
