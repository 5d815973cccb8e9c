"""What any-use safety costs over a year of the tutorial, and how far full-use envelopes break.

For every k-th day of the tutorial study (``--every``, default 7: 53 days of 365), in one
process on one compiled network:

* ``lp`` with ``holds_for = "full_use"`` (the tutorial's definition) and with ``any_use``
  (lp is within 0.01 kW of bisect for both, see tests/methods/test_any_use.py);
* the full_use envelopes checked at their worst corners (:func:`oe_opt.analysis.compare.any_use_audit`:
  the corners of :mod:`oe_opt.methods.any_use`, full power flows).

Energies are for all 13 flexible customers (envelope x period length x customers), summed
over the sampled days and scaled to the year (x 365 / days sampled).  Results:
``benchmarks/results/any_use.{json,md,png}``.

    .venv/bin/python benchmarks/any_use.py              # every 7th day (~5 min)
    .venv/bin/python benchmarks/any_use.py --every 1    # every day
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

# one BLAS thread: multithreaded OpenBLAS in the multi-column sensitivity solves is up to 25x
# slower on this shared 2-core machine (issue 9); set before numpy is imported
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def run(every: int, study_path: Path) -> dict:
    from oe_opt.analysis.compare import any_use_audit
    from oe_opt.runs.day import Session, run_day
    from oe_opt.study import load_study

    st = load_study(study_path)
    session = Session(st)
    days = list(range(0, 365, every))
    out = []
    seconds = {"full_use": 0.0, "any_use": 0.0, "audit": 0.0}
    for day in days:
        row = {"day": day}
        env = {}
        for hf in ("full_use", "any_use"):
            t0 = time.perf_counter()
            r = run_day(st.with_holds_for(hf), "lp", day=day, session=session, voltages=False)
            seconds[hf] += time.perf_counter() - t0
            env[hf] = r.envelopes
            per = r.envelopes.drop_duplicates(["period", "direction"])
            h = r.period_hours
            n_flex = r.envelopes.customer.nunique()
            for d in ("export", "import"):
                row[f"{hf}_{d}_kwh"] = float(np.nansum(per[per.direction == d].oe_kw)) * h * n_flex
            row[f"{hf}_verified"] = bool(r.envelopes.verified.all())
            row[f"{hf}_powerflows"] = int(per.n_powerflows.sum())
        t0 = time.perf_counter()
        audit = any_use_audit(st, env["full_use"], session, day).reset_index()
        seconds["audit"] += time.perf_counter() - t0
        for d in ("export", "import"):
            a = audit[audit.direction == d]
            volt = a.violation_at.str.startswith("v_")
            therm = (a.violation_at != "") & ~volt
            row[f"{d}_violated_periods"] = int((a.violation > 0).sum())
            row[f"{d}_worst_v"] = float(a.violation[volt].max()) if volt.any() else 0.0
            row[f"{d}_worst_pct"] = float(a.violation[therm].max()) if therm.any() else 0.0
            worst = a.loc[a.violation.idxmax()] if len(a) and a.violation.max() > 0 else None
            row[f"{d}_worst_at"] = (f"period {int(worst.period)} {worst.violation_at}"
                                    if worst is not None else "")
        out.append(row)
        print(f"day {day:3d}: cost export {row['full_use_export_kwh'] - row['any_use_export_kwh']:7.2f}"
              f" kWh import {row['full_use_import_kwh'] - row['any_use_import_kwh']:7.2f} kWh; "
              f"worst full_use {row['export_worst_v']:+.3f} V (export) "
              f"{row['import_worst_pct']:+.3f} % / {row['import_worst_v']:+.3f} V (import)", flush=True)
    scale = 365 / len(days)
    summary = {}
    for d in ("export", "import"):
        full = sum(r[f"full_use_{d}_kwh"] for r in out)
        anyu = sum(r[f"any_use_{d}_kwh"] for r in out)
        summary[d] = {"full_use_kwh_year": full * scale, "any_use_kwh_year": anyu * scale,
                      "cost_kwh_year": (full - anyu) * scale,
                      "cost_pct": 100 * (full - anyu) / full if full else 0.0,
                      "worst_violation_v": max(r[f"{d}_worst_v"] for r in out),
                      "worst_violation_pct": max(r[f"{d}_worst_pct"] for r in out),
                      "days_violated": sum(r[f"{d}_violated_periods"] > 0 for r in out),
                      "periods_violated": sum(r[f"{d}_violated_periods"] for r in out)}
    return {"study": str(study_path.relative_to(ROOT)), "every": every, "days": days,
            "n_days_sampled": len(days), "scale_to_year": scale, "seconds": seconds,
            "all_verified": all(r["full_use_verified"] and r["any_use_verified"] for r in out),
            "summary": summary, "per_day": out}


def markdown(res: dict) -> str:
    s = res["summary"]
    lines = [f"# Any-use safety over a year of the tutorial ({res['n_days_sampled']} days: every "
             f"{res['every']}th day from day 0, scaled x{res['scale_to_year']:.3f} to 365 days)", "",
             "lp envelopes, all 13 flexible customers; violations: the full_use envelope checked at "
             "its worst corners (customers at the envelope, the others at 0 kW; full power flows).",
             "", "| direction | full_use MWh/yr | any_use MWh/yr | any-use cost MWh/yr | cost % | "
             "worst full_use violation V | worst full_use violation % of rating | days with a violation |"
             " period-directions with a violation |", "|---|---|---|---|---|---|---|---|---|"]
    for d, r in s.items():
        lines.append(f"| {d} | {r['full_use_kwh_year'] / 1000:.2f} | {r['any_use_kwh_year'] / 1000:.2f} | "
                     f"{r['cost_kwh_year'] / 1000:.2f} | {r['cost_pct']:.2f} | {r['worst_violation_v']:+.3f} | "
                     f"{r['worst_violation_pct']:+.3f} | {r['days_violated']}/{res['n_days_sampled']} | "
                     f"{r['periods_violated']} |")
    sec = res["seconds"]
    lines += ["", f"Every envelope verified: {res['all_verified']}.  Wall time in this process: lp "
              f"full_use {sec['full_use']:.1f} s, lp any_use {sec['any_use']:.1f} s, corner audit "
              f"{sec['audit']:.1f} s."]
    return "\n".join(lines) + "\n"


def plot(res: dict, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    days = [r["day"] for r in res["per_day"]]
    fig, (a1, a2) = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
    for d, c in (("export", "tab:orange"), ("import", "tab:blue")):
        cost = [r[f"full_use_{d}_kwh"] - r[f"any_use_{d}_kwh"] for r in res["per_day"]]
        a1.plot(days, cost, marker=".", color=c, label=f"{d}s")
    a1.set_ylabel("any-use cost (kWh/day)")
    a1.legend(fontsize=8)
    a1.grid(alpha=0.3)
    a1.set_title("Tutorial: energy any-use safety costs, and how far full-use envelopes break")
    a2.plot(days, [r["export_worst_v"] for r in res["per_day"]], marker=".", color="tab:orange",
            label="export: V above 253 V")
    a2.plot(days, [r["import_worst_pct"] for r in res["per_day"]], marker=".", color="tab:blue",
            label="import: % over a rating")
    a2.plot(days, [r["import_worst_v"] for r in res["per_day"]], marker="x", ls=":", color="tab:blue",
            label="import: V beyond a voltage limit")
    a2.set_ylabel("worst full_use violation")
    a2.set_xlabel("day of the year (0-based)")
    a2.legend(fontsize=8)
    a2.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--every", type=int, default=7, help="every k-th day (default 7)")
    ap.add_argument("--study", type=Path, default=ROOT / "models" / "tutorial.toml")
    args = ap.parse_args(argv)
    res = run(args.every, args.study.resolve())
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "any_use.json").write_text(json.dumps(res, indent=1, default=float))
    md = markdown(res)
    (RESULTS / "any_use.md").write_text(md)
    print(md)
    print(plot(res, RESULTS / "any_use.png"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
