"""Absolute time of the periods: a study's start date and time zone.

A study may give ``[study] start_date`` (the calendar date of the profile
data's day index 0) and ``timezone`` (an IANA name, default ``UTC``).  Period
``t`` of day index ``d`` then starts ``t`` × period length after local
midnight of ``start_date + d`` days, in elapsed (absolute) time: periods are
contiguous and all of equal length even on a day with a daylight-saving
change, where the local clock times shift by the change at the transition
(the zone library, :mod:`zoneinfo`, gives the offsets).  Time stamps are ISO
8601 strings with the UTC offset, e.g. ``2024-04-07T02:30:00+10:00``.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

from oe_opt.errors import StudyError

UTC = dt.timezone.utc


def zone(name: str | None) -> dt.tzinfo:
    """The time zone of an IANA name (``UTC`` if None).

    Raises
    ------
    StudyError
        If the name is not a known IANA time zone.
    """
    if name is None:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise StudyError(f"timezone {name!r} is not an IANA time zone name "
                         f"(e.g. Australia/Melbourne)") from exc


def period_starts(start_date: dt.date, day: int, n_periods: int, period_hours: float,
                  timezone: str | None = None) -> list[dt.datetime]:
    """Start of each period of day index `day`, as aware local datetimes.

    Parameters
    ----------
    start_date : date
        Calendar date of day index 0.
    day : int
        0-based day index.
    n_periods : int
    period_hours : float
        Period length (h).
    timezone : str, optional
        IANA name; UTC if omitted.

    Returns
    -------
    list of datetime
        Aware datetimes in `timezone`, ``period_hours`` apart in absolute time.
    """
    tz = zone(timezone)
    date = start_date + dt.timedelta(days=int(day))
    midnight = dt.datetime(date.year, date.month, date.day, tzinfo=tz).astimezone(UTC)
    step = dt.timedelta(hours=float(period_hours))
    return [(midnight + t * step).astimezone(tz) for t in range(int(n_periods))]


def period_bounds(start_date: dt.date, days: np.ndarray, periods: np.ndarray, period_hours: float,
                  timezone: str | None = None) -> tuple[list[str], list[str]]:
    """ISO 8601 ``start`` and ``end`` of each (day, period) pair (vectors of equal length)."""
    tz = zone(timezone)
    step = dt.timedelta(hours=float(period_hours))
    cache: dict[int, dt.datetime] = {}
    starts, ends = [], []
    for d, t in zip(np.asarray(days, dtype=int), np.asarray(periods, dtype=int)):
        if d not in cache:
            date = start_date + dt.timedelta(days=int(d))
            cache[d] = dt.datetime(date.year, date.month, date.day, tzinfo=tz).astimezone(UTC)
        s = cache[d] + int(t) * step
        starts.append(s.astimezone(tz).isoformat())
        ends.append((s + step).astimezone(tz).isoformat())
    return starts, ends


def day_label(start_date: dt.date | None, day: int) -> str:
    """``"2024-08-08 (day 220)"`` with a start date, else ``"day 220"``."""
    if start_date is None:
        return f"day {day}"
    return f"{(start_date + dt.timedelta(days=int(day))).isoformat()} (day {day})"
