"""``oe-opt objectives [STUDY] [--day N] [--out DIR]``: compare allocation objectives.

Writes ``objectives.csv`` (one row per objective and direction),
``objective_envelopes.csv`` (per-customer envelopes of every objective) and
``objectives.png`` (per-customer envelopes over the day, one panel per
objective and direction, and total energy against Jain's index).
"""

from __future__ import annotations

from pathlib import Path

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


def plot_objectives(envelopes: pd.DataFrame, table: pd.DataFrame, path: str | Path,
                    title: str = "") -> Path:
    """Small multiples of per-customer envelopes by objective, and total vs fairness.

    One row per objective, one column per direction: each flexible
    customer's envelope over the day (same colour for a customer in every
    panel; dashed grey: the largest cap).  The last row plots, per direction,
    the day's envelope energy (kWh) against the mean Jain's index, one marker
    per objective.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    objectives = list(dict.fromkeys(envelopes["objective"]))
    dirs = list(dict.fromkeys(envelopes["direction"]))
    customers = sorted(envelopes["customer"].unique(), key=lambda c: (len(c), c))
    cmap = plt.get_cmap("tab20")
    colour = {c: cmap(i % 20) for i, c in enumerate(customers)}
    times = envelopes.drop_duplicates("period").sort_values("period")[["period", "time"]]
    fig, axes = plt.subplots(len(objectives) + 1, len(dirs), squeeze=False,
                             figsize=(6.5 * len(dirs), 1.9 * len(objectives) + 3.2),
                             layout="constrained")
    for j, d in enumerate(dirs):
        for i, obj in enumerate(objectives):
            ax = axes[i, j]
            g = envelopes[(envelopes.objective == obj) & (envelopes.direction == d)]
            wide = g.pivot_table(index="period", columns="customer", values="oe_kw", dropna=False)
            for c in wide.columns:
                ax.plot(wide.index, wide[c], lw=1.0, color=colour[c], label=c)
            ax.axhline(g["cap_kw"].max(), ls="--", lw=0.7, color="grey")
            row = table[(table.objective == obj) & (table.direction == d)].iloc[0]
            ax.set_title(f"{obj} — {d}s: {row.total_kwh:.0f} kWh, min {row.min_kw:.2f} kW, "
                         f"Jain {row.jain_index:.3f}", fontsize=8)
            ax.set_ylabel("OE (kW)", fontsize=8)
            ax.grid(alpha=0.3)
            ax.tick_params(labelsize=7)
            step = max(1, len(times) // 8)
            ax.set_xticks(times["period"].iloc[::step])
            ax.set_xticklabels(times["time"].iloc[::step] if i == len(objectives) - 1 else [])
        ax = axes[-1, j]
        t = table[table.direction == d]
        for k, (_, r) in enumerate(t.iterrows()):
            ax.scatter(r.jain_index, r.total_kwh, marker="osD^vP*X"[k % 8], s=45,
                       color=plt.get_cmap("tab10")(k % 10), label=r.objective)
        ax.legend(fontsize=7, loc="best")
        ax.set_xlabel("Jain's index (mean over periods; 1 = equal)", fontsize=8)
        ax.set_ylabel(f"Total {d} OE (kWh)", fontsize=8)
        ax.set_title(f"{d}s: total vs fairness", fontsize=9)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    if title:
        fig.suptitle(title, fontsize=10)
    fig.legend(handles, labels, loc="outside lower center", ncol=min(len(labels), 7), fontsize=7)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


@click.command("objectives")
@click.argument("study", required=False)
@click.option("--day", type=int, default=None, help="0-based day index (default: the study's day).")
@click.option("--periods", type=str, default=None,
              help="Only these 0-based periods, e.g. 20-27 or 0,5,9 (default: all).")
@click.option("--out", type=click.Path(file_okay=False), default=None,
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
    result.envelopes.to_csv(folder / "objective_envelopes.csv", index=False)
    d = int(result.envelopes["day"].iat[0]) if len(result.envelopes) else st.profiles.day
    plot_objectives(result.envelopes, result.table, folder / "objectives.png",
                    f"Allocation objectives — {st.name}, day {d}")
    click.echo(f"study {st.name}  day {d}  flexible customers {result.envelopes['customer'].nunique()}"
               f"  periods {result.envelopes['period'].nunique()}")
    with pd.option_context("display.width", 140):
        click.echo(result.table.round(3).to_string(index=False))
    click.echo(f"wrote {folder / 'objectives.csv'}, {folder / 'objective_envelopes.csv'}, "
               f"{folder / 'objectives.png'}")


__all__ = ["command", "plot_objectives", "parse_periods"]
