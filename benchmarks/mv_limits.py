"""Which limit binds on the integrated HPK11 MV-LV feeder: LV only, with MV voltage limits, with
voltage unbalance.

The integrated feeder of ``Network_3_Urban_HPK11.xlsx`` (66 kV source, 22 kV MV feeder, 44
distribution transformers, 5,275 customers) is imported at run time
(``oe-opt network import ... --which mvlv`` into ``networks/generated/``).  A share of the
customers (``--flexible``, default 0.4, spread evenly through the load order) is flexible and
shares one equal envelope (``lp``); every other customer is a fixed customer with a seeded
household profile of the tutorial's profile data, day ``--day``.  Every customer's voltage, every
LV and MV line, every transformer is checked in all configurations:

``lv``
    The tutorial's limits (216-253 V at customers, 100 % of line and transformer ratings).
``mv``
    ``lv`` + ``[limits] mv_v_min_pu = 0.95``, ``mv_v_max_pu = 1.05`` at every MV node.
``mv_tight``
    ``lv`` + tighter MV limits, 0.98-1.02 pu (to show an MV limit binding).
``mv_vuf``
    ``mv`` + ``vuf_max_pct = 2.0`` at every three-phase bus.

For each configuration and period/direction: the envelope, the binding constraint and its kind
(``v_max``, ``mv_v_max``, ``transformer``, ``mv_line``, ``vuf``, ...), the power flows, and the
range of MV node voltages (pu) at the envelope.  ``bisect`` is run on the last configuration to
check ``lp`` against it.  Results: ``benchmarks/results/mv_limits.{json,md}``.

    .venv/bin/python benchmarks/mv_limits.py                  # one day, every period (~15 min)
    .venv/bin/python benchmarks/mv_limits.py --periods 0,12,24,36   # a subset
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from oe_opt.methods.evaluator import PowerFlowEvaluator  # noqa: E402
from oe_opt.network.opendss import DssNetwork  # noqa: E402
from oe_opt.runs.day import Session, run_day  # noqa: E402
from oe_opt.runs.netset import network_study  # noqa: E402
from oe_opt.study import load_study  # noqa: E402

WORKBOOK = REPO.parent / "shared" / "seed" / "mv-lv-networks" / "Network_3_Urban_HPK11.xlsx"
GENERATED = REPO / "networks" / "generated"
RESULTS = REPO / "benchmarks" / "results"
CONFIGS = {"lv": {},
           "mv": {"mv_v_min_pu": 0.95, "mv_v_max_pu": 1.05},
           "mv_tight": {"mv_v_min_pu": 0.98, "mv_v_max_pu": 1.02},
           "mv_vuf": {"mv_v_min_pu": 0.95, "mv_v_max_pu": 1.05, "vuf_max_pct": 2.0}}


def kind_of(binding: str) -> str:
    return binding.split(":", 1)[0]


def study_for(master: Path, net: DssNetwork, flexible: float, day: int):
    tmpl = load_study(REPO / "models" / "tutorial.toml")
    tmpl = replace(tmpl, profiles=replace(tmpl.profiles, assignment="seeded", day=day),
                   customers=replace(tmpl.customers, fixed_der=(), der_kw={}))
    return network_study(tmpl, master, net.load_names, flexible)


def mv_range_at_oe(session: Session, st, env: pd.DataFrame) -> pd.DataFrame:
    """MV node voltage range (pu) at each reported envelope (one power flow each)."""
    case = session.case()
    ev = PowerFlowEvaluator(session.net, replace(st.limits, mv_v_min_pu=0.5, mv_v_max_pu=1.5,
                                                 vuf_max_pct=None), case)
    rows = []
    for (t, d), g in env.groupby(["period", "direction"]):
        ev.set_period(int(t))
        oe = float(g.oe_kw.iloc[0])
        ev.check_direction(d, 0.0 if np.isnan(oe) else oe)
        mv = ev.last_state.mv_voltage_pu
        rows.append({"period": int(t), "direction": d, "mv_min_pu": float(mv.min()),
                     "mv_max_pu": float(mv.max())})
    return pd.DataFrame(rows)


def run(periods: list[int] | None, flexible: float, day: int, bisect: bool) -> dict:
    from oe_opt.io.importers.mvlv_xlsx import import_network

    t0 = time.perf_counter()
    master = Path(import_network(WORKBOOK, GENERATED, which="mvlv")[0])
    import_s = time.perf_counter() - t0
    net = DssNetwork(master)
    base = study_for(master, net, flexible, day)
    session = Session(base, net=net)
    info = {"customers": len(net.load_names), "flexible": len(base.customers.flexible),
            "mv_nodes": len(net.mv_node_names), "three_phase_buses": len(net.three_phase_buses),
            "lines": len(net.line_names), "mv_lines": len(net.mv_line_names),
            "transformers": len(net.transformer_names),
            "mv_transformers": sorted(net.mv_transformer_names)}
    runs = []
    for name, lim in CONFIGS.items():
        st = replace(base, limits=replace(base.limits, **lim))
        methods = ["lp"] + (["bisect"] if bisect and name == list(CONFIGS)[-1] else [])
        for method in methods:
            t0 = time.perf_counter()
            env = run_day(st, method, session=Session(st, net=net, data=session.data),
                          periods=periods, voltages=False).envelopes
            wall = time.perf_counter() - t0
            per = env.groupby(["period", "direction"]).agg(
                oe_kw=("oe_kw", "first"), binding=("binding", "first"),
                n_powerflows=("n_powerflows", "first"), verified=("verified", "all"),
                status=("status", "first"), seconds=("seconds", "first")).reset_index()
            per = per.merge(mv_range_at_oe(session, st, per), on=["period", "direction"])
            per["kind"] = per.binding.map(kind_of)
            print(f"{name:7s} {method:6s} {wall:7.1f} s  kinds: "
                  f"{per.groupby('direction').kind.value_counts().to_dict()}", file=sys.stderr)
            runs.append({"config": name, "limits": lim, "method": method, "wall_s": wall,
                         "all_verified": bool(per.verified.all()),
                         "powerflows": int(per.n_powerflows.sum()),
                         "periods": per.to_dict(orient="records")})
    return {"network": info, "import_s": import_s, "day": day, "flexible_share": flexible,
            "periods": periods if periods is not None else "all", "runs": runs}


def markdown(result: dict) -> str:
    n = result["network"]
    out = [f"# Binding limits on the integrated HPK11 MV-LV feeder ({result['created']})", "",
           f"{n['customers']} customers ({n['flexible']} flexible, one equal envelope), "
           f"{n['mv_nodes']} MV nodes, {n['three_phase_buses']} three-phase buses, "
           f"{n['lines']} lines ({n['mv_lines']} MV), {n['transformers']} transformers "
           f"(MV: {', '.join(n['mv_transformers']) or 'none'}); day {result['day']}, periods "
           f"{result['periods']}.", "",
           "| limits | method | direction | binding kinds (periods) | mean OE kW | MV pu range at OE "
           "| power flows | wall s |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in result["runs"]:
        per = pd.DataFrame(r["periods"])
        for d, g in per.groupby("direction"):
            kinds = ", ".join(f"{k} {v}" for k, v in g.kind.value_counts().items())
            out.append(f"| {r['config']} | {r['method']} | {d} | {kinds} | {g.oe_kw.mean():.3f} | "
                       f"{g.mv_min_pu.min():.4f}–{g.mv_max_pu.max():.4f} | {g.n_powerflows.sum()} | "
                       f"{r['wall_s']:.1f} |")
    lp = [r for r in result["runs"] if r["method"] == "lp"]
    bis = [r for r in result["runs"] if r["method"] == "bisect"]
    if bis:
        a = pd.DataFrame(next(r for r in lp if r["config"] == bis[0]["config"])["periods"])
        b = pd.DataFrame(bis[0]["periods"])
        m = a.merge(b, on=["period", "direction"], suffixes=("_lp", "_bisect"))
        diff = (m.oe_kw_lp - m.oe_kw_bisect).abs().max()
        out += ["", f"lp against bisect ({bis[0]['config']}): largest |lp − bisect| "
                    f"{diff:.4f} kW over {len(m)} period-directions; every lp envelope verified: "
                    f"{all(r['all_verified'] for r in lp)}."]
    return "\n".join(out) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--periods", help="comma-separated periods (default: all 48)")
    ap.add_argument("--flexible", type=float, default=0.4)
    ap.add_argument("--day", type=int, default=220)
    ap.add_argument("--no-bisect", action="store_true")
    args = ap.parse_args()
    if not WORKBOOK.is_file():
        sys.exit(f"workbook not found: {WORKBOOK}")
    periods = [int(p) for p in args.periods.split(",")] if args.periods else None
    result = run(periods, args.flexible, args.day, not args.no_bisect)
    result["created"] = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    result["environment"] = {"python": platform.python_version(), "machine": platform.machine()}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "mv_limits.json").write_text(json.dumps(result, indent=1, default=float))
    md = markdown(json.loads((RESULTS / "mv_limits.json").read_text()))
    (RESULTS / "mv_limits.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
