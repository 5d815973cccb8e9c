"""What path-independent checks cost on a network with volt-var inverter controls (issue 10, item 8).

Builds the InvControl LV network (``oe_opt.io.importers.invcontrol_lv``: 114
customers, 57 rooftop PV under one volt-var InvControl, 288 five-minute periods;
in a temporary folder), then runs its day with ``lp`` and
``bisect`` twice: with OpenDSS's default InvControl tolerances (the state a
check ends in depends on the previous check) and with oe_opt's tightened ones
(:data:`oe_opt.network.opendss.INVCONTROL_TOLERANCES`).  For each it reports
wall time, power flows, control iterations, the largest lp - bisect difference
and how many reported envelopes an independent check (a freshly compiled
network, first power flow of the period) rejects.  Results go to
``benchmarks/results/path_independence.{json,md}``.

    .venv/bin/python benchmarks/path_independence.py
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(ROOT))

DEFAULTS = {"VoltageChangeTolerance": 1e-4, "VarChangeTolerance": 0.025,
            "ActivePChangeTolerance": 0.01}


def build(folder: Path) -> Path:
    """The InvControl LV network and its study in `folder` (the benchmark network of
    ``oe_opt.io.importers.invcontrol_lv``: 114 customers, 57 rooftop PV under volt-var, one
    day of 288 five-minute periods)."""
    from oe_opt.io.importers.invcontrol_lv import write_invcontrol_study

    return write_invcontrol_study(folder / "net")


def measure(study_path: Path, tolerances: dict) -> dict:
    import oe_opt.network.opendss as od
    from oe_opt.methods.evaluator import PowerFlowEvaluator
    from oe_opt.runs.day import Session, run_day
    from oe_opt.study import load_study

    saved = dict(od.INVCONTROL_TOLERANCES)
    od.INVCONTROL_TOLERANCES.clear()
    od.INVCONTROL_TOLERANCES.update(tolerances)
    try:
        study = load_study(study_path)
        out = {}
        envs = {}
        for method in ("lp", "bisect"):
            session = Session(study)
            run_day(study, method=method, session=session, periods=[0], voltages=False)  # warm
            t0 = time.perf_counter()
            env = run_day(study, method=method, session=session, voltages=False).envelopes
            out[f"{method}_seconds"] = time.perf_counter() - t0
            per = env.drop_duplicates(["period", "direction"])
            out[f"{method}_powerflows"] = int(per.n_powerflows.sum())
            envs[method] = per.set_index(["period", "direction"])
        diff = (envs["lp"].oe_kw - envs["bisect"].oe_kw).abs()
        out["max_lp_minus_bisect_w"] = float(np.nanmax(diff.to_numpy()) * 1000)
        # independent re-check of every reported envelope: fresh network, first power flow
        rejected = 0
        checked = 0
        for method, per in envs.items():
            session = Session(study)
            ev = PowerFlowEvaluator(session.net, study.limits, session.case())
            for (t, d), row in per.iterrows():
                if row.status not in ("ok", "at_cap"):
                    continue
                session.net.reset_solution()
                ev.set_period(int(t))
                checked += 1
                rejected += not ev.check_direction(d, row.oe_kw).ok
        out["independent_checks"] = checked
        out["independent_rejections"] = rejected
        # cost of one check: the same candidate many times
        session = Session(study)
        ev = PowerFlowEvaluator(session.net, study.limits, session.case())
        ev.set_period(110)
        best = np.inf
        for _ in range(3):
            t0 = time.perf_counter()
            for k in range(200):
                ev.check(-4.0 + 0.001 * (k % 7))
            best = min(best, (time.perf_counter() - t0) / 200)
        out["us_per_check"] = best * 1e6
        return out
    finally:
        od.INVCONTROL_TOLERANCES.clear()
        od.INVCONTROL_TOLERANCES.update(saved)


def main() -> None:
    import oe_opt.network.opendss as od

    with tempfile.TemporaryDirectory() as tmp:
        study = build(Path(tmp))
        rows = {"OpenDSS default tolerances": measure(study, DEFAULTS),
                "oe_opt tightened tolerances": measure(study, dict(od.INVCONTROL_TOLERANCES))}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "path_independence.json").write_text(json.dumps(rows, indent=2) + "\n")
    keys = list(next(iter(rows.values())))
    md = ["# Path-independent checks with volt-var InvControls (InvControl LV network: 114 "
          "customers, 57 PV, 288 periods)", "",
          "| | " + " | ".join(rows) + " |", "| --- |" + " --- |" * len(rows)]
    for k in keys:
        md.append(f"| {k} | " + " | ".join(f"{r[k]:.4g}" for r in rows.values()) + " |")
    text = "\n".join(md) + "\n"
    (RESULTS / "path_independence.md").write_text(text)
    print(text)


if __name__ == "__main__":
    import argparse

    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()  # --help, no options
    main()
