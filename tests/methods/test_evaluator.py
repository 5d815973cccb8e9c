"""The evaluator's shared 0-kW check: one power flow per period for both directions."""

from __future__ import annotations

import numpy as np

from conftest import TUTORIAL
from oe_opt.methods.evaluator import PowerFlowEvaluator
from oe_opt.runs.day import Session
from oe_opt.study import load_study


def test_zero_check_is_shared_by_the_directions_of_a_period_and_renewed_per_period():
    st = load_study(TUTORIAL)
    session = Session(st)
    case = session.case()
    ev = PowerFlowEvaluator(session.net, st.limits, case)
    ev.set_period(30)
    c0, v0 = ev.check_zero(session.net.node_voltages_y)
    assert ev.n_powerflows == 1
    ev.check_direction("export", 6.0)                     # the engine moves on
    ev.set_period(30)                                     # the other direction, same period
    c1, v1 = ev.check_zero(session.net.node_voltages_y)
    assert ev.n_powerflows == 0 and c1 is c0 and v1 is v0  # no power flow: the kept check
    fresh = ev.check(0.0)                                 # what a separate check would give
    assert fresh.ok == c0.ok and fresh.binding == c0.binding
    assert np.allclose(fresh.voltage_v, c0.voltage_v, rtol=1e-9)
    assert np.allclose(session.net.node_voltages_y(), v0, rtol=1e-8)
    ev.set_period(12)                                     # another period: solved again
    c2, _ = ev.check_zero()
    assert ev.n_powerflows == 1 and not np.allclose(c2.voltage_v, c0.voltage_v)
