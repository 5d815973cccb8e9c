"""The loadshapes of an OpenDSS circuit as plain arrays (:meth:`DssNetwork.time_series`).

Reads every load's base kW/kvar and ``daily`` (else ``yearly``) loadshape,
the network's own PV systems (not those oe_opt adds for DER customers) with
their base irradiance and loadshape, and the loadshapes used; the checks and
the cut into days are those of :func:`oe_opt.inputs.timeseries.network_profiles`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from oe_opt.errors import NetworkError
from oe_opt.inputs.timeseries import LoadShape, NetworkProfiles, network_profiles

#: OpenDSS ``Loads.Status`` value of ``status=fixed`` (no load multipliers apply)
LOAD_STATUS_FIXED = 1


def read_shape(circuit, master: Path, name: str) -> LoadShape:
    """One loadshape of `circuit` by (lowercase) name.

    Raises
    ------
    NetworkError
        If it is missing, has a non-uniform time array, too few or non-finite multipliers.
    """
    ls = circuit.LoadShapes
    ls.Name = name
    if ls.Name.lower() != name:
        raise NetworkError(f"{master}: loadshape {name!r} not found")
    npts = int(ls.Npts)
    pmult = np.asarray(ls.Pmult, dtype=float)[:npts]
    qmult = np.asarray(ls.Qmult, dtype=float)
    qmult = qmult[:npts] if len(qmult) >= npts and npts > 1 else None
    interval = float(ls.HrInterval)
    if interval <= 0:  # variable interval: accept a uniform time array
        hours = np.asarray(ls.TimeArray, dtype=float)[:npts]
        steps = np.diff(hours)
        if len(steps) == 0 or not np.allclose(steps, steps[0], rtol=0, atol=1e-9) or steps[0] <= 0:
            raise NetworkError(f"{master}: loadshape {name} has a non-uniform time array; "
                               f"oe_opt needs equal periods (set interval, minterval or sinterval)")
        interval = float(steps[0])
    if len(pmult) != npts or npts == 0:
        raise NetworkError(f"{master}: loadshape {name} has {len(pmult)} multipliers but "
                           f"npts={npts}")
    if not np.all(np.isfinite(pmult)):
        raise NetworkError(f"{master}: loadshape {name} has NaN or infinite multipliers")
    return LoadShape(name, pmult, qmult, interval, bool(ls.UseActual))


def read_time_series(circuit, master: Path, n_loads: int, added_pv: set[str]) -> NetworkProfiles:
    """The loadshapes, base powers and PV systems of a freshly compiled circuit.

    Parameters
    ----------
    circuit : dss.ICircuit
        Before any injection is set (base kW/kvar/irradiance are read from it).
    master : Path
        For messages.
    n_loads : int
        Number of loads (``Loads`` order).
    added_pv : set of str
        Names (lowercase) of the PV systems oe_opt added for DER customers (left out).
    """
    loads = circuit.Loads
    kw, kvar, shape_of = [], [], []
    for i in range(n_loads):
        loads.idx = i + 1
        kw.append(float(loads.kW))
        kvar.append(float(loads.kvar))
        name = (loads.daily or loads.Yearly or "").lower() or None
        shape_of.append(None if int(loads.Status) == LOAD_STATUS_FIXED else name)
    pvs = circuit.PVSystems
    all_pv = [n.lower() for n in pvs.AllNames] if pvs.Count else []
    pv_names, pv_idx, pv_g, pv_shape = [], [], [], []
    for k, name in enumerate(all_pv):
        if name in added_pv:
            continue
        pvs.idx = k + 1
        pv_names.append(name)
        pv_idx.append(k)
        pv_g.append(float(pvs.Irradiance))
        pv_shape.append((pvs.daily or pvs.yearly or "").lower() or None)
    return network_profiles(master, kw, kvar, shape_of, pv_names, pv_idx, pv_g, pv_shape,
                            lambda name: read_shape(circuit, master, name))
