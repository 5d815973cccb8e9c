"""``oe-opt network``: synthetic feeders and workbook import from the command line."""

from __future__ import annotations

from click.testing import CliRunner

from oe_opt.cli import main
from oe_opt.network import DssNetwork


def test_synthetic_feeder_command_writes_a_network_that_compiles(tmp_path):
    r = CliRunner().invoke(main, ["network", "synthetic", "40", "--out", str(tmp_path / "f"), "--seed", "3"])
    assert r.exit_code == 0, r.output
    net = DssNetwork(tmp_path / "f" / "master.dss")
    assert len(net.load_names) == 40
    net.solve()
    assert 200 < net.read_state().voltage_v.min() < 260


def test_import_of_a_missing_workbook_fails_clearly(tmp_path):
    r = CliRunner().invoke(main, ["network", "import", str(tmp_path / "none.xlsx"), "--out", str(tmp_path / "o")])
    assert r.exit_code == 2
    assert "none.xlsx" in r.output
    assert not (tmp_path / "o").exists()
