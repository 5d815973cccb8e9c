"""Screening solves for networks whose power flow is a control loop (inverter controls).

On a network with InvControls a full power flow (:meth:`PowerFlowEvaluator.check`) runs
OpenDSS's control loop, tens of control iterations; a screening solve
(:meth:`PowerFlowEvaluator.screen`) is one power flow with the inverters' outputs held where
the last full power flow left them, 10-50x cheaper.  Near that last full power flow the held
outputs are close to the controls' own, so the screens locate the limit the control loop will
find there closely; :func:`screened_limit` does that by a safeguarded regula falsi on the
screens' smallest limit margin.  A screen is never a verdict: the optimiser only aims its next
full power flow there (:func:`oe_opt.methods.equal_fast.solve_equal_fast`), and every reported
envelope is the verified end of a bracket of full power flows.
"""

from __future__ import annotations

import numpy as np

from oe_opt.methods.evaluator import PowerFlowEvaluator, signed_kw

#: most screening solves per located limit
MAX_SCREENS = 8


def screened_limit(ev: PowerFlowEvaluator, direction: str, lo_kw: float, hi_kw: float,
                   guess_kw: float, tol_kw: float, cap_kw: float) -> float | None:
    """The envelope (kW) in ``(lo_kw, hi_kw]`` where the screens' limits start to break.

    Parameters
    ----------
    ev : PowerFlowEvaluator
        Set to the period; its last full power flow holds the controls' outputs.
    direction : str
        ``export`` or ``import``.
    lo_kw, hi_kw : float
        The bracket of full power flows: `lo_kw` verified, `hi_kw` violating (or the cap).
    guess_kw : float
        Where to screen first (e.g. the rows' predicted limit).
    tol_kw : float
        Width of the screened bracket (kW).
    cap_kw : float
        Envelope cap (kW): a screen holding there gives `cap_kw`.

    Returns
    -------
    float or None
        The middle of the final screened bracket, `cap_kw` if the screen holds at the
        cap, or None when the engine has no screening solve.
    """
    a, b = float(lo_kw), float(hi_kw)
    fa = fb = None
    x = float(np.clip(guess_kw, a + 0.5 * tol_kw, b))
    b_is_cap = b >= cap_kw
    for _ in range(MAX_SCREENS):
        c = ev.screen(signed_kw(direction, x))
        if c is None:
            return None
        m = c.margin_pct if np.isfinite(c.margin_pct) else None
        if c.ok:
            a, fa = x, m
            if x >= cap_kw:
                return float(cap_kw)
        else:
            b, fb = x, m
            b_is_cap = False
        if b - a <= tol_kw:
            break
        if fa is not None and fb is not None and fa != fb:
            t = a + (b - a) * fa / (fa - fb)            # regula falsi on the smallest margin
            lo_t, hi_t = a + 0.05 * (b - a), b - 0.05 * (b - a)
            t = min(max(t, lo_t), hi_t)
            if t - a < 0.5 * tol_kw:
                t = a + 0.5 * tol_kw                    # just above the screened ok point
            elif b - t < 0.5 * tol_kw:
                t = b - 0.5 * tol_kw
        elif c.ok and b_is_cap:
            t = b                                      # nothing failed yet: try the cap
        else:
            t = 0.5 * (a + b)
        x = float(t)
    return 0.5 * (a + b)

