"""``oe-opt network``: write OpenDSS networks (HPK11-format workbooks, synthetic feeders)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from oe_opt.errors import OEError
from oe_opt.io.importers.synthetic import MAX_CUSTOMERS, MIN_CUSTOMERS


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
    from oe_opt.cli.common import fail
    from oe_opt.io.importers.mvlv_xlsx import import_network

    try:
        masters = import_network(workbook, out, which)
    except (OEError, FileNotFoundError, ValueError) as exc:
        fail(exc)
    click.echo(f"wrote {len(masters)} network(s) under {Path(out)}")
    for m in masters[:5]:
        click.echo(f"  {m}")
    if len(masters) > 5:
        click.echo(f"  ... and {len(masters) - 5} more")


@command.command("synthetic", help=f"Write a synthetic LV feeder with CUSTOMERS single-phase "
                                        f"customers ({MIN_CUSTOMERS} to {MAX_CUSTOMERS}).")
@click.argument("customers", type=int)
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Folder (default networks/generated/synthetic_n<N>_s<SEED>).")
@click.option("--seed", type=int, default=0, show_default=True)
def synthetic(customers: int, out: str | None, seed: int) -> None:
    from oe_opt.cli.common import fail
    from oe_opt.io.importers.synthetic import write_synthetic_feeder

    folder = Path(out) if out else Path("networks/generated") / f"synthetic_n{customers}_s{seed}"
    try:
        master = write_synthetic_feeder(customers, folder, seed)
    except (OEError, ValueError) as exc:
        fail(exc)
    click.echo(f"wrote {master}")


@command.command("run")
@click.argument("template", type=click.Path(dir_okay=False))
@click.argument("networks", nargs=-1, required=True, type=click.Path(exists=False))
@click.option("--day", type=int, default=None, help="0-based day (default: the template's).")
@click.option("--method", type=str, default=None, help="Method (default: the template's).")
@click.option("--flexible", default="all", show_default=True,
              help="Flexible customers of each network: 'all' or a fraction, e.g. 0.4.")
@click.option("--workers", type=int, default=None, help="Parallel worker processes (Dask).")
@click.option("--scheduler", type=str, default=None, help="Address of an existing Dask scheduler.")
@click.option("--out", type=str, default="results/networks",
              show_default=True)
@click.option("--force", is_flag=True, default=False,
              help="Clear an --out folder that holds another run's results instead of refusing.")
def run_networks_cmd(template: str, networks: tuple[str, ...], day: int | None, method: str | None,
                     flexible: str, workers: int | None, scheduler: str | None, out: str,
                     force: bool) -> None:
    """Run the study TEMPLATE over NETWORKS (master files, or folders searched for master.dss).

    The template gives limits, envelope settings, profiles and the method; every load of each
    network not chosen as flexible is a fixed customer.  One Parquet file per network, resumable.
    """
    from oe_opt.runs.netset import run_networks
    from oe_opt.cli.common import fail
    from oe_opt.study import load_study

    from oe_opt.cli.common import EXIT_FAILURES, check_out_dir

    try:
        masters = find_masters(networks)
        if flexible == "all":
            frac: str | float = "all"
        else:
            try:
                frac = float(flexible)
            except ValueError:
                raise OEError(f"--flexible must be 'all' or a fraction in (0, 1], "
                              f"got {flexible!r}") from None
        check_out_dir(out)
        from oe_opt.runs.outdir import check_owner

        tmpl = load_study(template)
        check_owner(out, tmpl.path, "network run", force)
        env = run_networks(tmpl, masters, out, day=day, method=method, flexible=frac,
                           workers=workers, scheduler=scheduler, errors="record", force=force)
    except (OEError, ValueError) as exc:
        fail(exc)
    import pandas as pd

    from oe_opt.io.outputs import write_network_outputs

    failed = env.attrs.get("failed", {})
    for name, reason in env.attrs.get("recomputed", {}).items():
        click.echo(f"recomputed {name}: {reason}")
    reused = set(env.attrs.get("reused", []))
    st = load_study(template)
    period_hours = float(env["period_hours"].iat[0]) if len(env) else float("nan")
    table, written = write_network_outputs(st, env, period_hours, out, reused)
    if len(table):
        cols = ["network", "direction", "customers", "flexible", "periods", "infeasible",
                "nonconvergent", "mean_oe_kw", "min_customer_oe_kw", "energy_kwh_total",
                "n_powerflows", "all_verified", "most_binding", "source"]
        with pd.option_context("display.width", 220, "display.max_columns", 30):
            click.echo(table[[c for c in cols if c in table]].round(3).to_string(index=False))
    wrote = (f"; wrote {Path(out) / 'networks.parquet'}, " + ", ".join(str(p) for p in written)
             if len(env) else "; nothing to write")
    click.echo(f"{env['network'].nunique()} network(s) solved ({len(reused)} reused, "
               f"{env['network'].nunique() - len(reused)} computed), {len(failed)} failed{wrote}")
    for name, msg in failed.items():
        click.echo(f"  failed {name}: {msg}", err=True)
    if failed or (len(env) and env.status.eq("nonconvergent").any()):
        sys.exit(EXIT_FAILURES)


def find_masters(paths: tuple[str, ...]) -> list[Path]:
    """Master files named directly, or every ``master.dss`` below the given folders (sorted)."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(p.rglob("master.dss"))
            if not found:
                raise ValueError(f"{p}: no master.dss below this folder")
            out.extend(found)
        elif p.is_file():
            out.append(p)
        else:
            raise ValueError(f"network not found: {p}")
    return out
