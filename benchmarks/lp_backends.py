"""LP backends: Pyomo persistent (appsi HiGHS) against the compiled model driven through highspy.

For the tutorial study, the linearised limits (A, b) of every period and
direction at 0 kW are collected first (analytic sensitivities); then each
backend of :class:`oe_opt.model.lp.EnvelopeLP` is timed on ``update(A, b) +
solve``: with one equal-allocation variable (method ``lp``) and with one
variable per flexible customer (method ``alloc``, equal and max_total
objectives).  The optimal objective values of the two backends are compared.

Results: ``benchmarks/results/lp_backends.json``, ``lp_backends.md`` and the
figure ``lp_backends.png`` (drawn from the JSON; ``--plot-only`` redraws it
from an existing JSON without rerunning).

    python benchmarks/lp_backends.py [--repeat 3]
    python benchmarks/lp_backends.py --plot-only
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

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from oe_opt.runs.day import Session  # noqa: E402
from oe_opt.methods.evaluator import PowerFlowEvaluator, signed_kw  # noqa: E402
from oe_opt.model.lp import EnvelopeLP  # noqa: E402
from oe_opt.methods.slp import MARGIN_KW  # noqa: E402
from oe_opt.model.limits import limit_rows, lp_rows  # noqa: E402
from oe_opt.model.sensitivity import SensitivityModel  # noqa: E402
from oe_opt.study import load_study  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"
BACKEND_COLOURS = {"highspy": "tab:blue", "appsi": "tab:orange"}


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


def plot_results(result: dict, path: Path) -> Path:
    """Draw the backend figure from a loaded ``lp_backends.json``.

    Left: median (bar) and mean (marker) milliseconds per ``update + solve``
    for each backend and model size (variables × limit rows, objective), log
    scale, with the appsi / highspy ratio.  Right: seconds to build the model.

    Parameters
    ----------
    result : dict
        The JSON written by :func:`main`.
    path : Path
        PNG to write.

    Returns
    -------
    Path
        `path`.
    """
    rows = result["rows"]
    cases = list(dict.fromkeys((r["variables"], r["rows"], r["objective"]) for r in rows))
    backends = list(dict.fromkeys(r["backend"] for r in rows))
    by = {(r["backend"], r["variables"], r["rows"], r["objective"]): r for r in rows}
    labels = [f"{v} var{'s' if v > 1 else ''} × {m} rows\n{obj}" for v, m, obj in cases]
    x = np.arange(len(cases))
    width = 0.8 / len(backends)
    fig, (ax_t, ax_b) = plt.subplots(1, 2, figsize=(13, 4.5), width_ratios=(2, 1))
    for k, be in enumerate(backends):
        xs = x + (k - (len(backends) - 1) / 2) * width
        med = [by[(be, *c)]["median_ms"] for c in cases]
        mean = [by[(be, *c)]["mean_ms"] for c in cases]
        ax_t.bar(xs, med, width, color=BACKEND_COLOURS.get(be), label=f"{be} (median)")
        ax_t.plot(xs, mean, "k_", ms=14, mew=2, label="mean" if k == 0 else None)
        for xi, md, mn in zip(xs, med, mean):
            ax_t.annotate(f"{md:.2f}", (xi, max(md, mn) * 1.12), ha="center", fontsize=8)
        build = [by[(be, *c)]["build_s"] for c in cases]
        ax_b.bar(xs, build, width, color=BACKEND_COLOURS.get(be), label=be)
    if {"highspy", "appsi"} <= set(backends):
        for xi, c in zip(x, cases):
            ratio = by[("appsi", *c)]["median_ms"] / by[("highspy", *c)]["median_ms"]
            top = max(by[(be, *c)][k] for be in ("highspy", "appsi")
                      for k in ("median_ms", "mean_ms"))
            ax_t.annotate(f"appsi {ratio:.0f}× slower", (xi, top * 2.0), ha="center", fontsize=10,
                          fontweight="bold")
    ax_t.set_yscale("log")
    lowest = min(r["median_ms"] for r in rows)
    ax_t.set_ylim(lowest / 4, ax_t.get_ylim()[1] * 6)
    ax_t.set_xticks(x, labels)
    ax_t.set_ylabel("ms per update(A, b) + solve")
    solves = rows[0]["solves"]
    ax_t.set_title(f"Time per LP solve ({solves} solves: 48 periods × 2 directions; "
                   "appsi median / highspy median)", fontsize=10)
    ax_t.legend(fontsize=8, loc="upper left")
    ax_b.set_xticks(x, labels, fontsize=8)
    ax_b.set_ylabel("s")
    ax_b.set_title("Model build time (the first build includes one-off start-up)", fontsize=10)
    ax_b.legend(fontsize=8)
    m = result["machine"]
    fig.suptitle(f"LP backends on {Path(result['study']).stem} ({m['cpu_count']} CPUs, "
                 f"highspy {m['libraries']['highspy']}, pyomo {m['libraries']['pyomo']}, "
                 f"{m['date'][:10]})")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--study", default=str(REPO / "models" / "tutorial.toml"))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", type=Path, default=RESULTS, help="results folder")
    ap.add_argument("--plot-only", action="store_true",
                    help="redraw lp_backends.png from the existing JSON in --out; no run")
    args = ap.parse_args(argv)
    out = args.out
    if args.plot_only:
        result = json.loads((out / "lp_backends.json").read_text())
        print(plot_results(result, out / "lp_backends.png"))
        return result
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
    out.mkdir(parents=True, exist_ok=True)
    json_path = out / "lp_backends.json"
    json_path.write_text(json.dumps(result, indent=2))
    lines = ["# LP backends: update(A, b) + solve", "",
             f"{result['machine']['platform']}, {result['machine']['cpu_count']} CPUs, "
             + ", ".join(f"{k} {v}" for k, v in result["machine"]["libraries"].items()), "",
             "| backend | variables | limit rows | objective | median ms | mean ms | build s |"
             " objective diff (kW) |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['backend']} | {r['variables']} | {r['rows']} | {r['objective']} | "
                     f"{r['median_ms']:.3f} | {r['mean_ms']:.3f} | {r['build_s']:.2f} | "
                     f"{r['max_objective_diff_kw']:.1e} |")
    (out / "lp_backends.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(plot_results(json.loads(json_path.read_text()), out / "lp_backends.png"))
    return result


if __name__ == "__main__":
    main()
