"""Helpers shared by the ``oe-opt`` commands: study lookup, output folder, one-line errors."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import click

from oe_opt.errors import StudyError
from oe_opt.study import Study, load_study

#: exit status of a run that completed but has failures (nonconvergent periods, failed networks)
EXIT_FAILURES = 3

REPO_ROOT = Path(__file__).resolve().parents[2]
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


def check_out_dir(out: str | Path) -> Path:
    """Check that `out` can be created and written, before anything is computed.

    Raises
    ------
    StudyError
        If `out` is a file, lies below a file, or its nearest existing folder
        is not writable.  Nothing is created.
    """
    p = Path(out)
    if p.exists() and not p.is_dir():
        raise StudyError(f"--out {p}: is a file, not a folder")
    probe = p
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        raise StudyError(f"--out {p}: {probe} is a file, not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise StudyError(f"--out {p}: cannot write in {probe} (permission denied)")
    try:  # permissions are not everything (read-only or virtual file systems, root)
        with tempfile.TemporaryFile(dir=probe):
            pass
    except OSError as exc:
        raise StudyError(f"--out {p}: cannot write in {probe} ({exc.strerror or exc})") from exc
    return p


def exit_on_failures(env) -> None:
    """Exit with :data:`~oe_opt.cli.common.EXIT_FAILURES` (3) if any period did not converge."""
    n = int(env.drop_duplicates(["day", "period", "direction"]).status.eq("nonconvergent").sum()) \
        if len(env) else 0
    if n:
        click.echo(f"completed with failures: {n} period(s) and direction(s) did not converge "
                   f"(status nonconvergent, no envelope)", err=True)
        sys.exit(EXIT_FAILURES)
