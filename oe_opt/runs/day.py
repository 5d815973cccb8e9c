"""Orchestration: run a method over every period and direction of a study day.

The thin layer on top of the pure pieces (like pvlib's ``ModelChain``):
compile the network once, build the day's injections, call the method for each
period and direction, and collect tidy DataFrames.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from oe_opt.inputs.case import DayCase, ProfileData, build_day_case, open_network, read_profile_data
from oe_opt.errors import StudyError
from oe_opt.methods.evaluator import PowerFlowEvaluator
from oe_opt.analysis.fairness import energy_kwh
from oe_opt.methods.registry import get_method
from oe_opt.network.opendss import DssNetwork
from oe_opt.methods.result import INFEASIBLE, SearchResult
from oe_opt.study import Study

ENVELOPE_COLUMNS = ["day", "period", "time", "direction", "customer", "oe_kw", "method", "binding",
                    "v_lowest_v", "v_highest_v", "max_line_loading_pct", "transformer_loading_pct",
                    "n_powerflows", "verified", "status", "binding_margin_pct", "n_lp", "seconds"]


@dataclass
class DayResult:
    """Results of one day.

    Attributes
    ----------
    envelopes : DataFrame
        One row per (period, direction, flexible customer); columns
        :data:`ENVELOPE_COLUMNS`.
    voltages : DataFrame
        Customer voltages (V) at the reported envelopes: one row per (period,
        direction, customer), columns ``day, period, time, direction,
        customer, voltage_v``.
    """

    envelopes: pd.DataFrame
    voltages: pd.DataFrame
    #: period length, hours
    period_hours: float = 0.5


class Session:
    """A compiled network and a study's profile data, reusable across days and methods."""

    def __init__(self, study: Study, net: DssNetwork | None = None, data: ProfileData | None = None):
        self.study = study
        self.net = net if net is not None else open_network(study)
        # network loadshapes are read from the freshly compiled circuit
        self.data = data if data is not None else read_profile_data(study, self.net)

    def case(self, day: int | None = None) -> DayCase:
        """The injections of `day` (the study's day if omitted)."""
        return build_day_case(self.study, self.net, self.data, day)


def run_day(study: Study, method: str | None = None, day: int | None = None,
            session: Session | None = None, periods: list[int] | None = None,
            voltages: bool = True) -> DayResult:
    """Compute the envelopes of one day.

    Parameters
    ----------
    study : Study
    method : str, optional
        Registered method name (``step``, ``bisect``, ``lp``, ...); the
        study's ``[envelope] method`` if omitted.
    day : int, optional
        0-based day; the study's day if omitted.
    session : Session, optional
        Reuse a compiled network and loaded profiles.
    periods : list of int, optional
        Only these periods (all if omitted).
    voltages : bool
        Collect the customer voltages (``DayResult.voltages``); False leaves
        it empty, saving time in long batch runs.

    Returns
    -------
    DayResult
    """
    method = method or study.envelope.method
    try:
        factory = get_method(method)
    except KeyError as exc:
        raise StudyError(str(exc.args[0])) from exc
    session = session or Session(study)
    case = session.case(day)
    ev = PowerFlowEvaluator(session.net, study.limits, case)
    solve = factory(study, session.net, case)
    rows, vrows = [], []
    for t in periods if periods is not None else range(case.n_periods):
        for direction in study.envelope.directions:
            ev.set_period(t)
            t0 = time.perf_counter()
            res = solve(ev, direction)
            seconds = time.perf_counter() - t0
            rows.extend(_rows(case, t, direction, method, res, seconds))
            if voltages:
                vrows.append(_voltage_rows(session.net, case, t, direction, res))
    env = pd.DataFrame(rows, columns=ENVELOPE_COLUMNS)
    volt = pd.concat(vrows, ignore_index=True) if vrows else pd.DataFrame()
    return DayResult(env, volt, case.period_hours)


def _rows(case: DayCase, t: int, direction: str, method: str, res: SearchResult,
          seconds: float) -> list[list]:
    oe = np.broadcast_to(np.asarray(res.oe_kw, dtype=float), (len(case.flex_names),))
    c = res.check
    verified = res.verified
    return [[case.day, t, case.times[t], direction, name, float(o), method, res.binding,
             c.v_lowest_v, c.v_highest_v, c.max_line_loading_pct, c.transformer_loading_pct,
             res.n_powerflows, verified, res.status,
             c.margin_pct, res.n_lp, seconds]
            for name, o in zip(case.flex_names, oe)]


def _voltage_rows(net: DssNetwork, case: DayCase, t: int, direction: str,
                  res: SearchResult) -> pd.DataFrame:
    v = res.check.voltage_v
    if v is None:
        v = np.full(len(net.voltage_labels), np.nan)
    return pd.DataFrame({"day": case.day, "period": t, "time": case.times[t], "direction": direction,
                         "customer": net.voltage_labels, "voltage_v": v})


def summarise(envelopes: pd.DataFrame, period_hours: float = 0.5) -> pd.DataFrame:
    """Per-direction summary of a day's envelopes.

    Returns
    -------
    DataFrame
        Index: direction; columns: periods, infeasible, at_cap, mean_oe_kw,
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
            "mean_oe_kw": g.oe_kw.mean(), "min_oe_kw": g.oe_kw.min(), "max_oe_kw": g.oe_kw.max(),
            "energy_kwh": energy_kwh(g.oe_kw, period_hours),
            "n_powerflows": int(g.n_powerflows.sum()), "seconds": float(g.seconds.sum()),
            "all_verified": bool(g.verified.all()),
            "most_binding": limited.binding.mode().iat[0] if len(limited) else "cap",
        })
    return pd.DataFrame(out).set_index("direction")
