"""The HTML report: rendered in a real headless browser (Chromium), every figure and table shown."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess

import matplotlib.image as mpimg
import pandas as pd
import pytest
from click.testing import CliRunner

from oe_opt.cli.main import main

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--enable-logging=stderr", "--v=0"]
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed "
                                    "(apt-get install -y chromium); .ci/run installs it")


def invoke(args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    from conftest import dump_toml, tutorial_dict

    base = tmp_path_factory.mktemp("report")
    data = tutorial_dict()
    data["study"]["start_date"] = "2024-01-01"
    (base / "study.toml").write_text(dump_toml(data))
    r = invoke(["run", base / "study.toml", "--method", "step", "--out", base / "res"])
    assert r.exit_code == 0, r.output
    return base / "res"


def browse(html_path, tmp_path, *extra):
    """Load the page in headless Chromium; (DOM after load, stderr)."""
    cmd = [CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *extra,
           html_path.resolve().as_uri()]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    return p.stdout, p.stderr


def console_messages(log: str) -> list[str]:
    """Chromium's log lines for page console output and uncaught errors."""
    return [ln for ln in log.splitlines() if re.search(r"CONSOLE\(\d+\)|Uncaught", ln)]


def test_report_holds_the_verification_statement_tables_and_every_figure(results, tmp_path):
    r = invoke(["report", results, "--out", tmp_path / "report.html"])
    assert r.exit_code == 0, r.output
    html = (tmp_path / "report.html").read_text()
    env = pd.read_csv(results / "envelopes.csv")
    pf = int(env.drop_duplicates(["period", "direction"]).n_powerflows.sum())
    assert f"{len(env)} envelopes" in html and f"{pf} full OpenDSS power flows" in html
    assert "Every reported envelope was checked" in html
    assert "Operating envelopes — tutorial, 2024-08-08 (day 220) (step)" in html
    pngs = sorted(p.name for p in results.glob("*.png"))
    assert pngs == ["envelopes.png", "loading.png", "voltages.png"]
    for name in pngs:  # embedded byte for byte: the page is self-contained
        assert base64.b64encode((results / name).read_bytes()).decode() in html
    assert "energy_kwh_total" in html and "[limits] v_max_v" in html
    assert "<script src" not in html and "http" not in re.sub(r'xmlns[^ ]*', "", html.split("<body")[1])


@needs_chromium
def test_the_page_loads_in_headless_chromium_and_shows_every_figure_and_table(results, tmp_path):
    assert invoke(["report", results]).exit_code == 0
    dom, log = browse(results / "report.html", tmp_path, "--dump-dom")
    assert 'data-check="ok"' in dom, log[-2000:]
    assert "figures 3/3 shown; tables 2/2 with rows" in dom
    assert not console_messages(log), log[-2000:]
    shot = tmp_path / "shot.png"
    browse(results / "report.html", tmp_path, "--window-size=1200,1400", f"--screenshot={shot}")
    img = mpimg.imread(shot)
    assert img.shape[:2] == (1400, 1200) and img[..., :3].std() > 0.05


@needs_chromium
def test_the_browser_check_catches_a_broken_figure(results, tmp_path):
    assert invoke(["report", results, "--out", tmp_path / "report.html"]).exit_code == 0
    html = (tmp_path / "report.html").read_text()
    broken = tmp_path / "broken.html"
    broken.write_text(html.replace("data:image/png;base64,iVBOR", "data:image/png;base64,AAAA", 1))
    dom, _ = browse(broken, tmp_path, "--dump-dom")
    assert 'data-check="fail"' in dom and "figures 2/3 shown" in dom
    failing = tmp_path / "script_error.html"
    failing.write_text(html.replace("<body", "<script>undefinedFunction();</script><body", 1))
    _, log = browse(failing, tmp_path, "--dump-dom")
    assert console_messages(log)


def test_report_of_a_folder_without_results_fails_clearly(tmp_path):
    r = invoke(["report", tmp_path / "nowhere"])
    assert r.exit_code == 2 and r.output.strip().startswith("error: ")
    assert "results folder not found" in r.output and len(r.output.strip().splitlines()) == 1
    (tmp_path / "empty").mkdir()
    r = invoke(["report", tmp_path / "empty"])
    assert r.exit_code == 2 and "run.json: not found" in r.output
    assert not (tmp_path / "empty" / "report.html").exists()


def test_the_verification_statement_counts_infeasible_and_nonconvergent_periods_and_why():
    from oe_opt.io.report import verification

    rows = []
    for net, customers in (("a", ["c1", "c2"]), ("b", ["c1"])):
        for t, status, binding in ((0, "ok", "cap"), (1, "infeasible", "v_max:x"),
                                   (2, "nonconvergent", "powerflow")):
            for c in customers:
                rows.append({"network": net, "day": 0, "period": t, "direction": "export",
                             "customer": c, "status": status, "binding": binding,
                             "n_powerflows": 4, "verified": status == "ok"})
    v = verification(pd.DataFrame(rows))
    assert (v["n_envelopes"], v["n_customers"], v["n_networks"], v["n_periods"]) == (9, 3, 2, 6)
    assert (v["n_infeasible"], v["n_nonconvergent"], v["n_powerflows"]) == (2, 2, 24)
    assert not v["all_verified"] and v["n_unverified"] == 6
    assert {(r["status"], r["binding"], r["n"]) for r in v["reasons"]} == \
        {("infeasible", "v_max:x", 2), ("nonconvergent", "powerflow", 2)}
