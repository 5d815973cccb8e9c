"""``oe-opt network``: write OpenDSS networks (HPK11-format workbooks, synthetic feeders)."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import OEError


@click.group("network")
def command() -> None:
    """Generate OpenDSS networks into an (ignored) folder."""


@command.command("import")
@click.argument("workbook", type=click.Path(dir_okay=False))
@click.option("--out", type=click.Path(file_okay=False), default="networks/generated",
              show_default=True, help="Folder for the generated networks.")
@click.option("--which", type=click.Choice(["lv", "mvlv", "all"]), default="all", show_default=True,
              help="Each LV network on its own, the integrated MV-LV feeder, or both.")
def import_(workbook: str, out: str, which: str) -> None:
    """Import a MV-LV network workbook (the HPK11 spreadsheet format)."""
    from ..cli import fail
    from ..importers import import_network

    try:
        masters = import_network(workbook, out, which)
    except (OEError, FileNotFoundError, ValueError) as exc:
        fail(exc)
    click.echo(f"wrote {len(masters)} network(s) under {Path(out)}")
    for m in masters[:5]:
        click.echo(f"  {m}")
    if len(masters) > 5:
        click.echo(f"  ... and {len(masters) - 5} more")


@command.command("synthetic")
@click.argument("customers", type=click.IntRange(1, 100_000))
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Folder (default networks/generated/synthetic_n<N>_s<SEED>).")
@click.option("--seed", type=int, default=0, show_default=True)
def synthetic(customers: int, out: str | None, seed: int) -> None:
    """Write a synthetic LV feeder with CUSTOMERS single-phase customers."""
    from networks.synthetic import write_synthetic_feeder

    folder = Path(out) if out else Path("networks/generated") / f"synthetic_n{customers}_s{seed}"
    click.echo(f"wrote {write_synthetic_feeder(customers, folder, seed)}")
