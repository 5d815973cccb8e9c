"""Many days and many networks: resumable runs, serial or on a Dask cluster.

:func:`run_days` computes the envelopes of many days of one study and writes
one Parquet file per day (``<out>/days/day_<DDD>.parquet``, DDD the 0-based
day index of the ``day`` column).  Each file is written to a temporary file and
moved into place with :func:`os.replace`, so a file either is complete or does
not exist.  Rerunning the same command skips the days whose files are valid —
readable, with the expected columns, row count (periods × directions ×
flexible customers), day and run key (a fingerprint of the study settings and
method) — and recomputes the rest, so an interrupted run resumes where it
stopped and loses nothing.

:func:`run_networks` runs a study template over many networks (e.g. the LV
networks imported from a workbook, or synthetic feeders), one Parquet file per
network, with the same resume logic.

Both run serially in this process, or in parallel on a local Dask cluster
(``workers=N``: N single-threaded worker processes) or an existing one
(``scheduler=ADDRESS``).  Each worker process compiles a study's network once
and reuses it for every day it is given; every day starts from a reset
solver state (:meth:`~oe_opt.network.DssNetwork.reset_solution`), so parallel
results equal serial results exactly (apart from the ``seconds`` timings).

Day numbers
-----------
``--days`` (the ``days`` string of :func:`parse_days`) counts days of the data
from 1 (1 = the first day, 365 = the last of 365): ``1-365`` is the whole year
and ``--days 221`` is ``--day 220``.  Everything else — ``--day``, the ``day``
column and the file names — uses the 0-based index.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from .chain import ENVELOPE_COLUMNS, Session, run_day, summarise
from .errors import OEError, StudyError
from .study import CustomerSpec, Study

#: Parquet schema-metadata key holding the run key
KEY_META = b"oe_opt.run_key"
#: Parquet schema-metadata key holding the expected number of rows
ROWS_META = b"oe_opt.rows"
#: bump to invalidate stored results when the result format changes
KEY_VERSION = 1


# --------------------------------------------------------------------------- days
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


def day_path(out_dir: str | Path, day: int) -> Path:
    """The Parquet file of 0-based `day`: ``<out_dir>/days/day_<DDD>.parquet``."""
    return Path(out_dir) / "days" / f"day_{int(day):03d}.parquet"


def network_path(out_dir: str | Path, name: str, day: int) -> Path:
    """The Parquet file of network `name` on 0-based `day` in a network-set run."""
    return Path(out_dir) / "networks" / f"{name}_day{int(day):03d}.parquet"


def run_key(study: Study, method: str, *extra: object) -> str:
    """Fingerprint of everything that determines a day's results except the day.

    Two runs with the same study settings (after command-line overrides),
    method and `extra` items have the same key; stored results are reused only
    when the keys match.
    """
    text = repr((KEY_VERSION, study.with_day(0), method, extra))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


# ----------------------------------------------------------------------- Parquet
def write_parquet_atomic(df: pd.DataFrame, path: str | Path, key: str) -> None:
    """Write `df` to `path` so that the file is either complete or absent.

    The table goes to a temporary file in the same folder, is flushed to disk,
    then moved into place with :func:`os.replace`.  The run `key` and the row
    count are stored in the Parquet schema metadata.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(df, preserve_index=False)
    meta = dict(table.schema.metadata or {})
    meta.update({KEY_META: key.encode(), ROWS_META: str(len(df)).encode()})
    table = table.replace_schema_metadata(meta)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            pq.write_table(table, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def read_valid_parquet(path: str | Path, key: str, n_rows: int | None = None,
                       columns: Sequence[str] = tuple(ENVELOPE_COLUMNS),
                       day: int | None = None) -> tuple[pd.DataFrame | None, str]:
    """Read a stored result if it is complete and belongs to this run.

    Parameters
    ----------
    path : Path
    key : str
        The run key (:func:`run_key`) the file must carry.
    n_rows : int, optional
        Expected rows; if omitted, the count stored in the file's metadata.
    columns : sequence of str
        Expected columns, in order.
    day : int, optional
        Every row's ``day`` must equal this.

    Returns
    -------
    (DataFrame or None, reason)
        The data and ``"ok"``, or None and why the file cannot be used:
        ``"missing"``, ``"unreadable"`` (truncated or corrupt),
        ``"other settings"``, ``"short"``, ``"wrong columns"``, ``"wrong day"``.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    if not path.is_file():
        return None, "missing"
    try:
        pf = pq.ParquetFile(path)
        meta = pf.schema_arrow.metadata or {}
        if meta.get(KEY_META) != key.encode():
            return None, "other settings"
        want = n_rows if n_rows is not None else int(meta.get(ROWS_META, b"-1"))
        if pf.metadata.num_rows != want:
            return None, "short"
        if list(pf.schema_arrow.names) != list(columns):
            return None, "wrong columns"
        df = pf.read().to_pandas()
    except (OSError, ValueError, pa.ArrowException):
        return None, "unreadable"
    if len(df) != want:
        return None, "short"
    if day is not None and not (df["day"] == day).all():
        return None, "wrong day"
    return df, "ok"


# ------------------------------------------------------------- worker sessions
_SESSIONS: dict[str, Session] = {}
#: keys of the cached sessions that have been warmed up
_WARM: set[str] = set()


def cached_session(study: Study, key: str) -> Session:
    """This process's compiled :class:`~oe_opt.chain.Session` for `study`, made once.

    One session is kept per process (the OpenDSS engine holds one circuit): a
    different `key` replaces it.
    """
    session = _SESSIONS.get(key)
    if session is None:
        _SESSIONS.clear()
        _WARM.clear()
        session = Session(study)
        _SESSIONS[key] = session
    return session


def warm_up(session: Session, study: Study, method: str, day: int) -> None:
    """Compute one period of `day` and discard it.

    Methods may build objects on first use and reuse them (e.g. the LP
    method's sensitivity model and LP solver), and a first use can differ in
    the last digits from later ones.  Warming every new session up once puts
    each day, whichever process computes it and whatever it computed before,
    in the same position: serial and parallel runs then agree exactly.
    """
    session.net.reset_solution()
    run_day(study, method=method, day=day, session=session, periods=[0], voltages=False)


def compute_day(study: Study, method: str, day: int, key: str) -> pd.DataFrame:
    """Envelopes of one day (a Dask task; also used by the serial run).

    The process's cached session is reused (warmed up on first use, see
    :func:`warm_up`); the solver is reset first so the result does not depend
    on the days this process computed before.
    """
    session = cached_session(study, key)
    if key not in _WARM:
        warm_up(session, study, method, day)
        _WARM.add(key)
    session.net.reset_solution()
    return run_day(study, method=method, day=day, session=session, voltages=False).envelopes


# ------------------------------------------------------------------- execution
@contextmanager
def dask_client(workers: int | None, scheduler: str | None) -> Iterator[object]:
    """A Dask client: on an existing scheduler, or on a local cluster of `workers` processes."""
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise StudyError("--workers/--scheduler need dask[distributed] installed") from exc
    if scheduler:
        try:
            client = Client(scheduler, timeout="20s")
        except (OSError, TimeoutError) as exc:
            raise StudyError(f"--scheduler {scheduler}: cannot connect: {exc}") from exc
        with client:
            yield client
        return
    import logging

    with LocalCluster(n_workers=int(workers), threads_per_worker=1, processes=True,
                      dashboard_address=None, silence_logs=logging.ERROR) as cluster, \
            Client(cluster) as client:
        yield client


def _execute(tasks: list[tuple[object, Callable, tuple]], workers: int | None,
             scheduler: str | None, on_result: Callable[[object, object], None],
             progress: bool, desc: str, done: int = 0, unit: str = "day") -> None:
    """Run ``fn(*args)`` for every ``(label, fn, args)``; call ``on_result(label, result)``
    as each finishes (in this process), with a progress bar."""
    from tqdm.auto import tqdm

    total = done + len(tasks)
    with tqdm(total=total, initial=done, desc=desc, unit=unit, disable=not progress,
              dynamic_ncols=True) as bar:
        if workers is None and scheduler is None:
            for label, fn, args in tasks:
                on_result(label, fn(*args))
                bar.update()
            return
        if not tasks:
            return
        from distributed import as_completed

        with dask_client(workers, scheduler) as client:
            futures = {client.submit(fn, *args, pure=False): label for label, fn, args in tasks}
            try:
                for fut in as_completed(futures):
                    on_result(futures[fut], fut.result())
                    bar.update()
            except BaseException:
                client.cancel(list(futures))
                raise


@dataclass
class BatchStats:
    """What a batch run did."""

    requested: int = 0
    computed: list = field(default_factory=list)
    reused: list = field(default_factory=list)
    #: files that existed but could not be used, with the reason
    recomputed: dict = field(default_factory=dict)
    seconds: float = 0.0
    period_hours: float = 0.5


def _check_workers(workers: int | None) -> None:
    if workers is not None and workers < 1:
        raise StudyError(f"--workers must be >= 1, got {workers}")


def study_days(session: Session) -> tuple[int, int, float]:
    """(days in the data, periods per day, period length in hours) of a session's study."""
    data = session.data
    if hasattr(data, "shapes"):  # network loadshapes
        return data.n_days, data.periods_per_day, data.period_hours
    n_days = min(data.load_kw.shape[1], data.pv.shape[0])
    n_periods = data.load_kw.shape[2]
    return n_days, n_periods, 24.0 / n_periods


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
              progress: bool) -> tuple[pd.DataFrame, BatchStats]:
    from .methods import get_method

    t0 = time.perf_counter()
    _check_workers(workers)
    method = method or study.envelope.method
    try:
        get_method(method)
    except KeyError as exc:
        raise StudyError(str(exc.args[0])) from exc
    key = run_key(study, method)
    session = cached_session(study, key)  # validates the study and network up front
    n_days, n_periods, period_hours = study_days(session)
    wanted = _resolve_days(days, study, n_days)
    session.case(wanted[0])  # checks the customers against the network
    n_rows = n_periods * len(study.envelope.directions) * len(study.customers.flexible)
    out_dir = Path(out_dir)
    stats = BatchStats(requested=len(wanted), period_hours=period_hours)
    frames: dict[int, pd.DataFrame] = {}
    todo = []
    for day in wanted:
        df, reason = read_valid_parquet(day_path(out_dir, day), key, n_rows, day=day)
        if df is not None:
            frames[day] = df
            stats.reused.append(day)
            continue
        if reason != "missing":
            stats.recomputed[day] = reason
        todo.append((day, compute_day, (study, method, day, key)))

    def save(day: int, env: pd.DataFrame) -> None:
        path = day_path(out_dir, day)
        write_parquet_atomic(env, path, key)
        df, reason = read_valid_parquet(path, key, n_rows, day=day)
        if df is None:
            raise OEError(f"{path}: day {day} gave {len(env)} rows, expected {n_rows} ({reason})")
        frames[day] = df
        stats.computed.append(day)

    _execute(todo, workers, scheduler, save, progress, desc=f"{study.name} days",
             done=len(stats.reused))
    envelopes = pd.concat([frames[d] for d in wanted], ignore_index=True)
    write_parquet_atomic(envelopes, out_dir / "envelopes.parquet", key)
    stats.seconds = time.perf_counter() - t0
    return envelopes, stats


def run_days(study: Study, days: str | Sequence[int] | None = None, workers: int | None = None,
             scheduler: str | None = None, out_dir: str | Path = Path("results"),
             method: str | None = None, progress: bool = True) -> pd.DataFrame:
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

    Returns
    -------
    DataFrame
        The envelopes of all requested days in day order (columns
        :data:`~oe_opt.chain.ENVELOPE_COLUMNS`), as stored.

    Raises
    ------
    StudyError, ProfileError, NetworkError
        For a bad study or day specification, before anything is computed.
    PowerFlowError
        If a period cannot be solved; the days finished before are kept.
    """
    return _run_days(study, days, workers, scheduler, Path(out_dir), method, progress)[0]


def run_days_cli(study: Study, days: str | None, workers: int | None, scheduler: str | None,
                 out_dir: Path) -> None:
    """``oe-opt run --days/--workers/--scheduler``: run, then print a summary."""
    import click

    try:
        env, stats = _run_days(study, days, workers, scheduler, Path(out_dir), None, True)
    except KeyboardInterrupt:
        click.echo(f"\ninterrupted: finished days are saved in {Path(out_dir) / 'days'}; "
                   f"rerun the same command to resume", err=True)
        raise SystemExit(130)
    click.echo(format_summary(study, env, stats, workers, scheduler))
    click.echo(f"wrote {Path(out_dir) / 'days'}/day_*.parquet ({len(stats.computed)} new) and "
               f"{Path(out_dir) / 'envelopes.parquet'}")


def format_summary(study: Study, env: pd.DataFrame, stats: BatchStats, workers: int | None,
                   scheduler: str | None) -> str:
    """A short text summary of a many-day run."""
    method = env["method"].iat[0] if len(env) else study.envelope.method
    where = (f"scheduler {scheduler}" if scheduler else
             f"{workers} workers" if workers else "serial")
    lines = [f"study {study.name}  method {method}  days {stats.requested}  flexible customers "
             f"{env['customer'].nunique()}  ({where})",
             f"computed {len(stats.computed)} days, reused {len(stats.reused)} in "
             f"{stats.seconds:.1f} s"]
    if stats.recomputed:
        reasons = pd.Series(stats.recomputed).value_counts()
        lines.append("recomputed damaged or outdated day files: " +
                     ", ".join(f"{n} {r}" for r, n in reasons.items()))
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        lines.append(summarise(env, stats.period_hours).round(3).to_string())
    return "\n".join(lines)


# -------------------------------------------------------------- network sets
def select_flexible(load_names: Sequence[str], flexible: str | float = "all") -> list[str]:
    """Pick the flexible customers of a network for a network-set run.

    Parameters
    ----------
    load_names : sequence of str
        All loads in network order.
    flexible : "all" or float
        ``"all"``, or a fraction in (0, 1]: that share of the loads, spread
        evenly through the network order (at least one).

    Returns
    -------
    list of str
    """
    names = list(load_names)
    if flexible == "all":
        return names
    f = float(flexible)
    if not 0 < f <= 1:
        raise StudyError(f"flexible fraction must be in (0, 1], got {flexible!r}")
    picked = [n for i, n in enumerate(names) if np.floor((i + 1) * f) > np.floor(i * f)]
    return picked or names[:1]


def network_study(template: Study, master: str | Path, load_names: Sequence[str],
                  flexible: str | float = "all", name: str | None = None) -> Study:
    """The study `template` applied to another network.

    The network's flexible customers are chosen by :func:`select_flexible`;
    every other load is a fixed customer without DER (the template's
    ``fixed_der`` names belong to its own network and are dropped); the
    per-customer caps and weights are the template's envelope caps.
    """
    flex = tuple(n.lower() for n in select_flexible(load_names, flexible))
    env = template.envelope
    customers = CustomerSpec(
        flexible=flex, fixed_der=(), fixed=None, der_kw={},
        fixed_pf=template.customers.fixed_pf,
        export_max_kw={n: env.export_max_kw for n in flex},
        import_max_kw={n: env.import_max_kw for n in flex},
        export_weight={n: env.export_max_kw for n in flex},
        import_weight={n: env.import_max_kw for n in flex})
    master = Path(master).resolve()
    return replace(template, name=name or master.parent.name,
                   network=replace(template.network, master=master), customers=customers)


def compute_network(template: Study, master: str, name: str, day: int, method: str,
                    flexible: str | float) -> pd.DataFrame:
    """Envelopes of one network for one day (a Dask task), with a ``network`` column first."""
    from .network import DssNetwork

    t0 = time.perf_counter()
    net = DssNetwork(master, voltage_bases_kv=template.network.voltage_bases_kv)
    study = network_study(template, master, net.load_names, flexible, name)
    _SESSIONS.clear()  # the engine now holds this network
    _WARM.clear()
    session = Session(study, net=net)
    warm_up(session, study, method, day)
    session.net.reset_solution()
    env = run_day(study, method=method, day=day, session=session, voltages=False).envelopes
    env.insert(0, "network", name)
    env["network_seconds"] = time.perf_counter() - t0
    env["n_customers"] = len(net.load_names)
    return env


NETWORK_COLUMNS = ["network"] + ENVELOPE_COLUMNS + ["network_seconds", "n_customers"]


@dataclass
class TaskError:
    """A task that raised: the exception's type and message."""

    message: str


def captured(fn: Callable, *args) -> object:
    """``fn(*args)``, or a :class:`TaskError` if it raises an :class:`~oe_opt.errors.OEError`."""
    try:
        return fn(*args)
    except OEError as exc:
        return TaskError(f"{type(exc).__name__}: {exc}")


def network_names(masters: Sequence[str | Path]) -> list[str]:
    """A unique short name per master file: its folder name (numbered if folders repeat)."""
    names = [Path(m).resolve().parent.name for m in masters]
    if len(set(names)) == len(names):
        return names
    return [f"{i:03d}_{n}" for i, n in enumerate(names)]


def run_networks(template: Study, masters: Sequence[str | Path], out_dir: str | Path,
                 day: int | None = None, method: str | None = None,
                 flexible: str | float = "all", workers: int | None = None,
                 scheduler: str | None = None, progress: bool = True,
                 errors: str = "raise") -> pd.DataFrame:
    """Run a study template over many networks for one day, resumably.

    Parameters
    ----------
    template : Study
        Limits, envelope settings, profiles (demand of the fixed customers)
        and source voltage to apply to every network.
    masters : sequence of path
        The networks' OpenDSS master files.
    out_dir : str or Path
        ``networks/<name>_day<DDD>.parquet`` per network and
        ``networks.parquet`` with all of them.
    day : int, optional
        0-based day; the template's day if omitted.
    method : str, optional
        The template's method if omitted.
    flexible : "all" or float
        Flexible customers of each network (:func:`select_flexible`).
    workers, scheduler, progress
        As for :func:`run_days`; parallel runs spread the networks.
    errors : {"raise", "record"}
        On a network that fails (e.g. a period that cannot be solved):
        stop with the error, or record it in ``result.attrs["failed"]``
        (network name -> message) and go on with the others.

    Returns
    -------
    DataFrame
        Columns ``network``, :data:`~oe_opt.chain.ENVELOPE_COLUMNS`,
        ``network_seconds`` (wall time of that network: compiling, warming
        up and computing the day) and ``n_customers``, networks in the order
        given.
    """
    if errors not in ("raise", "record"):
        raise ValueError(f"errors must be 'raise' or 'record', not {errors!r}")
    _check_workers(workers)
    method = method or template.envelope.method
    day = template.profiles.day if day is None else int(day)
    out_dir = Path(out_dir)
    masters = [str(Path(m).resolve()) for m in masters]
    for m in masters:
        if not Path(m).is_file():
            raise StudyError(f"network master file not found: {m}")
    names = network_names(masters)
    frames: dict[str, pd.DataFrame] = {}
    todo, keys = [], {}
    for master, name in zip(masters, names):
        keys[name] = run_key(template, method, "network", master, str(flexible), day)
        df, _ = read_valid_parquet(network_path(out_dir, name, day), keys[name],
                                   columns=NETWORK_COLUMNS, day=day)
        if df is not None:
            frames[name] = df
        else:
            args = (template, master, name, day, method, flexible)
            todo.append((name, captured, (compute_network, *args)) if errors == "record" else
                        (name, compute_network, args))
    failed: dict[str, str] = {}

    def save(name: str, env: pd.DataFrame | TaskError) -> None:
        if isinstance(env, TaskError):
            failed[name] = env.message
            return
        path = network_path(out_dir, name, day)
        write_parquet_atomic(env, path, keys[name])
        frames[name] = read_valid_parquet(path, keys[name], columns=NETWORK_COLUMNS, day=day)[0]

    _execute(todo, workers, scheduler, save, progress, desc="networks",
             done=len(masters) - len(todo), unit="network")
    done = [n for n in names if n in frames]
    out = pd.concat([frames[n] for n in done], ignore_index=True) if done else \
        pd.DataFrame(columns=NETWORK_COLUMNS)
    write_parquet_atomic(out, out_dir / "networks.parquet",
                         run_key(template, method, "network-set", tuple(masters), day))
    out.attrs["failed"] = failed
    return out
