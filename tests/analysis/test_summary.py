"""Summaries: labelled energy columns, the worst-off customer, per day and per network."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from oe_opt.analysis.summary import summarise, summarise_days, summarise_networks
from oe_opt.io.results import ENVELOPE_COLUMNS


def table(oe_by_customer: dict[str, list[float]], day=0, direction="export", statuses=None):
    rows = []
    n = len(next(iter(oe_by_customer.values())))
    for t in range(n):
        status = statuses[t] if statuses else "ok"
        for c, oe in oe_by_customer.items():
            rows.append([day, t, f"{t:02d}:00", direction, c, np.nan if status != "ok" else oe[t],
                         "alloc", "v_max:x", 240, 250, 10, 10, 2, True, status, 0, 1, 0.01])
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
    s = summarise(env).loc["export"]
    assert s.infeasible == 1 and s.min_customer_oe_kw == pytest.approx(2.0)
    net = env.assign(network="n1", n_customers=5, network_seconds=1.5)
    other = table({"c": [1.0, 1.0, 1.0]}).assign(network="n2", n_customers=3, network_seconds=0.5)
    t = summarise_networks(pd.concat([net, other]), reused={"n2"})
    assert list(t.network) == ["n1", "n2"]
    r1, r2 = t.iloc[0], t.iloc[1]
    assert (r1.customers, r1.flexible, r1.infeasible, r1.nonconvergent) == (5, 2, 1, 1)
    assert (r2.customers, r2.flexible, r2.infeasible, r2.nonconvergent) == (3, 1, 0, 0)
    assert (r1.source, r2.source) == ("computed", "reused")
    assert r1.network_seconds == 1.5 and r1.periods == 3


def test_days_summary_has_one_row_per_day_and_direction():
    env = pd.concat([table({"a": [1.0, 1.0]}, day=d, direction=x) for d in (5, 2)
                     for x in ("export", "import")])
    s = summarise_days(env)
    assert list(zip(s.day, s.direction)) == [(2, "export"), (2, "import"), (5, "export"),
                                             (5, "import")]
    assert s.columns[:2].tolist() == ["day", "direction"]
