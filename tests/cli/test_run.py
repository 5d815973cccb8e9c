"""The oe-opt command line: outputs, and bad input gives a clear error and writes nothing."""

from __future__ import annotations

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from conftest import tutorial_dict
from oe_opt.io.results import ENVELOPE_COLUMNS
from oe_opt.cli.main import main


def run(args):
    return CliRunner().invoke(main, args, catch_exceptions=False)


def test_run_writes_csv_and_figures_and_prints_a_summary(tmp_path, write_study):
    out = tmp_path / "out"
    r = run(["run", str(write_study()), "--method", "step", "--out", str(out)])
    assert r.exit_code == 0, r.output
    env = pd.read_csv(out / "envelopes.csv")
    assert list(env.columns[:15]) == ENVELOPE_COLUMNS[:15]
    assert len(env) == 48 * 2 * 13
    assert set(env.direction) == {"export", "import"} and (env.method == "step").all()
    assert env.day.eq(220).all()
    for fig in ("envelopes.png", "voltages.png", "loading.png"):
        img = mpimg.imread(out / fig)
        assert img.shape[0] > 300 and img.shape[1] > 800 and img[..., :3].std() > 0.05
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary.direction) == ["export", "import"]
    per_customer = summary.energy_kwh_per_customer
    assert np.allclose(summary.energy_kwh_total, 13 * per_customer)
    assert (summary.min_customer_oe_kw == summary.min_oe_kw).all()  # one shared envelope
    assert "export" in r.output and "import" in r.output and "n_powerflows" in r.output
    assert "energy_kwh_total" in r.output


def test_day_option_changes_the_day(tmp_path, write_study):
    out = tmp_path / "out"
    r = run(["run", str(write_study()), "--method", "step", "--day", "10", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert pd.read_csv(out / "envelopes.csv").day.eq(10).all()


def _bad_profile(tmp_path, array):
    path = tmp_path / "bad.npy"
    np.save(path, array)
    return str(path)


@pytest.mark.parametrize("case", [
    "unknown_customer", "two_classes", "shape", "nan", "negative", "vmin_vmax", "day", "missing",
    "method", "holds_for", "alloc_accept", "alloc_accept_toml"])
def test_bad_input_fails_clearly_and_writes_nothing(tmp_path, write_study, case):
    good = np.load(tutorial_dict()["profiles"]["load"])
    extra = []
    changes, message = {}, ""
    if case == "unknown_customer":
        changes = {"customers": {"flexible": ["load_mg1_1", "load_mg1_77"]}}
        message = r"\[customers\] flexible: unknown customer\(s\) load_mg1_77"
    elif case == "two_classes":
        changes = {"customers": {"fixed": ["load_mg1_1"]}}
        message = r"load_mg1_1 is in both flexible and fixed"
    elif case == "shape":
        changes = {"profiles": {"load": _bad_profile(tmp_path, good[:, :, :24].reshape(-1, 24))}}
        message = r"bad.npy: load profiles must have shape"
    elif case == "nan":
        arr = good.copy()
        arr[0, 5, 7] = np.nan
        changes = {"profiles": {"load": _bad_profile(tmp_path, arr)}}
        message = r"bad.npy: demand contains NaN"
    elif case == "negative":
        arr = good.copy()
        arr[1, 2, 3] = -0.5
        changes = {"profiles": {"load": _bad_profile(tmp_path, arr)}}
        message = r"bad.npy: demand contains negative values"
    elif case == "vmin_vmax":
        changes = {"limits": {"v_min_v": 253.0, "v_max_v": 216.0}}
        message = r"v_min_v \(253.0\) must be below v_max_v"
    elif case == "day":
        extra = ["--day", "400"]
        message = r"day 400 is outside the data"
    elif case == "missing":
        changes = {"profiles": {"pv": str(tmp_path / "nope.npy")}}
        message = r"\[profiles\] pv: file not found"
    elif case == "method":
        extra = ["--method", "magic"]
        message = r"unknown method 'magic'"
    elif case == "holds_for":
        extra = ["--holds-for", "mostly"]
        message = r"--holds-for 'mostly' is not one of full_use, any_use"
    elif case == "alloc_accept":
        extra = ["--alloc-accept", "strict"]
        message = r"--alloc-accept 'strict' is not one of auto, model, own_state"
    elif case == "alloc_accept_toml":
        changes = {"envelope": {"alloc_accept": "first"}}
        message = (r"\[envelope\] alloc_accept must be one of auto, model, own_state, got "
                   r"'first'")
    out = tmp_path / "out"
    r = CliRunner().invoke(main, ["run", str(write_study(changes)), "--out", str(out)] + extra)
    assert r.exit_code != 0
    import re
    assert re.search(message, r.output), r.output
    assert r.output.startswith("error: ")
    assert not out.exists()


def test_missing_study_file(tmp_path):
    r = CliRunner().invoke(main, ["run", str(tmp_path / "none.toml"), "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "study file not found" in r.output


def test_allocation_option_runs_the_per_customer_lp(tmp_path, write_study):
    out = tmp_path / "out"
    r = run(["run", str(write_study({"envelope": {"directions": ["export"]}})), "--allocation",
             "max_total", "--out", str(out)])
    assert r.exit_code == 0, r.output
    env = pd.read_csv(out / "envelopes.csv")
    assert (env.method == "alloc").all() and env.verified.all()
    r = CliRunner().invoke(main, ["run", str(write_study()), "--method", "step", "--allocation",
                                  "maxmin", "--out", str(tmp_path / "o2")])
    assert r.exit_code == 2 and "--allocation maxmin applies to --method alloc" in r.output
    assert not (tmp_path / "o2").exists()


def test_a_start_date_gives_every_table_iso_start_and_end(tmp_path, write_study):
    out = tmp_path / "out"
    study = write_study({"study": {"start_date": "2024-01-01", "timezone": "Australia/Melbourne"},
                         "profiles": {"day": 97}})  # 2024-04-07: daylight saving ends
    r = run(["run", str(study), "--method", "step", "--out", str(out)])
    assert r.exit_code == 0, r.output
    env = pd.read_csv(out / "envelopes.csv")
    assert list(env.columns[:5]) == ["day", "period", "time", "start", "end"]
    first = env[env.period == 0].start.unique()
    assert list(first) == ["2024-04-07T00:00:00+11:00"]
    last = env[env.period == 47].end.unique()
    assert list(last) == ["2024-04-07T23:00:00+10:00"]  # 24 elapsed hours, clock turned back 1 h
    assert "start" in pd.read_csv(out / "voltages.csv").columns
    assert "2024-04-07 (day 97)" in r.output
    assert pd.read_csv(out / "summary.csv").date.eq("2024-04-07").all()
