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
