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

This module holds the time series as plain arrays (:class:`NetworkProfiles`)
and the engine-independent checks; the engine reads them
(:meth:`~oe_opt.network.base.NetworkEngine.time_series`, for OpenDSS
:mod:`oe_opt.network.opendss_loadshapes`) and
:func:`oe_opt.inputs.case.build_day_case` turns them into day cases.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from oe_opt.errors import NetworkError
from oe_opt.network.base import EngineCapabilityError

if TYPE_CHECKING:
    from oe_opt.network.base import NetworkEngine


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


def day_split(n_points: int, interval_h: float) -> tuple[int, int]:
    """(periods_per_day, n_days) of a loadshape span."""
    span_h = n_points * interval_h
    per_day = 24.0 / interval_h
    if span_h > 24.0 + 1e-9 and abs(per_day - round(per_day)) < 1e-6 and \
            n_points % round(per_day) == 0:
        return int(round(per_day)), n_points // int(round(per_day))
    return n_points, 1


def network_profiles(master: Path, load_kw: list[float], load_kvar: list[float],
                     load_shape: list[str | None], pv_names: list[str], pv_idx: list[int],
                     pv_irradiance: list[float], pv_shape: list[str | None],
                     read_shape: Callable[[str], LoadShape]) -> NetworkProfiles:
    """Check a network's time series and cut them into days.

    Parameters
    ----------
    master : Path
        The network (for messages).
    load_kw, load_kvar, load_shape, pv_names, pv_idx, pv_irradiance, pv_shape
        As the attributes of :class:`NetworkProfiles`, as compiled.
    read_shape : callable
        ``read_shape(name)`` gives the :class:`LoadShape` of a (lowercase) name; called
        once for every loadshape used.

    Raises
    ------
    NetworkError
        If no load has a loadshape or the loadshapes used disagree in number of points or
        interval (naming them).
    """
    used = sorted({s for s in load_shape + pv_shape if s is not None})
    if not [s for s in load_shape if s is not None]:
        raise NetworkError(f"{master}: [profiles] source = \"network\" needs loads with a "
                           f"daily or yearly loadshape; no load of this network has one")
    shapes = {name: read_shape(name) for name in used}
    lengths = {(s.npts, round(s.interval_h * 3600, 6)) for s in shapes.values()}
    if len(lengths) > 1:
        desc = ", ".join(f"{s.name} ({s.npts} points of {s.interval_h * 60:g} min)"
                         for s in shapes.values())
        raise NetworkError(f"{master}: the loadshapes used must have the same number of points "
                           f"and interval; found {desc}")
    first = next(iter(shapes.values()))
    per_day, n_days = day_split(first.npts, first.interval_h)
    return NetworkProfiles(
        master=master, shapes=shapes, load_kw=np.array(load_kw), load_kvar=np.array(load_kvar),
        load_shape=load_shape, pv_names=pv_names, pv_idx=np.array(pv_idx, dtype=int),
        pv_irradiance=np.array(pv_irradiance), pv_shape=pv_shape, n_points=first.npts,
        period_hours=first.interval_h, periods_per_day=per_day, n_days=n_days)


def read_network_profiles(net: NetworkEngine) -> NetworkProfiles:
    """The network's own time series (:meth:`NetworkEngine.time_series`).

    The engine reads them once, as compiled (before any injection is set), so
    later calls return the compiled base powers.

    Raises
    ------
    EngineCapabilityError
        If the engine provides no loadshapes.
    NetworkError
        As :func:`network_profiles`, or if a loadshape is missing or malformed.
    """
    prof = net.time_series()
    if prof is None:
        raise EngineCapabilityError(f"{net.master}: [profiles] source = \"network\" needs the "
                                    f"network's loadshapes; this network engine provides none")
    return prof
