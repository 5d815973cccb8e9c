"""The per-direction summary: counts, and ``all_verified`` false as soon as one period is not."""

from __future__ import annotations

import numpy as np
import pandas as pd

from oe_opt.analysis.summary import summarise
from oe_opt.io.results import ENVELOPE_COLUMNS


def _env(statuses, verified, customers=2):
    rows = []
    for t, (s, v) in enumerate(zip(statuses, verified)):
        for c in range(customers):
            row = dict.fromkeys(ENVELOPE_COLUMNS, 0.0)
            row.update(day=0, period=t, time=f"{t:02d}:00", direction="export", customer=f"c{c}",
                       oe_kw=np.nan if s in ("infeasible", "nonconvergent") else 2.0 + t,
                       method="step", binding="cap" if s == "at_cap" else "v_max:x",
                       status=s, verified=v, n_powerflows=3, seconds=0.1)
            rows.append(row)
    return pd.DataFrame(rows, columns=ENVELOPE_COLUMNS)


def test_all_verified_needs_every_period_verified():
    assert summarise(_env(["ok", "ok", "at_cap"], [True, True, True]), 0.5).loc["export", "all_verified"]
    s = summarise(_env(["ok", "ok", "at_cap"], [True, False, True]), 0.5)
    assert not s.loc["export", "all_verified"]
    s = summarise(_env(["ok", "ok"], [False, False]), 0.5)
    assert not s.loc["export", "all_verified"]


def test_one_unverified_customer_makes_the_period_unverified():
    env = _env(["ok", "ok"], [True, True])
    env.loc[1, "verified"] = False  # period 0, second customer
    assert not summarise(env, 0.5).loc["export", "all_verified"]


def test_counts_by_status():
    s = summarise(_env(["ok", "infeasible", "nonconvergent", "nonconvergent", "at_cap"],
                       [True, True, False, False, True]), 0.5).loc["export"]
    assert (s.periods, s.infeasible, s.nonconvergent, s.at_cap) == (5, 1, 2, 1)
    assert not s.all_verified
