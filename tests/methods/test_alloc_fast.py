"""alloc's fast core at feeder scale (oe_opt.methods.alloc_fast): max_total by a lean
successive LP on few, sparse rows, stopped within a stated tolerance of the LP bound.

On a 300-customer synthetic feeder (150 flexible): every envelope is verified by a full
power flow; the total is within the tolerance of the cutting-plane core
(``alloc_core="slp"``); the stopping tolerance is honoured (a verified total at least
``1 - rel_tol`` of the LP bound at its state) and is what stops the loop (a loose one accepts
the verified start as it is, a tight one goes on); the gradients kept from an earlier state
are those of that state, the fresh ones those of the new state.
"""

from __future__ import annotations

import numpy as np
import pytest

from conftest import per_customer_setup, random_lp_rows
from oe_opt.methods import optimised
from oe_opt.methods.alloc_fast import REL_TOL, solve_alloc_fast
from oe_opt.methods.row_generation import RowGradients
from oe_opt.methods.slp import MARGIN_KW, TOL_KW
from oe_opt.model.lp import EnvelopeLP
from oe_opt.runs.day import run_day

#: the cores are local methods stopping at different verified points (the fast one within
#: REL_TOL of the LP bound at its own state); measured on syn300, periods 0, 24, 34: within
#: 0.8 % of the cutting-plane loop and of the LP with every row
TOTAL_REL_TOL = 1e-2


def _alloc(study, session, periods, core, monkeypatch):
    orig = optimised.make_solver
    kw = {"row_generation": "off"} if core == "off" else {"alloc_core": core}
    monkeypatch.setattr(optimised, "make_solver", lambda *a, **k: orig(*a, **{**k, **kw}))
    env = run_day(study, "alloc", session=session, periods=periods, voltages=False).envelopes
    monkeypatch.setattr(optimised, "make_solver", orig)
    return env


def test_fast_core_is_verified_and_near_the_other_loops(syn300, monkeypatch):
    study, session = syn300
    periods = [0, 24, 34]
    env = {k: _alloc(study, session, periods, k, monkeypatch) for k in ("fast", "slp", "off")}
    assert all(e.verified.all() for e in env.values())
    tot = {k: e.groupby(["period", "direction"]).oe_kw.sum() for k, e in env.items()}
    for ref in ("slp", "off"):
        rel = (tot["fast"] - tot[ref]).abs() / tot[ref]
        assert rel.max() < TOTAL_REL_TOL, (ref, rel)
    # the fast core: fewer LP solves than the cutting-plane loop
    assert (env["fast"].groupby(["period", "direction"]).n_lp.first().sum()
            < env["slp"].groupby(["period", "direction"]).n_lp.first().sum())


def _setup(study, session, period):
    return per_customer_setup(study, session, period, lean=True)   # as in run_day


def _fast(setup, direction, **kw):
    problem, sens, rows, lp, ev, e = setup
    return solve_alloc_fast(ev, direction, lp, sens, e, rows, problem.customer_caps_kw(direction),
                            margin_kw=MARGIN_KW, tol_kw=TOL_KW, **kw)


@pytest.mark.parametrize("direction", ["export", "import"])
def test_the_stopping_tolerance_is_honoured_and_stops_the_loop(syn300, direction):
    study, session = syn300
    setup = _setup(study, session, 24)
    ev = setup[4]
    tight = _fast(setup, direction, rel_tol=REL_TOL)
    x = np.asarray(tight.oe_kw)
    assert tight.verified and ev.check((-1 if direction == "export" else 1) * x).ok
    bound = tight.extra["bound_kw"]
    assert np.isfinite(bound) and x.sum() >= (1 - REL_TOL) * bound - 1e-9
    # a verified start well below the optimum: a loose tolerance (the start within 50 % of the
    # bound) accepts it unchanged, the stated one moves on to at least 1 - REL_TOL of its bound
    start = 0.8 * x
    loose = _fast(setup, direction, rel_tol=0.5, start=start)
    assert [c.step for c in loose.extra["history"]] == ["start"]
    assert np.array_equal(loose.oe_kw, start)
    assert loose.extra["bound_kw"] > start.sum()
    moved = _fast(setup, direction, rel_tol=REL_TOL, start=start)
    assert moved.verified and np.sum(moved.oe_kw) > 1.1 * start.sum()
    assert np.sum(moved.oe_kw) >= (1 - REL_TOL) * moved.extra["bound_kw"] - 1e-9


@pytest.mark.parametrize("direction", ["export", "import"])
def test_the_fast_core_checks_by_the_node_voltages_with_the_same_verdicts(syn300, direction,
                                                                          monkeypatch):
    """solve_alloc_fast checks its candidates by the lean checker on the branch currents as
    |M V| of the node voltages (``yprim``) and leaves the evaluator's reader as it found it;
    its envelopes, verdicts and power flows are those of the same core checking by every
    element's currents (the evaluator's default, ``pdelements``)."""
    from oe_opt.methods import alloc_fast

    study, session = syn300
    net_type = type(session.net)
    read = net_type.read_state
    readers: list[str] = []

    def spy(self, currents=None, **kw):
        readers.append(currents or self.state_reader)
        return read(self, currents, **kw)

    monkeypatch.setattr(net_type, "read_state", spy)
    setup = _setup(study, session, 24)
    fast = _fast(setup, direction)
    ev = setup[4]
    assert ev.state_reader is None and ev.lean is False          # restored
    assert set(readers) == {"yprim"}
    readers.clear()
    problem, sens, rows, lp, ev, e = _setup(study, session, 24)
    own = alloc_fast._solve_alloc_fast(
        ev, direction, lp, sens, e, rows, problem.customer_caps_kw(direction),
        margin_kw=MARGIN_KW, tol_kw=TOL_KW, rel_tol=REL_TOL, start=None, memory=None,
        max_linearisations=alloc_fast.MAX_LINEARISATIONS, accept=alloc_fast.ACCEPT_DEFAULT)
    assert set(readers) == {"pdelements"}
    assert fast.verified and own.verified and fast.status == own.status
    assert fast.n_powerflows == own.n_powerflows and fast.binding == own.binding
    assert [c.ok for c in fast.extra["history"]] == [c.ok for c in own.extra["history"]]
    # (the same path to rounding: the cached sensitivity model solves a little differently the
    # second time, 1e-8 kW seen)
    assert np.allclose(fast.oe_kw, own.oe_kw, rtol=0, atol=1e-6)


@pytest.mark.parametrize("direction", ["export", "import"])
def test_own_state_acceptance_measures_the_reported_point_against_its_own_lp(syn300, direction):
    """``accept="own_state"``: the bound a reported point is accepted against is the LP's at
    that point's own state (``bound_state_kw`` its total); the default ``model`` accepts
    against the bound of the state it was linearised from (an earlier, lower one), which
    ``own_state`` never does: it linearises once more and confirms."""
    study, session = syn300
    setup = _setup(study, session, 24)
    ev = setup[4]
    model = _fast(setup, direction, accept="model")
    own = _fast(setup, direction, accept="own_state")
    for res in (model, own):
        x = np.asarray(res.oe_kw)
        assert res.verified and ev.check((-1 if direction == "export" else 1) * x).ok
        assert x.sum() >= (1 - REL_TOL) * res.extra["bound_kw"] - 1e-9
        assert res.extra["accept"] in ("model", "own_state")
    # the default here accepts by the model: its bound is of the (verified) start's state
    assert model.extra["bound_state_kw"] < 0.99 * np.sum(model.oe_kw)
    # own_state: the bound of the reported point's own state, one linearisation more
    assert own.extra["bound_state_kw"] == pytest.approx(np.sum(own.oe_kw), rel=1e-12)
    assert own.extra["n_sensitivity"] > model.extra["n_sensitivity"]
    assert np.sum(own.oe_kw) >= (1 - REL_TOL) * np.sum(model.oe_kw)
    with pytest.raises(ValueError, match="accept"):
        _fast(setup, direction, accept="own")


def test_auto_acceptance_is_the_model_s_unless_a_row_needed_a_tangent(syn300, monkeypatch):
    """``accept="auto"``: from the equal allocation (as ``run_day`` starts) no row of this
    feeder needs the model's tangent and ``auto`` takes ``model``'s steps; from 0 kW the
    flexible customers' service currents pass their kink, rows get tangents, and the
    candidate is measured against its own state, as ``own_state``."""
    from oe_opt.methods import alloc_fast

    study, session = syn300
    seen = []
    inner = alloc_fast.solve_alloc_fast

    def spy(*a, **k):
        res = inner(*a, **k)
        seen.append(res)
        return res

    monkeypatch.setattr(alloc_fast, "solve_alloc_fast", spy)
    env = {}
    for accept in ("model", "auto"):
        env[accept] = run_day(study.with_alloc_accept(accept), "alloc", session=session,
                              periods=[24], voltages=False).envelopes
    monkeypatch.setattr(alloc_fast, "solve_alloc_fast", inner)
    assert len(seen) == 4 and all(r.extra["n_tangents"] == 0 for r in seen)
    assert [r.extra["accept"] for r in seen] == ["model"] * 2 + ["auto"] * 2
    # the same steps (a second run in one session starts HiGHS from the first one's basis:
    # the same vertices to ~1e-6 kW)
    assert ([[c.step for c in r.extra["history"]] for r in seen[:2]]
            == [[c.step for c in r.extra["history"]] for r in seen[2:]])
    assert [r.extra["n_sensitivity"] for r in seen[:2]] == [r.extra["n_sensitivity"]
                                                            for r in seen[2:]]
    np.testing.assert_allclose(env["auto"].oe_kw.to_numpy(), env["model"].oe_kw.to_numpy(),
                               rtol=0, atol=1e-5)
    # from 0 kW: tangents; model accepts against the start's state, auto against its own
    setup = _setup(study, session, 24)
    model0 = _fast(setup, "export", accept="model")
    auto0 = _fast(setup, "export")                      # the default: auto
    assert auto0.extra["accept"] == "auto"
    assert model0.extra["n_tangents"] > 0 and auto0.extra["n_tangents"] > 0
    assert model0.extra["bound_state_kw"] < 0.99 * np.sum(model0.oe_kw)
    assert auto0.verified
    assert auto0.extra["bound_state_kw"] == pytest.approx(np.sum(auto0.oe_kw), rel=1e-12)


def test_make_solver_passes_the_acceptance_and_refuses_an_unknown_one(syn300, monkeypatch):
    study, session = syn300
    orig = optimised.make_solver
    seen = []
    real = optimised._generate_from_equal

    def spy(*a, **k):
        seen.append(a[-1])                       # accept, the last positional argument
        return real(*a, **k)

    monkeypatch.setattr(optimised, "_generate_from_equal", spy)
    monkeypatch.setattr(optimised, "make_solver",
                        lambda *a, **k: orig(*a, **{**k, "alloc_accept": "own_state"}))
    env = run_day(study, "alloc", session=session, periods=[24], voltages=False).envelopes
    assert env.verified.all() and seen and set(seen) == {"own_state"}
    monkeypatch.setattr(optimised, "make_solver",
                        lambda *a, **k: orig(*a, **{**k, "alloc_accept": "strict"}))
    with pytest.raises(ValueError, match="alloc_accept"):
        run_day(study, "alloc", session=session, periods=[24], voltages=False)
    # without the argument: the study's [envelope] alloc_accept
    monkeypatch.setattr(optimised, "make_solver", orig)
    seen.clear()
    run_day(study.with_alloc_accept("model"), "alloc", session=session, periods=[24],
            voltages=False)
    assert set(seen) == {"model"}
    seen.clear()
    run_day(study, "alloc", session=session, periods=[24], voltages=False)
    assert set(seen) == {"auto"}


def test_kept_gradients_are_the_earlier_states_and_fresh_ones_the_new(syn300):
    study, session = syn300
    problem, sens, rows, lp, ev, e = _setup(study, session, 24)
    n = e.shape[1]
    q = rows.q[:40]
    ev.check(np.full(n, -1.0))
    g1 = RowGradients(sens.analytic_rows(np.full(n, -1.0), e), -1.0, n)
    old = g1[q].copy()
    ev.check(np.full(n, -4.0))
    lin2 = sens.analytic_rows(np.full(n, -4.0), e)
    new = RowGradients(lin2, -1.0, n)[q]
    assert np.abs(new - old).max() > 1e-6 * np.abs(old).max()     # the states differ
    fresh = q[:10]
    kept = RowGradients(lin2, -1.0, n, reuse=g1, fresh=fresh)
    np.testing.assert_array_equal(kept[q[10:]], old[10:])
    np.testing.assert_allclose(kept[fresh], new[:10], rtol=1e-9, atol=1e-15)
    assert kept.n_rows == len(np.unique(fresh))


def _in_place_log(monkeypatch, lp: EnvelopeLP) -> list[bool]:
    """Whether each of `lp`'s updates after its first went in place (``_append_rows``)."""
    log: list[bool] = []
    append = EnvelopeLP._append_rows

    def spy(self, *a):
        ok = append(self, *a)
        if self is lp:
            log.append(ok)
        return ok

    monkeypatch.setattr(EnvelopeLP, "_append_rows", spy)
    return log


def _same_optimum(lp: EnvelopeLP, a: np.ndarray, b: np.ndarray, caps: np.ndarray) -> None:
    """`lp` updated to rows (a, b) has the optimum of a fresh LP of them (solved with HiGHS's
    own choice of dual pricing, not OPEN_ROWS_PRICING)."""
    lp.update(a, b, caps)
    fresh = EnvelopeLP(a.shape[1], lp.m, n_breakpoints=1, open_rows=True)
    fresh._h.setOptionValue("simplex_dual_edge_weight_strategy", -1)
    fresh.update(a, b, caps)
    x, y = lp.solve_max_total(), fresh.solve_max_total()
    assert x.ok and y.ok and abs(x.objective - y.objective) < 1e-7 * (1 + abs(y.objective))
    assert np.all(a @ x.x <= b + 1e-7)


def test_open_rows_lp_in_place_equals_a_fresh_lp(monkeypatch):
    """EnvelopeLP(open_rows=True) changes the bounds of the rows it holds and appends new ones
    in place when the rows given start with the last ones: the optimum is a fresh LP's."""
    n, m = 50, 36
    a_all, b_all, caps = random_lp_rows(5, n, m, 0.5)
    lp = EnvelopeLP(n, m, n_breakpoints=1, open_rows=True)
    in_place = _in_place_log(monkeypatch, lp)
    for k, scale in ((8, 1.0), (8, 0.7), (20, 0.9), (36, 0.5), (36, 0.8)):
        _same_optimum(lp, a_all[:k], b_all[:k] * scale, caps)
    # every update after the first went in place
    assert in_place == [True, True, True, True]


def test_open_rows_lp_replaces_a_few_rows_in_place(monkeypatch):
    """A few rows given with new coefficients (a tangent in place of its row), a row that
    could not bind joining when its bound falls and one leaving when its bound rises: all in
    place (HiGHS keeps its basis; the replaced rows retired as free rows), with a fresh LP's
    optimum after each, also when a replaced row is replaced again; more than
    MAX_RETIRED of the rows replaced, or fewer rows than the last time, rebuild."""
    import oe_opt.model.lp as lp_mod

    n, m = 40, 30
    rng = np.random.default_rng(11)
    a, b, caps = random_lp_rows(8, n, m, 0.6)
    a[3] = rng.uniform(-0.5, 1.0, n)                     # a row with negative coefficients
    b = b * 0.4
    b[[7, 9]] = 1e6                                      # cannot bind anywhere in the box
    lp = EnvelopeLP(n, m, n_breakpoints=1, open_rows=True)
    in_place = _in_place_log(monkeypatch, lp)
    _same_optimum(lp, a, b, caps)
    assert set(lp._lim_kept) == set(range(m)) - {7, 9}
    a1 = a.copy()
    a1[[2, 5]] = rng.random((2, n))                      # two tangents
    _same_optimum(lp, a1, b, caps)
    assert (lp._lim_kept == lp_mod.DEAD_ROW).sum() == 2
    b2 = b.copy()
    b2[7], b2[11] = 0.3 * b[0], 1e6                      # 7 can bind now, 11 no longer
    _same_optimum(lp, a1, b2, caps)
    assert 7 in lp._lim_kept and 11 in lp._lim_kept      # 11 stays in HiGHS, harmless
    a3 = a1.copy()
    a3[2] = rng.random(n)                                # the same row replaced again
    _same_optimum(lp, a3, b2, caps)
    assert in_place == [True, True, True]
    assert (lp._lim_kept == lp_mod.DEAD_ROW).sum() == 3
    a4 = a3.copy()
    a4[:10] = rng.random((10, n))                        # a third of the rows: rebuild
    _same_optimum(lp, a4, b2, caps)
    assert in_place[-1] is False and not (lp._lim_kept == lp_mod.DEAD_ROW).any()
    _same_optimum(lp, a4[:20], b2[:20], caps)            # fewer rows: rebuilt, not asked
    assert len(in_place) == 4 and set(lp._lim_kept) == set(range(20)) - {9, 11}


def test_rows_by_blocks_give_the_same_envelopes(syn300, monkeypatch):
    """With the feeder cut into blocks (forced: on real feeders from 2,000 nodes) the fast
    core's rows come from block inverses, and its envelopes are those of the whole LU."""
    import oe_opt.model.blocks as blocks
    import oe_opt.model.sensitivity as sensitivity
    from oe_opt.methods import cache

    study, session = syn300
    periods = [24, 34]

    def day():
        monkeypatch.setitem(cache._PER_NETWORK, session.net, {})   # fresh models and LPs
        env = run_day(study, "alloc", session=session, periods=periods, voltages=False).envelopes
        models = [m for m in cache._PER_NETWORK[session.net].values()
                  if isinstance(m, sensitivity.SensitivityModel)]
        return env, models

    whole, models = day()
    assert all(m.partition is None for m in models)
    monkeypatch.setattr(sensitivity, "BLOCK_MIN_NODES", 0)
    monkeypatch.setattr(blocks, "BLOCK_NODES", 100)
    blocked, models = day()
    assert any(m.partition is not None and m.n_block_inverses > 0 for m in models)
    assert blocked.verified.all() and whole.verified.all()
    # the two gradients agree to rounding; through the LP's vertex and the verified
    # candidate's step that is a few mW at most (1.6e-6 kW seen), against the 1 W bracket
    assert np.allclose(blocked.oe_kw, whole.oe_kw, rtol=0, atol=1e-5)
    totals = [g.groupby(["period", "direction"]).oe_kw.sum() for g in (blocked, whole)]
    assert np.allclose(totals[0], totals[1], rtol=1e-8, atol=0)


@pytest.mark.parametrize("per, most", [(2, 256), (2, 5), (16, 256)])
def test_rows_join_the_lp_at_most_a_round_s_share_at_a_time(syn300, monkeypatch, per, most):
    """A round of the fast core adds at most max(ADD_ROWS, min(n_flex // ADD_PER_VARIABLES,
    ADD_ROWS_MAX)) of the rows the local model finds violated (the most violated), and the
    envelope is verified whatever the share."""
    from oe_opt.methods import alloc_fast
    from oe_opt.methods.row_generation import ActiveRows

    study, session = syn300
    setup = _setup(study, session, 24)
    n = setup[5].shape[1]
    monkeypatch.setattr(alloc_fast, "ADD_PER_VARIABLES", per)
    monkeypatch.setattr(alloc_fast, "ADD_ROWS_MAX", most)
    limit = max(alloc_fast.ADD_ROWS, min(n // per, most))
    asked = []
    near = ActiveRows.near
    monkeypatch.setattr(ActiveRows, "near", lambda self, *a, **k: asked.append(
        (self.max_add, len(near(self, *a, **k)))) or near(self, *a, **k))
    res = _fast(setup, "export")
    assert res.verified
    assert asked and all(m == limit for m, _ in asked)
    assert max(k for _, k in asked) <= limit
    # the share binds: some round had more violated rows than it let in (with a small cap)
    if limit < 20:
        assert max(k for _, k in asked) == limit


def test_the_fast_core_runs_on_a_lean_lp_and_the_cutting_plane_loop_on_the_full_one(
        syn300, monkeypatch):
    """max_total's fast core solves a lean LP (x and the limit rows only); the cutting-plane
    loop, which anchors and ties, keeps the full one; both verified, totals within the cores'
    tolerance of each other."""
    from oe_opt.methods import cache

    study, session = syn300
    monkeypatch.setitem(cache._PER_NETWORK, session.net, {})

    def open_lps():
        return [v for k, v in cache._PER_NETWORK[session.net].items()
                if isinstance(k, tuple) and k[0] == "lp-open"]

    fast = _alloc(study, session, [24], "fast", monkeypatch)
    assert [lp.lean for lp in open_lps()] == [True]
    slp = _alloc(study, session, [24], "slp", monkeypatch)
    assert sorted(lp.lean for lp in open_lps()) == [False, True]
    assert fast.verified.all() and slp.verified.all()
    tot = [e.groupby("direction").oe_kw.sum() for e in (fast, slp)]
    assert ((tot[0] - tot[1]).abs() / tot[1]).max() < TOTAL_REL_TOL
