"""Thermal limits other than 100 %: ``line_max_pct`` and ``transformer_max_pct`` are applied."""

from __future__ import annotations

import pytest

from oe_opt.runs.day import run_day
from oe_opt.study import load_study

PERIODS = [24, 38]


def _per_period(env):
    return env.drop_duplicates(["period", "direction"]).set_index(["period", "direction"])


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    from conftest import TUTORIAL

    return _per_period(run_day(load_study(TUTORIAL), "bisect", periods=PERIODS).envelopes)


@pytest.mark.parametrize("method", ["bisect", "lp"])
def test_a_lower_line_limit_lowers_line_limited_envelopes(write_study, reference, method):
    ref = reference.xs("import", level="direction")
    assert ref.binding.str.startswith("line:").all() and (ref.max_line_loading_pct > 95).all()
    st = load_study(write_study({"limits": {"line_max_pct": 80.0}}))
    env = _per_period(run_day(st, method, periods=PERIODS).envelopes).xs("import", level="direction")
    assert env.verified.all()
    assert (env.max_line_loading_pct <= 80.0 + 1e-6).all()
    assert (env.max_line_loading_pct > 75.0).all()  # limited by it, not far below
    assert env.binding.str.startswith("line:").all()
    assert (env.oe_kw < ref.oe_kw - 1.0).all()


@pytest.mark.parametrize("method", ["bisect", "lp"])
def test_a_low_transformer_limit_binds(write_study, reference, method):
    ref = reference.xs("import", level="direction")
    cap = float(ref.transformer_loading_pct.min()) * 0.8
    st = load_study(write_study({"limits": {"transformer_max_pct": cap}}))
    env = _per_period(run_day(st, method, periods=PERIODS).envelopes).xs("import", level="direction")
    assert env.verified.all()
    ok = env[env.status == "ok"]
    assert len(ok) and (ok.transformer_loading_pct <= cap + 1e-6).all()
    assert ok.binding.str.startswith("transformer:").all()
    assert (ok.oe_kw < ref.loc[ok.index, "oe_kw"]).all()
