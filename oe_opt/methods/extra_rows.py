"""LP rows of the limits the sensitivity model does not monitor: MV node voltages and bus unbalance.

:class:`~oe_opt.model.sensitivity.SensitivityModel` linearises the customer
voltages and the line and transformer currents.  The optional limits of
issue 12 are on other quantities:

* ``mv_v_max`` / ``mv_v_min``: voltage magnitude (pu) of every MV node;
* ``vuf``: voltage unbalance factor ``|V2| / |V1|`` (%) of every three-phase bus.

They are appended to the quantity vector (:meth:`ExtraQuantities.layout`) and
linearised by forward differences through the evaluator
(:class:`ExtraLinearise`): at each linearisation point, one full power flow
per envelope variable, moved by :data:`EXTRA_DELTA_KW` (counted in
``n_powerflows`` like every power flow).

Why finite differences: the analytic model gives the complex voltage change of
the injection and monitored nodes only, and extending it to every bus (the
negative-sequence voltage of a three-phase bus is a complex combination of its
three node voltages, so dVUF/dp needs the complex dV of those nodes) means
editing the sensitivity model, which is being moved into ``oe_opt/network/``.
The cost is one power flow per envelope variable per linearisation (``lp``:
one; ``alloc``: one per flexible customer), only when an optional limit is on.
Between power flows the LP's local model (cutting planes, see
:func:`oe_opt.methods.slp.solve_on_model`) treats these quantities as linear;
every candidate is verified by the full power flow as always, so the
reported envelope holds them exactly.
"""

from __future__ import annotations

import numpy as np

from oe_opt.errors import PowerFlowError
from oe_opt.methods.evaluator import PowerFlowEvaluator, signed_kw
from oe_opt.methods.slp import Linearise
from oe_opt.model.sensitivity import Linearisation, QuantityLayout, SensitivityModel
from oe_opt.network.base import NetworkEngine
from oe_opt.study import LimitSpec

#: step (kW per envelope variable) of the forward differences of the extra quantities: large
#: enough that the power flow's convergence tolerance (1e-8 pu) is far below the change
EXTRA_DELTA_KW = 0.5


class ExtraQuantities:
    """The quantities of the optional limits that are on, as read from a solved network.

    Parameters
    ----------
    net : NetworkEngine
    limits : LimitSpec
    """

    def __init__(self, net: NetworkEngine, limits: LimitSpec):
        self.mv, self.vuf = limits.checks_mv_voltage, limits.checks_vuf
        kinds: list[str] = []
        elements: list[str] = []
        if self.mv:
            kinds += ["mv_voltage"] * len(net.mv_node_names)
            elements += net.mv_node_names
        if self.vuf:
            kinds += ["vuf"] * len(net.three_phase_buses)
            elements += net.three_phase_buses
        self.kind, self.element = kinds, elements

    @property
    def n(self) -> int:
        return len(self.kind)

    def read(self, net: NetworkEngine) -> np.ndarray:
        """The quantities (pu, %) of the last solved power flow of `net`."""
        parts = []
        if self.mv:
            parts.append(net.mv_voltage_pu())
        if self.vuf:
            parts.append(net.bus_vuf_pct())
        return np.concatenate(parts) if parts else np.zeros(0)

    def layout(self, base: QuantityLayout) -> QuantityLayout:
        """`base` with these quantities appended (rated current NaN)."""
        return QuantityLayout(kind=np.concatenate([base.kind, np.array(self.kind, dtype=base.kind.dtype
                                                                        if self.n else str)]),
                              element=list(base.element) + list(self.element),
                              rating_a=np.concatenate([base.rating_a, np.full(self.n, np.nan)]))


class ExtraLinearise(Linearise):
    """:class:`~oe_opt.methods.slp.Linearise` with the extra quantities appended.

    The sensitivity model's quantities as before; the extra ones by forward
    differences (one power flow per envelope variable).  The network is left
    at the last perturbed state (as with finite-difference sensitivities).
    """

    def __init__(self, sens: SensitivityModel, directions: np.ndarray, method: str,
                 extra: ExtraQuantities, delta_kw: float = EXTRA_DELTA_KW):
        super().__init__(sens, directions, method)
        self.extra, self.extra_delta_kw = extra, delta_kw

    def __call__(self, ev: PowerFlowEvaluator, direction: str,
                 x: np.ndarray) -> tuple[Linearisation, np.ndarray]:
        x = np.asarray(x, dtype=float)
        y_e0 = self.extra.read(ev.net)           # the state solved at x
        lin, dy = super().__call__(ev, direction, x)
        nvar = self.e.shape[1]
        dy_e = np.empty((self.extra.n, nvar))
        for j in range(nvar):
            for d in (self.extra_delta_kw, -self.extra_delta_kw):
                step = np.zeros(nvar)
                step[j] = d
                try:
                    ev.solve(signed_kw(direction, self.e @ (x + step)))
                except PowerFlowError:
                    continue
                dy_e[:, j] = (self.extra.read(ev.net) - y_e0) / d
                break
            else:
                raise PowerFlowError(f"day {ev.case.day} period {ev.period}: no power flow "
                                     f"converged {self.extra_delta_kw} kW either side of the "
                                     f"linearisation point")
        s = -1.0 if direction == "export" else 1.0
        full = Linearisation(np.concatenate([lin.y, y_e0]), np.vstack([lin.dy_dp, s * dy_e]),
                             lin.p_kw, lin.method, lin.n_powerflows + nvar, lin.model)
        full.extra = (len(lin.y), y_e0, dy_e, x)
        return full, np.vstack([dy, dy_e])

    def model(self, lin: Linearisation, direction: str, x_from: np.ndarray):
        base = super().model(lin, direction, x_from)
        if base is None:
            return None
        return _ExtraModel(base, *lin.extra)


class _ExtraModel:
    """The local model of the base quantities, the extra quantities linear in the envelope."""

    def __init__(self, base, n_base: int, y_e0: np.ndarray, dy_e: np.ndarray, x0: np.ndarray):
        self._base, self._nb, self._y0, self._dy, self._x0 = base, n_base, y_e0, dy_e, x0

    def quantities(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        return np.concatenate([self._base.quantities(x), self._y0 + self._dy @ (x - self._x0)])

    def gradient(self, x: np.ndarray, q_idx: np.ndarray) -> np.ndarray:
        q = np.asarray(q_idx, dtype=int)
        out = np.empty((len(q), self._dy.shape[1]))
        base = q < self._nb
        if base.any():
            out[base] = self._base.gradient(x, q[base])
        out[~base] = self._dy[q[~base] - self._nb]
        return out
