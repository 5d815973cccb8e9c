"""What a run writes: tidy CSV tables, a summary, the figures and ``run.json``.

One function per kind of run, each returning the paths it wrote:

- :func:`write_day_outputs` (``oe-opt run``): ``envelopes.csv``,
  ``voltages.csv``, ``summary.csv`` (per direction), ``envelopes.png``,
  ``voltages.png``, ``loading.png``;
- :func:`write_days_outputs` (``oe-opt run --days``): ``envelopes.csv``,
  ``summary.csv`` (per day and direction), ``days.png`` (heat maps);
- :func:`write_network_outputs` (``oe-opt network run``): ``networks.csv``
  (per network and direction), ``networks.png``.

With ``[study] start_date`` every table has ``start``/``end`` columns (ISO
8601 with the UTC offset, :mod:`oe_opt.inputs.calendar`).  Every folder gets
``run.json`` (:func:`~oe_opt.io.results.write_run_info`), which ``oe-opt report``
and ``oe-opt publish`` read.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from oe_opt.analysis.summary import summarise, summarise_days, summarise_networks
from oe_opt.inputs.calendar import day_label
from oe_opt.io import figures
from oe_opt.io.results import add_period_times, write_run_info
from oe_opt.study import Study


def _times(study: Study, table: pd.DataFrame, period_hours: float) -> pd.DataFrame:
    return add_period_times(table, study.start_date, study.timezone, period_hours)


def _method(env: pd.DataFrame, study: Study) -> str:
    return str(env["method"].iat[0]) if len(env) else study.envelope.method


def _caps(study: Study) -> dict[str, float]:
    return {"export": study.envelope.export_max_kw, "import": study.envelope.import_max_kw}


def write_day_outputs(study: Study, envelopes: pd.DataFrame, voltages: pd.DataFrame,
                      period_hours: float, out: str | Path) -> list[Path]:
    """Write the tables, summary and figures of one day into `out` (created)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    method = _method(envelopes, study)
    day = int(envelopes["day"].iat[0]) if len(envelopes) else study.profiles.day
    label = day_label(study.start_date, day)
    written = []
    _times(study, envelopes, period_hours).to_csv(out / "envelopes.csv", index=False)
    written.append(out / "envelopes.csv")
    summary = summarise(envelopes, period_hours).reset_index()
    summary.insert(0, "day", day)
    if study.start_date is not None:
        summary.insert(1, "date", label.split(" ")[0])
    summary.to_csv(out / "summary.csv", index=False)
    written.append(out / "summary.csv")
    figs = {"envelopes.png": figures.envelope_figure(
                envelopes, figures.figure_title("Operating envelopes", study.name, label, method),
                _caps(study)),
            "loading.png": figures.loading_figure(
                envelopes, figures.figure_title("Line and transformer loading at the envelopes",
                                                study.name, label, method),
                study.limits.line_max_pct, study.limits.transformer_max_pct)}
    if len(voltages):
        _times(study, voltages, period_hours).to_csv(out / "voltages.csv", index=False)
        written.append(out / "voltages.csv")
        figs["voltages.png"] = figures.voltage_figure(
            voltages, study.limits.v_min_v, study.limits.v_max_v,
            figures.figure_title("Customer voltages", study.name, label, method),
            flexible=list(study.customers.flexible))
    for name, fig in figs.items():
        written.append(figures.save_figure(fig, out / name))
    write_run_info(out, study, method, period_hours, [day], kind="day")
    return written


def write_csv(table: pd.DataFrame, path: Path) -> Path:
    """Write `table` as ``to_csv(index=False)`` does, through Arrow's CSV writer (a year's
    envelopes, 455,520 rows, in well under a second against several seconds).

    The same text a reader gets back: floats in their shortest round-trip form with ``.0``
    on whole numbers, empty for NaN, booleans ``True``/``False``, nothing quoted.  A table
    whose text needs quoting (a delimiter, quote or line break in a value) is written by
    pandas instead.
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    cols = {}
    for c in table.columns:
        x = table[c]
        if x.dtype == bool:
            cols[c] = pa.array(np.where(x.to_numpy(), "True", "False"))
        elif x.dtype.kind == "f":
            cols[c] = _float_text(x.to_numpy(dtype=float))
        else:
            cols[c] = pa.Array.from_pandas(x)
    header = ",".join(map(str, table.columns))
    if any(ch in header for ch in '"\n\r') or len(set(table.columns)) != len(table.columns):
        table.to_csv(path, index=False)
        return path
    try:
        with open(path, "wb") as fh:
            fh.write((header + "\n").encode())
            pacsv.write_csv(pa.table(cols), fh, pacsv.WriteOptions(include_header=False,
                                                                  quoting_style="none"))
    except pa.ArrowInvalid:  # a value with a delimiter or quote: pandas quotes it
        table.to_csv(path, index=False)
    return path


def _float_text(v: np.ndarray) -> "pa.Array":
    """Text of floats `v` as ``repr`` writes them (``.0`` on whole numbers, empty for NaN).

    Each run of equal consecutive values is converted once and repeated (a day's envelope
    table repeats every per-period value once per flexible customer): Arrow's float-to-text
    cast is the slow part of writing a year's ``envelopes.csv``.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if len(v) == 0:
        return pa.array([], pa.string())
    new = np.empty(len(v), dtype=bool)
    new[0] = True
    # equal bit patterns (-0.0 and 0.0 differ, as do their texts)
    bits = np.ascontiguousarray(v).view(np.int64)
    np.not_equal(bits[1:], bits[:-1], out=new[1:])
    starts = np.flatnonzero(new)
    u = v[starts]
    text = pc.cast(pa.array(u), pa.string())
    with np.errstate(invalid="ignore"):
        whole = (np.abs(u) < 1e15) & (u == np.floor(u))   # "10" -> "10.0" as repr
    text = pc.if_else(pa.array(whole), pc.binary_join_element_wise(text, ".0", ""), text)
    text = pc.if_else(pa.array(np.isnan(u)), pa.scalar("", pa.string()), text)
    if len(u) == len(v):
        return text
    return text.take(pa.array(np.cumsum(new) - 1))


def days_title(study: Study, days: list[int]) -> str:
    """``"days 220–226"`` / ``"2024-08-08 … 2024-08-14 (days 220–226)"``."""
    lo, hi = min(days), max(days)
    span = f"{lo}–{hi}" if hi > lo else f"{lo}"
    if study.start_date is None:
        return f"{len(days)} day(s) {span}"
    a, b = day_label(study.start_date, lo).split(" ")[0], day_label(study.start_date, hi).split(" ")[0]
    return f"{a} … {b} ({len(days)} day(s) {span})"


def write_days_outputs(study: Study, envelopes: pd.DataFrame, period_hours: float,
                       out: str | Path) -> list[Path]:
    """Write the tables, per-day summary and heat maps of a many-day run into `out`."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    method = _method(envelopes, study)
    days = sorted(int(d) for d in envelopes["day"].unique())
    written = [write_csv(_times(study, envelopes, period_hours), out / "envelopes.csv")]
    summary = summarise_days(envelopes, period_hours)
    if study.start_date is not None:
        summary.insert(1, "date", [day_label(study.start_date, d).split(" ")[0]
                                   for d in summary["day"]])
    summary.to_csv(out / "summary.csv", index=False)
    written.append(out / "summary.csv")
    labels = {d: day_label(study.start_date, d).split(" ")[0] if study.start_date else str(d)
              for d in days}
    fig = figures.days_heatmap_figure(
        envelopes, figures.figure_title("Envelopes by day", study.name, days_title(study, days),
                                        method), labels)
    written.append(figures.save_figure(fig, out / "days.png"))
    write_run_info(out, study, method, period_hours, days, kind="days")
    return written


def write_network_outputs(template: Study, envelopes: pd.DataFrame, period_hours: float,
                          out: str | Path, reused: set[str] | None = None) -> tuple[pd.DataFrame,
                                                                                    list[Path]]:
    """Write ``networks.csv`` (per network and direction) and ``networks.png`` into `out`."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    table = summarise_networks(envelopes, period_hours, reused)
    if template.start_date is not None and len(envelopes):
        table.insert(2, "date", day_label(template.start_date, int(envelopes["day"].iat[0])).split(" ")[0])
    table.to_csv(out / "networks.csv", index=False)
    written = [out / "networks.csv"]
    if len(table):
        method = _method(envelopes, template)
        day = int(envelopes["day"].iat[0])
        fig = figures.network_figure(table, figures.figure_title(
            f"Envelopes of {table.network.nunique()} networks", template.name,
            day_label(template.start_date, day), method))
        written.append(figures.save_figure(fig, out / "networks.png"))
        write_run_info(out, template, method, period_hours, [day], kind="networks")
    return table, written
