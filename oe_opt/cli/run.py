"""``oe-opt run [STUDY]``: the envelopes of one day, or of many days (``--days``)."""

from __future__ import annotations

from pathlib import Path

import click

from oe_opt.cli.common import default_out, fail, open_study
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
@click.option("--workers", type=int, default=None, help="Parallel worker processes (Dask) for --days.")
@click.option("--scheduler", type=str, default=None, help="Address of an existing Dask scheduler.")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Output folder (default: results/<study name>).")
def command(study: str | None, method: str | None, day: int | None, days: str | None,
        allocation: str | None, holds_for: str | None, workers: int | None, scheduler: str | None, out: str | None) -> None:
    """Compute the operating envelopes of STUDY (default models/tutorial.toml)."""
    try:
        if allocation is not None:
            if method is None:
                method = "alloc"
            elif method != "alloc":
                raise StudyError(f"--allocation {allocation} applies to --method alloc (the "
                                 f"per-customer LP), not to --method {method}")
        st = open_study(study, day, method).with_allocation(allocation).with_holds_for(holds_for)
        if days is not None or workers is not None or scheduler is not None:
            from oe_opt.runs.batch import run_days_cli

            run_days_cli(st, days, workers, scheduler, default_out(st, out))
            return
        from oe_opt.runs.day import run_day
        from oe_opt.analysis.summary import summarise

        result = run_day(st)
    except OEError as exc:
        fail(exc)
    write_day_outputs(st, result, default_out(st, out))


def write_day_outputs(st: Study, result, out: Path) -> None:
    """Write envelopes.csv, envelopes.png and voltages.png and print the summary."""
    from oe_opt.analysis.summary import summarise
    from oe_opt.io.figures import plot_envelopes, plot_voltages

    out.mkdir(parents=True, exist_ok=True)
    env = result.envelopes
    env.to_csv(out / "envelopes.csv", index=False)
    method = env["method"].iat[0] if len(env) else ""
    day = int(env["day"].iat[0]) if len(env) else st.profiles.day
    plot_envelopes(env, out / "envelopes.png", f"Operating envelopes — {st.name}, day {day} ({method})")
    plot_voltages(result.voltages, st.limits.v_min_v, st.limits.v_max_v, out / "voltages.png",
                  f"{st.name}, day {day} ({method})")
    summary = summarise(env, result.period_hours)
    click.echo(f"study {st.name}  day {day}  method {method}  flexible customers "
               f"{env['customer'].nunique()}")
    with_pd_options = summary.round(3).to_string()
    click.echo(with_pd_options)
    click.echo(f"wrote {out / 'envelopes.csv'}, {out / 'envelopes.png'}, {out / 'voltages.png'}")
