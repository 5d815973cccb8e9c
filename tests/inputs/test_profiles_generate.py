"""Tests for ``profiles/generate.py`` and the committed profile data files."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
GENERATOR_PATH = REPO_ROOT / "profiles" / "generate.py"
DATA_DIR = REPO_ROOT / "profiles" / "data"
MODULE_NAME = "profiles_generate"


def _load_generator():
    if MODULE_NAME in sys.modules:
        return sys.modules[MODULE_NAME]
    spec = importlib.util.spec_from_file_location(MODULE_NAME, GENERATOR_PATH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[MODULE_NAME] = module  # needed by dataclasses and pickling
    spec.loader.exec_module(module)
    return module


gen = _load_generator()


# ---------------------------------------------------------------------------
# Pure helpers (numpy only)
# ---------------------------------------------------------------------------
def test_half_hour_means_known_values():
    minutes = np.arange(2 * 1440, dtype=float)
    out = gen.half_hour_means(minutes)
    assert out.shape == (2, 48)
    assert out[0, 0] == pytest.approx(14.5)  # mean of 0..29
    assert out[1, 47] == pytest.approx(np.arange(2850, 2880).mean())
    # 2-D input and constant input
    np.testing.assert_allclose(gen.half_hour_means(np.full((3, 1440), 2.5)), 2.5)


def test_half_hour_means_rejects_partial_days():
    with pytest.raises(ValueError):
        gen.half_hour_means(np.zeros(1000))


def test_calendar_and_season_shift():
    assert gen.day_date(0).isoformat() == "2023-01-01"
    assert gen.is_weekend(0) and not gen.is_weekend(1)  # Sunday, Monday
    assert gen.is_weekend(6)  # Saturday 7 Jan
    assert gen.richardson_initial_day(0) == 7
    assert gen.richardson_initial_day(1) == 1
    # Melbourne winter (day 220 ~ 9 Aug) maps to a UK winter day (Feb)
    uk_day = gen.richardson_season_day(220)
    assert 32 <= uk_day <= 59
    assert 1 <= gen.richardson_season_day(364) <= 365
    s = gen.seasonal_phase(np.array([20, 202]))
    assert s[0] == pytest.approx(1.0) and s[1] < 0.01


def test_cloud_factors_deterministic_and_bounded():
    a = gen.cloud_factors(30, np.random.default_rng(7))
    b = gen.cloud_factors(30, np.random.default_rng(7))
    c = gen.cloud_factors(30, np.random.default_rng(8))
    assert a.shape == (30, 48)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.min() >= 0.0 and a.max() <= 1.0
    forced = gen.cloud_factors(10, np.random.default_rng(1), start_day=5, force_clear=(8, 100))
    assert np.all(forced[3] == 1.0)


def test_pv_normalised_profile_peak_is_one():
    poa = np.zeros((2, 1440))
    poa[:, 360:1080] = np.sin(np.linspace(0, np.pi, 720)) * np.array([[1000.0], [500.0]])
    clouds = np.ones((2, 48))
    clouds[1] = 0.5
    pv = gen.pv_normalised_profile(poa, clouds)
    assert pv.shape == (2, 48)
    assert pv.max() == 1.0
    assert pv[:, 0].max() == 0.0
    assert pv[1].max() == pytest.approx(0.25, rel=1e-3)


def test_daily_mean_temperature_seasons():
    t = gen.daily_mean_temperature(365, np.random.default_rng(3))
    assert t.shape == (365,)
    assert t[0:59].mean() > t[151:243].mean() + 6.0  # summer warmer than winter


def test_scale_to_annual_energy():
    p = np.full((2, 48), 0.1)
    out = gen.scale_to_annual_energy(p, 365.0)  # 1 kWh per day target
    assert out.sum() * 0.5 == pytest.approx(2.0)


def test_hvac_load_windows_and_occupancy():
    rng = np.random.default_rng(0)
    occ = np.ones((3, 48))
    occ[0, 36] = 0.0  # nobody active at 18:00 on the cold day
    temp = np.array([5.0, 18.0, 32.0])  # cold, mild, hot
    load = gen.hvac_load_kw(occ, temp, heating_kw=2.0, cooling_kw=2.0, rng=rng)
    assert load.shape == (3, 48)
    assert load.min() >= 0.0 and load.max() <= 2.0
    assert np.all(load[1] == 0.0)
    assert load[0, 36] == 0.0
    heat_mask = np.zeros(48, bool)
    heat_mask[gen.HEATING_SLOTS] = True
    cool_mask = np.zeros(48, bool)
    cool_mask[gen.COOLING_SLOTS] = True
    assert np.all(load[0, ~heat_mask] == 0.0) and load[0, heat_mask].max() > 0.5
    assert np.all(load[2, ~cool_mask] == 0.0) and load[2, cool_mask].max() > 0.5
    none = gen.hvac_load_kw(occ, temp, 0.0, 0.0, np.random.default_rng(0))
    assert np.all(none == 0.0)


def test_draw_households_deterministic():
    def draw():
        return gen.draw_households(
            20, np.random.default_rng(1), np.random.SeedSequence(2)
        )

    a, b = draw(), draw()
    assert a == b
    assert {h.occupants for h in a} <= {1, 2, 3, 4, 5}
    assert all(0 <= h.lighting_config < 100 for h in a)
    assert len({h.seed for h in a}) == 20


# ---------------------------------------------------------------------------
# Generator functions needing the optional extras (tiny inputs)
# ---------------------------------------------------------------------------
def test_clearsky_irradiance_melbourne():
    pytest.importorskip("pvlib")
    ghi_s, poa_s = gen.clearsky_irradiance(1, start_day=10)  # January
    ghi_w, poa_w = gen.clearsky_irradiance(1, start_day=172)  # June
    assert ghi_s.shape == poa_s.shape == (1, 1440)
    assert ghi_s[0, 0] == 0.0 and poa_w[0, 0] == 0.0  # midnight
    assert 900 < ghi_s.max() < 1200
    assert poa_w.sum() < poa_s.sum()
    # north-facing tilt helps most in winter
    assert poa_w.sum() > ghi_w.sum()
    # solar noon near 12:30 AEST in Melbourne
    assert 11 * 60 < int(np.argmax(ghi_s[0])) < 14 * 60


def test_simulate_richardson_short_run_deterministic():
    pytest.importorskip("richardsonpy")
    irr = np.zeros((2, 1440))
    irr[:, 420:1140] = 400.0
    p1, occ1 = gen.simulate_richardson(2, irr, lighting_config=3, seed=11)
    p2, occ2 = gen.simulate_richardson(2, irr, lighting_config=3, seed=11)
    p3, _ = gen.simulate_richardson(2, irr, lighting_config=3, seed=12)
    assert p1.shape == (2 * 1440,) and occ1.shape == (2 * 144,)
    assert p1.min() >= 0.0 and p1.mean() > 10.0  # W; at least fridge/standby
    np.testing.assert_array_equal(p1, p2)
    np.testing.assert_array_equal(occ1, occ2)
    assert not np.array_equal(p1, p3)


def test_generate_small_is_worker_independent():
    pytest.importorskip("richardsonpy")
    pytest.importorskip("pvlib")
    d1, pv1, specs, temp = gen.generate(seed=5, households=2, n_days=2, workers=1)
    d2, pv2, _, _ = gen.generate(seed=5, households=2, n_days=2, workers=2)
    assert d1.shape == (2, 2, 48) and d1.dtype == np.float32
    assert pv1.shape == (2, 48) and temp.shape == (2,)
    assert len(specs) == 2
    np.testing.assert_array_equal(d1, d2)
    np.testing.assert_array_equal(pv1, pv2)
    assert d1.min() >= 0.0
    assert 0.0 <= pv1.min() and pv1.max() <= 1.0


# ---------------------------------------------------------------------------
# Committed data files
# ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def demand():
    path = DATA_DIR / "residential_demand_kw.npy"
    if not path.exists():
        pytest.fail(f"missing committed data file {path}")
    return np.load(path)


@pytest.fixture(scope="module")
def pv():
    path = DATA_DIR / "pv_normalised.npy"
    if not path.exists():
        pytest.fail(f"missing committed data file {path}")
    return np.load(path)


def test_demand_file_shape_and_values(demand):
    assert demand.dtype == np.float32
    assert demand.ndim == 3 and demand.shape[1:] == (365, 48)
    assert demand.shape[0] >= 1
    assert np.isfinite(demand).all()
    assert demand.min() >= 0.0


def test_demand_magnitudes(demand):
    hh_mean = demand.astype(float).mean(axis=(1, 2))
    assert hh_mean.min() >= 0.2 and hh_mean.max() <= 1.0
    assert 0.3 <= hh_mean.mean() <= 0.8
    evening = demand[:, :, 34:44]  # 17:00-22:00
    assert (evening.max(axis=(1, 2)) >= 2.0).any()
    # evening is busier than the small hours on average
    assert demand[:, :, 36:42].mean() > 2 * demand[:, :, 4:10].mean()


def test_demand_households_differ(demand):
    assert not np.allclose(demand[0], demand[1])


def test_pv_file(pv):
    assert pv.dtype == np.float64
    assert pv.shape == (365, 48)
    assert np.isfinite(pv).all()
    assert pv.min() >= 0.0
    assert pv.max() == 1.0
    assert np.all(pv[:, 0] == 0.0) and np.all(pv[:, 47] == 0.0)  # midnight
    # southern hemisphere: day 172 (22 June) is winter, Dec-Feb summer
    summer_daily = pv[np.r_[0:59, 334:365]].sum(axis=1)
    winter_daily = pv[151:243].sum(axis=1)
    assert pv[172].sum() < summer_daily.max()
    assert winter_daily.mean() < summer_daily.mean()
    assert pv[172].max() < 1.0


def test_readme_present():
    text = (DATA_DIR / "README.md").read_text()
    assert "residential_demand_kw.npy" in text and "pv_normalised.npy" in text
    assert "Seed" in text
