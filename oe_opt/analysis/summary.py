"""Summaries of envelope tables (per direction of a day)."""

from __future__ import annotations

import pandas as pd

from oe_opt.analysis.fairness import energy_kwh
from oe_opt.methods.result import INFEASIBLE, NONCONVERGENT


def summarise(envelopes: pd.DataFrame, period_hours: float) -> pd.DataFrame:
    """Per-direction summary of a day's envelopes.

    Returns
    -------
    DataFrame
        Index: direction; columns: periods, infeasible, at_cap, nonconvergent, mean_oe_kw,
        min_oe_kw, max_oe_kw, energy_kwh (mean over customers, summed over
        periods × period length), n_powerflows, seconds, all_verified,
        most_binding.
    """
    per = envelopes.groupby(["day", "period", "direction"], sort=False).agg(
        oe_kw=("oe_kw", "mean"), status=("status", "first"), binding=("binding", "first"),
        n_powerflows=("n_powerflows", "first"), seconds=("seconds", "first"),
        verified=("verified", "all")).reset_index()
    out = []
    for d, g in per.groupby("direction", sort=False):
        limited = g[g.status == "ok"]
        out.append({
            "direction": d, "periods": len(g), "infeasible": int((g.status == INFEASIBLE).sum()),
            "at_cap": int((g.status == "at_cap").sum()),
            "nonconvergent": int((g.status == NONCONVERGENT).sum()),
            "mean_oe_kw": g.oe_kw.mean(), "min_oe_kw": g.oe_kw.min(), "max_oe_kw": g.oe_kw.max(),
            "energy_kwh": energy_kwh(g.oe_kw, period_hours),
            "n_powerflows": int(g.n_powerflows.sum()), "seconds": float(g.seconds.sum()),
            "all_verified": bool(g.verified.all()),
            "most_binding": limited.binding.mode().iat[0] if len(limited) else "cap",
        })
    return pd.DataFrame(out).set_index("direction")
