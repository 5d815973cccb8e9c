"""Compare the stepping search, bisection and the LP optimiser on one study day.

:func:`compare_methods` runs ``step``, ``bisect`` and ``lp`` on the same
compiled network and day; :func:`comparison_table` lines their envelopes up
per period and direction; :func:`comparison_summary` reports the energy the
stepping search leaves unused against the exact envelope (bisection, 1 W
bracket) and the cost of each method.  The ``oe-opt compare`` command and
``benchmarks/compare_methods.py`` are thin layers on top.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from oe_opt.runs.day import Session, run_day
from oe_opt.study import LimitSpec, Study

METHODS = ("step", "bisect", "lp")
COMPARISON_COLUMNS = ["period", "direction", "step_kw", "bisect_kw", "lp_kw", "lp_minus_bisect_kw",
                      "step_pf", "bisect_pf", "lp_pf", "step_s", "bisect_s", "lp_s"]
#: any-use audit per method (:func:`any_use_audit`): the full_use and any_use envelopes (kW),
#: what any-use safety costs (full_use - any_use, kW), and the worst violation of the full_use
#: envelope at a corner (customers at it, the others at 0): V above v_max / below v_min, or
#: percentage points over a thermal rating (0 when every corner checked holds), with the
#: violated constraint
ANY_USE_COLUMNS = [f"{m}_{c}" for m in METHODS for c in (
    "full_use_kw", "any_use_kw", "any_use_cost_kw", "full_use_violation", "full_use_violation_at")]


@dataclass
class Comparison:
    """The three methods on one day.

    Attributes
    ----------
    table : DataFrame
        One row per (period, direction), columns :data:`COMPARISON_COLUMNS`
        (envelopes in kW, full power flows, seconds), plus ``time``,
        ``status`` (bisection's) and ``lp_verified``.
    summary : DataFrame
        :func:`comparison_summary`.
    envelopes : dict
        Each method's envelopes DataFrame (:data:`oe_opt.io.results.ENVELOPE_COLUMNS`).
    day : int
    n_flexible : int
    period_hours : float
    any_use : DataFrame or None
        :func:`any_use_summary` (None without the audit).
    holds_for : str
        The definition of the main columns.
    """

    table: pd.DataFrame
    summary: pd.DataFrame
    envelopes: dict[str, pd.DataFrame]
    day: int
    n_flexible: int
    period_hours: float
    any_use: pd.DataFrame | None = None
    holds_for: str = "full_use"


def _per_period(env: pd.DataFrame) -> pd.DataFrame:
    return env.groupby(["period", "direction"], sort=False).agg(
        time=("time", "first"), oe_kw=("oe_kw", "first"), pf=("n_powerflows", "first"),
        s=("seconds", "first"), status=("status", "first"), verified=("verified", "all"))


def comparison_table(envelopes: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Line up the equal-allocation envelopes of ``step``, ``bisect`` and ``lp``.

    Parameters
    ----------
    envelopes : dict
        ``{"step": df, "bisect": df, "lp": df}`` as returned by
        :func:`oe_opt.runs.day.run_day` (one value per period and direction).

    Returns
    -------
    DataFrame
        Columns :data:`COMPARISON_COLUMNS` then ``time``, ``status``,
        ``lp_verified``; sorted by direction (export first) and period.
    """
    per = {m: _per_period(envelopes[m]) for m in METHODS}
    out = pd.DataFrame(index=per["bisect"].index)
    for m in METHODS:
        out[f"{m}_kw"] = per[m]["oe_kw"]
    out["lp_minus_bisect_kw"] = out["lp_kw"] - out["bisect_kw"]
    for m in METHODS:
        out[f"{m}_pf"] = per[m]["pf"].astype(int)
    for m in METHODS:
        out[f"{m}_s"] = per[m]["s"]
    out["time"] = per["bisect"]["time"]
    out["status"] = per["bisect"]["status"]
    out["lp_verified"] = per["lp"]["verified"]
    out = out.reset_index()
    order = {"export": 0, "import": 1}
    out = out.sort_values(["direction", "period"], key=lambda s: s.map(order) if s.name ==
                          "direction" else s, kind="stable").reset_index(drop=True)
    return out[COMPARISON_COLUMNS + ["time", "status", "lp_verified"]]


def comparison_summary(table: pd.DataFrame, n_flexible: int, period_hours: float) -> pd.DataFrame:
    """Energy left unused by the stepping search and the cost of each method, per direction.

    The exact envelope is bisection's (1 W bracket).  Energies are for all
    flexible customers together: sum over periods of envelope × period length
    × number of flexible customers (infeasible periods count 0).

    Returns
    -------
    DataFrame
        Index: direction and ``total``; columns ``exact_kwh``, ``step_kwh``,
        ``lp_kwh``, ``step_unused_kwh``, ``step_unused_pct``,
        ``lp_minus_bisect_min_kw``, ``lp_minus_bisect_max_kw``,
        ``<method>_pf`` (total power flows), ``<method>_pf_per_period``,
        ``<method>_s`` (seconds).
    """
    rows = []
    groups = list(table.groupby("direction", sort=False)) + [("total", table)]
    for d, g in groups:
        scale = period_hours * n_flexible
        exact = float(np.nansum(g.bisect_kw)) * scale
        step = float(np.nansum(g.step_kw)) * scale
        row = {"direction": d, "exact_kwh": exact, "step_kwh": step,
               "lp_kwh": float(np.nansum(g.lp_kw)) * scale,
               "step_unused_kwh": exact - step,
               "step_unused_pct": 100.0 * (exact - step) / exact if exact > 0 else 0.0,
               "lp_minus_bisect_min_kw": float(g.lp_minus_bisect_kw.min()),
               "lp_minus_bisect_max_kw": float(g.lp_minus_bisect_kw.max())}
        for m in METHODS:
            row[f"{m}_pf"] = int(g[f"{m}_pf"].sum())
            row[f"{m}_pf_per_period"] = float(g[f"{m}_pf"].mean())
            row[f"{m}_s"] = float(g[f"{m}_s"].sum())
        rows.append(row)
    return pd.DataFrame(rows).set_index("direction")


def violation_amount(check, limits: LimitSpec) -> float:
    """How far a checked point breaks its binding constraint, in the constraint's own units:
    V above ``v_max_v`` or below ``v_min_v``, percentage points of rating above
    ``line_max_pct`` / ``transformer_max_pct``; 0 if it holds."""
    if check.ok:
        return 0.0
    if not check.converged:
        return float("inf")
    kind = check.binding.split(":", 1)[0]
    return float({"v_max": lambda: check.v_highest_v - limits.v_max_v,
                  "v_min": lambda: limits.v_min_v - check.v_lowest_v,
                  "line": lambda: check.max_line_loading_pct - limits.line_max_pct,
                  "transformer": lambda: check.transformer_loading_pct - limits.transformer_max_pct,
                  }[kind]())


def any_use_audit(study: Study, envelopes: pd.DataFrame, session: Session,
                  day: int | None = None) -> pd.DataFrame:
    """Check full_use envelopes at their worst corners (full power flows).

    Parameters
    ----------
    envelopes : DataFrame
        A method's envelopes (:data:`oe_opt.io.results.ENVELOPE_COLUMNS`), one
        value per flexible customer.

    Returns
    -------
    DataFrame
        Index (period, direction); ``violation`` (:func:`violation_amount` of
        the worst corner checked, 0 if every corner holds), ``violation_at``
        (its constraint, empty if none) and ``n_corners``.  The corners are
        those of :mod:`oe_opt.methods.any_use` at the envelope.
    """
    from oe_opt.methods.any_use import checker_for
    from oe_opt.methods.evaluator import PowerFlowEvaluator

    case = session.case(day)
    ev = PowerFlowEvaluator(session.net, study.limits, case)
    checker = checker_for(session.net, case, study.limits)
    order = {n: i for i, n in enumerate(case.flex_names)}
    rows = []
    for (t, d), g in envelopes.groupby(["period", "direction"], sort=False):
        oe = np.zeros(len(order))
        oe[[order[c] for c in g.customer]] = g.oe_kw.to_numpy(dtype=float)
        if np.isnan(oe).any():
            rows.append((t, d, 0.0, "", 0))
            continue
        ev.set_period(int(t))
        pc = checker.check(ev, d, oe, "any_use")
        bad = [c for _, c, _, _ in pc.corners if not c.ok]
        if not bad:
            rows.append((t, d, 0.0, "", len(pc.corners)))
            continue
        worst = max(bad, key=lambda c: violation_amount(c, study.limits))
        rows.append((t, d, violation_amount(worst, study.limits), worst.binding, len(pc.corners)))
    return pd.DataFrame(rows, columns=["period", "direction", "violation", "violation_at",
                                       "n_corners"]).set_index(["period", "direction"])


def any_use_columns(study: Study, runs: dict[tuple[str, str], pd.DataFrame], session: Session,
                    day: int | None = None) -> pd.DataFrame:
    """:data:`ANY_USE_COLUMNS` per (period, direction) from each method's envelopes of both
    definitions (``runs[(method, holds_for)]``)."""
    out = []
    for m in METHODS:
        full = _per_period(runs[m, "full_use"])["oe_kw"]
        anyu = _per_period(runs[m, "any_use"])["oe_kw"]
        audit = any_use_audit(study, runs[m, "full_use"], session, day)
        out.append(pd.DataFrame({f"{m}_full_use_kw": full, f"{m}_any_use_kw": anyu,
                                 f"{m}_any_use_cost_kw": full - anyu,
                                 f"{m}_full_use_violation": audit["violation"],
                                 f"{m}_full_use_violation_at": audit["violation_at"]}))
    return pd.concat(out, axis=1)


def any_use_summary(table: pd.DataFrame, n_flexible: int, period_hours: float) -> pd.DataFrame:
    """Per method and direction: energy any-use safety costs (kWh, all flexible customers,
    and % of the full_use energy) and the worst full_use violations at a corner (V and
    percentage points of a thermal rating)."""
    rows = []
    for d, g in list(table.groupby("direction", sort=False)) + [("total", table)]:
        for m in METHODS:
            scale = period_hours * n_flexible
            full = float(np.nansum(g[f"{m}_full_use_kw"])) * scale
            cost = float(np.nansum(g[f"{m}_any_use_cost_kw"])) * scale
            at = g[f"{m}_full_use_violation_at"].fillna("").astype(str)
            v = g[f"{m}_full_use_violation"]
            volt = at.str.startswith("v_")
            rows.append({"direction": d, "method": m, "full_use_kwh": full,
                         "any_use_cost_kwh": cost,
                         "any_use_cost_pct": 100.0 * cost / full if full > 0 else 0.0,
                         "worst_violation_v": float(v[volt].max()) if volt.any() else 0.0,
                         "worst_violation_pct": float(v[~volt & (at != "")].max())
                         if (~volt & (at != "")).any() else 0.0,
                         "periods_violated": int((v > 0).sum())})
    return pd.DataFrame(rows).set_index(["direction", "method"])


def compare_methods(study: Study, day: int | None = None, session: Session | None = None,
                    audit: bool = True) -> Comparison:
    """Run ``step``, ``bisect`` and ``lp`` on the same study day.

    Parameters
    ----------
    study : Study
    day : int, optional
        0-based day (the study's if omitted).
    session : Session, optional
        Reuse a compiled network and loaded profiles.
    audit : bool
        Also run every method with the other ``holds_for`` and check the
        full_use envelopes at their worst corners (:data:`ANY_USE_COLUMNS`,
        ``Comparison.any_use``).

    Returns
    -------
    Comparison
        The main columns are for the study's ``holds_for``.
    """
    session = session or Session(study)
    hf = study.envelope.holds_for
    results = {m: run_day(study, m, day=day, session=session, voltages=False) for m in METHODS}
    envelopes = {m: r.envelopes for m, r in results.items()}
    period_hours = results["bisect"].period_hours
    n_flex = int(envelopes["bisect"]["customer"].nunique())
    table = comparison_table(envelopes)
    summary = comparison_summary(table, n_flex, period_hours)
    d = int(envelopes["bisect"]["day"].iat[0]) if len(envelopes["bisect"]) else study.profiles.day
    any_use = None
    if audit:
        other = "any_use" if hf == "full_use" else "full_use"
        runs = {(m, hf): envelopes[m] for m in METHODS}
        runs.update({(m, other): run_day(study.with_holds_for(other), m, day=day, session=session,
                                         voltages=False).envelopes for m in METHODS})
        cols = any_use_columns(study, runs, session, day)
        table = table.merge(cols.reset_index(), on=["period", "direction"], how="left")
        any_use = any_use_summary(table, n_flex, period_hours)
    return Comparison(table, summary, envelopes, d, n_flex, period_hours, any_use, hf)


def format_summary(cmp: Comparison, study_name: str = "") -> str:
    """The comparison summary as a few lines of text."""
    s = cmp.summary
    lines = [f"study {study_name}  day {cmp.day}  flexible customers {cmp.n_flexible}"]
    for d, r in s.iterrows():
        lines.append(f"{d:>6}: exact (bisect) {r.exact_kwh:9.2f} kWh total over {cmp.n_flexible} "
                     f"customers; step leaves {r.step_unused_kwh:8.2f} kWh unused ({r.step_unused_pct:5.2f} %); lp - bisect in "
                     f"[{r.lp_minus_bisect_min_kw:+.4f}, {r.lp_minus_bisect_max_kw:+.4f}] kW")
    tot = s.loc["total"]
    n_periods = len(cmp.table)
    for m in METHODS:
        lines.append(f"{m:>6}: {int(tot[f'{m}_pf']):6d} power flows ({tot[f'{m}_pf_per_period']:5.2f} "
                     f"per period and direction), {tot[f'{m}_s']:.3f} s for {n_periods} "
                     f"period-directions")
    if not cmp.table.lp_verified.all():
        lines.append("WARNING: some lp envelopes were not verified by a power flow")
    if cmp.any_use is not None:
        lines.append(f"envelopes above: holds_for = {cmp.holds_for}.  any use (each flexible customer "
                     f"anywhere in [0, OE]) against full use (all at OE):")
        for (d, m), r in cmp.any_use.iterrows():
            lines.append(f"{d:>6} {m:>6}: any-use safety costs {r.any_use_cost_kwh:8.2f} kWh "
                         f"({r.any_use_cost_pct:5.2f} %); the full_use envelope breaks a limit at a "
                         f"corner in {int(r.periods_violated):2d} period-directions, worst "
                         f"{r.worst_violation_v:+.3f} V beyond a voltage limit, "
                         f"{r.worst_violation_pct:+.3f} % over a rating")
    return "\n".join(lines)
