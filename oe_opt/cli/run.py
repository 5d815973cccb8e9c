"""``oe-opt run [STUDY]``: the envelopes of one day, or of many days (``--days``)."""

from __future__ import annotations

from pathlib import Path

import click

from oe_opt.cli.common import check_out_dir, default_out, exit_on_failures, fail, open_study
from oe_opt.errors import OEError, StudyError
from oe_opt.model.allocations import allocation_names
from oe_opt.study import Study


@click.command("run")
@click.argument("study", required=False)
@click.option("--method", type=str, default=None,
              help="step | bisect | lp | alloc | heuristic (default: the study's [envelope] method).")
@click.option("--day", type=int, default=None, help="0-based day index (default: the study's day).")
@click.option("--days", type=str, default=None,
              help="Many days, numbered 1..N as days of the data (1 = first day; --days 221 is "
                   "--day 220): 1-365, 1,32,60, 200-210,300 or all. One Parquet file per day; "
                   "rerunning resumes.")
@click.option("--allocation", type=str, default=None,
              help=f"{' | '.join(allocation_names())}: per-customer LP (implies --method alloc).")
@click.option("--holds-for", "holds_for", type=str, default=None,
              help="full_use | any_use: the envelope holds with every flexible customer at it, or "
                   "for any use in [0, OE] by each (default: the study's [envelope] holds_for).")
@click.option("--alloc-accept", "alloc_accept", type=str, default=None,
              help="auto | model | own_state: which LP bound alloc's fast core (max_total at "
                   "feeder scale) accepts a verified candidate against (default: the study's "
                   "[envelope] alloc_accept, auto).")
@click.option("--workers", type=int, default=None, help="Parallel worker processes (Dask) for --days.")
@click.option("--scheduler", type=str, default=None, help="Address of an existing Dask scheduler.")
@click.option("--out", type=str, default=None,
              help="Output folder (default: results/<study name>).")
@click.option("--force", is_flag=True, default=False,
              help="Clear an --out folder that holds another study's results instead of refusing.")
def command(study: str | None, method: str | None, day: int | None, days: str | None,
        allocation: str | None, holds_for: str | None, alloc_accept: str | None,
        workers: int | None, scheduler: str | None, out: str | None, force: bool) -> None:
    """Compute the operating envelopes of STUDY (default models/tutorial.toml)."""
    try:
        if allocation is not None:
            if method is None:
                method = "alloc"
            elif method != "alloc":
                raise StudyError(f"--allocation {allocation} applies to --method alloc (the "
                                 f"per-customer LP), not to --method {method}")
        st = (open_study(study, day, method).with_allocation(allocation).with_holds_for(holds_for)
              .with_alloc_accept(alloc_accept))
        from oe_opt.runs.outdir import check_owner, claim

        folder = check_out_dir(default_out(st, out))
        check_owner(folder, st.path, "run", force)
        if days is not None or workers is not None or scheduler is not None:
            from oe_opt.runs.batch import run_days_cli

            run_days_cli(st, days, workers, scheduler, folder, force)
            return
        from oe_opt.runs.day import run_day

        result = run_day(st, progress=True)
        with claim(folder, st.path, "run", force=force):
            write_day_outputs(st, result, folder)
    except OEError as exc:
        fail(exc)
    exit_on_failures(result.envelopes)


def write_day_outputs(st: Study, result, out: Path) -> None:
    """Write the day's tables, summary and figures (:mod:`oe_opt.io.outputs`) and print the summary."""
    import pandas as pd

    from oe_opt.io.outputs import write_day_outputs as write

    env = result.envelopes
    written = write(st, env, result.voltages, result.period_hours, out)
    summary = pd.read_csv(Path(out) / "summary.csv").drop(columns=["day", "date"], errors="ignore")
    summary = summary.set_index("direction")
    method = env["method"].iat[0] if len(env) else ""
    day = int(env["day"].iat[0]) if len(env) else st.profiles.day
    from oe_opt.inputs.calendar import day_label

    guarantee = ("any use: every combination of uses within the envelopes"
                 if st.envelope.holds_for == "any_use" else "full use: every customer at its envelope")
    click.echo(f"study {st.name}  {day_label(st.start_date, day)}  method {method}  flexible customers "
               f"{env['customer'].nunique()}  holds for {guarantee}")
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        click.echo(summary.round(3).to_string())
    click.echo("wrote " + ", ".join(str(p) for p in written))
