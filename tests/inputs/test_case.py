"""The day case: customer classes against the network (every load in exactly one class), and the
source voltages of ``[network] source_table`` in both forms, against OpenDSS's own daily
simulation and snapshot solutions of a model with three single-phase Vsources built here."""

from __future__ import annotations

import dss
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from conftest import dump_toml, tutorial_dict
from oe_opt.cli.main import main
from oe_opt.errors import StudyError
from oe_opt.inputs.case import check_customers
from oe_opt.methods.evaluator import PowerFlowEvaluator
from oe_opt.network.opendss import DssNetwork
from oe_opt.runs.day import Session, open_network, run_day
from oe_opt.study import load_study

SOURCES = ("source", "vb", "vc")
NOMINAL_DEG = (0.0, -120.0, 120.0)
BASE_V = 230.94  # basekv 0.23094 of each single-phase source


def network_text(extra: str = "") -> str:
    """An LV feeder driven by three single-phase Vsources (the circuit's own on phase 1, vb, vc)
    at the transformer's secondary, one 3-phase line, six single-phase customers."""
    src = "phases=1 basekv=0.23094 pu=1.0 Z1=[0.002, 0.004] Z0=[0.002, 0.004]"
    loads = "\n".join(f"New Load.c{i + 1} bus1={'b1' if i < 3 else 'b2'}.{i % 3 + 1} phases=1 "
                      f"kv=0.23094 kw=2 kvar=0 model=1" for i in range(6))
    return f"""Clear
New Circuit.three_sources bus1=src.1 angle=0 {src}
New Vsource.vb bus1=src.2 angle=-120 {src}
New Vsource.vc bus1=src.3 angle=120 {src}
New Linecode.lv nphases=3 r1=0.25 x1=0.08 r0=0.6 x0=0.3 units=km normamps=250
New Line.l1 bus1=src bus2=b1 linecode=lv length=0.2 units=km
New Line.l2 bus1=b1 bus2=b2 linecode=lv length=0.2 units=km
{loads}
{extra}
Set VoltageBases=[0.4]
CalcVoltageBases
"""


def write_case(tmp_path, table: pd.DataFrame | str, key: str = "source_table"):
    (tmp_path / "net.dss").write_text(network_text())
    path = tmp_path / "sources.csv"
    if isinstance(table, str):
        path.write_text(table)
    else:
        table.to_csv(path, index=False)
    d = tutorial_dict()
    d["network"] = {"master": str(tmp_path / "net.dss"), key: str(path)}
    d["profiles"].update(assignment="seeded")
    d["customers"] = {"flexible": [f"c{i}" for i in range(1, 7)]}
    study = tmp_path / "study.toml"
    study.write_text(dump_toml(d))
    return study


def table(pu: np.ndarray, angle: np.ndarray, column: str = "pu") -> pd.DataFrame:
    n = pu.shape[0]
    value = pu if column == "pu" else pu * BASE_V
    return pd.DataFrame({"period": np.repeat(np.arange(n), 3), "source": np.tile(SOURCES, n),
                         column: value.ravel(), "angle_deg": angle.ravel()})


def own_session(path):
    st = load_study(path)
    net = DssNetwork(st.network.master, engine=dss.DSS.NewContext())
    return st, Session(st, net=net)


def oe_opt_voltages(session, st, periods, import_kw=2.0):
    case = session.case()
    ev = PowerFlowEvaluator(session.net, st.limits, case)
    out = []
    for t in periods:
        ev.set_period(t)
        ev.solve(np.full(6, import_kw))
        out.append(session.net.node_voltages_v())
    return case, np.array(out)


def independent_engine(extra: str = ""):
    e = dss.DSS.NewContext()
    for line in network_text(extra).strip().splitlines():
        e.Text.Command = line
    return e


def test_per_source_magnitudes_match_opendss_daily_simulation(tmp_path):
    rng = np.random.default_rng(4)
    pu = rng.uniform(0.95, 1.05, (48, 3))
    angle = np.tile(NOMINAL_DEG, (48, 1))
    st, session = own_session(write_case(tmp_path, table(pu, angle)))
    case, ours = oe_opt_voltages(session, st, range(48))
    assert case.sources.names == SOURCES
    # OpenDSS's own daily simulation: each Vsource's voltage from a daily loadshape (point k is
    # period k: daily-mode step k+1), the loads at their 2 kW
    shapes = "\n".join(f"New Loadshape.s_{s} npts=48 interval=0.5 mult=[{' '.join(map(str, pu[:, j]))}]\n"
                       f"Edit Vsource.{s} daily=s_{s}" for j, s in enumerate(SOURCES))
    e = independent_engine(shapes)
    e.Text.Command = "Set mode=daily stepsize=30m number=1"
    e.Text.Command = "Set hour=0 sec=0"
    theirs = []
    for _ in range(48):
        e.ActiveCircuit.Solution.Solve()
        theirs.append(np.asarray(e.ActiveCircuit.AllBusVolts, dtype=float).view(complex))
    assert np.abs(ours - np.array(theirs)).max() < 1e-6 * BASE_V
    # and it did vary: the sources' own node voltages follow the table
    assert np.ptp(np.abs(ours[:, 0])) > 0.05 * BASE_V


def test_per_source_angles_and_volts_match_opendss_snapshots(tmp_path):
    rng = np.random.default_rng(5)
    pu = rng.uniform(0.96, 1.04, (48, 3))
    angle = np.array(NOMINAL_DEG) + rng.uniform(-3, 3, (48, 3))
    st, session = own_session(write_case(tmp_path, table(pu, angle, column="volts")))
    periods = [0, 17, 47]
    _, ours = oe_opt_voltages(session, st, periods)
    e = independent_engine()
    for k, t in enumerate(periods):
        for j, s in enumerate(SOURCES):
            e.Text.Command = f"Edit Vsource.{s} pu={float(pu[t, j])!r} angle={float(angle[t, j])!r}"
        e.ActiveCircuit.Solution.Solve()
        theirs = np.asarray(e.ActiveCircuit.AllBusVolts, dtype=float).view(complex)
        assert np.abs(ours[k] - theirs).max() < 1e-6 * BASE_V
        assert np.angle(ours[k][2], deg=True) == pytest.approx(angle[t, 2], abs=0.5)


def test_lp_matches_bisect_with_a_per_source_table(tmp_path):
    rng = np.random.default_rng(6)
    pu = rng.uniform(1.06, 1.09, (48, 3))
    st, session = own_session(write_case(tmp_path, table(pu, np.tile(NOMINAL_DEG, (48, 1)))))
    per = {m: run_day(st, m, session=session, periods=[10, 30], voltages=False).envelopes
           .groupby(["period", "direction"]).oe_kw.first() for m in ("bisect", "lp")}
    assert (per["bisect"] < 10.0).any()          # the source voltages limit the export
    assert np.abs(per["lp"] - per["bisect"]).max() < 0.01


def test_the_single_value_form_is_valid_under_either_key(tmp_path):
    old = pd.DataFrame({"period": range(48), "source_pu": np.linspace(0.98, 1.04, 48)})
    for key in ("source_table", "source_pu_table"):
        st, session = own_session(write_case(tmp_path, old, key))
        case = session.case()
        assert case.sources is None
        assert case.source_pu == pytest.approx(old.source_pu)


def good_rows() -> pd.DataFrame:
    return table(np.ones((48, 3)), np.tile(NOMINAL_DEG, (48, 1)))


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.assign(source=t.source.replace("vc", "vz")),
     r"sources.csv: row 4: source 'vz' is not a Vsource of net.dss \(its Vsources: source, vb, vc\)"),
    (lambda t: t.drop(index=[7]), r"sources.csv: source vb has no row for day 220 period\(s\) \[2\]"),
    (lambda t: t.assign(pu=t.pu.where(t.index != 5, 230.0)),
     r"sources.csv: row 7: pu 230.0 for vc is 230 pu of its basekv 0.23094 kV, not a plausible"),
    (lambda t: pd.concat([t, t.iloc[[3]]]), r"sources.csv: rows 5 and 146 both give source source "
                                            r"in period 1"),
    (lambda t: t.assign(angle_deg=t.angle_deg.astype(object).where(t.index != 2, "east")),
     r"sources.csv: row 4: angle_deg must be a finite number, got 'east'"),
    (lambda t: t.assign(period=t.period.where(t.index != 0, 48)),
     r"sources.csv: row 2: period 48 is not one of the day's periods 0..47"),
    (lambda t: t.drop(columns="angle_deg"), r"sources.csv: a per-source table needs columns period, "
                                            r"source, pu or volts"),
])
def test_bad_source_tables_are_named_with_file_and_row(tmp_path, edit, message):
    st, session = own_session(write_case(tmp_path, edit(good_rows())))
    with pytest.raises(StudyError, match=message):
        session.case()


def test_volts_are_checked_against_each_source_base(tmp_path):
    t = table(np.ones((48, 3)), np.tile(NOMINAL_DEG, (48, 1)), column="volts")
    t.loc[4, "volts"] = 400.0  # a line-to-line value for a single-phase source
    st, session = own_session(write_case(tmp_path, t))
    with pytest.raises(StudyError, match=r"row 6: volts 400.0 for vb is 1.73 pu of its basekv"):
        session.case()


def test_both_keys_at_once_are_refused(write_study, tmp_path):
    csv = tmp_path / "s.csv"
    csv.write_text("period,source_pu\n0,1.0\n")
    with pytest.raises(StudyError, match=r"give source_table or source_pu_table"):
        load_study(write_study({"network": {"source_table": str(csv), "source_pu_table": str(csv)}}))


def test_an_explicit_fixed_list_must_cover_every_other_load(write_study, tmp_path):
    data = tutorial_dict()
    flex, der = data["customers"]["flexible"], data["customers"]["fixed_der"]
    others = [f"load_mg1_{i}" for i in range(1, 32)
              if f"load_mg1_{i}" not in set(flex) | set(der)]
    complete = load_study(write_study({"customers": {"fixed": others}}, name="complete.toml"))
    net = open_network(complete)
    flex_names, fixed = check_customers(complete, net)
    assert flex_names == flex and len(fixed) == 31 - len(flex)
    partial = load_study(write_study({"customers": {"fixed": others[:-2]}}, name="partial.toml"))
    with pytest.raises(StudyError, match=rf"load\(s\) {others[-2]}, {others[-1]} are in no class"):
        check_customers(partial, net)
    out = tmp_path / "out"
    r = CliRunner().invoke(main, ["run", str(partial.path), "--out", str(out)])
    assert r.exit_code == 2 and "are in no class" in r.output and not out.exists()
