"""The one-variable envelope LP by its ratio test equals HiGHS's solution of the same LP."""

from __future__ import annotations

import numpy as np
import pytest

from oe_opt.model.lp import EnvelopeLP
from oe_opt.model.ratio import ratio_solve


def _random_rows(rng, m, n):
    a = rng.normal(size=(m, n)) * rng.choice([1e-3, 1.0, 30.0], size=(m, 1))
    a[rng.random(size=a.shape) < 0.2] = 0.0
    b = rng.uniform(0.0, 50.0, size=m)
    b[rng.random(m) < 0.1] = 0.0                   # rows already at their limit at 0 kW
    return a, b


@pytest.mark.parametrize("n", [1, 5])
def test_ratio_solver_gives_highs_solution_on_random_lps(n):
    rng = np.random.default_rng(11)
    highs = EnvelopeLP(n, 60)
    ratio = EnvelopeLP(n, 60, equal_solver="ratio")
    seen_cap = seen_row = 0
    for _ in range(60):
        m = int(rng.integers(1, 60))
        a, b = _random_rows(rng, m, n)
        caps = rng.uniform(0.5, 20.0, size=n)
        box = (None, None) if rng.random() < 0.5 else (rng.uniform(0, 0.3, n), rng.uniform(3, 30, n))
        anchor = rng.uniform(0, 5, n) if rng.random() < 0.5 else None
        for lp in (highs, ratio):
            lp.update(a, b, caps, *box)
            lp.set_anchor(anchor)
        s_h, s_r = highs.solve_equal(), ratio.solve_equal()
        assert s_h.status == s_r.status
        if not s_h.ok:
            continue
        assert np.allclose(s_r.x, s_h.x, rtol=1e-9, atol=1e-9)
        assert s_r.objective == pytest.approx(s_h.objective, rel=1e-9, abs=1e-9)
        assert set(s_r.binding_rows) == set(s_h.binding_rows)
        seen_row += len(s_r.binding_rows) > 0
        seen_cap += len(s_r.binding_rows) == 0
    assert seen_row > 10 and seen_cap > 3      # both kinds of optimum were compared
    # the rows reach HiGHS when another objective is solved on the ratio LP
    ratio.update(a, b, caps)
    highs.update(a, b, caps)
    assert np.allclose(ratio.solve_max_total().x, highs.solve_max_total().x, atol=1e-9)


def test_ratio_test_picks_the_tightest_row_and_reports_infeasible_boxes():
    a = np.array([2.0, 0.5, -1.0, 0.0])
    b = np.array([10.0, 1.0, 3.0, 4.0])
    sol = ratio_solve(a, b, 0.0, 100.0)
    assert sol.ok and sol.t == pytest.approx(2.0) and list(sol.binding) == [1]
    assert ratio_solve(a, b, 0.0, 1.5).t == 1.5            # the box binds
    assert not ratio_solve(a, b, 3.0, 5.0).ok               # row 1 violated at the lower bound
    with pytest.raises(ValueError, match="unbounded"):
        ratio_solve(np.array([-1.0]), np.array([1.0]))


@pytest.mark.parametrize("objective", ["solve_max_total", "solve_equal", "solve_maxmin",
                                       "solve_log_fair"])
def test_active_set_lp_reaches_the_full_lps_optimum(objective):
    """Constraint generation (only rows near binding, violated rows added) gives the optimum of
    the LP with every row, on dense random rows where few bind."""
    rng = np.random.default_rng(5)
    n, m = 40, 400
    full = EnvelopeLP(n, m)
    act = EnvelopeLP(n, m, active_set=True)
    added = 0
    for _ in range(8):
        a = np.abs(rng.normal(size=(m, n))) * rng.uniform(0.01, 1.0, size=(m, 1))
        b = rng.uniform(5.0, 60.0, size=m)
        caps = rng.uniform(2.0, 10.0, size=n)
        for lp in (full, act):
            lp.update(a, b, caps)
        s_f, s_a = getattr(full, objective)(), getattr(act, objective)()
        assert s_f.ok and s_a.ok
        assert s_a.objective == pytest.approx(s_f.objective, rel=1e-7, abs=1e-7)
        assert np.all(a @ s_a.x <= b + 1e-6)                # every row holds, held or not
        added += act.n_limit_rows - min(m, 32)
    assert act.n_limit_rows < m / 2                          # the LP held few of the rows
    assert added > 0                                         # and generation had to add some
