"""Sensitivity model: analytic (Y matrix + PQ load Jacobian) against finite differences and
against full power flows."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse.linalg as spl

from conftest import TUTORIAL
from oe_opt.runs.day import Session
from oe_opt.methods.evaluator import PowerFlowEvaluator
from oe_opt.errors import NetworkError
from oe_opt.model.sensitivity import SensitivityModel
from oe_opt.network.base import EngineCapabilityError, NetworkEngine
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


def test_quantities_of_two_states_are_two_arrays_of_their_own(tutorial):
    """The quantities are computed in a buffer the model reuses: every call still returns a
    new array (an earlier state's y is not overwritten), |V| and |M V| of its voltages."""
    st, session, case, ev, sens = tutorial
    ev.set_period(12)
    ev.solve(np.full(len(case.flex_idx), 2.0))
    v1 = sens.node_voltages()
    y1 = sens.quantities(v1)
    keep = y1.copy()
    ev.solve(np.full(len(case.flex_idx), -4.0))
    y2 = sens.quantities()
    assert y2 is not y1 and np.array_equal(y1, keep) and not np.array_equal(y1, y2)
    m = sens.matrices.current_map
    want = np.concatenate([np.abs(v1[sens.matrices.voltage_nodes]), np.abs(m @ v1)])
    assert np.allclose(y1, want, rtol=1e-12, atol=1e-9)          # V, A


def test_constant_power_terms_matter(tutorial):
    """Plain Y^-1 (no PQ-load Jacobian terms) is measurably worse than the full linearisation."""
    st, session, case, ev, sens = tutorial
    ev.set_period(40)
    p = np.full(len(case.flex_idx), 10.0)
    fd = sens.finite_difference(ev.solve, p, np.ones((len(p), 1)), delta_kw=0.01, central=True)
    ev.solve(p)
    full = sens.analytic(p, np.ones((len(p), 1)))
    # plain Y^-1: dV = Y^-1 conj(dS)/conj(V) at the flexible customers' phase nodes
    mats = session.net.matrices()
    v = mats.node_voltages()
    rhs = np.zeros(mats.n_nodes, dtype=complex)
    for li in case.flex_idx:
        phase = mats.load_nodes[li][:-1]
        rhs[phase] += -1000.0 / len(phase) / np.conj(v[phase])
    plain_dv = spl.spsolve(mats.y_network.tocsc(), rhs)
    vm = v[mats.voltage_nodes]
    plain = (np.conj(vm) * plain_dv[mats.voltage_nodes]).real / np.abs(vm)
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


class HiddenMatrices:
    """A minimal engine on the door protocol: a DssNetwork without the optional capabilities."""

    def __init__(self, net):
        self._net = net
        for name in ("master", "load_names", "load_bus", "voltage_labels", "line_names",
                     "transformer_names", "line_rating_a", "pv_customers"):
            setattr(self, name, getattr(net, name))

    @property
    def n_powerflows(self) -> int:
        return self._net.n_powerflows

    def load_index(self, names, what="customer"):
        return self._net.load_index(names, what)

    def set_loads(self, idx, p_kw, q_kvar=None):
        self._net.set_loads(idx, p_kw, q_kvar)

    def set_pv_output(self, fraction):
        self._net.set_pv_output(fraction)

    def set_pv_irradiance(self, pv_idx, irradiance):
        self._net.set_pv_irradiance(pv_idx, irradiance)

    def set_source_pu(self, pu):
        self._net.set_source_pu(pu)

    def solve(self):
        self._net.solve()

    def read_state(self):
        return self._net.read_state()

    def reset_solution(self):
        self._net.reset_solution()

    def matrices(self):
        return None

    def topology(self):
        return None

    def time_series(self):
        return None


def test_engine_without_matrices_gets_finite_differences(tutorial):
    """An engine that provides no matrices: analytic sensitivities are refused with an
    EngineCapabilityError (a NetworkError, so "auto" falls back), finite differences work on
    the quantities of read_state and agree with those of the full model."""
    st, session, case, ev, sens = tutorial
    fake = HiddenMatrices(session.net)
    assert isinstance(fake, NetworkEngine)
    with pytest.raises(EngineCapabilityError, match="no matrices"):
        SensitivityModel(fake, case.flex_idx)
    assert issubclass(EngineCapabilityError, NetworkError)
    plain = SensitivityModel(fake, case.flex_idx, analytic=False)
    lay = plain.layout
    n_v, n_l = len(fake.voltage_labels), len(fake.line_names)
    assert list(lay.kind[:n_v]) == ["voltage"] * n_v and lay.element[n_v:n_v + n_l] == fake.line_names
    assert (lay.rating_a[~lay.is_voltage] == 100.0).all()
    fake_ev = PowerFlowEvaluator(fake, st.limits, case)
    fake_ev.set_period(36)
    p = np.full(len(case.flex_idx), 6.0)
    fd = plain.finite_difference(fake_ev.solve, p, delta_kw=0.01, central=True)
    assert fd.method == "fd" and fd.n_powerflows == 1 + 2 * len(p)
    state = session.net.read_state()  # the last perturbed state
    assert np.allclose(plain.quantities(), np.concatenate(
        [state.voltage_v, state.line_loading_pct, state.transformer_loading_pct]))
    # voltage sensitivities are those of the full model's finite differences
    ev.set_period(36)
    full = sens.finite_difference(ev.solve, p, delta_kw=0.01, central=True)
    assert rel_err(fd.dy_dp[lay.is_voltage], full.dy_dp[sens.layout.is_voltage]) < 1e-9
    # and the feeder-head line's loading sensitivity (%/kW) is its largest phase current's
    head = fake.line_names.index("line_mg1_t1_f1_l1")
    rows = (sens.layout.kind == "line") & (np.array(sens.layout.element) == "line_mg1_t1_f1_l1")
    worst = np.nonzero(rows)[0][np.argmax(full.y[rows])]
    assert np.allclose(fd.dy_dp[n_v + head], full.dy_dp[worst] / sens.layout.rating_a[worst] * 100,
                       rtol=1e-6, atol=1e-9)
    with pytest.raises(EngineCapabilityError):
        plain.quantities(np.zeros(3))


def test_an_engine_without_matrices_gets_a_verified_lp_envelope(tutorial):
    """The lp method on the matrix-less engine: sensitivity "auto" falls back to finite
    differences and still reports a verified envelope."""
    st, session, case, ev, sens = tutorial
    from oe_opt.methods.registry import get_method
    from oe_opt.problem import build_problem

    fake = HiddenMatrices(session.net)
    fake_ev = PowerFlowEvaluator(fake, st.limits, case)
    solve = get_method("lp")(build_problem(st, case.flex_names), fake, case)
    fake_ev.set_period(30)
    res = solve(fake_ev, "export")
    assert res.extra["sensitivity"] == "fd" and res.verified


def test_analytic_model_reads_only_the_matrices_interface(tutorial):
    """A wrapper that exposes matrices() but nothing OpenDSS-specific gets the same analytic
    sensitivities as the DssNetwork itself."""
    st, session, case, ev, sens = tutorial

    class MatricesOnly(HiddenMatrices):
        def matrices(self):
            return self._net.matrices()

    engine = MatricesOnly(session.net)
    other = SensitivityModel(engine, case.flex_idx)
    other_ev = PowerFlowEvaluator(engine, st.limits, case)
    other_ev.set_period(24)
    p = np.full(len(case.flex_idx), -3.0)
    fd = other.finite_difference(other_ev.solve, p, delta_kw=0.01, central=True)
    other_ev.solve(p)
    a, b = sens.analytic(p), other.analytic(p)
    assert b.method == "analytic" and b.n_powerflows == 0
    assert np.array_equal(a.dy_dp, b.dy_dp) and np.array_equal(a.y, b.y)
    volt = other.layout.is_voltage
    assert rel_err(b.dy_dp[volt], fd.dy_dp[volt]) < 1e-3
    assert rel_err(b.dy_dp[~volt], fd.dy_dp[~volt]) < 1e-3
    assert np.array_equal(other.injection_nodes, sens.injection_nodes)


@pytest.mark.parametrize("solver", ["dense", "sparse"])
@pytest.mark.parametrize("p_kw", [0.0, 7.0])
def test_matrix_free_rows_are_the_full_linearisation(tutorial, solver, p_kw):
    """analytic_rows: the adjoint rows (kinks at 0 kW included) and the model's prediction
    equal those of the full linearisation, without forming dy_dp."""
    st, session, case, ev = tutorial[:4]
    sens = SensitivityModel(session.net, case.flex_idx, solver=solver)
    ev.set_period(33)
    p = np.full(len(case.flex_idx), p_kw)
    ev.solve(p)
    full, lazy = sens.analytic(p), sens.analytic_rows(p)
    assert lazy.dy_dp is None and np.allclose(lazy.y, full.y)
    q = np.arange(0, sens.layout.n, 7)
    g = lazy.model.gradient(np.zeros(len(p)), q)
    assert rel_err(g, full.dy_dp[q]) < 1e-7
    step = np.linspace(-3.0, 2.0, len(p))
    assert rel_err(lazy.model.predict(step), full.model.predict(step)) < 1e-9
    assert rel_err(lazy.model.gradient(step, q), full.model.gradient(step, q)) < 1e-6


def whole_and_blocked(tutorial, monkeypatch, period: int, p_kw: float, min_rows: int):
    """(p, the full linearisation by the whole sparse LU, a sparse model whose sensitivities go
    by blocks (forced on the tutorial: on real feeders from ``BLOCK_MIN_NODES``))."""
    import oe_opt.model.blocks as blocks
    import oe_opt.model.sensitivity as sensitivity

    st, session, case, ev = tutorial[:4]
    ev.set_period(period)
    p = np.full(len(case.flex_idx), p_kw)
    ev.solve(p)
    whole = SensitivityModel(session.net, case.flex_idx, solver="sparse").analytic(p)
    monkeypatch.setattr(sensitivity, "BLOCK_MIN_NODES", 0)
    monkeypatch.setattr(sensitivity, "BLOCK_MIN_ROWS", min_rows)
    monkeypatch.setattr(blocks, "BLOCK_NODES", 15)
    sens = SensitivityModel(session.net, case.flex_idx, solver="sparse")
    assert sens.partition is not None and len(sens.partition.blocks) >= 3
    return p, whole, sens


@pytest.mark.parametrize("p_kw", [0.0, 7.0])
def test_adjoint_rows_by_blocks_are_the_full_linearisation(tutorial, monkeypatch, p_kw):
    """With the network cut into blocks (:mod:`oe_opt.model.blocks`), the adjoint rows at
    the linearisation and at a predicted step equal the full linearisation's."""
    p, full, sens = whole_and_blocked(tutorial, monkeypatch, 33, p_kw, 0)
    lazy = sens.analytic_rows(p)
    q = np.arange(0, sens.layout.n, 3)
    g = lazy.model.gradient(np.zeros(len(p)), q)
    assert sens.n_block_inverses == 1              # the rows came from a block inverse
    assert rel_err(g, full.dy_dp[q]) < 1e-7
    step = np.linspace(-3.0, 2.0, len(p))
    assert rel_err(lazy.model.gradient(step, q), full.model.gradient(step, q)) < 1e-6
    assert sens.n_block_inverses == 2
    lazy.model.gradient(np.zeros(len(p)), q[:5])    # kept: no third one
    assert sens.n_block_inverses == 2


def test_full_linearisation_by_blocks_is_the_whole_lu(tutorial, monkeypatch):
    """Every direction's sensitivities by blocks equal those by the whole sparse LU."""
    p, whole, sens = whole_and_blocked(tutorial, monkeypatch, 36, 4.0, 4)
    by_blocks = sens.analytic(p)
    assert sens.n_block_inverses == 1
    assert rel_err(by_blocks.dy_dp, whole.dy_dp) < 1e-9


def test_the_dense_fixed_point_solves_its_system_or_declines():
    """_fixed_point (two steps of x <- b - w conj(x) at once): the solution of
    x + w conj(x) = b to machine precision where the map contracts, as the real-form linear
    solve gives it; None where it does not (the caller factorises instead)."""
    from oe_opt.model.sensitivity import _fixed_point

    rng = np.random.default_rng(3)
    n = 31
    w = 0.01 * (rng.standard_normal((n, n)) + 1j * rng.standard_normal((n, n)))
    b = rng.standard_normal((n, 2)) + 1j * rng.standard_normal((n, 2))
    x = _fixed_point(w, b)
    assert x is not None and x.shape == b.shape
    # the real form [[I + Re w, Im w], [Im w, I - Re w]] [Re x; Im x] = [Re b; Im b]
    a = np.block([[np.eye(n) + w.real, w.imag], [w.imag, np.eye(n) - w.real]])
    ref = np.linalg.solve(a, np.vstack([b.real, b.imag]))
    assert np.abs(x - (ref[:n] + 1j * ref[n:])).max() <= 1e-13 * np.abs(b).max()
    assert np.abs(x + w @ np.conj(x) - b).max() <= 1e-13 * np.abs(b).max()
    # a map that does not contract: no answer rather than a wrong one
    assert _fixed_point(30 * w, b) is None


@pytest.mark.parametrize("first", ["one plain", "many plain", "one transposed", "many transposed"])
def test_sparse_factor_solves_as_one_lu_whichever_factor_it_keeps(first):
    """:class:`SparseFactor` keeps the factor of ``a`` or of ``a^T`` (chosen by its first
    solve: ``a^T`` where that solve's fast route is the transposed one) and answers every
    later solve, plain or transposed, one column or many, as a plain LU of ``a`` does."""
    import scipy.sparse as sp

    from oe_opt.model.sensitivity import SparseFactor, _splu

    rng = np.random.default_rng(3)
    n = 60
    a = (sp.random(n, n, density=0.08, random_state=rng) + sp.eye(n) * 4.0).tocsc()
    assert abs(a - a.T).max() > 0.1                       # not symmetric: a^T is not a
    ref = _splu(a)
    f = SparseFactor(a)
    one, many = rng.normal(size=n), rng.normal(size=(n, 5))
    calls = {"one plain": (one, "N"), "many plain": (many, "N"),
             "one transposed": (one, "T"), "many transposed": (many, "T")}
    b, trans = calls[first]
    np.testing.assert_allclose(f.solve(b, trans=trans), ref.solve(b, trans=trans), rtol=1e-10,
                               atol=1e-12)
    # the fast route of the first solve: transposed for one column, plain for many
    assert f._transposed == (first in ("one plain", "many transposed"))
    for b, trans in calls.values():
        np.testing.assert_allclose(f.solve(b, trans=trans), ref.solve(b, trans=trans),
                                   rtol=1e-10, atol=1e-12)
        assert not np.allclose(f.solve(b, trans=trans), ref.solve(b, trans="T" if trans == "N"
                                                                   else "N"))
