"""Studies driven by the network's own OpenDSS loadshapes, and per-period source voltages."""

from __future__ import annotations

import math

import dss
import numpy as np
import pandas as pd
import pytest

from conftest import dump_toml
from loadshape_models import N5, mult_text, shapes, write_model, write_network_study
from oe_opt.inputs.case import read_source_table
from oe_opt.runs.day import Session, run_day
from oe_opt.analysis.summary import summarise
from oe_opt.errors import NetworkError, ProfileError, StudyError
from oe_opt.methods.evaluator import PowerFlowEvaluator
from oe_opt.inputs.timeseries import read_network_profiles
from oe_opt.study import load_study

@pytest.fixture
def model(tmp_path):
    master = write_model(tmp_path / "net")
    return master, load_study(write_network_study(tmp_path, master))


def test_case_takes_periods_demand_and_pv_from_the_loadshapes(model):
    master, st = model
    session = Session(st)
    case = session.case()
    house, evening, solar = shapes()
    assert case.n_periods == N5 and case.period_hours == pytest.approx(5 / 60)
    assert case.times[:3] == ["00:00", "00:05", "00:10"] and case.times[-1] == "23:55"
    assert case.flex_names == ["f1", "f2"]
    fixed = [session.net.load_names[i] for i in case.fixed_idx]
    assert fixed == ["h1", "h2", "h3", "h4"]
    p, q = case.p_fixed_kw, case.q_fixed_kvar
    # kW x pmult; kvar follows pmult unless the shape has qmult
    np.testing.assert_allclose(p[:, 0], 3 * house, atol=1e-5)
    np.testing.assert_allclose(q[:, 0], 3 * math.tan(math.acos(0.95)) * house, atol=1e-5)
    np.testing.assert_allclose(p[:, 1], 2 * evening, atol=1e-5)
    np.testing.assert_allclose(q[:, 1], 0.8 * 0.5 * evening, atol=1e-5)
    # status=fixed: no multipliers
    np.testing.assert_allclose(p[:, 2], 4.0)
    np.testing.assert_allclose(case.pv_irradiance[:, 0], 0.9 * solar, atol=1e-5)
    assert case.pv_fraction.shape == (N5, 0) and case.source_pu is None


def test_snapshots_equal_opendss_daily_mode(model):
    """Each period, with the flexible customers at 0 kW, matches OpenDSS's own daily simulation."""
    master, st = model
    session = Session(st)
    case = session.case()
    ev = PowerFlowEvaluator(session.net, st.limits, case)
    ours = []
    for t in range(case.n_periods):
        ev.set_period(t)
        ours.append(ev.solve(0.0).voltage_v)
    ref_engine = dss.DSS.NewContext()
    ref_engine.Text.Command = f'Compile "{master}"'
    ref_engine.Text.Command = "Set mode=daily stepsize=5m number=1"
    ckt = ref_engine.ActiveCircuit
    ckt.Solution.Tolerance = 1e-8
    names = [n.lower() for n in ckt.AllNodeNames]
    idx = [names.index(session.net.node_names[i]) for i in session.net.voltage_node_idx]
    ref = []
    for _ in range(N5):  # OpenDSS step k (k = 1..288) uses point k: our period k-1
        ckt.Solution.Solve()
        ref.append(np.asarray(ckt.AllBusVmag)[idx])
    ours, ref = np.array(ours), np.array(ref)
    assert np.ptp(ref, axis=0).max() > 1.0  # the day really varies
    np.testing.assert_allclose(ours, ref, atol=1e-4)


def test_run_day_uses_the_loadshape_period_length(model):
    master, st = model
    res = run_day(st, "step")
    env = res.envelopes
    assert len(env) == N5 * 2 * 2 and env.period.max() == N5 - 1
    assert res.period_hours == pytest.approx(5 / 60)
    summary = summarise(env, res.period_hours)
    for direction, g in env.groupby("direction"):
        per = g.groupby("period").oe_kw.mean()
        assert summary.loc[direction, "energy_kwh_per_customer"] == pytest.approx(per.sum() * 5 / 60)
    assert env.verified.all()


def test_source_voltage_table_sets_the_source_each_period(tmp_path):
    master = write_model(tmp_path / "net")
    pu = 1.0 + 0.04 * np.sin(np.arange(N5) / N5 * 2 * math.pi)
    table = tmp_path / "source.csv"
    pd.DataFrame({"period": np.arange(N5), "source_pu": pu}).to_csv(table, index=False)
    st = load_study(write_network_study(tmp_path, master, source_pu_table=str(table)))
    session = Session(st)
    case = session.case()
    np.testing.assert_allclose(case.source_pu, pu)
    ev = PowerFlowEvaluator(session.net, st.limits, case)
    v = {}
    for t in (0, N5 // 4, 3 * N5 // 4):
        ev.set_period(t)
        assert session.net.circuit.Vsources.pu == pytest.approx(pu[t])
        v[t] = ev.solve(0.0).voltage_v
    # the customers' voltages follow the source
    assert v[N5 // 4].mean() > v[0].mean() > v[3 * N5 // 4].mean()


def test_source_voltage_table_with_days_and_missing_periods(tmp_path):
    rows = [{"day": d, "period": p, "source_pu": 1.0 + 0.01 * d} for d in (0, 1) for p in range(4)]
    path = tmp_path / "src.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    np.testing.assert_allclose(read_source_table(path, 4, 1), 1.01)
    with pytest.raises(StudyError, match="period"):
        read_source_table(path, 5, 0)
    pd.DataFrame({"period": [0, 1], "source_pu": [1.0, 2.0]}).to_csv(path, index=False)
    with pytest.raises(StudyError, match="0.5, 1.5"):
        read_source_table(path, 2, 0)


def test_source_voltage_table_on_the_tutorial_study(write_study, tmp_path):
    table = tmp_path / "src.csv"
    pu = np.linspace(0.97, 1.03, 48)
    pd.DataFrame({"period": range(48), "source_pu": pu}).to_csv(table, index=False)
    st = load_study(write_study({"network": {"source_pu": None, "source_pu_table": str(table)}}))
    session = Session(st)
    case = session.case()
    np.testing.assert_allclose(case.source_pu, pu)
    ev = PowerFlowEvaluator(session.net, st.limits, case)
    ev.set_period(47)
    assert session.net.circuit.Vsources.pu == pytest.approx(1.03)


def test_multi_day_shapes_are_cut_into_days(tmp_path):
    master = write_model(tmp_path / "net", n=48, minutes=60)  # 48 hourly points: two days
    st = load_study(write_network_study(tmp_path, master))
    session = Session(st)
    prof = session.data
    assert (prof.n_days, prof.periods_per_day, prof.period_hours) == (2, 24, 1.0)
    house, _, _ = shapes(48)
    day1 = session.case(1)
    assert day1.n_periods == 24 and day1.times[1] == "01:00"
    np.testing.assert_allclose(day1.p_fixed_kw[:, 0], 3 * house[24:], atol=1e-5)
    with pytest.raises(ProfileError, match="day 2 is outside"):
        session.case(2)


def test_loadshapes_of_different_lengths_are_rejected(tmp_path):
    extra = f"New Loadshape.short npts=48 minterval=30 mult={mult_text(np.ones(48))}\n" \
            "New Load.odd bus1=p1.3 phases=1 kv=0.24 kw=1 pf=1 daily=short"
    master = write_model(tmp_path / "net", extra=extra)
    st = load_study(write_network_study(tmp_path, master))
    with pytest.raises(NetworkError, match=r"short \(48 points of 30 min\)"):
        Session(st)


def test_a_network_without_loadshapes_is_rejected(tmp_path):
    master = write_model(tmp_path / "net")
    text = master.read_text().replace("daily=house", "").replace("daily=evening", "")
    master.write_text(text)
    with pytest.raises(NetworkError, match="no load of this network has one"):
        Session(load_study(write_network_study(tmp_path, master)))


def test_der_customers_need_profile_files(tmp_path):
    master = write_model(tmp_path / "net")
    path = write_network_study(tmp_path, master)
    path.write_text(path.read_text().replace('flexible = ["f1", "f2"]',
                                             'flexible = ["f1", "f2"]\nfixed_der = ["h4"]'))
    with pytest.raises(StudyError, match="fixed_der"):
        Session(load_study(path)).case()


def test_network_profiles_are_read_as_compiled(model):
    """Base powers are those of the compiled circuit even after injections were set."""
    master, st = model
    session = Session(st)
    ev = PowerFlowEvaluator(session.net, st.limits, session.case())
    ev.set_period(100)
    prof = read_network_profiles(session.net)
    assert prof.load_kw.tolist() == [3.0, 2.0, 4.0, 2.5, 0.0, 0.0]
    assert prof.pv_irradiance.tolist() == [0.9]


def test_many_days_of_a_yearly_style_shape_run_in_batch(tmp_path):
    from oe_opt.runs.batch import run_days

    master = write_model(tmp_path / "net", n=48, minutes=60)
    st = load_study(write_network_study(tmp_path, master))
    env = run_days(st, "1-2", out_dir=tmp_path / "out", method="step", progress=False)
    assert sorted(env.day.unique()) == [0, 1] and len(env) == 2 * 24 * 2 * 2
    assert (tmp_path / "out" / "days" / "day_001.parquet").is_file()
    with pytest.raises(StudyError, match=r"day 3 is outside the data \(1..2\)"):
        run_days(st, "3", out_dir=tmp_path / "out", method="step", progress=False)


def test_network_profiles_are_checked_and_cut_into_days_without_an_engine(tmp_path):
    """The engine only reads arrays; the checks and the cut into days are engine-free."""
    from oe_opt.inputs.timeseries import LoadShape, network_profiles

    shapes = {"a": LoadShape("a", np.ones(96), None, 0.5, False),
              "b": LoadShape("b", np.full(96, 0.5), None, 0.5, False),
              "c": LoadShape("c", np.ones(48), None, 0.5, False)}
    read = []

    def reader(name):
        read.append(name)
        return shapes[name]

    prof = network_profiles(tmp_path, [2.0, 1.0], [0.5, 0.0], ["a", None], ["pv1"], [0], [1.0],
                            ["b"], reader)
    assert sorted(read) == ["a", "b"]
    assert (prof.periods_per_day, prof.n_days, prof.period_hours) == (48, 2, 0.5)
    p, q = prof.load_power(slice(48, 96), np.array([0, 1]))
    assert p.shape == (48, 2) and (p[:, 0] == 2.0).all() and (p[:, 1] == 1.0).all()
    assert (prof.irradiance(slice(0, 48)) == 0.5).all()
    with pytest.raises(NetworkError, match=r"c \(48 points of 30 min\)"):
        network_profiles(tmp_path, [2.0], [0.0], ["a"], ["pv1"], [0], [1.0], ["c"], reader)
    with pytest.raises(NetworkError, match="no load of this network has one"):
        network_profiles(tmp_path, [2.0], [0.0], [None], ["pv1"], [0], [1.0], ["b"], reader)


def test_an_engine_without_loadshapes_is_refused_by_name():
    from oe_opt.network.base import EngineCapabilityError

    class NoLoadshapes:
        master = "fake.dss"

        def time_series(self):
            return None

    with pytest.raises(EngineCapabilityError, match="fake.dss.*provides none"):
        read_network_profiles(NoLoadshapes())
