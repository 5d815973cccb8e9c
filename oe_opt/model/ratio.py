"""The one-variable envelope LP solved by its ratio test (a solver choice, not a new model).

The equal-allocation LP of :mod:`oe_opt.model.lp` (``x_i = t`` for every
customer, maximise ``t``) has one free variable: with limit rows
``A x <= b`` it is ::

    maximise t   s.t.   (A 1) t <= b,   lower <= t <= upper

whose optimum is the smallest ratio ``b_k / (A 1)_k`` over the rows with a
positive coefficient (clipped to the box).  :func:`ratio_solve` computes it
in a few vectorised numpy operations, with no LP solver call; the tests show
it gives HiGHS's solution on random problems.  :class:`~oe_opt.model.lp.EnvelopeLP`
uses it for :meth:`~oe_opt.model.lp.EnvelopeLP.solve_equal` with
``equal_solver="ratio"``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: a row coefficient below this (per kW, relative to the row's scale) counts as zero
COEF_EPS = 1e-14


@dataclass(frozen=True)
class RatioSolution:
    """Optimum of ``max t s.t. a t <= b, lower <= t <= upper``.

    Attributes
    ----------
    t : float
        The optimum (NaN if infeasible).
    status : str
        ``optimal`` or ``infeasible``.
    binding : ndarray of int
        Rows at their bound at `t` (empty if the upper bound binds alone).
    """

    t: float
    status: str
    binding: np.ndarray

    @property
    def ok(self) -> bool:
        return self.status == "optimal"


def ratio_solve(a: np.ndarray, b: np.ndarray, lower: float = 0.0, upper: float = np.inf,
                rel_tol: float = 1e-9) -> RatioSolution:
    """Largest ``t`` in ``[lower, upper]`` with ``a t <= b`` (every row).

    Parameters
    ----------
    a : ndarray, shape (m,)
        Coefficient of every row (the row sums of ``A`` for equal allocation).
    b : ndarray, shape (m,)
        Right-hand sides.
    lower, upper : float
        Box of ``t`` (``upper`` may be inf; then a row must bound ``t``).
    rel_tol : float
        Feasibility tolerance of the rows at ``lower`` (relative to ``1 + |b|``)
        and of the binding test.

    Returns
    -------
    RatioSolution
        ``infeasible`` when a row is violated at ``lower`` or ``lower > upper``;
        unbounded problems (``upper`` inf and no positive coefficient) raise
        ValueError.
    """
    a = np.asarray(a, dtype=float).ravel()
    b = np.asarray(b, dtype=float).ravel()
    lo, hi = float(lower), float(upper)
    scale = rel_tol * (1.0 + np.abs(b))
    if lo > hi or np.any(a * lo > b + scale):
        return RatioSolution(np.nan, "infeasible", np.zeros(0, dtype=int))
    pos = a > (COEF_EPS / rel_tol) * scale
    if pos.any():
        t = min(hi, float((b[pos] / a[pos]).min()))
    else:
        t = hi
    if not np.isfinite(t):
        raise ValueError("the one-variable LP is unbounded (no row limits t and no upper bound)")
    t = max(t, lo)
    binding = np.nonzero(b - a * t <= scale)[0]
    return RatioSolution(t, "optimal", binding)
