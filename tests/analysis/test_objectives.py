"""Allocation objectives on the unequal-DER study: the issue's properties, and the CLI output."""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from oe_opt.runs.day import Session, run_day
from oe_opt.cli.main import main
from oe_opt.cli.objectives import parse_periods
from oe_opt.analysis.objectives import (ENVELOPE_TABLE_COLUMNS, OBJECTIVES, TABLE_COLUMNS, objectives_table,
                               per_period_totals, run_objectives)
from oe_opt.study import load_study

REPO = Path(__file__).resolve().parents[2]
UNEQUAL = REPO / "models" / "unequal_der.toml"
TUTORIAL = REPO / "models" / "tutorial.toml"
# night (exports limited by voltage, imports at cap), midday PV, evening peak (imports limited by
# the feeder-head line), late evening
PERIODS = [4, 24, 36, 45]
#: verification tolerance: every envelope is tightened to a verified point, so
#: objective values may differ from the LP optimum by this much (kW)
TOL_KW = 0.01


@pytest.fixture(scope="module")
def study():
    # the full_use envelopes these properties were stated for (any_use: tests/methods/test_any_use.py)
    return load_study(UNEQUAL).with_holds_for("full_use")


@pytest.fixture(scope="module")
def result(study):
    return run_objectives(study, session=Session(study), periods=PERIODS)


@pytest.fixture(scope="module")
def totals(result):
    return per_period_totals(result.envelopes)


def test_every_objective_and_direction_is_reported_and_verified(result, study):
    env, table = result.envelopes, result.table
    assert list(env.columns) == ENVELOPE_TABLE_COLUMNS
    assert len(env) == len(OBJECTIVES) * len(PERIODS) * 2 * len(study.customers.flexible)
    assert env["verified"].all() and (env["status"] != "infeasible").all()
    assert list(table.columns) == TABLE_COLUMNS
    assert len(table) == len(OBJECTIVES) * 2 and table["all_verified"].all()
    for d in ("export", "import"):  # nobody above their own cap (DER size / import limit)
        g = env[env.direction == d]
        assert (g["oe_kw"] <= g["customer"].map(getattr(study.customers, f"{d}_max_kw")) + 1e-6).all()


@pytest.mark.parametrize("direction", ["export", "import"])
def test_max_total_has_the_largest_total(totals, direction):
    tot = totals[totals.direction == direction].pivot(index="period", columns="objective",
                                                      values="total_kw")
    others = tot.drop(columns="max_total")
    assert (tot["max_total"].to_numpy()[:, None] >= others.to_numpy() - TOL_KW).all()


@pytest.mark.parametrize("direction", ["export", "import"])
def test_maxmin_has_the_largest_minimum(totals, direction):
    mins = totals[totals.direction == direction].pivot(index="period", columns="objective",
                                                       values="min_kw")
    others = mins.drop(columns="maxmin")
    assert (mins["maxmin"].to_numpy()[:, None] >= others.to_numpy() - TOL_KW).all()


def test_objectives_differ_visibly_on_the_unequal_study(result):
    exp = result.table[result.table.direction == "export"].set_index("objective")
    assert exp["total_kwh"].round(1).nunique() == len(OBJECTIVES)
    assert exp.loc["equal", "jain_index"] == pytest.approx(1.0)
    assert exp.loc["max_total", "total_kwh"] > 1.1 * exp.loc["equal", "total_kwh"]
    assert exp.loc["maxmin", "min_kw"] > exp.loc["max_total", "min_kw"] + 0.5


def test_proportional_follows_the_weights(result, study):
    env = result.envelopes
    for d in ("export", "import"):
        g = env[(env.objective == "proportional") & (env.direction == d)].copy()
        g["ratio"] = g["oe_kw"] / g["customer"].map(getattr(study.customers, f"{d}_weight"))
        spread = g.groupby("period")["ratio"].agg(lambda r: r.max() - r.min())
        assert (spread < 1e-6).all()


def lp_beats_the_heuristic(table: pd.DataFrame) -> None:
    """max_total: larger total and fewer power flows than the heuristic, in each direction and
    in total."""
    t = table.set_index(["objective", "direction"])
    for d in ("export", "import"):
        assert t.loc[("max_total", d), "total_kwh"] > t.loc[("heuristic", d), "total_kwh"]
        assert t.loc[("max_total", d), "n_powerflows"] < t.loc[("heuristic", d), "n_powerflows"]
    assert t.loc["max_total", "n_powerflows"].sum() < t.loc["heuristic", "n_powerflows"].sum()


def test_lp_beats_the_heuristic_with_fewer_power_flows(result):
    lp_beats_the_heuristic(result.table)


def test_lp_beats_the_heuristic_with_fewer_power_flows_over_the_day(study):
    """The whole day, where most import periods are at the caps (2 power flows for either) and
    the feeder-head line limits the evening ones: there the LP's curtailment among customers with
    nearly equal sensitivities must not cost more power flows than the heuristic's 0.5 kW steps."""
    res = run_objectives(study, session=Session(study), objectives=("max_total", "heuristic"))
    lp_beats_the_heuristic(res.table)
    env = res.envelopes[res.envelopes.objective == "max_total"]
    per = env.drop_duplicates(["direction", "period"]).set_index(["direction", "period"])
    line = per[per.binding.str.startswith("line:")]
    assert len(line) >= 5 and (line.n_powerflows <= 4).all()
    assert env["verified"].all()


def test_equal_allocation_matches_the_lp_method():
    st = load_study(TUTORIAL)  # one cap for everyone, as the lp method assumes
    session = Session(st)
    periods = [4, 24, 36]
    alloc = run_day(st.with_allocation("equal"), "alloc", session=session, periods=periods).envelopes
    lp = run_day(st, "lp", session=session, periods=periods).envelopes
    assert np.allclose(alloc["oe_kw"], lp["oe_kw"], atol=TOL_KW, rtol=0)
    assert alloc["verified"].all() and lp["verified"].all()


def test_objectives_table_on_known_envelopes():
    rows = [{"objective": o, "day": 0, "period": 0, "direction": "export", "customer": c,
             "oe_kw": v, "n_powerflows": pf, "seconds": 0.5, "verified": True}
            for o, vals, pf in (("a", [1.0, 3.0], 4), ("b", [2.0, 2.0], 9)) for c, v in zip("xy", vals)]
    table = objectives_table(pd.DataFrame(rows), period_hours=0.5).set_index("objective")
    assert table.loc["a", "total_kwh"] == pytest.approx(2.0) and table.loc["b", "total_kwh"] == 2.0
    assert table.loc["a", "jain_index"] == pytest.approx(16 / 20) and table.loc["b", "jain_index"] == 1.0
    assert table.loc["a", "n_powerflows"] == 4 and table.loc["b", "min_kw"] == 2.0


def test_parse_periods():
    assert parse_periods("20-22,5") == [5, 20, 21, 22]
    assert parse_periods(None) is None
    with pytest.raises(click.BadParameter):
        parse_periods("x")


def test_cli_writes_the_table_envelopes_and_figure(tmp_path):
    out = tmp_path / "objectives"
    res = CliRunner().invoke(main, ["objectives", str(UNEQUAL), "--periods", "36", "--out", str(out)])
    assert res.exit_code == 0, res.output
    table = pd.read_csv(out / "objectives.csv")
    assert list(table.columns) == TABLE_COLUMNS
    assert set(table["objective"]) == set(OBJECTIVES) and set(table["direction"]) == {"export", "import"}
    assert table["all_verified"].all()
    env = pd.read_csv(out / "objective_envelopes.csv")
    assert list(env.columns) == ENVELOPE_TABLE_COLUMNS and (env["period"] == 36).all()
    import matplotlib.image as mpimg

    img = mpimg.imread(out / "objectives.png")  # a decodable, non-blank image
    assert img.shape[1] > 800 and img[..., :3].std() > 0.05
    assert "max_total" in res.output and "heuristic" in res.output


def test_cli_reports_a_missing_study(tmp_path):
    res = CliRunner().invoke(main, ["objectives", str(tmp_path / "nope.toml"), "--out", str(tmp_path)])
    assert res.exit_code == 2 and "error:" in res.output
    assert not (tmp_path / "objectives.csv").exists()


def test_objective_energies_use_the_day_cases_period_length(tmp_path):
    """A 5-minute loadshape study: total_kwh is sum(kW) x 5 min, not x 30 min (24 h / 48)."""
    from loadshape_models import write_model, write_network_study

    st = load_study(write_network_study(tmp_path, write_model(tmp_path / "net")))
    res = run_objectives(st, periods=[100, 101, 200], objectives=("equal", "max_total"))
    assert res.period_hours == pytest.approx(5 / 60)
    for (obj, d), g in res.envelopes.groupby(["objective", "direction"]):
        row = res.table[(res.table.objective == obj) & (res.table.direction == d)].iloc[0]
        assert row.total_kwh == pytest.approx(np.nansum(g.oe_kw) * 5 / 60)
        assert row.total_kwh < np.nansum(g.oe_kw) * 0.5 / 3   # far below the 48-period answer
