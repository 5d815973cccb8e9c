"""Limit evaluation on a solved network state.

Pure functions: given monitored quantities and limits, say whether every
limit holds, which constraint binds and by how much.

Margins are in percent so that different constraints compare:

* voltage upper limit: ``(v_max - v) / v_max * 100``;
* voltage lower limit: ``(v - v_min) / v_min * 100``;
* line and transformer: ``limit_pct - loading_pct`` (percentage points of rating);
* MV voltage limits (``mv_v_max``/``mv_v_min``, pu): as the customer voltages,
  in % of the limit;
* voltage unbalance (``vuf``): ``(vuf_max - vuf) / vuf_max * 100`` (% of the limit).

Optional limits (``vuf_max_pct``, ``mv_v_min_pu``, ``mv_v_max_pu``) are off
when their :class:`~oe_opt.study.LimitSpec` field is None: no margins, no LP rows.

Labels say whether an element is MV or LV: customer voltages are
``v_max``/``v_min`` (LV customers), MV node voltages ``mv_v_max:<bus.node>`` /
``mv_v_min:<bus.node>``; lines and transformers of the MV network (a line whose
bus has a line-to-line kV base above 1 kV; a transformer with every winding
above 1 kV) are ``mv_line:<name>`` / ``mv_transformer:<name>``, those of the LV
network (and distribution transformers) stay ``line:<name>`` / ``transformer:<name>``.

Transformer check: the per-phase current of every winding against the
winding's rated current kVA/(sqrt(3)·kV) — 667 A on the 433 V side of the
Test LV Circuit's 500 kVA transformer.  The tutorial notebook instead compares
the *sum* of the three LV phase currents with 3·(500/3)/0.433 A, i.e. an
average phase current against 385 A, which is neither the rated current nor a
per-phase check (an unbalanced phase can exceed its rating unnoticed, and a
balanced load is flagged at 58 % of rating).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from oe_opt.network.base import NetworkState
from oe_opt.study import LimitSpec

if TYPE_CHECKING:
    from oe_opt.model.sensitivity import Linearisation, QuantityLayout


@dataclass(frozen=True)
class LimitCheck:
    """The outcome of checking one solved state against the limits.

    Attributes
    ----------
    ok : bool
        Every limit holds.
    binding : str
        The constraint with the smallest margin, as ``kind:element`` with kind
        one of ``v_max``, ``v_min``, ``line``, ``transformer``, ``mv_v_max``,
        ``mv_v_min``, ``mv_line``, ``mv_transformer``, ``vuf`` (or
        ``power_flow:not_converged``).
    margin_pct : float
        Margin of that constraint, percent (negative when violated).
    converged : bool
        False if the power flow did not converge (then nothing else is known).
    voltage_v : ndarray or None
        Every monitored customer voltage (V) of the checked state.
    v_lowest_v, v_highest_v : float
        Lowest and highest customer voltage (V) observed in the checked state
        (the limits themselves are ``LimitSpec.v_min_v`` / ``v_max_v``).
    max_line_loading_pct, transformer_loading_pct : float
        Highest line and transformer loading (%).
    """

    ok: bool
    binding: str
    margin_pct: float
    v_lowest_v: float
    v_highest_v: float
    max_line_loading_pct: float
    transformer_loading_pct: float
    converged: bool = True
    voltage_v: np.ndarray | None = field(default=None, repr=False, compare=False)
    #: flexible customers' reactive power (kvar, load sign) in the checked state, if known
    flex_q_kvar: np.ndarray | None = field(default=None, repr=False, compare=False)
    #: flexible customers' active power (kW, load sign) in the checked state, if known (less
    #: export than asked where a volt-watt response curtails it)
    flex_p_kw: np.ndarray | None = field(default=None, repr=False, compare=False)


NOT_CONVERGED = LimitCheck(False, "power_flow:not_converged", -np.inf, np.nan, np.nan, np.nan,
                           np.nan, converged=False)


@dataclass(frozen=True)
class LimitKind:
    """One kind of network limit: the single definition behind verification and LP rows.

    Attributes
    ----------
    name : str
        Label prefix (``v_max``, ``v_min``, ``line``, ``transformer``); a
        constraint is labelled ``<name>:<element>`` (:func:`limit_label`).
    quantity : str
        What it limits: ``voltage`` (customer node voltage, V), ``line`` or
        ``transformer`` (phase current, A; as ``QuantityLayout.kind``).
    sense : float
        +1 for an upper limit, -1 for a lower limit.
    setting : str
        The :class:`~oe_opt.study.LimitSpec` field holding the limit: volts
        for voltages, percent of the rated current for thermal limits.
    """

    name: str
    quantity: str
    sense: float
    setting: str

    @property
    def thermal(self) -> bool:
        return self.quantity in ("line", "transformer")

    def active(self, limits: LimitSpec) -> bool:
        """True if `limits` sets this limit (optional limits are None when off)."""
        return getattr(limits, self.setting) is not None

    def limit(self, limits: LimitSpec) -> float:
        """The limit (V, pu, % of rating or % unbalance) in `limits`."""
        return float(getattr(limits, self.setting))

    def label(self, element: str, mv_elements: dict[str, frozenset[str]] | None = None) -> str:
        """``kind:element``; lines and transformers listed in ``mv_elements[quantity]`` get
        the kind ``mv_line`` / ``mv_transformer``."""
        if mv_elements and self.thermal and element in mv_elements.get(self.quantity, ()):
            return limit_label(f"mv_{self.name}", element)
        return limit_label(self.name, element)

    def margin_pct(self, value: np.ndarray, limits: LimitSpec) -> np.ndarray:
        """Margin (%) of observed values: V for voltages (margin in % of the limit), % of
        rating for thermal limits (margin in percentage points); negative = violated."""
        lim = self.limit(limits)
        if self.thermal:
            return lim - value
        return self.sense * (lim - value) / lim * 100.0

    def bound(self, limits: LimitSpec, rating_a: np.ndarray) -> np.ndarray:
        """``sense * limit`` on the quantity itself (V, or A from the rated current `rating_a`)."""
        if self.thermal:
            return rating_a * self.limit(limits) / 100.0
        return np.full(len(rating_a), self.sense * self.limit(limits))


#: every limit oe_opt checks, in the order of the LP rows
LIMIT_KINDS = (LimitKind("v_max", "voltage", 1.0, "v_max_v"),
               LimitKind("v_min", "voltage", -1.0, "v_min_v"),
               LimitKind("line", "line", 1.0, "line_max_pct"),
               LimitKind("transformer", "transformer", 1.0, "transformer_max_pct"),
               LimitKind("mv_v_max", "mv_voltage", 1.0, "mv_v_max_pu"),
               LimitKind("mv_v_min", "mv_voltage", -1.0, "mv_v_min_pu"),
               LimitKind("vuf", "vuf", 1.0, "vuf_max_pct"))

#: quantities that are not in the sensitivity model's layout (their LP rows come from
#: :mod:`oe_opt.methods.extra_rows`)
EXTRA_QUANTITIES = ("mv_voltage", "vuf")


def limit_label(kind: str, element: str) -> str:
    """The one label format of a constraint: ``kind:element`` (e.g. ``v_max:load_mg1_9``)."""
    return f"{kind}:{element}"


def _observed(state: NetworkState, quantity: str) -> np.ndarray:
    return {"voltage": state.voltage_v, "line": state.line_loading_pct,
            "transformer": state.transformer_loading_pct, "mv_voltage": state.mv_voltage_pu,
            "vuf": state.vuf_pct}[quantity]


def margins_pct(state: NetworkState, limits: LimitSpec) -> dict[str, np.ndarray]:
    """Margin (percent) of every constraint, by constraint kind (:data:`LIMIT_KINDS`).

    Returns
    -------
    dict
        ``v_max``, ``v_min`` (per monitored customer node), ``line`` (per
        line), ``transformer`` (per transformer), ``mv_v_max``, ``mv_v_min``
        (per MV node) and ``vuf`` (per three-phase bus); negative entries are
        violations.  Limits that are off give empty arrays.
    """
    return {k.name: (k.margin_pct(_observed(state, k.quantity), limits) if k.active(limits)
                     else np.zeros(0)) for k in LIMIT_KINDS}


def evaluate_limits(state: NetworkState, limits: LimitSpec, voltage_labels: list[str],
                    line_names: list[str], transformer_names: list[str], *,
                    mv_node_names: list[str] = (), vuf_buses: list[str] = (),
                    mv_elements: dict[str, frozenset[str]] | None = None) -> LimitCheck:
    """Check a solved state against voltage and thermal limits.

    Parameters
    ----------
    state : NetworkState
        Monitored quantities of a solved power flow.
    limits : LimitSpec
        Voltage limits (V), thermal limits (%) and the optional MV voltage
        (pu) and unbalance (%) limits.
    voltage_labels, line_names, transformer_names : list of str
        Element names aligned with the state's arrays.
    mv_node_names, vuf_buses : list of str
        Names aligned with ``state.mv_voltage_pu`` and ``state.vuf_pct`` (needed
        when those limits are on).
    mv_elements : dict, optional
        MV line and transformer names (``{"line": ..., "transformer": ...}``),
        labelled ``mv_line`` / ``mv_transformer``.

    Returns
    -------
    LimitCheck
    """
    margins = margins_pct(state, limits)
    names = {"voltage": voltage_labels, "line": line_names, "transformer": transformer_names,
             "mv_voltage": list(mv_node_names), "vuf": list(vuf_buses)}
    kinds = {k.name: k for k in LIMIT_KINDS}
    for k in LIMIT_KINDS:
        if len(margins[k.name]) != (len(names[k.quantity]) if k.active(limits) else 0):
            raise ValueError(f"limit {k.name}: {len(margins[k.name])} readings for "
                             f"{len(names[k.quantity])} elements (read the state with "
                             f"mv=/vuf= for the optional limits)")
    best_kind, best_i, best = "", -1, np.inf
    for kind, m in margins.items():
        if len(m):
            i = int(np.argmin(m))
            if m[i] < best:
                best_kind, best_i, best = kind, i, float(m[i])
    binding = (kinds[best_kind].label(names[kinds[best_kind].quantity][best_i], mv_elements)
               if best_kind else "none")
    v = state.voltage_v
    return LimitCheck(
        ok=bool(best >= 0.0),
        binding=binding,
        margin_pct=best,
        v_lowest_v=float(v.min()),
        v_highest_v=float(v.max()),
        max_line_loading_pct=float(state.line_loading_pct.max()) if len(state.line_loading_pct) else 0.0,
        transformer_loading_pct=(float(state.transformer_loading_pct.max())
                                 if len(state.transformer_loading_pct) else 0.0),
        voltage_v=v,
    )


class LimitChecker:
    """:func:`evaluate_limits` compiled for one set of limits and element names.

    The same margins (the same arithmetic on the same state), the same binding
    constraint (the first smallest margin in :data:`LIMIT_KINDS` order) and the same
    :class:`LimitCheck`, without rebuilding the kind and name tables on every call:
    the check after each of the fast core's power flows.  Only for the limits every
    state carries (voltages, lines, transformers): `limits` without the optional MV
    or unbalance limits.

    Parameters
    ----------
    limits : LimitSpec
    voltage_labels, line_names, transformer_names : list of str
        Element names aligned with the state's arrays.
    mv_elements : dict, optional
        As :func:`evaluate_limits`.
    """

    def __init__(self, limits: LimitSpec, voltage_labels: list[str], line_names: list[str],
                 transformer_names: list[str], mv_elements: dict[str, frozenset[str]] | None = None):
        names = {"voltage": voltage_labels, "line": line_names, "transformer": transformer_names}
        self.kinds = []
        for k in LIMIT_KINDS:
            if not k.active(limits):
                continue
            if k.quantity in EXTRA_QUANTITIES:
                raise ValueError(f"LimitChecker: the optional limit {k.name} needs evaluate_limits")
            self.kinds.append((k, k.quantity, k.limit(limits), names[k.quantity]))
        self.mv_elements = mv_elements
        # per kind what the call needs, looked up once: (position of the state array,
        # thermal, sense, limit, element count, kind); labels made once per element asked
        where = {"voltage": 0, "line": 1, "transformer": 2}
        self._plan = [(where[kind[1]], kind[0].thermal, kind[0].sense, kind[2], len(kind[3]), kind)
                      for kind in self.kinds]
        self._labels: dict[tuple[int, int], str] = {}

    def __call__(self, state: NetworkState, **extra) -> LimitCheck:
        """The :class:`LimitCheck` of `state` (`extra`: further :class:`LimitCheck` fields)."""
        best_kind, best_i, best = None, -1, np.inf
        arrays = (state.voltage_v, state.line_loading_pct, state.transformer_loading_pct)
        for j, (pos, thermal, sense, lim, n, kind) in enumerate(self._plan):
            value = arrays[pos]
            if len(value) != n:
                raise ValueError(f"limit {kind[0].name}: {len(value)} readings for {n} "
                                 f"elements")
            if not n:
                continue
            # LimitKind.margin_pct, written out
            m = lim - value if thermal else sense * (lim - value) / lim * 100.0
            i = int(m.argmin())
            mi = float(m[i])
            if mi < best:
                best_kind, best_i, best = j, i, mi
        binding = "none" if best_kind is None else self.label(best_kind, best_i)
        v, line, tx = arrays
        return LimitCheck(ok=best >= 0.0, binding=binding, margin_pct=best,
                          v_lowest_v=float(_MIN(v)), v_highest_v=float(_MAX(v)),
                          max_line_loading_pct=float(_MAX(line)) if len(line) else 0.0,
                          transformer_loading_pct=float(_MAX(tx)) if len(tx) else 0.0,
                          voltage_v=v, **extra)


    def label(self, j: int, i: int) -> str:
        """The binding label of element `i` of the `j`-th checked kind (``kind:element``),
        made once per element asked."""
        binding = self._labels.get((j, i))
        if binding is None:
            kind = self._plan[j][5]
            binding = kind[0].label(kind[3][i], self.mv_elements)
            self._labels[(j, i)] = binding
        return binding


#: the reductions of ``ndarray.min`` / ``ndarray.max`` without their Python wrapper
_MIN, _MAX = np.minimum.reduce, np.maximum.reduce


def fast_limit_check(ok: bool, binding: str, margin_pct: float, v_lowest_v: float,
                     v_highest_v: float, max_line_loading_pct: float,
                     transformer_loading_pct: float, voltage_v: np.ndarray | None,
                     flex_q_kvar: np.ndarray | None = None,
                     flex_p_kw: np.ndarray | None = None) -> LimitCheck:
    """A converged :class:`LimitCheck` with these fields, made without the frozen dataclass's
    per-field ``__setattr__`` (equal to ``LimitCheck(...)`` of the same fields; the check
    after each of the fast core's power flows)."""
    c = object.__new__(LimitCheck)
    c.__dict__.update(ok=ok, binding=binding, margin_pct=margin_pct, v_lowest_v=v_lowest_v,
                      v_highest_v=v_highest_v, max_line_loading_pct=max_line_loading_pct,
                      transformer_loading_pct=transformer_loading_pct, converged=True,
                      voltage_v=voltage_v, flex_q_kvar=flex_q_kvar, flex_p_kw=flex_p_kw)
    return c


#: the empty MV-voltage and unbalance arrays of :func:`fast_state` (read-only, shared)
_EMPTY = np.zeros(0)
_EMPTY.flags.writeable = False


def fast_state(voltage_v: np.ndarray, line_loading_pct: np.ndarray,
               transformer_loading_pct: np.ndarray) -> NetworkState:
    """``NetworkState(voltage_v, line_loading_pct, transformer_loading_pct)`` made without the
    frozen dataclass's per-field ``__setattr__`` (and with one shared read-only empty array as
    its MV voltages and unbalance factors, which only ``read_state(mv=, vuf=)`` fills)."""
    st = object.__new__(NetworkState)
    st.__dict__.update(voltage_v=voltage_v, line_loading_pct=line_loading_pct,
                       transformer_loading_pct=transformer_loading_pct,
                       mv_voltage_pu=_EMPTY, vuf_pct=_EMPTY)
    return st


class QuantityChecker:
    """:class:`QuantityState` and :class:`LimitChecker` fused: the state and the verdict of
    a monitored-quantity vector ``y`` (V, A) in a few numpy calls on arrays laid out once.

    The same state (voltages, line and transformer loadings, the same arithmetic) and the
    same :class:`LimitCheck` as ``LimitChecker(...)(QuantityState(...)(y))`` (tested):
    every loading in one gather and one ``maximum.reduceat``, every margin in one vector
    (the active kinds in :data:`LIMIT_KINDS` order, so its first smallest entry is the
    binding constraint :class:`LimitChecker` picks), the check made by
    :func:`fast_limit_check`.  A margin that is not a number (never in a converged state)
    leaves the verdict to :class:`LimitChecker`.

    Parameters
    ----------
    layout : QuantityLayout
        As :class:`QuantityState`.
    limits : LimitSpec
        Without the optional MV or unbalance limits (as :class:`LimitChecker`).
    voltage_labels, line_names, transformer_names : list of str
        The state's element order.
    mv_elements : dict, optional
        As :func:`evaluate_limits`.
    """

    def __init__(self, layout: "QuantityLayout", limits: LimitSpec, voltage_labels: list[str],
                 line_names: list[str], transformer_names: list[str],
                 mv_elements: dict[str, frozenset[str]] | None = None):
        self.state_of = QuantityState(layout, line_names, transformer_names)
        self.checker = LimitChecker(limits, voltage_labels, line_names, transformer_names,
                                    mv_elements)
        qs = self.state_of
        nv, nl, nt = qs.nv, len(line_names), len(transformer_names)
        if len(voltage_labels) != nv:
            raise ValueError(f"QuantityChecker: {nv} voltages in the layout for "
                             f"{len(voltage_labels)} voltage labels")
        self._nv, self._nl, self._nt = nv, nl, nt
        # the margins' vector: per active kind its entries of [voltages, lines, transformers]
        offset = (0, nv, nv + nl)
        gather, lim, sense, kind_of, el_of = [], [], [], [], []
        n_volt = 0
        for j, (pos, thermal, sn, li, n, _) in enumerate(self.checker._plan):
            gather.append(offset[pos] + np.arange(n))
            lim.append(np.full(n, li))
            sense.append(np.full(n, sn))
            kind_of.append(np.full(n, j))
            el_of.append(np.arange(n))
            if not thermal:
                if n_volt != sum(len(g) for g in gather[:-1]):
                    raise ValueError("QuantityChecker: voltage limits must come first")
                n_volt += n
        cat = (lambda parts, dt: np.concatenate(parts).astype(dt) if parts
               else np.zeros(0, dtype=dt))
        self._gather = cat(gather, np.intp)
        self._lim = cat(lim, float)
        # margin = (lim - value) / div * mul: for a voltage (lim - v) / (sense lim) * 100, the
        # bits of LimitKind.margin_pct's sense (lim - v) / lim * 100 (a sign is exact in
        # every rounding), for a thermal limit lim - loading (/ 1 * 1 is exact): one pass
        # over the whole vector instead of the voltage part's own four operations
        sense = cat(sense, float)
        thermal = np.arange(len(self._lim)) >= n_volt
        self._div = np.where(thermal, 1.0, self._lim * sense)
        self._mul = np.where(thermal, 1.0, 100.0)
        self._kind_of, self._el_of = cat(kind_of, int).tolist(), cat(el_of, int).tolist()
        #: the binding label of each margin entry, made on first use
        self._label_at: list[str | None] = [None] * len(self._lim)
        self._nb = nv + nl + nt

    def __call__(self, y: np.ndarray, flex_q_kvar: np.ndarray | None = None,
                 flex_p_kw: np.ndarray | None = None) -> tuple[NetworkState, LimitCheck]:
        """The state of `y` (V, A) and its :class:`LimitCheck` (`flex_q_kvar` in kvar and
        `flex_p_kw` in kW: the check's fields of the same name)."""
        nv, nl = self._nv, self._nl
        b = np.empty(self._nb)
        b[:nv] = y[:nv]
        self.state_of.loadings(y, out=b[nv:])
        line, tx = b[nv:nv + nl], b[nv + nl:]
        v = y[:nv]
        state = fast_state(v, line, tx)
        if not len(self._gather):
            return state, self.checker(state, flex_q_kvar=flex_q_kvar, flex_p_kw=flex_p_kw)
        m = self._lim - b[self._gather]
        m /= self._div
        m *= self._mul
        i = int(m.argmin())
        best = m.item(i)
        if best != best:                                   # nan: LimitChecker's own rule
            return state, self.checker(state, flex_q_kvar=flex_q_kvar, flex_p_kw=flex_p_kw)
        binding = self._label_at[i]
        if binding is None:
            binding = self._label_at[i] = self.checker.label(self._kind_of[i], self._el_of[i])
        # the extremes by arg-reductions (the same values as min/max, nan included: both
        # give the first nan), which cost half of ``minimum.reduce``'s call each
        return state, fast_limit_check(
            best >= 0.0, binding, best, v.item(v.argmin()), v.item(v.argmax()),
            line.item(line.argmax()) if nl else 0.0, tx.item(tx.argmax()) if self._nt else 0.0,
            v, flex_q_kvar, flex_p_kw)


class QuantityState:
    """The :class:`NetworkState` of a monitored-quantity vector ``y`` (V, A) on a
    :class:`~oe_opt.model.sensitivity.QuantityLayout` with matrices.

    ``y`` holds the monitored voltages (in ``voltage_labels`` order) and the phase
    currents of every line and transformer winding (A); the state's line loading is the
    largest phase current over the line's rating, the transformer loading the largest over
    its windings and phases of the current over the winding's rated current (% , at least
    0), as :meth:`DssNetwork.read_state` computes them from the same currents.  The fast
    core's checks read the node voltages once and compute ``y`` once for both the verdict
    and the LP rows' headroom, instead of reading the state and the quantities apart.

    Parameters
    ----------
    layout : QuantityLayout
        ``kind`` ``voltage`` entries first (one per voltage label), then ``line`` and
        ``transformer`` entries with their element and the rating of their phase (A).
    line_names, transformer_names : list of str
        The state's element order.

    Raises
    ------
    ValueError
        If the layout is not of that form (an element without a monitored current, a
        current without a positive rating).  Layouts of engines without matrices (loadings
        in %) are not for this class.
    """

    def __init__(self, layout: "QuantityLayout", line_names: list[str],
                 transformer_names: list[str]):
        kind = np.asarray(layout.kind)
        nv = int(np.sum(kind == "voltage"))
        if not (kind[:nv] == "voltage").all() or (kind[nv:] == "voltage").any():
            raise ValueError("QuantityState: voltages must come first in the layout")
        rating = np.asarray(layout.rating_a[nv:], dtype=float)
        if not np.all(rating > 0):
            raise ValueError("QuantityState: every current entry needs a positive rating (A)")
        self.nv = nv
        groups = []
        for name_list, k in ((line_names, "line"), (transformer_names, "transformer")):
            pos: dict[str, list[int]] = {n: [] for n in name_list}
            for i, (kk, el) in enumerate(zip(kind[nv:], layout.element[nv:])):
                if kk == k:
                    if el not in pos:
                        raise ValueError(f"QuantityState: {k} {el} is not in the state")
                    pos[el].append(i)
            if any(not v for v in pos.values()):
                raise ValueError(f"QuantityState: a {k} has no monitored current")
            order = np.array([i for n in name_list for i in pos[n]], dtype=int)
            starts = np.cumsum([0] + [len(pos[n]) for n in name_list])[:-1].astype(int)
            groups.append((order, rating[order], starts))
        (line_order, line_rating, line_starts), (tx_order, tx_rating, tx_starts) = groups
        # every loading (lines, then transformers) from one gather of the currents
        self._order = np.concatenate([line_order, tx_order]).astype(np.intp)
        self._factor = np.concatenate([line_rating, tx_rating])
        self._starts = np.concatenate([line_starts, tx_starts + len(line_order)]).astype(np.intp)
        self._nl = len(line_names)
        # the currents as positions in y (one gather, no view of the currents first)
        self._cur = (self._order + nv).astype(np.intp)

    def loadings(self, y: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """The line loadings, then the transformer loadings (%, at least 0) of quantity
        vector `y` (V, A), into `out` (length lines + transformers) if given."""
        if out is None:
            out = np.empty(len(self._starts))
        if len(self._starts):
            z = y[self._cur] / self._factor          # (a new float array whatever y's dtype)
            z *= 100.0
            np.maximum.reduceat(z, self._starts, out=out)
        tx = out[self._nl:]
        np.maximum(tx, 0.0, out=tx)
        return out

    def __call__(self, y: np.ndarray) -> NetworkState:
        """The state of quantity vector `y` (V, A)."""
        b = self.loadings(y)
        return NetworkState(voltage_v=y[:self.nv], line_loading_pct=b[:self._nl],
                            transformer_loading_pct=b[self._nl:])


# ------------------------------------------------------------------ LP rows
@dataclass(frozen=True)
class LimitRows:
    """Limits on the monitored-quantity vector, one row per limit: ``sign * y[q] <= bound``.

    Attributes
    ----------
    q : ndarray of int
        Quantity index of each row.
    sign : ndarray
        +1 for an upper limit, -1 for a lower limit.
    bound : ndarray
        ``sign * limit`` (V or A).
    labels : list of str
        ``kind:element`` as in :class:`~oe_opt.model.limits.LimitCheck` (``v_max``,
        ``v_min``, ``line``, ``transformer``, ``mv_...``, ``vuf``).
    """

    q: np.ndarray
    sign: np.ndarray
    bound: np.ndarray
    labels: list[str]

    @property
    def n(self) -> int:
        return len(self.q)


def limit_rows(layout: QuantityLayout, limits: LimitSpec,
               mv_elements: dict[str, frozenset[str]] | None = None) -> LimitRows:
    """The limits of :data:`LIMIT_KINDS` as rows on the quantity vector.

    Every voltage gets an upper (``v_max_v``) and a lower (``v_min_v``) row;
    every line and transformer phase current an upper row at
    ``line_max_pct`` / ``transformer_max_pct`` of its rated current (the
    loading is the largest phase current, as in :func:`margins_pct`); with the
    optional limits on, every MV node voltage (``mv_voltage`` entries, pu) and
    every three-phase bus's unbalance (``vuf`` entries, %) a row.  Labels as
    :func:`evaluate_limits` (`mv_elements`: MV lines and transformers).
    """
    q, sign, bound, labels = [], [], [], []
    for k in LIMIT_KINDS:
        if not k.active(limits):
            continue
        idx = np.nonzero(layout.kind == k.quantity)[0]
        q.append(idx)
        sign.append(np.full(len(idx), k.sense))
        bound.append(k.bound(limits, layout.rating_a[idx]))
        labels += [k.label(layout.element[i], mv_elements) for i in idx]
    return LimitRows(np.concatenate(q), np.concatenate(sign), np.concatenate(bound), labels)


def headroom(rows: LimitRows, y: np.ndarray) -> np.ndarray:
    """Remaining room of every limit row (V or A; negative = violated)."""
    return rows.bound - rows.sign * y[rows.q]


def row_margin(a: np.ndarray, margin_kw: float) -> np.ndarray:
    """Margin kept from every limit row (V or A): the change if the variable with the
    largest effect on the row moved by `margin_kw` (kW)."""
    return margin_kw * np.abs(a).max(axis=1, initial=0.0)


def lp_rows(rows: LimitRows, lin: Linearisation, dy_dx: np.ndarray, x0: np.ndarray,
            margin_kw: float, extra: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Linearised limits ``A x <= b`` in envelope variables.

    Parameters
    ----------
    rows : LimitRows
    lin : Linearisation
        Quantities at the linearisation point.
    dy_dx : ndarray, shape (n_q, n_var)
        Change of each quantity per kW of each envelope variable.
    x0 : ndarray, shape (n_var,)
        Envelope variables at the linearisation point (kW).
    margin_kw : float
        Each row is tightened by ``margin_kw * max_i |A_ki|`` (the change if
        the variable with the largest effect on it moved by `margin_kw`), see
        :func:`row_margin`.
    extra : ndarray, optional
        Further tightening per row (V or A).

    Returns
    -------
    (A, b)
        ``b`` is clipped at 0: 0 kW is verified feasible, so the LP always has it.
    """
    a = rows.sign[:, None] * dy_dx[rows.q]
    b = headroom(rows, lin.y) + a @ x0 - row_margin(a, margin_kw)
    if extra is not None:
        b = b - extra
    return a, np.maximum(b, 0.0)
