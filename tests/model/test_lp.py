"""The envelope LP: every objective against scipy's linprog, both backends, updates in place."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import linprog, minimize

from oe_opt.model.allocations import allocation_names, get_allocation
from oe_opt.model.lp import EnvelopeLP, log_breakpoints


def random_problem(seed: int, n: int = 6, m: int = 25):
    rng = np.random.default_rng(seed)
    a = rng.uniform(0.0, 1.0, (m, n))
    a[rng.uniform(size=(m, n)) < 0.3] = 0.0
    b = rng.uniform(2.0, 30.0, m)
    caps = rng.uniform(2.0, 10.0, n)
    return a, b, caps


def lp_max(c, a, b, bounds, a_eq=None, b_eq=None):
    r = linprog(-np.asarray(c, float), A_ub=a, b_ub=b, A_eq=a_eq, b_eq=b_eq, bounds=bounds,
                method="highs")
    assert r.status == 0
    return r.x, -r.fun


@pytest.fixture(scope="module")
def lps():
    return {be: EnvelopeLP(6, 30, backend=be) for be in ("highspy", "appsi")}


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("backend", ["highspy", "appsi"])
def test_objectives_match_linprog(lps, seed, backend):
    a, b, caps = random_problem(seed)
    n = len(caps)
    lp = lps[backend]
    lp.update(a, b, caps)
    box = [(0, c) for c in caps]

    # max_total
    sol = lp.solve_max_total()
    _, best = lp_max(np.ones(n), a, b, box)
    assert sol.ok and np.isclose(sol.x.sum(), best, rtol=1e-7)
    assert np.all(a @ sol.x <= b + 1e-7) and np.all(sol.x <= caps + 1e-9) and np.all(sol.x >= -1e-9)

    # equal: one common value
    sol = lp.solve_equal()
    t = min(caps.min(), np.min(b[a.sum(1) > 0] / a.sum(1)[a.sum(1) > 0]))
    assert np.allclose(sol.x, t, rtol=1e-7) and np.isclose(sol.t, t, rtol=1e-7)
    assert len(sol.binding_rows) or np.isclose(t, caps.min())

    # maxmin, lexicographic: the largest minimum, then the largest total with that minimum
    sol = lp.solve_maxmin()
    assert sol.n_solves == 2
    assert np.isclose(sol.x.min(), t, rtol=1e-6)
    _, best = lp_max(np.ones(n), a, b, [(t * (1 - 1e-9), c) for c in caps])
    assert np.isclose(sol.x.sum(), best, rtol=1e-6)

    # proportional
    w = np.arange(1.0, n + 1)
    sol = lp.solve_proportional(w)
    lam = min(np.min(caps / w), np.min(b[(a @ w) > 0] / (a @ w)[(a @ w) > 0]))
    assert np.allclose(sol.x, lam * w, rtol=1e-7)


@pytest.mark.parametrize("backend", ["highspy", "appsi"])
def test_log_fair_approximates_the_log_optimum(lps, backend):
    a, b, caps = random_problem(5)
    lp = lps[backend]
    lp.update(a, b, caps)
    sol = lp.solve_log_fair()
    assert sol.ok and np.all(a @ sol.x <= b + 1e-7)
    floor = 1e-3 * caps
    res = minimize(lambda x: -np.sum(np.log(np.maximum(x, floor))), 0.5 * np.minimum(caps, 1.0),
                   method="SLSQP", bounds=[(f, c) for f, c in zip(floor, caps)],
                   constraints=[{"type": "ineq", "fun": lambda x: b - a @ x,
                                 "jac": lambda x: -a}], options={"ftol": 1e-12, "maxiter": 500})
    assert res.success
    exact = -res.fun
    got = np.sum(np.log(np.maximum(sol.x, floor)))
    # 16 tangents per customer on [cap/1000, cap]: the piecewise-linear optimum is close
    assert got <= exact + 1e-6 and got >= exact - 0.05 * abs(exact) - 0.05


def test_backends_agree_and_updates_replace_the_data(lps):
    for seed in range(3):
        a, b, caps = random_problem(10 + seed)
        out = {}
        for be, lp in lps.items():
            lp.update(a, b, caps)
            out[be] = [get_allocation(name).solve(lp, np.linspace(1, 2, 6)) for name in allocation_names()]
        for s1, s2 in zip(out["highspy"], out["appsi"]):
            assert np.isclose(s1.objective, s2.objective, rtol=1e-7, atol=1e-9)


def test_fewer_rows_box_and_redundant_rows():
    lp = EnvelopeLP(2, 5)
    # a row that can never bind in [0, caps] is dropped, the others kept
    a = np.array([[1.0, 1.0], [0.1, 0.1], [-1.0, 0.0]])
    b = np.array([3.0, 100.0, 5.0])
    lp.update(a, b, caps=[2.0, 2.0])
    assert lp.n_limit_rows == 1
    sol = lp.solve_max_total()
    assert np.isclose(sol.x.sum(), 3.0) and list(sol.binding_rows) == [0]
    # a trust-region box inside the caps
    lp.update(a, b, lower=[0.5, 0.0], upper=[0.6, 10.0])
    sol = lp.solve_max_total()
    assert 0.5 - 1e-9 <= sol.x[0] <= 0.6 + 1e-9 and np.isclose(sol.x.sum(), 2.6)
    # a lower bound > 0 can make the rows infeasible: reported, not raised
    lp.update(np.array([[1.0, 1.0]]), np.array([0.2]), lower=[0.5, 0.0])
    assert lp.solve_max_total().status == "infeasible"
    lp.update(np.array([[1.0, 1.0]]), np.array([0.2]))
    assert lp.solve_max_total().ok
    with pytest.raises(ValueError):
        lp.update(np.ones((6, 2)), np.ones(6))
    with pytest.raises(ValueError):
        lp.update(np.ones((2, 3)), np.ones(2))


def test_sync_pyomo_writes_the_current_lp_into_the_model():
    import pyomo.environ as pyo
    from pyomo.contrib.appsi.solvers import Highs

    a, b, caps = random_problem(3, n=3, m=8)
    lp = EnvelopeLP(3, 8)
    lp.update(a, b, caps)
    direct = lp.solve_maxmin()
    lp.set_t_min(direct.t * (1 - 1e-9))
    lp.sync_pyomo()
    opt = Highs()
    opt.highs_options = {"output_flag": False}
    res = opt.solve(lp.model)
    assert res.termination_condition.name == "optimal"
    assert np.isclose(pyo.value(lp.model.obj), direct.objective, rtol=1e-7)


def test_log_breakpoints_span_the_caps():
    bp = log_breakpoints(np.array([10.0, 0.0]), 5)
    assert bp.shape == (2, 5) and np.isclose(bp[0, -1], 10.0) and np.isclose(bp[0, 0], 0.01)
    assert np.all(bp > 0) and np.all(np.diff(bp, axis=1) > 0)


@pytest.mark.parametrize("backend", ["highspy", "appsi"])
def test_extra_rows_are_kept_through_updates(backend):
    a, b, caps = random_problem(7)
    lp = EnvelopeLP(6, 30, backend=backend, n_extra=2)
    lp.set_extra_rows(np.ones((1, 6)), [5.0])        # total at most 5 kW
    lp.update(a, b, caps)
    sol = lp.solve_max_total()
    _, best = lp_max(np.ones(6), np.vstack([a, np.ones((1, 6))]), np.append(b, 5.0),
                     [(0, c) for c in caps])
    assert np.isclose(sol.x.sum(), best) and best <= 5.0 + 1e-9
    assert len(a) in sol.binding_rows or best < 5.0 - 1e-6
    lp.update(a * 2, b, caps)                       # still there after an update
    assert lp.solve_max_total().x.sum() <= 5.0 + 1e-7
    with pytest.raises(ValueError):
        lp.set_extra_rows(np.ones((3, 6)), np.ones(3))


@pytest.mark.parametrize("backend", ["highspy", "appsi"])
def test_anchor_breaks_ties_towards_the_given_point(backend):
    """Two customers with the same effect on one limit: every split of 10 kW is a max_total
    optimum.  The anchor picks the split closest to it; a real gain still beats it; off again,
    the LP is the plain one."""
    lp = EnvelopeLP(2, 3, backend=backend)
    caps = np.array([8.0, 8.0])
    lp.update(np.array([[1.0, 1.0]]), np.array([10.0]), caps)
    for anchor in ([3.0, 7.0], [7.5, 2.5]):                  # optimal splits: kept as they are
        lp.set_anchor(np.array(anchor), 1e-5)
        sol = lp.solve_max_total()
        assert sol.ok and np.allclose(sol.x, anchor, atol=1e-7)
        assert np.isclose(sol.objective, 10.0, atol=1e-9)
    lp.set_anchor(np.array([1.0, 2.0]), 1e-5)                 # inside: the closest optimum
    sol = lp.solve_max_total()
    assert np.isclose(sol.x.sum(), 10.0) and np.all(sol.x >= np.array([1.0, 2.0]) - 1e-9)
    assert np.isclose(sol.objective, 10.0 - 1e-5 * 7.0, atol=1e-9)
    # 0.1 % more current per kW for the second customer: curtailing it gains ~1e-3 per kW moved
    lp.update(np.array([[1.0, 1.001]]), np.array([10.0]), caps)
    lp.set_anchor(np.array([2.0, 7.99]), 1e-5)
    sol = lp.solve_max_total()
    assert np.allclose(sol.x, [8.0, 2.0 / 1.001], atol=1e-7)
    # maxmin: the largest minimum first, the anchor decides among the rest
    lp.update(np.array([[1.0, 1.0]]), np.array([10.0]), caps)
    lp.set_anchor(np.array([5.0, 5.0]), 1e-5)
    sol = lp.solve_maxmin()
    assert np.allclose(sol.x, [5.0, 5.0], atol=1e-7)
    lp.set_anchor(None)
    sol = lp.solve_max_total()
    assert np.isclose(sol.objective, 10.0) and np.isclose(sol.x.sum(), 10.0)
    with pytest.raises(ValueError):
        lp.set_anchor(np.zeros(2), -1.0)


@pytest.mark.parametrize("open_rows", [False, True])
def test_lean_lp_solves_max_total_like_the_full_one(open_rows):
    """``lean`` (x and the limit rows only) gives the full LP's max_total optimum on random
    problems, through updates in place and (open_rows) rows that grow and shrink."""
    n, m = 12, 40
    lean = EnvelopeLP(n, m, n_breakpoints=1, open_rows=open_rows, lean=True)
    full = EnvelopeLP(n, m, n_breakpoints=1, open_rows=open_rows)
    assert lean.lean and not full.lean
    assert lean._h.getNumCol() == n < full._h.getNumCol()
    for seed, k in ((0, 10), (1, 25), (2, 40), (3, 18), (4, 40)):
        a, b, caps = random_problem(seed, n=n, m=m)
        a, b = a[:k], b[:k]
        lean.update(a, b, caps)
        full.update(a, b, caps)
        x, y = lean.solve_max_total(), full.solve_max_total()
        _, best = lp_max(np.ones(n), a, b, [(0, c) for c in caps])
        assert x.ok and np.isclose(x.objective, best, rtol=1e-8)
        assert np.isclose(x.objective, y.objective, rtol=1e-9)
        assert np.all(a @ x.x <= b + 1e-7) and np.all((x.x >= -1e-9) & (x.x <= caps + 1e-9))
        assert np.isnan(x.t) and np.isnan(x.lam)
    # the equal allocation by its ratio test touches no other objective's rows
    ratio = EnvelopeLP(n, m, n_breakpoints=1, lean=True, equal_solver="ratio")
    ratio.update(a, b, caps)
    t = min(caps.min(), np.min(b[a.sum(1) > 0] / a.sum(1)[a.sum(1) > 0]))
    assert np.allclose(ratio.solve_equal().x, t, rtol=1e-7)


def test_lean_lp_refuses_every_other_objective():
    """A lean LP has no t, lam, z or tie/prop/cut/anchor rows: asking for them is a
    ValueError naming the way out, never a silently wrong optimum; max_total still works."""
    a, b, caps = random_problem(7)
    lp = EnvelopeLP(6, 30, n_breakpoints=1, lean=True)
    lp.update(a, b, caps)
    for ask in (lp.solve_maxmin, lp.solve_log_fair, lp.solve_equal,
                lambda: lp.solve_proportional(np.arange(1.0, 7.0)),
                lambda: lp.set_anchor(np.zeros(6), 1e-5)):
        with pytest.raises(ValueError, match="lean EnvelopeLP solves max_total only"):
            ask()
    _, best = lp_max(np.ones(6), a, b, [(0, c) for c in caps])
    assert np.isclose(lp.solve_max_total().objective, best, rtol=1e-8)
    with pytest.raises(ValueError, match="highspy"):
        EnvelopeLP(6, 30, backend="appsi", lean=True)


@pytest.mark.parametrize("open_rows", [False, True])
def test_lean_sync_pyomo_is_the_model_of_record(open_rows):
    """The lean LP's Pyomo model, synced, solved by HiGHS through appsi gives its optimum
    (open_rows: the rows of the moment written as a constraint list)."""
    import pyomo.environ as pyo
    from pyomo.contrib.appsi.solvers import Highs

    a, b, caps = random_problem(3, n=5, m=12)
    lp = EnvelopeLP(5, 12, n_breakpoints=1, lean=True, open_rows=open_rows)
    lp.update(a, b, caps)
    direct = lp.solve_max_total()
    lp.sync_pyomo()
    assert not hasattr(lp.model, "t") and not hasattr(lp.model, "tie")
    opt = Highs()
    opt.highs_options = {"output_flag": False}
    res = opt.solve(lp.model)
    assert res.termination_condition.name == "optimal"
    assert np.isclose(pyo.value(lp.model.obj), direct.objective, rtol=1e-7)
    x = np.array([pyo.value(lp.model.x[i]) for i in range(5)])
    assert np.all(a @ x <= b + 1e-7)
