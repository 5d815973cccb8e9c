"""``oe-opt objectives [STUDY] [--day N] [--out DIR]``: compare allocation objectives.

Writes ``objectives.csv`` (one row per objective and direction),
``objective_envelopes.csv`` (per-customer envelopes of every objective) and
``objectives.png`` (per-customer envelopes over the day, one panel per
objective and direction, and total energy against Jain's index).
"""

from __future__ import annotations

import click
import pandas as pd

from oe_opt.errors import OEError


def parse_periods(text: str | None) -> list[int] | None:
    """``"20-27"`` or ``"0,5,9"`` (or a mix) to a sorted list of 0-based periods."""
    if text is None:
        return None
    out: set[int] = set()
    try:
        for part in text.split(","):
            a, _, b = part.strip().partition("-")
            out.update(range(int(a), int(b) + 1) if b else [int(a)])
    except ValueError:
        raise click.BadParameter(f"{text!r}: use e.g. 20-27 or 0,5,9", param_hint="--periods")
    if not out or min(out) < 0:
        raise click.BadParameter(f"{text!r}: periods are 0-based and >= 0", param_hint="--periods")
    return sorted(out)


@click.command("objectives")
@click.argument("study", required=False)
@click.option("--day", type=int, default=None, help="0-based day index (default: the study's day).")
@click.option("--periods", type=str, default=None,
              help="Only these 0-based periods, e.g. 20-27 or 0,5,9 (default: all).")
@click.option("--out", type=str, default=None,
              help="Output folder (default: results/<study name>).")
def command(study: str | None, day: int | None, periods: str | None, out: str | None) -> None:
    """Compare allocation objectives (equal, proportional, max_total, maxmin, log_fair and the
    power-flow heuristic) on one day of STUDY (default models/tutorial.toml)."""
    # imported here: oe_opt.cli.main imports this module when it is loaded
    from oe_opt.cli.common import check_out_dir, default_out, fail, open_study
    from oe_opt.analysis.objectives import run_objectives

    period_list = parse_periods(periods)
    try:
        st = open_study(study, day)
        check_out_dir(default_out(st, out))
        result = run_objectives(st, periods=period_list)
    except OEError as exc:
        fail(exc)
    folder = default_out(st, out)
    folder.mkdir(parents=True, exist_ok=True)
    result.table.to_csv(folder / "objectives.csv", index=False)
    from oe_opt.io.results import add_period_times

    add_period_times(result.envelopes, st.start_date, st.timezone, result.period_hours).to_csv(
        folder / "objective_envelopes.csv", index=False)
    d = int(result.envelopes["day"].iat[0]) if len(result.envelopes) else st.profiles.day
    from oe_opt.inputs.calendar import day_label
    from oe_opt.io.figures import figure_title, objectives_figure, save_figure

    save_figure(objectives_figure(result.envelopes, result.table, figure_title(
        "Allocation objectives", st.name, day_label(st.start_date, d), "alloc")),
        folder / "objectives.png")
    click.echo(f"study {st.name}  day {d}  flexible customers {result.envelopes['customer'].nunique()}"
               f"  periods {result.envelopes['period'].nunique()}")
    with pd.option_context("display.width", 140):
        click.echo(result.table.round(3).to_string(index=False))
    click.echo(f"wrote {folder / 'objectives.csv'}, {folder / 'objective_envelopes.csv'}, "
               f"{folder / 'objectives.png'}")
