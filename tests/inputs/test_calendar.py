"""Absolute time: period starts and ends from a start date and an IANA time zone, across DST."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from oe_opt.errors import StudyError
from oe_opt.inputs.calendar import day_label, period_bounds, period_starts, zone


def test_periods_are_contiguous_and_half_an_hour_long_across_the_end_of_daylight_saving():
    # Melbourne: 2024-04-07 03:00 AEDT (+11) -> 02:00 AEST (+10); day index 97 of 2024
    starts, ends = period_bounds(dt.date(2024, 1, 1), np.full(48, 97), np.arange(48), 0.5,
                                 "Australia/Melbourne")
    assert starts[0] == "2024-04-07T00:00:00+11:00"
    s = [dt.datetime.fromisoformat(x) for x in starts]
    e = [dt.datetime.fromisoformat(x) for x in ends]
    assert all((b - a).total_seconds() == 1800 for a, b in zip(s, e))
    assert all(e[i] == s[i + 1] for i in range(47))
    # the local clock repeats 02:00-02:30 once in each offset
    assert "2024-04-07T02:00:00+11:00" in starts and "2024-04-07T02:00:00+10:00" in starts
    assert starts[-1] == "2024-04-07T22:30:00+10:00"


def test_start_of_daylight_saving_skips_the_local_hour():
    starts = period_starts(dt.date(2024, 1, 1), 279, 48, 0.5, "Australia/Melbourne")  # 2024-10-06
    local = [s.strftime("%H:%M%z") for s in starts]
    assert local[3] == "01:30+1000" and local[4] == "03:00+1100"
    utc = [s.astimezone(dt.timezone.utc) for s in starts]  # same-zone subtraction is wall-clock
    assert all((b - a) == dt.timedelta(minutes=30) for a, b in zip(utc, utc[1:]))


def test_utc_by_default_and_unknown_zones_fail_clearly():
    assert period_starts(dt.date(2024, 1, 1), 1, 2, 0.5)[1].isoformat() == \
        "2024-01-02T00:30:00+00:00"
    with pytest.raises(StudyError, match="not an IANA time zone"):
        zone("Mars/Olympus")
    assert day_label(dt.date(2024, 1, 1), 220) == "2024-08-08 (day 220)"
    assert day_label(None, 220) == "day 220"
