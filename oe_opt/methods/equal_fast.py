"""The fast core of ``lp`` (equal allocation): one variable, its LP by the ratio test, then
quadratic steps on the limit rows until a verified 1 W bracket.

Per period and direction (:func:`solve_equal_fast`):

1. The 0-kW power flow, shared by both directions of the period
   (:meth:`PowerFlowEvaluator.check_zero`), with the analytic linearisation
   there (computed once per period from the kept node voltages).  A broken
   limit at 0 kW: ``infeasible``, as ``step``/``bisect`` report it.
2. The envelope LP's rows ``A x <= b`` at 0 kW (:func:`~oe_opt.model.limits.lp_rows`,
   the same rows as the successive LP) solved by :class:`~oe_opt.model.lp.EnvelopeLP`
   with ``equal_solver="ratio"`` (one variable: the ratio test, equal to HiGHS, tested).
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

from oe_opt.methods.evaluator import PowerFlowEvaluator
from oe_opt.methods.result import AT_CAP, FEASIBLE, INFEASIBLE, SearchResult
from oe_opt.methods.slp import MARGIN_KW, Candidate
from oe_opt.model.limits import LimitCheck, LimitRows, headroom, lp_rows
from oe_opt.model.lp import EnvelopeLP
from oe_opt.model.sensitivity import SensitivityModel

#: width of the verified bracket (kW): 1 W, bisect's default tolerance
BRACKET_KW = 0.001
#: most power flows per period-direction before the result is the last verified point
MAX_POWERFLOWS = 60


def _row_roots(x_ok: float, h_ok: np.ndarray, pts: list[tuple[float, np.ndarray]],
               x0_slope: np.ndarray | None) -> np.ndarray:
    """Per row, the smallest u > 0 where the row's quadratic model crosses 0 at x_ok + u.

    The model goes through (x_ok, h_ok) and the two other points of `pts` nearest
    x_ok; with only one other point, the derivative at 0 (`x0_slope`, when one of the
    points is 0) is the third condition.  inf where the model does not cross.
    """
    others = sorted((p for p in pts if p[0] != x_ok), key=lambda p: abs(p[0] - x_ok))[:2]
    c0 = h_ok
    if len(others) >= 2:
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
    with np.errstate(divide="ignore", invalid="ignore"):
        disc = c1 * c1 - 4.0 * c2 * c0
        sq = np.sqrt(np.where(disc >= 0, disc, np.nan))
        q = -0.5 * (c1 + np.where(c1 >= 0, sq, -sq))
        r1 = np.where(c2 != 0, q / c2, np.inf)
        r2 = np.where(q != 0, c0 / q, np.inf)
        lin = np.where(c1 < 0, -c0 / c1, np.inf)
        r1 = np.where(r1 > 0, r1, np.inf)
        r2 = np.where(r2 > 0, r2, np.inf)
        u = np.where(np.abs(c2) * 1e12 < np.abs(c1), lin, np.minimum(r1, r2))
    return np.where(np.isfinite(u) & (u > 0), u, np.inf)


def solve_equal_fast(ev: PowerFlowEvaluator, direction: str, sens: SensitivityModel,
                     rows: LimitRows, lp: EnvelopeLP, cap_kw: float, *,
                     margin_kw: float = MARGIN_KW, bracket_kw: float = BRACKET_KW,
                     max_powerflows: int = MAX_POWERFLOWS) -> SearchResult:
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
    lp : EnvelopeLP
        One variable, ``equal_solver="ratio"``, room for ``rows.n`` rows.
    cap_kw : float
        Envelope cap (kW).

    Returns
    -------
    SearchResult
        ``extra``: ``history`` (every candidate, :class:`~oe_opt.methods.slp.Candidate`),
        ``n_sensitivity`` (analytic linearisations computed in this call: 1 for the
        first direction of a period, 0 for the second), ``n_model`` 0,
        ``sensitivity`` ``analytic`` and ``core`` ``equal_fast``.
    """
    n0 = ev.n_powerflows
    history: list[Candidate] = []
    n_lin = 0
    reader = ev.state_reader
    ev.state_reader = "yprim"
    try:
        c0, v0 = ev.check_zero(sens.node_voltages)
        history.append(Candidate(np.zeros(1), c0.ok, c0.binding, c0.margin_pct, "zero"))

        def result(oe, status, binding, c, n_lp):
            extra = {"n_sensitivity": n_lin, "n_model": 0, "history": history,
                     "sensitivity": "analytic", "core": "equal_fast"}
            return SearchResult(oe, status, binding, c, ev.n_powerflows - n0, n_lp, extra)

        if not c0.ok:
            return result(np.nan, INFEASIBLE, c0.binding, c0, 0)
        if cap_kw <= 0:
            return result(0.0, AT_CAP, "cap", c0, 0)
        key = ("equal_fast_lin0", id(sens))
        lin0 = ev.period_cache.get(key)
        if lin0 is None:
            e = np.ones((len(ev.case.flex_idx), 1))
            lin0 = sens.analytic(np.zeros(len(ev.case.flex_idx)), e, v=v0)
            ev.period_cache[key] = lin0
            n_lin = 1
        s = -1.0 if direction == "export" else 1.0
        dy = s * lin0.dy_dp                                   # per kW of envelope
        a, b = lp_rows(rows, lin0, dy, np.zeros(1), margin_kw)
        lp.update(a, b, np.array([cap_kw]))
        sol = lp.solve_equal()
        n_lp = 1
        h0 = headroom(rows, lin0.y)
        slope0 = -a[:, 0]                                      # d headroom / d kW at 0
        x = float(np.clip(sol.x[0], 0.0, cap_kw)) if sol.ok else cap_kw
        if not sol.binding_rows.size and sol.ok:
            x = cap_kw                                         # no row binds: the cap is the LP's answer
        pts: list[tuple[float, np.ndarray]] = [(0.0, h0)]
        x_ok, h_ok, c_ok = 0.0, h0, c0
        x_bad: float | None = None
        c_bad: LimitCheck | None = None
        last_gap = np.inf
        while True:
            c = ev.check_direction(direction, x)
            step = "lp" if len(history) == 1 else "model"
            history.append(Candidate(np.array([x]), c.ok, c.binding, c.margin_pct, step))
            h = headroom(rows, sens.quantities()) if c.converged else None
            if h is not None:
                pts.append((x, h))
            if c.ok:
                x_ok, h_ok, c_ok = x, h, c
                if x >= cap_kw:
                    return result(float(cap_kw), AT_CAP, "cap", c, n_lp)
            else:
                x_bad, c_bad = x, c
            hi = cap_kw if x_bad is None else x_bad
            if x_bad is not None and x_bad - x_ok <= bracket_kw:
                return result(float(x_ok), FEASIBLE, c_bad.binding, c_ok, n_lp)
            if ev.n_powerflows - n0 >= max_powerflows:
                return result(float(x_ok), FEASIBLE,
                              c_bad.binding if c_bad is not None else "cap", c_ok, n_lp)
            # the one-variable LP on the quadratic rows: the smallest crossing over the rows
            u = _row_roots(x_ok, h_ok, pts, slope0)
            n_lp += 1
            r = x_ok + float(u.min()) if u.size else np.inf
            gap = hi - x_ok
            if r - x_ok <= 0.75 * bracket_kw:
                t = x_ok + 0.999 * bracket_kw                  # expect a failure: closes the bracket
            elif x_bad is not None and x_bad - r <= 0.75 * bracket_kw:
                t = x_bad - 0.999 * bracket_kw                 # expect a success: closes the bracket
            else:
                t = r - 0.25 * bracket_kw                      # just below the predicted limit
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
        ev.state_reader = reader
