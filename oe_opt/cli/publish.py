"""``oe-opt publish RESULTS_DIR --format csip-aus|envoy-json``: envelopes for an aggregator.

Writes per flexible customer a CSIP-AUS DERControl list (and the site's
DefaultDERControl when ``--default-export-w/--default-import-w`` are given),
or the envoy admin API's site-control requests, with envoy-schema's models
(:mod:`oe_opt.io.csip`).  Needs a results folder of a study with
``[study] start_date``.  Periods without a verified envelope get no control
and are listed in ``skipped.csv``.
"""

from __future__ import annotations

import click

from oe_opt.errors import OEError


@click.command("publish")
@click.argument("results_dir", type=click.Path(file_okay=False))
@click.option("--format", "fmt", type=str, default="csip-aus", show_default=True,
              help="csip-aus (IEEE 2030.5 DERControlList XML) or envoy-json (SiteControlRequest).")
@click.option("--sites", type=click.Path(dir_okay=False), default=None,
              help="CSV mapping customer -> site (name or LFDI) and site_group_id "
                   "(default: each load is its own site, groups 1, 2, ...).")
@click.option("--default-export-w", type=float, default=None,
              help="The site's default export limit (W) when no control is active (csip-aus).")
@click.option("--default-import-w", type=float, default=None,
              help="The site's default import limit (W) when no control is active (csip-aus).")
@click.option("--creation-time", type=int, default=None,
              help="creationTime (epoch seconds; default now). mRIDs do not depend on it.")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Output folder (default: RESULTS_DIR/<format>).")
def command(results_dir: str, fmt: str, sites: str | None, default_export_w: float | None,
            default_import_w: float | None, creation_time: int | None, out: str | None) -> None:
    """Publish the envelopes in RESULTS_DIR (from `oe-opt run`) for an aggregator."""
    from oe_opt.cli.common import fail
    from oe_opt.io.csip import publish

    try:
        pub, target = publish(results_dir, fmt, out, sites, default_export_w, default_import_w,
                              creation_time)
    except OEError as exc:
        fail(exc)
    click.echo(f"{fmt}: {pub.n_controls} controls for {pub.n_sites} sites; {len(pub.skipped)} "
               f"period-directions without a verified envelope (listed in {target / 'skipped.csv'})")
    if len(pub.skipped):
        counts = pub.skipped.drop_duplicates(["day", "period", "direction"]).status.value_counts()
        click.echo("  no control: " + ", ".join(f"{n} {s}" for s, n in counts.items()))
    click.echo(f"wrote {len(pub.files)} file(s) under {target}")
