"""The successive LP's "tighten by the violation" step: misleading linearisations still end at a
verified LP candidate instead of running out of iterations."""

from __future__ import annotations

import numpy as np

from conftest import TUTORIAL
from oe_opt.methods.evaluator import PowerFlowEvaluator
from oe_opt.methods.cache import sensitivity_model
from oe_opt.methods.search import bisect_search
from oe_opt.methods.slp import Linearise, verify_and_tighten
from oe_opt.model.allocations import get_allocation
from oe_opt.model.limits import headroom, limit_rows
from oe_opt.problem import build_problem
from oe_opt.model.lp import EnvelopeLP
from oe_opt.runs.day import Session
from oe_opt.study import load_study


class Misleading(Linearise):
    """Sensitivities that mislead every re-linearisation: halved at a state within the limits
    (the LP overshoots) and doubled at a violating state (the LP steps back only halfway), with
    no local power-flow model.  Re-linearising alone then never reaches a verified candidate."""

    def __init__(self, sens, e, rows):
        super().__init__(sens, e)
        self.rows = rows

    def __call__(self, ev, direction, x):
        lin, dy = super().__call__(ev, direction, x)
        violated = (headroom(self.rows, lin.y) < 0).any()
        return lin, (2.0 if violated else 0.5) * dy

    def model(self, lin, direction, x_from):
        return None


def test_repeated_violations_tighten_the_rows_until_a_candidate_verifies():
    st = load_study(TUTORIAL)
    session = Session(st)
    case = session.case()
    ev = PowerFlowEvaluator(session.net, st.limits, case)
    ev.set_period(24)
    sens = sensitivity_model(session.net, case.flex_idx)
    rows = limit_rows(sens.layout, st.limits)
    e = np.ones((len(case.flex_idx), 1))
    caps = np.array([build_problem(st, case.flex_names).cap_kw("import")])
    equal = get_allocation("equal")
    res = verify_and_tighten(ev, "import", EnvelopeLP(1, rows.n), Misleading(sens, e, rows), rows, caps,
                             lambda m: equal.solve(m, None), equal.improves(None),
                             max_inner=0, max_iter=8)
    steps = [(c.step, c.ok) for c in res.extra["history"]]
    lp_steps = [ok for step, ok in steps if step == "lp"]
    assert lp_steps[:3] == [False, False, False], steps   # re-linearising alone does not close in
    assert any(lp_steps[3:]), steps                        # tightened rows: an LP candidate verifies
    assert res.verified and res.status == "ok"
    ev.set_period(24)
    exact = bisect_search(lambda x: ev.check_direction("import", x), caps[0], 1e-6)
    assert exact.oe_kw - 0.5 <= res.oe_kw <= exact.oe_kw + 1e-9
