"""The envelope table: its columns and how a method's result becomes rows.

One owner of the result schema: :data:`ENVELOPE_COLUMNS` is what
``envelopes.csv``, the Parquet day files and every summary read.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from oe_opt.inputs.case import DayCase
from oe_opt.methods.result import SearchResult
from oe_opt.network.opendss import DssNetwork

ENVELOPE_COLUMNS = ["day", "period", "time", "direction", "customer", "oe_kw", "method", "binding",
                    "v_lowest_v", "v_highest_v", "max_line_loading_pct", "transformer_loading_pct",
                    "n_powerflows", "verified", "status", "binding_margin_pct", "n_lp", "seconds",
                    "q_kvar", "p_kw"]


def envelope_rows(case: DayCase, t: int, direction: str, method: str, res: SearchResult,
          seconds: float) -> list[list]:
    oe = np.broadcast_to(np.asarray(res.oe_kw, dtype=float), (len(case.flex_names),))
    # reactive power at the envelope (kvar, load sign: + absorbed), from [customers] flexible_q
    c = res.check
    q = (np.broadcast_to(c.flex_q_kvar, oe.shape) if getattr(c, "flex_q_kvar", None) is not None
         else getattr(case, "flex_q_per_kw", 0.0) * np.abs(oe))
    # active power delivered at the envelope (kW, >= 0): the OE, or less where volt-watt curtails
    p = (np.abs(np.broadcast_to(c.flex_p_kw, oe.shape))
         if getattr(c, "flex_p_kw", None) is not None and np.isfinite(oe).all() else oe)
    verified = res.verified
    return [[case.day, t, case.times[t], direction, name, float(o), method, res.binding,
             c.v_lowest_v, c.v_highest_v, c.max_line_loading_pct, c.transformer_loading_pct,
             res.n_powerflows, verified, res.status,
             c.margin_pct, res.n_lp, seconds, float(qk), float(pk)]
            for name, o, qk, pk in zip(case.flex_names, oe, q, p)]


def voltage_rows(net: DssNetwork, case: DayCase, t: int, direction: str,
                  res: SearchResult) -> pd.DataFrame:
    v = res.check.voltage_v
    if v is None:
        v = np.full(len(net.voltage_labels), np.nan)
    return pd.DataFrame({"day": case.day, "period": t, "time": case.times[t], "direction": direction,
                         "customer": net.voltage_labels, "voltage_v": v})
