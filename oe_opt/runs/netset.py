"""Network sets: one study template run over many networks, resumably.

:func:`run_networks` applies a study template (limits, envelope settings,
profiles, method) to many networks — e.g. the LV networks imported from a
workbook, or synthetic feeders — for one day, and writes one Parquet file per
network (``<out>/networks/<name>_day<DDD>.parquet``, see
:mod:`oe_opt.runs.storage`) and ``<out>/networks.parquet`` with all of them.
Rerunning skips the networks whose files are valid.  Networks run serially or
on a Dask cluster (:mod:`oe_opt.runs.parallel`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from oe_opt.runs.day import run_day
from oe_opt.io.results import ENVELOPE_COLUMNS
from oe_opt.errors import StudyError
from oe_opt.network.opendss import DssNetwork
from oe_opt.runs.parallel import TaskError, captured, check_scheduler, check_workers, execute, network_session
from oe_opt.runs.fingerprint import input_digests
from oe_opt.runs.outdir import claim
from oe_opt.runs.storage import network_path, read_valid_parquet, run_key, write_parquet_atomic
from oe_opt.study import CustomerSpec, Study

NETWORK_COLUMNS = ["network"] + ENVELOPE_COLUMNS + ["network_seconds", "n_customers", "period_hours"]


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
    t0 = time.perf_counter()
    net = DssNetwork(master, voltage_bases_kv=template.network.voltage_bases_kv)
    study = network_study(template, master, net.load_names, flexible, name)
    session = network_session(study, net, method, day)
    res = run_day(study, method=method, day=day, session=session, voltages=False)
    env = res.envelopes
    env.insert(0, "network", name)
    env["network_seconds"] = time.perf_counter() - t0
    env["n_customers"] = len(net.load_names)
    env["period_hours"] = res.period_hours  # the day case's period length
    return env


def check_network_run(template: Study, method: str, flexible: str | float, day: int) -> None:
    """Check a network-set run's options before anything runs.

    Raises
    ------
    StudyError
        For an unknown method, a flexible share that is not ``"all"`` or in
        (0, 1], or a day outside the template's profile data.
    """
    from oe_opt.inputs.profiles import check_day, read_load_profiles, read_pv_profile
    from oe_opt.methods.registry import get_method

    try:
        get_method(method)
    except KeyError as exc:
        raise StudyError(f"--method: {exc.args[0]}") from exc
    if flexible != "all":
        try:
            f = float(flexible)
        except (TypeError, ValueError):
            raise StudyError(f"--flexible must be 'all' or a fraction in (0, 1], "
                             f"got {flexible!r}") from None
        if not 0 < f <= 1:
            raise StudyError(f"--flexible must be 'all' or a fraction in (0, 1], got {flexible!r}")
    if day < 0:
        raise StudyError(f"--day {day} must be >= 0")
    from oe_opt.runs.bounds import check_bounds

    check_bounds(template, method)
    p = template.profiles
    if p.source == "files":
        check_day(read_load_profiles(p.load), read_pv_profile(p.pv), day, p.load, p.pv)


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
                 errors: str = "raise", force: bool = False) -> pd.DataFrame:
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
        As for :func:`~oe_opt.runs.batch.run_days`; parallel runs spread the networks.
    errors : {"raise", "record"}
        On a network that fails (e.g. a period that cannot be solved):
        stop with the error, or record it in ``result.attrs["failed"]``
        (network name -> message) and go on with the others.
    force : bool
        Clear an `out_dir` holding another run's results instead of refusing
        it (:mod:`oe_opt.runs.outdir`).

    Returns
    -------
    DataFrame
        Columns ``network``, :data:`~oe_opt.io.results.ENVELOPE_COLUMNS`,
        ``network_seconds`` (wall time of that network: compiling, warming
        up and computing the day) and ``n_customers``, networks in the order
        given.  ``attrs["failed"]``: failed networks and their errors;
        ``attrs["recomputed"]``: stored files not reused, and why (e.g. the
        input files that changed).
    """
    if errors not in ("raise", "record"):
        raise ValueError(f"errors must be 'raise' or 'record', not {errors!r}")
    check_workers(workers)
    check_scheduler(scheduler)
    method = method or template.envelope.method
    day = template.profiles.day if day is None else int(day)
    check_network_run(template, method, flexible, day)
    out_dir = Path(out_dir)
    masters = [str(Path(m).resolve()) for m in masters]
    for m in masters:
        if not Path(m).is_file():
            raise StudyError(f"network master file not found: {m}")
    names = network_names(masters)
    with claim(out_dir, template.path, "network run", force=force):
        return _run_networks_claimed(template, masters, names, out_dir, day, method, flexible,
                                     workers, scheduler, progress, errors)


def _run_networks_claimed(template, masters, names, out_dir, day, method, flexible, workers,
                          scheduler, progress, errors) -> pd.DataFrame:
    frames: dict[str, pd.DataFrame] = {}
    todo, keys = [], {}
    caps = {"export": template.envelope.export_max_kw, "import": template.envelope.import_max_kw}
    inputs, recomputed = {}, {}
    for master, name in zip(masters, names):
        inputs[name] = input_digests(template, master)
        keys[name] = run_key(template, method, "network", master, str(flexible), day,
                             inputs=inputs[name])
        df, reason = read_valid_parquet(network_path(out_dir, name, day), keys[name],
                                        columns=NETWORK_COLUMNS, day=day, inputs=inputs[name],
                                        caps=caps)
        if df is not None:
            frames[name] = df
        else:
            if reason != "missing":
                recomputed[name] = reason
            args = (template, master, name, day, method, flexible)
            todo.append((name, captured, (compute_network, *args)) if errors == "record" else
                        (name, compute_network, args))
    failed: dict[str, str] = {}

    def save(name: str, env: pd.DataFrame | TaskError) -> None:
        if isinstance(env, TaskError):
            failed[name] = env.message
            return
        path = network_path(out_dir, name, day)
        write_parquet_atomic(env, path, keys[name], inputs[name])
        frames[name] = read_valid_parquet(path, keys[name], columns=NETWORK_COLUMNS, day=day,
                                          inputs=inputs[name], caps=caps)[0]

    execute(todo, workers, scheduler, save, progress, desc="networks",
            done=len(masters) - len(todo), unit="network")
    done = [n for n in names if n in frames]
    out = pd.concat([frames[n] for n in done], ignore_index=True) if done else \
        pd.DataFrame(columns=NETWORK_COLUMNS)
    if done:  # never an empty networks.parquet
        all_inputs = {k: v for n in done for k, v in inputs[n].items()}
        write_parquet_atomic(out, out_dir / "networks.parquet",
                             run_key(template, method, "network-set", tuple(masters), day,
                                     inputs=all_inputs), all_inputs)
    out.attrs["failed"] = failed
    out.attrs["recomputed"] = recomputed
    #: networks whose stored results were reused (the others were computed now)
    out.attrs["reused"] = [n for n in names if n in frames and n not in {t[0] for t in todo}]
    return out
