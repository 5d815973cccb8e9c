"""alloc with row generation (oe_opt.methods.row_generation): the LP holds only the rows near
binding; the others join when the local model or a power flow finds them violated or near.

Checked against alloc with every row linearised at every power flow (row_generation="off"),
on the tutorial and a 300-customer synthetic feeder; every envelope verified by a full power
flow; a row violated at an LP solution that was not among the first rows joins the LP.
"""

from __future__ import annotations

import numpy as np
import pytest

from conftest import TUTORIAL, per_customer_setup, random_lp_rows
from oe_opt.methods import optimised
from oe_opt.methods.evaluator import PowerFlowEvaluator
from oe_opt.methods.row_generation import ActiveRows, initial_rows, row_generation_slp
from oe_opt.methods.slp import MARGIN_KW, TOL_KW
from oe_opt.model.allocations import get_allocation
from oe_opt.model.limits import headroom
from oe_opt.model.lp import EnvelopeLP
from oe_opt.problem import build_problem
from oe_opt.runs.day import Session, run_day
from oe_opt.study import load_study

#: the two loops are local methods (successive LPs) on the same problem and may stop at
#: slightly different verified points; measured here: within 0.4 % of the total
TOTAL_REL_TOL = 5e-3


def _alloc(study, session, periods, mode, monkeypatch):
    orig = optimised.make_solver
    # the cutting-plane loop on the active rows (max_total's default at feeder scale is the
    # fast core, oe_opt.methods.alloc_fast, tested in test_alloc_fast.py)
    monkeypatch.setattr(optimised, "make_solver",
                        lambda *a, **k: orig(*a, **{**k, "row_generation": mode,
                                                    "alloc_core": "slp"}))
    env = run_day(study, "alloc", session=session, periods=periods, voltages=False).envelopes
    monkeypatch.setattr(optimised, "make_solver", orig)
    return env.groupby(["period", "direction"]).agg(total=("oe_kw", "sum"),
                                                     verified=("verified", "all"))


@pytest.mark.parametrize("periods", [[24, 34]])
def test_row_generation_equals_every_row_on_syn300(syn300, periods, monkeypatch):
    study, session = syn300
    on = _alloc(study, session, periods, "on", monkeypatch)
    off = _alloc(study, session, periods, "off", monkeypatch)
    assert on.verified.all() and off.verified.all()
    rel = (on.total - off.total).abs() / off.total
    assert rel.max() < TOTAL_REL_TOL, rel


def test_auto_uses_row_generation_from_many_customers(syn300):
    study, session = syn300
    case = session.case()
    solve = optimised.make_solver(build_problem(study, case.flex_names), session.net, case,
                                  per_customer=True, allocation="max_total")
    ev = PowerFlowEvaluator(session.net, study.limits, case)
    ev.set_period(24)
    res = solve(ev, "export")
    assert res.verified and res.extra["n_active_rows"] < res.extra["n_rows"] / 5


def _direct(study, session, direction, generate):
    """row_generation_slp from 0 kW with only the rows near binding there to start with."""
    problem, sens, rows, lp, ev, e = per_customer_setup(study, session, 24)
    objective = get_allocation("max_total")
    res = row_generation_slp(ev, direction, lp, sens, e, rows,
                             problem.customer_caps_kw(direction),
                             lambda m: objective.solve(m, None), objective.improves(None),
                             tol_kw=TOL_KW, margin_kw=MARGIN_KW, init_rows=0,
                             generate=generate)
    return res, rows, sens, ev


def test_a_row_violated_at_the_lp_solution_joins_the_lp(syn300):
    study, session = syn300
    res, rows, sens, ev = _direct(study, session, "export", generate=True)
    assert res.verified and res.extra["n_generated"] > 0
    # the first rows: those near binding at 0 kW (init_rows=0)
    ev.check(np.zeros(len(res.oe_kw)))
    start = ActiveRows(rows)
    first = set(initial_rows(start, sens.analytic_rows(np.zeros(len(res.oe_kw))),
                             np.zeros(len(res.oe_kw)), 0).tolist())
    # the rows binding at the envelope (measured by a power flow there)
    ev.check(-np.asarray(res.oe_kw))
    rel = headroom(rows, sens.quantities()) / np.abs(rows.bound)
    binding = set(np.nonzero(rel < 1e-4)[0].tolist())
    final = set(res.extra["active_rows"].tolist())
    assert binding and not (binding & first)      # none of them was in the first LP
    assert binding <= final                        # every one joined it


def test_without_row_generation_the_lp_breaks_limits_it_does_not_hold(syn300):
    """Switched off, the first LP (rows near binding at 0 kW only) gives a candidate the
    power flow rejects: the rows it needs are the generated ones."""
    study, session = syn300
    res, rows, *_ = _direct(study, session, "export", generate=False)
    lp_steps = [c for c in res.extra["history"] if c.step == "lp"]
    assert lp_steps and not lp_steps[0].ok
    assert res.extra["n_generated"] == 0 and res.extra["n_active_rows"] < 5


def test_open_rows_lp_equals_the_fixed_lp():
    """EnvelopeLP(open_rows=True): a row set that grows from update to update gives the
    optimum of the fixed-size LP with the same rows, and sync_pyomo writes the rows."""
    n, m = 60, 40
    a_all, b_all, caps = random_lp_rows(3, n, m, 0.4)
    open_lp = EnvelopeLP(n, m, n_breakpoints=1, open_rows=True)
    fixed = EnvelopeLP(n, m)
    for k in (10, 25, 40):
        open_lp.update(a_all[:k], b_all[:k], caps)
        fixed.update(a_all[:k], b_all[:k], caps)
        for name in ("solve_max_total", "solve_maxmin", "solve_equal"):
            x, y = getattr(open_lp, name)(), getattr(fixed, name)()
            assert x.ok and y.ok and abs(x.objective - y.objective) < 1e-7 * (1 + abs(y.objective))
            assert np.all(a_all[:k] @ x.x <= b_all[:k] + 1e-7)
    open_lp.sync_pyomo()
    assert len(open_lp.model.lim_rows) == 40


# last: compiling the tutorial replaces the syn300 circuit on the shared OpenDSS engine
def test_row_generation_equals_every_row_on_the_tutorial(monkeypatch):
    study = load_study(TUTORIAL).with_method("alloc").with_allocation("max_total")
    session = Session(study)
    periods = [20, 34, 44]
    on = _alloc(study, session, periods, "on", monkeypatch)
    off = _alloc(study, session, periods, "off", monkeypatch)
    assert on.verified.all() and off.verified.all()
    rel = (on.total - off.total).abs() / off.total
    assert rel.max() < TOTAL_REL_TOL, rel
