"""Figures: envelopes over the day and customer voltages at the envelopes."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def _time_axis(ax, times: list[str]) -> None:
    step = max(1, len(times) // 24)
    ax.set_xticks(range(0, len(times), step))
    ax.set_xticklabels(times[::step], rotation=60, fontsize=8)
    ax.set_xlabel("Time (hh:mm)")
    ax.set_xlim(0, len(times) - 1)


def plot_envelopes(envelopes: pd.DataFrame, path: str | Path, title: str = "") -> Path:
    """Envelopes over the day: exports below zero, imports above (as in the tutorial).

    Each flexible customer's envelope is a thin line; the mean over customers a
    thick one.  Infeasible periods are marked with red crosses at zero.
    """
    fig, ax = plt.subplots(figsize=(10, 4))
    times = (envelopes.drop_duplicates("period").sort_values("period")["time"].tolist())
    colours = {"export": "tab:blue", "import": "tab:orange"}
    for direction, g in envelopes.groupby("direction", sort=False):
        sign = -1.0 if direction == "export" else 1.0
        wide = g.pivot_table(index="period", columns="customer", values="oe_kw", dropna=False)
        x = wide.index.to_numpy()
        mean = sign * wide.mean(axis=1).to_numpy()
        per_customer = wide.shape[1] > 1 and not np.allclose(wide.min(axis=1), wide.max(axis=1),
                                                             equal_nan=True)
        if per_customer:
            for col in wide.columns:
                ax.plot(x, sign * wide[col].to_numpy(), lw=0.6, alpha=0.5, color=colours[direction])
        ax.fill_between(x, np.nan_to_num(mean), alpha=0.3, color=colours[direction], step=None)
        label = f"OE {direction}s" + (" (mean; thin: each customer)" if per_customer else "")
        ax.plot(x, mean, lw=2, color=colours[direction], label=label)
        bad = g[g.status == "infeasible"]["period"].unique()
        if len(bad):
            ax.plot(bad, np.zeros(len(bad)), "x", color="red", ms=8,
                    label=f"infeasible ({direction})")
    ax.axhline(0, color="k", lw=0.5)
    _time_axis(ax, times)
    ax.set_ylabel("Power (kW)")
    ax.set_title(title or "Operating envelopes")
    ax.legend(loc="best", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)


def plot_voltages(voltages: pd.DataFrame, v_min_v: float, v_max_v: float, path: str | Path,
                  title: str = "") -> Path:
    """Customer voltages over the day at the found envelopes, one panel per direction."""
    dirs = list(dict.fromkeys(voltages["direction"]))
    fig, axes = plt.subplots(len(dirs), 1, figsize=(10, 3.2 * len(dirs)), sharex=True, squeeze=False)
    times = voltages.drop_duplicates("period").sort_values("period")["time"].tolist()
    for ax, d in zip(axes[:, 0], dirs):
        g = voltages[voltages.direction == d]
        wide = g.pivot_table(index="period", columns="customer", values="voltage_v", aggfunc="max",
                             dropna=False)
        ax.plot(wide.index, wide.to_numpy(), lw=1.2)
        ax.axhline(v_max_v, ls="--", color="r", lw=1)
        ax.axhline(v_min_v, ls="--", color="r", lw=1)
        ax.set_ylabel("Voltage (V)")
        ax.set_title(f"Customer voltages at the {d} envelopes")
        ax.grid(alpha=0.3)
        _time_axis(ax, times)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)
