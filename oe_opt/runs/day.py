"""Orchestration: run a method over every period and direction of a study day.

The thin layer on top of the pure pieces (like pvlib's ``ModelChain``):
compile the network once, build the day's injections, call the method for each
period and direction, and collect tidy DataFrames.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import pandas as pd

from oe_opt.inputs.case import DayCase, ProfileData, build_day_case, read_profile_data
from oe_opt.errors import PowerFlowError, StudyError
from oe_opt.methods.blas import one_blas_thread
from oe_opt.methods.evaluator import PowerFlowEvaluator
from oe_opt.io.results import EnvelopeColumns, voltage_rows
from oe_opt.methods.registry import get_method
from oe_opt.problem import EnvelopeProblem, build_problem
from oe_opt.methods.result import nonconvergent_result
from oe_opt.network.opendss import DssNetwork
from oe_opt.runs.bounds import check_bounds
from oe_opt.study import Study

#: a day's progress bar (``run_day(progress=True)``) appears once the day has run this long (s)
PROGRESS_DELAY_S = 1.0


@dataclass
class DayResult:
    """Results of one day.

    Attributes
    ----------
    columns : EnvelopeColumns
        The envelope table as built (:attr:`envelopes` as a DataFrame, :meth:`envelope_table`
        as Arrow).
    voltages : DataFrame
        Customer voltages (V) at the reported envelopes: one row per (period,
        direction, customer), columns ``day, period, time, direction,
        customer, voltage_v``.
    period_hours : float
        Period length (h), from the day case (the one owner of time).
    problem : EnvelopeProblem
        What the method solved (caps, weights, limits).
    """

    columns: EnvelopeColumns
    voltages: pd.DataFrame
    period_hours: float
    problem: EnvelopeProblem

    @cached_property
    def envelopes(self) -> pd.DataFrame:
        """One row per (period, direction, flexible customer); columns
        :data:`~oe_opt.io.results.ENVELOPE_COLUMNS` (made on first use)."""
        return self.columns.frame()

    def envelope_table(self) -> "pa.Table":
        """The envelope table run_day built, as Arrow: ``pa.Table.from_pandas(envelopes,
        preserve_index=False)`` of the DataFrame :attr:`columns` makes, without making it (what
        the run store writes).  A DataFrame assigned to :attr:`envelopes` afterwards (e.g.
        with an objective's columns added) is not in it."""
        return self.columns.table()


def open_network(study: Study) -> DssNetwork:
    """Compile the study's network with PV systems for its DER customers."""
    return DssNetwork(study.network.master, pv_kw=dict(study.customers.der_kw),
                      voltage_bases_kv=study.network.voltage_bases_kv)


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
            voltages: bool = True, progress: bool = False,
            on_period: Callable[[int, pd.DataFrame], None] | None = None) -> DayResult:
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
    progress : bool
        Show a progress bar over the periods (tqdm, on stderr) once the day
        takes more than a second.
    on_period : callable, optional
        Called after each period with the period and its envelope rows (both
        directions, the columns of the returned table): long days can record
        what finished as it finishes.

    A period and direction whose power flow does not converge even with
    every flexible customer at 0 kW is reported with status
    ``nonconvergent`` (no envelope, ``binding`` ``power_flow:not_converged``,
    not verified); the other periods are computed as usual.

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
    check_bounds(study, method, session.net)
    case = session.case(day)
    problem = build_problem(study, case.flex_names)
    ev = PowerFlowEvaluator(session.net, problem.limits, case)
    solve = factory(problem, session.net, case)
    table, vrows = EnvelopeColumns(case, method), []
    bad = [t for t in periods or [] if not 0 <= t < case.n_periods]
    if bad:
        raise StudyError(f"period {bad[0]} is outside the day (0-based periods "
                         f"0..{case.n_periods - 1})")
    todo = periods if periods is not None else range(case.n_periods)
    if progress:
        from tqdm import tqdm

        todo = tqdm(todo, unit="period", desc=f"{study.name} day {case.day}",
                    delay=PROGRESS_DELAY_S, leave=False)
    with one_blas_thread():     # once for the day (the methods' own inside it are free)
        for t in todo:
            first = len(table)
            for k, direction in enumerate(problem.directions):
                # the period's fixed injections once for both directions (the methods set
                # only the flexible customers')
                ev.set_period(t, apply=k == 0)
                t0 = time.perf_counter()
                res = _solve_or_nonconvergent(solve, ev, direction, session.net, t)
                seconds = time.perf_counter() - t0
                table.append(t, direction, res, seconds)
                if voltages:
                    vrows.append(voltage_rows(session.net, case, t, direction, res))
            if on_period is not None:
                on_period(t, table.frame(first))
    volt = pd.concat(vrows, ignore_index=True) if vrows else pd.DataFrame()
    return DayResult(table, volt, case.period_hours, problem)


def _solve_or_nonconvergent(solve, ev: PowerFlowEvaluator, direction: str, net: DssNetwork,
                            t: int):
    """``solve(ev, direction)``; if not even 0 kW solves, retry once from a clean start, then
    report the period as ``nonconvergent`` (a failed power flow leaves a bad starting point,
    so the solver is reset for the periods that follow)."""
    n = 0
    for attempt in range(2):
        try:
            res = solve(ev, direction)
            res.n_powerflows += n
            return res
        except PowerFlowError as exc:
            n += ev.n_powerflows
            message = str(exc)
            net.reset_solution()
            ev.set_period(t)
    return nonconvergent_result(n, message)
