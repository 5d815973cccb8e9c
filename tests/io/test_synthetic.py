"""Tests of the synthetic LV feeder generator (oe_opt.io.importers.synthetic)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from conftest import compile_and_solve as solve

from oe_opt.io.importers.synthetic import main, transformer_kva, write_synthetic_feeder


def load_phases_and_voltages(circuit) -> tuple[list[int], list[float]]:
    """Connected phase of each load and the per-unit voltage there."""
    volts = dict(zip((n.lower() for n in circuit.AllNodeNames), circuit.AllBusVmagPu))
    phases, voltages = [], []
    for name in circuit.Loads.AllNames:
        circuit.SetActiveElement(f"Load.{name}")
        bus, phase = circuit.ActiveCktElement.BusNames[0].lower().split(".")
        phases.append(int(phase))
        voltages.append(volts[f"{bus}.{phase}"])
    return phases, voltages


@pytest.mark.parametrize("n", [30, 300])
def test_feeder_solves_with_balanced_phases_and_sane_voltages(n, tmp_path):
    master = write_synthetic_feeder(n, tmp_path, seed=3)
    assert master == tmp_path / "master.dss"
    text = master.read_text()
    assert "Set VoltageBases=[22, 0.4]" in text and "CalcVoltageBases" in text
    circuit = solve(master)
    assert circuit.Loads.Count == n
    assert sorted(circuit.Loads.AllNames) == sorted(f"load_{i}" for i in range(1, n + 1))
    circuit.Loads.Name = "load_1"
    assert (circuit.Loads.kV, circuit.Loads.kW, circuit.Loads.Model) == (0.23, 1.0, 1)
    assert circuit.Vsources.BasekV == 22 and circuit.Vsources.pu == 1.0
    phases, voltages = load_phases_and_voltages(circuit)
    counts = Counter(phases)
    assert set(counts) == {1, 2, 3}
    assert max(counts.values()) - min(counts.values()) <= n / 10
    assert 0.94 <= min(voltages) and max(voltages) <= 1.06, (min(voltages), max(voltages))
    assert min(circuit.AllBusVmagPu) > 0.5  # no isolated bus


def test_same_seed_gives_identical_files(tmp_path):
    a = write_synthetic_feeder(120, tmp_path / "a", seed=7).parent
    b = write_synthetic_feeder(120, tmp_path / "b", seed=7).parent
    c = write_synthetic_feeder(120, tmp_path / "c", seed=8).parent
    names = sorted(p.name for p in a.iterdir())
    assert names == sorted(p.name for p in b.iterdir())
    assert all((a / f).read_bytes() == (b / f).read_bytes() for f in names)
    assert (a / "lines.dss").read_bytes() != (c / "lines.dss").read_bytes()


def test_large_feeder_compiles_and_solves(tmp_path):
    circuit = solve(write_synthetic_feeder(2000, tmp_path))
    assert circuit.Loads.Count == 2000
    assert circuit.Transformers.Count == 1
    circuit.Transformers.First
    assert circuit.Transformers.kVA == 2000


def test_transformer_sizes():
    assert [transformer_kva(n) for n in (30, 50, 100, 300, 2000)] == [200, 200, 500, 1500, 2000]


@pytest.mark.parametrize("n", [29, 2001])
def test_out_of_range_is_rejected(n, tmp_path):
    with pytest.raises(ValueError, match="n_customers"):
        write_synthetic_feeder(n, tmp_path)


def test_command_line(tmp_path, capsys):
    assert main(["--customers", "40", "--out", str(tmp_path), "--seed", "2"]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "master.dss")
    assert len((tmp_path / "loads.dss").read_text().splitlines()) == 40
