#!/usr/bin/env python
"""Generate reproducible residential demand and PV profiles for ``oe_opt``.

Usage::

    python profiles/generate.py [--seed N] [--households N] [--out DIR]
                                [--days N] [--workers N]

Outputs (in ``--out``, default ``profiles/data``):

* ``residential_demand_kw.npy`` -- float32, shape ``(households, days, 48)``,
  30-min mean active power per household in kW.
* ``pv_normalised.npy`` -- float64, shape ``(days, 48)``, 30-min mean PV
  output normalised so that the largest clear-sky half-hour of the year is
  exactly 1.0 (multiply by the installed capacity in kW to get kW).
* ``README.md`` -- description, provenance and summary statistics.

Calendar
--------
Day index 0 is 1 January 2023 (a Sunday, non-leap year) in Melbourne,
Australia.  All times are local *standard* time, fixed UTC+10 (AEST); daylight
saving is ignored so every day has exactly 48 half-hour slots.  Slot ``k``
covers ``[k*30, (k+1)*30)`` minutes after local midnight.

Southern-hemisphere adaptation of the (UK-based) Richardson model
-----------------------------------------------------------------
richardsonpy's occupancy and appliance-activity statistics are not seasonal
except through (a) the external irradiance fed to the lighting model and
(b) a month-of-year lookup used by the appliance model (only for storage
heaters).  We therefore

1. drive the lighting model with Melbourne global horizontal irradiance
   (pvlib clear-sky x the same seeded cloud model as the PV profile), so
   lighting follows Melbourne day length and weather, and
2. pass richardsonpy a day-of-year shifted by +182 days
   (:data:`SEASON_SHIFT_DAYS`), so its UK month tables see "January" in the
   middle of the Melbourne winter (day index 220 ~ 8 August is treated as a
   UK February day), and
3. add a seeded, Melbourne-seasonal space heating/cooling component
   (reverse-cycle air conditioners), see :func:`hvac_load_kw`.

UK-specific electric water/space heating appliances of the Richardson
appliance set (electric showers, instantaneous and storage water heaters,
storage heaters) are disabled (``prev_heat_dev=True``); their role is taken
by the HVAC component.

Everything is seeded: one :class:`numpy.random.SeedSequence` built from
``--seed`` spawns one child seed per household plus one for the weather.
Before each household the global :mod:`random` and :mod:`numpy.random` states
(which richardsonpy uses internally) are re-seeded from that household's
child seed, so results do not depend on the number of worker processes.

Requires the optional ``profiles`` extra (``richardsonpy``, ``pvlib``).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import random
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np

# --------------------------------------------------------------------------
# Constants
# --------------------------------------------------------------------------
N_DAYS = 365
"""Number of days in the generated year."""
SLOTS_PER_DAY = 48
"""Number of 30-min slots per day."""
MINUTES_PER_DAY = 1440
"""Minutes per day (richardsonpy native resolution is 1 minute)."""
MINUTES_PER_SLOT = MINUTES_PER_DAY // SLOTS_PER_DAY
YEAR = 2023
"""Calendar year represented by day index 0..364 (1 Jan 2023 is a Sunday)."""
SEASON_SHIFT_DAYS = 182
"""Day shift applied to richardsonpy's month-of-year lookup (UK -> Melbourne)."""

LATITUDE_DEG = -37.81
LONGITUDE_DEG = 144.96
ALTITUDE_M = 31.0
TIMEZONE = "Etc/GMT-10"
"""Fixed UTC+10 (AEST, no daylight saving). Note the POSIX sign inversion."""
PV_TILT_DEG = 30.0
PV_AZIMUTH_DEG = 0.0
"""pvlib convention: 0 deg = facing north."""
GROUND_ALBEDO = 0.2

OCCUPANT_PROBS = (0.25, 0.34, 0.16, 0.16, 0.09)
"""P(1..5 occupants); approximates the ABS 2021 Census household-size mix."""
N_LIGHTING_CONFIGS = 100
"""Number of bulb configurations shipped in richardsonpy's LightBulbs.csv."""
REFERENCE_ANNUAL_KWH = {1: 2700, 2: 3200, 3: 4000, 4: 4400, 5: 5500}
"""richardsonpy's single-family-house reference annual demand (kWh) by occupants."""

HEATING_SLOTS = np.r_[12:18, 32:46]
"""Half-hour slots in which space heating may run (06:00-09:00, 16:00-23:00)."""
COOLING_SLOTS = np.r_[26:46]
"""Half-hour slots in which space cooling may run (13:00-23:00)."""
HEATING_BALANCE_C = 15.0
"""Daily mean temperature (deg C) below which heating is used."""
COOLING_BALANCE_C = 22.0
"""Daily mean temperature (deg C) above which cooling is used."""
DEGREE_SPAN_C = 6.0
"""Degrees beyond the balance point at which HVAC runs at full rated power."""


# --------------------------------------------------------------------------
# Calendar / resampling helpers
# --------------------------------------------------------------------------
def half_hour_means(values_1min: np.ndarray) -> np.ndarray:
    """Average a 1-minute series to 30-minute means, one row per day.

    Parameters
    ----------
    values_1min : numpy.ndarray
        1-minute samples, shape ``(n_days * 1440,)`` or ``(n_days, 1440)``.
        Any unit (e.g. W or W/m^2); the unit is preserved.

    Returns
    -------
    numpy.ndarray
        Shape ``(n_days, 48)``, same unit as the input, float64.
    """
    arr = np.asarray(values_1min, dtype=float)
    if arr.size % MINUTES_PER_DAY:
        raise ValueError(f"length {arr.size} is not a whole number of days")
    return arr.reshape(-1, SLOTS_PER_DAY, MINUTES_PER_SLOT).mean(axis=2)


def day_date(day_index: int) -> date:
    """Calendar date of a 0-based day index.

    Parameters
    ----------
    day_index : int
        0-based day of the generated year (0 = 1 January :data:`YEAR`).

    Returns
    -------
    datetime.date
        The corresponding local calendar date.
    """
    return date(YEAR, 1, 1) + timedelta(days=int(day_index))


def is_weekend(day_index: int) -> bool:
    """Whether a 0-based day index falls on a Saturday or Sunday.

    Parameters
    ----------
    day_index : int
        0-based day of the generated year.

    Returns
    -------
    bool
        ``True`` for Saturday/Sunday.
    """
    return day_date(day_index).weekday() >= 5


def richardson_initial_day(day_index: int) -> int:
    """richardsonpy weekday code (1 = Monday ... 7 = Sunday) of a day index.

    Parameters
    ----------
    day_index : int
        0-based day of the generated year.

    Returns
    -------
    int
        ISO weekday in 1..7, as expected by ``Occupancy(initial_day=...)``.
    """
    return day_date(day_index).isoweekday()


def richardson_season_day(day_index: int) -> int:
    """1-based UK-equivalent day-of-year passed to richardsonpy.

    Shifts the Melbourne calendar by :data:`SEASON_SHIFT_DAYS` so that
    richardsonpy's northern-hemisphere month tables line up with southern
    hemisphere seasons.

    Parameters
    ----------
    day_index : int
        0-based Melbourne day of the generated year.

    Returns
    -------
    int
        Day of year in ``1..365``.
    """
    return (int(day_index) + SEASON_SHIFT_DAYS) % 365 + 1


# --------------------------------------------------------------------------
# Solar / weather
# --------------------------------------------------------------------------
def minute_midpoints(n_days: int, start_day: int = 0):
    """Timestamps at the centre of each minute for a run of days.

    Parameters
    ----------
    n_days : int
        Number of days.
    start_day : int, optional
        0-based index of the first day.

    Returns
    -------
    pandas.DatetimeIndex
        ``n_days * 1440`` timestamps (tz :data:`TIMEZONE`) at ``hh:mm:30``.
    """
    import pandas as pd

    start = pd.Timestamp(day_date(start_day)).tz_localize(TIMEZONE)
    return pd.date_range(
        start + pd.Timedelta(seconds=30), periods=n_days * MINUTES_PER_DAY, freq="1min"
    )


def clearsky_irradiance(n_days: int, start_day: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Clear-sky horizontal and plane-of-array irradiance for Melbourne.

    Uses pvlib's Ineichen/Perez clear-sky model with the Linke turbidity
    climatology bundled with pvlib (no downloads) and the Hay-Davies
    transposition onto a fixed array (:data:`PV_TILT_DEG` tilt, facing north).

    Parameters
    ----------
    n_days : int
        Number of days.
    start_day : int, optional
        0-based index of the first day.

    Returns
    -------
    ghi : numpy.ndarray
        Global horizontal irradiance, W/m^2, shape ``(n_days, 1440)``.
    poa : numpy.ndarray
        Plane-of-array global irradiance, W/m^2, shape ``(n_days, 1440)``.
    """
    import pvlib

    times = minute_midpoints(n_days, start_day)
    loc = pvlib.location.Location(
        LATITUDE_DEG, LONGITUDE_DEG, tz=TIMEZONE, altitude=ALTITUDE_M
    )
    with warnings.catch_warnings():
        # pvlib 0.16 + pandas 3 emit a deprecation warning for .dayofyear
        warnings.filterwarnings("ignore", message=".*dayofyear is deprecated")
        solpos = loc.get_solarposition(times)
        cs = loc.get_clearsky(times, model="ineichen", solar_position=solpos)
        dni_extra = pvlib.irradiance.get_extra_radiation(times)
    poa = pvlib.irradiance.get_total_irradiance(
        surface_tilt=PV_TILT_DEG,
        surface_azimuth=PV_AZIMUTH_DEG,
        solar_zenith=solpos["apparent_zenith"],
        solar_azimuth=solpos["azimuth"],
        dni=cs["dni"],
        ghi=cs["ghi"],
        dhi=cs["dhi"],
        dni_extra=dni_extra,
        albedo=GROUND_ALBEDO,
        model="haydavies",
    )["poa_global"]
    ghi = np.clip(np.nan_to_num(cs["ghi"].to_numpy()), 0.0, None)
    poa = np.clip(np.nan_to_num(poa.to_numpy()), 0.0, None)
    return ghi.reshape(n_days, MINUTES_PER_DAY), poa.reshape(n_days, MINUTES_PER_DAY)


def seasonal_phase(day_index: np.ndarray) -> np.ndarray:
    """Southern-hemisphere "summerness" in [0, 1] (1 = mid January).

    Parameters
    ----------
    day_index : numpy.ndarray
        0-based day indices.

    Returns
    -------
    numpy.ndarray
        ``0.5 + 0.5 * cos(2*pi*(d - 20)/365)``: 1.0 around 21 January,
        0.0 around 22 July. Dimensionless.
    """
    d = np.asarray(day_index, dtype=float)
    return 0.5 + 0.5 * np.cos(2.0 * np.pi * (d - 20.0) / 365.0)


def cloud_factors(
    n_days: int,
    rng: np.random.Generator,
    start_day: int = 0,
    force_clear: tuple[int, ...] = (),
) -> np.ndarray:
    """Seeded stochastic cloudiness multiplier per half-hour.

    Each day is either *clear* (factor 1.0 all day; probability 0.10 in
    winter rising to 0.30 in summer) or *cloudy*: a daily clearness
    ``k ~ Beta(a, b)`` with mean 0.55 (winter) .. 0.75 (summer) plus an
    intra-day AR(1) perturbation (phi = 0.8, stationary s.d. 0.15 at 30-min
    steps), clipped to ``[0, 1]``.

    Parameters
    ----------
    n_days : int
        Number of days.
    rng : numpy.random.Generator
        Seeded generator; the result is a deterministic function of its state.
    start_day : int, optional
        0-based index of the first day (sets the seasonal parameters).
    force_clear : tuple of int, optional
        Absolute day indices that are forced to be clear (used for the
        reference day of the PV normalisation).

    Returns
    -------
    numpy.ndarray
        Dimensionless factors in ``[0, 1]``, shape ``(n_days, 48)``.
    """
    days = np.arange(start_day, start_day + n_days)
    s = seasonal_phase(days)
    p_clear = 0.10 + 0.20 * s
    mean_k = 0.55 + 0.20 * s
    concentration = 6.0
    clear = rng.random(n_days) < p_clear
    k = rng.beta(mean_k * concentration, (1.0 - mean_k) * concentration)
    phi, sd = 0.8, 0.15
    eps = rng.normal(0.0, sd * np.sqrt(1.0 - phi**2), size=(n_days, SLOTS_PER_DAY))
    ar = np.empty_like(eps)
    ar[:, 0] = rng.normal(0.0, sd, size=n_days)
    for t in range(1, SLOTS_PER_DAY):
        ar[:, t] = phi * ar[:, t - 1] + eps[:, t]
    factors = np.clip(k[:, None] + ar, 0.0, 1.0)
    for d in force_clear:
        if start_day <= d < start_day + n_days:
            clear[d - start_day] = True
    factors[clear] = 1.0
    return factors


def pv_normalised_profile(poa_clear_1min: np.ndarray, clouds: np.ndarray) -> np.ndarray:
    """Normalised PV output from clear-sky POA irradiance and cloudiness.

    Parameters
    ----------
    poa_clear_1min : numpy.ndarray
        Clear-sky plane-of-array irradiance, W/m^2, shape ``(n_days, 1440)``.
    clouds : numpy.ndarray
        Cloud factors in ``[0, 1]``, shape ``(n_days, 48)``.

    Returns
    -------
    numpy.ndarray
        Per-unit PV output (kW per kW of capacity), shape ``(n_days, 48)``:
        half-hour mean clear-sky POA divided by its maximum over all slots,
        times the cloud factor. The value is exactly 1.0 at the clear-sky peak
        slot if that day's cloud factor is 1.0.
    """
    poa_hh = half_hour_means(poa_clear_1min)
    peak = poa_hh.max()
    if peak <= 0:
        raise ValueError("clear-sky POA is zero everywhere")
    return np.clip(poa_hh / peak * clouds, 0.0, 1.0)


def daily_mean_temperature(n_days: int, rng: np.random.Generator, start_day: int = 0) -> np.ndarray:
    """Seeded synthetic daily mean air temperature for Melbourne.

    Climatology ``15.6 + 5.2 * (2*summerness - 1)`` deg C (about 20.8 in
    late January, 10.4 in late July) plus an AR(1) synoptic anomaly
    (phi = 0.7) whose stationary s.d. is 2.0 deg C in winter and 3.5 deg C
    in summer; positive summer anomalies are stretched by 1.5x to mimic hot
    northerly days.

    Parameters
    ----------
    n_days : int
        Number of days.
    rng : numpy.random.Generator
        Seeded generator.
    start_day : int, optional
        0-based index of the first day.

    Returns
    -------
    numpy.ndarray
        Daily mean temperature in deg C, shape ``(n_days,)``.
    """
    days = np.arange(start_day, start_day + n_days)
    s = seasonal_phase(days)
    clim = 15.6 + 5.2 * (2.0 * s - 1.0)
    sd = 2.0 + 1.5 * s
    phi = 0.7
    z = np.empty(n_days)
    z[0] = rng.normal()
    shocks = rng.normal(size=n_days) * np.sqrt(1.0 - phi**2)
    for i in range(1, n_days):
        z[i] = phi * z[i - 1] + shocks[i]
    anomaly = z * sd
    anomaly = np.where(anomaly > 0, anomaly * (1.0 + 0.5 * s), anomaly)
    return clim + anomaly


# --------------------------------------------------------------------------
# Households
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class HouseholdSpec:
    """Static, seeded attributes of one household.

    Attributes
    ----------
    index : int
        Household index (row in the output array).
    occupants : int
        Number of residents, 1..5.
    lighting_config : int
        Row of richardsonpy's ``LightBulbs.csv`` (0..99).
    seed : int
        32-bit seed for :mod:`random`, :mod:`numpy.random` and the household
        HVAC generator.
    heating_kw : float
        Electrical rating of reverse-cycle space heating, kW (0 if the home
        heats with gas).
    cooling_kw : float
        Electrical rating of air-conditioning, kW (0 if none).
    annual_kwh : float
        Target annual energy of the richardsonpy part (appliances + lighting),
        kWh per 365 days.
    base_kw : float
        Constant always-on load not in the Richardson appliance set (second
        fridge, pool/aquarium pump, network and security equipment), kW.
    """

    index: int
    occupants: int
    lighting_config: int
    seed: int
    heating_kw: float
    cooling_kw: float
    annual_kwh: float
    base_kw: float


def draw_households(
    n: int, rng: np.random.Generator, seed_seq: np.random.SeedSequence
) -> list[HouseholdSpec]:
    """Draw seeded household attributes.

    Occupants follow :data:`OCCUPANT_PROBS`. The annual appliance + lighting
    energy target is richardsonpy's single-family-house reference for that
    number of occupants (2700, 3200, 4000, 4400, 5500 kWh) times a
    household multiplier ``exp(N(0, 0.15))`` clipped to ``[0.75, 1.35]``.
    An extra constant base load ``U(0.03, 0.12)`` kW lifts richardsonpy's
    low overnight demand towards Australian levels.
    45 % of homes have reverse-cycle
    electric heating and 70 % have air-conditioning; an air-conditioner's
    electrical input is ``U(1.0, 2.5)`` kW and is shared by heating and
    cooling when both are present.

    Parameters
    ----------
    n : int
        Number of households.
    rng : numpy.random.Generator
        Seeded generator for the attributes.
    seed_seq : numpy.random.SeedSequence
        Parent sequence; one child is spawned per household for its
        simulation seed.

    Returns
    -------
    list of HouseholdSpec
        One spec per household.
    """
    occupants = rng.choice(np.arange(1, 6), size=n, p=np.asarray(OCCUPANT_PROBS))
    lighting = rng.integers(0, N_LIGHTING_CONFIGS, size=n)
    has_cooling = rng.random(n) < 0.70
    has_heating = rng.random(n) < 0.45
    rating = rng.uniform(1.0, 2.5, size=n)
    base = rng.uniform(0.03, 0.12, size=n)
    multiplier = np.clip(np.exp(rng.normal(0.0, 0.15, size=n)), 0.75, 1.35)
    ref_kwh = {k: float(v) for k, v in REFERENCE_ANNUAL_KWH.items()}
    seeds = [int(c.generate_state(1)[0]) for c in seed_seq.spawn(n)]
    return [
        HouseholdSpec(
            index=i,
            occupants=int(occupants[i]),
            lighting_config=int(lighting[i]),
            seed=seeds[i],
            heating_kw=float(rating[i]) if has_heating[i] else 0.0,
            cooling_kw=float(rating[i]) if has_cooling[i] else 0.0,
            annual_kwh=ref_kwh[int(occupants[i])] * float(multiplier[i]),
            base_kw=float(base[i]),
        )
        for i in range(n)
    ]


def simulate_richardson(
    occupants: int,
    irradiance_1min: np.ndarray,
    lighting_config: int,
    seed: int,
    start_day: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Run richardsonpy occupancy + appliance + lighting model for one home.

    Re-implements the day loop of ``richardsonpy.classes.electric_load.
    ElectricLoad`` (which only accepts whole-year inputs) so that the
    calendar, weekday and season can be controlled and short runs are
    possible. Appliance ownership is randomised, UK electric heating/hot
    water appliances are excluded and the annual appliance energy is
    calibrated to richardsonpy's single-family-house reference for the
    number of occupants.

    Parameters
    ----------
    occupants : int
        Number of residents, 1..5.
    irradiance_1min : numpy.ndarray
        Global horizontal irradiance for the lighting model, W/m^2,
        shape ``(n_days, 1440)``.
    lighting_config : int
        Row of richardsonpy's ``LightBulbs.csv``.
    seed : int
        Seed applied to :mod:`random` and :mod:`numpy.random` first.
    start_day : int, optional
        0-based index of the first simulated day.

    Returns
    -------
    power_w : numpy.ndarray
        1-minute active power in W, shape ``(n_days * 1440,)``.
    active_occupancy : numpy.ndarray
        Active occupants per 10-minute step, shape ``(n_days * 144,)``.
    """
    import richardsonpy
    import richardsonpy.classes.appliance as app_model
    import richardsonpy.classes.lighting as light_model
    import richardsonpy.classes.occupancy as occ_model
    import richardsonpy.classes.stochastic_el_load_wrapper as wrapper
    from richardsonpy.classes.electric_load import ElectricLoad

    random.seed(seed)
    np.random.seed(seed % 2**32)

    irr = np.asarray(irradiance_1min, dtype=float).reshape(-1, MINUTES_PER_DAY)
    n_days = irr.shape[0]
    inputs = Path(richardsonpy.__file__).parent / "inputs"

    occ = occ_model.Occupancy(
        number_occupants=int(occupants),
        initial_day=richardson_initial_day(start_day),
        nb_days=n_days,
    )
    annual_kwh = ElectricLoad.standard_consumption["SFH"][int(occupants)]
    appliances = app_model.Appliances(
        str(inputs / "Appliances.csv"),
        annual_consumption=0.91 * annual_kwh,  # 9 % lighting, as richardsonpy
        randomize_appliances=True,
        prev_heat_dev=True,
    )
    bulbs = light_model.load_lighting_profile(
        filename=str(inputs / "LightBulbs.csv"), index=int(lighting_config)
    )
    sim = wrapper.ElectricityProfile(appliances, bulbs)

    out = np.empty((n_days, MINUTES_PER_DAY))
    for i in range(n_days):
        d = start_day + i
        total, _light, _app = sim.power_sim(
            irradiation=irr[i],
            weekend=is_weekend(d),
            day=richardson_season_day(d),
            occupancy=occ.occupancy[144 * i : 144 * (i + 1)],
        )
        out[i] = total
    return out.reshape(-1), np.asarray(occ.occupancy, dtype=int)


def scale_to_annual_energy(power_kw: np.ndarray, annual_kwh: float) -> np.ndarray:
    """Rescale a profile so its energy matches an annual target pro rata.

    Same idea as richardsonpy's ``do_normalization`` option: the shape is
    kept, the magnitude is scaled so the energy over the simulated days equals
    ``annual_kwh * n_days / 365``.

    Parameters
    ----------
    power_kw : numpy.ndarray
        30-min mean power in kW, shape ``(n_days, 48)``.
    annual_kwh : float
        Target energy per 365 days, kWh.

    Returns
    -------
    numpy.ndarray
        Rescaled power in kW, same shape.
    """
    power_kw = np.asarray(power_kw, dtype=float)
    energy_kwh = power_kw.sum() * MINUTES_PER_SLOT / 60.0
    target_kwh = annual_kwh * power_kw.shape[0] / N_DAYS
    if energy_kwh <= 0:
        return power_kw.copy()
    return power_kw * (target_kwh / energy_kwh)


def active_occupancy_half_hour(active_occupancy_10min: np.ndarray) -> np.ndarray:
    """Mean number of active occupants per half-hour.

    Parameters
    ----------
    active_occupancy_10min : numpy.ndarray
        Active occupants per 10-minute step, shape ``(n_days * 144,)``.

    Returns
    -------
    numpy.ndarray
        Mean active occupants (persons), shape ``(n_days, 48)``.
    """
    occ = np.asarray(active_occupancy_10min, dtype=float)
    return occ.reshape(-1, SLOTS_PER_DAY, 3).mean(axis=2)


def hvac_load_kw(
    active_occ_hh: np.ndarray,
    temp_c: np.ndarray,
    heating_kw: float,
    cooling_kw: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Seeded space heating/cooling (reverse-cycle air-conditioner) load.

    In a slot the unit can run if someone is actively at home (mean active
    occupancy > 0) and the slot is in :data:`HEATING_SLOTS` /
    :data:`COOLING_SLOTS`. Its load is
    ``rating * clip(degrees beyond balance point / DEGREE_SPAN_C, 0, 1)``
    times a per-slot duty factor ``U(0.5, 1.0)``; on each day the household
    switches the unit on at all only with probability
    ``0.3 + 0.7 * intensity``.

    Parameters
    ----------
    active_occ_hh : numpy.ndarray
        Mean active occupants per half-hour, shape ``(n_days, 48)``.
    temp_c : numpy.ndarray
        Daily mean temperature, deg C, shape ``(n_days,)``.
    heating_kw : float
        Electrical heating rating, kW (0 = no electric heating).
    cooling_kw : float
        Electrical cooling rating, kW (0 = no air-conditioning).
    rng : numpy.random.Generator
        Seeded generator.

    Returns
    -------
    numpy.ndarray
        HVAC electrical load in kW, shape ``(n_days, 48)``, non-negative.
    """
    n_days = active_occ_hh.shape[0]
    home = active_occ_hh > 0
    duty = rng.uniform(0.5, 1.0, size=(n_days, SLOTS_PER_DAY))
    day_draw = rng.random(n_days)
    load = np.zeros((n_days, SLOTS_PER_DAY))
    for rating, intensity, slots in (
        (heating_kw, np.clip((HEATING_BALANCE_C - temp_c) / DEGREE_SPAN_C, 0, 1), HEATING_SLOTS),
        (cooling_kw, np.clip((temp_c - COOLING_BALANCE_C) / DEGREE_SPAN_C, 0, 1), COOLING_SLOTS),
    ):
        if rating <= 0:
            continue
        used = (intensity > 0) & (day_draw < 0.3 + 0.7 * intensity)
        window = np.zeros(SLOTS_PER_DAY, dtype=bool)
        window[slots] = True
        on = home & window[None, :] & used[:, None]
        load += np.where(on, rating * intensity[:, None] * duty, 0.0)
    return load


def simulate_household(
    spec: HouseholdSpec,
    irradiance_1min: np.ndarray,
    temp_c: np.ndarray,
    start_day: int = 0,
) -> np.ndarray:
    """Full 30-min demand of one household (richardsonpy + HVAC).

    The richardsonpy appliance + lighting profile (whose raw annual energy
    typically overshoots its own calibration target by 10-80 %) is scaled to
    ``spec.annual_kwh`` with :func:`scale_to_annual_energy`; the HVAC load of
    :func:`hvac_load_kw` and the constant ``spec.base_kw`` are then added
    unscaled.

    Parameters
    ----------
    spec : HouseholdSpec
        Household attributes and seed.
    irradiance_1min : numpy.ndarray
        Global horizontal irradiance for lighting, W/m^2, ``(n_days, 1440)``.
    temp_c : numpy.ndarray
        Daily mean temperature, deg C, shape ``(n_days,)``.
    start_day : int, optional
        0-based index of the first day.

    Returns
    -------
    numpy.ndarray
        30-min mean active power in kW, shape ``(n_days, 48)``, float64.
    """
    power_w, occ10 = simulate_richardson(
        spec.occupants, irradiance_1min, spec.lighting_config, spec.seed, start_day
    )
    appliance_kw = scale_to_annual_energy(half_hour_means(power_w) / 1000.0, spec.annual_kwh)
    rng = np.random.default_rng([spec.seed, 1])
    hvac = hvac_load_kw(
        active_occupancy_half_hour(occ10), temp_c, spec.heating_kw, spec.cooling_kw, rng
    )
    return appliance_kw + hvac + spec.base_kw


def _simulate_household_star(args: tuple) -> np.ndarray:
    """Picklable adaptor for :class:`ProcessPoolExecutor`."""
    return simulate_household(*args)


def generate(
    seed: int = 2024,
    households: int = 40,
    n_days: int = N_DAYS,
    workers: int = 2,
) -> tuple[np.ndarray, np.ndarray, list[HouseholdSpec], np.ndarray]:
    """Generate demand and PV profiles.

    Parameters
    ----------
    seed : int, optional
        Master seed.
    households : int, optional
        Number of households.
    n_days : int, optional
        Number of days from 1 January (365 for the committed data).
    workers : int, optional
        Worker processes for the household simulations (1 = serial).
        Results do not depend on this value.

    Returns
    -------
    demand_kw : numpy.ndarray
        float32, ``(households, n_days, 48)``, kW.
    pv : numpy.ndarray
        float64, ``(n_days, 48)``, per-unit of PV capacity.
    specs : list of HouseholdSpec
        Household attributes.
    temp_c : numpy.ndarray
        Daily mean temperature used for HVAC, deg C, ``(n_days,)``.
    """
    ss = np.random.SeedSequence(seed)
    weather_ss, house_ss, attr_ss = ss.spawn(3)
    weather_rng = np.random.default_rng(weather_ss)

    ghi_cs, poa_cs = clearsky_irradiance(n_days)
    poa_hh = half_hour_means(poa_cs)
    ref_day = int(np.unravel_index(np.argmax(poa_hh), poa_hh.shape)[0])
    clouds = cloud_factors(n_days, weather_rng, force_clear=(ref_day,))
    pv = pv_normalised_profile(poa_cs, clouds)
    temp_c = daily_mean_temperature(n_days, weather_rng)
    ghi = ghi_cs * np.repeat(clouds, MINUTES_PER_SLOT, axis=1)

    specs = draw_households(households, np.random.default_rng(attr_ss), house_ss)
    tasks = [(s, ghi, temp_c) for s in specs]
    if workers > 1:
        ctx = mp.get_context("fork") if sys.platform != "win32" else None
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as ex:
            rows = list(ex.map(_simulate_household_star, tasks))
    else:
        rows = [_simulate_household_star(t) for t in tasks]
    demand = np.stack(rows).astype(np.float32)
    return demand, pv, specs, temp_c


# --------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------
def summary_stats(demand_kw: np.ndarray, pv: np.ndarray) -> dict[str, float]:
    """Summary statistics of generated profiles.

    Parameters
    ----------
    demand_kw : numpy.ndarray
        ``(households, days, 48)`` demand in kW.
    pv : numpy.ndarray
        ``(days, 48)`` per-unit PV.

    Returns
    -------
    dict
        Keys: ``mean_kw`` (all households and slots), ``hh_mean_min_kw``,
        ``hh_mean_max_kw``, ``annual_kwh_mean`` (per household, scaled to 365
        days), ``hh_peak_median_kw`` / ``hh_peak_p95_kw`` (median / 95th
        percentile over households of each one's maximum 30-min demand),
        ``evening_peak_max_kw`` (17:00-22:00), ``aggregate_peak_kw``,
        ``pv_max``, ``pv_mean`` (capacity factor), ``pv_summer_kwh_per_kw``
        and ``pv_winter_kwh_per_kw`` (mean daily yield, Dec-Feb / Jun-Aug).
    """
    d = demand_kw.astype(float)
    hh_mean = d.mean(axis=(1, 2))
    hh_peak = d.max(axis=(1, 2))
    days = np.arange(pv.shape[0])
    months = np.array([day_date(i).month for i in days])
    daily_pv = pv.sum(axis=1) * 0.5
    summer = np.isin(months, (12, 1, 2))
    winter = np.isin(months, (6, 7, 8))
    return {
        "mean_kw": float(d.mean()),
        "hh_mean_min_kw": float(hh_mean.min()),
        "hh_mean_max_kw": float(hh_mean.max()),
        "annual_kwh_mean": float(hh_mean.mean() * 8760.0),
        "hh_peak_median_kw": float(np.median(hh_peak)),
        "hh_peak_p95_kw": float(np.percentile(hh_peak, 95)),
        "evening_peak_max_kw": float(d[:, :, 34:44].max()),
        "aggregate_peak_kw": float(d.sum(axis=0).max()),
        "pv_max": float(pv.max()),
        "pv_mean": float(pv.mean()),
        "pv_summer_kwh_per_kw": float(daily_pv[summer].mean()) if summer.any() else float("nan"),
        "pv_winter_kwh_per_kw": float(daily_pv[winter].mean()) if winter.any() else float("nan"),
    }


def readme_text(
    stats: dict[str, float],
    specs: list[HouseholdSpec],
    seed: int,
    demand_shape: tuple[int, ...],
    pv_shape: tuple[int, ...],
) -> str:
    """Render ``profiles/data/README.md``.

    Parameters
    ----------
    stats : dict
        Output of :func:`summary_stats`.
    specs : list of HouseholdSpec
        Household attributes.
    seed : int
        Master seed.
    demand_shape, pv_shape : tuple of int
        Array shapes.

    Returns
    -------
    str
        Markdown text.
    """
    occ_counts = np.bincount([s.occupants for s in specs], minlength=6)[1:]
    n_heat = sum(s.heating_kw > 0 for s in specs)
    n_cool = sum(s.cooling_kw > 0 for s in specs)
    try:
        import pvlib
        import richardsonpy

        versions = (
            f"richardsonpy {richardsonpy.__version__}, pvlib {pvlib.__version__}, "
            f"numpy {np.__version__}"
        )
    except Exception:  # pragma: no cover - documentation only
        versions = f"numpy {np.__version__}"
    return f"""# Residential demand and PV profiles

Generated by `profiles/generate.py` (run
`python profiles/generate.py --seed {seed} --households {demand_shape[0]}`;
needs the optional `profiles` extra: `richardsonpy`, `pvlib`).
Do not edit by hand; re-run the generator instead.

* Seed: `{seed}`; generator versions: {versions}.
* Re-running with the same seed and versions reproduces the `.npy` files
  byte for byte (independent of `--workers`); a full run takes a few minutes
  on 2 cores.

## Files

| file | dtype | shape | unit |
|---|---|---|---|
| `residential_demand_kw.npy` | float32 | `{demand_shape}` = (household, day, half-hour) \
| kW, 30-min mean active power |
| `pv_normalised.npy` | float64 | `{pv_shape}` = (day, half-hour) \
| kW per kW of PV capacity (per-unit), 30-min mean |

Load with `numpy.load(path)`.

## Calendar and time

* Day index 0 = 1 January {YEAR} (Sunday), index 364 = 31 December; Melbourne,
  Australia (lat {LATITUDE_DEG}, lon {LONGITUDE_DEG}), so days ~0-58 and
  334-364 are summer and days ~151-242 are winter (e.g. index 172 = 22 June).
* Slot k covers [k*30, (k+1)*30) minutes after midnight, local standard time
  fixed at UTC+10 (AEST); daylight saving is ignored.

## Demand model

* richardsonpy (Richardson et al. UK occupancy + appliance + lighting model,
  1-minute resolution) for each household, averaged to 30-min means.
  Occupants drawn from P(1..5) = {list(OCCUPANT_PROBS)}; lighting
  configuration drawn uniformly from richardsonpy's 100 bulb sets; appliance
  ownership randomised by richardsonpy. The raw richardsonpy output
  overshoots its own calibration, so each household's appliance+lighting
  profile is rescaled (shape kept, as richardsonpy's `do_normalization`) to
  richardsonpy's single-family-house reference energy
  (2700/3200/4000/4400/5500 kWh/yr for 1..5 occupants) times a seeded
  household multiplier exp(N(0, 0.15)) clipped to [0.75, 1.35].
* Southern hemisphere: the lighting model is driven by Melbourne clear-sky
  global horizontal irradiance times the same seeded cloudiness as the PV
  profile; richardsonpy's month-of-year lookup receives the day shifted by
  {SEASON_SHIFT_DAYS} days; weekends follow the {YEAR} calendar.
* Plus a seeded constant always-on base load U(0.03, 0.12) kW per household
  (second fridge, pumps, network equipment), since richardsonpy's overnight
  demand (~0.05 kW) is low for Australian homes.
* UK electric showers / water and storage heaters are disabled. Instead a
  seeded reverse-cycle air-conditioner component is added: {n_heat} of
  {len(specs)} homes heat electrically, {n_cool} have cooling; rating
  U(1.0, 2.5) kW; runs only when occupants are active at home, heating
  06:00-09:00 and 16:00-23:00 when the synthetic daily mean temperature is
  below {HEATING_BALANCE_C} C, cooling 13:00-23:00 above {COOLING_BALANCE_C} C,
  scaled by degrees beyond the balance point (full power at
  {DEGREE_SPAN_C} C) and a random duty factor.
* Household sizes in this file: {dict(zip(range(1, 6), occ_counts.tolist()))}.

## PV model

* pvlib Ineichen clear-sky (bundled Linke turbidity climatology, no
  downloads), Hay-Davies transposition onto a fixed array, tilt
  {PV_TILT_DEG:g} deg, azimuth {PV_AZIMUTH_DEG:g} deg (north), albedo {GROUND_ALBEDO}.
* Normalised by the maximum 30-min clear-sky POA over the year, so the
  clear-sky peak slot is exactly 1.0 (that day is forced clear).
* Multiplied by a seeded cloud factor: clear days (p = 0.10 winter .. 0.30
  summer) have factor 1; other days have a Beta-distributed daily clearness
  (mean 0.55 winter .. 0.75 summer) plus intra-day AR(1) variability, clipped
  to [0, 1].

## Summary statistics

| statistic | value |
|---|---|
| mean demand, all households (kW) | {stats['mean_kw']:.3f} |
| household mean demand, min / max (kW) \
| {stats['hh_mean_min_kw']:.3f} / {stats['hh_mean_max_kw']:.3f} |
| mean annual energy per household (kWh) | {stats['annual_kwh_mean']:.0f} |
| household 30-min peak, median (kW) | {stats['hh_peak_median_kw']:.2f} |
| household 30-min peak, P95 over households (kW) | {stats['hh_peak_p95_kw']:.2f} |
| max 30-min demand 17:00-22:00 (kW) | {stats['evening_peak_max_kw']:.2f} |
| aggregate peak of all households (kW) | {stats['aggregate_peak_kw']:.2f} |
| PV peak (per-unit) | {stats['pv_max']:.3f} |
| PV capacity factor (mean per-unit) | {stats['pv_mean']:.3f} |
| PV mean daily yield Dec-Feb / Jun-Aug (kWh/kW) \
| {stats['pv_summer_kwh_per_kw']:.2f} / {stats['pv_winter_kwh_per_kw']:.2f} |
"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse command-line arguments.

    Parameters
    ----------
    argv : list of str, optional
        Arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    argparse.Namespace
        ``seed``, ``households``, ``out``, ``days``, ``workers``.
    """
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seed", type=int, default=2024, help="master seed (default 2024)")
    p.add_argument("--households", type=int, default=40, help="number of households (default 40)")
    p.add_argument(
        "--out", type=Path, default=Path(__file__).resolve().parent / "data",
        help="output directory (default profiles/data)",
    )
    p.add_argument("--days", type=int, default=N_DAYS, help="days from 1 Jan (default 365)")
    p.add_argument(
        "--workers", type=int, default=min(2, os.cpu_count() or 1),
        help="worker processes (default 2); does not change results",
    )
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point: generate and write the data files.

    Parameters
    ----------
    argv : list of str, optional
        Command-line arguments.

    Returns
    -------
    int
        Process exit status (0 on success).
    """
    args = parse_args(argv)
    t0 = time.perf_counter()
    demand, pv, specs, _temp = generate(args.seed, args.households, args.days, args.workers)
    runtime = time.perf_counter() - t0
    args.out.mkdir(parents=True, exist_ok=True)
    np.save(args.out / "residential_demand_kw.npy", demand)
    np.save(args.out / "pv_normalised.npy", pv.astype(np.float64))
    stats = summary_stats(demand, pv)
    (args.out / "README.md").write_text(
        readme_text(stats, specs, args.seed, demand.shape, pv.shape)
    )
    print(f"wrote {args.out} in {runtime:.1f} s")
    for k, v in stats.items():
        print(f"  {k}: {v:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
