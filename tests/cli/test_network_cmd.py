"""``oe-opt network``: synthetic feeders and workbook import from the command line."""

from __future__ import annotations

from click.testing import CliRunner

from oe_opt.cli.main import main
from oe_opt.network.opendss import DssNetwork


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


def test_network_run_applies_a_study_template_to_every_network_found(tmp_path):
    from conftest import TUTORIAL
    import pandas as pd

    runner = CliRunner()
    for n, seed in ((30, 1), (45, 2)):
        assert runner.invoke(main, ["network", "synthetic", str(n), "--out",
                                    str(tmp_path / "nets" / f"n{n}"), "--seed", str(seed)]).exit_code == 0
    out = tmp_path / "out"
    r = runner.invoke(main, ["network", "run", str(TUTORIAL), str(tmp_path / "nets"), "--flexible", "0.2",
                             "--method", "step", "--out", str(out)])
    assert r.exit_code == 0, r.output
    env = pd.read_parquet(out / "networks.parquet")
    assert sorted(env.network.unique()) == ["n30", "n45"]
    assert env.groupby("network").customer.nunique().to_dict() == {"n30": 6, "n45": 9}
    assert env.verified.all() and (env.oe_kw.dropna() >= 0).all()
    table = pd.read_csv(out / "networks.csv")
    assert list(zip(table.network, table.direction)) == [("n30", "export"), ("n30", "import"),
                                                         ("n45", "export"), ("n45", "import")]
    assert list(table.customers) == [30, 30, 45, 45] and list(table.flexible) == [6, 6, 9, 9]
    assert {"infeasible", "nonconvergent", "min_customer_oe_kw", "energy_kwh_total",
            "n_powerflows", "all_verified", "most_binding"} <= set(table.columns)
    assert (table.source == "computed").all() and "2 computed" in r.output
    import matplotlib.image as mpimg

    assert mpimg.imread(out / "networks.png")[..., :3].std() > 0.05 and "most_binding" in r.output
    r = runner.invoke(main, ["network", "run", str(TUTORIAL), str(tmp_path / "nets"), "--flexible", "0.2",
                             "--method", "step", "--out", str(out)])
    assert (pd.read_csv(out / "networks.csv").source == "reused").all() and "2 reused" in r.output
    r = runner.invoke(main, ["network", "run", str(TUTORIAL), str(tmp_path / "none")])
    assert r.exit_code == 2 and "network not found" in r.output


def test_a_synthetic_feeder_too_small_fails_with_one_error_line(tmp_path):
    r = CliRunner().invoke(main, ["network", "synthetic", "20", "--out", str(tmp_path / "n")])
    assert r.exit_code == 2 and r.output.strip().startswith("error: ")
    assert "n_customers must be 30" in r.output and len(r.output.strip().splitlines()) == 1
    assert not (tmp_path / "n").exists()
