"""``SearchResult.verified``: a failed check is reported as unverified."""

from __future__ import annotations

import numpy as np

from oe_opt.methods.result import (AT_CAP, FEASIBLE, INFEASIBLE, NONCONVERGENT, SearchResult,
                                   nonconvergent_result)
from oe_opt.model.limits import LimitCheck


def _check(ok: bool) -> LimitCheck:
    return LimitCheck(ok, "cap" if ok else "v_max:load_x", 1.0 if ok else -0.5, 220.0, 253.5,
                      50.0, 40.0)


def test_an_envelope_whose_check_failed_is_not_verified():
    assert SearchResult(4.0, FEASIBLE, "v_max:load_x", _check(True)).verified
    assert not SearchResult(4.0, FEASIBLE, "v_max:load_x", _check(False)).verified
    assert SearchResult(10.0, AT_CAP, "cap", _check(True)).verified
    assert not SearchResult(10.0, AT_CAP, "cap", _check(False)).verified


def test_infeasible_is_verified_only_when_zero_kw_really_fails():
    assert SearchResult(np.nan, INFEASIBLE, "v_max:load_x", _check(False)).verified
    assert not SearchResult(np.nan, INFEASIBLE, "v_max:load_x", _check(True)).verified


def test_nonconvergent_is_never_verified():
    r = nonconvergent_result(3, "did not converge")
    assert r.status == NONCONVERGENT and np.isnan(r.oe_kw) and r.n_powerflows == 3
    assert r.binding == "power_flow:not_converged" and not r.verified
    assert r.extra["error"] == "did not converge"
