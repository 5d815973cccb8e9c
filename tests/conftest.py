"""Shared fixtures: the repo's studies, the seed folder and study-writing helpers."""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path

import pytest
from dss import DSS

REPO = Path(__file__).resolve().parents[1]
SEED = REPO.parent / "shared" / "seed"
TUTORIAL = REPO / "models" / "tutorial.toml"


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v) if not isinstance(v, float) or v == v else "nan"
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(v)


def dump_toml(data: dict) -> str:
    """Minimal TOML writer for study files (tables of scalars, lists and inline tables)."""
    out = []
    for table, body in data.items():
        out.append(f"[{table}]")
        out.extend(f"{k} = {_toml_value(v)}" for k, v in body.items())
        out.append("")
    return "\n".join(out)


def tutorial_dict() -> dict:
    """The tutorial study as a dict with every path made absolute."""
    data = tomllib.loads(TUTORIAL.read_text())
    base = TUTORIAL.parent
    data["network"]["master"] = str((base / data["network"]["master"]).resolve())
    for key in ("load", "pv"):
        data["profiles"][key] = str((base / data["profiles"][key]).resolve())
    return data


@pytest.fixture
def write_study(tmp_path):
    """Write a study built from the tutorial with `changes` ({table: {key: value or None}})."""

    def _write(changes: dict | None = None, name: str = "study.toml") -> Path:
        data = tutorial_dict()
        for table, body in (changes or {}).items():
            data.setdefault(table, {})
            for k, v in body.items():
                if v is None:
                    data[table].pop(k, None)
                else:
                    data[table][k] = v
        path = tmp_path / name
        path.write_text(dump_toml(data))
        return path

    return _write


def compile_and_solve(master: Path):
    """Compile and solve ``master`` on the default engine; return the active circuit.

    OpenDSS's Compile changes the working folder; it is restored.
    """
    cwd = os.getcwd()
    try:
        DSS.Text.Command = f'Compile "{master}"'
        DSS.ActiveCircuit.Solution.Solve()
    finally:
        os.chdir(cwd)
    circuit = DSS.ActiveCircuit
    assert circuit.Solution.Converged, master
    return circuit


def write_mvlv_network(folder: Path, *, mv_normamps: float = 200.0, name: str = "mvlv.dss") -> Path:
    """A small MV-LV model: an 11 kV source, a 5 km MV feeder (lines mv1, mv2), an 11/0.416 kV
    200 kVA distribution transformer ``dt`` and a two-span LV feeder with six single-phase
    customers ``c1`` .. ``c6`` (two per phase, at lv1 and lv2); voltage bases 11 and 0.416 kV."""
    loads = "\n".join(
        f"New Load.c{i + 1} bus1={'lv1' if i < 3 else 'lv2'}.{i % 3 + 1} phases=1 kv=0.2402 "
        f"kw=1 pf=0.95 model=1" for i in range(6))
    text = f"""Clear
New Circuit.mvlv basekv=11 pu=1.0 phases=3 bus1=sourcebus Isc3=3000 Isc1=2500
New Linecode.mv nphases=3 r1=0.3 x1=0.35 r0=0.6 x0=1.2 units=km normamps={mv_normamps}
New Linecode.lv nphases=3 r1=0.25 x1=0.08 r0=0.6 x0=0.3 units=km normamps=250
New Line.mv1 bus1=sourcebus bus2=mv1 linecode=mv length=2 units=km
New Line.mv2 bus1=mv1 bus2=mv2 linecode=mv length=3 units=km
New Transformer.dt phases=3 windings=2 buses=[mv2, lv0] conns=[delta, wye] kvs=[11, 0.416] kvas=[200, 200] xhl=4 %r=1
New Line.lv1 bus1=lv0 bus2=lv1 linecode=lv length=0.2 units=km
New Line.lv2 bus1=lv1 bus2=lv2 linecode=lv length=0.2 units=km
{loads}
Set VoltageBases=[11, 0.416]
CalcVoltageBases
"""
    path = folder / name
    path.write_text(text)
    return path


@pytest.fixture(scope="session")
def invctl_study(tmp_path_factory):
    """The InvControl LV benchmark network (:mod:`oe_opt.io.importers.invcontrol_lv`: 114
    customers, rooftop PV under a volt-var InvControl, 288 five-minute periods) and its study
    (``full_use``), written once per test session."""
    from oe_opt.io.importers.invcontrol_lv import write_invcontrol_study
    from oe_opt.study import load_study

    return load_study(write_invcontrol_study(tmp_path_factory.mktemp("invctl")))


@pytest.fixture(scope="module")
def syn300(tmp_path_factory):
    """(study, session) of the 300-customer synthetic feeder (seed 0), half of the customers
    flexible, ``max_total`` allocation, the tutorial's profiles assigned by seed: the feeder
    the per-customer allocation at scale is tested on.  Module scope: each test module
    compiles its own network (one circuit per OpenDSS engine)."""
    from dataclasses import replace

    from oe_opt.io.importers.synthetic import write_synthetic_feeder
    from oe_opt.network.opendss import DssNetwork
    from oe_opt.runs.day import Session
    from oe_opt.runs.netset import network_study
    from oe_opt.study import load_study

    template = load_study(TUTORIAL)
    template = replace(template, profiles=replace(template.profiles, assignment="seeded"),
                       envelope=replace(template.envelope, allocation="max_total"))
    master = write_synthetic_feeder(300, tmp_path_factory.mktemp("syn300"), seed=0)
    net = DssNetwork(master, voltage_bases_kv=template.network.voltage_bases_kv)
    study = network_study(template, master, net.load_names, 0.5)
    return study, Session(study, net=net)


def per_customer_setup(study, session, period: int, lean: bool = False):
    """(problem, sensitivity model, limit rows, open-rows LP (`lean`: max_total only, as the
    fast core's), evaluator set to `period`, identity directions) for calling the per-customer
    cores directly."""
    import numpy as np

    from oe_opt.methods.cache import sensitivity_model
    from oe_opt.methods.evaluator import PowerFlowEvaluator
    from oe_opt.methods.slp import MAX_CUTS
    from oe_opt.model.limits import limit_rows
    from oe_opt.model.lp import EnvelopeLP
    from oe_opt.network.base import mv_elements
    from oe_opt.problem import build_problem

    case = session.case()
    problem = build_problem(study, case.flex_names)
    sens = sensitivity_model(session.net, case.flex_idx)
    rows = limit_rows(sens.layout, problem.limits, mv_elements(session.net))
    n = len(case.flex_idx)
    lp = EnvelopeLP(n, rows.n + MAX_CUTS, n_breakpoints=1, open_rows=True, lean=lean)
    ev = PowerFlowEvaluator(session.net, problem.limits, case)
    ev.set_period(period)
    return problem, sens, rows, lp, ev, np.eye(n)


def random_lp_rows(seed: int, n: int, m: int, density: float):
    """(rows ``a`` (m, n), bounds ``b`` (m,), caps (n,) kW) of a random envelope LP: nonnegative
    coefficients with the given density, bounds in [5, 30], caps 5 kW."""
    import numpy as np

    rng = np.random.default_rng(seed)
    a_all = rng.random((m, n)) * (rng.random((m, n)) < density)
    b_all = rng.uniform(5.0, 30.0, m)
    return a_all, b_all, np.full(n, 5.0)
