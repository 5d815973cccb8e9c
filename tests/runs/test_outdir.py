"""One ``--out`` folder belongs to one study and is written by one run at a time."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd
from click.testing import CliRunner

from oe_opt.cli.main import main
from oe_opt.runs.outdir import LOCK, MANIFEST, claim


def invoke(args):
    return CliRunner().invoke(main, args)


def _two_studies(write_study):
    one = write_study({"envelope": {"directions": ["export"]}}, name="one.toml")
    two = write_study({"envelope": {"directions": ["export"], "export_max_kw": 5.0}},
                      name="two.toml")
    return one, two


def test_a_folder_of_another_study_is_refused_unless_forced(tmp_path, write_study):
    one, two = _two_studies(write_study)
    out = tmp_path / "out"
    r = invoke(["run", str(one), "--days", "221-222", "--method", "step", "--out", str(out)])
    assert r.exit_code == 0, r.output
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["study"] == str(one.resolve()) and manifest["finished"]
    before = {p.name: p.read_bytes() for p in out.rglob("*") if p.is_file() and p.suffix != ".lock"}
    for args in (["--days", "221"], ["--days", "223"], []):  # partly overlapping, other, one day
        r = invoke(["run", str(two), "--method", "step", "--out", str(out), *args])
        assert r.exit_code == 2, r.output
        assert r.output.startswith("error: ") and "holds the results of another run" in r.output
        assert "--force" in r.output and str(one.resolve()) in r.output
    after = {p.name: p.read_bytes() for p in out.rglob("*") if p.is_file() and p.suffix != ".lock"}
    assert after == before            # the refused runs wrote nothing
    # --force clears the folder, then it holds the second study's results only
    r = invoke(["run", str(two), "--days", "223", "--method", "step", "--out", str(out), "--force"])
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in (out / "days").iterdir()) == ["day_222.parquet"]
    assert json.loads((out / MANIFEST).read_text())["study"] == str(two.resolve())
    assert pd.read_parquet(out / "envelopes.parquet").oe_kw.max() <= 5.0
    # the same study may come back to its folder (single day, other method)
    r = invoke(["run", str(two), "--method", "bisect", "--out", str(out)])
    assert r.exit_code == 0, r.output


def test_a_folder_being_written_is_refused(tmp_path, write_study):
    one, two = _two_studies(write_study)
    out = tmp_path / "out"
    with claim(out, two, "run"):
        for study, message in ((two, "is being written by another run (pid"),
                               (one, "holds the results of another run")):
            r = invoke(["run", str(study), "--days", "221", "--method", "step", "--out", str(out)])
            assert r.exit_code == 2, r.output
            assert r.output.startswith("error: ") and message in r.output
        r = invoke(["run", str(one), "--days", "221", "--method", "step", "--out", str(out),
                    "--force"])
        assert r.exit_code == 2 and "is being written by another run" in r.output
        assert not (out / "days").exists()
    r = invoke(["run", str(two), "--days", "221", "--method", "step", "--out", str(out)])
    assert r.exit_code == 0, r.output


def test_a_lock_left_by_a_killed_run_does_not_block_and_the_run_resumes(tmp_path, write_study):
    one, _ = _two_studies(write_study)
    out = tmp_path / "out"
    r = invoke(["run", str(one), "--days", "221", "--method", "step", "--out", str(out)])
    assert r.exit_code == 0, r.output
    # a run that holds the folder, then is killed mid-way
    code = ("import sys, time\nfrom oe_opt.runs.outdir import claim\n"
            "with claim(sys.argv[1], sys.argv[2], 'run'):\n"
            "    print('locked', flush=True)\n    time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(out), str(one)],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        r = invoke(["run", str(one), "--days", "221-222", "--method", "step", "--out", str(out)])
        assert r.exit_code == 2 and "being written by another run" in r.output
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert (out / LOCK).exists()  # left behind
    assert json.loads((out / MANIFEST).read_text())["finished"] is None
    t0 = time.perf_counter()
    r = invoke(["run", str(one), "--days", "221-222", "--method", "step", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "computed 1 days, reused 1" in r.output
    assert time.perf_counter() - t0 < 30
    assert json.loads((out / MANIFEST).read_text())["finished"]
