"""The allocation-objective registry: one entry is all a new objective needs."""

from __future__ import annotations

import re

import numpy as np
import pytest

from conftest import REPO
from oe_opt.model.allocations import ALLOCATIONS, Allocation, allocation_names, get_allocation
from oe_opt.runs.day import run_day
from oe_opt.study import load_study


def test_acceptance_tests_of_the_registered_objectives():
    x = np.array([1.0, 2.0])
    better = {"equal": x + 0.01, "max_total": np.array([1.5, 1.6]), "maxmin": np.array([1.5, 1.5]),
              "proportional": 2 * x, "log_fair": np.array([1.5, 1.6])}
    weights = np.array([1.0, 2.0])
    for name in allocation_names():
        improves = get_allocation(name).improves(weights)
        assert improves(better[name], x, 1e-4), name
        assert not improves(x, x, 1e-4), name
    assert not get_allocation("equal").improves(None)(x + 1e-5, x, 1e-4)
    assert not get_allocation("max_total").improves(None)(np.array([2.0, 1.0]), x, 1e-4)
    assert get_allocation("equal").componentwise and not get_allocation("max_total").componentwise
    assert [n for n in allocation_names() if get_allocation(n).needs_weights] == ["proportional"]
    with pytest.raises(KeyError, match="known: equal"):
        get_allocation("magic")


def test_a_new_objective_is_one_registry_entry(monkeypatch, write_study):
    # "largest total, but lexicographically favour the first customers": max sum(w_i x_i)
    def solve(lp, weights):
        lp.set_cuts(False)
        lp.set_tie(None)
        lp.set_proportional(None)
        lp.set_t_min(0.0)
        lp.set_objective(x=np.linspace(1.0, 0.9, lp.n))
        return lp.solve()

    entry = Allocation("front_first", "favour customers early in the list", solve,
                       improves=lambda w: lambda xn, xo, tol: float(xn.sum()) > float(xo.sum()) + tol)
    monkeypatch.setitem(ALLOCATIONS, entry.name, entry)
    st = load_study(write_study({"envelope": {"allocation": "front_first", "method": "alloc"}}))
    env = run_day(st, periods=[20], voltages=False).envelopes
    assert env.verified.all() and (env.oe_kw >= 0).all()
    # an unregistered name is refused by the study validation, naming the field
    with pytest.raises(Exception, match=r"\[envelope\] allocation must be one of .*front_first"):
        load_study(write_study({"envelope": {"allocation": "nonesuch"}}))


def test_docs_list_every_registered_objective():
    readme = (REPO / "README.md").read_text()
    choices = re.search(r"--allocation ([\w|]+)\]", readme).group(1).split("|")
    assert choices == list(allocation_names())
    dev = (REPO / "DEVELOPERS.md").read_text()
    assert "register_allocation(" in dev


def test_the_developers_example_registers_a_working_objective(monkeypatch):
    from oe_opt.model.lp import EnvelopeLP

    monkeypatch.setattr("oe_opt.model.allocations.ALLOCATIONS", dict(ALLOCATIONS))
    dev = (REPO / "DEVELOPERS.md").read_text()
    code = re.search(r"```python\n(from oe_opt.model.allocations import .*?)```", dev, re.S).group(1)
    exec(code, {})
    import oe_opt.model.allocations as registry

    entry = registry.get_allocation("max_total_weighted")
    lp = EnvelopeLP(2, 1)
    lp.update(np.array([[1.0, 1.0]]), np.array([3.0]), caps=[2.0, 2.0])
    sol = entry.solve(lp, np.array([1.0, 2.0]))
    assert sol.ok and np.allclose(sol.x, [1.0, 2.0])       # the heavier customer first
    assert entry.improves(np.array([1.0, 2.0]))(np.array([1.0, 2.0]), np.array([2.0, 1.0]), 1e-6)
