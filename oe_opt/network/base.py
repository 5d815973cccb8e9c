"""The engine door: what the rest of oe_opt may ask of a power-flow engine.

Everything outside :mod:`oe_opt.network` talks to a network only through
:class:`NetworkEngine` (structural typing: any object with these names works;
:class:`~oe_opt.network.opendss.DssNetwork` is the OpenDSS implementation).

Required: the names of what is monitored, the injection setters, one snapshot
power flow and a reader of the monitored state (:class:`NetworkState`).

Optional capabilities return None when an engine does not provide them:

:meth:`NetworkEngine.matrices`
    :class:`NetworkMatrices` (node order, network admittance matrix, current
    maps, injection nodes, a reader of the solved node voltages).  With them
    :class:`~oe_opt.model.sensitivity.SensitivityModel` computes analytic
    sensitivities; without them the optimiser falls back to finite
    differences (perturbation power flows).
:meth:`NetworkEngine.topology`
    The supply path of every bus (the heuristic's downstream-customer rule).
:meth:`NetworkEngine.time_series`
    The network's own loadshapes as plain arrays
    (:class:`~oe_opt.inputs.timeseries.NetworkProfiles`).

Code that needs a capability the engine lacks raises
:class:`EngineCapabilityError` (a :class:`~oe_opt.errors.NetworkError`, so
callers that fall back on a :class:`~oe_opt.errors.NetworkError` keep doing so).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Protocol, runtime_checkable

import numpy as np
import scipy.sparse as sp

from oe_opt.errors import NetworkError

if TYPE_CHECKING:  # annotation only: inputs/ never imports the engine, the engine reads into inputs/
    from oe_opt.inputs.timeseries import NetworkProfiles


class RowProduct:
    """``M @ v`` for a fixed sparse matrix ``M`` without scipy's per-call overhead.

    The hot path multiplies the same small current map by new node voltages after
    every power flow; ``np.add.reduceat`` over the stored CSR entries does it in two
    numpy calls (scipy's ``@`` costs tens of µs of dispatch per call).  The same terms
    summed in the same order as the CSR product, but not always to its last bit: numpy's
    and scipy's complex products round differently (measured on the Test LV Circuit's
    current map: up to 3e-10 A apart on currents of up to 325 A summed from terms of up
    to 1.4e6 A).  Every quantity of a check comes from this product (one arithmetic for
    the verdict and the rows).
    """

    def __init__(self, m):
        m = sp.csr_matrix(m)
        m.sort_indices()
        counts = np.diff(m.indptr)
        self.shape = m.shape
        self._data, self._idx = m.data, m.indices
        self._rows = np.nonzero(counts > 0)[0]
        self._starts = m.indptr[:-1][self._rows]
        self._dense_rows = len(self._rows) == m.shape[0]

    def __call__(self, v: np.ndarray) -> np.ndarray:
        if not len(self._rows):
            return np.zeros(self.shape[0], dtype=np.result_type(self._data, v))
        # ndarray.take: the same gather as v[idx] in two thirds of the time (hundreds of
        # entries); data * v, not v * data: complex products are not symmetric to the bit
        s = np.add.reduceat(self._data * v.take(self._idx), self._starts)
        if self._dense_rows:
            return s
        out = np.zeros(self.shape[0], dtype=s.dtype)
        out[self._rows] = s
        return out

    def into(self, v: np.ndarray, out: np.ndarray) -> None:
        """``out[:] = M @ v`` (the same sums as :meth:`__call__`), without a new array where
        every row has entries (`out`: length ``shape[0]``, of the product's dtype)."""
        if self._dense_rows and len(self._rows):
            np.add.reduceat(self._data * v.take(self._idx), self._starts, out=out)
        else:
            out[...] = self(v)


class EngineCapabilityError(NetworkError):
    """The engine does not provide an optional capability (matrices, topology, loadshapes)."""


@dataclass(frozen=True)
class NetworkState:
    """The monitored quantities of one solved power flow.

    Attributes
    ----------
    voltage_v : ndarray
        Voltage magnitude (V, line to ground) at every monitored customer node.
    line_loading_pct : ndarray
        Largest phase current of each line as a percentage of its rating.
    transformer_loading_pct : ndarray
        Largest phase current of each transformer winding relative to the
        winding's rated current kVA/(sqrt(3)·kV) (three-phase) or kVA/kV
        (single-phase), in percent, maximum over windings.
    """

    voltage_v: np.ndarray
    line_loading_pct: np.ndarray
    transformer_loading_pct: np.ndarray
    #: voltage magnitude (pu of the bus's kV base) of every MV node
    #: (``DssNetwork.mv_node_names``); empty unless read with ``mv=True``
    mv_voltage_pu: np.ndarray = field(default_factory=lambda: np.zeros(0))
    #: voltage unbalance factor |V2|/|V1| (%) of every three-phase bus
    #: (``DssNetwork.three_phase_buses``); empty unless read with ``vuf=True``
    vuf_pct: np.ndarray = field(default_factory=lambda: np.zeros(0))


@dataclass(frozen=True)
class NetworkMatrices:
    """The linear network model around the engine's solved states.

    All node positions are 0-based positions in :attr:`node_order`.

    Attributes
    ----------
    node_order : list of str
        Node names (``bus.node``, lowercase) in the order of the matrices.
    y_network : scipy.sparse.csc_matrix, shape (n, n)
        Network admittance matrix (S): lines, transformers and the other
        power-delivery elements, plus the sources' Norton admittances; loads,
        PV systems and other power-conversion elements are left out.
    source_nodes : ndarray of int
        Nodes of the sources' terminals (the Norton admittances of
        `y_network` sit there).
    voltage_nodes : ndarray of int
        Node of each monitored voltage, in ``NetworkEngine.voltage_labels`` order.
    current_map : scipy.sparse.csr_matrix, shape (n_currents, n)
        Complex map from node voltages (V) to each monitored phase current (A):
        the phase conductors at terminal 1 of every line, then those of every
        transformer winding.
    current_kind : ndarray of str
        ``line`` or ``transformer`` per row of `current_map`.
    current_element : list of str
        Line or transformer name per row of `current_map`.
    current_rating_a : ndarray
        Rated current (A) per row of `current_map` (line rating, transformer
        winding rated current).
    injection_names : list of str
        Every power-conversion element (loads, PV systems, ...; not sources).
    injection_nodes : list of ndarray of int
        Per injection, the node of each terminal conductor (-1: ground), as
        the engine connects it; a grounded-wye element has its phase nodes
        followed by -1.
    load_nodes : list of ndarray of int
        Per load, in ``NetworkEngine.load_names`` order, the node of each
        terminal conductor (-1: ground): the flexible-customer node map.
    load_model : ndarray of int
        Per load, the OpenDSS load-model code (1: constant power).
    node_voltages : callable
        ``node_voltages()`` gives the complex node voltages (V) of the last
        solved power flow, in :attr:`node_order`.
    """

    node_order: list[str]
    y_network: sp.csc_matrix
    source_nodes: np.ndarray
    voltage_nodes: np.ndarray
    current_map: sp.csr_matrix
    current_kind: np.ndarray
    current_element: list[str]
    current_rating_a: np.ndarray
    injection_names: list[str]
    injection_nodes: list[np.ndarray]
    load_nodes: list[np.ndarray]
    load_model: np.ndarray
    node_voltages: Callable[[], np.ndarray]

    @property
    def n_nodes(self) -> int:
        return len(self.node_order)


@runtime_checkable
class NetworkEngine(Protocol):
    """A compiled network that sets injections, solves and reports what is monitored.

    Attributes
    ----------
    master : Path
        The network's source file (for messages).
    load_names : list of str
        Every load (customer), lowercase; injections address loads by position here.
    load_bus : list of str
        Each load's bus (``bus.nodes``).
    voltage_labels : list of str
        The load of each monitored voltage (``NetworkState.voltage_v`` order).
    line_names, transformer_names : list of str
        Monitored lines and transformers (``NetworkState`` order).
    line_rating_a : ndarray
        Rated current (A) of each line.
    pv_customers : list of str
        Customers with a PV system set through :meth:`set_pv_output`.
    n_powerflows : int
        Power flows solved so far.
    """

    master: Path
    load_names: list[str]
    load_bus: list[str]
    voltage_labels: list[str]
    line_names: list[str]
    transformer_names: list[str]
    line_rating_a: np.ndarray
    pv_customers: list[str]
    n_powerflows: int

    def load_index(self, names: list[str] | tuple[str, ...], what: str = "customer") -> np.ndarray:
        """0-based positions of `names` in :attr:`load_names` (NetworkError naming unknown ones)."""

    def set_loads(self, idx: np.ndarray, p_kw: np.ndarray, q_kvar: np.ndarray | None = None) -> None:
        """Set kW (consumption positive) and kvar of the loads at positions `idx`."""

    def set_pv_output(self, fraction: np.ndarray) -> None:
        """Set each PV customer's output as a fraction of its rating (0–1)."""

    def set_pv_irradiance(self, pv_idx: np.ndarray, irradiance: np.ndarray) -> None:
        """Set the irradiance of the network's own PV systems at positions `pv_idx`."""

    def set_source_pu(self, pu: float) -> None:
        """Set the source voltage (pu)."""

    def solve(self) -> None:
        """Run one snapshot power flow (PowerFlowError if it fails)."""

    def read_state(self) -> NetworkState:
        """The monitored quantities of the last solved power flow."""

    def reset_solution(self) -> None:
        """Make the next power flow independent of the earlier ones."""

    def matrices(self) -> NetworkMatrices | None:
        """The linear network model (after a solve), or None if the engine has none."""

    def topology(self) -> dict[str, list[str]] | None:
        """Bus (lowercase, no nodes) to the elements (``line.<name>``, ``transformer.<name>``)
        on its path from the source, source side first; None if the engine has none."""

    def time_series(self) -> "NetworkProfiles | None":
        """The network's loadshapes as compiled, or None if the engine has none."""


def mv_elements(net) -> dict[str, frozenset[str]]:
    """The engine's MV lines and transformers (labelled ``mv_line:`` / ``mv_transformer:``), by
    kind; none for an engine that does not tell them apart (its optional ``mv_line_names`` and
    ``mv_transformer_names``)."""
    return {"line": frozenset(getattr(net, "mv_line_names", ())),
            "transformer": frozenset(getattr(net, "mv_transformer_names", ()))}
