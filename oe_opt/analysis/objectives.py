"""Compare allocation objectives on one study day.

Runs the per-customer LP (method ``alloc``) once per allocation objective —
``equal``, ``proportional``, ``max_total``, ``maxmin``, ``log_fair`` — and
the power-flow baseline ``heuristic`` (:mod:`oe_opt.methods.heuristic`) on the same
compiled network, then summarises each (objective, direction) with
:func:`oe_opt.analysis.fairness.allocation_metrics`.

The per-customer caps (DER size for exports, import limit for imports) and
the proportional weights come from the study's ``[customers]`` tables.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from oe_opt.runs.day import DayResult, Session, run_day
from oe_opt.io.results import ENVELOPE_COLUMNS
from oe_opt.analysis.fairness import allocation_metrics
from oe_opt.model.allocations import allocation_names
from oe_opt.study import Study

#: the power-flow baseline compared with the LP objectives
BASELINE = "heuristic"
#: every objective compared, in table order
OBJECTIVES = (*allocation_names(), BASELINE)
#: columns of ``objectives.csv``
TABLE_COLUMNS = ["objective", "direction", "total_kwh", "mean_kw", "min_kw", "max_kw", "jain_index",
                 "n_powerflows", "seconds", "all_verified"]
#: columns of ``objective_envelopes.csv``
ENVELOPE_TABLE_COLUMNS = ["objective", *ENVELOPE_COLUMNS, "cap_kw"]


@dataclass
class ObjectivesResult:
    """Envelopes of every objective on one day and their summary.

    Attributes
    ----------
    envelopes : DataFrame
        Per-customer envelopes, columns :data:`ENVELOPE_TABLE_COLUMNS`
        (``cap_kw`` is the customer's cap in the row's direction).
    table : DataFrame
        One row per (objective, direction), columns :data:`TABLE_COLUMNS`.
    period_hours : float
        Period length (h) used for the energies.
    """

    envelopes: pd.DataFrame
    table: pd.DataFrame
    period_hours: float


def run_objective(study: Study, objective: str, day: int | None = None, session: Session | None = None,
                  periods: list[int] | None = None) -> DayResult:
    """Per-customer envelopes of one objective.

    The returned day's envelopes are tidy with two more columns: ``objective``
    and ``cap_kw`` (the customer's own cap in that direction).

    Parameters
    ----------
    study : Study
    objective : str
        A registered allocation (:mod:`oe_opt.model.allocations`, solved by
        the LP method ``alloc``) or ``heuristic``.
    day : int, optional
        0-based day (the study's if omitted).
    session : Session, optional
        Shared compiled network and profiles.
    periods : list of int, optional
        Only these periods.
    """
    if objective == BASELINE:
        res = run_day(study, BASELINE, day=day, session=session, periods=periods)
    else:
        res = run_day(study.with_allocation(objective), "alloc", day=day, session=session,
                      periods=periods)
    env = res.envelopes.copy()
    env.insert(0, "objective", objective)
    pos = {c: i for i, c in enumerate(res.problem.flex_names)}
    env["cap_kw"] = [res.problem.customer_caps_kw(d)[pos[c]]
                     for d, c in zip(env["direction"], env["customer"])]
    out = replace(res)
    out.envelopes = env          # the table with the objective's columns
    return out


def objectives_table(envelopes: pd.DataFrame, period_hours: float) -> pd.DataFrame:
    """Summary of every (objective, direction): size, fairness, cost, verification.

    Parameters
    ----------
    envelopes : DataFrame
        As :attr:`ObjectivesResult.envelopes`.
    period_hours : float
        Period length (h).

    Returns
    -------
    DataFrame
        Columns :data:`TABLE_COLUMNS`; ``total_kwh`` is Σ kW × period length
        over customers and periods, ``min_kw``/``mean_kw``/``max_kw`` are
        over every customer and feasible period, ``jain_index`` is the mean
        over feasible periods of Jain's index across customers,
        ``n_powerflows`` and ``seconds`` are totals over the periods.
    """
    rows = []
    for (obj, d), g in envelopes.groupby(["objective", "direction"], sort=False):
        m = allocation_metrics(g, period_hours)
        rows.append({"objective": obj, "direction": d, **{k: m[k] for k in TABLE_COLUMNS[2:]}})
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)


def run_objectives(study: Study, day: int | None = None, session: Session | None = None,
                   periods: list[int] | None = None,
                   objectives: tuple[str, ...] = OBJECTIVES) -> ObjectivesResult:
    """Run every objective on one day with one shared network.

    Parameters
    ----------
    study : Study
    day : int, optional
        0-based day (the study's if omitted).
    session : Session, optional
        Reused if given (else one is opened and shared by the objectives).
    periods : list of int, optional
        Only these periods (every period if omitted).
    objectives : tuple of str
        Which objectives (default: the five LP allocations and the heuristic).

    Returns
    -------
    ObjectivesResult
    """
    unknown = [o for o in objectives if o not in OBJECTIVES]
    if unknown:
        raise ValueError(f"unknown objective(s) {', '.join(unknown)}; known: {', '.join(OBJECTIVES)}")
    session = session or Session(study)
    days = [run_objective(study, o, day, session, periods) for o in objectives]
    env = pd.concat([r.envelopes for r in days], ignore_index=True)
    hours = days[0].period_hours  # the day case's period length (the same day for every objective)
    return ObjectivesResult(env[ENVELOPE_TABLE_COLUMNS], objectives_table(env, hours), hours)


def per_period_totals(envelopes: pd.DataFrame) -> pd.DataFrame:
    """Sum and minimum of the customers' envelopes per (objective, direction, period), kW."""
    return (envelopes.groupby(["objective", "direction", "period"], sort=False)["oe_kw"]
            .agg(total_kw=lambda s: float(np.nansum(s)), min_kw="min").reset_index())
