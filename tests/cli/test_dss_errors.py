"""OpenDSS errors name the file and line where OpenDSS says so, on one line."""

from __future__ import annotations

import shutil

import pytest
from click.testing import CliRunner

from conftest import REPO
from oe_opt.cli.main import main
from oe_opt.network.opendss import format_dss_error


@pytest.mark.parametrize("bad_line, text", [
    ("New Line.broken bus1=a bus2=b linecode=nosuchcode length=1 units=m",
     'LineCode object "nosuchcode" not found'),
    ("New Lnie.typo bus1=x", 'Object Type "Lnie" not found'),
    ("Redirect nothere.dss", 'Redirect file not found: "nothere.dss"'),
])
def test_a_bad_line_in_a_redirected_file_is_named(tmp_path, write_study, bad_line, text):
    net = tmp_path / "net"
    shutil.copytree(REPO / "networks" / "test_lv", net)
    lines = (net / "feeder_lines.dss").read_text().splitlines()
    lines.insert(3, bad_line)  # line 4
    (net / "feeder_lines.dss").write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    r = CliRunner().invoke(main, ["run", str(write_study({"network": {"master": str(net / "master.dss")}})),
                                  "--out", str(out)])
    assert r.exit_code == 2, r.output
    assert len(r.output.strip().splitlines()) == 1, r.output
    assert r.output.startswith(f"error: {net / 'feeder_lines.dss'}, line 4: "), r.output
    assert text in r.output and "(OpenDSS error " in r.output
    assert f"included from {net / 'master.dss'} line 11" in r.output
    assert not out.exists()


def test_errors_without_a_position_name_the_master_and_command():
    class Fake(Exception):
        pass

    msg = format_dss_error("/x/master.dss", "Set VoltageBases=[1]", Fake(302, "bad\nvalue"))
    assert msg == "/x/master.dss: OpenDSS rejected 'Set VoltageBases=[1]': bad value (OpenDSS error 302)"
