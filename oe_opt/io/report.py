"""``report.html``: one self-contained page of a results folder.

:func:`render_report` fills the Jinja2 template ``templates/report.html.j2``
with the verification statement (how many envelopes, how many power flows,
how many infeasible or nonconvergent periods and why), the summary tables
(``summary.csv``, ``networks.csv``), every figure of the folder (PNG embedded
as base64) and the study settings from ``run.json``.  The page carries a
small script that marks ``<body data-check="ok">`` once every figure has
decoded and every table has rows, for checking it in a headless browser.
"""

from __future__ import annotations

import base64
import math
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pandas as pd

from oe_opt.errors import OEError
from oe_opt.io.results import read_run_info

#: figure file -> caption, in page order (other PNGs follow, by name)
CAPTIONS = {
    "envelopes.png": "Operating envelopes per period (steps), caps dashed, infeasible periods shaded.",
    "voltages.png": "Customer voltages at the envelopes: min–max over all and over flexible customers.",
    "loading.png": "Worst line and transformer loading (% of rating) at the envelopes.",
    "days.png": "Envelopes and binding constraint kind by day and period.",
    "networks.png": "Mean envelope and infeasible periods per network.",
    "comparison.png": "Step vs bisect vs lp envelopes.",
    "objectives.png": "Per-customer envelopes of each allocation objective.",
}
TABLES = (("summary.csv", "Summary", "summary"), ("networks.csv", "Networks", "networks"),
          ("comparison.csv", "Method comparison", "comparison"),
          ("objectives.csv", "Allocation objectives", "objectives"))
TEXT_COLUMNS = {"direction", "most_binding", "network", "source", "date", "objective", "start",
                "end", "time", "all_verified"}


def _envelopes(folder: Path) -> pd.DataFrame:
    for name in ("envelopes.csv", "envelopes.parquet", "networks.parquet"):
        path = folder / name
        if path.is_file():
            return pd.read_csv(path) if name.endswith(".csv") else pd.read_parquet(path)
    raise OEError(f"{folder}: no envelopes.csv, envelopes.parquet or networks.parquet")


def verification(env: pd.DataFrame) -> dict:
    """Counts for the verification statement of an envelope table."""
    keys = [k for k in ("network", "day", "period", "direction") if k in env]
    per = env.drop_duplicates(keys)
    bad = per[~per.status.isin(["ok", "at_cap"])]
    reasons = (bad.groupby(["status", "binding"]).size().sort_values(ascending=False)
               .head(8).reset_index(name="n").to_dict("records"))
    owners = ["network", "customer"] if "network" in env else ["customer"]
    return {"n_envelopes": len(env), "n_customers": len(env.drop_duplicates(owners)),
            "n_periods": len(per), "n_days": env.day.nunique(),
            "n_networks": env.network.nunique() if "network" in env else 0,
            "n_powerflows": int(per.n_powerflows.sum()),
            "all_verified": bool(env.verified.all()),
            "n_unverified": int((~env.verified.astype(bool)).sum()),
            "n_infeasible": int((per.status == "infeasible").sum()),
            "n_nonconvergent": int((per.status == "nonconvergent").sum()),
            "reasons": reasons}


def _fmt(x) -> str:
    if isinstance(x, float):
        return "" if math.isnan(x) else f"{x:.3f}"
    return str(x)


def _table(path: Path, title: str, id_: str, max_rows: int = 400) -> dict:
    df = pd.read_csv(path).head(max_rows)
    return {"title": title, "id": id_, "columns": list(df.columns), "text": TEXT_COLUMNS,
            "rows": [[(c, _fmt(x)) for c, x in zip(df.columns, r)]
                     for r in df.itertuples(index=False)]}


def _settings(info: dict) -> list[tuple[str, str]]:
    out = [(k, str(info[k])) for k in ("study", "study_file", "method", "kind", "period_hours",
                                       "start_date", "timezone") if info.get(k) is not None]
    days = info.get("days") or []
    if days:
        out.append(("days", f"{days[0]}–{days[-1]} ({len(days)})" if len(days) > 1 else str(days[0])))
    for table, values in (info.get("settings") or {}).items():
        for k, x in values.items():
            out.append((f"[{table}] {k}", str(x)))
    return out


def render_report(folder: str | Path) -> str:
    """The HTML of the report of results `folder` (see the module docstring).

    Raises
    ------
    OEError
        If the folder, its ``run.json`` or its envelopes are missing.
    """
    from jinja2 import Environment, PackageLoader, select_autoescape

    folder = Path(folder)
    info = read_run_info(folder)
    env = _envelopes(folder)
    pngs = sorted(folder.glob("*.png"), key=lambda p: (list(CAPTIONS).index(p.name)
                                                       if p.name in CAPTIONS else 99, p.name))
    figures = [{"name": p.name, "caption": CAPTIONS.get(p.name, p.stem),
                "data": base64.b64encode(p.read_bytes()).decode()} for p in pngs]
    tables = [_table(folder / f, t, i) for f, t, i in TABLES if (folder / f).is_file()]
    days = info.get("days") or []
    span = (f"day {days[0]}" if len(days) == 1 else f"days {days[0]}–{days[-1]}") if days else ""
    if info.get("start_date") and days:
        import datetime as dt

        d0 = dt.date.fromisoformat(info["start_date"])
        dates = [(d0 + dt.timedelta(days=d)).isoformat() for d in (days[0], days[-1])]
        span = f"{dates[0]}" if len(days) == 1 else f"{dates[0]} … {dates[1]}"
        span += f" ({'day ' + str(days[0]) if len(days) == 1 else f'days {days[0]}–{days[-1]}'})"
    try:
        ver = version("oe-opt")
    except PackageNotFoundError:  # pragma: no cover
        ver = "?"
    jinja = Environment(loader=PackageLoader("oe_opt.io", "templates"),
                        autoescape=select_autoescape(["html", "j2"]))
    return jinja.get_template("report.html.j2").render(
        title=f"Operating envelopes — {info['study']}, {span} ({info['method']})",
        version=ver, folder=str(folder), v=verification(env), tables=tables, figures=figures,
        settings=_settings(info))


def write_report(folder: str | Path, out: str | Path | None = None) -> Path:
    """Render the report of `folder` and write it to `out` (default ``<folder>/report.html``)."""
    html = render_report(folder)
    path = Path(out) if out else Path(folder) / "report.html"
    path.write_text(html, encoding="utf-8")
    return path
