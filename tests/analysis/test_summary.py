"""Summaries: labelled energy columns, the worst-off customer, counts by status, ``all_verified``
false as soon as one period is not; per day and per network."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from oe_opt.analysis.summary import summarise, summarise_days, summarise_networks
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


def table(oe_by_customer: dict[str, list[float]], day=0, direction="export", statuses=None):
    rows = []
    n = len(next(iter(oe_by_customer.values())))
    for t in range(n):
        status = statuses[t] if statuses else "ok"
        for c, oe in oe_by_customer.items():
            row = dict.fromkeys(ENVELOPE_COLUMNS, 0.0)
            row.update(day=day, period=t, time=f"{t:02d}:00", direction=direction, customer=c,
                       oe_kw=np.nan if status != "ok" else oe[t], method="alloc", binding="v_max:x",
                       v_lowest_v=240, v_highest_v=250, max_line_loading_pct=10,
                       transformer_loading_pct=10, n_powerflows=2, verified=True, status=status,
                       n_lp=1, seconds=0.01)
            rows.append(row)
    return pd.DataFrame(rows, columns=ENVELOPE_COLUMNS)


def test_energy_is_labelled_per_customer_and_total_and_the_worst_off_customer_has_a_column():
    env = table({"a": [2.0, 4.0], "b": [6.0, 8.0]})
    s = summarise(env, period_hours=0.5).loc["export"]
    assert s.energy_kwh_per_customer == pytest.approx((4 + 6) * 0.5)  # mean over customers
    assert s.energy_kwh_total == pytest.approx((2 + 4 + 6 + 8) * 0.5)
    assert s.min_oe_kw == pytest.approx(4.0)  # smallest per-period mean
    assert s.min_customer_oe_kw == pytest.approx(2.0)  # customer a in period 0
    assert "energy_kwh" not in s.index


def test_statuses_beyond_ok_and_infeasible_are_tolerated_and_counted_per_network():
    env = table({"a": [2.0, 4.0, 6.0], "b": [2.0, 4.0, 6.0]},
                statuses=["ok", "infeasible", "nonconvergent"])
    s = summarise(env, 0.5).loc["export"]
    assert s.infeasible == 1 and s.min_customer_oe_kw == pytest.approx(2.0)
    net = env.assign(network="n1", n_customers=5, network_seconds=1.5)
    other = table({"c": [1.0, 1.0, 1.0]}).assign(network="n2", n_customers=3, network_seconds=0.5)
    t = summarise_networks(pd.concat([net, other]), 0.5, reused={"n2"})
    assert list(t.network) == ["n1", "n2"]
    r1, r2 = t.iloc[0], t.iloc[1]
    assert (r1.customers, r1.flexible, r1.infeasible, r1.nonconvergent) == (5, 2, 1, 1)
    assert (r2.customers, r2.flexible, r2.infeasible, r2.nonconvergent) == (3, 1, 0, 0)
    assert (r1.source, r2.source) == ("computed", "reused")
    assert r1.network_seconds == 1.5 and r1.periods == 3


def test_days_summary_has_one_row_per_day_and_direction():
    env = pd.concat([table({"a": [1.0, 1.0]}, day=d, direction=x) for d in (5, 2)
                     for x in ("export", "import")])
    s = summarise_days(env, 0.5)
    assert list(zip(s.day, s.direction)) == [(2, "export"), (2, "import"), (5, "export"),
                                             (5, "import")]
    assert s.columns[:2].tolist() == ["day", "direction"]


def test_days_summary_equals_each_days_own_summary():
    # three days, two directions, with infeasible, at-cap, nonconvergent and unverified periods
    # and a tie of binding constraints (the first by name wins, as Series.mode)
    parts = []
    for day, statuses in ((7, ["ok", "infeasible", "at_cap", "ok"]),
                          (3, ["ok", "ok", "nonconvergent", "ok"]),
                          (9, ["infeasible", "infeasible", "infeasible", "infeasible"])):
        for direction in ("import", "export"):
            e = _env(statuses, [True, day != 3, True, True], customers=3)
            e["day"], e["direction"] = day, direction
            e.loc[e.period == 3, "binding"] = "line:a"
            e["n_powerflows"] = e["period"] + day
            parts.append(e)
    env = pd.concat(parts, ignore_index=True)
    got = summarise_days(env, 0.5)
    want = pd.concat([summarise(g, 0.5).reset_index().assign(day=int(d))
                      for d, g in env.groupby("day", sort=True)], ignore_index=True)
    want = want[["day"] + [c for c in want.columns if c != "day"]]
    pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-12)
    # day 7: one limited period binds v_max:x, one line:a (a tie: the first by name)
    assert got[got.day == 7].most_binding.tolist() == ["line:a", "line:a"]
    assert got[got.day == 9].most_binding.tolist() == ["cap", "cap"]
    # and a test that can fail: a wrong period length changes the energies
    assert not np.allclose(summarise_days(env, 1.0).energy_kwh_total.fillna(0),
                           got.energy_kwh_total.fillna(0))
