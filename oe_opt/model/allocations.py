"""Allocation objectives: one registry, read by the LP methods, the study validation, the CLI
and the docs.

An :class:`Allocation` says how to solve the objective on the envelope LP
(:class:`~oe_opt.model.lp.EnvelopeLP`), how to tell whether one allocation
improves on another (the successive LP accepts a verified candidate when the
re-linearised LP cannot improve it), and whether it needs weights.

Adding an objective is one entry::

    from oe_opt.model.allocations import Allocation, register_allocation

    register_allocation(Allocation(
        name="max_total_capped",
        description="largest total with no customer above 8 kW",
        solve=lambda lp, weights: lp.solve_max_total(),
        improves=lambda weights: lambda x_new, x_old, tol: x_new.sum() > x_old.sum() + tol,
    ))

The names of the registered objectives are :func:`allocation_names`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from oe_opt.model.lp import EnvelopeLP, LPSolution

#: ``improves(x_new, x_old, tol) -> bool`` (kW arrays; tol in the objective's kW sense)
Improves = Callable[[np.ndarray, np.ndarray, float], bool]


@dataclass(frozen=True)
class Allocation:
    """One allocation objective.

    Attributes
    ----------
    name : str
        Registry key (``[envelope] allocation``, ``--allocation``).
    description : str
        One line for the docs and ``--help``.
    solve : callable
        ``solve(lp, weights) -> LPSolution`` on an updated :class:`EnvelopeLP`.
    improves : callable
        ``improves(weights) -> Improves``: the acceptance test for these weights.
    needs_weights : bool
        The objective uses per-customer weights (``[customers] export_weight`` ...).
    componentwise : bool
        ``improves`` compares variable by variable, so tolerances are per variable
        (else they are totals and scale with the number of variables).
    """

    name: str
    description: str
    solve: Callable[[EnvelopeLP, np.ndarray | None], LPSolution]
    improves: Callable[[np.ndarray | None], Improves]
    needs_weights: bool = False
    componentwise: bool = False


ALLOCATIONS: dict[str, Allocation] = {}


def register_allocation(allocation: Allocation) -> Allocation:
    """Add `allocation` to the registry (a name may be registered once)."""
    if allocation.name in ALLOCATIONS:
        raise ValueError(f"allocation {allocation.name!r} is already registered")
    ALLOCATIONS[allocation.name] = allocation
    return allocation


def allocation_names() -> tuple[str, ...]:
    """Names of the registered objectives, in registration order."""
    return tuple(ALLOCATIONS)


def get_allocation(name: str) -> Allocation:
    """The objective registered as `name`.

    Raises
    ------
    KeyError
        Naming the known objectives.
    """
    if name not in ALLOCATIONS:
        raise KeyError(f"unknown allocation {name!r}; known: {', '.join(ALLOCATIONS)}")
    return ALLOCATIONS[name]


# ------------------------------------------------------------------ acceptance tests
def _componentwise(x_new: np.ndarray, x_old: np.ndarray, tol: float) -> bool:
    return bool(np.any(x_new > x_old + tol))


def _total(x_new: np.ndarray, x_old: np.ndarray, tol: float) -> bool:
    return float(x_new.sum()) > float(x_old.sum()) + tol


def _maxmin(x_new: np.ndarray, x_old: np.ndarray, tol: float) -> bool:
    return (float(x_new.min()) > float(x_old.min()) + tol
            or (float(x_new.min()) >= float(x_old.min()) - tol
                and float(x_new.sum()) > float(x_old.sum()) + tol))


def _proportional(weights: np.ndarray | None) -> Improves:
    w = np.asarray(weights, dtype=float)
    pos = w > 0
    return lambda xn, xo, tol: float(np.min(xn[pos] / w[pos])) > \
        float(np.min(xo[pos] / w[pos])) + tol / float(w.max())


def _log_fair(x_new: np.ndarray, x_old: np.ndarray, tol: float) -> bool:
    floor = 1e-3
    return float(np.sum(np.log(np.maximum(x_new, floor)) - np.log(np.maximum(x_old, floor)))) \
        > tol * float(np.sum(1.0 / np.maximum(x_old, floor)))


def _needs(weights: np.ndarray | None, name: str) -> np.ndarray:
    if weights is None:
        raise ValueError(f"{name} allocation needs weights")
    return weights


register_allocation(Allocation(
    "equal", "every flexible customer gets the same envelope (x_i = t, max t)",
    solve=lambda lp, w: lp.solve_equal(), improves=lambda w: _componentwise, componentwise=True))
register_allocation(Allocation(
    "proportional", "envelopes proportional to the weights (x_i = w_i lam, max lam)",
    solve=lambda lp, w: lp.solve_proportional(_needs(w, "proportional")),
    improves=_proportional, needs_weights=True))
register_allocation(Allocation(
    "max_total", "largest total envelope (max sum x_i)",
    solve=lambda lp, w: lp.solve_max_total(), improves=lambda w: _total))
register_allocation(Allocation(
    "maxmin", "largest smallest envelope, then the largest total with it held (lexicographic)",
    solve=lambda lp, w: lp.solve_maxmin(), improves=lambda w: _maxmin))
register_allocation(Allocation(
    "log_fair", "proportional fairness (max sum log x_i, piecewise-linear log)",
    solve=lambda lp, w: lp.solve_log_fair(), improves=lambda w: _log_fair))
