"""The outcome of one period and direction, as every method reports it."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from oe_opt.model.limits import NOT_CONVERGED, LimitCheck

#: status values of a period result
FEASIBLE, AT_CAP, INFEASIBLE = "ok", "at_cap", "infeasible"
#: status of a period whose power flow does not converge even with every flexible customer at 0 kW
NONCONVERGENT = "nonconvergent"


@dataclass
class SearchResult:
    """Outcome of one period and direction.

    Attributes
    ----------
    oe_kw : float or ndarray
        The verified envelope (kW, >= 0); NaN when infeasible.
    status : str
        ``ok`` (limited by the network), ``at_cap``, ``infeasible`` or
        ``nonconvergent`` (no power-flow solution even at 0 kW).
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
        if self.status == NONCONVERGENT:
            return False
        if self.status == INFEASIBLE:
            return not self.check.ok
        return bool(self.check.ok)


def nonconvergent_result(n_powerflows: int = 0, message: str = "") -> SearchResult:
    """The result of a period and direction whose power flow does not converge at 0 kW.

    No envelope (NaN), status :data:`NONCONVERGENT`, never verified, the
    failing condition ``power_flow:not_converged`` in ``binding`` and the
    error message in ``extra["error"]``.
    """
    check = replace(NOT_CONVERGED, margin_pct=np.nan)
    return SearchResult(np.nan, NONCONVERGENT, check.binding, check, n_powerflows,
                        extra={"error": message})
