"""OpenDSS network adapter: the OpenDSS implementation of :class:`~oe_opt.network.base.NetworkEngine`.

Compiles a network once, then sets customer injections and reads the state
(customer voltages, line and transformer loadings) with bulk dss-python calls.
The optional capabilities are read by sibling modules: the linear network
model by :mod:`~oe_opt.network.opendss_matrices`, supply paths by
:mod:`~oe_opt.network.opendss_topology` and loadshapes by
:mod:`~oe_opt.network.opendss_loadshapes`.  Nothing outside
:mod:`oe_opt.network` talks to OpenDSS.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from functools import cached_property
from pathlib import Path

import numpy as np

from oe_opt.errors import NetworkError, PowerFlowError
from oe_opt.inputs.timeseries import NetworkProfiles
from oe_opt.network import opendss_loadshapes, opendss_matrices, opendss_topology
from oe_opt.network.base import NetworkMatrices, NetworkState, RowProduct


#: power-flow convergence tolerance (per unit voltage change between iterations)
SOLUTION_TOLERANCE_PU = 1e-8


#: InvControl convergence tolerances set after compiling (OpenDSS defaults: 1e-4 pu voltage,
#: 0.025 pu var, 0.01 pu active power).  A control loop stops once its changes are below these,
#: so with the defaults the state it ends in depends on where it started (up to ~3 mV on a
#: volt-var LV network); at these values every check ends at the same control state
#: whatever was solved before (within ~1e-5 V).  They stay above the power flow's own
#: rounding (:data:`SOLUTION_TOLERANCE_PU`, times the curves' slope for the vars): at 1e-10 pu
#: voltage / 1e-8 pu var the loop could stop only when that rounding happened to be small, and
#: on the 114-customer InvControl network (``oe_opt.io.importers.invcontrol_lv``) some checks
#: ended in "Max Control Iterations Exceeded", a verdict that depended on the previous solves.
INVCONTROL_TOLERANCES = {"VoltageChangeTolerance": 1e-7, "VarChangeTolerance": 1e-7,
                         "ActivePChangeTolerance": 1e-7}
#: the least control iterations per power flow allowed with tightened InvControls
MIN_CONTROL_ITERATIONS = 1000
#: a bus (node) is MV when its line-to-line kV base exceeds this (kV)
MV_KV_MIN = 1.0

#: the sequence operator a = 1∠120°
_A = complex(-0.5, math.sqrt(3) / 2)


def vuf_pct(v_abc: np.ndarray) -> np.ndarray:
    """Voltage unbalance factor |V2| / |V1| (%) of phase voltages.

    Parameters
    ----------
    v_abc : ndarray of complex, shape (n, 3)
        Phase-to-ground voltages (V) of phases a, b, c (nodes 1, 2, 3) of each bus.

    Returns
    -------
    ndarray, shape (n,)
        ``|V2| / |V1| * 100`` with ``V1 = (Va + a Vb + a² Vc) / 3`` and
        ``V2 = (Va + a² Vb + a Vc) / 3`` (``a = 1∠120°``; OpenDSS's definition,
        ``Bus.SeqVoltages``).
    """
    v = np.asarray(v_abc, dtype=complex).reshape(-1, 3)
    v1 = v[:, 0] + _A * v[:, 1] + _A ** 2 * v[:, 2]
    v2 = v[:, 0] + _A ** 2 * v[:, 1] + _A * v[:, 2]
    return np.abs(v2) / np.maximum(np.abs(v1), 1e-12) * 100.0


#: compile count per engine: a network is stale once another network compiled on its engine
_ENGINE_GENERATION: dict[int, int] = {}


def _default_engine():
    import dss

    return dss.DSS


_WHERE_RE = re.compile(r'\[file:\s*"([^"]*)",\s*line:\s*(\d+)\]')


def format_dss_error(master: str | Path, cmd: str, exc: BaseException) -> str:
    """One line for an OpenDSS error, naming the file and line where OpenDSS says so.

    OpenDSS reports the script position as ``[file: "...", line: N]`` for
    each level of ``Redirect``/``Compile`` (innermost first); the message
    starts with the innermost file and line, then the error text and number,
    then where that file was included from.  Without a position, the master
    and the rejected command are named.
    """
    args = getattr(exc, "args", ())
    number = args[0] if len(args) >= 2 and isinstance(args[0], int) else None
    text = str(args[1]) if number is not None else str(exc)
    where = _WHERE_RE.findall(text)
    text = " ".join(_WHERE_RE.sub(" ", text).split())
    text = re.sub(r"^\(#\d+\)\s*", "", text)
    code = f" (OpenDSS error {number})" if number is not None else ""
    if not where:
        return f"{master}: OpenDSS rejected '{cmd}': {text}{code}"
    (file, line), outer = where[0], where[1:]
    via = "; included from " + ", ".join(f"{f} line {n}" for f, n in outer) if outer else ""
    return f"{file}, line {line}: {text}{code}{via}"


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
        #: cached element batches by (class, positions); None where the batch API is unavailable
        self._batches: dict[tuple[str, bytes], _Batch | None] = {}
        #: the same batches by identity of a read-only index array (see :meth:`_batch`)
        self._batch_by_id: dict[tuple[str, int], tuple[np.ndarray, _Batch | None]] = {}
        #: the loadshapes as compiled (read on first use of :meth:`time_series`)
        self._time_series: NetworkProfiles | None = None
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
        _ENGINE_GENERATION[id(self.dss)] = _ENGINE_GENERATION.get(id(self.dss), 0) + 1
        self._generation = _ENGINE_GENERATION[id(self.dss)]
        self.circuit = self.dss.ActiveCircuit
        if self.circuit is None or self.circuit.NumNodes == 0:
            raise NetworkError(f"{self.master}: compiling gave no circuit")
        # Converge to 1e-8 pu (OpenDSS default 1e-4): a verdict at a limit must not depend on
        # where the iteration started (a warm start from the previous candidate or a cold one).
        self.circuit.Solution.Tolerance = SOLUTION_TOLERANCE_PU
        self._index_loads()
        self._add_pv(pv_kw or {})
        self._index_monitors()
        self._index_pd_elements()
        vs = self.circuit.Vsources
        self._has_source = vs.Count > 0
        self.source_pu_nominal = vs.pu if vs.First else 1.0
        self._tighten_inverter_controls()

    # ------------------------------------------------------------------ set-up
    def _command(self, cmd: str) -> str:
        try:
            self.dss.Text.Command = cmd
        except Exception as exc:  # dss raises DSSException
            raise NetworkError(format_dss_error(self.master, cmd, exc)) from exc
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
        out = np.array([self._load_pos[n.lower()] for n in names], dtype=int)
        out.setflags(write=False)   # names fixed elements (the setters' batches are kept by it)
        return out

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
        tx_rows, tx_names, tx_rating, tx_owner, tx_kva = [], [], [], [], []
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
                    if w == 1:
                        tx_kva.append(kva)
                tx_names.append(name.split(".", 1)[1])
        self.line_names: list[str] = line_names
        self.line_rating_a = np.array(line_rating, dtype=float)
        bad = [n for n, r in zip(line_names, self.line_rating_a) if not (r > 0)]
        if bad:
            raise NetworkError(f"{self.master}: line(s) {', '.join(bad[:5])} have no positive NormAmps")
        self.transformer_names: list[str] = tx_names
        #: rating (kVA) of each transformer's first winding, in :attr:`transformer_names` order
        self.transformer_kva = np.array(tx_kva, dtype=float)
        self._line_gather = self._pad(line_rows, pad)
        self._tx_gather = self._pad(tx_rows, pad)
        self._tx_winding_rating_a = np.array(tx_rating, dtype=float)
        self._tx_owner = np.array(tx_owner, dtype=int)
        # each transformer's windings are consecutive: its first winding's position
        self._tx_first = np.searchsorted(self._tx_owner, np.arange(len(tx_names)))

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
        is None only kW is set.  Uses the DSS C-API batch setters (one call
        per property for all loads, ``SetterFlags.AvoidFullRecalc`` like the
        classic ``Loads.kW`` setter, so the results are identical) and falls
        back to setting loads one by one where batches are unavailable.
        """
        self._check_current()
        p = np.asarray(p_kw, dtype=float)
        q = None if q_kvar is None else np.asarray(q_kvar, dtype=float)
        batch = self._batch("Load", idx)
        if batch is not None:
            batch.set("kw", p)
            if q is not None:
                batch.set("kvar", q)
            return
        loads = self.circuit.Loads
        if q is None:
            for i, pk in zip(idx, p):
                loads.idx = int(i) + 1
                loads.kW = float(pk)
        else:
            for i, pk, qk in zip(idx, p, q):
                loads.idx = int(i) + 1
                loads.kW = float(pk)
                loads.kvar = float(qk)

    def _check_current(self) -> None:
        """Refuse to touch the engine after another network was compiled on it.

        Compiling clears the engine's previous circuit; using this object's cached
        element handles (batches) afterwards would act on freed memory.
        """
        if _ENGINE_GENERATION.get(id(self.dss)) != self._generation:
            raise NetworkError(f"{self.master}: another network was compiled on the same OpenDSS "
                               f"engine since this one; give each DssNetwork its own engine "
                               f"(engine=dss.DSS.NewContext()) or recompile")

    def _batch(self, cls: str, idx: np.ndarray) -> "_Batch | None":
        """A cached batch of the `cls` elements at 0-based positions `idx` (None if unsupported)."""
        hit = self._batch_by_id.get((cls, id(idx)))
        if hit is not None and hit[0] is idx:      # the same index array as last time
            return hit[1]
        held = idx
        idx = np.asarray(idx, dtype=np.int32)
        cache = self._batches
        key = (cls, idx.tobytes())
        if key not in cache:
            try:
                cache[key] = _Batch(self.dss, cls, idx)
            except Exception:  # older dss-python without the batch API
                cache[key] = None
        if isinstance(held, np.ndarray) and not held.flags.writeable and held.base is None:
            # a read-only index array owning its data (the day case's, from load_index) keeps
            # naming the same elements: looked
            # up by identity next time (the entry holds it, so its id is not reused)
            if len(self._batch_by_id) > 256:
                self._batch_by_id.clear()
            self._batch_by_id[(cls, id(held))] = (held, cache[key])
        return cache[key]

    def set_pv_irradiance(self, pv_idx: np.ndarray, irradiance: np.ndarray) -> None:
        """Set the irradiance (kW/m², 1.0 = rated) of PVSystems at 0-based positions `pv_idx`
        of ``PVSystems.AllNames`` (e.g. PV systems defined in the network itself)."""
        self._check_current()
        g = np.asarray(irradiance, dtype=float)
        batch = self._batch("PVSystem", pv_idx)
        if batch is not None:
            batch.set("irradiance", g)
            return
        pvs = self.circuit.PVSystems
        for k, gk in zip(pv_idx, g):
            pvs.idx = int(k) + 1
            pvs.Irradiance = float(gk)

    def reset_solution(self) -> None:
        """Make the next power flow independent of earlier ones.

        Rebuilds the Y matrix from the present injections at the next solve
        (``BuildY``) and starts it from a zero-load solution (``Init``) instead
        of the previous voltages.  Call it before each independent run (e.g.
        each day of a batch) so that results do not depend on what the engine
        solved before: serial and parallel runs then agree bit for bit.
        """
        self._command("BuildY")
        self._command("Init")

    def _tighten_inverter_controls(self) -> None:
        """Converge every InvControl tightly (:data:`INVCONTROL_TOLERANCES`), once after compiling.

        A verdict must not depend on the order of power flows: with the default tolerances a
        volt-var/volt-watt control loop stops wherever its changes first fall below them, so a
        check ends in a state that depends on the previous one.  Only the stopping rule
        changes, not the control curves.
        """
        names = [n.split(".", 1)[1] for n in self.circuit.AllElementNames
                 if n.lower().startswith("invcontrol.")]
        #: number of InvControls (tightened after compiling)
        self.n_invcontrols = len(names)
        if not names:
            return
        tol = " ".join(f"{k}={v:g}" for k, v in INVCONTROL_TOLERANCES.items())
        for name in names:
            self._command(f"Edit InvControl.{name} {tol}")
        sol = self.circuit.Solution
        if sol.MaxControlIterations < MIN_CONTROL_ITERATIONS:
            sol.MaxControlIterations = MIN_CONTROL_ITERATIONS

    def set_pv_output(self, fraction: np.ndarray) -> None:
        """Set each DER customer's PV output as a fraction of its rating (irradiance, 0–1)."""
        self._check_current()
        pvs = self.circuit.PVSystems
        for k, g in zip(self._pv_idx, np.asarray(fraction, dtype=float)):
            pvs.idx = k
            pvs.Irradiance = float(g)

    def set_source_pu(self, pu: float) -> None:
        """Set the source (Vsource) voltage in per unit."""
        self._check_current()
        vs = self.circuit.Vsources
        if not vs.First:
            raise NetworkError(f"{self.master}: no Vsource to set")
        vs.pu = float(pu)

    @cached_property
    def vsource_names(self) -> list[str]:
        """Every voltage source (Vsource) of the circuit, lowercase, in ``Vsources.AllNames`` order."""
        vs = self.circuit.Vsources
        return [n.lower() for n in vs.AllNames] if vs.Count else []

    def vsource_base_kv(self) -> np.ndarray:
        """Each Vsource's ``basekv`` (kV: line-to-line for a three-phase source, across its
        terminals for a single-phase one), in :attr:`vsource_names` order."""
        vs, out = self.circuit.Vsources, []
        for i in range(len(self.vsource_names)):
            vs.idx = i + 1
            out.append(float(vs.BasekV))
        return np.array(out)

    def set_sources(self, idx: np.ndarray, pu: np.ndarray, angle_deg: np.ndarray) -> None:
        """Set the magnitude (pu of its ``basekv``) and angle (degrees) of the Vsources at
        0-based positions `idx` of :attr:`vsource_names`."""
        self._check_current()
        vs = self.circuit.Vsources
        for i, m, a in zip(np.asarray(idx, dtype=int), np.asarray(pu, dtype=float),
                           np.asarray(angle_deg, dtype=float)):
            vs.idx = int(i) + 1
            vs.pu = float(m)
            vs.AngleDeg = float(a)

    # ------------------------------------------------------------ power flow
    def solve(self) -> None:
        """Run one snapshot power flow.

        Inverter controls are converged tightly (:data:`INVCONTROL_TOLERANCES`),
        so the result does not depend on what was solved before.  When a control loop
        fails, the controls are reset (``Reset``) and the power flow is tried once more
        from their initial state; a second failure raises.

        Raises
        ------
        PowerFlowError
            If OpenDSS reports an error or the solution did not converge.
        """
        self._check_current()
        self.n_powerflows += 1
        sol = self.circuit.Solution
        for attempt in range(2):
            try:
                sol.Solve()
            except Exception as exc:
                # a failed control loop (e.g. "Max Control Iterations Exceeded") leaves the
                # controls where every later solve fails too; Reset puts them back in their
                # initial state, and the same power flow is tried once more from there
                self._command("Reset")
                if attempt or not self.has_controls:
                    raise PowerFlowError(f"{self.master}: power flow failed: {exc}") from exc
                continue
            break
        if not sol.Converged:
            raise PowerFlowError(f"{self.master}: power flow did not converge "
                                 f"({sol.Iterations} iterations)")

    #: power flows solved without control actions (:meth:`solve_without_controls`)
    n_screen_solves: int = 0

    @property
    def has_controls(self) -> bool:
        """True when the circuit has inverter controls (a power flow is a control loop)."""
        return bool(getattr(self, "n_invcontrols", 0))

    def reset_controls(self) -> None:
        """Put the circuit's controls back in their initial state (``Reset``; nothing without
        inverter controls).

        OpenDSS's InvControl adapts its step (``DeltaQ_factor=-1``, the default) from one
        control iteration to the next and keeps it across solves: left alone, its loops got
        slower over a day (~10 to ~150 control iterations per power flow on the InvControl
        network of ``oe_opt.io.importers.invcontrol_lv``) and some ended in "Max Control
        Iterations Exceeded".  The evaluator resets them at every period, so a period's power
        flows do not depend on the periods solved before it.
        """
        if self.has_controls:
            self._command("Reset")

    def solve_without_controls(self) -> bool:
        """One power flow with the controls' present outputs held (``SolveNoControl``): a
        screening solve for circuits with inverter controls, about 10-50x cheaper than the
        control loop of :meth:`solve`.

        It changes no control state (the next :meth:`solve` ends in the same state, tested),
        and is counted in :attr:`n_screen_solves`, not :attr:`n_powerflows`.

        Returns
        -------
        bool
            False (nothing solved) when the circuit has no inverter controls: then
            :meth:`solve` is the same power flow.

        Raises
        ------
        PowerFlowError
            If the power flow fails or does not converge.
        """
        if not self.has_controls:
            return False
        self._check_current()
        self.n_screen_solves += 1
        sol = self.circuit.Solution
        try:
            sol.SolveNoControl()
        except Exception as exc:
            raise PowerFlowError(f"{self.master}: power flow failed: {exc}") from exc
        if not sol.Converged:
            raise PowerFlowError(f"{self.master}: power flow did not converge "
                                 f"({sol.Iterations} iterations)")
        return True

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
        # the largest over each transformer's (consecutive) windings, at least 0
        return np.maximum(np.maximum.reduceat(per_winding, self._tx_first), 0.0)

    def read_state(self, currents: str | None = None, *, mv: bool = False,
                   vuf: bool = False) -> NetworkState:
        """The monitored quantities of the last solved power flow.

        Parameters
        ----------
        currents : str, optional
            How the branch currents are read (default :attr:`state_reader`):
            ``pdelements`` (``PDElements.AllCurrentsMagAng``, OpenDSS's own
            terminal currents) or ``yprim`` (the solved node voltages read once
            with ``YNodeVarray``; the monitored currents as ``|M V|`` with ``M``
            the elements' primitive admittances, and the voltages from the same
            array).  Both are the same solved state through the same ``Yprim``:
            they agree to rounding (tested), ``yprim`` costs one array read
            instead of every element's currents.  Circuits whose element
            admittances change during a solution (regulator taps, capacitor
            switching) always use ``pdelements``.
        mv : bool
            Also read the MV node voltages (pu, ``mv_voltage_pu``).
        vuf : bool
            Also read the voltage unbalance factor of every three-phase bus (``vuf_pct``).
            Either needs every node's voltage: the ``pdelements`` path is used.
        """
        reader = currents or self.state_reader
        vall = None
        if reader == "yprim" and self._yprim_ok() and not (mv or vuf):
            v = self.node_voltages_y()
            self.last_node_voltages = v
            # the monitored currents only, gathered straight from |M V| (+ a 0 for padding)
            mags = np.abs(self._yprim_map(v))
            mags = np.append(mags, 0.0)
            vmag = np.abs(v[self._yprim_vnodes])
            loading = mags[self._yprim_line].max(axis=1) if len(self._yprim_line) \
                else np.zeros(0)
            tx = np.zeros(0)
            if len(self._tx_gather):
                tx = mags[self._yprim_tx].max(axis=1) / self._tx_winding_rating_a * 100.0
                tx = np.maximum(np.maximum.reduceat(tx, self._tx_first), 0.0)
            return NetworkState(voltage_v=vmag, line_loading_pct=loading / self.line_rating_a * 100.0,
                                transformer_loading_pct=tx)
        elif reader in ("pdelements", "yprim"):
            self.last_node_voltages = None
            mags = self._current_mags()
            vall = self.node_vmag_v()
            vmag = vall[self.voltage_node_idx]
        else:
            raise ValueError(f"currents must be 'pdelements' or 'yprim', got {reader!r}")
        return NetworkState(
            voltage_v=vmag,
            line_loading_pct=self.line_currents_a(mags) / self.line_rating_a * 100.0,
            transformer_loading_pct=self.transformer_loading_pct(mags),
            mv_voltage_pu=self.mv_voltage_pu(vall) if mv else np.zeros(0),
            vuf_pct=self.bus_vuf_pct() if vuf else np.zeros(0),
        )

    # ------------------------------------------- buses: kV bases, MV, unbalance
    @cached_property
    def _bus_index(self) -> tuple[list[str], dict[str, float], dict[str, list[int]]]:
        """(bus names, line-to-line kV base by bus, node positions in :attr:`node_names` by bus
        keyed ``bus -> [pos of node 1, 2, 3, ...]`` in node-number order)."""
        c = self.circuit
        names = [n.lower() for n in c.AllBusNames]
        kv = {}
        for i, n in enumerate(names):
            kv[n] = float(c.Buses(i).kVBase) * math.sqrt(3)
        nodes: dict[str, dict[int, int]] = {}
        for pos, nn in enumerate(self.node_names):
            bus, _, node = nn.rpartition(".")
            nodes.setdefault(bus, {})[int(node)] = pos
        return names, kv, {b: [d[k] for k in sorted(d)] for b, d in
                           ((b, nodes.get(b, {})) for b in names)}

    def bus_kv_base_ll(self) -> dict[str, float]:
        """Line-to-line kV base (kV) of every bus (0 where OpenDSS has none: no voltage bases)."""
        return dict(self._bus_index[1])

    @cached_property
    def _three_phase(self) -> tuple[list[str], np.ndarray]:
        buses, idx = [], []
        pos = {n: i for i, n in enumerate(self.node_names)}
        for b in self._bus_index[0]:
            keys = [f"{b}.{k}" for k in (1, 2, 3)]
            if all(k in pos for k in keys):
                buses.append(b)
                idx.append([pos[k] for k in keys])
        return buses, np.array(idx, dtype=int).reshape(-1, 3)

    @property
    def three_phase_buses(self) -> list[str]:
        """Buses with nodes 1, 2 and 3 (where the voltage unbalance factor is monitored)."""
        return list(self._three_phase[0])

    def node_voltages_v(self) -> np.ndarray:
        """Complex voltage (V, to ground) of every node, in :attr:`node_names` order."""
        a = np.ascontiguousarray(np.asarray(self.circuit.AllBusVolts, dtype=float))
        return a.view(complex)

    def bus_vuf_pct(self, v: np.ndarray | None = None) -> np.ndarray:
        """Voltage unbalance factor (%) of every bus of :attr:`three_phase_buses` (:func:`vuf_pct`)."""
        v = self.node_voltages_v() if v is None else v
        return vuf_pct(v[self._three_phase[1]])

    @cached_property
    def _mv_nodes(self) -> tuple[list[str], np.ndarray, np.ndarray]:
        _, kv, _ = self._bus_index
        names, idx, base = [], [], []
        for pos, nn in enumerate(self.node_names):
            k = kv.get(nn.rpartition(".")[0], 0.0)
            if k > MV_KV_MIN:
                names.append(nn)
                idx.append(pos)
                base.append(k * 1000.0 / math.sqrt(3))
        return names, np.array(idx, dtype=int), np.array(base, dtype=float)

    @property
    def mv_node_names(self) -> list[str]:
        """MV nodes (``bus.node``): nodes of buses whose line-to-line kV base exceeds
        :data:`MV_KV_MIN` (needs voltage bases: ``Set VoltageBases`` in the network or
        ``[network] voltage_bases_kv``)."""
        return list(self._mv_nodes[0])

    def has_voltage_bases(self) -> bool:
        """True if OpenDSS has a kV base for at least one bus."""
        return any(k > 0 for k in self._bus_index[1].values())

    def mv_voltage_pu(self, vmag: np.ndarray | None = None) -> np.ndarray:
        """Voltage magnitude (pu of the line-to-ground base) of every MV node."""
        vmag = self.node_vmag_v() if vmag is None else vmag
        _, idx, base = self._mv_nodes
        return vmag[idx] / base

    @cached_property
    def mv_line_names(self) -> frozenset[str]:
        """Lines whose first bus is an MV bus (line-to-line kV base > :data:`MV_KV_MIN`)."""
        kv = self._bus_index[1]
        lines, out = self.circuit.Lines, set()
        if lines.Count:
            lines.First
            while True:
                if kv.get(lines.Bus1.split(".")[0].lower(), 0.0) > MV_KV_MIN:
                    out.add(lines.Name.lower())
                if not lines.Next:
                    break
        return frozenset(out)

    @cached_property
    def mv_transformer_names(self) -> frozenset[str]:
        """Transformers with every winding rated above :data:`MV_KV_MIN` kV (e.g. a zone
        substation's); a distribution transformer (an LV winding) is not MV."""
        txs, out = self.circuit.Transformers, set()
        for name in self.transformer_names:
            txs.Name = name
            kvs = []
            for w in range(1, txs.NumWindings + 1):
                txs.Wdg = w
                kvs.append(float(txs.kV))
            if min(kvs) > MV_KV_MIN:
                out.add(name)
        return frozenset(out)
    #: default branch-current reader of :meth:`read_state` (``pdelements`` or ``yprim``)
    state_reader = "pdelements"
    #: complex node voltages (V, ``YNodeOrder``) read by the last ``yprim`` state read (None
    #: after a ``pdelements`` one): the same solved state, for callers that need them too
    last_node_voltages: np.ndarray | None = None

    def node_voltages_y(self) -> np.ndarray:
        """Complex node voltages (V) of the last solved power flow, in ``YNodeOrder``
        (one ``YNodeVarray`` read)."""
        a = self.circuit.YNodeVarray
        if type(a) is np.ndarray and a.dtype == np.float64 and a.flags.c_contiguous:
            return a.view(complex)    # plain re/im pairs: what complex_array gives, directly
        return opendss_matrices.complex_array(a)

    def _yprim_ok(self) -> bool:
        """Build the ``|M V|`` reader's map once (after a solution); False where element
        admittances may change during a solution (regulators, capacitor controls)."""
        if getattr(self, "_yprim_map", None) is None:
            circuit = self.circuit
            if circuit.RegControls.Count or circuit.CapControls.Count:
                self._yprim_map = False
                return False
            y_order = [s.lower() for s in circuit.YNodeOrder]
            pos = {s: i for i, s in enumerate(y_order)}
            rows = np.unique(np.concatenate([self._line_gather.ravel(), self._tx_gather.ravel()]))
            rows = rows[rows < self._n_currents]
            m = opendss_matrices.branch_current_matrix(circuit, len(y_order), self._n_currents,
                                                       self.master)
            self._yprim_rows = rows
            self._yprim_map = RowProduct(m[rows])   # sparse: no BLAS (threads) per read
            # the line and transformer gathers as positions in |M V| (the padding: its end)
            at = np.full(self._n_currents + 1, len(rows), dtype=int)
            at[rows] = np.arange(len(rows))
            self._yprim_line, self._yprim_tx = at[self._line_gather], at[self._tx_gather]
            self._yprim_vnodes = np.array([pos[self.node_names[i]] for i in self.voltage_node_idx],
                                          dtype=int)
        return self._yprim_map is not False


    # ------------------------------------------------- optional capabilities
    def matrices(self) -> NetworkMatrices:
        """The linear network model of the last solved state (:class:`NetworkMatrices`).

        Call after a power flow (OpenDSS knows the element node references only then).
        """
        self._check_current()
        gathers = ((self._line_gather, self.line_names, self.line_rating_a, "line",
                    np.arange(len(self.line_names))),
                   (self._tx_gather, self.transformer_names, self._tx_winding_rating_a,
                    "transformer", self._tx_owner))
        mats = opendss_matrices.read_matrices(
            self.circuit, master=self.master, node_names=self.node_names,
            voltage_node_idx=self.voltage_node_idx, gathers=gathers, n_currents=self._n_currents,
            n_loads=len(self.load_names))
        # the node voltages by this engine's own reader (the same values, less per call)
        return dataclasses.replace(mats, node_voltages=self.node_voltages_y)

    def system_y_without_pc(self):
        """OpenDSS's own system Y matrix minus the power-conversion elements (a cross-check
        of :attr:`NetworkMatrices.y_network`, see
        :func:`~oe_opt.network.opendss_matrices.system_y_without_pc`)."""
        self._check_current()
        return opendss_matrices.system_y_without_pc(self.dss, self.circuit)

    def topology(self) -> dict[str, list[str]]:
        """Bus (lowercase, no nodes) to the elements on its path from the source
        (:func:`~oe_opt.network.opendss_topology.supply_paths`)."""
        self._check_current()
        return opendss_topology.supply_paths(self.circuit, self.master)

    def time_series(self) -> NetworkProfiles:
        """The network's loadshapes, base powers and PV systems as compiled.

        Read on the first call, which must come before any injection is set
        (base kW/kvar/irradiance are read from the circuit); later calls return
        the same object.
        """
        if self._time_series is None:
            self._check_current()
            self._time_series = opendss_loadshapes.read_time_series(
                self.circuit, self.master, len(self.load_names),
                {f"pv_{c}" for c in self.pv_customers})
        return self._time_series


class _Batch:
    """Elements of one DSS class addressed together through the DSS C-API batch functions.

    Parameters
    ----------
    engine : dss.IDSS
        The engine (context) holding the circuit.
    cls : str
        DSS class name, e.g. ``"Load"``.
    idx : ndarray of int
        0-based positions of the elements in the class's ``AllNames`` order.
    """

    #: SetterFlags.AvoidFullRecalc: update kW/kvar like the classic ``Loads.kW`` setter
    FLAGS = 2

    def __init__(self, engine, cls: str, idx: np.ndarray):
        util = engine._api_util
        self._lib, self._ffi = util.lib, util.ffi
        self._check = util._check_for_error
        cls_idx = list(engine.Classes).index(cls) + 1
        el = np.ascontiguousarray(np.asarray(idx, dtype=np.int32) + 1)
        ptr, cnt = self._ffi.new("void***"), self._ffi.new("int32_t[4]")
        self._lib.Batch_CreateByIndex(ptr, cnt, cls_idx, self._ffi.cast("int32_t*", el.ctypes.data),
                                      len(el))
        self._check()
        self._ptr = self._ffi.gc(ptr[0], self._lib.Batch_Dispose) if len(el) else ptr[0]
        self._n = int(cnt[0])
        if self._n != len(el):
            raise NetworkError(f"batch of {cls}: asked for {len(el)} elements, got {self._n}")
        # property indices (1-based) by lowercase name, from the first element's class
        self._props = self._property_indices(engine, cls, cls_idx)

    @staticmethod
    def _property_indices(engine, cls: str, cls_idx: int) -> dict[str, int]:
        """1-based property index of each property name (lowercase) of DSS class `cls`."""
        circuit = engine.ActiveCircuit
        circuit.SetActiveClass(cls)
        if not engine.ActiveClass.First:
            return {}
        names = [n.lower() for n in circuit.ActiveDSSElement.AllPropertyNames]
        return {n: i + 1 for i, n in enumerate(names)}

    def set(self, prop: str, values: np.ndarray) -> None:
        """Set property `prop` of every element from `values` (one value per element)."""
        if self._n == 0:
            return
        v = np.ascontiguousarray(values, dtype=np.float64)
        if v.shape != (self._n,):
            raise ValueError(f"expected {self._n} values for {prop}, got shape {v.shape}")
        # ffi.from_buffer: the array's own memory, as ``cast("double*", v.ctypes.data)`` but
        # without numpy's ctypes object (~1.2 µs a call, twice per power flow)
        self._lib.Batch_SetFloat64Array(self._ptr, self._n, self._props[prop],
                                        self._ffi.from_buffer("double[]", v), self.FLAGS)
        self._check()
