"""Figures of envelope results: one module, every figure a function that returns its Figure.

Each ``*_figure`` function takes tidy result tables and returns a
:class:`matplotlib.figure.Figure` (nothing is written); :func:`save_figure`
writes one to a PNG file and closes it.  Conventions shared by every figure:

- an envelope holds for its whole period, so envelopes are drawn as steps
  over period *edges* (``steps-post``), the last period included;
- export and import envelopes are both drawn as positive limits (kW) in their
  own panel, named on the axis (export: power from the customer to the grid);
- infeasible periods (no envelope) are shaded and labelled, never drawn as 0 kW;
- every axis has units and every title names the study, the day(s) and the method
  (:func:`figure_title`).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import matplotlib.colors  # noqa: F401  (ListedColormap of the heat maps)
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

COLOURS = {"export": "tab:blue", "import": "tab:orange"}
AXIS_LABELS = {"export": "Export OE (kW)\ncustomer → grid",
               "import": "Import OE (kW)\ngrid → customer"}
INFEASIBLE_COLOUR = "tab:red"
#: binding-constraint kinds of the heat map, in colour order
BINDING_KINDS = ("cap", "v_max", "v_min", "line", "transformer", "infeasible")


def figure_title(what: str, study: str, day: int | str | None = None, method: str | None = None) -> str:
    """``"<what> — <study>, day <day> (<method>)"``: the title every figure carries."""
    parts = f"{what} — {study}"
    if day is not None and day != "":
        parts += f", {day if isinstance(day, str) else f'day {day}'}"
    if method:
        parts += f" ({method})"
    return parts


def save_figure(fig: Figure, path: str | Path, dpi: int = 110) -> Path:
    """Write `fig` to `path` (PNG).  The figures are plain :class:`Figure` objects, not
    pyplot's (no pyplot, no GUI backend: nothing to close, and pyplot's import is saved)."""
    fig.savefig(path, dpi=dpi)
    return Path(path)


def _subplots(nrows: int = 1, ncols: int = 1, *, figsize: tuple[float, float],
              layout: str | None = None, **kw):
    """pyplot's ``subplots`` on a plain :class:`Figure`: (figure, axes)."""
    fig = Figure(figsize=figsize, layout=layout)
    return fig, fig.subplots(nrows, ncols, **kw)


def _periods(table: pd.DataFrame) -> pd.DataFrame:
    return table.drop_duplicates("period").sort_values("period")[["period", "time"]]


def _time_axis(ax, periods: pd.DataFrame, labels: bool = True) -> None:
    """Period-edge x axis: ticks at period starts labelled ``HH:MM``, the last period included."""
    p = periods["period"].to_numpy()
    step = max(1, len(p) // 12)
    ax.set_xticks(p[::step])
    ax.set_xticklabels(periods["time"].iloc[::step] if labels else [], rotation=45, fontsize=7)
    ax.set_xlim(p.min(), p.max() + 1)
    if labels:
        ax.set_xlabel("Period start (local time, hh:mm)")


def _step(ax, periods: np.ndarray, values: np.ndarray, **kw):
    """Draw per-period `values` as steps over the period edges (the last period included)."""
    x = np.append(periods, periods[-1] + 1)
    y = np.append(values, values[-1])
    return ax.plot(x, y, drawstyle="steps-post", **kw)[0]


def _shade_infeasible(ax, periods, label: bool) -> None:
    for i, t in enumerate(periods):
        ax.axvspan(t, t + 1, color=INFEASIBLE_COLOUR, alpha=0.18, lw=0, hatch="//",
                   label="infeasible: no envelope" if label and i == 0 else None)
    if len(periods):
        ax.text(periods[0] + 0.5, 0.97, "infeasible", transform=ax.get_xaxis_transform(),
                ha="left", va="top", fontsize=7, color=INFEASIBLE_COLOUR)


def envelope_figure(envelopes: pd.DataFrame, title: str,
                    caps_kw: dict[str, float] | None = None) -> Figure:
    """Envelopes over the day as steps, one panel per direction.

    Parameters
    ----------
    envelopes : DataFrame
        Envelope rows (:data:`~oe_opt.io.results.ENVELOPE_COLUMNS`) of one day.
    title : str
        Figure title (:func:`figure_title`).
    caps_kw : dict, optional
        Direction -> envelope cap (kW), drawn as a dashed line.

    Returns
    -------
    Figure
        Panels titled ``"export envelopes"`` / ``"import envelopes"``; lines
        labelled ``OE ...``; caps labelled ``cap ... kW``; infeasible periods
        shaded (``infeasible: no envelope``).
    """
    dirs = list(dict.fromkeys(envelopes["direction"]))
    periods = _periods(envelopes)
    fig, axes = _subplots(len(dirs), 1, figsize=(10, 2.9 * len(dirs) + 0.6), sharex=True,
                         squeeze=False, layout="constrained")
    for k, (ax, d) in enumerate(zip(axes[:, 0], dirs)):
        g = envelopes[envelopes.direction == d]
        bad = g.status == "infeasible"
        wide = g.assign(oe_kw=g.oe_kw.where(~bad)).pivot_table(
            index="period", columns="customer", values="oe_kw", dropna=False)
        wide = wide.reindex(periods["period"])
        x = wide.index.to_numpy()
        per_customer = wide.shape[1] > 1 and not np.allclose(wide.min(axis=1), wide.max(axis=1),
                                                             equal_nan=True)
        if per_customer:
            for col in wide.columns:
                _step(ax, x, wide[col].to_numpy(), lw=0.6, alpha=0.45, color=COLOURS[d])
        _step(ax, x, wide.mean(axis=1).to_numpy(), lw=2, color=COLOURS[d],
              label=f"OE {d} (mean of {wide.shape[1]} customers; thin: each)" if per_customer
              else f"OE {d} (each of {wide.shape[1]} flexible customers)")
        if caps_kw and d in caps_kw:
            ax.axhline(caps_kw[d], ls="--", lw=1, color="grey", label=f"cap {caps_kw[d]:g} kW")
        _shade_infeasible(ax, sorted(g[bad]["period"].unique()), label=True)
        ax.set_ylabel(AXIS_LABELS[d])
        ax.set_ylim(bottom=0, top=max(np.nanmax(wide.to_numpy()) if wide.notna().any().any() else 0,
                                      (caps_kw or {}).get(d, 0)) * 1.12 + 0.1)
        ax.set_title(f"{d} envelopes", fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right", fontsize=7)
        _time_axis(ax, periods, labels=k == len(dirs) - 1)
    fig.suptitle(title, fontsize=10)
    return fig


def voltage_figure(voltages: pd.DataFrame, v_min_v: float, v_max_v: float, title: str,
                   flexible: list[str] | None = None) -> Figure:
    """Customer voltages at the envelopes as a band (min–max over customers), one panel per direction.

    The flexible customers' range is a second band; the limits are labelled
    lines.  The scale follows the voltages (a limit far from them is named at
    the panel edge instead of squeezing the band).

    Returns
    -------
    Figure
        Bands labelled ``all customers ...`` and ``flexible customers ...``;
        limit lines labelled ``upper limit ... V`` / ``lower limit ... V``.
    """
    dirs = list(dict.fromkeys(voltages["direction"]))
    periods = _periods(voltages)
    flex = set(flexible or ())
    fig, axes = _subplots(len(dirs), 1, figsize=(10, 2.9 * len(dirs) + 0.6), sharex=True,
                         squeeze=False, layout="constrained")
    for k, (ax, d) in enumerate(zip(axes[:, 0], dirs)):
        g = voltages[voltages.direction == d]
        groups = [("all customers", g, "tab:grey", 0.35)]
        if flex:
            groups.append((f"flexible customers ({len(flex)})", g[g.customer.isin(flex)],
                           COLOURS[d], 0.55))
        lo_all, hi_all = np.inf, -np.inf
        for label, h, colour, alpha in groups:
            per = h.groupby("period").voltage_v.agg(["min", "max"]).reindex(periods["period"])
            x = np.append(per.index.to_numpy(), per.index[-1] + 1)
            lo = np.append(per["min"].to_numpy(), per["min"].iat[-1])
            hi = np.append(per["max"].to_numpy(), per["max"].iat[-1])
            ax.fill_between(x, lo, hi, step="post", color=colour, alpha=alpha, lw=0,
                            label=f"{label}: min–max")
            lo_all = np.nanmin([lo_all, pd.Series(lo).min()])
            hi_all = np.nanmax([hi_all, pd.Series(hi).max()])
        if not np.isfinite(lo_all) or not np.isfinite(hi_all):  # no voltages (e.g. all failed)
            lo_all, hi_all = v_min_v, v_max_v
        pad = max(0.5, 0.08 * (hi_all - lo_all))
        bottom, top = lo_all - pad, hi_all + pad
        for v, name, va in ((v_max_v, "upper", "bottom"), (v_min_v, "lower", "top")):
            if bottom - 3 * pad <= v <= top + 3 * pad:
                ax.axhline(v, ls="--", color="red", lw=1, label=f"{name} limit {v:g} V")
                bottom, top = min(bottom, v - pad), max(top, v + pad)
            else:
                ax.text(0.99, 0.02 if name == "lower" else 0.98,
                        f"{name} limit {v:g} V (off scale)", transform=ax.transAxes,
                        ha="right", va="bottom" if name == "lower" else "top", fontsize=7,
                        color="red")
        ax.set_ylim(bottom, top)
        ax.set_ylabel("Voltage (V)")
        ax.set_title(f"customer voltages at the {d} envelopes", fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(loc="lower left", fontsize=7)
        _time_axis(ax, periods, labels=k == len(dirs) - 1)
    fig.suptitle(title, fontsize=10)
    return fig


def _binding_counts(g: pd.DataFrame) -> str:
    per = g.drop_duplicates("period")
    per = per[per.status != "infeasible"]
    counts = per.binding.value_counts()
    return "; ".join(f"{b} ({n} periods)" for b, n in counts.head(3).items()) or "none"


def loading_figure(envelopes: pd.DataFrame, title: str, line_max_pct: float = 100.0,
                   transformer_max_pct: float = 100.0) -> Figure:
    """Worst line and transformer loading (% of rating) per period at the envelopes.

    One panel per direction; the binding constraints (``kind:element``) and
    how many periods each binds are named in the panel title.

    Returns
    -------
    Figure
        Lines labelled ``worst line`` and ``transformer``; limits labelled
        ``line limit ... %`` / ``transformer limit ... %``.
    """
    dirs = list(dict.fromkeys(envelopes["direction"]))
    periods = _periods(envelopes)
    fig, axes = _subplots(len(dirs), 1, figsize=(10, 2.9 * len(dirs) + 0.6), sharex=True,
                         squeeze=False, layout="constrained")
    for k, (ax, d) in enumerate(zip(axes[:, 0], dirs)):
        g = envelopes[envelopes.direction == d]
        per = g.drop_duplicates("period").set_index("period").reindex(periods["period"])
        x = per.index.to_numpy()
        _step(ax, x, per.max_line_loading_pct.to_numpy(), lw=1.8, color="tab:purple",
              label="worst line")
        _step(ax, x, per.transformer_loading_pct.to_numpy(), lw=1.8, color="tab:green",
              label="transformer")
        ax.axhline(line_max_pct, ls="--", lw=1, color="tab:purple",
                   label=f"line limit {line_max_pct:g} %")
        if transformer_max_pct != line_max_pct:
            ax.axhline(transformer_max_pct, ls=":", lw=1, color="tab:green",
                       label=f"transformer limit {transformer_max_pct:g} %")
        _shade_infeasible(ax, sorted(g[g.status == "infeasible"]["period"].unique()), label=True)
        ax.set_ylim(0, max(line_max_pct, transformer_max_pct,
                           np.nanmax(per[["max_line_loading_pct",
                                          "transformer_loading_pct"]].to_numpy())) * 1.12)
        ax.set_ylabel("Loading (% of rating)")
        ax.set_title(f"{d} envelopes — binding: {_binding_counts(g)}", fontsize=8)
        ax.grid(alpha=0.3)
        ax.legend(loc="upper left", fontsize=7)
        _time_axis(ax, periods, labels=k == len(dirs) - 1)
    fig.suptitle(title, fontsize=10)
    return fig


def binding_kind(binding: pd.Series, status: pd.Series) -> pd.Series:
    """The kind of the binding constraint (``v_max``, ``line``, ..., ``cap``, ``infeasible``)."""
    # split each distinct binding once (a year's table repeats a few dozen of them)
    codes, names = pd.factorize(binding, use_na_sentinel=False)
    kinds = np.array([str(b).split(":")[0] for b in names], dtype=object)
    kind = pd.Series(kinds[codes], index=binding.index, dtype=object)
    return kind.where((status != "infeasible").to_numpy(), "infeasible")


def days_heatmap_figure(envelopes: pd.DataFrame, title: str,
                        day_labels: dict[int, str] | None = None) -> Figure:
    """Heat maps (day × period) of the export and import envelopes and of the binding kind.

    Parameters
    ----------
    envelopes : DataFrame
        Envelope rows of many days.
    title : str
    day_labels : dict, optional
        Day index -> label (e.g. the calendar date); the day index otherwise.

    Returns
    -------
    Figure
        Top row: mean envelope over customers (kW; infeasible cells blank),
        bottom row: binding constraint kind (:data:`BINDING_KINDS`).
    """
    # only the columns drawn (a year is 455,520 rows: no copy of the others per direction)
    envelopes = envelopes[["day", "period", "time", "direction", "oe_kw", "binding", "status"]]
    dirs = [str(d) for d in pd.unique(envelopes["direction"])]
    days = sorted(envelopes["day"].unique())
    periods = _periods(envelopes)
    # fixed margins, not a layout engine (constrained layout measured every tick label
    # of the four panels again and again: a third of the figure's time for a year)
    height_in = min(4.2 + 0.36 * len(days), 12)
    fig, axes = _subplots(2, len(dirs), figsize=(6 * len(dirs), height_in), squeeze=False)
    top_in, bottom_in, gap_in = 0.7, 0.75, 1.05  # suptitle + title; tick labels + x label
    panel_in = (height_in - top_in - bottom_in - gap_in) / 2
    width_in = 6 * len(dirs)
    fig.subplots_adjust(left=1.0 / width_in, right=1 - 0.75 / width_in,  # date labels
                        bottom=bottom_in / height_in, top=1 - top_in / height_in,
                        wspace=0.45, hspace=gap_in / panel_in)
    kinds_cmap = matplotlib.colors.ListedColormap(
        ["lightgrey", "tab:blue", "tab:cyan", "tab:purple", "tab:green", INFEASIBLE_COLOUR])
    ylabels = [day_labels.get(d, str(d)) if day_labels else str(d) for d in days]
    step_y = max(1, len(days) // 15)
    for j, d in enumerate(dirs):
        g = envelopes[envelopes.direction == d]
        bad = g.status == "infeasible"
        per = g.assign(oe_kw=g.oe_kw.where(~bad)).groupby(["day", "period"]).agg(
            oe_kw=("oe_kw", "mean"), binding=("binding", "first"), status=("status", "first"))
        oe = per.oe_kw.unstack("period").reindex(index=days, columns=periods["period"])
        kind = binding_kind(per.binding, per.status).map({k: i for i, k in enumerate(BINDING_KINDS)})
        kind = kind.unstack("period").reindex(index=days, columns=periods["period"])
        for i, (data, cmap, label) in enumerate(((oe, "viridis", f"{d} OE (kW)"),
                                                 (kind, kinds_cmap, None))):
            ax = axes[i, j]
            extent = (periods["period"].min(), periods["period"].max() + 1, len(days), 0)
            if i == 0:
                im = ax.imshow(data.to_numpy(dtype=float), aspect="auto", cmap=cmap,
                               interpolation="nearest", extent=extent)
                fig.colorbar(im, ax=ax, label=label)
                ax.set_title(f"{d} envelopes (mean over customers; blank: infeasible)", fontsize=9)
            else:
                im = ax.imshow(data.to_numpy(dtype=float), aspect="auto", cmap=cmap, vmin=-0.5,
                               vmax=len(BINDING_KINDS) - 0.5, interpolation="nearest",
                               extent=extent)
                cb = fig.colorbar(im, ax=ax, ticks=range(len(BINDING_KINDS)))
                cb.ax.set_yticklabels(BINDING_KINDS, fontsize=7)
                cb.set_label("binding constraint")
                ax.set_title(f"{d}: binding constraint kind", fontsize=9)
            ax.set_yticks(np.arange(len(days))[::step_y] + 0.5)
            ax.set_yticklabels(ylabels[::step_y], fontsize=7)
            ax.set_ylabel("Day")
            _time_axis(ax, periods)
    fig.suptitle(title, fontsize=10)
    return fig


def network_figure(networks: pd.DataFrame, title: str) -> Figure:
    """Per-network summary: mean export and import envelope (bars) and infeasible periods.

    Parameters
    ----------
    networks : DataFrame
        ``networks.csv`` rows (:func:`~oe_opt.analysis.summary.summarise_networks`):
        columns ``network, direction, mean_oe_kw, min_customer_oe_kw, infeasible``.

    Returns
    -------
    Figure
        Left: mean OE per network and direction (kW) with the worst-off
        customer's OE as a marker; right: infeasible periods per network.
    """
    names = list(dict.fromkeys(networks["network"]))
    dirs = list(dict.fromkeys(networks["direction"]))
    fig, (ax, ax2) = _subplots(1, 2, figsize=(11, min(3.2 + 0.35 * len(names), 24)),
                              gridspec_kw={"width_ratios": [3, 1]}, layout="constrained")
    y = np.arange(len(names))
    h = 0.8 / max(len(dirs), 1)
    for k, d in enumerate(dirs):
        g = networks[networks.direction == d].set_index("network").reindex(names)
        ax.barh(y + k * h, g.mean_oe_kw, height=h, color=COLOURS.get(d), label=f"{d}: mean OE")
        ax.plot(g.min_customer_oe_kw, y + k * h, "k|", ms=10,
                label="worst-off customer's OE" if k == 0 else None)
        ax2.barh(y + k * h, g.infeasible, height=h, color=COLOURS.get(d), label=d)
    for a in (ax, ax2):
        a.set_yticks(y + h * (len(dirs) - 1) / 2)
        a.set_yticklabels(names, fontsize=7)
        a.invert_yaxis()
        a.grid(alpha=0.3, axis="x")
    ax.set_xlabel("Operating envelope (kW per flexible customer)")
    ax.set_title("mean OE over the day, per network", fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    ax2.set_xlim(0, max(1, int(networks["infeasible"].max()) + 1))
    ax2.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax2.set_xlabel("Infeasible periods (count)")
    ax2.set_title("infeasible periods", fontsize=9)
    fig.suptitle(title, fontsize=10)
    return fig


def comparison_figure(table: pd.DataFrame, title: str) -> Figure:
    """Step vs bisect vs lp envelopes (steps per period, one panel per direction) and lp − bisect.

    Parameters
    ----------
    table : DataFrame
        :func:`~oe_opt.analysis.compare.comparison_table`.
    """
    methods = ("step", "bisect", "lp")
    dirs = list(dict.fromkeys(table["direction"]))
    periods = _periods(table)
    fig, axes = _subplots(len(dirs) + 1, 1, figsize=(10, 2.6 * len(dirs) + 2.4), sharex=True,
                         squeeze=False, layout="constrained",
                         gridspec_kw={"height_ratios": [3] * len(dirs) + [1.5]})
    style = {"step": dict(color="tab:grey", lw=1.5, label="step (1 kW steps)"),
             "bisect": dict(color="tab:blue", lw=2.5, alpha=0.6, label="bisect (exact)"),
             "lp": dict(color="tab:red", lw=1.0, ls="--", label="lp (optimiser)")}
    ax2 = axes[-1, 0]
    for ax, d in zip(axes[:-1, 0], dirs):
        g = table[table.direction == d].set_index("period").reindex(periods["period"])
        bad = g.status == "infeasible"
        for m in methods:
            _step(ax, g.index.to_numpy(), g[f"{m}_kw"].where(~bad).to_numpy(), **style[m])
        _step(ax2, g.index.to_numpy(), 1000.0 * g.lp_minus_bisect_kw.to_numpy(), lw=1,
              color=COLOURS.get(d), label=f"{d}s")
        _shade_infeasible(ax, list(g.index[bad]), label=True)
        ax.set_ylabel(AXIS_LABELS.get(d, "OE (kW)"))
        ax.set_title(f"{d} envelopes", fontsize=9)
        ax.legend(fontsize=7, loc="lower right")
        ax.grid(alpha=0.3)
        _time_axis(ax, periods, labels=False)
    ax2.axhline(0, color="k", lw=0.5)
    ax2.set_ylabel("lp − bisect (W)")
    ax2.legend(fontsize=7, loc="best")
    ax2.grid(alpha=0.3)
    _time_axis(ax2, periods)
    fig.suptitle(title, fontsize=10)
    return fig


def objectives_figure(envelopes: pd.DataFrame, table: pd.DataFrame, title: str) -> Figure:
    """Small multiples of per-customer envelopes by objective, and total vs fairness.

    One row per objective, one column per direction: each flexible
    customer's envelope over the day as steps (same colour for a customer in
    every panel; dashed grey: the largest cap).  The last row plots, per
    direction, the day's envelope energy (kWh, all customers) against the
    mean Jain's index, one marker per objective.
    """
    objectives = list(dict.fromkeys(envelopes["objective"]))
    dirs = list(dict.fromkeys(envelopes["direction"]))
    customers = sorted(envelopes["customer"].unique(), key=lambda c: (len(c), c))
    cmap = matplotlib.colormaps["tab20"]
    colour = {c: cmap(i % 20) for i, c in enumerate(customers)}
    periods = _periods(envelopes)
    fig, axes = _subplots(len(objectives) + 1, len(dirs), squeeze=False,
                         figsize=(6.5 * len(dirs), 1.9 * len(objectives) + 3.2),
                         layout="constrained")
    for j, d in enumerate(dirs):
        for i, obj in enumerate(objectives):
            ax = axes[i, j]
            g = envelopes[(envelopes.objective == obj) & (envelopes.direction == d)]
            wide = g.pivot_table(index="period", columns="customer", values="oe_kw",
                                 dropna=False).reindex(periods["period"])
            for c in wide.columns:
                _step(ax, wide.index.to_numpy(), wide[c].to_numpy(), lw=1.0, color=colour[c],
                      label=c)
            ax.axhline(g["cap_kw"].max(), ls="--", lw=0.7, color="grey")
            row = table[(table.objective == obj) & (table.direction == d)].iloc[0]
            ax.set_title(f"{obj} — {d}s: {row.total_kwh:.0f} kWh, min {row.min_kw:.2f} kW, "
                         f"Jain {row.jain_index:.3f}", fontsize=8)
            ax.set_ylabel(f"{d} OE (kW)", fontsize=8)
            ax.grid(alpha=0.3)
            ax.tick_params(labelsize=7)
            _time_axis(ax, periods, labels=i == len(objectives) - 1)
        ax = axes[-1, j]
        t = table[table.direction == d]
        for k, (_, r) in enumerate(t.iterrows()):
            ax.scatter(r.jain_index, r.total_kwh, marker="osD^vP*X"[k % 8], s=45,
                       color=matplotlib.colormaps["tab10"](k % 10), label=r.objective)
        ax.legend(fontsize=7, loc="best")
        ax.set_xlabel("Jain's index (mean over periods; 1 = equal)", fontsize=8)
        ax.set_ylabel(f"Total {d} OE (kWh, all customers)", fontsize=8)
        ax.set_title(f"{d}s: total vs fairness", fontsize=9)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.suptitle(title, fontsize=10)
    fig.legend(handles, labels, loc="outside lower center", ncol=min(len(labels), 7), fontsize=7)
    return fig
