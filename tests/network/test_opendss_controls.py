"""A verdict does not depend on the order of power flows, also with volt-var inverter controls
(the InvControl LV network of :mod:`oe_opt.io.importers.invcontrol_lv`)."""

from __future__ import annotations

import numpy as np
import pytest

from oe_opt.methods.evaluator import PowerFlowEvaluator
from oe_opt.runs.day import Session


@pytest.fixture(scope="module")
def vv_study(invctl_study):
    """The InvControl LV network (conftest: 114 customers, 76 rooftop PV under volt-var)."""
    return invctl_study


def fresh_evaluator(study, period):
    """A freshly compiled network set to `period`: an independent check."""
    session = Session(study)
    ev = PowerFlowEvaluator(session.net, study.limits, session.case())
    ev.set_period(period)
    return ev


@pytest.fixture
def evaluator(vv_study):
    return fresh_evaluator(vv_study, 0)


HISTORIES = [(), (0.0,), (-10.0,), (14.0, -10.0), (-5.0, -3.0, 2.0), (-4.0, -4.0, -4.0)]


@pytest.mark.parametrize("period", [110, 144, 200])
def test_the_same_candidate_gets_the_same_check_whatever_was_solved_before(evaluator, period):
    ev = evaluator
    seen = []
    for history in HISTORIES:
        ev.set_period(period)
        for x in history:
            ev.check(x)
        c = ev.check(-4.0)
        seen.append((c.ok, c.binding, c.v_highest_v, c.v_lowest_v, c.max_line_loading_pct))
    assert len({s[:2] for s in seen}) == 1
    for k in (2, 3, 4):
        values = [s[k] for s in seen]
        # volts / percent: the control loop stops once its changes are below
        # INVCONTROL_TOLERANCES (1e-7 pu), so states agree to ~1e-5 V (OpenDSS's default
        # tolerances: millivolts)
        assert np.ptp(values) < 5e-5, (k, values)


def test_a_verdict_at_the_limit_does_not_flip_with_the_history(vv_study):
    ev = fresh_evaluator(vv_study, 144)
    lo, hi = 0.0, 10.0  # export envelope by bisection to 0.1 W
    while hi - lo > 1e-4:
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if ev.check_direction("export", mid).ok else (lo, mid)
    # the same candidates checked independently (fresh network) after other histories
    for history in HISTORIES[:3]:
        for x, verdict in ((lo, True), (hi, False)):
            ev = fresh_evaluator(vv_study, 144)
            for h in history:
                ev.check(h)
            assert ev.check_direction("export", x).ok is verdict, (history, x)


def test_a_failed_control_loop_does_not_break_the_next_power_flows(vv_study):
    from oe_opt.errors import PowerFlowError

    ev = fresh_evaluator(vv_study, 110)
    reference = ev.check_direction("export", 4.0)
    sol = ev.net.circuit.Solution
    sol.MaxControlIterations = 2            # the loop cannot settle: "Max Control Iterations"
    ev.set_period(110)
    ev.apply(-4.0)
    with pytest.raises(PowerFlowError):
        ev.net.solve()
    sol.MaxControlIterations = 1000
    # OpenDSS leaves its controls where every later solve fails (error #99) unless reset
    again = ev.check_direction("export", 4.0)
    assert again.converged and again.ok is reference.ok
    assert abs(again.v_highest_v - reference.v_highest_v) < 5e-5


def test_screens_and_resets_are_there_only_with_controls():
    from conftest import TUTORIAL
    from oe_opt.study import load_study

    study = load_study(TUTORIAL)
    session = Session(study)
    ev = PowerFlowEvaluator(session.net, study.limits, session.case())
    ev.set_period(20)
    assert not session.net.has_controls
    assert ev.screen(-1.0) is None and ev.n_screens == 0
