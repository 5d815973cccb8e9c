"""The outcome of one period and direction, as every method reports it."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from oe_opt.model.limits import LimitCheck

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
