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


# ------------------------------------------------- optional limits (issue 12)
OPT = LimitSpec(v_min_v=216.0, v_max_v=253.0, vuf_max_pct=2.0, mv_v_min_pu=0.95, mv_v_max_pu=1.05)
OPT_NAMES = dict(NAMES, mv_node_names=["m.1", "m.2"], vuf_buses=["b1", "b2"],
                 mv_elements={"line": frozenset({"l1"}), "transformer": frozenset()})


def opt_state(vuf=(0.5, 1.0), mv=(1.0, 1.01), lines=(10.0, 20.0)):
    return NetworkState(np.array([230.0, 231.0, 232.0]), np.array(lines, float), np.array([30.0]),
                        mv_voltage_pu=np.array(mv, float), vuf_pct=np.array(vuf, float))


@pytest.mark.parametrize("kw, binding", [
    (dict(vuf=(0.5, 2.1)), "vuf:b2"),
    (dict(mv=(1.06, 1.0)), "mv_v_max:m.1"),
    (dict(mv=(1.0, 0.94)), "mv_v_min:m.2"),
    (dict(lines=(101.0, 20.0)), "mv_line:l1"),
    (dict(lines=(10.0, 101.0)), "line:l2"),
])
def test_optional_limits_catch_their_violation_with_mv_or_lv_labels(kw, binding):
    c = evaluate_limits(opt_state(**kw), OPT, **OPT_NAMES)
    assert not c.ok and c.binding == binding


def test_unbalance_margin_is_in_percent_of_the_limit_and_off_by_default():
    m = margins_pct(opt_state(vuf=(1.5, 1.0)), OPT)
    assert m["vuf"] == pytest.approx([25.0, 50.0])
    assert m["mv_v_max"] == pytest.approx([(1.05 - 1.0) / 1.05 * 100, (1.05 - 1.01) / 1.05 * 100])
    off = margins_pct(opt_state(vuf=(9.0, 9.0), mv=(1.2, 1.2)), LIM)
    assert len(off["vuf"]) == 0 and len(off["mv_v_max"]) == 0
    assert evaluate_limits(opt_state(vuf=(9.0, 9.0), mv=(1.2, 1.2)), LIM, **OPT_NAMES).ok


def test_an_optional_limit_without_its_readings_is_an_error():
    with pytest.raises(ValueError, match="limit mv_v_max: 0 readings for 2 elements"):
        evaluate_limits(NetworkState(np.array([230.0] * 3), np.array([1.0, 1.0]), np.array([1.0])),
                        OPT, **OPT_NAMES)


def test_mv_transformers_are_labelled_mv_and_distribution_ones_not():
    names = dict(OPT_NAMES, mv_elements={"line": frozenset(), "transformer": frozenset({"tx"})})
    s = NetworkState(np.array([230.0] * 3), np.array([10.0, 20.0]), np.array([101.0]),
                     mv_voltage_pu=np.array([1.0, 1.0]), vuf_pct=np.array([0.1, 0.1]))
    assert evaluate_limits(s, OPT, **names).binding == "mv_transformer:tx"
    assert evaluate_limits(s, OPT, **OPT_NAMES).binding == "transformer:tx"


# ------------------------------------- the compiled check of the fast core (issue 9 item 5)
@pytest.mark.parametrize("v, lines, tx", [
    ([230.0, 250.0, 240.0], (10, 20), (30,)),          # all hold: the smallest margin
    ([230.0, 253.5, 240.0], (10, 20), (30,)),
    ([215.0, 230.0, 240.0], (10, 20), (30,)),
    ([230.0, 230.0, 240.0], (10, 101), (30,)),
    ([230.0, 230.0, 240.0], (10, 20), (100.5,)),
    ([214.0, 230.0, 240.0], (10, 130), (30,)),          # the most violated wins
    ([253.0, 253.0, 216.0], (100.0, 100.0), (99.0,)),  # ties: the first in kind order
])
def test_the_compiled_limit_checker_gives_evaluate_limits_verdict(v, lines, tx):
    from oe_opt.model.limits import LimitChecker

    st = state(v, lines, tx)
    want = evaluate_limits(st, LIM, **NAMES)
    got = LimitChecker(LIM, **NAMES)(st, flex_q_kvar=np.zeros(2))
    assert (got.ok, got.binding, got.margin_pct, got.v_lowest_v, got.v_highest_v,
            got.max_line_loading_pct, got.transformer_loading_pct) == (
        want.ok, want.binding, want.margin_pct, want.v_lowest_v, want.v_highest_v,
        want.max_line_loading_pct, want.transformer_loading_pct)
    assert got.flex_q_kvar.tolist() == [0.0, 0.0]


def test_the_compiled_limit_checker_refuses_optional_limits_and_short_readings():
    from oe_opt.model.limits import LimitChecker

    with pytest.raises(ValueError, match="optional"):
        LimitChecker(OPT, **NAMES)
    with pytest.raises(ValueError, match="readings"):
        LimitChecker(LIM, **NAMES)(state([230.0, 230.0]))


# --------------------- the fused state and verdict of the fast core's checks (issue 9 item 5)
def _layout():
    from oe_opt.model.sensitivity import QuantityLayout

    # voltages a, b, c; line l1 with two phases, l2 one; transformer tx two windings' phases
    return QuantityLayout(kind=np.array(["voltage"] * 3 + ["line"] * 3 + ["transformer"] * 2),
                          element=["a", "b", "c", "l1", "l2", "l1", "tx", "tx"],
                          rating_a=np.array([np.nan] * 3 + [100.0, 200.0, 100.0, 50.0, 500.0]))


@pytest.mark.parametrize("y", [
    [230.0, 250.0, 240.0, 10.0, 40.0, 20.0, 15.0, 100.0],    # all hold: the smallest margin
    [230.0, 253.5, 240.0, 10.0, 40.0, 20.0, 15.0, 100.0],    # v_max
    [215.0, 230.0, 240.0, 10.0, 40.0, 20.0, 15.0, 100.0],    # v_min
    [230.0, 230.0, 240.0, 10.0, 40.0, 101.0, 15.0, 100.0],   # line l1, its second phase
    [230.0, 230.0, 240.0, 10.0, 250.0, 20.0, 15.0, 100.0],   # line l2
    [230.0, 230.0, 240.0, 10.0, 40.0, 20.0, 50.25, 100.0],   # transformer
    [214.0, 230.0, 240.0, 10.0, 300.0, 20.0, 15.0, 100.0],   # the most violated wins
    [253.0, 253.0, 216.0, 100.0, 200.0, 20.0, 49.5, 0.0],    # ties: the first in kind order
])
def test_the_fused_quantity_checker_gives_the_state_and_verdict_of_the_two_steps(y):
    """QuantityChecker = LimitChecker(QuantityState(y)): the same state arrays, the same
    LimitCheck to the last bit (binding, margin, extremes), the extra fields passed on."""
    from oe_opt.model.limits import LimitChecker, QuantityChecker, QuantityState

    names = dict(voltage_labels=["a", "b", "c"], line_names=["l1", "l2"],
                 transformer_names=["tx"])
    y = np.array(y)
    want_state = QuantityState(_layout(), names["line_names"], names["transformer_names"])(y)
    want = LimitChecker(LIM, **names)(want_state)
    st, got = QuantityChecker(_layout(), LIM, **names)(y, flex_q_kvar=np.ones(2))
    for a, b in ((st.voltage_v, want_state.voltage_v),
                 (st.line_loading_pct, want_state.line_loading_pct),
                 (st.transformer_loading_pct, want_state.transformer_loading_pct)):
        assert np.array_equal(a, b)
    assert got == want                                   # every compared field
    assert (got.binding, got.margin_pct) == (want.binding, want.margin_pct)
    assert got.flex_q_kvar.tolist() == [1.0, 1.0] and got.flex_p_kw is None
    assert np.array_equal(got.voltage_v, y[:3])


def test_the_fused_quantity_checker_names_the_binding_element_of_its_own_kind():
    """Raising one line current moves the binding constraint to that line (and a broken
    voltage back to the voltage), as LimitChecker names them; a layout whose voltages do not
    match the labels is refused; a nan margin is left to LimitChecker's rule."""
    from oe_opt.model.limits import LimitChecker, QuantityChecker, QuantityState

    names = dict(voltage_labels=["a", "b", "c"], line_names=["l1", "l2"],
                 transformer_names=["tx"])
    qc = QuantityChecker(_layout(), LIM, **names)
    base = np.array([230.0, 240.0, 235.0, 10.0, 40.0, 20.0, 15.0, 100.0])
    assert qc(base)[1].binding == "v_max:b"
    hot = base.copy(); hot[4] = 210.0                     # l2 at 105 % of its 200 A
    _, c = qc(hot)
    assert (c.ok, c.binding) == (False, "line:l2") and c.margin_pct == pytest.approx(-5.0)
    low = hot.copy(); low[0] = 200.0                      # a at 200 V: 7.4 % below 216 V
    assert qc(low)[1].binding == "v_min:a"
    with pytest.raises(ValueError, match="voltage labels"):
        QuantityChecker(_layout(), LIM, voltage_labels=["a", "b"], line_names=["l1", "l2"],
                        transformer_names=["tx"])
    odd = base.copy(); odd[1] = np.nan
    want = LimitChecker(LIM, **names)(QuantityState(_layout(), ["l1", "l2"], ["tx"])(odd))
    assert qc(odd)[1].binding == want.binding


def test_a_fast_limit_check_equals_the_dataclass_of_the_same_fields():
    from oe_opt.model.limits import LimitCheck, fast_limit_check

    v = np.array([230.0])
    fields = (True, "v_max:a", 1.5, 229.0, 231.0, 40.0, 20.0)
    c = fast_limit_check(*fields, v, flex_q_kvar=np.zeros(1))
    assert c == LimitCheck(*fields, voltage_v=v) and c.converged
    assert c.flex_p_kw is None and c.flex_q_kvar.tolist() == [0.0]
    assert c != LimitCheck(False, *fields[1:], voltage_v=v)
    with pytest.raises(AttributeError):
        c.ok = False                                      # still frozen


def test_a_fast_state_is_the_network_state_of_the_same_arrays():
    from oe_opt.model.limits import fast_state

    v, line, tx = np.array([230.0]), np.array([10.0, 20.0]), np.array([5.0])
    st = fast_state(v, line, tx)
    want = NetworkState(v, line, tx)
    for name in ("voltage_v", "line_loading_pct", "transformer_loading_pct", "mv_voltage_pu",
                 "vuf_pct"):
        assert np.array_equal(getattr(st, name), getattr(want, name))
    assert st.voltage_v is v
    with pytest.raises(ValueError):
        st.mv_voltage_pu[...] = 1.0 if len(st.mv_voltage_pu) else np.ones(1)  # shared: read-only
    with pytest.raises(AttributeError):
        st.voltage_v = line
