"""The Ideal OE maximum-allocation heuristic: reduction rule, topology, and runs on the Test LV Circuit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from oe_opt.runs.day import Session, run_day
from oe_opt.methods.heuristic import (HEURISTIC_STEP_KW, Network, max_allocation_search,
                              network_for, supply_matrices, to_reduce)
from oe_opt.model.limits import evaluate_limits
from oe_opt.network.opendss import NetworkState
from oe_opt.methods.result import AT_CAP, FEASIBLE, INFEASIBLE
from oe_opt.study import LimitSpec, load_study

REPO = Path(__file__).resolve().parents[2]
UNEQUAL = REPO / "models" / "unequal_der.toml"
PERIODS = [0, 24, 36, 39]  # night, midday, evening peak


# ------------------------------------------------------- a linear fake network
class FakeEvaluator:
    """Three customers, one line (supplying customers 0 and 1) and a transformer (all).

    Voltages rise linearly with exports; line and transformer loadings grow with
    the exports they carry.  Enough to exercise the loop without OpenDSS.
    """

    limits = LimitSpec(v_min_v=216.0, v_max_v=253.0)

    def __init__(self, v0=240.0, sens=(0.5, 1.0, 2.0), line_pct_per_kw=10.0, tx_pct_per_kw=3.0):
        self.v0, self.sens = v0, np.asarray(sens)
        self.line_k, self.tx_k = line_pct_per_kw, tx_pct_per_kw
        self.n_powerflows, self.last_state, self.seen = 0, None, []

    def check_direction(self, direction, oe_kw):
        assert direction == "export"
        oe = np.broadcast_to(np.asarray(oe_kw, float), (3,)).copy()
        self.seen.append(oe)
        self.n_powerflows += 1
        v = self.v0 + self.sens * oe.sum() * 0.2 + self.sens * oe
        state = NetworkState(v, np.array([self.line_k * oe[:2].sum()]),
                             np.array([self.tx_k * oe.sum()]))
        self.last_state = state
        return evaluate_limits(state, self.limits, ["a", "b", "c"], ["l1"], ["tx"])


FAKE_NET = Network(line_supplies=np.array([[True, True, False]]),
                   transformer_supplies=np.ones((1, 3), dtype=bool),
                   flex_nodes=[np.array([0]), np.array([1]), np.array([2])])


def test_thermal_violation_reduces_only_the_customers_downstream():
    margins = {"v_max": np.ones(3), "v_min": np.ones(3), "line": np.array([-5.0]),
               "transformer": np.array([10.0])}
    sel = to_reduce(margins, np.array([5.0, 5.0, 5.0]), "export", FAKE_NET)
    assert sel.tolist() == [True, True, False]
    # the notebook's rule reduces everyone
    assert to_reduce(margins, np.array([5.0, 5.0, 5.0]), "export", FAKE_NET,
                     thermal_rule="all").tolist() == [True, True, True]
    # customers already at 0 are not reduced; if nobody downstream is left, everyone left is
    assert to_reduce(margins, np.array([0.0, 2.0, 5.0]), "export", FAKE_NET).tolist() == [False, True, False]
    assert to_reduce(margins, np.array([0.0, 0.0, 5.0]), "export", FAKE_NET).tolist() == [False, False, True]


def test_voltage_violation_reduces_the_most_affected_customer():
    v = np.array([250.0, 255.0, 257.0])
    margins = {"v_max": (253.0 - v) / 253.0 * 100, "v_min": np.ones(3), "line": np.ones(1),
               "transformer": np.ones(1)}
    oe = np.array([5.0, 5.0, 5.0])
    assert to_reduce(margins, oe, "export", FAKE_NET, voltage_v=v).tolist() == [False, False, True]
    # the highest-voltage customer at 0 kW is skipped
    oe0 = np.array([5.0, 5.0, 0.0])
    assert to_reduce(margins, oe0, "export", FAKE_NET, voltage_v=v).tolist() == [False, True, False]
    # "violated": every customer whose own voltage is out of limits
    assert to_reduce(margins, oe, "export", FAKE_NET, voltage_rule="violated",
                     voltage_v=v).tolist() == [False, True, True]
    # imports: the lowest voltage is the most affected
    vi = np.array([214.0, 220.0, 212.0])
    mi = {"v_max": np.ones(3), "v_min": (vi - 216.0) / 216.0 * 100, "line": np.ones(1),
          "transformer": np.ones(1)}
    assert to_reduce(mi, oe, "import", FAKE_NET, voltage_v=vi).tolist() == [False, False, True]
    # no violation: nobody; non-converged: everyone with an envelope
    ok = {k: np.ones_like(m) for k, m in margins.items()}
    assert not to_reduce(ok, oe, "export", FAKE_NET, voltage_v=v).any()
    assert to_reduce(None, oe0, "export", FAKE_NET).tolist() == [True, True, False]


def test_loop_on_a_linear_network_steps_down_to_a_feasible_point():
    ev = FakeEvaluator()
    caps = np.array([10.0, 6.6, 3.0])
    res = max_allocation_search(ev, "export", caps, FAKE_NET)
    assert res.status == FEASIBLE and res.verified
    assert np.all(res.oe_kw <= caps) and np.all(res.oe_kw >= 0)
    steps = (caps - res.oe_kw) / HEURISTIC_STEP_KW
    assert np.all(np.isclose(steps, np.round(steps)) | (res.oe_kw == 0))
    assert res.n_powerflows == len(ev.seen) == res.extra["reductions"] + 2
    assert np.all(ev.seen[0] == 0)  # 0 kW is checked first
    assert ev.check_direction("export", res.oe_kw).ok
    assert not any(evaluated.ok for evaluated in
                   (ev.check_direction("export", x) for x in ev.seen[1:-2]))  # all rejected
    # the line (customers 0, 1) binds first: 10 %/kW x (10 + 6.6) kW > 100 %
    assert ev.seen[1].tolist() == [10.0, 6.6, 3.0] and ev.seen[2].tolist() == [9.5, 6.1, 3.0]


def test_loop_reports_infeasible_and_at_cap():
    ev = FakeEvaluator(v0=260.0)
    res = max_allocation_search(ev, "export", np.array([10.0, 5.0, 3.0]), FAKE_NET)
    assert res.status == INFEASIBLE and np.all(np.isnan(res.oe_kw))
    assert res.binding.startswith("v_max:") and res.n_powerflows == 1 and res.verified
    ev = FakeEvaluator(line_pct_per_kw=1.0)
    res = max_allocation_search(ev, "export", np.array([1.0, 1.0, 1.0]), FAKE_NET)
    assert res.status == AT_CAP and res.binding == "cap" and res.n_powerflows == 2
    with pytest.raises(ValueError, match="voltage_rule"):
        max_allocation_search(ev, "export", np.ones(3), FAKE_NET, voltage_rule="nope")


# ------------------------------------------------------ the Test LV Circuit
@pytest.fixture(scope="module")
def session():
    return Session(load_study(UNEQUAL))


def test_supply_matrices_follow_the_feeder(session):
    net, flex = session.net, list(session.study.customers.flexible)
    lines, txs = supply_matrices(net, flex)
    assert txs.all()  # the transformer supplies everyone
    head = net.line_names.index("line_mg1_t1_f1")
    assert lines[head].all()
    branch = net.line_names.index("line_mg1_t1_f1_l20")  # B16 -> B21 branch
    assert {flex[j] for j in np.flatnonzero(lines[branch])} == {
        "load_mg1_27", "load_mg1_28", "load_mg1_29", "load_mg1_30", "load_mg1_31"}
    for j, c in enumerate(flex):  # each service line supplies its own customer only
        svc = net.line_names.index("serviceline_l" + c.rsplit("_", 1)[1])
        assert np.flatnonzero(lines[svc]).tolist() == [j]
    other = net.line_names.index("line_mg1_t1_f2")
    assert not lines[other].any()
    assert network_for(net, flex).flex_nodes[0].size == 1


def test_heuristic_on_the_unequal_study(session):
    st = session.study
    res = run_day(st, "heuristic", session=session, periods=PERIODS)
    env = res.envelopes
    assert len(env) == len(PERIODS) * 2 * len(st.customers.flexible)
    assert env["verified"].all() and (env["status"] != INFEASIBLE).all()
    for d in ("export", "import"):
        g = env[env.direction == d]
        caps = g["customer"].map(getattr(st.customers, f"{d}_max_kw"))
        assert (g["oe_kw"] <= caps + 1e-9).all() and (g["oe_kw"] >= 0).all()
        steps = (caps - g["oe_kw"]) / HEURISTIC_STEP_KW
        assert (np.isclose(steps, steps.round()) | (g["oe_kw"] == 0)).all()
    per = env.drop_duplicates(["period", "direction"])
    assert (per["n_powerflows"] >= 2).all() and (per["n_lp"] == 0).all()
    # unequal caps and a voltage-limited far end give unequal export envelopes
    exp = env[(env.direction == "export") & (env.period == 24)].set_index("customer")["oe_kw"]
    assert exp.max() > exp.min()


def test_heuristic_infeasible_period_is_reported(write_study):
    st = load_study(write_study({"limits": {"v_max_v": 240.0}}))
    res = run_day(st, "heuristic", periods=[0])
    env = res.envelopes
    assert (env["status"] == INFEASIBLE).all() and env["oe_kw"].isna().all()
    assert env["verified"].all() and env["binding"].str.startswith("v_max:").all()
    assert (env["n_powerflows"] == 1).all()


def test_an_engine_without_topology_is_refused_by_name(session):
    """The downstream rule needs the engine's topology; an engine without one is named."""
    from oe_opt.network.base import EngineCapabilityError

    class NoTopology:
        master, line_names, transformer_names = "fake.dss", session.net.line_names, []

        def topology(self):
            return None

    with pytest.raises(EngineCapabilityError, match="fake.dss.*no topology"):
        supply_matrices(NoTopology(), ["load_mg1_1"])
