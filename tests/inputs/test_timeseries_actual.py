"""Loadshapes with ``useactual=yes`` hold kW/kvar, not multipliers."""

from __future__ import annotations

import numpy as np

from loadshape_models import N5, mult_text as _mult, write_model, write_network_study
from oe_opt.runs.day import Session
from oe_opt.study import load_study


def test_useactual_loadshapes_are_kw_not_multipliers(tmp_path):
    t = np.arange(N5) / N5
    kw = 1.5 + np.sin(2 * np.pi * t) ** 2          # kW, between 1.5 and 2.5
    kvar = 0.2 + 0.1 * t
    extra = (f"New Loadshape.actual npts={N5} minterval=5 useactual=yes mult={_mult(kw)} "
             f"qmult={_mult(kvar)}\n"
             f"New Loadshape.actual_p npts={N5} minterval=5 useactual=yes mult={_mult(kw)}\n"
             "Edit Load.h1 daily=actual\nEdit Load.h4 daily=actual_p")
    master = write_model(tmp_path / "net", extra=extra)
    st = load_study(write_network_study(tmp_path, master))
    session = Session(st)
    case = session.case()
    fixed = [session.net.load_names[i] for i in case.fixed_idx]
    h1, h4 = fixed.index("h1"), fixed.index("h4")
    # h1 is kW=3 pf=0.95, h4 kW=2.5 pf=1: with useactual their nameplate does not scale the shape
    np.testing.assert_allclose(case.p_fixed_kw[:, h1], kw, atol=1e-5)
    np.testing.assert_allclose(case.q_fixed_kvar[:, h1], kvar, atol=1e-5)
    np.testing.assert_allclose(case.p_fixed_kw[:, h4], kw, atol=1e-5)
    # and OpenDSS agrees: daily mode at one point gives the same load kW
    dss = session.net.dss
    dss.Text.Command = "Set mode=daily stepsize=5m number=1 hour=0 sec=0"
    dss.Text.Command = "Set hour=10"
    dss.ActiveCircuit.Solution.Solve()
    dss.ActiveCircuit.SetActiveElement("Load.h1")
    p_dss = sum(dss.ActiveCircuit.ActiveCktElement.Powers[0::2])
    k = int(round(10 * 12))  # the point of 10:00
    assert abs(p_dss - kw[k]) < 0.05 * kw[k] or abs(p_dss - kw[k - 1]) < 0.05 * kw[k]
