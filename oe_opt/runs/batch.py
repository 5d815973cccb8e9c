"""Many days of one study: day selection and resumable many-day runs.

:func:`run_days` computes the envelopes of many days of one study and writes
one Parquet file per day (``<out>/days/day_<DDD>.parquet``, DDD the 0-based
day index of the ``day`` column) and ``<out>/envelopes.parquet`` with all of
them.  Files are written atomically and reused only when valid
(:mod:`oe_opt.runs.storage`): rerunning the same command skips the finished days
and recomputes the rest, so an interrupted run resumes where it stopped.
Days run serially in this process, or in parallel on a local or existing Dask
cluster (:mod:`oe_opt.runs.parallel`), with results equal to the serial ones.

Network sets (:func:`~oe_opt.runs.netset.run_networks` and its helpers) live in
:mod:`oe_opt.runs.netset`; they and the storage and worker-session names are
re-exported here for existing callers.

Day numbers
-----------
``--days`` (the ``days`` string of :func:`parse_days`) counts days of the data
from 1 (1 = the first day, 365 = the last of 365): ``1-365`` is the whole year
and ``--days 221`` is ``--day 220``.  Everything else — ``--day``, the ``day``
column and the file names — uses the 0-based index.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa

from oe_opt.runs.day import Session, run_day
from oe_opt.analysis.summary import summarise
from oe_opt.errors import OEError, StudyError
from oe_opt.runs.parallel import cached_session, check_scheduler, check_workers, execute, worker_session
from oe_opt.runs.storage import (check_written, day_path, read_valid_parquet, read_valid_table,
                                 run_key, write_parquet_atomic, write_table_atomic)
from oe_opt.runs.fingerprint import input_digests
from oe_opt.runs.bounds import check_bounds
from oe_opt.runs.outdir import claim
from oe_opt.study import Study

def parse_days(spec: str, n_days: int) -> list[int]:
    """Parse a ``--days`` specification into sorted 0-based day indices.

    Parameters
    ----------
    spec : str
        Day numbers counted from 1 (1 = first day of the data): a range
        ``"1-365"``, a list ``"1,32,60"``, a single day ``"221"``, a mix
        ``"1-7,200-210"``, or ``"all"``.
    n_days : int
        Number of days in the data.

    Returns
    -------
    list of int
        Sorted, unique 0-based day indices (``"221"`` -> ``[220]``).

    Raises
    ------
    StudyError
        For an empty or malformed specification, a reversed range, or a day
        outside 1..`n_days`, with the valid range in the message.
    """
    text = str(spec).strip().lower()
    hint = (f"--days counts days from 1 (1..{n_days} for this data; --days 221 is --day 220), "
            f"e.g. 1-{n_days}, 1,32,60 or all")
    if not text:
        raise StudyError(f"--days is empty; {hint}")
    if text == "all":
        return list(range(n_days))
    out: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        bounds = [b.strip() for b in part.split("-")] if "-" in part else [part]
        if len(bounds) not in (1, 2) or not all(b.isdigit() for b in bounds):
            raise StudyError(f"--days: cannot read {part!r}; {hint}")
        lo, hi = int(bounds[0]), int(bounds[-1])
        if hi < lo:
            raise StudyError(f"--days: range {part!r} runs backwards; {hint}")
        bad = [d for d in (lo, hi) if not 1 <= d <= n_days]
        if bad:
            raise StudyError(f"--days: day {bad[0]} is outside the data (1..{n_days}); {hint}")
        out.update(range(lo - 1, hi))
    return sorted(out)


def compute_day(study: Study, method: str, day: int, key: str) -> "pa.Table":
    """Envelopes of one day as an Arrow table, as stored (a Dask task; also used by the
    serial run).

    The process's cached session is reused (warmed up on first use, see
    :func:`~oe_opt.runs.parallel.warm_up`); the solver is reset first so the result
    does not depend on the days this process computed before.
    """
    session = worker_session(study, key, method, day)
    return run_day(study, method=method, day=day, session=session,
                   voltages=False).envelope_table()


@dataclass
class BatchStats:
    """What a batch run did."""

    requested: int = 0
    computed: list = field(default_factory=list)
    reused: list = field(default_factory=list)
    #: files that existed but could not be used, with the reason
    recomputed: dict = field(default_factory=dict)
    seconds: float = 0.0
    #: period length (h), from the study's data (as its day cases have it)
    period_hours: float = float("nan")


def envelope_caps(study: Study) -> dict[tuple[str, str], float]:
    """``{(direction, customer): cap kW}`` of a study's flexible customers."""
    return {(d, c): float(v) for d in ("export", "import")
            for c, v in getattr(study.customers, f"{d}_max_kw").items()}


def study_days(session: Session) -> tuple[int, int, float]:
    """(days in the data, periods per day, period length in hours) of a session's study."""
    data = session.data
    if hasattr(data, "shapes"):  # network loadshapes
        return data.n_days, data.periods_per_day, data.period_hours
    n_days = min(data.load_kw.shape[1], data.pv.shape[0])
    n_periods = data.load_kw.shape[2]
    return n_days, n_periods, data.period_hours


def _resolve_days(days: str | Sequence[int] | None, study: Study, n_days: int) -> list[int]:
    if days is None:
        days = [study.profiles.day]
    if isinstance(days, str):
        return parse_days(days, n_days)
    out = sorted({int(d) for d in days})
    if not out:
        raise StudyError("no days to run")
    bad = [d for d in out if not 0 <= d < n_days]
    if bad:
        raise StudyError(f"day {bad[0]} is outside the data (0-based days 0..{n_days - 1})")
    return out


def _run_days(study: Study, days: str | Sequence[int] | None, workers: int | None,
              scheduler: str | None, out_dir: Path, method: str | None,
              progress: bool, force: bool = False) -> tuple[pd.DataFrame, BatchStats]:
    from oe_opt.methods.registry import get_method

    t0 = time.perf_counter()
    check_workers(workers)
    check_scheduler(scheduler)
    method = method or study.envelope.method
    try:
        get_method(method)
    except KeyError as exc:
        raise StudyError(str(exc.args[0])) from exc
    inputs = input_digests(study)
    key = run_key(study, method, inputs=inputs)
    caps = envelope_caps(study)
    session = cached_session(study, key)  # validates the study and network up front
    check_bounds(study, method, session.net)
    n_days, n_periods, period_hours = study_days(session)
    wanted = _resolve_days(days, study, n_days)
    session.case(wanted[0])  # checks the customers against the network
    with claim(out_dir, study.path, "run", key, force):  # one study and one run per folder
        return _run_claimed(study, wanted, workers, scheduler, Path(out_dir), method, progress,
                            key, inputs, caps, n_periods, period_hours, t0)


def _run_claimed(study, wanted, workers, scheduler, out_dir, method, progress, key, inputs, caps,
                 n_periods, period_hours, t0) -> tuple[pd.DataFrame, BatchStats]:
    n_rows = n_periods * len(study.envelope.directions) * len(study.customers.flexible)
    out_dir = Path(out_dir)
    stats = BatchStats(requested=len(wanted), period_hours=period_hours)
    # the days as Arrow tables (as stored and read back), made one DataFrame once at the end
    frames: dict[int, pa.Table] = {}
    todo = []
    for day in wanted:
        table, reason = read_valid_table(day_path(out_dir, day), key, n_rows, day=day,
                                         inputs=inputs, caps=caps)
        if table is not None:
            frames[day] = table
            stats.reused.append(day)
            continue
        if reason != "missing":
            stats.recomputed[day] = reason
        todo.append((day, compute_day, (study, method, day, key)))

    def save(day: int, table: pa.Table) -> None:
        path = day_path(out_dir, day)
        checksum = write_table_atomic(table, path, key, inputs)
        # the checks of a reused file (footer, rows, checksum) on the rows as stored
        reason = check_written(path, table, checksum, key, n_rows, day=day, caps=caps)
        if reason is not None:
            raise OEError(f"{path}: day {day} gave {table.num_rows} rows, expected {n_rows} "
                          f"({reason})")
        frames[day] = table
        stats.computed.append(day)

    execute(todo, workers, scheduler, save, progress, desc=f"{study.name} days",
            done=len(stats.reused))
    # one chunk per column (the first day's schema metadata): 365 chunks made the CSV
    # writer's batches small (envelopes.csv twice as slow)
    table = pa.concat_tables([frames[d] for d in wanted]).combine_chunks()
    write_table_atomic(table, out_dir / "envelopes.parquet", key, inputs)
    envelopes = table.to_pandas()
    stats.seconds = time.perf_counter() - t0
    return envelopes, stats


def run_days(study: Study, days: str | Sequence[int] | None = None, workers: int | None = None,
             scheduler: str | None = None, out_dir: str | Path = Path("results"),
             method: str | None = None, progress: bool = True,
             force: bool = False) -> pd.DataFrame:
    """Compute the envelopes of many days, one resumable Parquet file per day.

    Parameters
    ----------
    study : Study
    days : str or sequence of int, optional
        A ``--days`` string (days counted from 1, see :func:`parse_days`), or
        0-based day indices; the study's day if omitted.
    workers : int, optional
        Run on a local Dask cluster of this many single-threaded processes.
    scheduler : str, optional
        Address of an existing Dask scheduler (its workers must see the
        study's files at the same paths).
    out_dir : str or Path
        Output folder: ``days/day_<DDD>.parquet`` per day and
        ``envelopes.parquet`` with all days.
    method : str, optional
        The study's ``[envelope] method`` if omitted.
    progress : bool
        Show a progress bar (tqdm, on stderr).
    force : bool
        Clear an `out_dir` holding another study's results instead of
        refusing it (:mod:`oe_opt.runs.outdir`).

    Returns
    -------
    DataFrame
        The envelopes of all requested days in day order (columns
        :data:`~oe_opt.io.results.ENVELOPE_COLUMNS`), as stored.

    Raises
    ------
    StudyError, ProfileError, NetworkError
        For a bad study or day specification, before anything is computed.
    PowerFlowError
        If a period cannot be solved; the days finished before are kept.
    """
    return _run_days(study, days, workers, scheduler, Path(out_dir), method, progress, force)[0]


def run_days_cli(study: Study, days: str | None, workers: int | None, scheduler: str | None,
                 out_dir: Path, force: bool = False) -> None:
    """``oe-opt run --days/--workers/--scheduler``: run, then print a summary."""
    import click

    try:
        env, stats = _run_days(study, days, workers, scheduler, Path(out_dir), None, True, force)
    except KeyboardInterrupt:
        click.echo(f"\ninterrupted: finished days are saved in {Path(out_dir) / 'days'}; "
                   f"rerun the same command to resume", err=True)
        raise SystemExit(130)
    from oe_opt.io.outputs import write_days_outputs

    written = write_days_outputs(study, env, stats.period_hours, Path(out_dir))
    click.echo(format_summary(study, env, stats, workers, scheduler))
    click.echo(f"wrote {Path(out_dir) / 'days'}/day_*.parquet ({len(stats.computed)} new), "
               f"{Path(out_dir) / 'envelopes.parquet'}, " + ", ".join(str(p) for p in written))
    from oe_opt.cli.common import exit_on_failures

    exit_on_failures(env)


def format_summary(study: Study, env: pd.DataFrame, stats: BatchStats, workers: int | None,
                   scheduler: str | None) -> str:
    """A short text summary of a many-day run."""
    method = env["method"].iat[0] if len(env) else study.envelope.method
    where = (f"scheduler {scheduler}" if scheduler else
             f"{workers} workers" if workers else "serial")
    from oe_opt.io.outputs import days_title

    span = days_title(study, sorted(int(d) for d in env["day"].unique())) if len(env) else ""
    lines = [f"study {study.name}  method {method}  days {stats.requested} ({span})  flexible "
             f"customers {env['customer'].nunique()}  ({where})",
             f"computed {len(stats.computed)} days, reused {len(stats.reused)} in "
             f"{stats.seconds:.1f} s"]
    if stats.recomputed:
        reasons = pd.Series(stats.recomputed).value_counts()
        lines.append("recomputed damaged or outdated day files: " +
                     "; ".join(f"{n} {r}" for r, n in reasons.items()))
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        lines.append(summarise(env, stats.period_hours).round(3).to_string())
    return "\n".join(lines)
