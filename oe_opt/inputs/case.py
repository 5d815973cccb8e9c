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

from oe_opt.errors import StudyError
from oe_opt.network.opendss import DssNetwork
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


def read_profile_data(study: Study, net: DssNetwork | None = None):
    """Read and validate the study's profile files.

    With ``[profiles] source = "network"`` the profiles are the network's own
    loadshapes: `net` (freshly compiled) is required and a
    :class:`~oe_opt.inputs.timeseries.NetworkProfiles` is returned.
    """
    p = study.profiles
    if p.source == "network":
        from oe_opt.inputs.timeseries import read_network_profiles

        if net is None:
            raise StudyError(f"{study.path}: [profiles] source = \"network\" needs the compiled "
                             f"network to read its loadshapes")
        return read_network_profiles(net)
    return ProfileData(read_load_profiles(p.load), read_pv_profile(p.pv), p.load, p.pv)


def read_source_table(path: Path, n_periods: int, day: int) -> np.ndarray:
    """Source voltage per period (pu) from a CSV with columns ``period, source_pu`` (and
    optionally ``day``)."""
    import pandas as pd

    df = pd.read_csv(path)
    df.columns = [str(c).strip().lower() for c in df.columns]
    if "period" not in df or "source_pu" not in df:
        raise StudyError(f"{path}: source voltage table needs columns period, source_pu")
    if "day" in df:
        df = df[df["day"] == day]
    s = df.set_index("period")["source_pu"].reindex(range(n_periods))
    if s.isna().any():
        missing = [int(i) for i in s[s.isna()].index[:5]]
        raise StudyError(f"{path}: no source_pu for day {day} period(s) {missing}")
    vals = s.to_numpy(dtype=float)
    if not np.all((vals > 0.5) & (vals < 1.5)):
        raise StudyError(f"{path}: source_pu values must be in (0.5, 1.5)")
    return vals


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
        from oe_opt.inputs.timeseries import build_day_case_from_network, read_network_profiles

        prof = data if data is not None and hasattr(data, "shapes") else read_network_profiles(net)
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
                   profile_index=assign), study)


def _with_calendar(case: DayCase, study: Study) -> DayCase:
    """The case with the study's start date and time zone (absolute time stamps)."""
    return replace(case, start_date=getattr(study, "start_date", None),
                   timezone=getattr(study, "timezone", None))


def open_network(study: Study) -> DssNetwork:
    """Compile the study's network with PV systems for its DER customers."""
    return DssNetwork(study.network.master, pv_kw=dict(study.customers.der_kw),
                      voltage_bases_kv=study.network.voltage_bases_kv)
