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
from oe_opt.study import Study

METHODS = ("step", "bisect", "lp")
COMPARISON_COLUMNS = ["period", "direction", "step_kw", "bisect_kw", "lp_kw", "lp_minus_bisect_kw",
                      "step_pf", "bisect_pf", "lp_pf", "step_s", "bisect_s", "lp_s"]


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
        Each method's envelopes DataFrame (:data:`oe_opt.runs.day.ENVELOPE_COLUMNS`).
    day : int
    n_flexible : int
    period_hours : float
    """

    table: pd.DataFrame
    summary: pd.DataFrame
    envelopes: dict[str, pd.DataFrame]
    day: int
    n_flexible: int
    period_hours: float


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


def compare_methods(study: Study, day: int | None = None, session: Session | None = None) -> Comparison:
    """Run ``step``, ``bisect`` and ``lp`` on the same study day.

    Parameters
    ----------
    study : Study
    day : int, optional
        0-based day (the study's if omitted).
    session : Session, optional
        Reuse a compiled network and loaded profiles.

    Returns
    -------
    Comparison
    """
    session = session or Session(study)
    results = {m: run_day(study, m, day=day, session=session, voltages=False) for m in METHODS}
    envelopes = {m: r.envelopes for m, r in results.items()}
    period_hours = results["bisect"].period_hours
    n_flex = int(envelopes["bisect"]["customer"].nunique())
    table = comparison_table(envelopes)
    summary = comparison_summary(table, n_flex, period_hours)
    d = int(envelopes["bisect"]["day"].iat[0]) if len(envelopes["bisect"]) else study.profiles.day
    return Comparison(table, summary, envelopes, d, n_flex, period_hours)


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
    return "\n".join(lines)
