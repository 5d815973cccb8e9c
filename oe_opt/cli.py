"""Command-line interface ``oe-opt``.

``oe-opt run [STUDY]`` computes a day of envelopes; further commands
(``compare``, ``objectives``) live in :mod:`oe_opt.commands` and are added here.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import click

from .errors import OEError, StudyError
from .study import Study, load_study

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_STUDY = "models/tutorial.toml"


def resolve_study_path(study: str | None) -> Path:
    """The study file: as given, else ``models/tutorial.toml`` in the working folder or the repo."""
    if study:
        return Path(study)
    local = Path(DEFAULT_STUDY)
    return local if local.is_file() else REPO_ROOT / DEFAULT_STUDY


def open_study(study: str | None, day: int | None = None, method: str | None = None) -> Study:
    """Load a study and apply command-line overrides."""
    return load_study(resolve_study_path(study)).with_day(day).with_method(method)


def default_out(study: Study, out: str | None) -> Path:
    """The output folder: `out`, or ``results/<study name>``."""
    return Path(out) if out else Path("results") / study.name


def fail(exc: BaseException) -> None:
    """Print a one-line error and exit with status 2 (nothing is written)."""
    click.echo(f"error: {exc}", err=True)
    sys.exit(2)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="oe-opt")
def main() -> None:
    """Operating envelopes for flexible customers, verified with OpenDSS power flows."""


@main.command()
@click.argument("study", required=False)
@click.option("--method", type=str, default=None,
              help="step | bisect | lp | alloc | heuristic (default: the study's [envelope] method).")
@click.option("--day", type=int, default=None, help="0-based day index (default: the study's day).")
@click.option("--days", type=str, default=None,
              help="Many days, numbered 1..N as days of the data (1 = first day; --days 221 is "
                   "--day 220): 1-365, 1,32,60, 200-210,300 or all. One Parquet file per day; "
                   "rerunning resumes.")
@click.option("--allocation", type=str, default=None,
              help="equal | proportional | max_total | maxmin | log_fair: per-customer LP "
                   "(implies --method alloc).")
@click.option("--workers", type=int, default=None, help="Parallel worker processes (Dask) for --days.")
@click.option("--scheduler", type=str, default=None, help="Address of an existing Dask scheduler.")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Output folder (default: results/<study name>).")
def run(study: str | None, method: str | None, day: int | None, days: str | None,
        allocation: str | None, workers: int | None, scheduler: str | None, out: str | None) -> None:
    """Compute the operating envelopes of STUDY (default models/tutorial.toml)."""
    try:
        if allocation is not None:
            if method is None:
                method = "alloc"
            elif method != "alloc":
                raise StudyError(f"--allocation {allocation} applies to --method alloc (the "
                                 f"per-customer LP), not to --method {method}")
        st = open_study(study, day, method).with_allocation(allocation)
        if days is not None or workers is not None or scheduler is not None:
            from .batch import run_days_cli

            run_days_cli(st, days, workers, scheduler, default_out(st, out))
            return
        from .chain import run_day, summarise

        result = run_day(st)
    except OEError as exc:
        fail(exc)
    write_day_outputs(st, result, default_out(st, out))


def write_day_outputs(st: Study, result, out: Path) -> None:
    """Write envelopes.csv, envelopes.png and voltages.png and print the summary."""
    from .chain import summarise
    from .plots import plot_envelopes, plot_voltages

    out.mkdir(parents=True, exist_ok=True)
    env = result.envelopes
    env.to_csv(out / "envelopes.csv", index=False)
    method = env["method"].iat[0] if len(env) else ""
    day = int(env["day"].iat[0]) if len(env) else st.profiles.day
    plot_envelopes(env, out / "envelopes.png", f"Operating envelopes — {st.name}, day {day} ({method})")
    plot_voltages(result.voltages, st.limits.v_min_v, st.limits.v_max_v, out / "voltages.png",
                  f"{st.name}, day {day} ({method})")
    summary = summarise(env, getattr(result, "period_hours", 0.5))
    click.echo(f"study {st.name}  day {day}  method {method}  flexible customers "
               f"{env['customer'].nunique()}")
    with_pd_options = summary.round(3).to_string()
    click.echo(with_pd_options)
    click.echo(f"wrote {out / 'envelopes.csv'}, {out / 'envelopes.png'}, {out / 'voltages.png'}")


for _mod in ("compare", "objectives", "network_cmd"):
    try:
        _m = importlib.import_module(f"oe_opt.commands.{_mod}")
    except ModuleNotFoundError as _exc:
        if _exc.name != f"oe_opt.commands.{_mod}":
            raise
    else:
        main.add_command(_m.command)


if __name__ == "__main__":  # pragma: no cover
    main()
