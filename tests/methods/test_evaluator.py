"""The evaluator's flexible-customer reactive power (``[customers] flexible_q``): applied in the full
power flow, reported at the envelope, and lp against bisect with it."""

from __future__ import annotations

import math

import dss
import numpy as np
import pytest

from oe_opt.methods.evaluator import PowerFlowEvaluator
from oe_opt.network.opendss import DssNetwork
from oe_opt.runs.day import Session, run_day
from oe_opt.study import load_study

TAN_095 = math.tan(math.acos(0.95))


def own_session(st) -> Session:
    net = DssNetwork(st.network.master, pv_kw=dict(st.customers.der_kw),
                     voltage_bases_kv=st.network.voltage_bases_kv, engine=dss.DSS.NewContext())
    return Session(st, net=net)


@pytest.mark.parametrize("mode, sign", [("absorb", 1.0), ("inject", -1.0)])
def test_fixed_power_factor_is_in_the_power_flow(write_study, mode, sign):
    st = load_study(write_study({"customers": {"flexible_q": {"pf": 0.95, "mode": mode}}}))
    session = own_session(st)
    case = session.case()
    ev = PowerFlowEvaluator(session.net, st.limits, case)
    ev.set_period(12)
    for direction, p in (("export", -6.0), ("import", 4.0)):
        ev.check_direction(direction, abs(p))
        # what OpenDSS solved: each flexible load's own complex power (kW, kvar)
        c = session.net.circuit
        for i in case.flex_idx[:3]:
            c.Loads.idx = int(i) + 1
            powers = np.asarray(c.ActiveCktElement.Powers)
            kw, kvar = powers[0::2].sum(), powers[1::2].sum()
            assert kw == pytest.approx(p, abs=1e-6)
            assert kvar == pytest.approx(sign * abs(p) * TAN_095, abs=1e-6)


def test_absorbing_raises_the_export_envelope_and_lp_matches_bisect(write_study):
    periods = [12, 36]

    def day(fq):
        st = load_study(write_study({"customers": {"flexible_q": fq}}))
        session = own_session(st)
        return {m: run_day(st, m, session=session, periods=periods, voltages=False).envelopes
                .groupby(["period", "direction"]).first() for m in ("bisect", "lp")}

    zero, absorb, inject = day("zero"), day({"pf": 0.95, "mode": "absorb"}), \
        day({"pf": 0.95, "mode": "inject"})
    exp = (slice(None), "export")
    assert (absorb["bisect"].loc[exp, "oe_kw"] > zero["bisect"].loc[exp, "oe_kw"] + 1.0).all()
    assert (inject["bisect"].loc[exp, "oe_kw"] < zero["bisect"].loc[exp, "oe_kw"] - 0.5).all()
    for res in (absorb, inject):
        assert np.abs(res["lp"].oe_kw - res["bisect"].oe_kw).max() < 0.01
        assert res["lp"].verified.all()
    # Q at the envelope in the table: |P| tan(acos 0.95), + absorbed
    assert absorb["lp"].q_kvar.to_numpy() == pytest.approx(absorb["lp"].oe_kw.to_numpy() * TAN_095)
    assert inject["lp"].q_kvar.to_numpy() == pytest.approx(-inject["lp"].oe_kw.to_numpy() * TAN_095)
    assert (zero["lp"].q_kvar == 0).all()
