"""Limit evaluation on synthetic states (pure function)."""

from __future__ import annotations

import numpy as np
import pytest

from oe_opt.model.limits import evaluate_limits, margins_pct
from oe_opt.network.opendss import NetworkState
from oe_opt.study import LimitSpec

LIM = LimitSpec(v_min_v=216.0, v_max_v=253.0, line_max_pct=100.0, transformer_max_pct=100.0)
NAMES = dict(voltage_labels=["a", "b", "c"], line_names=["l1", "l2"], transformer_names=["tx"])


def state(v, lines=(10.0, 20.0), tx=(30.0,)):
    return NetworkState(np.array(v, float), np.array(lines, float), np.array(tx, float))


def test_all_within_limits_reports_the_smallest_margin():
    c = evaluate_limits(state([230.0, 250.0, 240.0]), LIM, **NAMES)
    assert c.ok
    assert c.binding == "v_max:b"
    assert c.margin_pct == pytest.approx((253 - 250) / 253 * 100)
    assert (c.v_lowest_v, c.v_highest_v) == (230.0, 250.0)
    assert c.max_line_loading_pct == 20.0 and c.transformer_loading_pct == 30.0


@pytest.mark.parametrize("v, lines, tx, binding", [
    ([230.0, 253.5, 240.0], (10, 20), (30,), "v_max:b"),
    ([215.0, 230.0, 240.0], (10, 20), (30,), "v_min:a"),
    ([230.0, 230.0, 240.0], (10, 101), (30,), "line:l2"),
    ([230.0, 230.0, 240.0], (10, 20), (100.5,), "transformer:tx"),
])
def test_each_kind_of_violation_is_found_and_named(v, lines, tx, binding):
    c = evaluate_limits(state(v, lines, tx), LIM, **NAMES)
    assert not c.ok
    assert c.binding == binding
    assert c.margin_pct < 0


def test_exactly_at_the_limit_holds_and_margins_have_the_documented_units():
    m = margins_pct(state([216.0, 253.0, 230.0], (100.0, 50.0), (99.0,)), LIM)
    assert m["v_min"][0] == 0 and m["v_max"][1] == 0
    assert m["line"].tolist() == [0.0, 50.0] and m["transformer"].tolist() == [1.0]
    assert evaluate_limits(state([216.0, 253.0, 230.0], (100.0, 50.0), (99.0,)), LIM, **NAMES).ok


def test_most_violated_constraint_wins():
    c = evaluate_limits(state([214.0, 230.0, 240.0], (10, 130), (30,)), LIM, **NAMES)
    assert c.binding == "line:l2"
