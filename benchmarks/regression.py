"""Envelopes of every method on the three shipped studies, against stored results.

The restructure of issue 8 must not change a number.  This script runs every
method (``step``, ``bisect``, ``lp``, ``heuristic`` and ``alloc`` with every
allocation objective) on one day of ``models/tutorial.toml``,
``models/second.toml`` and ``models/unequal_der.toml`` and either stores the
envelopes (``--record``) or compares them with the stored ones (default):
the largest difference per study and method is printed, saved to
``benchmarks/results/regression.{json,md}``, and the script exits 1 if any
envelope differs by more than ``--tol-kw`` (default 1e-9 kW) or a status or
binding constraint changed.

    .venv/bin/python benchmarks/regression.py            # compare (~1 min)
    .venv/bin/python benchmarks/regression.py --record   # store new reference envelopes
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
REFERENCE = RESULTS / "regression_reference.csv.gz"
STUDIES = ("tutorial", "second", "unequal_der")
CASES = [("step", None), ("bisect", None), ("lp", None), ("heuristic", None)] + [
    ("alloc", a) for a in ("equal", "proportional", "max_total", "maxmin", "log_fair")]
KEY = ["study", "case", "period", "direction", "customer"]
#: cases whose numbers an issue changed on purpose, checked by their property instead of equality:
#: issue 9 item 4 makes maxmin's second stage reach the largest total with the minimum held, so
#: per period-direction the minimum must stay within 0.01 % of the reference and the total must
#: not fall (it rises where the old second stage stopped early)
DELIBERATE = {"alloc:maxmin": "issue 9 item 4: maxmin's second stage (min held within 0.01 %, "
                              "total >= reference)"}
#: issue 9 item 2: lp's fast equal-allocation core (ratio test, verified 1 W bracket) ends at
#: another point of the same 1 W bracket as the old successive LP; checked against this run's
#: exact bisection instead: within LP_TOL_KW of it, never above it by more than LP_ABOVE_KW,
#: statuses and bindings as in the reference
LP_CASE, LP_TOL_KW, LP_ABOVE_KW = "lp:", 0.01, 0.001
#: the per-customer LP runs with BLAS pinned to one thread (issue 9): the sensitivities change in
#: the last bits, the envelopes by far less than the 1e-4 kW acceptance tolerance of the loop.
#: 1e-5 kW: the same code (a864c7b) gives tutorial alloc:max_total 8.3e-7 kW from the reference
#: on one machine and 1.12e-6 kW on another (2026-12-02: the CPU's own rounding, not the code)
ROUNDING_KW = {f"alloc:{a}": 1e-5 for a in ("equal", "proportional", "max_total", "log_fair")}


def run_all(studies=STUDIES) -> pd.DataFrame:
    """Envelopes of every case on every study (one compiled network per study)."""
    from oe_opt.runs.day import Session, run_day
    from oe_opt.study import load_study

    frames = []
    for name in studies:
        # the reference is of full_use envelopes (the tutorial's definition; the other studies
        # default to any_use since issue 9)
        st = load_study(ROOT / "models" / f"{name}.toml").with_holds_for("full_use")
        session = Session(st)
        for method, allocation in CASES:
            s = st.with_method(method).with_allocation(allocation)
            t0 = time.perf_counter()
            env = run_day(s, session=session, voltages=False).envelopes
            print(f"{name:12s} {method:9s} {allocation or '':12s} {time.perf_counter() - t0:6.2f} s",
                  flush=True)
            frames.append(env.assign(study=name, case=f"{method}:{allocation or ''}")[
                KEY + ["oe_kw", "status", "binding"]])
    return pd.concat(frames, ignore_index=True)


def compare(new: pd.DataFrame, ref: pd.DataFrame) -> pd.DataFrame:
    """Per study and case: largest |oe difference| (kW) and changed statuses/bindings."""
    m = ref.merge(new, on=KEY, how="outer", suffixes=("_ref", "_new"), indicator=True)
    m["diff_kw"] = (m.oe_kw_new - m.oe_kw_ref).abs()
    both_nan = m.oe_kw_new.isna() & m.oe_kw_ref.isna()
    m.loc[both_nan, "diff_kw"] = 0.0
    m["diff_kw"] = m["diff_kw"].fillna(np.inf)
    m["status_changed"] = m.status_new != m.status_ref
    m["binding_changed"] = m.binding_new != m.binding_ref
    m["missing"] = m["_merge"] != "both"
    return m.groupby(["study", "case"], sort=False).agg(
        max_diff_kw=("diff_kw", "max"), status_changed=("status_changed", "sum"),
        binding_changed=("binding_changed", "sum"), missing=("missing", "sum"),
        rows=("diff_kw", "size")).reset_index()


def maxmin_property(new: pd.DataFrame, ref: pd.DataFrame) -> pd.DataFrame:
    """Per study: period-directions of a :data:`DELIBERATE` case whose minimum fell by more
    than 0.01 % or whose total fell, and the largest total gain (kW)."""
    keys = ["study", "case", "period", "direction"]
    agg = dict(lo=("oe_kw", "min"), total=("oe_kw", "sum"))
    a = ref[ref.case.isin(DELIBERATE)].groupby(keys).agg(**agg)
    b = new[new.case.isin(DELIBERATE)].groupby(keys).agg(**agg)
    m = a.add_suffix("_ref").join(b.add_suffix("_new"), how="outer").fillna(0.0)
    m["min_broken"] = m.lo_new < m.lo_ref * (1 - 1e-4) - 1e-9
    m["total_fell"] = m.total_new < m.total_ref - 1e-6
    m["gain_kw"] = m.total_new - m.total_ref
    return m.groupby(["study", "case"]).agg(min_broken=("min_broken", "sum"),
                                            total_fell=("total_fell", "sum"),
                                            max_gain_kw=("gain_kw", "max")).reset_index()


def lp_property(new: pd.DataFrame) -> pd.DataFrame:
    """Per study: the largest |lp - bisect| and the largest lp - bisect (kW) of this run."""
    a = new[new.case == LP_CASE].set_index(KEY[2:] + ["study"]).oe_kw
    b = new[new.case == "bisect:"].set_index(KEY[2:] + ["study"]).oe_kw
    d = (a - b).dropna()
    g = d.groupby(level="study")
    return pd.DataFrame({"lp_bisect_max_kw": g.apply(lambda x: x.abs().max()),
                         "lp_above_kw": g.max()}).reset_index()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--record", action="store_true", help="store new reference envelopes")
    ap.add_argument("--tol-kw", type=float, default=1e-9)
    args = ap.parse_args(argv)
    new = run_all()
    if args.record:
        RESULTS.mkdir(parents=True, exist_ok=True)
        new.to_csv(REFERENCE, index=False, float_format="%.17g")
        print(f"wrote {REFERENCE} ({len(new)} rows)")
        return 0
    ref = pd.read_csv(REFERENCE, keep_default_na=True)
    table = compare(new, ref)
    bad = ((table.max_diff_kw > args.tol_kw) | (table.status_changed > 0)
           | (table.binding_changed > 0) | (table.missing > 0))
    for case, tol in ROUNDING_KW.items():
        here = table.case == case
        bad = bad.where(~here, (table.max_diff_kw > tol) | (table.status_changed > 0)
                        | (table.binding_changed > 0) | (table.missing > 0))
    lp_vs_bisect = lp_property(new)
    here = table.case == LP_CASE
    if here.any():
        t = table.merge(lp_vs_bisect, on="study", how="left")
        bad = bad.where(~here, (t.lp_bisect_max_kw > LP_TOL_KW) | (t.lp_above_kw > LP_ABOVE_KW)
                        | (t.status_changed > 0) | (t.binding_changed > 0) | (t.missing > 0))
    prop = maxmin_property(new, ref)
    deliberate = table.case.isin(DELIBERATE)
    if deliberate.any():
        t = table.merge(prop, on=["study", "case"], how="left")
        bad = bad.where(~deliberate, (t.min_broken > 0) | (t.total_fell > 0) | (t.status_changed > 0)
                        | (t.missing > 0))
    table["ok"] = ~bad
    md = ["| study | case | rows | max diff kW | status changed | binding changed | missing | ok |",
          "|---|---|---|---|---|---|---|---|"]
    md += [f"| {r.study} | {r.case} | {r.rows} | {r.max_diff_kw:.3g} | {r.status_changed} | "
           f"{r.binding_changed} | {r.missing} | {'yes' if r.ok else 'NO'} |"
           for r in table.itertuples()]
    md += ["", "Cases changed on purpose (checked by their property, not equality):", ""]
    md += [f"- `{c}`: {why}" for c, why in DELIBERATE.items()]
    md += [f"- `{LP_CASE}`: issue 9 item 2, the fast core: within {LP_TOL_KW} kW of this run's "
           f"bisect and never above it by more than {LP_ABOVE_KW} kW"]
    md += [f"- `{c}`: BLAS on one thread: within {tol:g} kW" for c, tol in ROUNDING_KW.items()]
    md += ["", "| study | max abs lp - bisect kW | max lp - bisect kW |", "|---|---|---|"]
    md += [f"| {r.study} | {r.lp_bisect_max_kw:.5f} | {r.lp_above_kw:.5f} |"
           for r in lp_vs_bisect.itertuples()]
    md += ["", "| study | case | min broken | total fell | largest total gain kW |", "|---|---|---|---|---|"]
    md += [f"| {r.study} | {r.case} | {r.min_broken} | {r.total_fell} | {r.max_gain_kw:.4f} |"
           for r in prop.itertuples()]
    print("\n".join(md))
    (RESULTS / "regression.md").write_text(
        f"# Envelopes against the stored reference (tolerance {args.tol_kw:g} kW)\n\n"
        + "\n".join(md) + "\n")
    (RESULTS / "regression.json").write_text(json.dumps(
        {"tol_kw": args.tol_kw, "cases": table.replace({np.inf: None}).to_dict("records")},
        indent=1, default=float))
    return 0 if not bad.any() else 1


if __name__ == "__main__":
    sys.exit(main())
