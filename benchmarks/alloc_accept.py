"""alloc's fast core (max_total): its acceptance rules side by side (issue 9, item 3).

``solve_alloc_fast`` accepts a verified candidate within ``rel_tol`` of an LP bound: with
``accept="model"`` the LP's at the state the candidate was linearised *from*, with
``own_state`` only the LP's at the candidate's own state (one more linearisation per accepted
point), with ``auto`` (the default) as ``model`` unless that linearisation's LP rounds gave a
row the model's tangent, then as ``own_state``.  This script runs every rule
(``oe_opt.methods.alloc_fast.ACCEPT``) on the same compiled network and periods, interleaved in
one process (``[envelope] alloc_accept``), and reports per network and rule the totals,
the wall time, power flows and linearisations per period-direction, the largest gain of one
period-direction over ``model`` and whether every envelope was verified.

Networks: ``syn300`` (300 customers, 50 % flexible, 12 periods), ``syn2000`` (2,000, 50 %,
4 periods) and ``mvlv`` (the integrated HPK11 MV-LV feeder, 40 % flexible as in
``alloc_mvlv_day.py``, periods ``--mvlv-periods``, default 24 and 30); the HPK11 networks come
from ``oe-opt network import /work/shared/seed/mv-lv-networks/Network_3_Urban_HPK11.xlsx --out
networks/generated`` and are skipped when absent.

    python benchmarks/alloc_accept.py                       # every network (~3 min)
    python benchmarks/alloc_accept.py --networks syn300

Results: ``benchmarks/results/alloc_accept.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

import optimiser_speed as ob  # noqa: E402
from oe_opt.methods import alloc_fast  # noqa: E402
from oe_opt.runs.day import Session, run_day  # noqa: E402
from oe_opt.study import load_study  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"
ACCEPTS = alloc_fast.ACCEPT


def open_network(key: str, mvlv_periods: list[int]):
    template = load_study(ob.TUTORIAL)
    if key == "mvlv":
        import alloc_mvlv_day as am
        from oe_opt.network.opendss import DssNetwork
        from oe_opt.runs.netset import network_study

        if not am.MASTER.is_file():
            return None
        t = replace(template, profiles=replace(template.profiles, assignment="seeded"))
        net = DssNetwork(am.MASTER, voltage_bases_kv=t.network.voltage_bases_kv)
        study = network_study(t, am.MASTER, net.load_names, 0.4)
        return study, Session(study, net=net), mvlv_periods
    study, session, count = ob.open_network(key, template, 0.5)
    return study, session, ob.spread(session.case().n_periods, count)


def timed(study, session, periods, accept: str, counts: dict):
    inner = alloc_fast.solve_alloc_fast

    def spy(*a, **k):
        res = inner(*a, **k)
        counts["linearisations"] += res.extra["n_sensitivity"]
        counts["pd"] += 1
        return res

    alloc_fast.solve_alloc_fast = spy
    try:
        session.net.reset_solution()
        t0 = time.perf_counter()
        env = run_day(study.with_alloc_accept(accept), "alloc", session=session, periods=periods,
                      voltages=False).envelopes
        return time.perf_counter() - t0, env
    finally:
        alloc_fast.solve_alloc_fast = inner


def bench(key: str, mvlv_periods: list[int], repeat: int) -> dict:
    opened = open_network(key, mvlv_periods)
    if opened is None:
        print(f"{key}: skipped (network not imported)", file=sys.stderr)
        return {"network": key, "skipped": True}
    study, session, periods = opened
    study = replace(study, envelope=replace(study.envelope, allocation="max_total"))
    run_day(study, "alloc", session=session, periods=[periods[0]], voltages=False)  # warm-up
    best, envs, lins = {}, {}, {}
    for _ in range(repeat):
        for a in ACCEPTS:
            counts = {"linearisations": 0, "pd": 0}
            wall, env = timed(study, session, periods, a, counts)
            if wall < best.get(a, np.inf):
                best[a], envs[a] = wall, env
                lins[a] = counts["linearisations"] / max(counts["pd"], 1)
    row = {"network": key, "customers": len(session.net.load_names),
           "flexible": len(study.customers.flexible), "periods": periods, "repeat": repeat,
           "wall_s": best, "linearisations_per_pd": lins,
           "verified": {a: bool(envs[a].verified.all()) for a in ACCEPTS},
           "powerflows_per_pd": {a: float(envs[a].groupby(["period", "direction"])
                                          .n_powerflows.first().mean()) for a in ACCEPTS},
           "total_kw": {a: {d: float(v) for d, v in
                            envs[a].groupby("direction").oe_kw.sum().items()} for a in ACCEPTS},
           "total_kw_per_period": {a: {f"{p} {d}": float(v) for (p, d), v in envs[a].groupby(
               ["period", "direction"]).oe_kw.sum().items()} for a in ACCEPTS}}
    pp = row["total_kw_per_period"]
    row["largest_gain_kw"] = {a: max(pp[a][k] - pp["model"][k] for k in pp["model"])
                              for a in ACCEPTS}
    print(f"{key}: " + ", ".join(f"{a} {best[a]:.2f} s" for a in ACCEPTS)
          + f", totals {row['total_kw']}", file=sys.stderr)
    return row


def markdown(result: dict) -> str:
    lines = ["# alloc's acceptance: `model`, `own_state` and `auto`", "",
             f"Run {result['when']}, command `{result['command']}`. One process per network, "
             "the acceptances interleaved on the same compiled network (fastest of the "
             "repeats). `model` accepts a verified candidate against the LP bound of the state "
             "it was linearised from, `own_state` only against the bound at its own state, "
             "`auto` (the default) as `model` unless that linearisation's LP rounds gave a row "
             "the model's tangent, then as `own_state`.", "",
             "| network | flexible | periods | acceptance | wall s | / model | "
             "linearisations per pd | PF per pd | export kW | import kW | "
             "largest gain over model, one period-direction kW | verified |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in result["networks"]:
        if r.get("skipped"):
            lines.append(f"| {r['network']} | skipped (not imported) ||||||||||")
            continue
        for a in r["wall_s"]:
            t = r["total_kw"][a]
            lines.append(
                f"| {r['network']} | {r['flexible']} | {len(r['periods'])} | `{a}` | "
                f"{r['wall_s'][a]:.2f} | {r['wall_s'][a] / r['wall_s']['model']:.2f} | "
                f"{r['linearisations_per_pd'][a]:.2f} | {r['powerflows_per_pd'][a]:.2f} | "
                f"{t.get('export', 0):.2f} | {t.get('import', 0):.2f} | "
                f"{r['largest_gain_kw'][a]:.2f} | {r['verified'][a]} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--networks", default="syn300,syn2000,mvlv")
    ap.add_argument("--mvlv-periods", default="24,30")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--name", default="alloc_accept")
    args = ap.parse_args(argv)
    mvlv_periods = [int(p) for p in args.mvlv_periods.split(",")]
    result = {"name": args.name, "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "command": "python benchmarks/alloc_accept.py " + " ".join(argv or sys.argv[1:]),
              "networks": [bench(k.strip(), mvlv_periods, args.repeat)
                           for k in args.networks.split(",")]}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{args.name}.json").write_text(json.dumps(result, indent=1) + "\n")
    (RESULTS / f"{args.name}.md").write_text(markdown(result))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
