"""Demand and PV from the network's own OpenDSS loadshapes (``[profiles] source = "network"``).

Any OpenDSS time-series model can be a study: each load's ``daily`` (else
``yearly``) loadshape times its base kW/kvar gives the fixed customers' demand
per period, and each PVSystem's loadshape times its base irradiance gives its
irradiance per period.  oe_opt solves snapshot power flows, so these
multipliers are applied by setting kW, kvar and irradiance before every
period, as OpenDSS would in daily/yearly mode.

Periods and days come from the loadshapes, which must all have the same
number of points and interval:

* a shape spanning 24 h (e.g. 288 points of 5 minutes) is **one day** (day 0);
* a shape spanning a whole number of days (e.g. 8,760 hourly points) is cut
  into days of ``24 h / interval`` periods (days 0, 1, ...);
* any other span is one "day" of ``npts`` periods.

Loads with ``status=fixed`` or without a loadshape keep their base kW/kvar.
A loadshape without ``qmult`` scales kvar with ``pmult``; with
``useactual=yes`` the multipliers are kW/kvar.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from oe_opt.errors import NetworkError, ProfileError, StudyError
from oe_opt.network.opendss import DssNetwork
from oe_opt.inputs.profiles import period_labels

#: OpenDSS ``Loads.Status`` value of ``status=fixed`` (no load multipliers apply)
LOAD_STATUS_FIXED = 1


@dataclass
class LoadShape:
    """One OpenDSS loadshape as arrays.

    Attributes
    ----------
    name : str
    pmult : ndarray, shape (npts,)
        Active-power multipliers (or kW if `use_actual`).
    qmult : ndarray or None
        Reactive-power multipliers (or kvar if `use_actual`); None if the
        shape has none (then kvar follows `pmult`).
    interval_h : float
        Time between points, hours.
    use_actual : bool
    """

    name: str
    pmult: np.ndarray
    qmult: np.ndarray | None
    interval_h: float
    use_actual: bool

    @property
    def npts(self) -> int:
        return len(self.pmult)


@dataclass
class NetworkProfiles:
    """Time series held by a network: its loads' and PV systems' loadshapes.

    Attributes
    ----------
    master : Path
        The network's master file (for messages).
    shapes : dict of str to LoadShape
        The loadshapes used by loads or PV systems, by lowercase name.
    load_kw, load_kvar : ndarray, shape (loads,)
        Base kW and kvar of every load, in ``DssNetwork.load_names`` order,
        as compiled.
    load_shape : list of str or None
        The loadshape of each load (None: constant).
    pv_names : list of str
        PV systems defined in the network (not those oe_opt adds for DER customers).
    pv_idx : ndarray of int
        Their 0-based positions in ``PVSystems.AllNames``.
    pv_irradiance : ndarray, shape (pv,)
        Their base irradiance.
    pv_shape : list of str or None
        The loadshape of each PV system (None: constant).
    n_points, period_hours, periods_per_day, n_days : int, float, int, int
        Length and step of the loadshapes, and how they are cut into days.
    """

    master: Path
    shapes: dict[str, LoadShape]
    load_kw: np.ndarray
    load_kvar: np.ndarray
    load_shape: list[str | None]
    pv_names: list[str] = field(default_factory=list)
    pv_idx: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))
    pv_irradiance: np.ndarray = field(default_factory=lambda: np.zeros(0))
    pv_shape: list[str | None] = field(default_factory=list)
    n_points: int = 0
    period_hours: float = 1.0
    periods_per_day: int = 0
    n_days: int = 1

    def load_power(self, rows: slice, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """P (kW) and Q (kvar) of the loads at `positions` for the points in `rows`.

        Returns
        -------
        (p_kw, q_kvar) : ndarrays, shape (points, len(positions))
        """
        n = len(range(self.n_points)[rows])
        p = np.empty((n, len(positions)))
        q = np.empty((n, len(positions)))
        for j, i in enumerate(positions):
            kw, kvar, name = self.load_kw[i], self.load_kvar[i], self.load_shape[i]
            if name is None:
                p[:, j], q[:, j] = kw, kvar
                continue
            s = self.shapes[name]
            pm = s.pmult[rows]
            qm = s.qmult[rows] if s.qmult is not None else None
            if s.use_actual:
                p[:, j] = pm
                q[:, j] = qm if qm is not None else pm * (kvar / kw if kw else 0.0)
            else:
                p[:, j] = kw * pm
                q[:, j] = kvar * (qm if qm is not None else pm)
        return p, q

    def irradiance(self, rows: slice) -> np.ndarray:
        """Irradiance of every network PV system for the points in `rows`, shape (points, pv)."""
        n = len(range(self.n_points)[rows])
        out = np.empty((n, len(self.pv_names)))
        for j, (g, name) in enumerate(zip(self.pv_irradiance, self.pv_shape)):
            out[:, j] = g if name is None else g * self.shapes[name].pmult[rows]
        return out


def _read_shape(net: DssNetwork, name: str) -> LoadShape:
    ls = net.circuit.LoadShapes
    ls.Name = name
    if ls.Name.lower() != name:
        raise NetworkError(f"{net.master}: loadshape {name!r} not found")
    npts = int(ls.Npts)
    pmult = np.asarray(ls.Pmult, dtype=float)[:npts]
    qmult = np.asarray(ls.Qmult, dtype=float)
    qmult = qmult[:npts] if len(qmult) >= npts and npts > 1 else None
    interval = float(ls.HrInterval)
    if interval <= 0:  # variable interval: accept a uniform time array
        hours = np.asarray(ls.TimeArray, dtype=float)[:npts]
        steps = np.diff(hours)
        if len(steps) == 0 or not np.allclose(steps, steps[0], rtol=0, atol=1e-9) or steps[0] <= 0:
            raise NetworkError(f"{net.master}: loadshape {name} has a non-uniform time array; "
                               f"oe_opt needs equal periods (set interval, minterval or sinterval)")
        interval = float(steps[0])
    if len(pmult) != npts or npts == 0:
        raise NetworkError(f"{net.master}: loadshape {name} has {len(pmult)} multipliers but "
                           f"npts={npts}")
    if not np.all(np.isfinite(pmult)):
        raise NetworkError(f"{net.master}: loadshape {name} has NaN or infinite multipliers")
    return LoadShape(name, pmult, qmult, interval, bool(ls.UseActual))


def _day_split(n_points: int, interval_h: float) -> tuple[int, int]:
    """(periods_per_day, n_days) of a loadshape span."""
    span_h = n_points * interval_h
    per_day = 24.0 / interval_h
    if span_h > 24.0 + 1e-9 and abs(per_day - round(per_day)) < 1e-6 and \
            n_points % round(per_day) == 0:
        return int(round(per_day)), n_points // int(round(per_day))
    return n_points, 1


def read_network_profiles(net: DssNetwork) -> NetworkProfiles:
    """Read the loadshapes, base powers and PV systems of a freshly compiled network.

    Call it before any injection is set (base kW/kvar/irradiance are read from
    the circuit); the result is cached on `net`, so later calls return the
    values as compiled.

    Raises
    ------
    NetworkError
        If no load has a loadshape, a loadshape is missing, or the loadshapes
        used disagree in number of points or interval (naming them).
    """
    cached = getattr(net, "_network_profiles", None)
    if cached is not None:
        return cached
    loads = net.circuit.Loads
    kw, kvar, shape_of = [], [], []
    for i in range(len(net.load_names)):
        loads.idx = i + 1
        kw.append(float(loads.kW))
        kvar.append(float(loads.kvar))
        name = (loads.daily or loads.Yearly or "").lower() or None
        shape_of.append(None if int(loads.Status) == LOAD_STATUS_FIXED else name)
    pvs = net.circuit.PVSystems
    all_pv = [n.lower() for n in pvs.AllNames] if pvs.Count else []
    added = {f"pv_{c}" for c in net.pv_customers}
    pv_names, pv_idx, pv_g, pv_shape = [], [], [], []
    for k, name in enumerate(all_pv):
        if name in added:
            continue
        pvs.idx = k + 1
        pv_names.append(name)
        pv_idx.append(k)
        pv_g.append(float(pvs.Irradiance))
        pv_shape.append((pvs.daily or pvs.yearly or "").lower() or None)
    used = sorted({s for s in shape_of + pv_shape if s is not None})
    if not [s for s in shape_of if s is not None]:
        raise NetworkError(f"{net.master}: [profiles] source = \"network\" needs loads with a "
                           f"daily or yearly loadshape; no load of this network has one")
    shapes = {name: _read_shape(net, name) for name in used}
    lengths = {(s.npts, round(s.interval_h * 3600, 6)) for s in shapes.values()}
    if len(lengths) > 1:
        desc = ", ".join(f"{s.name} ({s.npts} points of {s.interval_h * 60:g} min)"
                         for s in shapes.values())
        raise NetworkError(f"{net.master}: the loadshapes used must have the same number of points "
                           f"and interval; found {desc}")
    first = next(iter(shapes.values()))
    per_day, n_days = _day_split(first.npts, first.interval_h)
    prof = NetworkProfiles(
        master=net.master, shapes=shapes, load_kw=np.array(kw), load_kvar=np.array(kvar),
        load_shape=shape_of, pv_names=pv_names, pv_idx=np.array(pv_idx, dtype=int),
        pv_irradiance=np.array(pv_g), pv_shape=pv_shape, n_points=first.npts,
        period_hours=first.interval_h, periods_per_day=per_day, n_days=n_days)
    net._network_profiles = prof
    return prof


def build_day_case_from_network(study, net: DssNetwork, prof: NetworkProfiles,
                                day: int | None = None):
    """Build a :class:`~oe_opt.inputs.case.DayCase` from the network's own loadshapes.

    Parameters
    ----------
    study : Study
        With ``[profiles] source = "network"``; flexible customers by load name.
    net : DssNetwork
    prof : NetworkProfiles
        From :func:`read_network_profiles`.
    day : int, optional
        0-based day within the loadshapes (the study's day if omitted).

    Returns
    -------
    DayCase
        ``period_hours`` from the loadshape interval; network PV systems'
        irradiance per period in ``pv_irradiance``.

    Raises
    ------
    StudyError
        If the study lists DER customers (with network loadshapes PV comes from
        the network's PVSystems).
    ProfileError
        If `day` is outside the loadshapes.
    """
    from oe_opt.inputs.case import DayCase, check_customers, flexible_q_fields, source_inputs

    day = study.profiles.day if day is None else int(day)
    if study.customers.fixed_der:
        raise StudyError(f"{study.path}: [customers] fixed_der: with [profiles] source = "
                         f"\"network\" PV comes from the network's PVSystems; list "
                         f"{', '.join(study.customers.fixed_der)} under fixed instead")
    if not 0 <= day < prof.n_days:
        raise ProfileError(f"{prof.master}: day {day} is outside the network's loadshapes "
                           f"(days 0..{prof.n_days - 1}: {prof.n_points} points of "
                           f"{prof.period_hours * 60:g} min)")
    flex, fixed = check_customers(study, net)
    n = prof.periods_per_day
    rows = slice(day * n, (day + 1) * n)
    fixed_idx = net.load_index(fixed)
    p, q = prof.load_power(rows, fixed_idx)
    src, sources = source_inputs(study, net, n, day)
    return DayCase(day=day, times=period_labels(n, prof.period_hours), flex_names=flex,
                   flex_idx=net.load_index(flex), fixed_idx=fixed_idx, p_fixed_kw=p,
                   q_fixed_kvar=q, pv_fraction=np.zeros((n, 0)), source_pu=src,
                   period_hours=prof.period_hours, pv_system_idx=prof.pv_idx,
                   pv_irradiance=prof.irradiance(rows), sources=sources,
                   **flexible_q_fields(study, flex))

