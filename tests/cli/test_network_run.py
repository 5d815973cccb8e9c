"""``oe-opt network run``: bad options exit 2 before anything runs; failed networks exit 3."""

from __future__ import annotations

import pandas as pd
import pytest
from click.testing import CliRunner

from conftest import TUTORIAL
from oe_opt.cli.main import main
from oe_opt.io.importers.synthetic import write_synthetic_feeder


@pytest.fixture(scope="module")
def feeder(tmp_path_factory):
    return write_synthetic_feeder(30, tmp_path_factory.mktemp("nets") / "good", seed=0)


@pytest.mark.parametrize("extra, pattern", [
    (["--flexible", "0"], r"--flexible must be 'all' or a fraction in \(0, 1\], got 0.0"),
    (["--flexible", "1.5"], r"--flexible must be 'all' or a fraction in \(0, 1\], got 1.5"),
    (["--flexible", "half"], r"--flexible must be 'all' or a fraction in \(0, 1\], got 'half'"),
    (["--method", "foo"], r"--method: unknown method 'foo'"),
    (["--day", "999"], r"day 999 is outside the data"),
    (["--day", "-1"], r"--day -1 must be >= 0"),
])
def test_bad_options_exit_2_before_anything_runs(tmp_path, feeder, extra, pattern):
    import re

    out = tmp_path / "out"
    r = CliRunner().invoke(main, ["network", "run", str(TUTORIAL), str(feeder), "--out", str(out),
                                  *extra])
    assert r.exit_code == 2, r.output
    assert r.output.startswith("error: ") and re.search(pattern, r.output), r.output
    assert not out.exists()


def test_failed_networks_are_listed_the_good_ones_kept_and_the_exit_status_says_so(tmp_path,
                                                                                   feeder):
    bad = tmp_path / "nets" / "bad" / "master.dss"
    bad.parent.mkdir(parents=True)
    for f in feeder.parent.glob("*.dss"):
        (bad.parent / f.name).write_text(f.read_text())
    bad.write_text(feeder.read_text().replace("Redirect loads.dss", "! no loads"))
    out = tmp_path / "out"
    r = CliRunner().invoke(main, ["network", "run", str(TUTORIAL), str(feeder), str(bad),
                                  "--method", "step", "--flexible", "0.2", "--out", str(out)])
    assert r.exit_code == 3, r.output
    assert "1 network(s) solved (0 reused, 1 computed), 1 failed" in r.output
    assert "failed bad:" in r.output and "no loads" in r.output
    env = pd.read_parquet(out / "networks.parquet")
    assert env.network.unique().tolist() == ["good"] and env.verified.all()
    # only failures: exit 3 and no empty networks.parquet
    out2 = tmp_path / "out2"
    r = CliRunner().invoke(main, ["network", "run", str(TUTORIAL), str(bad), "--method", "step",
                                  "--out", str(out2)])
    assert r.exit_code == 3, r.output
    assert "0 network(s) solved (0 reused, 0 computed), 1 failed; nothing to write" in r.output
    assert not (out2 / "networks.parquet").exists()
