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
        min_oe_kw, max_oe_kw (of the per-period mean over customers),
        min_customer_oe_kw (the worst-off customer's smallest envelope over
        the feasible periods), energy_kwh_per_customer (mean over customers,
        summed over periods × period length), energy_kwh_total (all flexible
        customers together), n_powerflows, seconds, all_verified,
        most_binding.  Statuses other than ``ok``/``at_cap``/``infeasible``
        are counted in their own columns by name where this table lists them.
    """
    bad = envelopes.status == INFEASIBLE
    worst = envelopes.oe_kw.where(~bad).groupby(envelopes.direction, sort=False).min()
    total = envelopes.oe_kw.where(~bad).groupby(envelopes.direction, sort=False).apply(
        lambda s: energy_kwh(s, period_hours))
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
            "min_customer_oe_kw": worst.get(d, float("nan")),
            "energy_kwh_per_customer": energy_kwh(g.oe_kw, period_hours),
            "energy_kwh_total": total.get(d, 0.0),
            "n_powerflows": int(g.n_powerflows.sum()), "seconds": float(g.seconds.sum()),
            "all_verified": bool(g.verified.all()),
            "most_binding": limited.binding.mode().iat[0] if len(limited) else "cap",
        })
    return pd.DataFrame(out).set_index("direction")


def summarise_days(envelopes: pd.DataFrame, period_hours: float) -> pd.DataFrame:
    """:func:`summarise` per day and direction (``summary.csv`` of a many-day run).

    Returns
    -------
    DataFrame
        Columns ``day, direction`` then the columns of :func:`summarise`.
    """
    parts = [summarise(g, period_hours).reset_index().assign(day=int(day))
             for day, g in envelopes.groupby("day", sort=True)]
    if not parts:
        return pd.DataFrame(columns=["day", "direction"])
    out = pd.concat(parts, ignore_index=True)
    return out[["day"] + [c for c in out.columns if c != "day"]]


def summarise_networks(envelopes: pd.DataFrame, period_hours: float,
                       reused: set[str] | None = None) -> pd.DataFrame:
    """Per network and direction summary of a network-set run (``networks.csv``).

    Parameters
    ----------
    envelopes : DataFrame
        :func:`~oe_opt.runs.netset.run_networks` rows (``network`` column,
        ``n_customers``, ``network_seconds``).
    period_hours : float
    reused : set of str, optional
        Networks whose stored results were reused rather than computed.

    Returns
    -------
    DataFrame
        Columns ``network, direction, customers, flexible``, the columns of
        :func:`summarise` (``periods, infeasible, nonconvergent, ...``), and
        ``network_seconds`` and ``source`` (``reused`` or ``computed``).
    """
    reused = reused or set()
    parts = []
    for name, g in envelopes.groupby("network", sort=False):
        s = summarise(g, period_hours).reset_index()
        if "nonconvergent" not in s:
            s.insert(s.columns.get_loc("infeasible") + 1, "nonconvergent",
                     [int((g[g.direction == d].drop_duplicates("period").status
                           == "nonconvergent").sum()) for d in s.direction])
        s.insert(0, "network", name)
        s.insert(2, "customers", int(g["n_customers"].iat[0]) if "n_customers" in g else 0)
        s.insert(3, "flexible", int(g.customer.nunique()))
        s["network_seconds"] = float(g["network_seconds"].iat[0]) if "network_seconds" in g else 0.0
        s["source"] = "reused" if name in reused else "computed"
        parts.append(s)
    if not parts:
        return pd.DataFrame(columns=["network", "direction"])
    return pd.concat(parts, ignore_index=True)
