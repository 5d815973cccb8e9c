"""Sensitivity model: analytic (Y matrix + PQ load Jacobian) against finite differences and
against full power flows."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import TUTORIAL
from oe_opt.runs.day import Session
from oe_opt.methods.evaluator import PowerFlowEvaluator
from oe_opt.model.sensitivity import SensitivityModel
from oe_opt.study import load_study


@pytest.fixture(scope="module")
def tutorial():
    st = load_study(TUTORIAL)
    session = Session(st)
    case = session.case()
    ev = PowerFlowEvaluator(session.net, st.limits, case)
    sens = SensitivityModel(session.net, case.flex_idx)
    return st, session, case, ev, sens


def rel_err(a: np.ndarray, b: np.ndarray) -> float:
    """Largest absolute difference relative to the largest magnitude."""
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


@pytest.mark.parametrize("period, p_kw", [(24, -3.0), (36, 6.0), (4, 1.0)])
def test_analytic_agrees_with_finite_differences(tutorial, period, p_kw):
    st, session, case, ev, sens = tutorial
    ev.set_period(period)
    p = np.full(len(case.flex_idx), p_kw)
    fd = sens.finite_difference(ev.solve, p, delta_kw=0.01, central=True)
    assert fd.method == "fd" and fd.n_powerflows == 1 + 2 * len(p)
    ev.solve(p)
    an = sens.analytic(p)
    assert an.method == "analytic" and an.n_powerflows == 0
    assert np.allclose(an.y, fd.y, rtol=0, atol=1e-6)  # same state up to the PF tolerance
    volt = sens.layout.is_voltage
    # voltages and currents, every customer's column: relative error < 1e-3
    assert rel_err(an.dy_dp[volt], fd.dy_dp[volt]) < 1e-3
    assert rel_err(an.dy_dp[~volt], fd.dy_dp[~volt]) < 1e-3
    # a direction matrix gives the combined sensitivity
    ones = sens.analytic(p, np.ones((len(p), 1)))
    # (up to the kinks of |I| at phases without current, where |dI| is used)
    assert np.allclose(ones.dy_dp[:, 0], an.dy_dp.sum(axis=1), rtol=1e-9, atol=1e-6)


def test_current_at_zero_grows_like_a_step_away_from_zero(tutorial):
    """At 0 kW a flexible customer's own service-cable current is at the kink of |I|; the
    analytic sensitivity is its growth for a step away from 0 (forward difference)."""
    st, session, case, ev, sens = tutorial
    ev.set_period(4)
    p = np.zeros(len(case.flex_idx))
    fwd = sens.finite_difference(ev.solve, p, delta_kw=0.01)
    ev.solve(p)
    an = sens.analytic(p)
    svc = np.array([e == "serviceline_l1" for e in sens.layout.element])
    j = case.flex_names.index("load_mg1_1")
    assert an.y[svc][0] < 1e-3 and fwd.dy_dp[svc, j][0] > 1.0  # ~4.3 A per kW
    assert np.isclose(an.dy_dp[svc, j][0], fwd.dy_dp[svc, j][0], rtol=1e-2)


def test_sensitivity_predicts_small_step_within_one_percent(tutorial):
    st, session, case, ev, sens = tutorial
    ev.set_period(30)
    n = len(case.flex_idx)
    for p0, step in ((np.full(n, 4.0), 0.5), (np.full(n, -2.0), -0.5)):
        before = ev.solve(p0).voltage_v
        lin = sens.analytic(p0)
        after = ev.solve(p0 + step).voltage_v
        predicted = lin.predict(p0 + step)[sens.layout.is_voltage]
        actual = after - before
        big = np.abs(actual) > 0.1 * np.abs(actual).max()
        assert np.abs(actual).max() > 0.1  # a visible change (V)
        assert np.all(np.abs(predicted - before - actual)[big] <= 0.01 * np.abs(actual)[big])
    # one customer alone
    ev.solve(np.zeros(n))
    before = sens.quantities()
    lin = sens.analytic(np.zeros(n))
    p = np.zeros(n)
    p[-1] = 1.0
    ev.solve(p)
    actual = sens.quantities() - before
    j = np.argmax(np.abs(actual[sens.layout.is_voltage]))
    assert abs(lin.dy_dp[j, -1] - actual[j]) <= 0.01 * abs(actual[j])


def test_quantities_are_the_monitored_state(tutorial):
    st, session, case, ev, sens = tutorial
    ev.set_period(12)
    state = ev.solve(np.full(len(case.flex_idx), 2.0))
    y = sens.quantities()
    lay = sens.layout
    assert np.allclose(y[lay.is_voltage], state.voltage_v, atol=1e-9)
    net = session.net
    for name, loading in zip(net.line_names, state.line_loading_pct):
        sel = (lay.kind == "line") & (np.array(lay.element) == name)
        assert sel.any()
        assert np.isclose(y[sel].max() / lay.rating_a[sel][0] * 100.0, loading, atol=1e-9)
    tx = lay.kind == "transformer"
    assert np.isclose((y[tx] / lay.rating_a[tx]).max() * 100.0, state.transformer_loading_pct.max())


def test_network_y_is_the_system_y_without_loads(tutorial):
    st, session, case, ev, sens = tutorial
    ev.set_period(20)
    ev.solve(np.full(len(case.flex_idx), -1.0))
    y_net = sens.network_y().toarray()
    y_sys = sens.system_y_without_pc().toarray()
    assert np.max(np.abs(y_net - y_sys)) <= 1e-9 * np.max(np.abs(y_sys))
    # Kirchhoff: no current is injected at nodes without loads, PV or source
    v = sens.node_voltages()
    inj = y_net @ v
    free = np.setdiff1d(np.arange(len(v)), np.concatenate([sens._k, [0, 1, 2]]))
    assert np.max(np.abs(inj[free])) < 1e-6 * np.max(np.abs(inj))


def test_constant_power_terms_matter(tutorial):
    """Plain Y^-1 (no PQ-load Jacobian terms) is measurably worse than the full linearisation."""
    st, session, case, ev, sens = tutorial
    ev.set_period(40)
    p = np.full(len(case.flex_idx), 10.0)
    fd = sens.finite_difference(ev.solve, p, np.ones((len(p), 1)), delta_kw=0.01, central=True)
    ev.solve(p)
    full = sens.analytic(p, np.ones((len(p), 1)))
    v = sens.node_voltages()
    r = (-1000.0 / np.conj(v[sens._k]))[:, None] * np.asarray(sens._flex_map @ np.ones((len(p), 1)))
    plain_dv = sens._z_mon @ r
    vm = v[sens._mon]
    plain = (np.conj(vm)[:, None] * plain_dv).real[:, 0] / np.abs(vm)
    volt = sens.layout.is_voltage
    err_full = rel_err(full.dy_dp[volt, 0], fd.dy_dp[volt, 0])
    err_plain = rel_err(plain, fd.dy_dp[volt, 0])
    assert err_full < 1e-3 < err_plain


def test_sparse_and_dense_solvers_agree(tutorial):
    st, session, case, ev = tutorial[:4]
    sparse = SensitivityModel(session.net, case.flex_idx, solver="sparse")
    dense = SensitivityModel(session.net, case.flex_idx, solver="dense")
    ev.set_period(33)
    p = np.full(len(case.flex_idx), 7.0)
    ev.solve(p)
    a, b = dense.analytic(p), sparse.analytic(p)
    assert rel_err(b.dy_dp, a.dy_dp) < 1e-9 and np.allclose(a.y, b.y)
    with pytest.raises(ValueError):
        SensitivityModel(session.net, case.flex_idx, solver="magic")
