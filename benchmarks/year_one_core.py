"""A year of the tutorial study on one core (issue 9, item 5): wall, CPU and where the time goes.

Runs ``oe-opt run STUDY --days DAYS --workers 1 --out <fresh folder>`` in a subprocess
(``lp``, the study's method) for every ``--repo`` given (this checkout by default; e.g.
``--repo /work/main`` for the before figure), one after the other in this process session,
``--repeat`` times each, interleaved.  The subprocess imports ``oe_opt`` from that repo
(``PYTHONPATH``) and times, with ``time.perf_counter`` wrappers installed before the command
runs (nothing is timed inside oe_opt itself):

* ``days``: the days' computation (``oe_opt.runs.batch.compute_day``: per-day set-up, the
  solves and the envelope rows);
* ``storage``: the rest of the days loop (``execute``): writing and validating the
  checksummed day files of the run store;
* ``outputs``: ``write_days_outputs`` (``envelopes.csv``, ``summary.csv``, ``days.png``,
  ``run.json``) plus ``envelopes.parquet`` (the rest of ``_run_claimed`` after the days loop);
* ``start-up``: everything else (interpreter, imports, compiling the network, the run key,
  the warm-up period, the output-folder lock);

and reports the summary's ``seconds`` (the methods' own time, summed over period-directions).
Wall and CPU (user + system) are the subprocess's.  Timings are on a shared machine: compare
repos within one run of this script.

Results: ``benchmarks/results/<name>.json`` (the record) and ``<name>.md``.

    python benchmarks/year_one_core.py                              # this checkout, a year
    python benchmarks/year_one_core.py --repo /work/main --repo .   # before and after
    python benchmarks/year_one_core.py --days 1-30 --name /tmp/try  # a quick try
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

#: the code run in the subprocess: timers around the named stages, then the CLI command
RUNNER = r"""
import json, sys, time
T0 = time.perf_counter()
import importlib
timing = {"days": 0.0, "execute": 0.0, "claimed": 0.0, "outputs": 0.0, "n_days": 0,
          "days_cpu": 0.0, "execute_cpu": 0.0, "claimed_cpu": 0.0, "outputs_cpu": 0.0}

def wrap(module, name, key, count=False):
    mod = importlib.import_module(module)
    fn = getattr(mod, name, None)
    if fn is None:
        return
    def timed(*a, **k):
        t, c = time.perf_counter(), time.process_time()
        try:
            return fn(*a, **k)
        finally:
            timing[key] += time.perf_counter() - t
            timing[key + "_cpu"] += time.process_time() - c
            if count:
                timing["n_days"] += 1
    setattr(mod, name, timed)

wrap("oe_opt.runs.batch", "compute_day", "days", count=True)
wrap("oe_opt.runs.batch", "execute", "execute")
wrap("oe_opt.runs.batch", "_run_claimed", "claimed")
wrap("oe_opt.io.outputs", "write_days_outputs", "outputs")
import oe_opt
timing["oe_opt_file"] = oe_opt.__file__
from oe_opt.cli.main import main
try:
    main.main(args=sys.argv[2:], standalone_mode=False)
finally:
    timing["python_total"] = time.perf_counter() - T0
    timing["python_total_cpu"] = time.process_time()
    with open(sys.argv[1], "w") as fh:
        json.dump(timing, fh)
"""


def git_commit(repo: Path) -> str:
    """The short commit of `repo`'s HEAD (plus ``+dirty`` with uncommitted changes)."""
    try:
        head = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--",
                                "oe_opt"], capture_output=True, text=True).stdout.strip()
        return head + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "?"


def run_once(repo: Path, study: str, days: str) -> dict:
    """One fresh ``oe-opt run --days --workers 1`` of `repo` in a subprocess, timed."""
    out = Path(tempfile.mkdtemp(prefix="year_one_core_"))
    timing_file = out / "timing.json"
    env = dict(os.environ, PYTHONPATH=str(repo), MPLBACKEND="Agg")
    cmd = [sys.executable, "-c", RUNNER, str(timing_file), "run", str(repo / study),
           "--days", days, "--workers", "1", "--out", str(out / "run")]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=str(repo))
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        if proc.returncode != 0:
            raise RuntimeError(f"{repo}: exit {proc.returncode}\n{proc.stderr[-3000:]}")
        timing = json.loads(timing_file.read_text())
        import pandas as pd

        summary = pd.read_csv(out / "run" / "summary.csv")
        env_rows = len(pd.read_parquet(out / "run" / "envelopes.parquet", columns=["day"]))
        solve_s = {d: float(g["seconds"].sum()) for d, g in summary.groupby("direction")}
        pf = {d: float(g["n_powerflows"].sum() / g["periods"].sum())
              for d, g in summary.groupby("direction")}
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        storage = timing["execute"] - timing["days"]
        # the outputs: write_days_outputs and the year's envelopes.parquet (after the days loop)
        outputs = timing["outputs"] + max(timing["claimed"] - timing["execute"], 0.0)
        startup = wall - timing["execute"] - outputs
        # the same split in CPU seconds of the subprocess (robust to other load on the machine)
        out_cpu = timing["outputs_cpu"] + max(timing["claimed_cpu"] - timing["execute_cpu"], 0.0)
        split_cpu = {"days_s": timing["days_cpu"],
                     "storage_s": timing["execute_cpu"] - timing["days_cpu"],
                     "outputs_s": out_cpu,
                     "startup_s": cpu - timing["execute_cpu"] - out_cpu}
        return {"wall_s": wall, "cpu_s": cpu, "solve_s": sum(solve_s.values()),
                "solve_s_by_direction": solve_s, "powerflows_per_period_direction": pf,
                "days_s": timing["days"], "storage_s": storage, "outputs_s": outputs,
                "startup_s": startup, "cpu_split": split_cpu, "n_days": timing["n_days"], "envelope_rows": env_rows,
                "oe_opt_file": timing["oe_opt_file"]}
    finally:
        shutil.rmtree(out, ignore_errors=True)


def markdown(result: dict) -> str:
    """The results table (one row per repo: the fastest wall of its runs, and the median)."""
    lines = [f"# A year on one core: `oe-opt run {result['study']} --days {result['days']} "
             f"--workers 1` (lp)", "",
             f"{result['date']}, {result['machine']}; {result['repeat']} run(s) per repo, "
             f"interleaved; each a fresh `--out` in a subprocess. Columns from the fastest run "
             f"(wall); `wall median` over the runs. `solves` = the summary's `seconds` (the "
             f"method's own time); `days` = the days' computation (solves + per-day set-up and "
             f"rows); `storage` = the checksummed day files; `outputs` = envelopes.csv, "
             f"summary.csv, days.png, run.json; `start-up` = the rest (imports, compile, "
             f"warm-up, run key, lock).", "",
             "| repo | commit | wall s | wall median s | CPU s | solves s | days s | storage s | "
             "outputs s | start-up s | PF per period-direction (export / import) | rows |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in result["repos"]:
        best = min(r["runs"], key=lambda x: x["wall_s"])
        walls = sorted(x["wall_s"] for x in r["runs"])
        med = walls[len(walls) // 2]
        pf = best["powerflows_per_period_direction"]
        lines.append(f"| {r['label']} | {r['commit']} | {best['wall_s']:.1f} | {med:.1f} | "
                     f"{best['cpu_s']:.1f} | {best['solve_s']:.1f} | {best['days_s']:.1f} | "
                     f"{best['storage_s']:.1f} | {best['outputs_s']:.1f} | "
                     f"{best['startup_s']:.1f} | {pf.get('export', 0):.2f} / "
                     f"{pf.get('import', 0):.2f} | {best['envelope_rows']} |")
    lines += ["", "The same split in CPU seconds of the subprocess (user + system; robust to other "
              "load on the shared machine), fastest run by CPU:", "",
              "| repo | commit | CPU s | days | storage | outputs | start-up |",
              "|---|---|---|---|---|---|---|"]
    for r in result["repos"]:
        best = min(r["runs"], key=lambda x: x["cpu_s"])
        c = best["cpu_split"]
        lines.append(f"| {r['label']} | {r['commit']} | {best['cpu_s']:.1f} | {c['days_s']:.1f} | "
                     f"{c['storage_s']:.1f} | {c['outputs_s']:.1f} | {c['startup_s']:.1f} |")
    lines += ["", f"Target: under {result['target_wall_s']:.0f} s wall."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repo", action="append", default=None,
                    help="a checkout to run (repeatable; default this one)")
    ap.add_argument("--study", default="models/tutorial.toml", help="study, relative to each repo")
    ap.add_argument("--days", default="1-365", help="--days of the command (default 1-365)")
    ap.add_argument("--repeat", type=int, default=1, help="runs per repo, interleaved")
    ap.add_argument("--name", default="year_one_core",
                    help="file stem in benchmarks/results/ (or a path stem)")
    args = ap.parse_args(argv)
    repos = [Path(r).resolve() for r in (args.repo or [str(REPO)])]
    runs: dict[Path, list[dict]] = {r: [] for r in repos}
    for k in range(args.repeat):
        for repo in repos:
            r = run_once(repo, args.study, args.days)
            runs[repo].append(r)
            print(f"{repo} run {k + 1}: wall {r['wall_s']:.1f} s, CPU {r['cpu_s']:.1f} s, solves "
                  f"{r['solve_s']:.1f} s, days {r['days_s']:.1f} s, storage {r['storage_s']:.1f} "
                  f"s, outputs {r['outputs_s']:.1f} s, start-up {r['startup_s']:.1f} s",
                  flush=True)
    result = {
        "study": args.study, "days": args.days, "repeat": args.repeat, "target_wall_s": 15.0,
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.system()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "repos": [{"repo": str(r), "label": r.name, "commit": git_commit(r), "runs": runs[r]}
                  for r in repos],
    }
    stem = Path(args.name)
    if not stem.is_absolute() and stem.parent == Path("."):
        stem = REPO / "benchmarks" / "results" / stem
    stem.parent.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    text = markdown(json.loads(stem.with_suffix(".json").read_text()))
    stem.with_suffix(".md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
