"""Baseline methods with full power flows: the tutorial's stepping search and bisection.

Both work on a single equal-allocation value through a callable
``check(oe_kw) -> LimitCheck`` that applies the value to every flexible
customer in one direction and runs a power flow.  A period where even 0 kW
breaks a limit is reported as infeasible with the failing constraint.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .limits import LimitCheck

Check = Callable[[float], LimitCheck]

#: status values of a period result
FEASIBLE, AT_CAP, INFEASIBLE = "ok", "at_cap", "infeasible"


@dataclass
class SearchResult:
    """Outcome of one period and direction.

    Attributes
    ----------
    oe_kw : float or ndarray
        The verified envelope (kW, >= 0); NaN when infeasible.
    status : str
        ``ok`` (limited by the network), ``at_cap`` or ``infeasible``.
    binding : str
        What limits the envelope: ``cap``, or the constraint violated just
        above the envelope (``kind:element``); for infeasible periods the
        constraint violated at 0 kW.
    check : LimitCheck
        The power-flow check at the reported envelope (at 0 kW if infeasible).
    n_powerflows : int
        Full power flows used, including perturbation runs for the LP methods.
    n_lp : int
        LP solves (0 for the searches).
    """

    oe_kw: float | np.ndarray
    status: str
    binding: str
    check: LimitCheck
    n_powerflows: int = 0
    n_lp: int = 0
    extra: dict = field(default_factory=dict)

    @property
    def verified(self) -> bool:
        """True when the reported outcome was confirmed by a full power flow."""
        if self.status == INFEASIBLE:
            return not self.check.ok
        return bool(self.check.ok)


def step_search(check: Check, cap_kw: float, step_kw: float) -> SearchResult:
    """The tutorial's stepping search.

    Start at the cap and reduce by `step_kw` until every limit holds; stop at
    0 kW.  0 kW is checked first so that infeasible periods are recognised.

    Parameters
    ----------
    check : callable
        ``check(oe_kw) -> LimitCheck`` with one full power flow.
    cap_kw : float
        Export or import cap (kW).
    step_kw : float
        Search step (kW).

    Returns
    -------
    SearchResult
        ``n_powerflows`` counts the calls to `check`.
    """
    n = 1
    c0 = check(0.0)
    if not c0.ok:
        return SearchResult(np.nan, INFEASIBLE, c0.binding, c0, n)
    last_fail: LimitCheck | None = None
    k = 0
    while True:
        x = round(cap_kw - k * step_kw, 9)
        if x <= 1e-9:
            break
        c = check(x)
        n += 1
        if c.ok:
            if k == 0:
                return SearchResult(x, AT_CAP, "cap", c, n)
            return SearchResult(x, FEASIBLE, last_fail.binding, c, n)
        last_fail = c
        k += 1
    return SearchResult(0.0, FEASIBLE, last_fail.binding if last_fail else "cap", c0, n)


def bisect_search(check: Check, cap_kw: float, tol_kw: float = 0.001) -> SearchResult:
    """Exact envelope by bisection on [0, cap] with full power flows.

    Parameters
    ----------
    check : callable
        ``check(oe_kw) -> LimitCheck`` with one full power flow.
    cap_kw : float
        Export or import cap (kW).
    tol_kw : float
        Width of the final bracket (kW); 0.001 kW = 1 W.

    Returns
    -------
    SearchResult
        The lower (feasible) end of the final bracket.
    """
    n = 1
    c0 = check(0.0)
    if not c0.ok:
        return SearchResult(np.nan, INFEASIBLE, c0.binding, c0, n)
    if cap_kw <= 0:
        return SearchResult(0.0, AT_CAP, "cap", c0, n)
    ccap = check(cap_kw)
    n += 1
    if ccap.ok:
        return SearchResult(float(cap_kw), AT_CAP, "cap", ccap, n)
    lo, hi, clo, chi = 0.0, float(cap_kw), c0, ccap
    while hi - lo > tol_kw:
        mid = 0.5 * (lo + hi)
        c = check(mid)
        n += 1
        if c.ok:
            lo, clo = mid, c
        else:
            hi, chi = mid, c
    return SearchResult(lo, FEASIBLE, chi.binding, clo, n)
