"""Stepping search and bisection: pure behaviour on synthetic limits."""

from __future__ import annotations

import math

import numpy as np
import pytest

from oe_opt.model.limits import LimitCheck
from oe_opt.methods.search import bisect_search, step_search
from oe_opt.methods.result import AT_CAP, FEASIBLE, INFEASIBLE


def threshold_check(limit_kw: float, infeasible_at_zero: bool = False):
    calls = []

    def check(x: float) -> LimitCheck:
        calls.append(x)
        ok = x <= limit_kw and not infeasible_at_zero
        margin = (limit_kw - x) if not infeasible_at_zero else -1.0
        return LimitCheck(ok, "v_max:c1", margin, 230, 250, 10, 10)

    return check, calls


@pytest.mark.parametrize("limit", [0.0, 0.4, 3.0, 4.999, 7.25, 9.9999])
def test_step_finds_the_largest_feasible_step_and_bisect_the_exact_limit(limit):
    check, calls = threshold_check(limit)
    s = step_search(check, 10.0, 1.0)
    assert s.oe_kw == math.floor(limit)
    assert s.status == FEASIBLE and s.binding == "v_max:c1"
    assert s.n_powerflows == len(calls)
    check, calls = threshold_check(limit)
    b = bisect_search(check, 10.0, 0.001)
    assert limit - 0.001 <= b.oe_kw <= limit
    assert b.n_powerflows == len(calls) <= 2 + math.ceil(math.log2(10 / 0.001))
    # bisect is never more than its tolerance below a step result (equal only on a grid point)
    assert b.oe_kw >= s.oe_kw - 0.001 and b.oe_kw - s.oe_kw < 1.0


def test_at_cap():
    check, calls = threshold_check(50.0)
    s = step_search(check, 10.0, 1.0)
    b = bisect_search(check, 10.0)
    assert (s.oe_kw, s.status, s.binding) == (10.0, AT_CAP, "cap")
    assert (b.oe_kw, b.status, b.binding) == (10.0, AT_CAP, "cap")
    assert s.n_powerflows == 2 and b.n_powerflows == 2


def test_infeasible_at_zero_is_reported_with_the_failing_constraint_not_as_zero():
    for search in (lambda c: step_search(c, 10.0, 1.0), lambda c: bisect_search(c, 10.0)):
        check, calls = threshold_check(5.0, infeasible_at_zero=True)
        r = search(check)
        assert r.status == INFEASIBLE and np.isnan(r.oe_kw)
        assert r.binding == "v_max:c1" and r.verified
        assert calls == [0.0]


def test_step_with_a_step_that_does_not_divide_the_cap():
    check, calls = threshold_check(1.5)
    s = step_search(check, 10.0, 3.0)
    assert s.oe_kw == 1.0
    assert calls == [0.0, 10.0, 7.0, 4.0, 1.0]
