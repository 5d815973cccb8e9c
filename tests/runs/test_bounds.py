"""Runaway runs are refused up front: too many steps per period, caps beyond the network."""

from __future__ import annotations

import time

import pytest
from click.testing import CliRunner

from oe_opt.cli.main import main
from oe_opt.runs.bounds import MAX_STEPS_PER_PERIOD


@pytest.mark.parametrize("changes, args, pattern", [
    ({"envelope": {"step_kw": 0.0001}}, ["--method", "step"],
     rf"step_kw = 0.0001 with export_max_kw = 10 means 100000 power flows per period "
     rf"\(at most {MAX_STEPS_PER_PERIOD}\)"),
    ({"envelope": {"step_kw": 0.0001}}, ["--method", "step", "--days", "221-222"],
     r"means 100000 power flows per period"),
    ({"envelope": {"export_max_kw": 1e6, "import_max_kw": 1e6}}, ["--method", "lp"],
     r"export_max_kw = 1e\+06 kW for load_mg1_1 is more than the network's transformers can "
     r"carry \(500 kVA in total\)"),
    ({"envelope": {"export_max_kw": 1e6, "import_max_kw": 1e6}}, ["--method", "bisect",
                                                                   "--days", "221"],
     r"more than the network's transformers can carry"),
])
def test_runaway_settings_are_refused_before_computing(tmp_path, write_study, changes, args,
                                                       pattern):
    import re

    out = tmp_path / "out"
    t0 = time.perf_counter()
    r = CliRunner().invoke(main, ["run", str(write_study(changes)), "--out", str(out), *args])
    assert time.perf_counter() - t0 < 10
    assert r.exit_code == 2, r.output
    assert r.output.startswith("error: ") and re.search(pattern, r.output), r.output
    assert not out.exists()


def test_the_step_bound_is_exactly_the_documented_constant(write_study):
    from oe_opt.errors import StudyError
    from oe_opt.runs.bounds import check_bounds
    from oe_opt.study import load_study

    cap = 14.0  # the tutorial's import cap
    ok = load_study(write_study({"envelope": {"step_kw": cap / MAX_STEPS_PER_PERIOD}}))
    check_bounds(ok, "step")
    check_bounds(ok, "bisect")
    too_fine = load_study(write_study({"envelope": {"step_kw": cap / (MAX_STEPS_PER_PERIOD + 1)}}))
    with pytest.raises(StudyError, match="import_max_kw = 14 means 1001 power flows"):
        check_bounds(too_fine, "step")
    check_bounds(too_fine, "lp")  # only the stepping search steps


def test_network_runs_refuse_runaway_steps_before_anything_runs(tmp_path, write_study):
    from oe_opt.io.importers.synthetic import write_synthetic_feeder

    master = write_synthetic_feeder(30, tmp_path / "n", seed=0)
    out = tmp_path / "out"
    r = CliRunner().invoke(main, ["network", "run", str(write_study({"envelope": {"step_kw": 0.001}})),
                                  str(master), "--method", "step", "--out", str(out)])
    assert r.exit_code == 2 and "power flows per period" in r.output, r.output
    assert not out.exists()


def test_long_single_day_runs_show_progress(tmp_path, write_study, monkeypatch):
    from oe_opt.runs import day

    monkeypatch.setattr(day, "PROGRESS_DELAY_S", 0.0)  # as if the day were slow
    study = write_study({"envelope": {"directions": ["export"]}})
    r = CliRunner().invoke(main, ["run", str(study), "--method", "step", "--out", str(tmp_path / "o")])
    assert r.exit_code == 0, r.output
    assert "tutorial day 220:" in r.output and "/48 [" in r.output and "period/s" in r.output
