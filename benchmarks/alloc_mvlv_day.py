"""alloc (max_total) for one day on the integrated HPK11 MV-LV feeder (issue 9 item 3).

The feeder (``networks/generated/network_3_urban_hpk11/mvlv/master.dss``, 5,275
customers) with a share of its customers flexible (``--flexible``, default 0.4), the
tutorial's study settings (``models/tutorial.toml``: limits, caps, the seeded load
profiles of its day), ``alloc`` with ``max_total``, every period of the day in both
directions (``--periods N``: N periods spread over the day, for an estimate).  One
process, serial; the wall time counts everything after the network is compiled: the
sensitivity model, the LP build (Pyomo, compiled once into HiGHS) and every
period-direction (``setup_s`` and ``periods_s`` apart).  Reported: wall and CPU time, per
period-direction, the projection to the whole day (96 period-directions) from the
periods run, power flows, LP solves, linearisations, the rows in the LP against every
limit row, and whether every envelope was verified by a full power flow (the method
reports no other kind).

The network comes from ``oe-opt network import
/work/shared/seed/mv-lv-networks/Network_3_Urban_HPK11.xlsx --out networks/generated``.

    python benchmarks/alloc_mvlv_day.py --period-list 24     # one midday period, recorded
    python benchmarks/alloc_mvlv_day.py --periods 3          # 3 periods spread over the day
    python benchmarks/alloc_mvlv_day.py                      # the day (48 periods x 2)
    python benchmarks/alloc_mvlv_day.py --budget-s 600       # the day, stopped at 600 s

Results: ``benchmarks/results/<name>.json`` and ``.md`` (default name
``alloc_mvlv_day``, with ``_<N>p`` for a partial run).
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

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from oe_opt.network.opendss import DssNetwork  # noqa: E402
from oe_opt.runs.day import Session, run_day  # noqa: E402
from oe_opt.runs.netset import network_study  # noqa: E402
from oe_opt.study import EnvelopeSpec, load_study  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"
MASTER = REPO / "networks" / "generated" / "network_3_urban_hpk11" / "mvlv" / "master.dss"
TUTORIAL = REPO / "models" / "tutorial.toml"
DAY_PERIOD_DIRECTIONS = 96


class BudgetExceeded(Exception):
    """The run's time budget (``--budget-s``) ran out."""


def run(periods: int | None, flexible: float, allocation: str,
        period_list: list[int] | None = None, progress=None, state: dict | None = None,
        accept: str | None = None) -> dict:
    template = load_study(TUTORIAL)
    template = replace(template, profiles=replace(template.profiles, assignment="seeded"))
    t_compile = time.perf_counter()
    net = DssNetwork(MASTER, voltage_bases_kv=template.network.voltage_bases_kv)
    study = network_study(template, MASTER, net.load_names, flexible)
    study = replace(study, envelope=replace(study.envelope, allocation=allocation))
    study = study.with_alloc_accept(accept)
    session = Session(study, net=net)
    n_periods = session.case().n_periods
    chosen = (list(range(n_periods)) if not periods or periods >= n_periods else
              sorted({int(round(x)) for x in np.linspace(0, n_periods - 1, periods)}))
    if period_list:
        chosen = list(period_list)
    compile_s = time.perf_counter() - t_compile
    if state is not None:
        state.update(customers=len(net.load_names), flexible=len(study.customers.flexible),
                     holds_for=study.envelope.holds_for, periods=chosen, compile_s=compile_s)
    # setup: the sensitivity model and the LP, built by the method's first solver (kept
    # per network, so run_day's solver reuses them)
    from oe_opt.methods.registry import get_method
    from oe_opt.problem import build_problem

    t0, c0 = time.perf_counter(), time.process_time()
    case = session.case()
    get_method("alloc")(build_problem(study, case.flex_names), net, case)
    setup_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    if state is not None:
        state.update(setup_s=setup_s, t_periods=t1, c0=c0)
    if progress is None:
        env = run_day(study, "alloc", session=session, periods=chosen, voltages=False).envelopes
    else:
        # one run_day over the periods, as `oe-opt run` computes a day, each period recorded
        # as it ends (a run stopped by its budget keeps what it measured)
        env = run_day(study, "alloc", session=session, periods=chosen, voltages=False,
                      on_period=lambda p, rows: progress(p, time.perf_counter() - t1, setup_s,
                                                         rows)).envelopes
    periods_s = time.perf_counter() - t1
    cpu_s = time.process_time() - c0
    pd = env.groupby(["period", "direction"]).agg(
        total_kw=("oe_kw", "sum"), n_powerflows=("n_powerflows", "first"),
        verified=("verified", "all"), status=("status", "first"))
    n_pd = len(pd)
    per_pd = periods_s / max(n_pd, 1)
    feasible = pd.status != "infeasible"
    return {
        "network": str(MASTER.relative_to(REPO)), "customers": len(net.load_names),
        "flexible": len(study.customers.flexible), "flexible_share": flexible,
        "allocation": allocation, "holds_for": study.envelope.holds_for,
        "periods": chosen, "period_directions": n_pd, "compile_s": compile_s,
        "setup_s": setup_s, "periods_s": periods_s, "wall_s": setup_s + periods_s,
        "cpu_s": cpu_s, "s_per_period_direction": per_pd,
        "projected_day_s": setup_s + per_pd * DAY_PERIOD_DIRECTIONS,
        "powerflows_per_pd": float(pd.n_powerflows.mean()),
        "all_verified": bool(pd.verified[feasible].all()),
        "n_infeasible": int((~feasible).sum()),
        "total_kw": {f"{p}:{d}": float(v) for (p, d), v in pd.total_kw.items()},
        "status": {f"{p}:{d}": str(v) for (p, d), v in pd.status.items()},
    }


def markdown(r: dict) -> str:
    env = r["environment"]
    target = "**met**" if r["projected_day_s"] < 600 else "**not met**"
    full = r["period_directions"] >= DAY_PERIOD_DIRECTIONS
    return "\n".join([
        f"# alloc on the MV-LV feeder for a day ({r['name']})", "",
        f"Run {r['when']}, {env['cpus']} CPUs (shared), Python {env['python']}, dss-python "
        f"{env['dss_python']}, highspy {env['highspy']}. Command: `{r['command']}`.", "",
        f"Network `{r['network']}`: {r['customers']} customers, {r['flexible']} flexible "
        f"({100 * r['flexible_share']:.0f} %), allocation `{r['allocation']}`, holds_for "
        f"`{r['holds_for']}`, the fast core's acceptance `{r.get('accept', 'model')}`.", "",
        "| period-directions | setup s | periods s | wall s | CPU s | s per period-direction | "
        "day (96) s | PF / pd | all verified | infeasible |", "|---|---|---|---|---|---|---|---|---|---|",
        f"| {r['period_directions']} | {r['setup_s']:.1f} | {r['periods_s']:.1f} | "
        f"{r['wall_s']:.1f} | {r['cpu_s']:.1f} | {r['s_per_period_direction']:.2f} | "
        f"{r['projected_day_s']:.0f}{'' if full else ' (projected)'} | "
        f"{r['powerflows_per_pd']:.1f} | {r['all_verified']} | {r['n_infeasible']} |", "",
        f"Target (issue 9 item 3): the day in under 600 s: {target}"
        + ("" if full else " (projection from the periods run, not a full-day measurement)")
        + ".", ""])


def stopped(state: dict, done: list[dict], budget_s: float, wall_s: float, cpu_s: float,
            flexible: float, allocation: str) -> dict:
    """The record of a run stopped by its budget: what finished, measured."""
    n_done = len(done)
    chosen = state.get("periods", [])
    return {
        "finished": False, "network": str(MASTER.relative_to(REPO)),
        "customers": state.get("customers"), "flexible": state.get("flexible"),
        "flexible_share": flexible, "allocation": allocation,
        "holds_for": state.get("holds_for"), "periods": chosen,
        "periods_finished": [d["period"] for d in done],
        "period_directions_finished": 2 * n_done,
        "all_verified_finished": bool(all(d["verified"] for d in done)),
        "n_infeasible_finished": int(sum(d["n_infeasible"] for d in done)),
        "s_per_period_direction_finished": (
            (done[-1]["elapsed_s"] / (2 * n_done)) if n_done else None),
        "period_directions": 2 * len(chosen), "compile_s": state.get("compile_s"),
        "setup_s": state.get("setup_s"), "wall_s": wall_s, "cpu_s": cpu_s,
    }


def markdown_stopped(r: dict) -> str:
    env = r["environment"]
    setup = "not finished" if r["setup_s"] is None else f"{r['setup_s']:.1f} s"
    return "\n".join([
        f"# alloc on the MV-LV feeder for a day ({r['name']}): stopped at its budget", "",
        f"Run {r['when']}, {env['cpus']} CPUs (shared), Python {env['python']}, dss-python "
        f"{env['dss_python']}, highspy {env['highspy']}. Command: `{r['command']}`.", "",
        f"Network `{r['network']}`: {r['customers']} customers, {r['flexible']} flexible "
        f"({100 * r['flexible_share']:.0f} %), allocation `{r['allocation']}`, holds_for "
        f"`{r['holds_for']}`, the fast core's acceptance `{r.get('accept', 'model')}`.", "",
        f"The run was stopped by its own budget of {r['budget_s']:.0f} s wall (measured from "
        f"the start, network compile {r['compile_s']:.1f} s and setup {setup} included): "
        f"{r['period_directions_finished']} of {r['period_directions']} period-directions had "
        f"finished (periods {r['periods_finished'] or 'none'}), {r['cpu_s']:.0f} s CPU"
        + (f"; {r['s_per_period_direction_finished']:.1f} s per finished period-direction; "
           f"every envelope of those verified by a full power flow: "
           f"{r['all_verified_finished']} ({r['n_infeasible_finished']} infeasible)"
           if r.get("s_per_period_direction_finished") else "") + ".", "",
        "Target (issue 9 item 3): the day in under 600 s: "
        + ("**not met** (measured: the day had not finished when its "
           f"{r['budget_s']:.0f} s ran out)."
           if r["budget_s"] >= 600 and r["period_directions"] >= DAY_PERIOD_DIRECTIONS
           else "not decided by this run (a budget under 600 s or not the whole day)."), ""])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--periods", type=int, default=None, help="periods spread over the day "
                    "(default: all 48)")
    ap.add_argument("--period-list", default=None, help="comma-separated periods to run "
                    "instead (e.g. 24), each recorded in <name>_progress.json as it ends")
    ap.add_argument("--flexible", type=float, default=0.4)
    ap.add_argument("--allocation", default="max_total")
    ap.add_argument("--name", default=None)
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--budget-s", type=float, default=None,
                    help="stop after this many seconds of wall time from the start (e.g. 600, "
                    "the target for the whole day) and record what finished; a day not "
                    "finished within it is measured to take longer")
    ap.add_argument("--accept", default=None, choices=("auto", "model", "own_state"),
                    help="the fast core's acceptance ([envelope] alloc_accept; default: the "
                    "study's, auto)")
    args = ap.parse_args(argv)
    if not MASTER.is_file():
        print(f"{MASTER} not found: run `oe-opt network import "
              f"/work/shared/seed/mv-lv-networks/Network_3_Urban_HPK11.xlsx --out "
              f"networks/generated`", file=sys.stderr)
        return 1
    plist = [int(p) for p in args.period_list.split(",")] if args.period_list else None
    name = args.name or ("alloc_mvlv_day" + (f"_{args.periods}p" if args.periods else "")
                         + (f"_p{'_'.join(map(str, plist))}" if plist else ""))
    args.out.mkdir(parents=True, exist_ok=True)
    done: list[dict] = []

    def progress(period: int, elapsed_s: float, setup_s: float, env) -> None:
        # what the period's envelopes say (every reported one is a full power flow's verdict)
        g = env.groupby("direction").agg(total_kw=("oe_kw", "sum"),
                                         n_powerflows=("n_powerflows", "first"),
                                         verified=("verified", "all"), status=("status", "first"))
        feasible = g.status != "infeasible"
        done.append({"period": period, "elapsed_s": elapsed_s, "setup_s": setup_s,
                     "verified": bool(g.verified[feasible].all()),
                     "n_infeasible": int((~feasible).sum()),
                     "total_kw": {d: float(v) for d, v in g.total_kw.items()},
                     "n_powerflows": {d: int(v) for d, v in g.n_powerflows.items()}})
        (args.out / f"{name}_progress.json").write_text(json.dumps(done, indent=1))
        print(f"period {period} done at {elapsed_s:.1f} s (setup {setup_s:.1f} s)",
              file=sys.stderr, flush=True)

    state: dict = {}
    t_start, c_start = time.perf_counter(), time.process_time()
    if args.budget_s:
        import signal

        def out_of_time(signum, frame):
            raise BudgetExceeded

        signal.signal(signal.SIGALRM, out_of_time)
        signal.setitimer(signal.ITIMER_REAL, args.budget_s)
    try:
        r = run(args.periods, args.flexible, args.allocation, plist,
                progress if (plist or args.budget_s) else None, state, args.accept)
        r["finished"] = True
    except BudgetExceeded:
        r = stopped(state, done, args.budget_s, time.perf_counter() - t_start,
                    time.process_time() - c_start, args.flexible, args.allocation)
    finally:
        if args.budget_s:
            signal.setitimer(signal.ITIMER_REAL, 0)

    r.update(budget_s=args.budget_s, accept=args.accept or EnvelopeSpec.alloc_accept)
    r.update(name=name, when=datetime.now(timezone.utc).isoformat(timespec="seconds"),
             command="python benchmarks/alloc_mvlv_day.py " + " ".join(argv or sys.argv[1:]),
             environment={"cpus": os.cpu_count(), "python": platform.python_version(),
                          "platform": platform.platform(), "dss_python": version("dss-python"),
                          "highspy": version("highspy")})
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{name}.json").write_text(json.dumps(r, indent=1))
    md = markdown(r) if r["finished"] else markdown_stopped(r)
    (args.out / f"{name}.md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
