"""``oe-opt compare [STUDY] [--day N] [--out DIR]``: step vs bisect vs lp on one day.

Writes ``DIR/comparison.csv`` (one row per period and direction: the three
envelopes, lp - bisect, power flows and seconds per method, then per method its
full_use and any_use envelopes, what any-use safety costs and the worst
violation of the full_use envelope at a corner) and
``DIR/comparison.png`` (the three envelopes over the day), and prints the
energy the stepping search leaves unused and each method's cost.  The
computation is :func:`oe_opt.analysis.compare.compare_methods`.
"""

from __future__ import annotations

import click

from oe_opt.errors import OEError


@click.command("compare")
@click.argument("study", required=False)
@click.option("--day", type=int, default=None, help="0-based day index (default: the study's day).")
@click.option("--holds-for", "holds_for", type=str, default=None,
              help="full_use | any_use for the compared envelopes (default: the study's).")
@click.option("--out", type=str, default=None,
              help="Output folder (default: results/<study name>).")
def command(study: str | None, day: int | None, holds_for: str | None, out: str | None) -> None:
    """Compare the step, bisect and lp methods on STUDY (default models/tutorial.toml)."""
    from oe_opt.cli.common import check_out_dir, default_out, fail, open_study
    from oe_opt.analysis.compare import ANY_USE_COLUMNS, COMPARISON_COLUMNS, compare_methods, format_summary
    from oe_opt.inputs.calendar import day_label
    from oe_opt.io.figures import comparison_figure, figure_title, save_figure
    from oe_opt.io.results import add_period_times

    try:
        st = open_study(study, day).with_holds_for(holds_for)
        check_out_dir(default_out(st, out))
        cmp = compare_methods(st)
    except OEError as exc:
        fail(exc)
    folder = default_out(st, out)
    folder.mkdir(parents=True, exist_ok=True)
    table = cmp.table[COMPARISON_COLUMNS + ANY_USE_COLUMNS].assign(day=cmp.day, time=cmp.table["time"])
    table = add_period_times(table, st.start_date, st.timezone, cmp.period_hours)
    table.drop(columns=["day", "time"]).to_csv(folder / "comparison.csv", index=False)
    save_figure(comparison_figure(cmp.table, figure_title(
        "Envelopes by method", st.name, day_label(st.start_date, cmp.day), "step vs bisect vs lp")),
        folder / "comparison.png")
    click.echo(format_summary(cmp, st.name))
    click.echo(f"wrote {folder / 'comparison.csv'}, {folder / 'comparison.png'}")
