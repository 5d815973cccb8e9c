"""Per-customer power-flow baseline: the Ideal OE "maximum allocation" heuristic.

The University of Melbourne's Ideal OE notebook (Team-Nando/OE1-Ideal,
section 2 "Maximum Allocation", functions ``ideal_oe_max_exp_algorithm`` and
``ideal_oe_max_imp_algorithm``) computes per-customer envelopes with full
power flows only:

1. every flexible (active) customer starts at its cap (DER size for exports,
   import limit for imports);
2. run a power flow;
3. if a line or the transformer is overloaded, reduce the envelopes by a
   fixed step (0.5 kW) and go back to 2;
4. else, if a customer voltage is out of limits, reduce the envelope of the
   *most affected* active customer (highest voltage for exports, lowest for
   imports) that still has a non-zero envelope by the step, and go back to 2;
5. otherwise the envelopes are found.  Envelopes never go below 0 kW.

This module implements that loop (:func:`max_allocation_search`) as the
method ``heuristic`` with these documented choices:

* **Thermal step — downstream customers.**  The notebook reduces *every*
  active customer on any thermal violation.  Here only the active customers
  supplied through an overloaded line or transformer are reduced (for the
  transformer, or a feeder-head line feeding every active customer, that is
  the same thing).  If none of them still has a non-zero envelope, all are
  reduced, as in the notebook.  ``thermal_rule="all"`` gives the notebook's rule.
* **Voltage step.**  ``voltage_rule="most_affected"`` (default) is the
  notebook's rule.  ``voltage_rule="violated"`` reduces every active customer
  whose own voltage is out of limits (falling back to the most affected one
  when only passive customers see the violation).  The notebook's import
  function ranks customers by their *highest* voltage; the lowest (the
  customer furthest below the lower limit) is used here, as its text says.
* A voltage violation that reducing the direction's flow cannot relieve (an
  over-voltage while importing, an under-voltage while exporting) and a power
  flow that does not converge are treated like a thermal violation of the
  whole network: every active customer is reduced.
* **0 kW first.**  As the other methods do, the all-zero point is checked
  first (one power flow): if it breaks a limit the period is infeasible and
  reported with that constraint.  This also guarantees the loop ends (at
  worst at all-zero, which is then known to be feasible).
* Every power flow, including the 0-kW check, is counted.

Topology (which customers are supplied through which line or transformer) is
the engine's (:meth:`~oe_opt.network.base.NetworkEngine.topology`; for
OpenDSS a breadth-first walk from the source bus over the power-delivery
elements), see :func:`supply_matrices`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from oe_opt.inputs.case import DayCase
from oe_opt.errors import NetworkError
from oe_opt.methods.evaluator import PowerFlowEvaluator
from oe_opt.model.limits import LimitCheck, margins_pct
from oe_opt.methods.registry import Solve, register
from oe_opt.network.base import EngineCapabilityError, NetworkEngine
from oe_opt.methods.result import AT_CAP, FEASIBLE, INFEASIBLE, SearchResult
from oe_opt.problem import EnvelopeProblem

#: reduction step of the Ideal OE notebook (kW)
HEURISTIC_STEP_KW = 0.5
VOLTAGE_RULES = ("most_affected", "violated")
THERMAL_RULES = ("downstream", "all")


# ---------------------------------------------------------------- topology
def _bus(name: str) -> str:
    return name.split(".", 1)[0].lower()


def supply_paths(net: NetworkEngine) -> dict[str, list[str]]:
    """The power-delivery elements between the source and every bus
    (:meth:`NetworkEngine.topology`; for OpenDSS a breadth-first walk from the source).

    Returns
    -------
    dict
        Bus name (lowercase, without nodes) to the list of elements on its
        path from the source, as ``"line.<name>"`` / ``"transformer.<name>"``,
        source side first.

    Raises
    ------
    EngineCapabilityError
        If the engine provides no topology.
    NetworkError
        If the circuit has no voltage source.
    """
    paths = net.topology()
    if paths is None:
        raise EngineCapabilityError(f"{net.master}: the network engine provides no topology "
                                    f"(supply paths); use thermal_rule=\"all\"")
    return paths


def supply_matrices(net: NetworkEngine, customers: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Which customers each line and transformer supplies.

    Parameters
    ----------
    net : NetworkEngine
    customers : list of str
        Customer (load) names.

    Returns
    -------
    (line_supplies, transformer_supplies) : tuple of bool ndarray
        Shapes ``(len(net.line_names), len(customers))`` and
        ``(len(net.transformer_names), len(customers))``: True where the
        customer is downstream of (supplied through) the element.

    Raises
    ------
    NetworkError
        If a customer's bus is not connected to the source.
    """
    paths = supply_paths(net)
    line_pos = {f"line.{n}": i for i, n in enumerate(net.line_names)}
    tx_pos = {f"transformer.{n}": i for i, n in enumerate(net.transformer_names)}
    lines = np.zeros((len(net.line_names), len(customers)), dtype=bool)
    txs = np.zeros((len(net.transformer_names), len(customers)), dtype=bool)
    buses = [net.load_bus[i] for i in net.load_index(customers)]
    for j, (name, bus) in enumerate(zip(customers, buses)):
        path = paths.get(_bus(bus))
        if path is None:
            raise NetworkError(f"{net.master}: customer {name} (bus {bus}) is not connected "
                               f"to the source")
        for e in path:
            if e in line_pos:
                lines[line_pos[e], j] = True
            elif e in tx_pos:
                txs[tx_pos[e], j] = True
    return lines, txs


# ------------------------------------------------------------ one iteration
@dataclass(frozen=True)
class Network:
    """What the reduction rule needs to know about the network.

    Attributes
    ----------
    line_supplies, transformer_supplies : bool ndarray
        From :func:`supply_matrices` for the flexible customers.
    flex_nodes : list of int ndarray
        Positions, in the monitored-voltage vector, of each flexible
        customer's nodes.
    """

    line_supplies: np.ndarray
    transformer_supplies: np.ndarray
    flex_nodes: list[np.ndarray]


def customer_voltages(voltage_v: np.ndarray, flex_nodes: list[np.ndarray], direction: str) -> np.ndarray:
    """Each flexible customer's voltage (V): its highest node voltage for exports, lowest for imports."""
    pick = np.max if direction == "export" else np.min
    return np.array([pick(voltage_v[n]) for n in flex_nodes])


def to_reduce(margins: dict[str, np.ndarray] | None, oe_kw: np.ndarray, direction: str, net: Network,
              voltage_rule: str = "most_affected", thermal_rule: str = "downstream",
              voltage_v: np.ndarray | None = None) -> np.ndarray:
    """The customers whose envelope the heuristic reduces after one power flow.

    Parameters
    ----------
    margins : dict or None
        :func:`~oe_opt.model.limits.margins_pct` of the state (None if the power
        flow did not converge).
    oe_kw : ndarray
        Current envelopes (kW).
    direction : str
        ``export`` or ``import``.
    net : Network
    voltage_rule, thermal_rule : str
        See the module docstring.
    voltage_v : ndarray, optional
        Monitored voltages (V) of the state (needed for voltage violations).

    Returns
    -------
    bool ndarray
        True for every customer to reduce by one step; all False when every
        limit holds.  Only customers with a non-zero envelope are selected,
        unless every envelope is already 0.
    """
    live = oe_kw > 1e-9
    everyone = live if live.any() else np.ones_like(live)
    if margins is None:
        return everyone
    over_l = margins["line"] < 0
    over_t = margins["transformer"] < 0
    if over_l.any() or over_t.any():
        if thermal_rule == "all":
            return everyone
        sel = net.line_supplies[over_l].any(axis=0) | net.transformer_supplies[over_t].any(axis=0)
        sel &= live
        return sel if sel.any() else everyone
    relevant = "v_max" if direction == "export" else "v_min"
    other = "v_min" if direction == "export" else "v_max"
    if (margins[other] < 0).any():
        return everyone
    # the optional limits (MV voltages, unbalance): no rule of its own, everyone reduces
    if any((m < 0).any() for kind, m in margins.items()
           if kind not in ("v_max", "v_min", "line", "transformer")):
        return everyone
    if not (margins[relevant] < 0).any():
        return np.zeros_like(live)
    if voltage_rule == "violated":
        own = np.array([(margins[relevant][n] < 0).any() for n in net.flex_nodes]) & live
        if own.any():
            return own
    v = customer_voltages(voltage_v, net.flex_nodes, direction)
    score = np.where(live, v if direction == "export" else -v, -np.inf)
    if not live.any():
        return everyone
    sel = np.zeros_like(live)
    sel[int(np.argmax(score))] = True
    return sel


# ----------------------------------------------------------------- the loop
def max_allocation_search(ev: PowerFlowEvaluator, direction: str, caps_kw: np.ndarray, net: Network,
                          step_kw: float = HEURISTIC_STEP_KW, voltage_rule: str = "most_affected",
                          thermal_rule: str = "downstream", max_iter: int = 100_000,
                          checker=None) -> SearchResult:
    """Per-customer envelopes of the evaluator's current period by the maximum-allocation heuristic.

    Parameters
    ----------
    ev : PowerFlowEvaluator
        With the period set (:meth:`~oe_opt.methods.evaluator.PowerFlowEvaluator.set_period`).
    direction : str
        ``export`` or ``import``.
    caps_kw : ndarray
        Per-customer caps (kW), in the evaluator's flexible-customer order.
    net : Network
    step_kw : float
        Reduction step (kW), 0.5 in the notebook.
    voltage_rule, thermal_rule : str
        See the module docstring.
    max_iter : int
        Safety bound on the number of reductions.
    checker : CornerChecker, optional
        For ``any_use`` envelopes (:mod:`oe_opt.methods.any_use`): a point
        holds only if its worst corners hold too; a violated corner is
        reduced by the same rule, among the customers at their OE in it.

    Returns
    -------
    SearchResult
        ``oe_kw`` an array (NaN everywhere if infeasible); each value is its
        cap minus a whole number of steps, or 0.  ``binding`` is the
        constraint violated at the last rejected point (``cap`` if the caps
        hold).  ``extra["reductions"]`` counts the reduction iterations.
    """
    if voltage_rule not in VOLTAGE_RULES:
        raise ValueError(f"voltage_rule must be one of {VOLTAGE_RULES}, got {voltage_rule!r}")
    if thermal_rule not in THERMAL_RULES:
        raise ValueError(f"thermal_rule must be one of {THERMAL_RULES}, got {thermal_rule!r}")
    caps = np.asarray(caps_kw, dtype=float)
    start = ev.n_powerflows
    nc0 = checker.n_corner_checks if checker is not None else 0
    c0 = ev.check_direction(direction, np.zeros_like(caps))
    if not c0.ok:
        return SearchResult(np.full_like(caps, np.nan), INFEASIBLE, c0.binding, c0,
                            ev.n_powerflows - start)
    k = np.zeros(caps.shape, dtype=int)  # steps taken by each customer
    last_fail: LimitCheck | None = None
    for it in range(max_iter):
        oe = np.maximum(caps - k * step_kw, 0.0)
        at = oe                       # the point whose state decides the reduction
        n_corners = 0
        if np.all(oe == 0) and it > 0:
            check = c0  # the all-zero point: feasible, checked first
            state = None
        elif checker is None:
            check = ev.check_direction(direction, oe)
            state = ev.last_state if check.converged else None
        else:
            pc = checker.check(ev, direction, oe, "any_use", linearise_failed=False)
            check, state = pc.check, pc.full_state if pc.full.converged else None
            n_corners = len(pc.corners)
            bad = pc.failed_corner
            if pc.full.ok and bad is not None:
                mask, _, _, state = pc.corners[bad]
                at = np.where(mask, oe, 0.0)
        if check.ok:
            extra = {"reductions": it}
            if checker is not None:
                extra.update(holds_for="any_use", n_corners=n_corners,
                             n_corner_checks=checker.n_corner_checks - nc0)
                if check is not c0:
                    from oe_opt.methods.any_use import merge_checks

                    check = merge_checks([c0, check])
            if last_fail is None:
                return SearchResult(oe, AT_CAP, "cap", check, ev.n_powerflows - start, extra=extra)
            return SearchResult(oe, FEASIBLE, last_fail.binding, check, ev.n_powerflows - start,
                                extra=extra)
        last_fail = check
        margins = margins_pct(state, ev.limits) if state is not None else None
        sel = to_reduce(margins, at, direction, net, voltage_rule, thermal_rule,
                        state.voltage_v if state is not None else None)
        k = k + sel.astype(int)
    raise RuntimeError(f"heuristic did not finish in {max_iter} reductions")  # pragma: no cover


def network_for(net: NetworkEngine, customers: list[str]) -> Network:
    """The :class:`Network` view of `net` for the flexible `customers`."""
    lines, txs = supply_matrices(net, customers)
    labels = np.asarray(net.voltage_labels)
    nodes = [np.flatnonzero(labels == c) for c in customers]
    missing = [c for c, n in zip(customers, nodes) if not len(n)]
    if missing:
        raise NetworkError(f"{net.master}: no monitored voltage for {', '.join(missing)}")
    return Network(lines, txs, nodes)


@register("heuristic")
def _heuristic(problem: EnvelopeProblem, net: NetworkEngine, case: DayCase) -> Solve:
    view = network_for(net, list(case.flex_names))
    checker = None
    if problem.holds_for == "any_use":
        from oe_opt.methods.any_use import checker_for

        checker = checker_for(net, case, problem.limits)

    def solve(ev: PowerFlowEvaluator, direction: str) -> SearchResult:
        return max_allocation_search(ev, direction, problem.customer_caps_kw(direction), view,
                                     checker=checker)

    return solve
