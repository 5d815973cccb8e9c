"""``oe-opt report RESULTS_DIR``: one self-contained ``report.html`` of a results folder.

The figures embedded, the summary tables, the study settings and the
verification statement (:mod:`oe_opt.io.report`).
"""

from __future__ import annotations

import click

from oe_opt.errors import OEError


@click.command("report")
@click.argument("results_dir", type=click.Path(file_okay=False))
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="HTML file to write (default: RESULTS_DIR/report.html).")
def command(results_dir: str, out: str | None) -> None:
    """Write RESULTS_DIR/report.html from the results of `oe-opt run` or `oe-opt network run`."""
    from oe_opt.cli.common import fail
    from oe_opt.io.report import write_report

    try:
        path = write_report(results_dir, out)
    except OEError as exc:
        fail(exc)
    click.echo(f"wrote {path}")
