"""Scaling benchmarks: customers, a year of days, and a set of real LV networks.

Three parts, each optional (``--only``):

``customers``
    Synthetic feeders of 30 to 2,000 customers (``oe_opt/io/importers/synthetic.py``),
    half of them flexible: time and power flows per period and direction
    for each method, on a sample of periods of one day.  Target: the cost per
    period grows no worse than linearly with the number of customers.
``year``
    Every day of the tutorial study (365 × 48 half-hours × 2 directions)
    with ``--workers`` Dask workers, per method.  Target: < 2 minutes with 2
    workers.
``hpk11``
    All LV networks of the HPK11 MV-LV workbook (imported at run time into
    ``networks/generated/``), one day each, in parallel.  Target: < 5 minutes.
    Skipped when the importer or the workbook is missing.

Results go to ``benchmarks/results/scaling.json``, ``scaling.md`` and the figure
``scaling.png`` (drawn from the JSON; ``--plot-only`` redraws it from an
existing JSON without rerunning anything).

Examples::

    python benchmarks/scaling.py                       # everything (~10 minutes on 2 cores)
    python benchmarks/scaling.py --quick               # a small subset (~1 minute)
    python benchmarks/scaling.py --only customers --customers 30,2000 --methods lp,step
    python benchmarks/scaling.py --only year --days 1-365 --methods lp --workers 2
    python benchmarks/scaling.py --plot-only           # redraw scaling.png from scaling.json
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import NullFormatter  # noqa: E402
import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from oe_opt.runs.batch import run_days  # noqa: E402
from oe_opt.runs.day import Session, run_day  # noqa: E402
from oe_opt.methods.registry import get_method  # noqa: E402
from oe_opt.runs.netset import network_study, run_networks  # noqa: E402
from oe_opt.network.opendss import DssNetwork  # noqa: E402
from oe_opt.runs.parallel import warm_up  # noqa: E402
from oe_opt.study import Study, load_study  # noqa: E402

TUTORIAL = REPO / "models" / "tutorial.toml"
GENERATED = REPO / "networks" / "generated"
WORKBOOK = REPO.parent / "shared" / "seed" / "mv-lv-networks" / "Network_3_Urban_HPK11.xlsx"
DEFAULT_CUSTOMERS = (30, 100, 300, 1000, 2000)
PARTS = ("customers", "year", "hpk11")
METHOD_COLOURS = {"step": "tab:green", "bisect": "tab:blue", "lp": "tab:orange"}
METHOD_MARKERS = {"step": "s", "bisect": "^", "lp": "o"}


def available_methods(wanted: list[str]) -> list[str]:
    """The wanted methods that are registered (``lp`` may not exist yet)."""
    out = []
    for m in wanted:
        try:
            get_method(m)
        except KeyError:
            print(f"method {m} is not available; skipped", file=sys.stderr)
        else:
            out.append(m)
    return out


def seeded(template: Study) -> Study:
    """The template with independently drawn demand profiles (the tutorial's draw gives every
    fixed customer after the first the same profile)."""
    return replace(template, profiles=replace(template.profiles, assignment="seeded"))


def sample_periods(n_periods: int, count: int) -> list[int]:
    """`count` periods spread evenly over the day."""
    count = max(1, min(count, n_periods))
    return sorted({int(round(x)) for x in np.linspace(0, n_periods - 1, count)})


def powerflow_ms(net: DssNetwork, n: int = 50) -> float:
    """Time (ms) of one candidate check's OpenDSS work: set every load, solve, read the state."""
    idx = np.arange(len(net.load_names))
    p = np.full(len(idx), 1.0)
    net.set_loads(idx, p, 0.3 * p)
    net.solve()
    t0 = time.perf_counter()
    for k in range(n):
        net.set_loads(idx, p * (1 + 0.01 * (k % 3)), 0.3 * p)
        net.solve()
        net.read_state()
    return (time.perf_counter() - t0) / n * 1e3


# ---------------------------------------------------------------------- parts
def bench_customers(template: Study, sizes: list[int], methods: list[str], n_periods: int,
                    flexible: float) -> dict:
    """Time per period against the number of customers on synthetic feeders."""
    from oe_opt.io.importers.synthetic import write_synthetic_feeder

    rows = []
    for n in sizes:
        master = write_synthetic_feeder(n, GENERATED / f"synthetic_n{n}_s0", seed=0)
        t0 = time.perf_counter()
        net = DssNetwork(master, voltage_bases_kv=template.network.voltage_bases_kv)
        study = network_study(seeded(template), master, net.load_names, flexible)
        session = Session(study, net=net)
        compile_s = time.perf_counter() - t0
        pf_ms = powerflow_ms(net)
        periods = sample_periods(session.case().n_periods, n_periods)
        for method in methods:
            # one period first: methods build per-network objects (sensitivities, LPs) on first use
            t0 = time.perf_counter()
            warm_up(session, study, method, study.profiles.day)
            warmup_s = time.perf_counter() - t0
            net.reset_solution()
            t0 = time.perf_counter()
            env = run_day(study, method, session=session, periods=periods, voltages=False).envelopes
            wall = time.perf_counter() - t0
            per = env.groupby(["period", "direction"]).agg(
                seconds=("seconds", "first"), n_powerflows=("n_powerflows", "first"),
                status=("status", "first"))
            row = {"customers": n, "flexible": len(study.customers.flexible), "method": method,
                   "periods": len(periods), "compile_s": compile_s, "warmup_s": warmup_s,
                   "powerflow_ms": pf_ms,
                   "s_per_period_direction": float(per.seconds.mean()),
                   "powerflows_per_period_direction": float(per.n_powerflows.mean()),
                   "ms_per_powerflow": float(per.seconds.sum() / per.n_powerflows.sum() * 1e3),
                   "wall_s": wall, "infeasible": int((per.status == "infeasible").sum()),
                   "all_verified": bool(env.verified.all())}
            rows.append(row)
            print(f"customers {n:5d} {method:7s} {row['s_per_period_direction'] * 1e3:8.1f} ms per "
                  f"period-direction, {row['powerflows_per_period_direction']:5.1f} power flows, "
                  f"{pf_ms:6.2f} ms per power flow", file=sys.stderr)
    growth = {}
    for method in methods:
        pts = [(r["customers"], r["s_per_period_direction"]) for r in rows if r["method"] == method]
        if len(pts) >= 2:
            x, y = np.log([p[0] for p in pts]), np.log([p[1] for p in pts])
            growth[method] = float(np.polyfit(x, y, 1)[0])
    pts = [(r["customers"], r["powerflow_ms"]) for r in rows if r["method"] == methods[0]]
    if len(pts) >= 2:
        growth["powerflow"] = float(np.polyfit(np.log([p[0] for p in pts]),
                                               np.log([p[1] for p in pts]), 1)[0])
    return {"rows": rows, "loglog_slope": growth, "flexible_share": flexible,
            "day": template.profiles.day}


def bench_year(template: Study, days: str, methods: list[str], workers: int, work: Path) -> dict:
    """A year (or `days`) of the tutorial study with `workers` Dask workers."""
    rows = []
    for method in methods:
        t0 = time.perf_counter()
        env = run_days(template, days, workers=workers, out_dir=work / f"year_{method}",
                       method=method, progress=True)
        wall = time.perf_counter() - t0
        per = env.groupby(["day", "period", "direction"]).agg(
            n_powerflows=("n_powerflows", "first"), status=("status", "first"),
            oe_kw=("oe_kw", "first"))
        row = {"method": method, "days": int(env.day.nunique()), "period_directions": len(per),
               "workers": workers, "wall_s": wall, "powerflows": int(per.n_powerflows.sum()),
               "infeasible": int((per.status == "infeasible").sum()),
               "mean_export_oe_kw": float(per.xs("export", level="direction").oe_kw.mean()),
               "mean_import_oe_kw": float(per.xs("import", level="direction").oe_kw.mean()),
               "all_verified": bool(env.verified.all())}
        rows.append(row)
        print(f"year {method:7s} {row['days']} days, {row['period_directions']} period-directions "
              f"in {wall:.1f} s with {workers} workers", file=sys.stderr)
    return {"rows": rows, "study": template.name, "days_spec": days}


def bench_hpk11(template: Study, workbook: Path, methods: list[str], workers: int,
                flexible: float, work: Path, max_networks: int | None) -> dict:
    """Every LV network of the HPK11 workbook, one day, per method."""
    try:
        from oe_opt.io.importers.mvlv_xlsx import import_network
    except ImportError:
        return {"skipped": "the MV-LV importer (oe_opt/io/importers/mvlv_xlsx.py) is missing"}
    if not workbook.is_file():
        return {"skipped": f"workbook not found: {workbook}"}
    t0 = time.perf_counter()
    masters = import_network(workbook, GENERATED, which="lv")
    import_s = time.perf_counter() - t0
    if max_networks:
        masters = masters[:max_networks]
    rows = []
    for method in methods:
        t0 = time.perf_counter()
        env = run_networks(seeded(template), masters, work / f"hpk11_{method}", method=method,
                           flexible=flexible, workers=workers, progress=True, errors="record")
        wall = time.perf_counter() - t0
        nets = env.groupby("network").agg(seconds=("network_seconds", "first"),
                                          customers=("n_customers", "first"))
        per = env.groupby(["network", "period", "direction"]).agg(
            status=("status", "first"), n_powerflows=("n_powerflows", "first"))
        row = {"method": method, "networks": len(masters), "solved": len(nets),
               "failed": env.attrs.get("failed", {}), "customers": int(nets.customers.sum()),
               "largest_network": int(nets.customers.max()), "workers": workers, "wall_s": wall,
               "max_network_s": float(nets.seconds.max()),
               "mean_network_s": float(nets.seconds.mean()),
               "powerflows": int(per.n_powerflows.sum()),
               "infeasible": int((per.status == "infeasible").sum()),
               "all_verified": bool(env.verified.all())}
        rows.append(row)
        print(f"hpk11 {method:7s} {row['solved']}/{row['networks']} networks in {wall:.1f} s",
              file=sys.stderr)
    return {"rows": rows, "import_s": import_s, "workbook": workbook.name, "day":
            template.profiles.day, "flexible_share": flexible}


# --------------------------------------------------------------------- output
def _table(rows: list[dict], cols: list[tuple[str, str, str]]) -> list[str]:
    out = ["| " + " | ".join(h for _, h, _ in cols) + " |",
           "| " + " | ".join("---" for _ in cols) + " |"]
    for r in rows:
        cells = []
        for key, _, fmt in cols:
            v = r.get(key, "")
            cells.append(format(v, fmt) if fmt and isinstance(v, (int, float)) else str(v))
        out.append("| " + " | ".join(cells) + " |")
    return out


def markdown(result: dict) -> str:
    env = result["environment"]
    lines = ["# Scaling benchmarks", "",
             f"{env['cpus']} CPUs, Python {env['python']}, dss-python {env['dss_python']}. "
             f"Last command: `{result['command']}`. Each part says when it was run; parts not "
             f"rerun are kept from earlier runs (`--fresh` drops them).", ""]
    c = result.get("customers")
    if c:
        lines += ["## Cost per period against customers (synthetic feeders)", "",
                  f"Run {c.get('when', result['when'])}. Day {c['day']}, "
                  f"{int(c['flexible_share'] * 100)} % of customers flexible; "
                  "times per period and direction (one OE for all flexible customers), after "
                  "one warm-up period per method (its time, which includes building "
                  "sensitivities and LPs, is the 'first period' column).",
                  ""]
        lines += _table(c["rows"], [
            ("customers", "customers", "d"), ("flexible", "flexible", "d"),
            ("method", "method", ""), ("s_per_period_direction", "s / period-direction", ".4f"),
            ("powerflows_per_period_direction", "power flows", ".1f"),
            ("ms_per_powerflow", "ms / power flow (method)", ".2f"),
            ("powerflow_ms", "ms / power flow (bare)", ".2f"), ("compile_s", "compile s", ".2f"),
            ("warmup_s", "first period s", ".2f"),
            ("all_verified", "verified", "")])
        slopes = ", ".join(f"{k} {v:.2f}" for k, v in c["loglog_slope"].items())
        lines += ["", f"Log-log slope of time per period against customers (1 = linear): {slopes}.",
                  ""]
    y = result.get("year")
    if y:
        lines += [f"## A year of the {y['study']} study (`--days {y['days_spec']}`)", "",
                  f"Run {y.get('when', result['when'])}.", ""]
        lines += _table(y["rows"], [
            ("method", "method", ""), ("days", "days", "d"),
            ("period_directions", "period-directions", "d"), ("workers", "workers", "d"),
            ("wall_s", "wall s", ".1f"), ("powerflows", "power flows", "d"),
            ("infeasible", "infeasible", "d"), ("mean_export_oe_kw", "mean export OE kW", ".3f"),
            ("mean_import_oe_kw", "mean import OE kW", ".3f"), ("all_verified", "verified", "")])
        lines.append("")
    h = result.get("hpk11")
    if h:
        lines += ["## HPK11 LV networks, one day", ""]
        if "skipped" in h:
            lines += [f"Skipped: {h['skipped']}.", ""]
        else:
            lines += [f"Run {h.get('when', result['when'])}. {h['workbook']}, day {h['day']}, "
                      f"{int(h['flexible_share'] * 100)} % of customers flexible; import took "
                      f"{h['import_s']:.1f} s.", ""]
            lines += _table(h["rows"], [
                ("method", "method", ""), ("solved", "networks solved", "d"),
                ("networks", "networks", "d"), ("customers", "customers", "d"),
                ("largest_network", "largest", "d"), ("workers", "workers", "d"),
                ("wall_s", "wall s", ".1f"), ("mean_network_s", "mean s / network", ".2f"),
                ("max_network_s", "max s / network", ".2f"), ("powerflows", "power flows", "d"),
                ("infeasible", "infeasible", "d"), ("all_verified", "verified", "")])
            for r in h["rows"]:
                for name, msg in r["failed"].items():
                    lines.append(f"* {r['method']}: {name} failed: {msg}")
            lines.append("")
    return "\n".join(lines)


# --------------------------------------------------------------------- figure
def _methods_in(rows: list[dict]) -> list[str]:
    return list(dict.fromkeys(r["method"] for r in rows))


def _customer_ticks(ax: plt.Axes, rows: list[dict]) -> None:
    """Log x axis labelled with the feeder sizes that were run."""
    n = sorted({r["customers"] for r in rows})
    ax.set_xscale("log")
    ax.set_xticks(n, [f"{v:,}" for v in n])
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("customers on the feeder")


def _plot_customer_time(ax: plt.Axes, part: dict) -> None:
    """Log-log seconds per period-direction against customers, with a slope-1 reference."""
    rows = part["rows"]
    for m in _methods_in(rows):
        pts = sorted((r["customers"], r["s_per_period_direction"]) for r in rows
                     if r["method"] == m)
        slope = part["loglog_slope"].get(m)
        label = m + (f" (slope {slope:.2f})" if slope is not None else "")
        ax.plot(*zip(*pts), marker=METHOD_MARKERS.get(m, "o"), color=METHOD_COLOURS.get(m),
                label=label)
    bare = sorted({(r["customers"], r["powerflow_ms"] / 1e3) for r in rows})
    slope = part["loglog_slope"].get("powerflow")
    ax.plot(*zip(*bare), ls=":", marker=".", color="grey",
            label="one bare power flow" + (f" (slope {slope:.2f})" if slope is not None else ""))
    n = np.array(sorted({r["customers"] for r in rows}), dtype=float)
    y0 = 2 * max(r["s_per_period_direction"] for r in rows if r["customers"] == n[0])
    ax.plot(n, y0 * n / n[0], "k--", lw=1, label="slope 1 (linear), for reference")
    _customer_ticks(ax, rows)
    ax.set_yscale("log")
    ax.set_ylabel("seconds per period-direction")
    ax.set_title(f"Time per period-direction, synthetic feeders (day {part['day']}, "
                 f"{int(part['flexible_share'] * 100)} % flexible)", fontsize=10)
    ax.legend(fontsize=8, loc="upper left")
    ax.grid(True, which="both", alpha=0.3)


def _plot_customer_powerflows(ax: plt.Axes, part: dict) -> None:
    """Power flows per period-direction against customers (log x)."""
    rows = part["rows"]
    for m in _methods_in(rows):
        pts = sorted((r["customers"], r["powerflows_per_period_direction"]) for r in rows
                     if r["method"] == m)
        ax.plot(*zip(*pts), marker=METHOD_MARKERS.get(m, "o"), color=METHOD_COLOURS.get(m), label=m)
    _customer_ticks(ax, rows)
    ax.set_ylim(bottom=0)
    ax.set_ylabel("power flows per period-direction")
    ax.set_title("Power flows per period-direction, synthetic feeders", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(True, alpha=0.3)


def _plot_wall_bars(ax: plt.Axes, rows: list[dict], target_s: float, title: str) -> None:
    """Wall seconds per method as bars (power flows written on them) and a target line."""
    methods = _methods_in(rows)
    walls = [r["wall_s"] for r in rows]
    bars = ax.bar(methods, walls, color=[METHOD_COLOURS.get(m) for m in methods])
    ax.bar_label(bars, labels=[f"{w:.1f} s\n{r['powerflows']:,} power flows"
                               for w, r in zip(walls, rows)], padding=2, fontsize=9)
    ax.axhline(target_s, color="k", ls="--", lw=1, label=f"target < {target_s:.0f} s")
    ax.set_ylim(0, 1.15 * max(target_s, *walls))
    ax.set_ylabel("wall seconds")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="upper right")


def plot_results(result: dict, path: Path) -> Path | None:
    """Draw the scaling figure from a loaded ``scaling.json``.

    Panels for the parts present: time per period-direction (log-log, with a
    slope-1 reference) and power flows per period-direction against customers;
    wall time of the year of the tutorial study; wall time of the HPK11 LV
    networks (one day).

    Parameters
    ----------
    result : dict
        The JSON written by :func:`main`.
    path : Path
        PNG to write.

    Returns
    -------
    Path or None
        `path`, or None when the JSON holds no part to draw.
    """
    panels = []
    c = result.get("customers")
    if c and c.get("rows"):
        panels += [lambda ax: _plot_customer_time(ax, c),
                   lambda ax: _plot_customer_powerflows(ax, c)]
    y = result.get("year")
    if y and y.get("rows"):
        r0 = y["rows"][0]
        title = (f"Year: {y['study']} study, {r0['days']} days × 96 period-directions, "
                 f"{r0['workers']} workers")
        panels.append(lambda ax, t=title: _plot_wall_bars(ax, y["rows"], 120.0, t))
    h = result.get("hpk11")
    if h and h.get("rows"):
        r0 = h["rows"][0]
        title = (f"HPK11: {r0['solved']}/{r0['networks']} LV networks ({r0['customers']:,} "
                 f"customers), day {h['day']}, {r0['workers']} workers")
        panels.append(lambda ax, t=title: _plot_wall_bars(ax, h["rows"], 300.0, t))
    if not panels:
        return None
    ncols = 2 if len(panels) > 1 else 1
    nrows = -(-len(panels) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(6.5 * ncols, 4.6 * nrows), squeeze=False)
    for ax, draw in zip(axes.flat, panels):
        draw(ax)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    env = result["environment"]
    fig.suptitle(f"Scaling ({env['cpus']} CPUs, dss-python {env['dss_python']}, "
                 f"{result['when'][:10]})")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default=",".join(PARTS), help="parts: customers,year,hpk11")
    ap.add_argument("--methods", default="lp,step,bisect")
    ap.add_argument("--customers", default=",".join(map(str, DEFAULT_CUSTOMERS)))
    ap.add_argument("--periods", type=int, default=8,
                    help="periods sampled per day in the customers part")
    ap.add_argument("--flexible", type=float, default=0.5,
                    help="share of flexible customers on synthetic and HPK11 networks")
    ap.add_argument("--days", default="1-365", help="days of the year part (1-based, as --days)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--workbook", type=Path, default=WORKBOOK)
    ap.add_argument("--max-networks", type=int, default=None)
    ap.add_argument("--quick", action="store_true",
                    help="customers 30,300,2000 with 4 periods, 14 days, 8 HPK11 networks")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    ap.add_argument("--name", default="scaling", help="output file stem")
    ap.add_argument("--fresh", action="store_true",
                    help="drop the parts of an existing result file that are not rerun "
                         "(by default they are kept)")
    ap.add_argument("--plot-only", action="store_true",
                    help="redraw <name>.png from the existing <name>.json in --out; no run")
    args = ap.parse_args(argv)
    if args.plot_only:
        png = plot_results(json.loads((args.out / f"{args.name}.json").read_text()),
                           args.out / f"{args.name}.png")
        print(png or "nothing to draw", file=sys.stderr)
        return 0
    if args.quick:
        args.customers, args.periods, args.days = "30,300,2000", 4, "1-14"
        args.max_networks = args.max_networks or 8
    parts = [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        ap.error(f"unknown part(s) {', '.join(unknown)}; choose from {', '.join(PARTS)}")
    methods = available_methods([m.strip() for m in args.methods.split(",") if m.strip()])
    if not methods:
        ap.error("no method available")
    template = load_study(TUTORIAL)
    import dss

    result: dict = {
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": "python benchmarks/scaling.py " + " ".join(argv or sys.argv[1:]),
        "environment": {"cpus": __import__("os").cpu_count(), "python": platform.python_version(),
                        "dss_python": getattr(dss, "__version__", "?"),
                        "platform": platform.platform()},
        "methods": methods,
    }
    with tempfile.TemporaryDirectory(prefix="oe_bench_") as tmp:
        work = Path(tmp)
        if "customers" in parts:
            sizes = [int(n) for n in args.customers.split(",")]
            result["customers"] = bench_customers(template, sizes, methods, args.periods,
                                                  args.flexible)
        if "year" in parts:
            result["year"] = bench_year(template, args.days, methods, args.workers, work)
        if "hpk11" in parts:
            result["hpk11"] = bench_hpk11(template, args.workbook, methods, args.workers,
                                          args.flexible, work, args.max_networks)
    for part in PARTS:
        if part in result:
            result[part]["when"] = result["when"]
    args.out.mkdir(parents=True, exist_ok=True)
    json_path = args.out / f"{args.name}.json"
    if json_path.is_file() and not args.fresh:  # keep the parts not rerun this time
        old = json.loads(json_path.read_text())
        for part in PARTS:
            if part not in result and part in old:
                result[part] = old[part]
    json_path.write_text(json.dumps(result, indent=2, default=str) + "\n")
    (args.out / f"{args.name}.md").write_text(markdown(result) + "\n")
    print(markdown(result))
    png = plot_results(json.loads(json_path.read_text()), args.out / f"{args.name}.png")
    print(f"wrote {json_path}, {args.out / (args.name + '.md')}" + (f" and {png}" if png else ""),
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
