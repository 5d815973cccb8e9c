"""Bad input that used to give a traceback: one ``error:`` line naming the culprit, exit 2, nothing written."""

from __future__ import annotations

import os
import re
import time

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import REPO, tutorial_dict
from oe_opt.cli.main import main


def invoke(args):
    return CliRunner().invoke(main, args)


def assert_clean_error(r, pattern: str, out=None):
    assert r.exit_code == 2, r.output
    assert r.output.startswith("error: "), r.output
    assert len(r.output.strip().splitlines()) == 1, r.output
    assert "Traceback" not in r.output
    assert re.search(pattern, r.output), r.output
    if out is not None:
        assert not out.exists()


def test_out_below_a_regular_file_is_refused_before_computing(tmp_path, write_study):
    blocker = tmp_path / "results"
    blocker.write_text("not a folder")
    t0 = time.perf_counter()
    r = invoke(["run", str(write_study()), "--out", str(blocker / "tutorial")])
    assert_clean_error(r, r"--out .*results is a file, not a folder")
    assert time.perf_counter() - t0 < 5  # refused up front, not after computing a day
    assert blocker.read_text() == "not a folder"
    r = invoke(["run", str(write_study()), "--days", "221-222", "--out", str(blocker / "many")])
    assert_clean_error(r, r"is a file, not a folder")
    for cmd in (["compare"], ["objectives"]):
        assert_clean_error(invoke(cmd + [str(write_study()), "--out", str(blocker / "x")]),
                           r"is a file, not a folder")
    # --out naming the regular file itself: the same one error line (not click's usage text)
    for cmd in (["run"], ["run", "--days", "221"], ["compare"], ["objectives"]):
        r = invoke(cmd[:1] + [str(write_study())] + cmd[1:] + ["--out", str(blocker)])
        assert_clean_error(r, r"--out .*results: is a file, not a folder")
        assert r.output.startswith("error: ") and len(r.output.splitlines()) == 1
    assert blocker.read_text() == "not a folder"


def test_out_in_an_unwritable_place_is_refused(tmp_path, write_study):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        target = ro / "out" if os.geteuid() != 0 else None
        if target is not None:
            assert_clean_error(invoke(["run", str(write_study()), "--out", str(target)]),
                               r"cannot write in .*ro", target)
        # a virtual file system refuses even root
        assert_clean_error(invoke(["run", str(write_study()), "--out", "/sys/oe_opt_out"]),
                           r"--out /sys/oe_opt_out: cannot write in /sys")
    finally:
        ro.chmod(0o755)


def test_a_scheduler_that_is_not_an_address(tmp_path, write_study):
    out = tmp_path / "out"
    r = invoke(["run", str(write_study()), "--days", "221", "--scheduler", "not an address",
                "--out", str(out)])
    assert_clean_error(r, r"--scheduler not an address: cannot connect", out)


def test_objectives_periods_outside_the_day(tmp_path, write_study):
    out = tmp_path / "out"
    r = invoke(["objectives", str(write_study()), "--periods", "99", "--out", str(out)])
    assert_clean_error(r, r"period 99 is outside the day \(0-based periods 0..47\)", out)


def test_synthetic_feeder_sizes_match_the_documented_range(tmp_path):
    from oe_opt.io.importers.synthetic import MAX_CUSTOMERS, MIN_CUSTOMERS

    for n in (1, MIN_CUSTOMERS - 1, MAX_CUSTOMERS + 1):
        r = invoke(["network", "synthetic", str(n), "--out", str(tmp_path / "f")])
        assert r.exit_code == 2 and r.output.startswith("error: ") and len(r.output.splitlines()) == 1
        assert f"{MIN_CUSTOMERS} to {MAX_CUSTOMERS}" in r.output
        assert not (tmp_path / "f").exists()
    readme = (REPO / "README.md").read_text()
    assert f"{MIN_CUSTOMERS} to {MAX_CUSTOMERS}" in readme


@pytest.mark.parametrize("case, pattern", [
    ("text", r"source.csv: column source_pu must hold numbers; line 3 holds 'high'"),
    ("duplicate", r"source.csv: period 1 appears more than once"),
    ("directory", r"source_dir: \[network\] source_pu_table must be a CSV file \(this is a folder\)"),
])
def test_bad_source_tables(tmp_path, write_study, case, pattern):
    rows = [f"{p},1.0" for p in range(48)]
    if case == "text":
        rows[1] = "1,high"
    elif case == "duplicate":
        rows.insert(2, "1,1.01")
    table = tmp_path / "source.csv"
    table.write_text("period,source_pu\n" + "\n".join(rows) + "\n")
    if case == "directory":
        table = tmp_path / "source_dir"
        table.mkdir()
    out = tmp_path / "out"
    r = invoke(["run", str(write_study({"network": {"source_pu_table": str(table),
                                                    "source_pu": None}})), "--out", str(out)])
    assert_clean_error(r, pattern, out)


def test_a_study_file_that_is_not_utf8(tmp_path):
    study = tmp_path / "latin1.toml"
    study.write_bytes('[study]\nname = "café"\n'.encode("latin-1"))
    out = tmp_path / "out"
    assert_clean_error(invoke(["run", str(study), "--out", str(out)]),
                       r"latin1.toml: not a UTF-8 text file", out)


def test_an_empty_npy_profile(tmp_path, write_study):
    empty = tmp_path / "empty.npy"
    empty.write_bytes(b"")
    out = tmp_path / "out"
    r = invoke(["run", str(write_study({"profiles": {"load": str(empty)}})), "--out", str(out)])
    assert_clean_error(r, r"empty.npy: cannot read as .npy: the file is empty", out)


def test_a_pv_csv_with_text(tmp_path, write_study):
    pv = np.load(tutorial_dict()["profiles"]["pv"])
    lines = ["day,period,value"] + [f"{d},{p},{pv[d, p]}" for d in range(pv.shape[0])
                                    for p in range(pv.shape[1])]
    lines[5] = "0,4,sunny"
    path = tmp_path / "pv.csv"
    path.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    r = invoke(["run", str(write_study({"profiles": {"pv": str(path)}})), "--out", str(out)])
    assert_clean_error(r, r"pv.csv: column 'value' must hold numbers; line 6 holds 'sunny'", out)
