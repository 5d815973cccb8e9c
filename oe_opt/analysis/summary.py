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

    The same figures as :func:`summarise` of each day (to rounding of the sums),
    computed for all days at once with grouped operations (a year has 730 day-directions).

    Returns
    -------
    DataFrame
        Columns ``day, direction`` then the columns of :func:`summarise`; days in
        ascending order, directions as they first appear in each day.
    """
    if not len(envelopes):
        return pd.DataFrame(columns=["day", "direction"])
    env = envelopes
    keys = ["day", "direction"]
    oe_ok = env.oe_kw.where(env.status != INFEASIBLE)
    by_day = oe_ok.groupby([env.day, env.direction], sort=False)
    worst = by_day.min()
    total = by_day.sum() * period_hours                      # NaN (infeasible) counts as 0
    per = env.groupby(["day", "period", "direction"], sort=False).agg(
        oe_kw=("oe_kw", "mean"), status=("status", "first"), binding=("binding", "first"),
        n_powerflows=("n_powerflows", "first"), seconds=("seconds", "first"),
        verified=("verified", "all")).reset_index()
    per["infeasible"] = per.status == INFEASIBLE
    per["at_cap"] = per.status == "at_cap"
    per["nonconvergent"] = per.status == NONCONVERGENT
    g = per.groupby(keys, sort=False)
    out = g.agg(periods=("period", "size"), infeasible=("infeasible", "sum"),
                at_cap=("at_cap", "sum"), nonconvergent=("nonconvergent", "sum"),
                mean_oe_kw=("oe_kw", "mean"), min_oe_kw=("oe_kw", "min"),
                max_oe_kw=("oe_kw", "max"))
    out["min_customer_oe_kw"] = worst.reindex(out.index)
    out["energy_kwh_per_customer"] = g.oe_kw.sum() * period_hours
    out["energy_kwh_total"] = total.reindex(out.index).fillna(0.0)
    out["n_powerflows"] = g.n_powerflows.sum().astype(int)
    out["seconds"] = g.seconds.sum().astype(float)
    out["all_verified"] = g.verified.all().astype(bool)
    # the most frequent binding constraint of the limited periods (the first by name on ties,
    # as Series.mode); "cap" without one
    limited = per[per.status == "ok"]
    counts = limited.groupby(keys + ["binding"]).size().rename("n").reset_index()
    counts = counts.sort_values(keys + ["n", "binding"], ascending=[True, True, False, True],
                                kind="stable").drop_duplicates(keys)
    mode = counts.set_index(keys)["binding"]
    out["most_binding"] = mode.reindex(out.index).fillna("cap").astype(str)
    for c in ("infeasible", "at_cap", "nonconvergent", "periods"):
        out[c] = out[c].astype(int)
    out = out.reset_index()
    out["day"] = out["day"].astype(int)
    return out.sort_values("day", kind="stable").reset_index(drop=True)


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
