"""End to end on the tutorial study: step and bisect, independent verification, infeasible periods."""

from __future__ import annotations

import math

import dss
import numpy as np
import pandas as pd
import pytest

from conftest import REPO, TUTORIAL
from oe_opt.runs.day import Session, run_day
from oe_opt.io.results import ENVELOPE_COLUMNS
from oe_opt.analysis.summary import summarise
from oe_opt.errors import PowerFlowError
from oe_opt.methods.evaluator import PowerFlowEvaluator
from oe_opt.model.limits import NOT_CONVERGED
from oe_opt.network.opendss import SOLUTION_TOLERANCE_PU
from oe_opt.methods.search import bisect_search, step_search
from oe_opt.study import load_study


@pytest.fixture(scope="module")
def tutorial_runs():
    st = load_study(TUTORIAL)
    session = Session(st)
    return st, run_day(st, "step", session=session), run_day(st, "bisect", session=session)


def per_period(env: pd.DataFrame) -> pd.DataFrame:
    return env.groupby(["period", "direction"]).agg(
        oe_kw=("oe_kw", "first"), status=("status", "first"), n=("oe_kw", "size"),
        spread=("oe_kw", lambda s: s.max() - s.min()))


def test_both_methods_give_a_row_per_period_direction_and_customer(tutorial_runs):
    st, step, bis = tutorial_runs
    for res in (step, bis):
        env = res.envelopes
        assert list(env.columns[:15]) == ENVELOPE_COLUMNS[:15]
        assert len(env) == 48 * 2 * 13
        assert set(env.customer) == set(st.customers.flexible)
        assert (env.oe_kw.dropna() >= 0).all()
        assert env.verified.all()
        assert (per_period(env).spread.fillna(0) == 0).all()  # equal allocation
        assert set(env.time.iloc[:2]) <= {"00:00"}


def test_bisect_is_at_least_step_and_within_one_step(tutorial_runs):
    st, step, bis = tutorial_runs
    s, b = per_period(step.envelopes), per_period(bis.envelopes)
    assert (s.status == "infeasible").eq(b.status == "infeasible").all()
    ok = b.status != "infeasible"
    diff = b.oe_kw[ok] - s.oe_kw[ok]
    assert (diff >= -1e-9).all()
    assert (diff < st.envelope.step_kw).all()
    # step results are on the 1 kW grid; bisect is not limited to it
    assert np.allclose(s.oe_kw[ok] % 1.0, 0.0)
    assert (diff > 1e-3).any()
    # the envelopes are limited by the network, not all at the caps
    assert (b.status == "ok").any()


def _independent_state(st, oe_kw: float, direction: str, period: int):
    """Build the period from scratch in a fresh engine and read limits element by element."""
    from oe_opt.inputs.profiles import assign_profiles_tutorial

    eng = dss.DSS.NewContext()
    eng.Text.Command = f'Compile "{REPO / "networks/test_lv/master.dss"}"'
    c = eng.ActiveCircuit
    c.Solution.Tolerance = SOLUTION_TOLERANCE_PU
    load = np.load(st.profiles.load)
    pv = np.load(st.profiles.pv)
    names = [n.lower() for n in c.Loads.AllNames]
    flex = set(st.customers.flexible)
    draws = assign_profiles_tutorial(names, set(names) - flex, load.shape[0])
    for name in st.customers.fixed_der:
        c.SetActiveElement(f"load.{name}")
        bus = c.ActiveCktElement.BusNames[0]
        kva = st.customers.der_kw[name]  # the study's DER size, not a fixed 10 kVA
        eng.Text.Command = (f"New PVSystem.pv_{name} phases=1 bus1={bus} kv=0.23 kva={kva:g} pmpp={kva:g} "
                            f"irradiance={pv[st.profiles.day, period]} pf=1 %cutin=0.05 %cutout=0.05")
    for name in names:
        c.Loads.Name = name
        if name in flex:
            c.Loads.kW = -oe_kw if direction == "export" else oe_kw
            c.Loads.kvar = 0.0
        else:
            p = load[draws[name], st.profiles.day, period]
            c.Loads.kW = p
            c.Loads.kvar = p * math.tan(math.acos(0.95))
    c.Solution.Solve()
    assert c.Solution.Converged
    volts = []
    for name in names:
        c.SetActiveElement(f"load.{name}")
        c.SetActiveBus(c.ActiveCktElement.BusNames[0])
        volts.append(c.ActiveBus.VMagAngle[0])
    line_ok = True
    c.Lines.First
    while True:
        nph = c.Lines.Phases
        mags = c.ActiveCktElement.CurrentsMagAng
        line_ok &= max(mags[0:2 * nph:2]) <= c.Lines.NormAmps
        if not c.Lines.Next:
            break
    c.SetActiveElement("transformer.transformer_mg1_tr1")
    mags = c.ActiveCktElement.CurrentsMagAng
    tx_ok = max(mags[8], mags[10], mags[12]) <= 500 / (math.sqrt(3) * 0.433)
    return np.array(volts), line_ok, tx_ok


def test_every_reported_envelope_holds_in_an_independent_power_flow(tutorial_runs):
    st, step, bis = tutorial_runs
    for res in (step, bis):
        rows = per_period(res.envelopes).reset_index()
        for r in rows.itertuples():
            if r.status == "infeasible":
                continue
            v, line_ok, tx_ok = _independent_state(st, r.oe_kw, r.direction, r.period)
            # a cold start converges to the same state within the solver tolerance (1e-8 pu)
            assert v.min() >= st.limits.v_min_v - 1e-4 and v.max() <= st.limits.v_max_v + 1e-4, r
            assert line_ok and tx_ok, r


def test_bisect_envelopes_are_tight(tutorial_runs):
    st, _, bis = tutorial_runs
    rows = per_period(bis.envelopes).reset_index()
    for r in rows[rows.status == "ok"].iloc[::12].itertuples():
        v, line_ok, tx_ok = _independent_state(st, r.oe_kw + 0.002, r.direction, r.period)
        violated = v.min() < st.limits.v_min_v or v.max() > st.limits.v_max_v or not (line_ok and tx_ok)
        assert violated, r


def test_infeasible_periods_are_reported_with_the_failing_constraint(write_study, tmp_path):
    table = tmp_path / "source.csv"
    pu = [1.10 if t < 6 else 1.0 for t in range(48)]
    pd.DataFrame({"period": range(48), "source_pu": pu}).to_csv(table, index=False)
    st = load_study(write_study({"network": {"source_pu": None, "source_pu_table": str(table)}}))
    for method in ("step", "bisect"):
        env = run_day(st, method, periods=[0, 1, 10]).envelopes
        bad = env[env.period < 6]
        assert (bad.status == "infeasible").all()
        assert bad.oe_kw.isna().all()
        assert bad.binding.str.startswith("v_max:").all()
        assert (bad.v_highest_v > 253).all()
        assert bad.verified.all()
        good = env[env.period == 10]
        assert (good.status != "infeasible").all() and (good.oe_kw >= 0).all()
    s = summarise(env, 0.5)
    assert s.loc["export", "infeasible"] == 2


def test_non_convergence_is_a_violation_above_zero_and_an_error_at_zero(tutorial_runs, monkeypatch):
    st = tutorial_runs[0]
    session = Session(st)
    ev = PowerFlowEvaluator(session.net, st.limits, session.case())
    ev.set_period(3)

    def diverge():
        raise PowerFlowError("did not converge")

    monkeypatch.setattr(session.net, "solve", diverge)
    assert ev.check_direction("export", 5.0) is NOT_CONVERGED
    with pytest.raises(PowerFlowError, match=r"day 220 period 3 \(01:30\)"):
        ev.check_direction("export", 0.0)
    with pytest.raises(PowerFlowError):
        step_search(lambda x: ev.check_direction("import", x), 14.0, 1.0)


def test_power_flow_counts_match_the_searches(tutorial_runs):
    _, step, bis = tutorial_runs
    b = bis.envelopes.groupby(["period", "direction"]).n_powerflows.first()
    assert b.max() <= 2 + math.ceil(math.log2(14 / 0.001))
    s = step.envelopes.groupby(["period", "direction"]).agg(n=("n_powerflows", "first"),
                                                            oe=("oe_kw", "first"))
    caps = {"export": 10, "import": 14}
    for (t, d), r in s.iterrows():
        if r.oe == caps[d]:
            assert r.n == 2
        else:
            assert r.n == 1 + (caps[d] - r.oe) + 1


def test_the_day_table_by_columns_equals_the_rows_of_each_period(tutorial_runs):
    from oe_opt.io.results import EnvelopeColumns, envelope_rows
    from oe_opt.methods.result import SearchResult

    st, step, _ = tutorial_runs
    case = Session(st).case()
    table, rows = EnvelopeColumns(case, "x"), []
    # a feasible, an infeasible (no envelope) and a per-customer result
    c = NOT_CONVERGED
    ok = step.envelopes.iloc[0]
    results = [SearchResult(float(ok.oe_kw), "ok", "v_max:a", c, 5, 0),
               SearchResult(np.nan, "infeasible", "v_min:b", c, 1, 0),
               SearchResult(np.arange(len(case.flex_names), dtype=float), "ok", "line:l", c, 7, 2)]
    for t, res in enumerate(results):
        table.append(t, "import", res, 0.5 * t)
        rows.extend(envelope_rows(case, t, "import", "x", res, 0.5 * t))
    pd.testing.assert_frame_equal(table.frame(), pd.DataFrame(rows, columns=ENVELOPE_COLUMNS))


def test_the_day_table_as_arrow_equals_the_rows_as_stored_by_pandas(tutorial_runs):
    """EnvelopeColumns.table(): pa.Table.from_pandas of the rows' DataFrame, columns, types,
    values (NaN as null) and schema metadata, the first time (from pandas) and after (made
    directly), with one envelope per period-direction (the checks' q and p arrays, a negative
    q, an infeasible period) and with per-customer envelopes or checks without q and p."""
    import pyarrow as pa

    from oe_opt.io import results as res_mod
    from oe_opt.io.results import EnvelopeColumns, envelope_rows
    from oe_opt.methods.result import SearchResult
    from oe_opt.model.limits import fast_limit_check

    st, _, _ = tutorial_runs
    case = Session(st).case()
    n = len(case.flex_names)

    def check(ok, q, p, v=230.0):
        return fast_limit_check(ok, "v_max:a", 1.5, v - 10, v, 55.5, 40.25, None,
                                flex_q_kvar=q, flex_p_kw=p)

    one = [SearchResult(4.25, "ok", "v_max:a", check(True, np.full(n, -1.5), np.full(n, -4.25)),
                        3, 1),
           SearchResult(np.nan, "infeasible", "v_min:b",
                        check(False, np.zeros(n), np.linspace(-1, 1, n)), 1, 0),
           SearchResult(float(np.float64(7.0)), "at_cap", "cap", check(True, np.zeros(n),
                                                                         np.full(n, 7.0)), 2, 1)]
    mixed = one + [SearchResult(np.arange(n, dtype=float), "ok", "line:l", NOT_CONVERGED, 7, 2)]
    for results in (one, mixed):
        res_mod._ARROW_SCHEMAS.clear()
        table, rows = EnvelopeColumns(case, "lp"), []
        for t, r in enumerate(results):
            table.append(t, "export", r, 0.25 * t)
            rows.extend(envelope_rows(case, t, "export", "lp", r, 0.25 * t))
        want_df = pd.DataFrame(rows, columns=ENVELOPE_COLUMNS)
        pd.testing.assert_frame_equal(table.frame(), want_df)
        want = pa.Table.from_pandas(want_df, preserve_index=False)
        for _ in range(2):                      # learnt, then made directly
            got = table.table()
            assert got.equals(want, check_metadata=True)
            assert got.schema.metadata == want.schema.metadata
        assert got.column("oe_kw").null_count == n           # the infeasible period's NaN
        got = table.table(start=1)
        assert got.equals(pa.Table.from_pandas(table.frame(1), preserve_index=False),
                          check_metadata=True)
    # a table made directly names the types it learnt: a column of another type (a binding
    # that is not text) is made by pandas again, with its own schema
    odd = EnvelopeColumns(case, "lp")
    odd.append(0, "export", SearchResult(1.0, "ok", None, check(True, np.zeros(n), np.ones(n)),
                                         1, 0), 0.0)
    ref = pa.Table.from_pandas(odd.frame(), preserve_index=False)
    assert odd.table().equals(ref, check_metadata=True)


def test_each_period_is_handed_over_as_it_finishes(tutorial_runs):
    """run_day(on_period=...): every period's rows (both directions), in order, as the table
    has them; a failing callback stops the day (what it recorded stays)."""
    st, _, _ = tutorial_runs
    session = Session(st)
    seen = []
    res = run_day(st, "lp", session=session, periods=[3, 20, 36], voltages=False,
                  on_period=lambda t, rows: seen.append((t, rows)))
    assert [t for t, _ in seen] == [3, 20, 36]
    for t, rows in seen:
        assert set(rows.period) == {t} and len(rows) == 2 * len(st.customers.flexible)
    pd.testing.assert_frame_equal(pd.concat([r for _, r in seen], ignore_index=True),
                                  res.envelopes)

    class Stop(Exception):
        pass

    got = []

    def stop_after_first(t, rows):
        got.append(t)
        raise Stop

    with pytest.raises(Stop):
        run_day(st, "lp", session=session, periods=[3, 20], voltages=False,
                on_period=stop_after_first)
    assert got == [3]
