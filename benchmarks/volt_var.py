"""What the flexible customers' reactive power does to the tutorial's envelopes.

The tutorial day (``models/tutorial.toml``, 13 flexible customers, equal allocation) with
``[customers] flexible_q`` = ``zero`` (the tutorial), a fixed power factor of 0.95 absorbing, and
the AS/NZS 4777.2 volt-var curves ``as4777_a`` (with its volt-watt) and ``as4777_b`` (inverter
rating = the 10 kW export cap), every period, method ``lp``; ``bisect`` on a sample of periods to check ``lp``
against it.  Results: ``benchmarks/results/volt_var.{json,md,png}`` (the figure is drawn from the
JSON; ``--plot-only`` redraws it).

    .venv/bin/python benchmarks/volt_var.py          # ~2 minutes
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from oe_opt.runs.day import Session, run_day  # noqa: E402
from oe_opt.study import VOLT_VAR_CURVES, VOLT_WATT_CURVES, FlexibleQ, load_study  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"
CASES = {"zero": FlexibleQ(),
         "pf 0.95 absorb": FlexibleQ("pf", 0.95, True),
         **{name: FlexibleQ("volt_var", volt_var=VOLT_VAR_CURVES[name], curve=name,
                            volt_watt=VOLT_WATT_CURVES.get(name, ()))
            for name in ("as4777_a", "as4777_b")}}
CHECK_PERIODS = [12, 24, 36]


def run() -> dict:
    base = load_study(REPO / "models" / "tutorial.toml")
    out = []
    session = None
    for name, fq in CASES.items():
        st = replace(base, customers=replace(base.customers, flexible_q=fq))
        session = Session(st, net=session.net if session else None,
                          data=session.data if session else None)
        lp = run_day(st, "lp", session=session, voltages=False).envelopes
        bis = run_day(st, "bisect", session=session, periods=CHECK_PERIODS, voltages=False).envelopes
        per = lp.groupby(["period", "time", "direction"]).agg(
            oe_kw=("oe_kw", "first"), q_kvar=("q_kvar", "mean"), binding=("binding", "first"),
            n_powerflows=("n_powerflows", "first"), verified=("verified", "all")).reset_index()
        b = bis.groupby(["period", "direction"]).oe_kw.first()
        diff = float(np.max(np.abs(per.set_index(["period", "direction"]).oe_kw.loc[b.index] - b)))
        out.append({"case": name, "curve": [list(p) for p in fq.volt_var], "pf": fq.pf,
                    "volt_watt": [list(p) for p in fq.volt_watt],
                    "lp_minus_bisect_max_kw": diff, "all_verified": bool(per.verified.all()),
                    "periods": per.to_dict(orient="records")})
        print(f"{name:15s} export mean {per[per.direction == 'export'].oe_kw.mean():.2f} kW, "
              f"|lp-bisect| {diff:.4f} kW", file=sys.stderr)
    return {"study": "tutorial", "day": base.profiles.day, "cases": out}


def markdown(result: dict) -> str:
    lines = [f"# Flexible customers' reactive power on the tutorial day ({result['created']})", "",
             "| flexible_q | direction | mean OE kW | min OE kW | mean Q at OE kvar (+ absorbed) "
             "| power flows per period | binding kinds | max abs(lp - bisect) kW (3 periods) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for c in result["cases"]:
        per = pd.DataFrame(c["periods"])
        for d, g in per.groupby("direction"):
            kinds = ", ".join(f"{k} {v}" for k, v in g.binding.str.split(":").str[0]
                              .value_counts().items())
            lines.append(f"| {c['case']} | {d} | {g.oe_kw.mean():.2f} | {g.oe_kw.min():.2f} | "
                         f"{g.q_kvar.mean():.2f} | {g.n_powerflows.mean():.1f} | {kinds} | "
                         f"{c['lp_minus_bisect_max_kw']:.4f} |")
    lines += ["", "Curves (V, % of rated VA, + supplied): " + "; ".join(
        f"{c['case']}: {c['curve']}" + (f", volt-watt {c['volt_watt']}" if c.get("volt_watt") else "")
        for c in result["cases"] if c["curve"]) +
        ". Inverter rating 10 kVA (the export cap). Every lp envelope verified: "
        f"{all(c['all_verified'] for c in result['cases'])}."]
    return "\n".join(lines) + "\n"


def plot_results(result: dict, path: Path) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharex=True)
    for c in result["cases"]:
        per = pd.DataFrame(c["periods"])
        for ax, d in zip(axes, ("export", "import")):
            g = per[per.direction == d]
            ax.step(g.period * 0.5, g.oe_kw, where="post", label=c["case"])
    for ax, d in zip(axes, ("export", "import")):
        ax.set_title(f"{d} envelope, tutorial day {result['day']}")
        ax.set_xlabel("hour")
        ax.set_ylabel("OE per customer (kW)")
        ax.grid(alpha=0.3)
    axes[1].legend(title="flexible_q", loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--plot-only", action="store_true")
    args = ap.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    js = RESULTS / "volt_var.json"
    if not args.plot_only:
        result = run()
        result["created"] = datetime.now(timezone.utc).strftime("%Y-%m-%d")
        js.write_text(json.dumps(result, indent=1, default=float))
    result = json.loads(js.read_text())
    (RESULTS / "volt_var.md").write_text(markdown(result))
    plot_results(result, RESULTS / "volt_var.png")
    print(markdown(result))


if __name__ == "__main__":
    main()
