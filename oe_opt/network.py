"""OpenDSS network adapter.

Compiles a network once, then sets customer injections and reads the state
(customer voltages, line and transformer loadings) with bulk dss-python calls.
Nothing outside this module talks to OpenDSS for power flows, except the
sensitivity module, which reads the Y matrix through :attr:`DssNetwork.dss`.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import NetworkError, PowerFlowError


@dataclass(frozen=True)
class NetworkState:
    """The monitored quantities of one solved power flow.

    Attributes
    ----------
    voltage_v : ndarray
        Voltage magnitude (V, line to ground) at every monitored customer node.
    line_loading_pct : ndarray
        Largest phase current of each line as a percentage of its NormAmps.
    transformer_loading_pct : ndarray
        Largest phase current of each transformer winding relative to the
        winding's rated current kVA/(sqrt(3)·kV) (three-phase) or kVA/kV
        (single-phase), in percent, maximum over windings.
    """

    voltage_v: np.ndarray
    line_loading_pct: np.ndarray
    transformer_loading_pct: np.ndarray


def _default_engine():
    import dss

    return dss.DSS


class DssNetwork:
    """A compiled OpenDSS circuit with fast injection setters and state readers.

    Parameters
    ----------
    master : str or Path
        The OpenDSS master file.
    pv_kw : dict, optional
        PV size (kW, also its inverter kVA) by customer (load) name.  A
        PVSystem named ``pv_<load>`` is added at the customer's bus for each.
    voltage_bases_kv : sequence of float, optional
        If given, ``Set VoltageBases`` and ``CalcVoltageBases`` are run after
        compiling (line-to-line kV).
    engine : dss.IDSS, optional
        The OpenDSS engine (context) to use; the process's default engine if
        omitted.  Use ``dss.DSS.NewContext()`` for a second circuit in one process.
    """

    def __init__(self, master: str | Path, *, pv_kw: dict[str, float] | None = None,
                 voltage_bases_kv: tuple[float, ...] | None = None, engine=None):
        self.master = Path(master).resolve()
        if not self.master.is_file():
            raise NetworkError(f"OpenDSS master file not found: {self.master}")
        self.dss = engine if engine is not None else _default_engine()
        self.dss.AllowForms = False
        self.n_powerflows = 0
        cwd = os.getcwd()
        try:
            self._command("Clear")
            self._command(f'Compile "{self.master}"')
            if voltage_bases_kv:
                bases = ", ".join(f"{b:g}" for b in voltage_bases_kv)
                self._command(f"Set VoltageBases=[{bases}]")
                self._command("CalcVoltageBases")
        finally:
            os.chdir(cwd)
        self.circuit = self.dss.ActiveCircuit
        if self.circuit is None or self.circuit.NumNodes == 0:
            raise NetworkError(f"{self.master}: compiling gave no circuit")
        self._index_loads()
        self._add_pv(pv_kw or {})
        self._index_monitors()
        self._index_pd_elements()
        vs = self.circuit.Vsources
        self._has_source = vs.Count > 0
        self.source_pu_nominal = vs.pu if vs.First else 1.0

    # ------------------------------------------------------------------ set-up
    def _command(self, cmd: str) -> str:
        try:
            self.dss.Text.Command = cmd
        except Exception as exc:  # dss raises DSSException
            raise NetworkError(f"{self.master}: OpenDSS rejected '{cmd}': {exc}") from exc
        return self.dss.Text.Result

    def _index_loads(self) -> None:
        loads = self.circuit.Loads
        self.load_names: list[str] = [n.lower() for n in loads.AllNames] if loads.Count else []
        if not self.load_names:
            raise NetworkError(f"{self.master}: the circuit has no loads (customers)")
        self._load_pos = {n: i for i, n in enumerate(self.load_names)}
        self.load_bus: list[str] = []
        self.load_nodes: list[list[int]] = []
        self.load_kv: list[float] = []
        self.load_phases: list[int] = []
        elem = self.circuit.ActiveCktElement
        for i in range(len(self.load_names)):
            loads.idx = i + 1
            bus_full = elem.BusNames[0].lower()
            nph = int(elem.NumPhases)
            order = [int(n) for n in elem.NodeOrder[: elem.NumConductors]]
            nodes = [n for n in order if n != 0][:nph] or list(range(1, nph + 1))
            self.load_bus.append(bus_full)
            self.load_nodes.append(nodes)
            self.load_kv.append(float(loads.kV))
            self.load_phases.append(nph)

    def load_index(self, names: list[str] | tuple[str, ...], what: str = "customer") -> np.ndarray:
        """Positions of `names` in :attr:`load_names` (0-based).

        Raises
        ------
        NetworkError
            Naming every unknown load.
        """
        unknown = [n for n in names if n.lower() not in self._load_pos]
        if unknown:
            raise NetworkError(f"{self.master}: unknown {what}(s) {', '.join(unknown)}; the circuit's "
                               f"loads are {', '.join(self.load_names[:5])}"
                               f"{', ...' if len(self.load_names) > 5 else ''}")
        return np.array([self._load_pos[n.lower()] for n in names], dtype=int)

    def _add_pv(self, pv_kw: dict[str, float]) -> None:
        self.pv_customers = list(pv_kw)
        self.pv_kw_rated = np.array([float(pv_kw[n]) for n in self.pv_customers])
        idx = self.load_index(self.pv_customers, "customer with DER") if pv_kw else []
        for name, i in zip(self.pv_customers, idx):
            kva = pv_kw[name]
            self._command(
                f"New PVSystem.pv_{name} phases={self.load_phases[i]} bus1={self.load_bus[i]} "
                f"kv={self.load_kv[i]:g} kva={kva:g} pmpp={kva:g} irradiance=0 pf=1 "
                f"%cutin=0.05 %cutout=0.05 vmaxpu=1.5 vminpu=0.5")
        pvs = self.circuit.PVSystems
        all_pv = [n.lower() for n in pvs.AllNames] if pvs.Count else []
        self._pv_idx = [all_pv.index(f"pv_{n}") + 1 for n in self.pv_customers]

    def _index_monitors(self) -> None:
        node_names = [n.lower() for n in self.circuit.AllNodeNames]
        pos = {n: i for i, n in enumerate(node_names)}
        idx, labels = [], []
        for name, bus, nodes in zip(self.load_names, self.load_bus, self.load_nodes):
            base = bus.split(".")[0]
            for node in nodes:
                key = f"{base}.{node}"
                if key not in pos:
                    raise NetworkError(f"{self.master}: node {key} of load {name} not found")
                idx.append(pos[key])
                labels.append(name)
        self.voltage_node_idx = np.array(idx, dtype=int)
        #: customer (load) name of each monitored voltage
        self.voltage_labels: list[str] = labels
        self.node_names = node_names

    def _index_pd_elements(self) -> None:
        pd = self.circuit.PDElements
        names = [n.lower() for n in pd.AllNames]
        ncond = np.asarray(pd.AllNumConductors, dtype=int)
        nterm = np.asarray(pd.AllNumTerminals, dtype=int)
        nph = np.asarray(pd.AllNumPhases, dtype=int)
        offset = np.concatenate([[0], np.cumsum(ncond * nterm)[:-1]])
        self._n_currents = int((ncond * nterm).sum())
        pad = self._n_currents  # points at an appended zero
        # lines: phase conductors at terminal 1 against NormAmps
        lines = self.circuit.Lines
        rating = {}
        if lines.Count:
            lines.First
            while True:
                rating[f"line.{lines.Name.lower()}"] = float(lines.NormAmps)
                if not lines.Next:
                    break
        line_rows, line_names, line_rating = [], [], []
        tx_rows, tx_names, tx_rating, tx_owner = [], [], [], []
        txs = self.circuit.Transformers
        for e, name in enumerate(names):
            if name.startswith("line."):
                line_rows.append([offset[e] + k for k in range(nph[e])])
                line_names.append(name.split(".", 1)[1])
                line_rating.append(rating.get(name, math.nan))
            elif name.startswith("transformer."):
                txs.Name = name.split(".", 1)[1]
                for w in range(1, nterm[e] + 1):
                    txs.Wdg = w
                    kva, kv = float(txs.kVA), float(txs.kV)
                    i_rated = kva / (math.sqrt(3) * kv) if nph[e] == 3 else kva / kv
                    tx_rows.append([offset[e] + (w - 1) * ncond[e] + k for k in range(nph[e])])
                    tx_rating.append(i_rated)
                    tx_owner.append(len(tx_names))
                tx_names.append(name.split(".", 1)[1])
        self.line_names: list[str] = line_names
        self.line_rating_a = np.array(line_rating, dtype=float)
        bad = [n for n, r in zip(line_names, self.line_rating_a) if not (r > 0)]
        if bad:
            raise NetworkError(f"{self.master}: line(s) {', '.join(bad[:5])} have no positive NormAmps")
        self.transformer_names: list[str] = tx_names
        self._line_gather = self._pad(line_rows, pad)
        self._tx_gather = self._pad(tx_rows, pad)
        self._tx_winding_rating_a = np.array(tx_rating, dtype=float)
        self._tx_owner = np.array(tx_owner, dtype=int)

    @staticmethod
    def _pad(rows: list[list[int]], pad: int) -> np.ndarray:
        width = max((len(r) for r in rows), default=1)
        out = np.full((len(rows), width), pad, dtype=int)
        for i, r in enumerate(rows):
            out[i, : len(r)] = r
        return out

    # ------------------------------------------------------------- injections
    def set_loads(self, idx: np.ndarray, p_kw: np.ndarray, q_kvar: np.ndarray | None = None) -> None:
        """Set active (kW) and reactive (kvar) power of the loads at positions `idx`.

        Positive kW is consumption (import), negative is export.  If `q_kvar`
        is None only kW is set.
        """
        loads = self.circuit.Loads
        p = np.asarray(p_kw, dtype=float)
        if q_kvar is None:
            for i, pk in zip(idx, p):
                loads.idx = int(i) + 1
                loads.kW = float(pk)
        else:
            q = np.asarray(q_kvar, dtype=float)
            for i, pk, qk in zip(idx, p, q):
                loads.idx = int(i) + 1
                loads.kW = float(pk)
                loads.kvar = float(qk)

    def set_pv_output(self, fraction: np.ndarray) -> None:
        """Set each DER customer's PV output as a fraction of its rating (irradiance, 0–1)."""
        pvs = self.circuit.PVSystems
        for k, g in zip(self._pv_idx, np.asarray(fraction, dtype=float)):
            pvs.idx = k
            pvs.Irradiance = float(g)

    def set_source_pu(self, pu: float) -> None:
        """Set the source (Vsource) voltage in per unit."""
        vs = self.circuit.Vsources
        if not vs.First:
            raise NetworkError(f"{self.master}: no Vsource to set")
        vs.pu = float(pu)

    # ------------------------------------------------------------ power flow
    def solve(self) -> None:
        """Run one snapshot power flow.

        Raises
        ------
        PowerFlowError
            If OpenDSS reports an error or the solution did not converge.
        """
        self.n_powerflows += 1
        sol = self.circuit.Solution
        try:
            sol.Solve()
        except Exception as exc:
            raise PowerFlowError(f"{self.master}: power flow failed: {exc}") from exc
        if not sol.Converged:
            raise PowerFlowError(f"{self.master}: power flow did not converge "
                                 f"({sol.Iterations} iterations)")

    def node_vmag_v(self) -> np.ndarray:
        """Voltage magnitude (V) of every node, in :attr:`node_names` order."""
        return np.asarray(self.circuit.AllBusVmag, dtype=float)

    def _current_mags(self) -> np.ndarray:
        ma = np.asarray(self.circuit.PDElements.AllCurrentsMagAng, dtype=float)
        out = np.empty(self._n_currents + 1)
        out[:-1] = ma[0::2]
        out[-1] = 0.0
        return out

    def line_currents_a(self, mags: np.ndarray | None = None) -> np.ndarray:
        """Largest phase-current magnitude (A) at terminal 1 of every line."""
        m = self._current_mags() if mags is None else mags
        return m[self._line_gather].max(axis=1) if len(self._line_gather) else np.zeros(0)

    def transformer_loading_pct(self, mags: np.ndarray | None = None) -> np.ndarray:
        """Loading (%) of every transformer, largest over its windings and phases."""
        if not len(self._tx_gather):
            return np.zeros(0)
        m = self._current_mags() if mags is None else mags
        per_winding = m[self._tx_gather].max(axis=1) / self._tx_winding_rating_a * 100.0
        out = np.zeros(len(self.transformer_names))
        np.maximum.at(out, self._tx_owner, per_winding)
        return out

    def read_state(self) -> NetworkState:
        """The monitored quantities of the last solved power flow."""
        mags = self._current_mags()
        return NetworkState(
            voltage_v=self.node_vmag_v()[self.voltage_node_idx],
            line_loading_pct=self.line_currents_a(mags) / self.line_rating_a * 100.0,
            transformer_loading_pct=self.transformer_loading_pct(mags),
        )
