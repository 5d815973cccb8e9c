"""Fairness metrics: Jain's index on known inputs, energies and per-method summaries."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from oe_opt.analysis.fairness import allocation_metrics, energy_kwh, jain_index, per_period_jain


@pytest.mark.parametrize("n", [1, 2, 13])
@pytest.mark.parametrize("value", [0.3, 4.0, 10.0])
def test_jain_of_an_equal_allocation_is_one(n, value):
    assert jain_index(np.full(n, value)) == pytest.approx(1.0)


@pytest.mark.parametrize("n", [2, 5, 13])
def test_jain_of_one_non_zero_among_n_is_one_over_n(n):
    x = np.zeros(n)
    x[n // 2] = 7.5
    assert jain_index(x) == pytest.approx(1.0 / n)


def test_jain_hand_computed():
    # (1 + 2 + 3)^2 / (3 * (1 + 4 + 9)) = 36 / 42
    assert jain_index([1.0, 2.0, 3.0]) == pytest.approx(36.0 / 42.0)
    # (10 + 5 + 0 + 5)^2 / (4 * (100 + 25 + 0 + 25)) = 400 / 600
    assert jain_index([10.0, 5.0, 0.0, 5.0]) == pytest.approx(2.0 / 3.0)


def test_jain_is_scale_invariant_and_bounded():
    rng = np.random.default_rng(4)
    for _ in range(20):
        x = rng.uniform(0, 10, size=rng.integers(1, 20))
        j = jain_index(x)
        assert 1.0 / len(x) - 1e-12 <= j <= 1.0 + 1e-12
        assert jain_index(3.7 * x) == pytest.approx(j)


def test_jain_conventions_zero_nan_and_errors():
    assert jain_index(np.zeros(4)) == 1.0  # documented: everyone gets the same (nothing)
    assert math.isnan(jain_index([]))
    assert math.isnan(jain_index([np.nan, np.nan]))
    assert jain_index([2.0, np.nan, 2.0]) == pytest.approx(1.0)  # NaN ignored
    with pytest.raises(ValueError, match=">= 0"):
        jain_index([1.0, -0.5])
    with pytest.raises(ValueError, match="weights"):
        jain_index([1.0, 2.0], weights=[1.0, 0.0])


def test_weighted_jain_scores_a_proportional_allocation_one():
    w = np.array([3.0, 5.0, 10.0])
    assert jain_index(0.4 * w, weights=w) == pytest.approx(1.0)
    assert jain_index(0.4 * w) < 1.0


def test_energy_counts_infeasible_periods_as_zero():
    assert energy_kwh([2.0, np.nan, 4.0], 0.5) == pytest.approx(3.0)
    assert energy_kwh([2.0, np.nan, 4.0], 0.25) == pytest.approx(1.5)


def _envelopes() -> pd.DataFrame:
    # two periods x three customers, export; period 1 infeasible (NaN)
    rows = []
    for period, values, pf in ((0, [2.0, 4.0, 6.0], 5), (1, [np.nan] * 3, 1), (2, [3.0, 3.0, 3.0], 7)):
        for c, v in zip("abc", values):
            rows.append({"day": 0, "period": period, "direction": "export", "customer": c,
                         "oe_kw": v, "n_powerflows": pf, "seconds": 0.1, "verified": True})
    return pd.DataFrame(rows)


def test_allocation_metrics_on_known_envelopes():
    env = _envelopes()
    jain = per_period_jain(env)
    assert jain.loc[(0, 0, "export")] == pytest.approx(144.0 / (3 * 56.0))
    assert math.isnan(jain.loc[(0, 1, "export")])
    m = allocation_metrics(env, period_hours=0.5)
    assert m["total_kwh"] == pytest.approx((12.0 + 9.0) * 0.5)
    assert m["min_kw"] == 2.0 and m["max_kw"] == 6.0
    assert m["mean_kw"] == pytest.approx(21.0 / 6)
    assert m["jain_index"] == pytest.approx((144.0 / 168.0 + 1.0) / 2)
    assert m["n_feasible_periods"] == 2
    assert m["n_powerflows"] == 13  # counted once per period, not per customer
    assert m["seconds"] == pytest.approx(0.3)
    assert m["all_verified"] is True
