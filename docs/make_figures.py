"""Regenerate the README's example figures (docs/figures/*.png) from the shipped studies.

    python docs/make_figures.py

One figure of each kind of :mod:`oe_opt.io.figures`, at a small size: the
tutorial day (envelopes, voltages, loading), three days (heat maps), two
synthetic feeders (network chart), the three methods and two allocation
objectives (a few periods).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from oe_opt.analysis.compare import comparison_table
from oe_opt.analysis.objectives import run_objectives
from oe_opt.analysis.summary import summarise_networks
from oe_opt.io import figures
from oe_opt.io.importers.synthetic import write_synthetic_feeder
from oe_opt.runs.batch import run_days
from oe_opt.runs.day import Session, run_day
from oe_opt.runs.netset import run_networks
from oe_opt.study import load_study

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "figures"
DPI = 60


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    st = load_study(ROOT / "models" / "tutorial.toml")
    session = Session(st)
    res = run_day(st, "lp", session=session)
    env, title = res.envelopes, lambda what: figures.figure_title(what, st.name, 220, "lp")
    caps = {"export": st.envelope.export_max_kw, "import": st.envelope.import_max_kw}
    done = [figures.save_figure(figures.envelope_figure(env, title("Operating envelopes"), caps),
                                OUT / "envelopes.png", DPI),
            figures.save_figure(figures.voltage_figure(
                res.voltages, st.limits.v_min_v, st.limits.v_max_v, title("Customer voltages"),
                list(st.customers.flexible)), OUT / "voltages.png", DPI),
            figures.save_figure(figures.loading_figure(env, title("Line and transformer loading")),
                                OUT / "loading.png", DPI)]
    with tempfile.TemporaryDirectory() as tmp:
        days = run_days(st, [218, 219, 220], out_dir=Path(tmp) / "days", method="lp",
                        progress=False)
        done.append(figures.save_figure(figures.days_heatmap_figure(
            days, figures.figure_title("Envelopes by day", st.name, "days 218–220", "lp")),
            OUT / "days.png", DPI))
        masters = [write_synthetic_feeder(n, Path(tmp) / f"n{n}", seed) for n, seed in
                   ((30, 1), (45, 2), (60, 3))]
        nets = run_networks(st, masters, Path(tmp) / "nets", method="lp", flexible=0.4,
                            progress=False)
        done.append(figures.save_figure(figures.network_figure(
            summarise_networks(nets), figures.figure_title("Envelopes of 3 synthetic feeders",
                                                           st.name, 220, "lp")),
            OUT / "networks.png", DPI))
    periods = list(range(16, 32))
    session = Session(st)  # the runs above compiled other networks on the engine
    envs = {m: run_day(st, m, session=session, periods=periods, voltages=False).envelopes
            for m in ("step", "bisect", "lp")}
    done.append(figures.save_figure(figures.comparison_figure(
        comparison_table(envs), figures.figure_title("Envelopes by method", st.name, 220,
                                                     "step vs bisect vs lp")),
        OUT / "comparison.png", DPI))
    ud = load_study(ROOT / "models" / "unequal_der.toml")
    obj = run_objectives(ud, periods=list(range(20, 28)), objectives=("equal", "log_fair"))
    done.append(figures.save_figure(figures.objectives_figure(
        obj.envelopes, obj.table, figures.figure_title("Allocation objectives", ud.name,
                                                       ud.profiles.day, "alloc")),
        OUT / "objectives.png", DPI))
    for p in done:
        print(p.relative_to(ROOT), f"{p.stat().st_size // 1024} kB")


if __name__ == "__main__":
    main()
