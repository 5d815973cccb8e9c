"""Fairness and size metrics of per-customer envelopes.

Pure functions on arrays and tidy envelope DataFrames (columns as in
:data:`oe_opt.io.results.ENVELOPE_COLUMNS`).  Units: envelopes in kW, energies in
kWh, period length in hours.

Conventions
-----------
* Infeasible periods carry NaN envelopes.  NaN entries are ignored by every
  metric (a customer without an envelope is not "given 0 kW", it has no
  envelope), and energy counts them as 0 kWh.
* Jain's index of an all-zero allocation is **1.0**: everyone gets the same
  (nothing), which is how an equal allocation forced to 0 kW should score.
  It is the limit of the index along equal allocations ``c·(1, ..., 1)`` as
  ``c → 0``.  An empty (or all-NaN) allocation gives NaN.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def jain_index(x_kw: np.ndarray | list[float], weights: np.ndarray | list[float] | None = None) -> float:
    """Jain's fairness index ``(Σx)² / (n·Σx²)`` of one allocation.

    Parameters
    ----------
    x_kw : array_like
        Non-negative allocations (e.g. the envelopes of one period, kW).
        NaN entries are ignored.
    weights : array_like, optional
        If given, the index of ``x / weights`` (fairness relative to
        entitlements, e.g. DER sizes): a perfectly proportional allocation
        scores 1.  Must be positive where `x_kw` is not NaN.

    Returns
    -------
    float
        In ``[1/n, 1]``: 1 when everyone gets the same, ``1/n`` when a single
        one of ``n`` customers gets everything.  1.0 when every entry is 0;
        NaN when there is no (non-NaN) entry.

    Raises
    ------
    ValueError
        If an allocation is negative or a weight is not positive.
    """
    x = np.asarray(x_kw, dtype=float).ravel()
    if weights is not None:
        w = np.broadcast_to(np.asarray(weights, dtype=float).ravel(), x.shape)
        keep = ~np.isnan(x)
        if np.any(w[keep] <= 0):
            raise ValueError("jain_index: weights must be > 0")
        x = np.where(keep, x / np.where(w > 0, w, 1.0), np.nan)
    x = x[~np.isnan(x)]
    if x.size == 0:
        return float("nan")
    if np.any(x < 0):
        raise ValueError(f"jain_index: allocations must be >= 0, got min {x.min()}")
    sq = float(np.sum(x * x))
    if sq == 0.0:
        return 1.0
    return float(np.sum(x)) ** 2 / (x.size * sq)


def energy_kwh(oe_kw: np.ndarray | pd.Series, period_hours: float) -> float:
    """Envelope energy ``Σ kW × period length`` (kWh); NaN (infeasible) counts as 0."""
    return float(np.nansum(np.asarray(oe_kw, dtype=float)) * period_hours)


def per_period_jain(envelopes: pd.DataFrame) -> pd.Series:
    """Jain's index over the customers of every (day, period, direction).

    Parameters
    ----------
    envelopes : DataFrame
        Tidy envelopes with columns ``day, period, direction, oe_kw``.

    Returns
    -------
    Series
        Indexed by ``(day, period, direction)``; NaN for infeasible periods.
    """
    return envelopes.groupby(["day", "period", "direction"], sort=False)["oe_kw"].agg(jain_index)


def allocation_metrics(envelopes: pd.DataFrame, period_hours: float) -> dict[str, float]:
    """Size and fairness of one method's envelopes in one direction.

    Parameters
    ----------
    envelopes : DataFrame
        Tidy per-customer envelopes of one direction (columns ``day, period,
        direction, oe_kw``, optionally ``n_powerflows, seconds, verified``,
        which are per-period values repeated on each customer's row).
    period_hours : float
        Period length (h).

    Returns
    -------
    dict
        ``total_kwh`` — envelope energy over customers and periods;
        ``mean_kw``, ``min_kw``, ``max_kw`` — over every (customer, period)
        envelope of feasible periods; ``jain_index`` — mean over feasible
        periods of the per-period Jain's index across customers;
        ``n_feasible_periods``; and, when the columns exist,
        ``n_powerflows`` and ``seconds`` (summed once per period) and
        ``all_verified``.
    """
    oe = envelopes["oe_kw"].to_numpy(dtype=float)
    feasible = oe[~np.isnan(oe)]
    jain = per_period_jain(envelopes)
    out = {
        "total_kwh": energy_kwh(oe, period_hours),
        "mean_kw": float(feasible.mean()) if feasible.size else float("nan"),
        "min_kw": float(feasible.min()) if feasible.size else float("nan"),
        "max_kw": float(feasible.max()) if feasible.size else float("nan"),
        "jain_index": float(jain.mean()) if jain.notna().any() else float("nan"),
        "n_feasible_periods": int(jain.notna().sum()),
    }
    per = envelopes.drop_duplicates(["day", "period", "direction"])
    if "n_powerflows" in envelopes:
        out["n_powerflows"] = int(per["n_powerflows"].sum())
    if "seconds" in envelopes:
        out["seconds"] = float(per["seconds"].sum())
    if "verified" in envelopes:
        out["all_verified"] = bool(envelopes["verified"].all())
    return out
