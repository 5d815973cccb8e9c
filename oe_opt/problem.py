"""The envelope problem: what every method solves, built once from a study and a day case.

Methods never read the TOML-shaped :class:`~oe_opt.study.Study`; they get an
:class:`EnvelopeProblem` holding, per direction, the envelope cap (one value
for equal allocation), every flexible customer's cap and weight (in the day
case's flexible-customer order), plus the limits, the allocation objective,
the search step and the tolerance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from oe_opt.study import LimitSpec, Study


@dataclass(frozen=True)
class DirectionCaps:
    """Caps and weights of one direction.

    Attributes
    ----------
    cap_kw : float
        The envelope cap (kW): the largest equal-allocation envelope.
    customer_caps_kw : ndarray
        Each flexible customer's cap (kW), at most `cap_kw`.
    weights : ndarray
        Proportional-allocation weights (default: the customer caps).
    """

    cap_kw: float
    customer_caps_kw: np.ndarray
    weights: np.ndarray


@dataclass(frozen=True)
class EnvelopeProblem:
    """Everything a method needs to know besides the network and the day's injections.

    Attributes
    ----------
    flex_names : tuple of str
        Flexible customers, in the order of every per-customer array here.
    directions : tuple of str
        ``export`` and/or ``import``.
    caps : dict
        :class:`DirectionCaps` by direction.
    limits : LimitSpec
        Voltage (V) and thermal (%) limits.
    allocation : str
        Allocation objective of the per-customer LP (a name of
        :mod:`oe_opt.model.allocations`).
    step_kw : float
        Step of the stepping search (kW).
    tolerance_kw : float
        Bracket width of the exact search (kW).
    holds_for : str
        ``full_use`` (limits hold with every flexible customer at its
        envelope) or ``any_use`` (for every use in [0, OE_i] by each, see
        :mod:`oe_opt.methods.any_use`).
    alloc_accept : str
        ``alloc``'s fast core: which LP bound a verified candidate is accepted against
        (:data:`oe_opt.study.ALLOC_ACCEPT`).
    """

    flex_names: tuple[str, ...]
    directions: tuple[str, ...]
    caps: dict[str, DirectionCaps]
    limits: LimitSpec
    allocation: str = "equal"
    step_kw: float = 1.0
    tolerance_kw: float = 0.001
    holds_for: str = "any_use"
    alloc_accept: str = "auto"

    def cap_kw(self, direction: str) -> float:
        """The envelope cap (kW) in `direction`."""
        return self.caps[direction].cap_kw

    def customer_caps_kw(self, direction: str) -> np.ndarray:
        """Each flexible customer's cap (kW) in `direction`."""
        return self.caps[direction].customer_caps_kw

    def weights(self, direction: str) -> np.ndarray:
        """Each flexible customer's proportional-allocation weight in `direction`."""
        return self.caps[direction].weights


def build_problem(study: Study, flex_names: list[str] | tuple[str, ...]) -> EnvelopeProblem:
    """The envelope problem of `study` for the flexible customers `flex_names`.

    Parameters
    ----------
    study : Study
    flex_names : sequence of str
        The day case's flexible customers (their order is kept).

    Returns
    -------
    EnvelopeProblem
    """
    env, cust = study.envelope, study.customers
    caps = {}
    for d in ("export", "import"):
        cap = float(getattr(env, f"{d}_max_kw"))
        per = getattr(cust, f"{d}_max_kw")
        weight = getattr(cust, f"{d}_weight")
        c = np.array([per.get(n, cap) for n in flex_names], dtype=float)
        w = np.array([weight.get(n, ci) for n, ci in zip(flex_names, c)], dtype=float)
        c.setflags(write=False)
        w.setflags(write=False)
        caps[d] = DirectionCaps(cap, c, w)
    return EnvelopeProblem(flex_names=tuple(flex_names), directions=tuple(env.directions), caps=caps,
                           limits=study.limits, allocation=env.allocation, step_kw=env.step_kw,
                           tolerance_kw=env.tolerance_kw, holds_for=env.holds_for,
                           alloc_accept=env.alloc_accept)
