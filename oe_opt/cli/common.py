"""Helpers shared by the ``oe-opt`` commands: study lookup, output folder, one-line errors."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from oe_opt.study import Study, load_study

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
