"""step vs bisect vs lp over many days (the ``oe-opt compare`` computation, repeated).

For every day, :func:`oe_opt.analysis.compare.compare_methods` runs the three methods
on one compiled network; afterwards the ``lp`` day is timed again (warm:
network compiled, LP built, sensitivities prepared) to measure the whole-day
wall time after start-up.  Checked against the targets of issue 3:

* ``lp`` within 0.01 kW of ``bisect`` in every period and direction, never
  above it by more than 0.001 kW, always verified;
* power flows per period for ``lp`` (including perturbation runs; 0 with the
  analytic sensitivities) at most a third of ``bisect``'s;
* a whole day (48 periods × 2 directions) with ``lp`` in under 0.5 s wall
  time after start-up (``run_day`` of a warm session: network compiled, LP
  built, sensitivity model prepared; fastest of ``--repeat`` runs).

Results: ``benchmarks/results/compare_methods.json`` and ``compare_methods.md``
(per study), with the machine (platform, CPU count) and library versions, and
the figure ``compare_methods.png`` (drawn from the JSON; ``--plot-only``
redraws it from an existing JSON without rerunning).

    python benchmarks/compare_methods.py                     # tutorial + second, 31 days each
    python benchmarks/compare_methods.py --days 0-364        # every day
    python benchmarks/compare_methods.py --study models/second.toml --days 150-160
    python benchmarks/compare_methods.py --plot-only         # redraw compare_methods.png
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
import pandas as pd  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from oe_opt.runs.day import Session, run_day  # noqa: E402
from oe_opt.analysis.compare import compare_methods  # noqa: E402
from oe_opt.study import load_study  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"
DEFAULT_STUDIES = ("models/tutorial.toml", "models/second.toml")
METHOD_COLOURS = {"step": "tab:green", "bisect": "tab:blue", "lp": "tab:orange"}
HIST_EDGES_W = np.round(np.arange(-10.0, 10.0 + 1e-9, 0.05), 3)  # the 0.01 kW target band


def parse_days(text: str) -> list[int]:
    """``"0-364"``, ``"0-364:7"`` (every 7th) or ``"3,50,220"`` to a list of 0-based days."""
    out: list[int] = []
    for part in text.split(","):
        rng, _, step = part.partition(":")
        a, _, b = rng.partition("-")
        out.extend(range(int(a), int(b) + 1, int(step or 1)) if b else [int(a)])
    return sorted(set(out))


def machine() -> dict:
    libs = {p: version(p) for p in ("numpy", "scipy", "pandas", "pyomo", "highspy", "dss-python")}
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = None
    return {"platform": platform.platform(), "python": platform.python_version(),
            "processor": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
            "load_average_1min_at_start": load, "libraries": libs,
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds")}


def bench_study(path: Path, days: list[int], repeat: int = 3) -> dict:
    """Compare the methods on `days` of one study; per-day rows and aggregates.

    The warm ``lp`` day is timed `repeat` times and the fastest kept (the
    machine is shared; the minimum is the least disturbed measurement).
    """
    st = load_study(path)
    t0 = time.perf_counter()
    session = Session(st)
    startup_s = time.perf_counter() - t0
    rows, tables = [], []
    first_lp_s = None
    for day in days:
        if first_lp_s is None:  # the first lp day pays for building the LP and sensitivities
            t0 = time.perf_counter()
            run_day(st, "lp", day=day, session=session, voltages=False)
            first_lp_s = time.perf_counter() - t0
        cmp = compare_methods(st, day=day, session=session, audit=False)
        walls = []
        for _ in range(max(repeat, 1)):
            t0 = time.perf_counter()
            run_day(st, "lp", day=day, session=session, voltages=False)
            walls.append(time.perf_counter() - t0)
        lp_wall = min(walls)
        tab = cmp.table.assign(day=day)
        tables.append(tab)
        ok = tab.status != "infeasible"
        d = tab.lp_minus_bisect_kw[ok]
        tot = cmp.summary.loc["total"]
        rows.append({
            "day": day, "infeasible": int((~ok).sum()), "at_cap": int((tab.status == "at_cap").sum()),
            "lp_minus_bisect_min_kw": float(d.min()) if len(d) else 0.0,
            "lp_minus_bisect_max_kw": float(d.max()) if len(d) else 0.0,
            "status_agree": bool((cmp.envelopes["lp"].groupby(["period", "direction"]).status.first()
                                  == cmp.envelopes["bisect"].groupby(["period", "direction"])
                                  .status.first()).all()),
            "lp_all_verified": bool(tab.lp_verified.all()),
            "lp_pf_per_period": float(tab.lp_pf.mean()), "lp_pf_max": int(tab.lp_pf.max()),
            "bisect_pf_per_period": float(tab.bisect_pf.mean()),
            "step_pf_per_period": float(tab.step_pf.mean()),
            "lp_day_wall_s": lp_wall, "lp_s": float(tot.lp_s), "bisect_s": float(tot.bisect_s),
            "step_s": float(tot.step_s),
            "exact_kwh": float(tot.exact_kwh), "step_unused_kwh": float(tot.step_unused_kwh),
            "step_unused_pct": float(tot.step_unused_pct)})
        r = rows[-1]
        print(f"{st.name} day {day:3d}: lp-bisect [{r['lp_minus_bisect_min_kw']:+.4f}, "
              f"{r['lp_minus_bisect_max_kw']:+.4f}] kW, pf/period lp {r['lp_pf_per_period']:.2f} "
              f"bisect {r['bisect_pf_per_period']:.2f}, lp day {lp_wall:.3f} s, step leaves "
              f"{r['step_unused_pct']:.2f} % unused", file=sys.stderr)
    df = pd.DataFrame(rows)
    all_tab = pd.concat(tables, ignore_index=True)
    ok = all_tab.status != "infeasible"
    diff = all_tab.lp_minus_bisect_kw[ok]
    agg = {
        "days": len(days), "period_directions": len(all_tab), "infeasible": int((~ok).sum()),
        "lp_minus_bisect_min_kw": float(diff.min()), "lp_minus_bisect_max_kw": float(diff.max()),
        "lp_all_verified": bool(all_tab.lp_verified.all()),
        "status_agree": bool(df.status_agree.all()),
        "lp_pf_per_period": float(all_tab.lp_pf.mean()), "lp_pf_max": int(all_tab.lp_pf.max()),
        "bisect_pf_per_period": float(all_tab.bisect_pf.mean()),
        "step_pf_per_period": float(all_tab.step_pf.mean()),
        "lp_day_wall_s_median": float(df.lp_day_wall_s.median()),
        "lp_day_wall_s_p95": float(df.lp_day_wall_s.quantile(0.95)),
        "lp_day_wall_s_max": float(df.lp_day_wall_s.max()),
        "lp_first_day_s": first_lp_s, "startup_s": startup_s,
        "bisect_day_s_median": float(df.bisect_s.median()),
        "step_unused_kwh": float(df.step_unused_kwh.sum()),
        "step_unused_pct": float(100 * df.step_unused_kwh.sum() / df.exact_kwh.sum())
        if df.exact_kwh.sum() > 0 else 0.0,
        "lp_minus_bisect_hist_w": difference_histogram(diff.to_numpy() * 1e3),
    }
    agg["targets"] = {
        "lp_within_0.01_kw_of_bisect": bool((diff.abs() <= 0.01).all()),
        "lp_never_above_bisect_by_0.001_kw": bool((diff <= 0.001).all()),
        "lp_always_verified": agg["lp_all_verified"],
        "lp_pf_at_most_a_third_of_bisect": agg["lp_pf_per_period"] <= agg["bisect_pf_per_period"] / 3,
        "lp_day_under_0.5_s": agg["lp_day_wall_s_max"] < 0.5,
    }
    return {"study": str(path), "name": st.name, "aggregate": agg, "days": rows}


def difference_histogram(diff_w: np.ndarray) -> dict:
    """Histogram of lp − bisect over all feasible period-directions.

    Parameters
    ----------
    diff_w : ndarray
        Differences in W.  Values outside ±10 W (the 0.01 kW target) are
        counted in the outermost bins.

    Returns
    -------
    dict
        ``edges_w`` (bin edges, W, 0.05 W wide) and ``counts``.
    """
    counts, _ = np.histogram(np.clip(diff_w, HIST_EDGES_W[0], HIST_EDGES_W[-1]), HIST_EDGES_W)
    return {"edges_w": HIST_EDGES_W.tolist(), "counts": counts.tolist()}


# -------------------------------------------------------------------- figure
def _plot_accuracy(ax: plt.Axes, study: dict) -> None:
    """lp − bisect in W: every period-direction if the JSON has its histogram, else daily extremes."""
    agg = study["aggregate"]
    hist = agg.get("lp_minus_bisect_hist_w")
    if hist:
        edges, counts = np.asarray(hist["edges_w"]), np.asarray(hist["counts"])
        used = np.flatnonzero(counts)
        lo, hi = edges[used[0]], edges[used[-1] + 1]
        ax.stairs(counts, edges, fill=True, color=METHOD_COLOURS["lp"], alpha=0.7,
                  label=f"{agg['period_directions'] - agg['infeasible']} period-directions")
        ax.set_ylabel("period-directions")
    else:
        lo_w = np.array([d["lp_minus_bisect_min_kw"] for d in study["days"]]) * 1e3
        hi_w = np.array([d["lp_minus_bisect_max_kw"] for d in study["days"]]) * 1e3
        lo, hi = float(lo_w.min()), float(hi_w.max())
        bins = np.linspace(lo, hi, 40)
        ax.hist(lo_w, bins, color="tab:purple", alpha=0.7, label="daily minimum")
        ax.hist(hi_w, bins, color="tab:red", alpha=0.7, label="daily maximum")
        ax.set_ylabel("days")
    pad = 0.1 * max(hi - lo, 0.2)
    ax.set_xlim(min(lo - pad, -0.2), max(hi + pad, 1.1))
    ax.axvline(0.0, color="k", lw=0.8)
    ax.axvline(1.0, color="k", ls="--", lw=1, label="+1 W (lp never above)")
    ax.set_xlabel("lp − bisect (W)")
    ax.legend(fontsize=8, loc="upper center")
    ax.set_title(f"{study['name']}: lp − bisect, {agg['days']} days\n"
                 f"range {agg['lp_minus_bisect_min_kw'] * 1e3:+.2f} … "
                 f"{agg['lp_minus_bisect_max_kw'] * 1e3:+.2f} W (target |Δ| ≤ 10 W)", fontsize=10)


def _plot_powerflows(ax: plt.Axes, study: dict) -> None:
    """Mean power flows per period-direction of each method, with the lp target (bisect / 3)."""
    agg = study["aggregate"]
    methods = ["step", "bisect", "lp"]
    values = [agg[f"{m}_pf_per_period"] for m in methods]
    bars = ax.bar(methods, values, color=[METHOD_COLOURS[m] for m in methods])
    ax.bar_label(bars, fmt="%.2f", label_type="center", color="white", fontweight="bold")
    ax.axhline(agg["bisect_pf_per_period"] / 3, color="k", ls="--", lw=1,
               label="target for lp: bisect / 3")
    ax.set_ylim(0, 1.15 * max(values))
    ax.set_ylabel("power flows per period-direction")
    ax.set_title(f"{study['name']}: power flows (lp max {agg['lp_pf_max']})", fontsize=10)
    ax.legend(fontsize=8, loc="upper left")


def _plot_seconds(ax: plt.Axes, study: dict) -> None:
    """Seconds per day: each method's search time, and the warm lp day's wall time."""
    days = pd.DataFrame(study["days"])
    cols = {"step": "step_s", "bisect": "bisect_s", "lp": "lp_s", "lp day\n(warm wall)":
            "lp_day_wall_s"}
    box = ax.boxplot([days[c] for c in cols.values()], tick_labels=list(cols), patch_artist=True,
                     showfliers=True, flierprops={"markersize": 2})
    for patch, colour in zip(box["boxes"], [METHOD_COLOURS["step"], METHOD_COLOURS["bisect"],
                                            METHOD_COLOURS["lp"], "tab:red"]):
        patch.set_facecolor(colour)
        patch.set_alpha(0.6)
    ax.axhline(0.5, color="k", ls="--", lw=1, label="target: lp day < 0.5 s")
    ax.set_ylim(0, max(0.55, 1.1 * float(days[list(cols.values())].max().max())))
    ax.set_ylabel("seconds per day (96 period-directions)")
    ax.set_xlabel("method time summed over periods; lp day: warm run_day", fontsize=8)
    ax.set_title(f"{study['name']}: time per day (median lp day "
                 f"{study['aggregate']['lp_day_wall_s_median']:.3f} s)", fontsize=10)
    ax.legend(fontsize=8, loc="upper left")


def plot_results(result: dict, path: Path) -> Path:
    """Draw the comparison figure from a loaded ``compare_methods.json``.

    One row per study: distribution of lp − bisect (W), power flows per
    period-direction per method, seconds per day per method.

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
    studies = result["studies"]
    fig, axes = plt.subplots(len(studies), 3, figsize=(15, 4.2 * len(studies)), squeeze=False)
    for row, study in zip(axes, studies):
        _plot_accuracy(row[0], study)
        _plot_powerflows(row[1], study)
        _plot_seconds(row[2], study)
    m = result["machine"]
    fig.suptitle(f"step vs bisect vs lp (days {result['days_spec']}; {m['cpu_count']} CPUs, "
                 f"{m['date'][:10]})")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def markdown(result: dict) -> str:
    m = result["machine"]
    lines = ["# step vs bisect vs lp", "",
             f"{m['platform']}, {m['cpu_count']} CPUs (load average {m['load_average_1min_at_start']}"
             f" at start), Python {m['python']}; "
             + ", ".join(f"{k} {v}" for k, v in m["libraries"].items()) + f"; {m['date']}", ""]
    lines += ["| study | days | period-directions | infeasible | lp − bisect min / max (kW) | "
              "lp verified | PF per period lp / bisect / step | lp PF max | lp day s (median / p95 / max)"
              " | first lp day s | step unused energy |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for s in result["studies"]:
        a = s["aggregate"]
        lines.append(f"| {s['name']} | {a['days']} | {a['period_directions']} | {a['infeasible']} | "
                     f"{a['lp_minus_bisect_min_kw']:+.4f} / {a['lp_minus_bisect_max_kw']:+.4f} | "
                     f"{a['lp_all_verified']} | {a['lp_pf_per_period']:.2f} / "
                     f"{a['bisect_pf_per_period']:.2f} / {a['step_pf_per_period']:.2f} | "
                     f"{a['lp_pf_max']} | {a['lp_day_wall_s_median']:.3f} / "
                     f"{a['lp_day_wall_s_p95']:.3f} / {a['lp_day_wall_s_max']:.3f} | "
                     f"{a['lp_first_day_s']:.2f} | "
                     f"{a['step_unused_kwh']:.0f} kWh ({a['step_unused_pct']:.2f} %) |")
    lines += ["", "Targets:", ""]
    for s in result["studies"]:
        for k, v in s["aggregate"]["targets"].items():
            lines.append(f"* {s['name']}: {k}: {'met' if v else 'NOT met'}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--study", action="append", help="study file (repeatable; default: tutorial "
                    "and second)")
    ap.add_argument("--days", default="0-364:12", help='days, e.g. "0-364", "0-364:7", "3,50,220"')
    ap.add_argument("--repeat", type=int, default=3,
                    help="timed warm lp runs per day (the fastest is kept)")
    ap.add_argument("--out", default=str(RESULTS), help="results folder")
    ap.add_argument("--plot-only", action="store_true",
                    help="redraw compare_methods.png from the existing JSON in --out; no run")
    args = ap.parse_args(argv)
    out = Path(args.out)
    if args.plot_only:
        result = json.loads((out / "compare_methods.json").read_text())
        print(plot_results(result, out / "compare_methods.png"))
        return result
    studies = [Path(s) for s in (args.study or [REPO / s for s in DEFAULT_STUDIES])]
    days = parse_days(args.days)
    result = {"machine": machine(), "days_spec": args.days,
              "repeat": args.repeat, "studies": [bench_study(p, days, args.repeat) for p in studies]}
    out.mkdir(parents=True, exist_ok=True)
    json_path = out / "compare_methods.json"
    json_path.write_text(json.dumps(result, indent=2))
    md = markdown(result)
    (out / "compare_methods.md").write_text(md)
    print(md)
    print(plot_results(json.loads(json_path.read_text()), out / "compare_methods.png"))
    return result


if __name__ == "__main__":
    main()
