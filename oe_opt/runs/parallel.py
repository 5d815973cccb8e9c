"""Running batch tasks serially or on a Dask cluster, and the worker-side session cache.

:func:`execute` runs a list of tasks in this process, on a local Dask cluster
(``workers=N``: N single-threaded worker processes) or on an existing one
(``scheduler=ADDRESS``), and hands each result back to this process as it
finishes.  Each process compiles a study's network once and keeps the
:class:`~oe_opt.runs.day.Session` (:func:`cached_session`); every task starts
from a warmed-up session (:func:`warm_up`) and a reset solver state
(:meth:`~oe_opt.network.opendss.DssNetwork.reset_solution`), so parallel results
equal serial results exactly (apart from the ``seconds`` timings).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from oe_opt.runs.day import Session, run_day
from oe_opt.errors import OEError, StudyError
from oe_opt.network.opendss import DssNetwork
from oe_opt.study import Study

_SESSIONS: dict[str, Session] = {}
#: keys of the cached sessions that have been warmed up
_WARM: set[str] = set()


# ------------------------------------------------------------- worker sessions
def cached_session(study: Study, key: str) -> Session:
    """This process's compiled :class:`~oe_opt.runs.day.Session` for `study`, made once.

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


def worker_session(study: Study, key: str, method: str, day: int) -> Session:
    """This process's cached session for `study`, ready to compute `day`.

    The session is warmed up (:func:`warm_up`) the first time it is used, and
    its solver is reset, so the result does not depend on the days this
    process computed before.
    """
    session = cached_session(study, key)
    if key not in _WARM:
        warm_up(session, study, method, day)
        _WARM.add(key)
    session.net.reset_solution()
    return session


def network_session(study: Study, net: DssNetwork, method: str, day: int) -> Session:
    """A warmed-up session of `study` on the just-compiled `net`, ready to compute `day`.

    Compiling `net` replaced the circuit in this process's OpenDSS engine, so
    the cached sessions (:func:`cached_session`) are dropped.
    """
    _SESSIONS.clear()
    _WARM.clear()
    session = Session(study, net=net)
    warm_up(session, study, method, day)
    session.net.reset_solution()
    return session


# ------------------------------------------------------------------- execution
def check_workers(workers: int | None) -> None:
    """Raise :class:`~oe_opt.errors.StudyError` unless `workers` is None or at least 1."""
    if workers is not None and workers < 1:
        raise StudyError(f"--workers must be >= 1, got {workers}")


def check_scheduler(scheduler: str | None) -> None:
    """Raise :class:`~oe_opt.errors.StudyError` unless `scheduler` is None or a Dask address
    (e.g. ``tcp://10.0.0.5:8786``); checked before anything is computed."""
    if scheduler is None:
        return
    try:
        from distributed.comm.addressing import parse_address, parse_host_port

        scheme, loc = parse_address(scheduler)
        if scheme in ("tcp", "tls", "ws", "wss"):
            parse_host_port(loc)
    except ImportError:  # pragma: no cover - a declared dependency
        return
    except (ValueError, TypeError) as exc:
        raise StudyError(f"--scheduler {scheduler}: cannot connect: not a scheduler address "
                         f"({exc}); use e.g. tcp://HOST:8786") from exc


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
        except (OSError, TimeoutError, ValueError, TypeError) as exc:
            raise StudyError(f"--scheduler {scheduler}: cannot connect: {exc}") from exc
        with client:
            yield client
        return
    import logging

    with LocalCluster(n_workers=int(workers), threads_per_worker=1, processes=True,
                      dashboard_address=None, silence_logs=logging.ERROR) as cluster, \
            Client(cluster) as client:
        yield client


def execute(tasks: list[tuple[object, Callable, tuple]], workers: int | None,
            scheduler: str | None, on_result: Callable[[object, object], None],
            progress: bool, desc: str, done: int = 0, unit: str = "day") -> None:
    """Run ``fn(*args)`` for every ``(label, fn, args)``; call ``on_result(label, result)``
    as each finishes (in this process), with a progress bar.

    Parameters
    ----------
    tasks : list of (label, callable, tuple)
    workers : int, optional
        Run on a local Dask cluster of this many single-threaded processes (2 or
        more; 1 runs serially in this process, on one core).
    scheduler : str, optional
        Address of an existing Dask scheduler.  Serial in this process if
        neither `workers` (>= 2) nor `scheduler` is given.
    on_result : callable
        Called with the label and the result of each task, in this process.
    progress : bool
        Show a progress bar (tqdm, on stderr).
    desc, unit : str
        Progress-bar label and unit.
    done : int
        Items already finished (reused), counted in the progress bar.
    """
    from tqdm.auto import tqdm

    total = done + len(tasks)
    with tqdm(total=total, initial=done, desc=desc, unit=unit, disable=not progress,
              dynamic_ncols=True) as bar:
        if scheduler is None and (workers is None or workers <= 1):
            # one worker: this process is that worker (a one-process Dask cluster would only
            # add its start-up, seconds, to the same serial computation)
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
class TaskError:
    """A task that raised: the exception's type and message."""

    message: str


def captured(fn: Callable, *args) -> object:
    """``fn(*args)``, or a :class:`TaskError` if it raises an :class:`~oe_opt.errors.OEError`."""
    try:
        return fn(*args)
    except OEError as exc:
        return TaskError(f"{type(exc).__name__}: {exc}")
