"""A study day as arrays: fixed customers' demand and PV, per period.

:func:`build_day_case` turns a study, its profile data and a compiled network
into a :class:`DayCase` holding everything the methods need and nothing they
must look up by name.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from oe_opt.errors import ProfileError, StudyError
from oe_opt.network.base import NetworkEngine
from oe_opt.inputs.timeseries import NetworkProfiles, read_network_profiles
from oe_opt.inputs.profiles import (assign_profiles_seeded, assign_profiles_tutorial, check_day, period_labels,
                       reactive_kvar, read_load_profiles, read_pv_profile)
from oe_opt.study import Study


@dataclass
class DayCase:
    """Injections of one day, aligned with the network's loads.

    Attributes
    ----------
    day : int
        0-based day index into the profile data.
    times : list of str
        ``HH:MM`` start of each period.
    flex_names : list of str
        Flexible customers, in the study's order.
    flex_idx, fixed_idx : ndarray of int
        Positions of flexible and fixed customers in the network's load list.
    p_fixed_kw, q_fixed_kvar : ndarray, shape (periods, fixed)
        Demand of the fixed customers (kW, kvar).
    pv_fraction : ndarray, shape (periods, DER customers)
        PV output as a fraction of rating, aligned with ``network.pv_customers``.
    source_pu : ndarray or None, shape (periods,)
        Source voltage per period (pu), or None to keep the network's.
    sources : SourceSchedule or None
        Magnitude and angle of named Vsources per period (``[network]
        source_table`` in the per-source form), or None.
    profile_index : dict
        Household profile index drawn for each fixed customer.
    period_hours : float
        Period length (h); 24 h / periods unless the data say otherwise.
    pv_system_idx, pv_irradiance : ndarray or None
        PV systems of the network itself and their irradiance per period
        (``[profiles] source = "network"``).
    """

    day: int
    times: list[str]
    flex_names: list[str]
    flex_idx: np.ndarray
    fixed_idx: np.ndarray
    p_fixed_kw: np.ndarray
    q_fixed_kvar: np.ndarray
    pv_fraction: np.ndarray
    source_pu: np.ndarray | None = None
    profile_index: dict[str, int] = field(default_factory=dict)
    #: period length, hours (default: 24 h / number of periods)
    period_hours: float | None = None
    #: network PV systems set per period (0-based positions in ``PVSystems.AllNames``)
    pv_system_idx: np.ndarray | None = None
    #: their irradiance per period, shape (periods, len(pv_system_idx))
    pv_irradiance: np.ndarray | None = None
    #: calendar date of day index 0 (``[study] start_date``; None: no absolute time)
    start_date: datetime.date | None = None
    #: IANA time zone of the time stamps (None: UTC)
    timezone: str | None = None
    #: per-source magnitudes and angles per period (the per-source form of the source table)
    sources: "SourceSchedule | None" = None
    #: flexible customers' reactive power per kW of |P| (kvar/kW, load sign: positive =
    #: absorbed), from ``[customers] flexible_q`` (0: Q = 0)
    flex_q_per_kw: float = 0.0
    #: ``[customers] flexible_q`` mode: ``zero``, ``pf`` or ``volt_var``
    flex_q_mode: str = "zero"
    #: ``volt_var``: the curve, (V, % of rated VA) points (+ supplied, - absorbed)
    flex_volt_var: tuple = ()
    #: ``volt_var``: each flexible customer's inverter rating (kVA)
    flex_kva: np.ndarray | None = None
    #: volt-watt curve of exporting flexible customers, (V, % of rated power) points; () = none
    flex_volt_watt: tuple = ()

    def flex_q_kvar(self, p_flex_kw: np.ndarray) -> np.ndarray:
        """The flexible customers' reactive power (kvar, load sign) at active power `p_flex_kw`
        for the fixed modes (``zero``, ``pf``; volt-var is solved by the evaluator)."""
        return self.flex_q_per_kw * np.abs(np.asarray(p_flex_kw, dtype=float))

    def volt_var_kvar(self, v_flex_v: np.ndarray) -> np.ndarray:
        """Volt-var reactive power (kvar, load sign: + absorbed) at the flexible customers'
        voltages `v_flex_v` (V): the curve (held flat beyond its end points) times the rating."""
        v_pts, pct = np.array(self.flex_volt_var, dtype=float).T
        return -np.interp(np.asarray(v_flex_v, dtype=float), v_pts, pct) / 100.0 * self.flex_kva

    def volt_watt_kw(self, v_flex_v: np.ndarray) -> np.ndarray:
        """Largest export (kW, >= 0) the volt-watt curve allows at the flexible customers'
        voltages `v_flex_v` (V); the rating where there is no curve."""
        if not self.flex_volt_watt:
            return np.full(len(v_flex_v), np.inf)
        v_pts, pct = np.array(self.flex_volt_watt, dtype=float).T
        return np.interp(np.asarray(v_flex_v, dtype=float), v_pts, pct) / 100.0 * self.flex_kva

    def __post_init__(self) -> None:
        if self.period_hours is None:
            self.period_hours = 24.0 / max(len(self.times), 1)

    @property
    def n_periods(self) -> int:
        return len(self.times)

    def period_starts(self) -> list[datetime.datetime] | None:
        """Aware start time of each period (:mod:`oe_opt.inputs.calendar`); None without a start date."""
        if self.start_date is None:
            return None
        from oe_opt.inputs.calendar import period_starts

        return period_starts(self.start_date, self.day, self.n_periods, self.period_hours,
                             self.timezone)


def flexible_q_fields(study: Study, flex: list[str]) -> dict:
    """The DayCase fields of ``[customers] flexible_q`` / ``flexible_kva``."""
    fq = study.customers.flexible_q
    kva = study.customers.flexible_kva
    return dict(flex_q_per_kw=fq.q_per_kw(), flex_q_mode=fq.mode, flex_volt_var=fq.volt_var,
                flex_volt_watt=fq.volt_watt,
                flex_kva=np.array([kva.get(n, study.envelope.export_max_kw) for n in flex],
                                  dtype=float))


def check_customers(study: Study, net: NetworkEngine) -> tuple[list[str], list[str]]:
    """Check the study's customer classes against the network's loads.

    Returns
    -------
    (flexible, fixed) : tuple of lists
        Flexible customers in study order; fixed customers (with or without
        DER) in the network's ``Loads.AllNames`` order.

    Raises
    ------
    StudyError
        Naming the field and every customer the network does not have, or the
        loads an explicit ``fixed`` list leaves out.
    """
    c = study.customers
    known = set(net.load_names)
    for key, names in (("flexible", c.flexible), ("fixed_der", c.fixed_der), ("fixed", c.fixed or ())):
        unknown = [n for n in names if n not in known]
        if unknown:
            raise StudyError(f"{study.path}: [customers] {key}: unknown customer(s) "
                             f"{', '.join(unknown)} (not loads of {net.master.name})")
    flex = set(c.flexible)
    fixed = [n for n in net.load_names if n not in flex]
    if c.fixed is not None:
        left = [n for n in fixed if n not in set(c.fixed) | set(c.fixed_der)]
        if left:
            raise StudyError(f"{study.path}: [customers] load(s) {', '.join(left)} are in no class "
                             f"(flexible, fixed_der or fixed)")
    return list(c.flexible), fixed


@dataclass
class ProfileData:
    """Demand (profiles, days, periods) in kW and PV (days, periods) normalised."""

    load_kw: np.ndarray
    pv: np.ndarray
    load_path: Path
    pv_path: Path

    @property
    def period_hours(self) -> float:
        """Period length (h): the profiles' periods cover 24 h."""
        return 24.0 / self.load_kw.shape[2]


def read_profile_data(study: Study, net: NetworkEngine | None = None):
    """Read and validate the study's profile files.

    With ``[profiles] source = "network"`` the profiles are the network's own
    loadshapes: `net` (freshly compiled) is required and a
    :class:`~oe_opt.inputs.timeseries.NetworkProfiles` is returned.
    """
    p = study.profiles
    if p.source == "network":
        if net is None:
            raise StudyError(f"{study.path}: [profiles] source = \"network\" needs the compiled "
                             f"network to read its loadshapes")
        return read_network_profiles(net)
    return ProfileData(read_load_profiles(p.load), read_pv_profile(p.pv), p.load, p.pv)


@dataclass(frozen=True)
class SourceSchedule:
    """Magnitude and angle of some of the network's Vsources, per period.

    Attributes
    ----------
    names : tuple of str
        Vsource names (lowercase).
    idx : ndarray of int
        Their 0-based positions in ``DssNetwork.vsource_names``.
    pu : ndarray, shape (periods, sources)
        Magnitude, per unit of each source's ``basekv``.
    angle_deg : ndarray, shape (periods, sources)
        Angle (degrees).
    """

    names: tuple[str, ...]
    idx: np.ndarray
    pu: np.ndarray
    angle_deg: np.ndarray


#: plausible per-unit source magnitudes (exclusive bounds)
SOURCE_PU_RANGE = (0.5, 1.5)


def _shown(value) -> str:
    """A CSV cell as given: strings quoted, numbers plain."""
    return repr(value) if isinstance(value, str) else str(value)


def _numeric(df, col: str, path: Path) -> np.ndarray:
    import pandas as pd

    v = pd.to_numeric(df[col], errors="coerce")
    bad = v.isna() | ~np.isfinite(v.to_numpy(dtype=float, na_value=np.nan))
    if bad.any():
        i = bad.to_numpy().nonzero()[0][0]
        raise StudyError(f"{path}: row {int(df.index[i]) + 2}: {col} must be a finite number, "
                         f"got {_shown(df[col].iloc[i])}")
    return v.to_numpy(dtype=float)


def read_source_schedule(path: Path, n_periods: int, day: int, net: NetworkEngine) -> SourceSchedule:
    """The per-source form of a source table: columns ``period, source, pu | volts, angle_deg``
    (and optionally ``day``), one row per Vsource per period.

    ``volts`` is the magnitude in volts in the terms of the source's ``basekv``
    (line-to-line for a three-phase Vsource, across its terminals for a
    single-phase one): ``pu = volts / (1000 basekv)``.  Sources of the network
    the table does not name keep their own values.  Row numbers in errors are
    CSV lines (the header is line 1).

    Raises
    ------
    StudyError
        Naming the file and the row or field: a missing column, a value that is
        not a number, an unknown Vsource, a period outside the day, a row given
        twice, a period missing for a source, an implausible magnitude.
    """
    import pandas as pd

    df = pd.read_csv(path)
    df.columns = [str(c).strip().lower() for c in df.columns]
    missing = [c for c in ("period", "source", "angle_deg") if c not in df]
    if missing or ("pu" in df) == ("volts" in df):
        raise StudyError(f"{path}: a per-source table needs columns period, source, pu or volts "
                         f"(one of them), angle_deg [, day]; it has {', '.join(df.columns)}")
    if "day" in df:
        days = _numeric(df, "day", path)
        df = df[days == day]
        if df.empty:
            raise StudyError(f"{path}: no rows for day {day}")
    period = _numeric(df, "period", path)
    bad = (period != np.round(period)) | (period < 0) | (period >= n_periods)
    if bad.any():
        i = bad.nonzero()[0][0]
        raise StudyError(f"{path}: row {int(df.index[i]) + 2}: period "
                         f"{_shown(df['period'].iloc[i])} is not one of the day's periods "
                         f"0..{n_periods - 1}")
    names = df["source"].astype(str).str.strip().str.lower().to_numpy()
    known = {n: i for i, n in enumerate(net.vsource_names)}
    unknown = [(r, n) for r, n in zip(df.index, names) if n not in known]
    if unknown:
        r, n = unknown[0]
        raise StudyError(f"{path}: row {int(r) + 2}: source {n!r} is not a Vsource of "
                         f"{net.master.name} (its Vsources: {', '.join(net.vsource_names)})")
    angle = _numeric(df, "angle_deg", path)
    if np.any(np.abs(angle) > 360):
        i = (np.abs(angle) > 360).nonzero()[0][0]
        raise StudyError(f"{path}: row {int(df.index[i]) + 2}: angle_deg {angle[i]} is outside "
                         f"-360..360 degrees")
    base_kv = net.vsource_base_kv()
    if "pu" in df:
        pu, field = _numeric(df, "pu", path), "pu"
    else:
        volts = _numeric(df, "volts", path)
        pu = volts / (1000.0 * base_kv[[known[n] for n in names]])
        field = "volts"
    lo, hi = SOURCE_PU_RANGE
    bad = ~((pu > lo) & (pu < hi))
    if bad.any():
        i = bad.nonzero()[0][0]
        n = names[i]
        raise StudyError(f"{path}: row {int(df.index[i]) + 2}: {field} "
                         f"{_shown(df[field].iloc[i])} for {n} is {pu[i]:.3g} pu of its basekv "
                         f"{base_kv[known[n]]:g} kV, not a plausible source voltage "
                         f"({lo}–{hi} pu)")
    order = list(dict.fromkeys(names))
    col = {n: j for j, n in enumerate(order)}
    out_pu = np.full((n_periods, len(order)), np.nan)
    out_angle = np.full((n_periods, len(order)), np.nan)
    seen: dict[tuple[int, str], int] = {}
    for r, t, n, m, a in zip(df.index, period.astype(int), names, pu, angle):
        if (t, n) in seen:
            raise StudyError(f"{path}: rows {seen[(t, n)] + 2} and {int(r) + 2} both give source "
                             f"{n} in period {t}")
        seen[(t, n)] = int(r)
        out_pu[t, col[n]], out_angle[t, col[n]] = m, a
    for n, j in col.items():
        gaps = np.isnan(out_pu[:, j]).nonzero()[0]
        if len(gaps):
            raise StudyError(f"{path}: source {n} has no row for day {day} period(s) "
                             f"{[int(g) for g in gaps[:5]]}{' ...' if len(gaps) > 5 else ''} "
                             f"(one row per source per period)")
    for a in (out_pu, out_angle):
        a.setflags(write=False)
    return SourceSchedule(tuple(order), np.array([known[n] for n in order], dtype=int), out_pu,
                          out_angle)


def is_per_source_table(path: Path) -> bool:
    """True if the CSV at `path` is the per-source form (a ``source`` column)."""
    import pandas as pd

    cols = [str(c).strip().lower() for c in pd.read_csv(path, nrows=0).columns]
    return "source" in cols


def source_inputs(study: Study, net: NetworkEngine, n_periods: int,
                  day: int) -> tuple[np.ndarray | None, SourceSchedule | None]:
    """The day's source voltages: ``(source_pu, sources)`` from ``[network] source_pu`` or the
    source table (either form; see :func:`read_source_table`, :func:`read_source_schedule`)."""
    path = study.network.source_pu_table
    if path is not None:
        if not Path(path).is_file():
            raise StudyError(f"{path}: [network] source_pu_table must be a CSV file"
                             f"{' (this is a folder)' if Path(path).is_dir() else ' (not found)'}")
        try:
            per_source = is_per_source_table(path)
        except Exception as exc:  # pandas' parser errors
            raise StudyError(f"{path}: not a readable CSV source table: {exc}") from exc
        if per_source:
            return None, read_source_schedule(path, n_periods, day, net)
        return read_source_table(path, n_periods, day), None
    if study.network.source_pu is not None:
        return np.full(n_periods, study.network.source_pu), None
    return None, None


def read_source_table(path: Path, n_periods: int, day: int) -> np.ndarray:
    """Source voltage per period (pu) from a CSV with columns ``period, source_pu`` (and
    optionally ``day``)."""
    df = _read_source_csv(path)
    if "day" in df:
        df = df[df["day"] == day]
    if df["period"].duplicated().any():
        dup = int(df.loc[df["period"].duplicated(), "period"].iat[0])
        raise StudyError(f"{path}: period {dup} appears more than once"
                         f"{f' for day {day}' if 'day' in df else ''}")
    s = df.set_index("period")["source_pu"].reindex(range(n_periods))
    if s.isna().any():
        missing = [int(i) for i in s[s.isna()].index[:5]]
        raise StudyError(f"{path}: no source_pu for day {day} period(s) {missing}")
    vals = s.to_numpy(dtype=float)
    if not np.all((vals > 0.5) & (vals < 1.5)):
        raise StudyError(f"{path}: source_pu values must be in (0.5, 1.5)")
    return vals


def _read_source_csv(path: Path):
    """The source voltage table as a DataFrame with numeric columns, or a StudyError."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise StudyError(f"{path}: [network] source_pu_table must be a CSV file"
                         f"{' (this is a folder)' if path.is_dir() else ' (not found)'}")
    try:
        df = pd.read_csv(path)
    except (ValueError, UnicodeDecodeError, OSError) as exc:
        raise StudyError(f"{path}: cannot read the source voltage table: {exc}") from exc
    df.columns = [str(c).strip().lower() for c in df.columns]
    if "period" not in df or "source_pu" not in df:
        raise StudyError(f"{path}: source voltage table needs columns period, source_pu "
                         f"(one pu value per period) or period, source, pu | volts, angle_deg "
                         f"(one row per Vsource per period)")
    for col in [c for c in ("day", "period", "source_pu") if c in df]:
        num = pd.to_numeric(df[col], errors="coerce")
        if num.isna().any():
            row = int(np.flatnonzero(num.isna().to_numpy())[0])
            raise StudyError(f"{path}: column {col} must hold numbers; line {row + 2} holds "
                             f"{df[col].iat[row]!r}")
        df[col] = num
    return df


def build_day_case(study: Study, net: NetworkEngine, data: ProfileData, day: int | None = None) -> DayCase:
    """Build the injections of one day of a study.

    Parameters
    ----------
    study : Study
    net : NetworkEngine
        The compiled network (its loads define the customer order).
    data : ProfileData
    day : int, optional
        0-based day; the study's ``[profiles] day`` if omitted.

    Returns
    -------
    DayCase
    """
    if study.profiles.source == "network":
        prof = data if isinstance(data, NetworkProfiles) else read_network_profiles(net)
        return _with_calendar(build_day_case_from_network(study, net, prof, day), study)
    day = study.profiles.day if day is None else day
    check_day(data.load_kw, data.pv, day, data.load_path, data.pv_path)
    flex, fixed = check_customers(study, net)
    n_profiles, _, n_periods = data.load_kw.shape
    fixed_set = set(fixed)
    if study.profiles.assignment == "tutorial":
        assign = assign_profiles_tutorial(net.load_names, fixed_set, n_profiles)
    else:
        assign = assign_profiles_seeded(net.load_names, fixed_set, n_profiles, study.profiles.seed)
    p = np.stack([data.load_kw[assign[n], day, :] for n in fixed], axis=1) if fixed else \
        np.zeros((n_periods, 0))
    q = reactive_kvar(p, study.customers.fixed_pf)
    pv_frac = np.stack([data.pv[day, :] for _ in net.pv_customers], axis=1) if net.pv_customers \
        else np.zeros((n_periods, 0))
    src, sources = source_inputs(study, net, n_periods, day)
    return _with_calendar(DayCase(day=day, times=period_labels(n_periods), flex_names=flex,
                   flex_idx=net.load_index(flex), fixed_idx=net.load_index(fixed),
                   p_fixed_kw=p, q_fixed_kvar=q, pv_fraction=pv_frac, source_pu=src,
                   profile_index=assign, period_hours=data.period_hours, sources=sources,
                   **flexible_q_fields(study, flex)), study)


def build_day_case_from_network(study, net: NetworkEngine, prof: NetworkProfiles,
                                day: int | None = None) -> DayCase:
    """Build a :class:`DayCase` from the network's own loadshapes.

    Parameters
    ----------
    study : Study
        With ``[profiles] source = "network"``; flexible customers by load name.
    net : NetworkEngine
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


def _with_calendar(case: DayCase, study: Study) -> DayCase:
    """The case with the study's start date and time zone (absolute time stamps)."""
    return replace(case, start_date=getattr(study, "start_date", None),
                   timezone=getattr(study, "timezone", None))
