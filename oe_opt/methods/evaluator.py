"""Full power-flow evaluation of candidate envelopes.

:class:`PowerFlowEvaluator` applies a period's fixed injections once, then
checks candidate flexible-customer powers with one OpenDSS power flow each,
counting them.  Every method (search or optimisation) verifies through it.
"""

from __future__ import annotations

import contextlib
from dataclasses import replace
from typing import TYPE_CHECKING, Callable

import numpy as np

from oe_opt.inputs.case import DayCase
from oe_opt.errors import NetworkError, PowerFlowError
from oe_opt.model.limits import (NOT_CONVERGED, LimitCheck, LimitChecker, QuantityChecker,
                                 evaluate_limits)
from oe_opt.network.base import NetworkEngine, NetworkState, mv_elements
from oe_opt.study import LimitSpec

if TYPE_CHECKING:
    from oe_opt.model.sensitivity import SensitivityModel


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


#: the scalar types a lean check takes without asking numpy for the dimension
_SCALARS = (float, int, np.floating, np.integer)

#: volt-var iteration: stop when no flexible customer's Q changes by more than this (kvar)
VOLT_VAR_TOL_KVAR = 1e-7
#: most power flows of one volt-var iteration
VOLT_VAR_MAX_ITER = 60


def check_optional_limits(net: NetworkEngine, limits: LimitSpec) -> None:
    """Refuse optional limits the network cannot have: MV voltage limits on a network without
    MV buses (or without kV bases), an unbalance limit without three-phase buses.

    Raises
    ------
    NetworkError
        Naming the network and the ``[limits]`` field.
    """
    if limits.checks_mv_voltage:
        key = "mv_v_max_pu" if limits.mv_v_max_pu is not None else "mv_v_min_pu"
        if not net.has_voltage_bases():
            raise NetworkError(f"{net.master}: [limits] {key} needs kV bases to tell MV buses "
                               f"(Set VoltageBases in the network or [network] voltage_bases_kv)")
        if not net.mv_node_names:
            raise NetworkError(f"{net.master}: [limits] {key} is set but the network has no MV "
                               f"bus (line-to-line kV base above 1 kV)")
    if limits.checks_vuf and not net.three_phase_buses:
        raise NetworkError(f"{net.master}: [limits] vuf_max_pct is set but the network has no "
                           f"three-phase bus")


class PowerFlowEvaluator:
    """Check flexible-customer injections against the limits with full power flows.

    Parameters
    ----------
    net : NetworkEngine
    limits : LimitSpec
    case : DayCase
    state_reader : str, optional
        Branch-current reader of the checks (``pdelements`` or ``yprim``, see
        :meth:`DssNetwork.read_state`); None: the network's default.
    """

    def __init__(self, net: NetworkEngine, limits: LimitSpec, case: DayCase,
                 state_reader: str | None = None):
        self.net, self.limits, self.case = net, limits, case
        #: how the state is read (``DssNetwork.read_state(currents=...)``; None: the engine's
        #: default); a method may switch it for its own checks
        self.state_reader = state_reader
        self.n_flex = len(case.flex_idx)
        self.period: int | None = None
        self.n_powerflows = 0
        #: screening solves (:meth:`screen`) since the last :meth:`set_period`
        self.n_screens = 0
        self.last_state: NetworkState | None = None
        #: read the MV node voltages / bus unbalance with every power flow (optional limits on)
        self.read_mv = limits.checks_mv_voltage
        self.read_vuf = limits.checks_vuf
        check_optional_limits(net, limits)
        self._volt_var = getattr(case, "flex_q_mode", "zero") == "volt_var"
        self.last_q_kvar = np.zeros(self.n_flex)
        #: flexible customers' active power (kW, load sign) of the last power flow: the asked one,
        #: or less export where their volt-watt response curtails it
        self.last_p_kw = np.zeros(self.n_flex)
        if self._volt_var:
            # each flexible customer's monitored nodes (its voltage: the mean over them)
            pos = {}
            for k, name in enumerate(net.voltage_labels):
                pos.setdefault(name, []).append(k)
            names = [net.load_names[i] for i in case.flex_idx]
            rows = [pos[n] for n in names]
            self._flex_v = np.zeros((self.n_flex, len(net.voltage_labels)))
            for j, r in enumerate(rows):
                self._flex_v[j, r] = 1.0 / len(r)
        self._names = dict(mv_node_names=net.mv_node_names if self.read_mv else [],
                           vuf_buses=net.three_phase_buses if self.read_vuf else [],
                           mv_elements=mv_elements(net))
        #: the fast core's checks (:meth:`check` by :class:`~oe_opt.model.limits.LimitChecker`,
        #: the same verdicts with less Python per power flow); a method may switch it on for its
        #: own checks, like :attr:`state_reader`.  Used without volt-var and optional limits only.
        self.lean = False
        self._checker: LimitChecker | None = None
        #: (sensitivity model, its QuantityChecker) of the lean checks with matrices
        self._fused: tuple | None = None
        #: the sensitivity model whose quantities :meth:`check_quantities` asks for (set only
        #: for its own check), and what the last lean check computed: (model, node voltages,
        #: quantities) or None
        self.quantities_of: "SensitivityModel | None" = None
        self.last_quantities: tuple | None = None
        #: per-period scratch space of the methods (e.g. the 0-kW check and what was computed
        #: at it, shared by both directions); emptied when :meth:`set_period` changes period
        self.period_cache: dict = {}

    def set_period(self, t: int, apply: bool = True) -> None:
        """Apply period `t`'s fixed demand, PV (DER customers' and the network's own PV
        systems) and source voltages (one value, or magnitude and angle per Vsource);
        reset the counter.

        ``apply=False`` (only for the period applied last, e.g. its second direction, with
        nothing else having set the network's injections since) skips setting the same
        values again."""
        if not apply and t == self.period:
            self.n_powerflows = 0
            self.last_q_kvar = np.zeros(self.n_flex)
            return
        c = self.case
        self.net.set_loads(c.fixed_idx, c.p_fixed_kw[t], c.q_fixed_kvar[t])
        if len(self.net.pv_customers):
            self.net.set_pv_output(c.pv_fraction[t])
        if c.source_pu is not None:
            self.net.set_source_pu(c.source_pu[t])
        if getattr(c, "sources", None) is not None:
            self.net.set_sources(c.sources.idx, c.sources.pu[t], c.sources.angle_deg[t])
        if getattr(c, "pv_irradiance", None) is not None and c.pv_irradiance.shape[1]:
            self.net.set_pv_irradiance(c.pv_system_idx, c.pv_irradiance[t])
        if t != self.period:
            self.period_cache.clear()
        reset = getattr(self.net, "reset_controls", None)
        if reset is not None:
            reset()   # the inverter controls start each period from their initial state
        self.period = t
        self.n_powerflows = 0
        self.n_screens = 0
        # the volt-var iteration starts each period from Q = 0 (a period's results do not
        # depend on the periods solved before it)
        self.last_q_kvar = np.zeros(self.n_flex)

    def apply(self, p_flex_kw: np.ndarray | float) -> None:
        """Set the flexible customers' active power (kW, load sign) and their reactive power
        (``DayCase.flex_q_kvar``: 0, or a fixed power factor's)."""
        p = np.broadcast_to(np.asarray(p_flex_kw, dtype=float), (self.n_flex,))
        # kvar is set with every kW: OpenDSS recomputes a load's kvar from its power factor when
        # only kW is set, so "keep the last kvar" is not safe (seen on an MV-LV model: another
        # state, another verdict, at the same kW)
        self.net.set_loads(self.case.flex_idx, p, self.case.flex_q_kvar(p))

    def solve(self, p_flex_kw: np.ndarray | float) -> NetworkState:
        """Apply `p_flex_kw`, run one power flow and return the state.

        Raises
        ------
        PowerFlowError
            If the power flow does not converge.
        """
        if self._volt_var:
            self._solve_volt_var(np.broadcast_to(np.asarray(p_flex_kw, dtype=float),
                                                 (self.n_flex,)))
        else:
            self.apply(p_flex_kw)
            self.last_p_kw = np.broadcast_to(np.asarray(p_flex_kw, dtype=float),
                                             (self.n_flex,)).copy()
            self.last_q_kvar = self.case.flex_q_kvar(
                np.broadcast_to(np.asarray(p_flex_kw, dtype=float), (self.n_flex,)))
            self.n_powerflows += 1
            self.net.solve()
        if self.read_mv or self.read_vuf:
            self.last_state = self.net.read_state(self.state_reader, mv=self.read_mv,
                                                  vuf=self.read_vuf)
        elif self.state_reader is None:
            self.last_state = self.net.read_state()
        else:
            self.last_state = self.net.read_state(self.state_reader)
        return self.last_state

    def _solve_volt_var(self, p: np.ndarray) -> None:
        """Power flows until the flexible customers' Q is on their volt-var curve at the
        voltages it gives (a fixed-point iteration from the last Q of the period; damped when it grows);
        every power flow counts."""
        q = self.last_q_kvar.copy()
        export = p < 0
        volt_watt = bool(self.case.flex_volt_watt) and export.any()
        p_set = p.copy()
        alpha, last = 1.0, np.inf
        for _ in range(VOLT_VAR_MAX_ITER * (4 if volt_watt else 1)):
            self.net.set_loads(self.case.flex_idx, p_set, q)
            self.n_powerflows += 1
            self.net.solve()
            v = self._flex_v @ self.net.node_vmag_v()[self.net.voltage_node_idx]
            step = self.case.volt_var_kvar(v) - q
            step_p = np.zeros_like(p)
            if volt_watt:
                # exports at most the volt-watt curve's power at the customer's voltage
                allowed = np.where(export, -np.minimum(-p, self.case.volt_watt_kw(v)), p)
                step_p = allowed - p_set
            change = float(max(np.abs(step).max(initial=0.0), np.abs(step_p).max(initial=0.0)))
            if change <= VOLT_VAR_TOL_KVAR:
                self.last_q_kvar, self.last_p_kw = q, p_set
                return
            if change > last:
                alpha = max(alpha / 2, 1 / 16)
            last = change
            q = q + alpha * step
            p_set = p_set + alpha * step_p
        self.last_q_kvar, self.last_p_kw = q, p_set
        raise PowerFlowError(f"day {self.case.day} period {self.period}: the flexible customers' "
                             f"volt-var response did not settle in {VOLT_VAR_MAX_ITER} power flows "
                             f"(last change {change:.2g} kvar)")

    def check(self, p_flex_kw: np.ndarray | float) -> LimitCheck:
        """One power flow at `p_flex_kw` (kW, load sign) checked against the limits.

        A power flow that does not converge counts as a violation
        (``power_flow:not_converged``), except when every flexible customer
        is at 0 kW: then the period itself cannot be solved and
        :class:`PowerFlowError` is raised naming the day and period.
        """
        self.last_quantities = None
        if self.lean and not (self._volt_var or self.read_mv or self.read_vuf):
            return self._check_lean(p_flex_kw)
        p = np.broadcast_to(np.asarray(p_flex_kw, dtype=float), (self.n_flex,))
        try:
            state = self.solve(p)
        except PowerFlowError as exc:
            return self._not_converged(p, exc)
        c = evaluate_limits(state, self.limits, self.net.voltage_labels, self.net.line_names,
                            self.net.transformer_names, **self._names)
        return replace(c, flex_q_kvar=self.last_q_kvar.copy(), flex_p_kw=self.last_p_kw.copy())

    def _not_converged(self, p: np.ndarray, exc: PowerFlowError) -> LimitCheck:
        """A power flow at `p` (kW) that did not converge: a violation, unless every flexible
        customer is at 0 kW (then the period cannot be solved: PowerFlowError naming it)."""
        if np.all(p == 0):
            raise PowerFlowError(f"day {self.case.day} period {self.period} "
                                 f"({self.case.times[self.period]}): {exc}") from exc
        self.last_state = None
        return NOT_CONVERGED

    def screen(self, p_flex_kw: np.ndarray | float) -> LimitCheck | None:
        """A screening check: :meth:`check` with the network's controls held at their present
        outputs (one power flow without control actions, ``net.solve_without_controls``).

        Never a verdict: a candidate a screen accepts must still pass :meth:`check` (the
        full control loop) before it is reported.  Counted in :attr:`n_screens`, not
        :attr:`n_powerflows`.

        Returns
        -------
        LimitCheck or None
            None when the engine has no controls to hold (or no such solve), or the
            flexible customers follow their own volt-var curve (that iteration is the check).
        """
        screen = getattr(self.net, "solve_without_controls", None)
        if screen is None or self._volt_var or not getattr(self.net, "has_controls", False):
            return None
        self.apply(p_flex_kw)
        self.n_screens += 1
        try:
            screen()
        except PowerFlowError:
            return NOT_CONVERGED
        state = self.net.read_state(self.state_reader) if self.state_reader else self.net.read_state()
        return evaluate_limits(state, self.limits, self.net.voltage_labels, self.net.line_names,
                               self.net.transformer_names, **self._names)

    def _check_lean(self, p_flex_kw: np.ndarray | float) -> LimitCheck:
        """:meth:`check` (without volt-var or optional limits) with the limits checked by a
        :class:`LimitChecker` built once: the same power flow, state and verdict."""
        p = (np.full(self.n_flex, float(p_flex_kw))
             if isinstance(p_flex_kw, _SCALARS) or np.ndim(p_flex_kw) == 0
             else np.array(p_flex_kw, dtype=float))
        q = self.case.flex_q_kvar(p)
        self.net.set_loads(self.case.flex_idx, p, q)
        self.last_p_kw, self.last_q_kvar = p, q
        self.n_powerflows += 1
        try:
            self.net.solve()
        except PowerFlowError as exc:
            return self._not_converged(p, exc)
        sens = self.quantities_of
        if sens is not None and sens.has_matrices:
            # the fused read (check_quantities): the node voltages once, the quantities once,
            # the state and the verdict from them by one QuantityChecker
            v = sens.node_voltages()
            self.net.last_node_voltages = v
            y = sens.quantities(v)
            self.last_quantities = (sens, v, y)
            fused = self._fused
            if fused is None or fused[0] is not sens:
                fused = self._fused = (sens, QuantityChecker(
                    sens.layout, self.limits, self.net.voltage_labels, self.net.line_names,
                    self.net.transformer_names, self._names["mv_elements"]))
            state, c = fused[1](y, flex_q_kvar=q.copy(), flex_p_kw=p.copy())
            self.last_state = state
            return c
        state = (self.net.read_state() if self.state_reader is None
                 else self.net.read_state(self.state_reader))
        self.last_state = state
        if self._checker is None:
            self._checker = LimitChecker(self.limits, self.net.voltage_labels,
                                         self.net.line_names, self.net.transformer_names,
                                         self._names["mv_elements"])
        return self._checker(state, flex_q_kvar=q.copy(), flex_p_kw=p.copy())

    @contextlib.contextmanager
    def fast_checks(self):
        """``with``: the fast cores' checks inside (:attr:`state_reader` ``yprim``: the branch
        currents as ``|M V|`` of the node voltages read once, not every element's currents;
        :attr:`lean`: the :class:`LimitChecker` built once), the same state and verdict
        (tested); the evaluator's own settings restored after.  An engine without readers
        (the door protocol's ``read_state()``, no :attr:`state_reader` of its own) keeps its
        one read, with the lean check."""
        saved = self.state_reader, self.lean
        has_readers = hasattr(self.net, "state_reader")
        self.state_reader, self.lean = ("yprim" if has_readers else self.state_reader), True
        try:
            yield self
        finally:
            self.state_reader, self.lean = saved

    def check_quantities(self, p_flex_kw: np.ndarray | float, sens: "SensitivityModel"
                         ) -> tuple[LimitCheck, np.ndarray | None, np.ndarray | None]:
        """:meth:`check`, with the solved state's node voltages and monitored quantities.

        With the lean check (:attr:`lean`, no volt-var or optional limits) and matrices, the
        node voltages are read once and give the quantities ``y`` of `sens`
        (:meth:`SensitivityModel.quantities`), the state (:meth:`SensitivityModel.state_of`,
        the same as the engine's ``yprim`` read, tested to the last bit) and the verdict of
        the same :class:`~oe_opt.model.limits.LimitChecker`: one read and one current
        product per power flow for both the check and the LP rows' headroom.  Otherwise
        the quantities are computed after the check.  Either way the power flow is
        :meth:`check`'s (the one door of every full check).

        Returns
        -------
        (LimitCheck, ndarray or None, ndarray or None)
            The check, the node voltages (V, ``sens`` node order) and ``y`` (V, A); None,
            None when the power flow did not converge.
        """
        keep, self.quantities_of = self.quantities_of, sens
        try:
            c = self.check(p_flex_kw)
        finally:
            self.quantities_of = keep
        if not c.converged:
            return c, None, None
        got = self.last_quantities
        if got is not None and got[0] is sens:
            return c, got[1], got[2]
        v = getattr(self.net, "last_node_voltages", None)
        v = sens.node_voltages() if v is None else v
        return c, v, sens.quantities(v)

    def check_zero(self, at_state: Callable[[], object] | None = None,
                   sens: "SensitivityModel | None" = None) -> tuple[LimitCheck, object]:
        """:meth:`check` with every flexible customer at 0 kW, once per period.

        Both directions of a period share this state (the fixed injections are the
        period's, the flexible ones 0), so it is solved once and the check reused
        until :meth:`set_period` moves to another period.  `at_state` is called
        right after that power flow (e.g. to read the solved node voltages) and its
        result cached with the check.  Only the first call runs (and counts) a power
        flow.  With `sens` (and no `at_state`), the check is :meth:`check_quantities`'s
        (the same verdict) and the node voltages it read are cached with it.

        Returns
        -------
        (LimitCheck, object)
            The check and what `at_state` returned there, or the node voltages with
            `sens` (None without either, or when the power flow did not converge).
        """
        hit = self.period_cache.get("zero")
        if hit is None:
            if sens is not None and at_state is None:
                c, v, _ = self.check_quantities(0.0, sens)
                hit = (c, v)
            else:
                c = self.check(0.0)
                hit = (c, at_state() if (at_state is not None and c.converged) else None)
            self.period_cache["zero"] = hit
        return hit

    def check_direction(self, direction: str, oe_kw: np.ndarray | float) -> LimitCheck:
        """:meth:`check` for envelope values `oe_kw` (kW, >= 0) in `direction`."""
        return self.check(signed_kw(direction, oe_kw))
