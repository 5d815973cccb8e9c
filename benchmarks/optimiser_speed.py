"""The optimiser core's speed (issue 9): step / bisect / lp (and alloc) in one process, per network.

For each network the three equal-allocation methods run on the same compiled
network and the same periods, interleaved (step, bisect, lp, step, ...) and
repeated ``--repeat`` times after one warm-up period each; the fastest run of
each method is kept (the machine is shared: ratios in one process, never
absolute targets).  Reported per network:

* wall time per method, lp / bisect and lp / step, bisect / lp (target >= 3);
* power flows per period-direction per method;
* max |lp - bisect| and max (lp - bisect) (kW; targets 0.01 and 0.001);
* the per-stage split of one extra (profiled) lp run: OpenDSS solves, state
  reads, limit checks, sensitivities, the local model, LP row building, LP
  updates, LP solves and the rest (``oe_opt.methods.profiling``: exclusive
  ``perf_counter`` times of the wrapped functions, only while profiling);
* with ``--alloc``: ``alloc`` (max_total) against ``lp`` on the same periods.

Networks (``--networks``): ``tutorial`` (models/tutorial.toml, 48 periods),
``syn300`` (a 300-customer synthetic feeder, 50 % flexible), ``hpk11_lv``
(the largest LV network of the HPK11 workbook), ``syn2000`` (2,000 customers)
``mvlv`` (the integrated HPK11 MV-LV feeder) and ``invctl`` (issue 9's InvControl case: a
114-customer LV feeder whose rooftop PV is under a volt-var InvControl, its own study of 288
five-minute periods from the network's loadshapes, written by
``oe_opt.io.importers.invcontrol_lv`` into ``networks/generated/``).  The HPK11 networks come
from ``oe-opt network import /work/shared/seed/mv-lv-networks/Network_3_Urban_HPK11.xlsx
--out networks/generated`` and are skipped (with a note) when absent.

Results: ``benchmarks/results/<name>.json`` (the record), ``<name>.md`` and
``<name>.png`` (drawn from the JSON; ``--plot-only`` redraws).

    python benchmarks/optimiser_speed.py                         # every network (~5 min)
    python benchmarks/optimiser_speed.py --networks tutorial --repeat 5
    python benchmarks/optimiser_speed.py --name optimiser_speed_before
    python benchmarks/optimiser_speed.py --alloc --networks syn300,syn2000
    python benchmarks/optimiser_speed.py --networks invctl --name optimiser_speed_invctl

On networks with inverter controls ``lp_screened`` (lp with the screening solves of
``oe_opt.methods.screening``) is timed too, interleaved with the others.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import replace
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from oe_opt.methods.profiling import StageProfiler  # noqa: E402
from oe_opt.network.opendss import DssNetwork  # noqa: E402
from oe_opt.runs.day import Session, run_day  # noqa: E402
from oe_opt.runs.netset import network_study  # noqa: E402
from oe_opt.runs.parallel import warm_up  # noqa: E402
from oe_opt.study import Study, load_study  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"
GENERATED = REPO / "networks" / "generated"
HPK11 = GENERATED / "network_3_urban_hpk11"
TUTORIAL = REPO / "models" / "tutorial.toml"
METHODS = ("step", "bisect", "lp")
STAGES = ("opendss_solve", "screen_solve", "set_loads", "state_read", "limit_check", "sensitivity", "local_model",
          "lp_build", "lp_update", "lp_solve", "other")
ALL_NETWORKS = ("tutorial", "syn300", "hpk11_lv", "syn2000", "mvlv", "invctl")


def seeded(template: Study) -> Study:
    return replace(template, profiles=replace(template.profiles, assignment="seeded"))


def spread(n_periods: int, count: int | None) -> list[int]:
    if not count or count >= n_periods:
        return list(range(n_periods))
    return sorted({int(round(x)) for x in np.linspace(0, n_periods - 1, count)})


def open_network(key: str, template: Study, flexible: float) -> tuple[Study, Session, int | None] | str:
    """(study, session, number of periods or None for all) of a network key, or a skip note."""
    if key == "tutorial":
        return template, Session(template), None
    if key == "invctl":
        from oe_opt.io.importers.invcontrol_lv import write_invcontrol_study

        # its own study (network loadshapes, 288 five-minute periods, full_use as the issue's)
        study = load_study(write_invcontrol_study(GENERATED / "invcontrol_lv_n114_s0")
                           ).with_holds_for(template.envelope.holds_for)
        return study, Session(study), None
    if key.startswith("syn"):
        from oe_opt.io.importers.synthetic import write_synthetic_feeder

        n = int(key[3:])
        master = write_synthetic_feeder(n, GENERATED / f"synthetic_n{n}_s0", seed=0)
        count = 12 if n <= 500 else 4
    else:
        master = (HPK11 / ("lv05_chisholm_kershaw" if key == "hpk11_lv" else "mvlv")
                  / "master.dss")
        if not master.is_file():
            return (f"{master} not found: run `oe-opt network import "
                    f"/work/shared/seed/mv-lv-networks/Network_3_Urban_HPK11.xlsx --out "
                    f"networks/generated`")
        count = 12 if key == "hpk11_lv" else 2
    net = DssNetwork(master, voltage_bases_kv=template.network.voltage_bases_kv)
    study = network_study(seeded(template), master, net.load_names, flexible)
    return study, Session(study, net=net), count


def timed_day(study: Study, session: Session, method: str, periods: list[int]):
    if method in ("lp_noscreen", "lp_screened"):   # lp's fast core without / with screens
        from oe_opt.methods import equal_fast

        saved = equal_fast.SCREENING
        equal_fast.SCREENING = method == "lp_screened"
        try:
            return timed_day(study, session, "lp", periods)
        finally:
            equal_fast.SCREENING = saved
    return _timed_day(study, session, method, periods)


def _timed_day(study: Study, session: Session, method: str, periods: list[int]):
    """(wall s, CPU s of this process, envelopes) of one run of `periods`; the envelopes get
    the run's screening solves (``DssNetwork.n_screen_solves``) in ``attrs["screens"]``."""
    session.net.reset_solution()
    s0 = getattr(session.net, "n_screen_solves", 0)
    t0, c0 = time.perf_counter(), time.process_time()
    env = run_day(study, method, session=session, periods=periods, voltages=False).envelopes
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    env.attrs["screens"] = getattr(session.net, "n_screen_solves", 0) - s0
    return wall, cpu, env


def per_pd(env):
    return env.groupby(["period", "direction"]).agg(
        oe_kw=("oe_kw", "first"), n_powerflows=("n_powerflows", "first"),
        verified=("verified", "all"), status=("status", "first"), total_kw=("oe_kw", "sum"))


def bench_network(key: str, template: Study, repeat: int, flexible: float, alloc: bool,
                  n_periods: int | None) -> dict:
    opened = open_network(key, template, flexible)
    if isinstance(opened, str):
        print(f"{key}: skipped ({opened})", file=sys.stderr)
        return {"network": key, "skipped": opened}
    study, session, count = opened
    net = session.net
    periods = spread(session.case().n_periods, n_periods or count)
    methods = list(METHODS) + (["alloc"] if alloc else [])
    if getattr(session.net, "has_controls", False):
        methods.append("lp_screened")   # the same core with screening solves, interleaved
    if alloc:
        study_alloc = replace(study, envelope=replace(study.envelope, allocation="max_total"))
    for m in methods:
        warm_up(session, study_alloc if m == "alloc" else study, "lp" if m.startswith("lp_") else m,
                study.profiles.day)
    best: dict[str, float] = {m: np.inf for m in methods}
    cpu: dict[str, float] = {m: np.inf for m in methods}
    envs = {}
    for _ in range(repeat):
        for m in methods:
            wall, c, env = timed_day(study_alloc if m == "alloc" else study, session, m, periods)
            cpu[m] = min(cpu[m], c)
            if wall < best[m]:
                best[m], envs[m] = wall, env
    prof = StageProfiler()
    with prof:
        wall_p, _, _ = timed_day(study, session, "lp", periods)
    split = prof.split(wall_p)
    n_pd = len(periods) * len(study.envelope.directions)
    res = {m: per_pd(envs[m]) for m in methods}
    diff = (res["lp"].oe_kw - res["bisect"].oe_kw).to_numpy()
    ok = np.isfinite(diff)
    row = {
        "network": key, "customers": len(net.load_names),
        "flexible": len(study.customers.flexible), "periods": len(periods),
        "period_directions": n_pd, "repeat": repeat,
        "wall_s": {m: best[m] for m in methods},
        "cpu_s": {m: cpu[m] for m in methods},
        "bisect_over_lp_cpu": cpu["bisect"] / cpu["lp"],
        "bisect_over_lp": best["bisect"] / best["lp"], "step_over_lp": best["step"] / best["lp"],
        "lp_over_bisect": best["lp"] / best["bisect"], "lp_over_step": best["lp"] / best["step"],
        "powerflows_per_pd": {m: float(res[m].n_powerflows.mean()) for m in methods},
        "screens_per_pd": {m: envs[m].attrs.get("screens", 0) / n_pd for m in methods},
        "lp_minus_bisect_max_abs_kw": float(np.max(np.abs(diff[ok]), initial=0.0)),
        "lp_minus_bisect_max_kw": float(np.max(diff[ok], initial=-np.inf)) if ok.any() else 0.0,
        "nan_mismatch": int((np.isnan(res["lp"].oe_kw.to_numpy())
                             != np.isnan(res["bisect"].oe_kw.to_numpy())).sum()),
        "all_verified": {m: bool(res[m].verified.all()) for m in methods},
        "at_cap_share": float((res["bisect"].status == "at_cap").mean()),
        "lp_profiled_wall_s": wall_p,
        "lp_stage_s": split,
        "lp_stage_calls": dict(prof.calls),
    }
    if "lp_screened" in methods:
        row["bisect_over_lp_screened"] = best["bisect"] / best["lp_screened"]
        row["lp_screened_over_lp"] = best["lp_screened"] / best["lp"]
        d2 = (res["lp_screened"].oe_kw - res["bisect"].oe_kw).to_numpy()
        row["lp_screened_minus_bisect_max_abs_kw"] = float(np.nanmax(np.abs(d2)))
        row["lp_screened_minus_bisect_max_kw"] = float(np.nanmax(d2))
    if alloc:
        row["alloc_over_lp"] = best["alloc"] / best["lp"]
        row["alloc_total_over_lp_total"] = float(res["alloc"].total_kw.sum()
                                                 / max(res["lp"].total_kw.sum(), 1e-12))
    print(f"{key:9s} {row['customers']:5d} cust  step {best['step']:.3f} s  bisect "
          f"{best['bisect']:.3f} s  lp {best['lp']:.3f} s  bisect/lp {row['bisect_over_lp']:.2f}"
          f"  step/lp {row['step_over_lp']:.2f}  |lp-bisect| "
          f"{row['lp_minus_bisect_max_abs_kw'] * 1e3:.2f} W  CPU bisect/lp {row['bisect_over_lp_cpu']:.2f}"
          + (f"  alloc/lp {row['alloc_over_lp']:.2f}" if alloc else ""), file=sys.stderr)
    return row


# --------------------------------------------------------------------- output
def markdown(result: dict) -> str:
    env = result["environment"]
    lines = [f"# Optimiser speed ({result['name']})", "",
             f"Run {result['when']}, {env['cpus']} CPUs (shared), Python {env['python']}, "
             f"dss-python {env['dss_python']}, highspy {env['highspy']}. Command: "
             f"`{result['command']}`. Wall times are the fastest of the interleaved repeats in "
             "one process (warm: network compiled, one warm-up period per method); CPU: the "
             "process's CPU time (fastest repeat), less sensitive to the other users of the "
             "machine. Envelopes hold for: "
             f"`{result.get('holds_for', 'full_use')}`.", "",
             "| network | customers | flexible | period-dirs | step s | bisect s | lp s | "
             "bisect / lp | step / lp | bisect / lp (CPU) | PF/pd step / bisect / lp | "
             "max abs(lp − bisect) W | max (lp − bisect) W | verified |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in result["networks"]:
        if "skipped" in r:
            lines.append(f"| {r['network']} | skipped: {r['skipped']} |")
            continue
        w, pf = r["wall_s"], r["powerflows_per_pd"]
        lines.append(
            f"| {r['network']} | {r['customers']} | {r['flexible']} | {r['period_directions']} | "
            f"{w['step']:.3f} | {w['bisect']:.3f} | {w['lp']:.3f} | **{r['bisect_over_lp']:.2f}** | "
            f"{r['step_over_lp']:.2f} | {r.get('bisect_over_lp_cpu', float('nan')):.2f} | "
            f"{pf['step']:.1f} / {pf['bisect']:.1f} / {pf['lp']:.1f} | "
            f"{r['lp_minus_bisect_max_abs_kw'] * 1e3:.2f} | {r['lp_minus_bisect_max_kw'] * 1e3:.2f} | "
            f"{all(r['all_verified'].values())} |")
    lines += ["", "## lp per-stage split (one profiled run, % of its wall time; ms per "
              "period-direction in brackets)", "",
              "| network | " + " | ".join(STAGES) + " |",
              "|---|" + "---|" * len(STAGES)]
    for r in result["networks"]:
        if "skipped" in r:
            continue
        tot, n = r["lp_profiled_wall_s"], r["period_directions"]
        cells = [f"{100 * r['lp_stage_s'].get(s, 0.0) / tot:.0f} % "
                 f"({1e3 * r['lp_stage_s'].get(s, 0.0) / n:.2f})" for s in STAGES]
        lines.append(f"| {r['network']} | " + " | ".join(cells) + " |")
    ns = [r for r in result["networks"] if "lp_screened_over_lp" in r]
    if ns:
        lines += ["", "## lp without and with screening solves (networks with inverter controls, "
                  "interleaved in the same process; lp runs without them by default)", "",
                  "| network | lp s | lp with screens s | bisect / lp | bisect / lp with screens "
                  "| PF/pd lp / with screens | screens/pd | max abs(lp with screens − bisect) W "
                  "| max (lp with screens − bisect) W |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for r in ns:
            w, pf = r["wall_s"], r["powerflows_per_pd"]
            lines.append(f"| {r['network']} | {w['lp']:.3f} | {w['lp_screened']:.3f} | "
                         f"**{r['bisect_over_lp']:.2f}** | {r['bisect_over_lp_screened']:.2f} | "
                         f"{pf['lp']:.1f} / {pf['lp_screened']:.1f} | "
                         f"{r['screens_per_pd']['lp_screened']:.1f} | "
                         f"{r['lp_screened_minus_bisect_max_abs_kw'] * 1e3:.2f} | "
                         f"{r['lp_screened_minus_bisect_max_kw'] * 1e3:.2f} |")
    al = [r for r in result["networks"] if "alloc_over_lp" in r]
    if al:
        lines += ["", "## alloc (max_total) against lp", "",
                  "| network | customers | flexible | lp s | alloc s | alloc / lp | PF/pd alloc | "
                  "alloc total / lp total | alloc verified |", "|---|---|---|---|---|---|---|---|---|"]
        for r in al:
            lines.append(f"| {r['network']} | {r['customers']} | {r['flexible']} | "
                         f"{r['wall_s']['lp']:.3f} | {r['wall_s']['alloc']:.3f} | "
                         f"**{r['alloc_over_lp']:.2f}** | {r['powerflows_per_pd']['alloc']:.1f} | "
                         f"{r['alloc_total_over_lp_total']:.3f} | {r['all_verified']['alloc']} |")
    return "\n".join(lines) + "\n"


def plot_results(result: dict, path: Path) -> None:
    rows = [r for r in result["networks"] if "skipped" not in r]
    if not rows:
        return
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    names = [r["network"] for r in rows]
    x = np.arange(len(rows))
    ax = axes[0]
    for k, (m, c) in enumerate((("step", "tab:green"), ("bisect", "tab:blue"), ("lp", "tab:orange"))):
        ax.bar(x + (k - 1) * 0.27, [r["wall_s"][m] / r["period_directions"] * 1e3 for r in rows],
               0.27, color=c, label=m)
    for xi, r in zip(x, rows):
        ax.text(xi, r["wall_s"]["bisect"] / r["period_directions"] * 1e3,
                f"{r['bisect_over_lp']:.1f}×", ha="center", va="bottom", fontsize=8)
    ax.set_yscale("log")
    ax.set_xticks(x, names)
    ax.set_ylabel("ms per period-direction (bisect / lp above)")
    ax.legend()
    ax.set_title("wall time, one process")
    ax = axes[1]
    bottom = np.zeros(len(rows))
    cmap = plt.get_cmap("tab10")
    for k, s in enumerate(STAGES):
        v = np.array([100 * r["lp_stage_s"].get(s, 0.0) / r["lp_profiled_wall_s"] for r in rows])
        ax.bar(x, v, bottom=bottom, color=cmap(k), label=s)
        bottom += v
    ax.set_xticks(x, names)
    ax.set_ylabel("% of lp wall time")
    ax.set_title("lp per-stage split")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1, 1))
    fig.suptitle(result["name"])
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--networks", default=",".join(ALL_NETWORKS))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--periods", type=int, default=None, help="periods per network (default: "
                    "48 tutorial, 288 invctl, 12 syn300/hpk11_lv, 4 syn2000, 2 mvlv)")
    ap.add_argument("--flexible", type=float, default=0.5)
    ap.add_argument("--alloc", action="store_true", help="also time alloc (max_total)")
    ap.add_argument("--name", default="optimiser_speed")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--holds-for", choices=("full_use", "any_use"), default=None,
                    help="the guarantee of every method's envelopes (default: the tutorial "
                    "study's, full_use)")
    ap.add_argument("--plot-only", action="store_true")
    args = ap.parse_args(argv)
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    jpath = out / f"{args.name}.json"
    if args.plot_only:
        plot_results(json.loads(jpath.read_text()), out / f"{args.name}.png")
        return 0
    template = load_study(TUTORIAL).with_holds_for(args.holds_for)
    rows: list[dict] = []
    result = {"name": args.name, "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "command": "python benchmarks/optimiser_speed.py " + " ".join(argv or sys.argv[1:]),
              "environment": {"cpus": os.cpu_count(), "python": platform.python_version(),
                              "platform": platform.platform(), "dss_python": version("dss-python"),
                              "highspy": version("highspy")},
              "holds_for": template.envelope.holds_for, "networks": rows}
    for k in args.networks.split(","):
        if k.strip():
            rows.append(bench_network(k.strip(), template, args.repeat, args.flexible, args.alloc,
                                      args.periods))
            jpath.write_text(json.dumps(result, indent=1))   # kept network by network
    result = json.loads(jpath.read_text())
    md = markdown(result)
    (out / f"{args.name}.md").write_text(md)
    plot_results(result, out / f"{args.name}.png")
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
