"""Many-day and many-network runs: day parsing, atomic resumable Parquet files, Dask = serial."""

from __future__ import annotations

import os

import numpy as np

import pandas as pd
import pytest
from click.testing import CliRunner

from conftest import TUTORIAL
from oe_opt.runs import batch, netset
from oe_opt.runs.batch import parse_days, run_days
from oe_opt.runs.netset import run_networks, select_flexible
from oe_opt.runs.storage import day_path, read_valid_parquet, run_key, write_parquet_atomic
from oe_opt.io.results import ENVELOPE_COLUMNS
from oe_opt.cli.main import main
from oe_opt.errors import StudyError
from oe_opt.methods.registry import get_method
from oe_opt.study import load_study


def _method() -> str:
    """The LP method once it exists, else the stepping search (both cheap)."""
    try:
        get_method("lp")
    except KeyError:
        return "step"
    return "lp"


METHOD = _method()
ROWS_PER_DAY = 48 * 2 * 13  # tutorial: periods x directions x flexible customers


def without_timing(df: pd.DataFrame) -> pd.DataFrame:
    return df.drop(columns=[c for c in ("seconds", "network_seconds") if c in df])


@pytest.fixture(scope="module")
def study():
    return load_study(TUTORIAL)


@pytest.fixture(scope="module")
def clean_run(study, tmp_path_factory):
    """Days 0-3 of the tutorial computed serially in one go."""
    out = tmp_path_factory.mktemp("clean")
    return run_days(study, [0, 1, 2, 3], out_dir=out, method=METHOD, progress=False)


# ------------------------------------------------------------------ day numbers
def test_days_are_counted_from_one():
    assert parse_days("1-365", 365) == list(range(365))
    assert parse_days("221", 365) == [220]
    assert parse_days(" 5, 1,3 ", 365) == [0, 2, 4]
    assert parse_days("1-3,2-4,10", 365) == [0, 1, 2, 3, 9]
    assert parse_days("all", 3) == [0, 1, 2]
    assert parse_days("1", 1) == [0]


@pytest.mark.parametrize("spec, match", [
    ("0", "day 0 is outside the data \\(1..365\\)"),
    ("366", "day 366 is outside"),
    ("300-400", "day 400 is outside"),
    ("9-3", "runs backwards"),
    ("", "empty"),
    ("1-2-3", "cannot read"),
    ("monday", "cannot read"),
    ("1.5", "cannot read"),
])
def test_bad_day_specifications_say_what_is_allowed(spec, match):
    with pytest.raises(StudyError, match=match) as exc:
        parse_days(spec, 365)
    assert "--day 220" in str(exc.value)


def test_day_files_are_named_by_the_zero_based_day(tmp_path):
    assert day_path(tmp_path, 7) == tmp_path / "days" / "day_007.parquet"
    assert day_path(tmp_path, 220).name == "day_220.parquet"


# --------------------------------------------------------------- Parquet files
def _frame(day: int, n: int = 6) -> pd.DataFrame:
    df = pd.DataFrame({c: [0.0] * n for c in ENVELOPE_COLUMNS})
    df["day"] = day
    df["customer"] = [f"c{i}" for i in range(n)]
    return df


def test_parquet_files_are_written_atomically_and_validated(tmp_path):
    path = tmp_path / "days" / "day_003.parquet"
    write_parquet_atomic(_frame(3), path, "key-a")
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left
    df, reason = read_valid_parquet(path, "key-a", 6, day=3)
    assert reason == "ok" and df.customer.tolist() == [f"c{i}" for i in range(6)]
    assert read_valid_parquet(path, "key-b", 6, day=3) == (None, "other settings")
    assert read_valid_parquet(path, "key-a", 7, day=3) == (None, "short")
    assert read_valid_parquet(path, "key-a", 6, day=4) == (None, "wrong day")
    assert read_valid_parquet(tmp_path / "nope.parquet", "key-a", 6) == (None, "missing")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # truncated by a crash
    assert read_valid_parquet(path, "key-a", 6, day=3) == (None, "unreadable")
    path.write_bytes(b"")
    assert read_valid_parquet(path, "key-a", 6, day=3) == (None, "unreadable")


def test_a_failed_write_leaves_no_file(tmp_path, monkeypatch):
    import pyarrow.parquet as pq

    def broken(table, where, **kw):
        where.write(b"PAR1 partial")
        raise OSError("disk full")

    monkeypatch.setattr(pq, "write_table", broken)
    path = tmp_path / "day_000.parquet"
    with pytest.raises(OSError, match="disk full"):
        write_parquet_atomic(_frame(0), path, "k")
    assert list(tmp_path.iterdir()) == []


def test_the_run_key_follows_settings_not_the_day(study):
    assert run_key(study, "step") == run_key(study.with_day(5), "step")
    assert run_key(study, "step") != run_key(study, "bisect")
    assert run_key(study, "step") != run_key(study.with_allocation("maxmin"), "step")


# -------------------------------------------------------------------- resume
def test_clean_run_writes_a_file_per_day_and_all_days(clean_run, study, tmp_path):
    env = clean_run
    assert len(env) == 4 * ROWS_PER_DAY
    assert env.day.tolist() == sorted(env.day) and set(env.day) == {0, 1, 2, 3}
    assert list(env.columns) == ENVELOPE_COLUMNS and (env.method == METHOD).all()
    assert env.verified.all()


def test_an_interrupted_run_resumes_and_recomputes_only_missing_or_damaged_days(
        study, clean_run, tmp_path, monkeypatch):
    real = batch.compute_day
    calls: list[int] = []

    def interrupted(st, method, day, key):
        if day == 2:
            raise KeyboardInterrupt  # Ctrl-C while day 2 is being computed
        calls.append(day)
        return real(st, method, day, key)

    monkeypatch.setattr(batch, "compute_day", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_days(study, [0, 1, 2, 3], out_dir=tmp_path, method=METHOD, progress=False)
    assert calls == [0, 1]
    assert sorted(p.name for p in (tmp_path / "days").iterdir()) == \
        ["day_000.parquet", "day_001.parquet"]  # finished days kept, nothing partial

    # day 1's file is damaged (e.g. a copy cut short); day 0's must be reused untouched
    damaged = day_path(tmp_path, 1)
    damaged.write_bytes(damaged.read_bytes()[:200])
    kept = day_path(tmp_path, 0)
    os.utime(kept, ns=(1_000_000_000, 1_000_000_000))

    def counting(st, method, day, key):
        calls.append(day)
        return real(st, method, day, key)

    calls.clear()
    monkeypatch.setattr(batch, "compute_day", counting)
    env = run_days(study, [0, 1, 2, 3], out_dir=tmp_path, method=METHOD, progress=False)
    assert sorted(calls) == [1, 2, 3]
    assert kept.stat().st_mtime_ns == 1_000_000_000
    pd.testing.assert_frame_equal(without_timing(env), without_timing(clean_run),
                                  check_exact=True)
    stored = pd.read_parquet(tmp_path / "envelopes.parquet")
    pd.testing.assert_frame_equal(without_timing(stored), without_timing(clean_run),
                                  check_exact=True)

    # a third run has nothing to do
    calls.clear()
    again = run_days(study, "1-4", out_dir=tmp_path, method=METHOD, progress=False)
    assert calls == []
    pd.testing.assert_frame_equal(again, env, check_exact=True)


def test_results_of_other_settings_are_recomputed(study, tmp_path, monkeypatch):
    run_days(study, [5], out_dir=tmp_path, method="step", progress=False)
    calls = []
    real = batch.compute_day
    monkeypatch.setattr(batch, "compute_day",
                        lambda *a: calls.append(a[2]) or real(*a))
    env = run_days(study, [5], out_dir=tmp_path, method="bisect", progress=False)
    assert calls == [5] and (env.method == "bisect").all()


def test_days_outside_the_data_are_rejected_before_computing(study, tmp_path):
    with pytest.raises(StudyError, match="outside the data"):
        run_days(study, "364-366", out_dir=tmp_path, method="step", progress=False)
    with pytest.raises(StudyError, match="outside the data"):
        run_days(study, [365], out_dir=tmp_path, method="step", progress=False)
    assert not (tmp_path / "days").exists()


# ---------------------------------------------------------------------- Dask
def test_dask_workers_give_the_serial_results(study, clean_run, tmp_path):
    env = run_days(study, [3, 1, 0, 2], workers=2, out_dir=tmp_path, method=METHOD,
                   progress=False)
    pd.testing.assert_frame_equal(without_timing(env), without_timing(clean_run),
                                  check_exact=True)


def test_an_existing_dask_scheduler_can_be_used(study, clean_run, tmp_path):
    from distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster:
        env = run_days(study, [2, 3], scheduler=cluster.scheduler_address, out_dir=tmp_path,
                       method=METHOD, progress=False)
    expected = clean_run[clean_run.day.isin([2, 3])].reset_index(drop=True)
    pd.testing.assert_frame_equal(without_timing(env), without_timing(expected), check_exact=True)


# ----------------------------------------------------------------------- CLI
def test_cli_runs_many_days_and_resumes(tmp_path):
    out = tmp_path / "out"
    args = ["run", str(TUTORIAL), "--days", "221-222", "--method", "step", "--out", str(out)]
    r = CliRunner().invoke(main, args, catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert "computed 2 days, reused 0" in r.output and "export" in r.output
    env = pd.read_parquet(out / "envelopes.parquet")
    assert set(env.day) == {220, 221} and len(env) == 2 * ROWS_PER_DAY
    csv = pd.read_csv(out / "envelopes.csv")
    assert len(csv) == len(env) and np.allclose(csv.oe_kw, env.oe_kw, equal_nan=True)
    summary = pd.read_csv(out / "summary.csv")
    assert list(zip(summary.day, summary.direction)) == [(220, "export"), (220, "import"),
                                                         (221, "export"), (221, "import")]
    day0 = env[(env.day == 220) & (env.direction == "export")]
    assert summary.energy_kwh_total.iat[0] == pytest.approx(day0.oe_kw.sum() * 0.5)
    import matplotlib.image as mpimg

    assert mpimg.imread(out / "days.png")[..., :3].std() > 0.05
    r = CliRunner().invoke(main, args, catch_exceptions=False)
    assert "computed 0 days, reused 2" in r.output


def test_cli_rejects_day_zero_with_a_clear_error(tmp_path):
    r = CliRunner().invoke(main, ["run", str(TUTORIAL), "--days", "0-3", "--out", str(tmp_path)])
    assert r.exit_code == 2
    assert "error: --days: day 0 is outside the data (1..365)" in r.output
    assert not any(tmp_path.iterdir())


# --------------------------------------------------------------- network sets
def test_flexible_selection_is_spread_evenly():
    names = [f"l{i}" for i in range(10)]
    assert select_flexible(names, "all") == names
    assert select_flexible(names, 0.5) == ["l1", "l3", "l5", "l7", "l9"]
    assert select_flexible(names, 0.01) == ["l0"]
    with pytest.raises(StudyError):
        select_flexible(names, 1.5)


def test_a_template_runs_over_many_networks_and_resumes(study, tmp_path, monkeypatch):
    from oe_opt.io.importers.synthetic import write_synthetic_feeder

    masters = [write_synthetic_feeder(30, tmp_path / f"feeder_{s}", seed=s) for s in (0, 1)]
    out = tmp_path / "out"
    env = run_networks(study, masters, out, method="step", flexible=0.5, progress=False)
    assert env.network.unique().tolist() == ["feeder_0", "feeder_1"]
    assert set(env.day) == {study.profiles.day}
    for _, g in env.groupby("network"):
        assert g.customer.nunique() == 15 and len(g) == 48 * 2 * 15
        assert (g.n_customers == 30).all()
    assert env.verified.all()
    calls = []
    monkeypatch.setattr(netset, "compute_network", lambda *a: calls.append(a) or None)
    again = run_networks(study, masters, out, method="step", flexible=0.5, progress=False)
    assert calls == []
    pd.testing.assert_frame_equal(again, env, check_exact=True)


def test_failing_networks_can_be_recorded_and_skipped(study, tmp_path):
    from oe_opt.io.importers.synthetic import write_synthetic_feeder

    good = write_synthetic_feeder(30, tmp_path / "good", seed=0)
    bad = tmp_path / "bad" / "master.dss"
    bad.parent.mkdir()
    bad.write_text(good.read_text().replace("Redirect loads.dss", "! no loads"))
    for f in good.parent.glob("*.dss"):
        if f.name != "master.dss":
            (bad.parent / f.name).write_text(f.read_text())
    with pytest.raises(Exception, match="no loads"):
        run_networks(study, [good, bad], tmp_path / "a", method="step", progress=False)
    env = run_networks(study, [good, bad], tmp_path / "b", method="step", progress=False,
                       errors="record")
    assert env.network.unique().tolist() == ["good"]
    assert list(env.attrs["failed"]) == ["bad"] and "no loads" in env.attrs["failed"]["bad"]
