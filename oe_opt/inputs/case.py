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
from oe_opt.network.opendss import DssNetwork
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


def check_customers(study: Study, net: DssNetwork) -> tuple[list[str], list[str]]:
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


def read_profile_data(study: Study, net: DssNetwork | None = None):
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
        raise StudyError(f"{path}: source voltage table needs columns period, source_pu")
    for col in [c for c in ("day", "period", "source_pu") if c in df]:
        num = pd.to_numeric(df[col], errors="coerce")
        if num.isna().any():
            row = int(np.flatnonzero(num.isna().to_numpy())[0])
            raise StudyError(f"{path}: column {col} must hold numbers; line {row + 2} holds "
                             f"{df[col].iat[row]!r}")
        df[col] = num
    return df


def build_day_case(study: Study, net: DssNetwork, data: ProfileData, day: int | None = None) -> DayCase:
    """Build the injections of one day of a study.

    Parameters
    ----------
    study : Study
    net : DssNetwork
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
    src = None
    if study.network.source_pu_table is not None:
        src = read_source_table(study.network.source_pu_table, n_periods, day)
    elif study.network.source_pu is not None:
        src = np.full(n_periods, study.network.source_pu)
    return _with_calendar(DayCase(day=day, times=period_labels(n_periods), flex_names=flex,
                   flex_idx=net.load_index(flex), fixed_idx=net.load_index(fixed),
                   p_fixed_kw=p, q_fixed_kvar=q, pv_fraction=pv_frac, source_pu=src,
                   profile_index=assign, period_hours=data.period_hours), study)


def build_day_case_from_network(study, net: DssNetwork, prof: NetworkProfiles,
                                day: int | None = None) -> DayCase:
    """Build a :class:`DayCase` from the network's own loadshapes.

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
    src = None
    if study.network.source_pu_table is not None:
        src = read_source_table(study.network.source_pu_table, n, day)
    elif study.network.source_pu is not None:
        src = np.full(n, study.network.source_pu)
    return DayCase(day=day, times=period_labels(n, prof.period_hours), flex_names=flex,
                   flex_idx=net.load_index(flex), fixed_idx=fixed_idx, p_fixed_kw=p,
                   q_fixed_kvar=q, pv_fraction=np.zeros((n, 0)), source_pu=src,
                   period_hours=prof.period_hours, pv_system_idx=prof.pv_idx,
                   pv_irradiance=prof.irradiance(rows))


def _with_calendar(case: DayCase, study: Study) -> DayCase:
    """The case with the study's start date and time zone (absolute time stamps)."""
    return replace(case, start_date=getattr(study, "start_date", None),
                   timezone=getattr(study, "timezone", None))


def open_network(study: Study) -> DssNetwork:
    """Compile the study's network with PV systems for its DER customers."""
    return DssNetwork(study.network.master, pv_kw=dict(study.customers.der_kw),
                      voltage_bases_kv=study.network.voltage_bases_kv)
