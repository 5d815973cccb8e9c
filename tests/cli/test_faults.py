"""Faults: a period whose power flow does not converge is reported, the rest is computed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from conftest import tutorial_dict
from oe_opt.analysis.summary import summarise
from oe_opt.cli.main import main

BAD_PERIOD = 10


@pytest.fixture
def diverging_study(tmp_path, write_study):
    """The tutorial with 200 kW per fixed customer in period 10 of day 220: no power-flow solution."""
    load = np.load(tutorial_dict()["profiles"]["load"])
    load[:, 220, BAD_PERIOD] = 200.0
    path = tmp_path / "huge.npy"
    np.save(path, load)
    return write_study({"profiles": {"load": str(path)}}, name="diverging.toml")


def _per_period(env: pd.DataFrame) -> pd.DataFrame:
    return env.drop_duplicates(["day", "period", "direction"]).set_index(["period", "direction"])


def test_a_nonconvergent_period_is_reported_and_the_rest_computed(tmp_path, diverging_study,
                                                                  write_study):
    out, ref_out = tmp_path / "out", tmp_path / "ref"
    r = CliRunner().invoke(main, ["run", str(diverging_study), "--method", "step", "--out", str(out)])
    assert r.exit_code == 3, r.output
    assert "completed with failures: 2 period(s)" in r.output
    assert "Traceback" not in r.output
    env = pd.read_csv(out / "envelopes.csv")
    bad = env[env.period == BAD_PERIOD]
    assert len(bad) == 2 * 13
    assert (bad.status == "nonconvergent").all() and bad.oe_kw.isna().all()
    assert (bad.binding == "power_flow:not_converged").all() and not bad.verified.any()
    # every other period equals a run without the fault
    r = CliRunner().invoke(main, ["run", str(write_study()), "--method", "step", "--out", str(ref_out)])
    assert r.exit_code == 0, r.output
    ref = pd.read_csv(ref_out / "envelopes.csv")
    keep = ["period", "direction", "customer", "oe_kw", "status", "binding", "verified"]
    pd.testing.assert_frame_equal(env[env.period != BAD_PERIOD][keep].reset_index(drop=True),
                                  ref[ref.period != BAD_PERIOD][keep].reset_index(drop=True))
    summary = summarise(env, 0.5)
    assert summary.loc["export", "nonconvergent"] == 1 and summary.loc["import", "nonconvergent"] == 1
    assert not summary.loc["export", "all_verified"]
    assert summarise(ref, 0.5).nonconvergent.sum() == 0


def test_many_days_on_workers_keep_a_day_with_a_nonconvergent_period(tmp_path, diverging_study):
    out = tmp_path / "out"
    r = CliRunner().invoke(main, ["run", str(diverging_study), "--days", "220-221", "--method",
                                  "step", "--workers", "1", "--out", str(out)])
    assert r.exit_code == 3, r.output
    assert "Traceback" not in r.output and "computed 2 days" in r.output
    assert "nonconvergent" in r.output
    env = pd.read_parquet(out / "envelopes.parquet")
    per = _per_period(env[env.day == 220])
    assert (per.status == "nonconvergent").sum() == 2
    assert (env[env.day == 219].status != "nonconvergent").all()
    # a resumed run reuses both days and still says the run has failures
    r = CliRunner().invoke(main, ["run", str(diverging_study), "--days", "220-221", "--method",
                                  "step", "--out", str(out)])
    assert r.exit_code == 3 and "reused 2" in r.output
