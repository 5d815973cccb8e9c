"""LP backends: Pyomo persistent (appsi HiGHS) against the compiled model driven through highspy.

For the tutorial study, the linearised limits (A, b) of every period and
direction at 0 kW are collected first (analytic sensitivities); then each
backend of :class:`oe_opt.lp.EnvelopeLP` is timed on ``update(A, b) +
solve``: with one equal-allocation variable (method ``lp``) and with one
variable per flexible customer (method ``alloc``, equal and max_total
objectives).  The optimal objective values of the two backends are compared.

Results: ``benchmarks/results/lp_backends.json`` and ``lp_backends.md``.

    python benchmarks/lp_backends.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from oe_opt.chain import Session  # noqa: E402
from oe_opt.evaluator import PowerFlowEvaluator, signed_kw  # noqa: E402
from oe_opt.lp import EnvelopeLP  # noqa: E402
from oe_opt.optimise import limit_rows, lp_rows, MARGIN_KW  # noqa: E402
from oe_opt.sensitivity import SensitivityModel  # noqa: E402
from oe_opt.study import load_study  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"


def machine() -> dict:
    """Platform, CPU count and library versions."""
    libs = {p: version(p) for p in ("numpy", "scipy", "pandas", "pyomo", "highspy", "dss-python")}
    return {"platform": platform.platform(), "python": platform.python_version(),
            "processor": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
            "libraries": libs, "date": datetime.now(timezone.utc).isoformat(timespec="seconds")}


def collect_problems(study_path: Path) -> dict[int, list[tuple[np.ndarray, np.ndarray, np.ndarray]]]:
    """(A, b, caps) at 0 kW for every period and direction, per number of variables (1 and n)."""
    st = load_study(study_path)
    session = Session(st)
    case = session.case()
    ev = PowerFlowEvaluator(session.net, st.limits, case)
    sens = SensitivityModel(session.net, case.flex_idx)
    rows = limit_rows(sens.layout, st.limits)
    n = len(case.flex_idx)
    out: dict[int, list] = {1: [], n: []}
    for t in range(case.n_periods):
        for d in st.envelope.directions:
            ev.set_period(t)
            ev.check(np.zeros(n))
            s = -1.0 if d == "export" else 1.0
            cap = getattr(st.envelope, f"{d}_max_kw")
            for nvar, e in ((1, np.ones((n, 1))), (n, np.eye(n))):
                lin = sens.analytic(signed_kw(d, np.zeros(n)), e)
                a, b = lp_rows(rows, lin, s * lin.dy_dp, np.zeros(nvar), MARGIN_KW)
                out[nvar].append((a, b, np.full(nvar, cap)))
    return out


def time_backend(backend: str, problems: list, objective: str, repeat: int) -> dict:
    """Median and mean time (ms) of update + solve over the problems, best of `repeat` passes."""
    nvar, m = problems[0][0].shape[1], problems[0][0].shape[0]
    t0 = time.perf_counter()
    lp = EnvelopeLP(nvar, m, backend=backend)
    build_s = time.perf_counter() - t0
    solve = {"equal": lp.solve_equal, "max_total": lp.solve_max_total}[objective]
    best, xs = None, []
    for _ in range(repeat):
        times, xs = [], []
        for a, b, caps in problems:
            t0 = time.perf_counter()
            lp.update(a, b, caps)
            sol = solve()
            times.append(time.perf_counter() - t0)
            xs.append(sol.objective)
        if best is None or np.median(times) < np.median(best):
            best = times
    return {"backend": backend, "variables": nvar, "rows": m, "objective": objective,
            "build_s": build_s, "median_ms": float(np.median(best) * 1e3),
            "mean_ms": float(np.mean(best) * 1e3), "solves": len(problems), "x": xs}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--study", default=str(REPO / "models" / "tutorial.toml"))
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    problems = collect_problems(Path(args.study))
    rows = []
    for nvar, objectives in ((1, ("equal",)), (max(problems), ("equal", "max_total"))):
        for objective in objectives:
            res = {be: time_backend(be, problems[nvar], objective, args.repeat)
                   for be in ("highspy", "appsi")}
            # optimal objective values (the optimal x of max_total need not be unique)
            diff = float(np.max(np.abs(np.array(res["highspy"]["x"]) - np.array(res["appsi"]["x"]))))
            for be, r in res.items():
                r.pop("x")
                r["max_objective_diff_kw"] = diff
                rows.append(r)
                print(f"{be:8s} {nvar:3d} var(s) {objective:9s}: {r['median_ms']:7.3f} ms median "
                      f"per update+solve (build {r['build_s']:.2f} s)", file=sys.stderr)
    result = {"machine": machine(), "study": args.study, "rows": rows}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "lp_backends.json").write_text(json.dumps(result, indent=2))
    lines = ["# LP backends: update(A, b) + solve", "",
             f"{result['machine']['platform']}, {result['machine']['cpu_count']} CPUs, "
             + ", ".join(f"{k} {v}" for k, v in result["machine"]["libraries"].items()), "",
             "| backend | variables | limit rows | objective | median ms | mean ms | build s |"
             " objective diff (kW) |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['backend']} | {r['variables']} | {r['rows']} | {r['objective']} | "
                     f"{r['median_ms']:.3f} | {r['mean_ms']:.3f} | {r['build_s']:.2f} | "
                     f"{r['max_objective_diff_kw']:.1e} |")
    (RESULTS / "lp_backends.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return result


if __name__ == "__main__":
    main()
