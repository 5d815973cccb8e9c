"""The linear network model of an OpenDSS circuit (:meth:`DssNetwork.matrices`).

The network admittance matrix is assembled from the power-delivery
elements' primitive admittances (``Yprim``, ``NodeRef``) and the sources'
Norton admittances, in ``YNodeOrder``.  It equals the system Y matrix
(``YMatrix.GetCompressedYMatrix``) minus the loads' and PV systems' primitive
admittances (:func:`system_y_without_pc`, checked by the tests) without
depending on OpenDSS having rebuilt its Y matrix after the last load change.
The current map takes node voltages to the conductor currents of every
power-delivery element (the flat order of ``PDElements.AllCurrentsMagAng``),
restricted to the monitored phase conductors.

``NodeRef`` exists only after a solution: call these after a power flow.
"""

from __future__ import annotations

from typing import Callable, Iterator

import numpy as np
import scipy.sparse as sp

from oe_opt.errors import NetworkError
from oe_opt.network.base import NetworkMatrices


def complex_array(values) -> np.ndarray:
    """A dss-python complex array (plain re/im pairs unless AdvancedTypes is on) as complex128."""
    a = np.asarray(values)
    if np.iscomplexobj(a):
        return a.ravel().astype(complex)
    return np.ascontiguousarray(a, dtype=float).view(complex)


def _elements(circuit, first: Callable[[], int], nxt: Callable[[], int]
              ) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    """Yield (name, Yprim matrix, NodeRef) of each element of an iteration."""
    el = circuit.ActiveCktElement
    ok = first()
    while ok:
        ref = np.asarray(el.NodeRef, dtype=int)
        k = len(ref)
        yield el.Name.lower(), complex_array(el.Yprim).reshape(k, k), ref
        ok = nxt()


def _pd_elements(circuit):
    return _elements(circuit, lambda: circuit.FirstPDElement(), lambda: circuit.NextPDElement())


def _pc_elements(circuit):
    return _elements(circuit, lambda: circuit.FirstPCElement(), lambda: circuit.NextPCElement())


def _sources(circuit) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    """Yield (name, Yprim, NodeRef) of every voltage source (not in the PC element list)."""
    vs = circuit.Vsources
    names = [f"vsource.{n.lower()}" for n in vs.AllNames] if vs.Count else []
    el = circuit.ActiveCktElement
    for name in names:
        circuit.SetActiveElement(name)
        ref = np.asarray(el.NodeRef, dtype=int)
        yield name, complex_array(el.Yprim).reshape(len(ref), len(ref)), ref


def _is_source(name: str) -> bool:
    return name.startswith("vsource.") or name.startswith("isource.")


def branch_current_matrix(circuit, n_nodes: int, n_currents: int, master) -> sp.csr_matrix:
    """Sparse map from node voltages (Y order) to every PD element's terminal currents.

    Rows follow the flat conductor-current order of ``PDElements.AllCurrentsMagAng``.
    """
    rows, cols, vals = [], [], []
    off = 0
    for _, yp, ref in _pd_elements(circuit):
        a, b = np.nonzero(np.broadcast_to(ref > 0, yp.shape))
        rows.append(off + a)
        cols.append(ref[b] - 1)
        vals.append(yp[a, b])
        off += len(ref)
    if off != n_currents:
        raise NetworkError(f"{master}: PD element conductor count {off} does not match "
                           f"the current readings ({n_currents})")
    return sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                         shape=(off, n_nodes))


def network_y(circuit, n_nodes: int) -> sp.csc_matrix:
    """Network admittance matrix (S) in YNodeOrder, assembled from the primitive
    admittances (``Yprim``) of the power-delivery elements (lines, transformers, ...)
    and the Norton admittance of the sources; loads and PV systems are left out."""
    rows, cols, vals = [], [], []

    def add(yp: np.ndarray, ref: np.ndarray) -> None:
        keep = np.nonzero(ref > 0)[0]
        a, b = np.meshgrid(keep, keep, indexing="ij")
        rows.append(ref[a].ravel() - 1)
        cols.append(ref[b].ravel() - 1)
        vals.append(yp[a, b].ravel())

    for _, yp, ref in _pd_elements(circuit):
        add(yp, ref)
    for _, yp, ref in _sources(circuit):
        add(yp, ref)
    return sp.csc_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                         shape=(n_nodes, n_nodes))


def system_y_without_pc(engine, circuit) -> sp.csc_matrix:
    """The OpenDSS system Y matrix (``YMatrix.GetCompressedYMatrix``) minus the primitive
    admittances of loads, PV systems and other power-conversion elements (not sources).

    Equal to :func:`network_y` when OpenDSS's Y matrix is up to date (after a solution
    that rebuilt it); used to cross-check the assembly.
    """
    n = len(circuit.YNodeOrder)
    data, indices, indptr = engine.YMatrix.GetCompressedYMatrix(False)
    y = sp.csc_matrix((complex_array(data), np.asarray(indices), np.asarray(indptr)),
                      shape=(n, n)).toarray()
    for name, yp, ref in _pc_elements(circuit):
        if _is_source(name):
            continue
        keep = ref > 0
        r = ref[keep] - 1
        y[np.ix_(r, r)] -= yp[np.ix_(keep, keep)]
    return sp.csc_matrix(y)


def monitored_currents(gathers, n_currents: int) -> tuple[np.ndarray, list[str], list[str],
                                                          list[float]]:
    """The monitored phase-current rows (positions in the flat current order) and, per row,
    kind, element and rating.

    Parameters
    ----------
    gathers : sequence of (gather, names, rating, kind, owner)
        Per element kind, the padded gather array of the current positions (one row per
        line or transformer winding, padding = `n_currents`), the element names, the
        rating per gather row, the kind and the element (position in `names`) per row.
    """
    rows, kinds, elems, ratings = [], [], [], []
    for gather, names, rating, kind, owner in gathers:
        for r, row in enumerate(gather):
            for k in row:
                if k < n_currents:  # not the padding entry
                    rows.append(int(k))
                    kinds.append(kind)
                    elems.append(names[owner[r]])
                    ratings.append(float(rating[r]))
    return np.array(rows, dtype=int), kinds, elems, ratings


def read_matrices(circuit, *, master, node_names: list[str], voltage_node_idx: np.ndarray,
                  gathers, n_currents: int, n_loads: int) -> NetworkMatrices:
    """The :class:`NetworkMatrices` of a solved circuit.

    Parameters
    ----------
    circuit : dss.ICircuit
        Solved (``NodeRef`` exists only after a solution).
    master : Path
        For messages.
    node_names : list of str
        ``AllNodeNames`` (lowercase); `voltage_node_idx` indexes it.
    voltage_node_idx : ndarray of int
        The monitored voltages' positions in `node_names`.
    gathers, n_currents
        See :func:`monitored_currents`.
    n_loads : int
        Number of loads (``Loads`` order).
    """
    y_order = [s.lower() for s in circuit.YNodeOrder]
    pos = {s: i for i, s in enumerate(y_order)}
    n = len(y_order)
    mon = np.array([pos[node_names[i]] for i in voltage_node_idx], dtype=int)
    current_rows, kinds, elems, ratings = monitored_currents(gathers, n_currents)
    m = branch_current_matrix(circuit, n, n_currents, master)
    source = sorted({int(r) - 1 for _, _, ref in _sources(circuit) for r in ref if r > 0})
    inj_names, inj_nodes = [], []
    for name, _, ref in _pc_elements(circuit):
        if _is_source(name):
            continue
        inj_names.append(name)
        inj_nodes.append(ref - 1)
    loads = circuit.Loads
    el = circuit.ActiveCktElement
    model, load_nodes = [], []
    for i in range(n_loads):
        loads.idx = i + 1
        model.append(int(loads.Model))
        load_nodes.append(np.asarray(el.NodeRef, dtype=int) - 1)
    return NetworkMatrices(
        node_order=y_order, y_network=network_y(circuit, n), source_nodes=np.array(source, dtype=int),
        voltage_nodes=mon, current_map=m[current_rows], current_kind=np.array(kinds),
        current_element=elems, current_rating_a=np.array(ratings), injection_names=inj_names,
        injection_nodes=inj_nodes, load_nodes=load_nodes, load_model=np.array(model, dtype=int),
        node_voltages=lambda: complex_array(circuit.YNodeVarray))
