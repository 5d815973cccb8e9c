"""``oe-opt compare`` and the comparison functions behind it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from conftest import TUTORIAL
from oe_opt.cli.main import main
from oe_opt.analysis.compare import (ANY_USE_COLUMNS, COMPARISON_COLUMNS, comparison_summary,
                                     comparison_table, violation_amount)
from oe_opt.model.limits import LimitCheck
from oe_opt.study import LimitSpec


def test_compare_command_writes_table_figure_and_summary(tmp_path):
    out = tmp_path / "cmp"
    r = CliRunner().invoke(main, ["compare", str(TUTORIAL), "--out", str(out)])
    assert r.exit_code == 0, r.output
    df = pd.read_csv(out / "comparison.csv")
    assert list(df.columns) == COMPARISON_COLUMNS + ANY_USE_COLUMNS
    assert len(df) == 48 * 2 and set(df.direction) == {"export", "import"}
    import matplotlib.image as mpimg

    img = mpimg.imread(out / "comparison.png")  # a decodable, non-blank image
    assert img.shape[1] > 800 and img[..., :3].std() > 0.05
    ok = df.bisect_kw.notna()
    assert np.allclose(df.lp_minus_bisect_kw[ok], df.lp_kw[ok] - df.bisect_kw[ok])
    assert (df.lp_minus_bisect_kw[ok].abs() <= 0.01).all() and (df.lp_minus_bisect_kw[ok] <= 1e-3).all()
    assert (df.step_kw[ok] <= df.bisect_kw[ok] + 1e-9).all()
    assert (df.lp_pf <= df.bisect_pf).all() and df.lp_pf.mean() <= df.bisect_pf.mean() / 3
    assert (df[["step_s", "bisect_s", "lp_s"]] > 0).all().all()
    text = r.output
    assert "unused" in text and "kWh" in text and "%" in text
    for m in ("step", "bisect", "lp"):
        assert f"{m}:" in text and "power flows" in text
    # the printed unused energy is the table's
    unused = (df.bisect_kw - df.step_kw).sum() * 0.5 * 13
    assert f"{unused:.2f}" in text
    # the any-use audit: the tutorial is full_use, so the main columns are the full_use ones
    assert np.allclose(df.bisect_full_use_kw[ok], df.bisect_kw[ok])
    assert (df.bisect_any_use_kw[ok] <= df.bisect_full_use_kw[ok] + 1e-9).all()
    assert np.allclose(df.lp_any_use_cost_kw[ok], df.lp_full_use_kw[ok] - df.lp_any_use_kw[ok])
    assert (df.lp_any_use_cost_kw[ok] > 0).any()
    row = df[(df.period == 34) & (df.direction == "import")].iloc[0]
    assert row.bisect_full_use_violation > 0 and row.bisect_full_use_violation_at.startswith("line:")
    ex = df[(df.direction == "export") & (df.bisect_full_use_violation > 0)]
    assert len(ex) and ex.bisect_full_use_violation_at.str.startswith("v_max:").all()
    cost = df.bisect_any_use_cost_kw.sum() * 0.5 * 13
    assert "any-use safety costs" in text and f"{cost:8.2f} kWh" in text


def test_compare_command_reports_study_errors(tmp_path):
    r = CliRunner().invoke(main, ["compare", str(tmp_path / "missing.toml"), "--out",
                                  str(tmp_path / "o")])
    assert r.exit_code == 2 and "error:" in r.output and not (tmp_path / "o").exists()


def _env(method: str, values: dict[tuple[int, str], float], pf: int) -> pd.DataFrame:
    rows = []
    for (t, d), v in values.items():
        for c in ("a", "b"):
            rows.append({"day": 0, "period": t, "time": f"{t:02d}:00", "direction": d, "customer": c,
                         "oe_kw": v, "n_powerflows": pf, "seconds": 0.01, "verified": True,
                         "status": "infeasible" if np.isnan(v) else "ok"})
    return pd.DataFrame(rows)


def test_comparison_table_and_unused_energy():
    step = {(0, "export"): 4.0, (1, "export"): 3.0, (0, "import"): 10.0, (1, "import"): np.nan}
    bis = {(0, "export"): 4.5, (1, "export"): 3.25, (0, "import"): 10.0, (1, "import"): np.nan}
    lp = {(0, "export"): 4.4995, (1, "export"): 3.25, (0, "import"): 10.0, (1, "import"): np.nan}
    table = comparison_table({"step": _env("step", step, 6), "bisect": _env("bisect", bis, 16),
                              "lp": _env("lp", lp, 3)})
    assert list(table.columns[:len(COMPARISON_COLUMNS)]) == COMPARISON_COLUMNS
    assert list(table.direction) == ["export", "export", "import", "import"]
    assert np.isclose(table.lp_minus_bisect_kw.iat[0], -0.0005)
    s = comparison_summary(table, n_flexible=2, period_hours=0.5)
    # export: (0.5 + 0.25) kW x 0.5 h x 2 customers unused out of (4.5 + 3.25) x 0.5 x 2
    assert np.isclose(s.loc["export", "step_unused_kwh"], 0.75)
    assert np.isclose(s.loc["export", "step_unused_pct"], 100 * 0.75 / 7.75)
    assert np.isclose(s.loc["import", "step_unused_kwh"], 0.0)
    assert np.isclose(s.loc["total", "exact_kwh"], 17.75)
    assert s.loc["total", "bisect_pf"] == 64 and s.loc["total", "lp_pf_per_period"] == 3


def test_violation_amount_in_the_constraints_units():
    lim = LimitSpec()
    base = dict(v_lowest_v=230.0, v_highest_v=250.0, max_line_loading_pct=90.0,
                transformer_loading_pct=50.0)
    assert violation_amount(LimitCheck(True, "v_max:x", 1.0, **base), lim) == 0.0
    assert violation_amount(LimitCheck(False, "v_max:x", -0.1, **{**base, "v_highest_v": 253.6}),
                            lim) == pytest.approx(0.6)
    assert violation_amount(LimitCheck(False, "v_min:x", -0.1, **{**base, "v_lowest_v": 215.5}),
                            lim) == pytest.approx(0.5)
    assert violation_amount(LimitCheck(False, "line:l", -0.7, **{**base, "max_line_loading_pct":
                                                                 100.7}), lim) == pytest.approx(0.7)
