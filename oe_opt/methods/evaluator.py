"""Full power-flow evaluation of candidate envelopes.

:class:`PowerFlowEvaluator` applies a period's fixed injections once, then
checks candidate flexible-customer powers with one OpenDSS power flow each,
counting them.  Every method (search or optimisation) verifies through it.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from oe_opt.inputs.case import DayCase
from oe_opt.errors import PowerFlowError
from oe_opt.model.limits import NOT_CONVERGED, LimitCheck, evaluate_limits
from oe_opt.network.opendss import DssNetwork, NetworkState
from oe_opt.study import LimitSpec


def signed_kw(direction: str, oe_kw: np.ndarray | float) -> np.ndarray:
    """Load power (kW, positive = consumption) for an envelope value in a direction.

    Exports are negative load, imports positive, as in the tutorial.
    """
    oe = np.asarray(oe_kw, dtype=float)
    if direction == "export":
        return -oe
    if direction == "import":
        return oe
    raise ValueError(f"direction must be 'export' or 'import', got {direction!r}")


class PowerFlowEvaluator:
    """Check flexible-customer injections against the limits with full power flows.

    Parameters
    ----------
    net : DssNetwork
    limits : LimitSpec
    case : DayCase
    state_reader : str, optional
        Branch-current reader of the checks (``pdelements`` or ``yprim``, see
        :meth:`DssNetwork.read_state`); None: the network's default.
    """

    def __init__(self, net: DssNetwork, limits: LimitSpec, case: DayCase,
                 state_reader: str | None = None):
        self.net, self.limits, self.case = net, limits, case
        #: how the state is read (``DssNetwork.read_state(currents=...)``; None: the engine's
        #: default); a method may switch it for its own checks
        self.state_reader = state_reader
        self.n_flex = len(case.flex_idx)
        self.period: int | None = None
        self.n_powerflows = 0
        self.last_state: NetworkState | None = None
        #: per-period scratch space of the methods (e.g. the 0-kW check and what was computed
        #: at it, shared by both directions); emptied when :meth:`set_period` changes period
        self.period_cache: dict = {}
        self._flex_q_zero = False

    def set_period(self, t: int) -> None:
        """Apply period `t`'s fixed demand, PV (DER customers' and the network's own PV
        systems) and source voltage; reset the counter."""
        c = self.case
        self.net.set_loads(c.fixed_idx, c.p_fixed_kw[t], c.q_fixed_kvar[t])
        if len(self.net.pv_customers):
            self.net.set_pv_output(c.pv_fraction[t])
        if c.source_pu is not None:
            self.net.set_source_pu(c.source_pu[t])
        if getattr(c, "pv_irradiance", None) is not None and c.pv_irradiance.shape[1]:
            self.net.set_pv_irradiance(c.pv_system_idx, c.pv_irradiance[t])
        if t != self.period:
            self.period_cache.clear()
        self._flex_q_zero = False
        self.period = t
        self.n_powerflows = 0

    def apply(self, p_flex_kw: np.ndarray | float) -> None:
        """Set the flexible customers' active power (kW, load sign), reactive power 0."""
        p = np.broadcast_to(np.asarray(p_flex_kw, dtype=float), (self.n_flex,))
        # reactive power: set to 0 on the first call of a period, kept 0 by the later ones
        self.net.set_loads(self.case.flex_idx, p, None if self._flex_q_zero else np.zeros(self.n_flex))
        self._flex_q_zero = True

    def solve(self, p_flex_kw: np.ndarray | float) -> NetworkState:
        """Apply `p_flex_kw`, run one power flow and return the state.

        Raises
        ------
        PowerFlowError
            If the power flow does not converge.
        """
        self.apply(p_flex_kw)
        self.n_powerflows += 1
        self.net.solve()
        self.last_state = self.net.read_state() if self.state_reader is None else \
            self.net.read_state(self.state_reader)
        return self.last_state

    def check(self, p_flex_kw: np.ndarray | float) -> LimitCheck:
        """One power flow at `p_flex_kw` (kW, load sign) checked against the limits.

        A power flow that does not converge counts as a violation
        (``power_flow:not_converged``), except when every flexible customer
        is at 0 kW: then the period itself cannot be solved and
        :class:`PowerFlowError` is raised naming the day and period.
        """
        p = np.broadcast_to(np.asarray(p_flex_kw, dtype=float), (self.n_flex,))
        try:
            state = self.solve(p)
        except PowerFlowError as exc:
            if np.all(p == 0):
                raise PowerFlowError(f"day {self.case.day} period {self.period} "
                                     f"({self.case.times[self.period]}): {exc}") from exc
            self.last_state = None
            return NOT_CONVERGED
        return evaluate_limits(state, self.limits, self.net.voltage_labels, self.net.line_names,
                               self.net.transformer_names)

    def check_zero(self, at_state: Callable[[], object] | None = None) -> tuple[LimitCheck, object]:
        """:meth:`check` with every flexible customer at 0 kW, once per period.

        Both directions of a period share this state (the fixed injections are the
        period's, the flexible ones 0), so it is solved once and the check reused
        until :meth:`set_period` moves to another period.  `at_state` is called
        right after that power flow (e.g. to read the solved node voltages) and its
        result cached with the check.  Only the first call runs (and counts) a power
        flow.

        Returns
        -------
        (LimitCheck, object)
            The check and what `at_state` returned there (None without it).
        """
        hit = self.period_cache.get("zero")
        if hit is None:
            c = self.check(0.0)
            hit = (c, at_state() if (at_state is not None and c.converged) else None)
            self.period_cache["zero"] = hit
        return hit

    def check_direction(self, direction: str, oe_kw: np.ndarray | float) -> LimitCheck:
        """:meth:`check` for envelope values `oe_kw` (kW, >= 0) in `direction`."""
        return self.check(signed_kw(direction, oe_kw))
