"""Publishing: CSIP-AUS XML and envoy JSON parsed back with envoy-schema and matched to the CSV."""

from __future__ import annotations

import datetime as dt
import shutil

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from envoy_schema.admin.schema.site_control import SiteControlRequest
from envoy_schema.server.schema.sep2.der import DefaultDERControl, DERControlListResponse
from pydantic import TypeAdapter

from oe_opt.cli.main import main
from oe_opt.errors import OEError
from oe_opt.io.csip import active_power

CREATED = 1_700_000_000


def invoke(args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def results(tmp_path_factory, request):
    """`oe-opt run` of the tutorial on 2024-04-07 (daylight saving ends in Melbourne)."""
    from conftest import dump_toml, tutorial_dict

    base = tmp_path_factory.mktemp("publish")
    data = tutorial_dict()
    data["study"].update(start_date="2024-01-01", timezone="Australia/Melbourne")
    data["profiles"]["day"] = 97
    (base / "study.toml").write_text(dump_toml(data))
    out = base / "res"
    r = invoke(["run", base / "study.toml", "--method", "step", "--out", out])
    assert r.exit_code == 0, r.output
    return out


def copy_results(results, tmp_path, change=None):
    out = tmp_path / "res"
    shutil.copytree(results, out)
    if change:
        env = pd.read_csv(out / "envelopes.csv")
        change(env)
        env.to_csv(out / "envelopes.csv", index=False)
    return out


def test_active_power_fits_int16_and_never_exceeds_the_envelope():
    assert active_power(4058.8) == (4058, 0)
    assert active_power(32767.0) == (32767, 0)
    assert active_power(32768.0) == (3276, 1)
    assert active_power(450_009.0) == (4500, 2)
    for w in (0.0, 1.5, 9999.99, 32767.9, 123456.7):
        v, m = active_power(w)
        assert -32768 <= v <= 32767 and v * 10 ** m <= w < (v + 1) * 10 ** m
    with pytest.raises(OEError):
        active_power(-1.0)


def test_csip_aus_controls_parse_back_and_match_the_envelopes(results, tmp_path):
    res = copy_results(results, tmp_path)
    r = invoke(["publish", res, "--format", "csip-aus", "--creation-time", CREATED])
    assert r.exit_code == 0, r.output
    env = pd.read_csv(res / "envelopes.csv")
    for customer, g in env.groupby("customer"):
        doc = DERControlListResponse.from_xml((res / "csip-aus" / customer /
                                               "DERControlList.xml").read_bytes())
        controls = doc.DERControl
        assert doc.all_ == doc.results == len(controls) == 48
        starts = [c.interval.start for c in controls]
        assert starts[0] == int(dt.datetime.fromisoformat("2024-04-07T00:00:00+11:00").timestamp())
        # contiguous half-hours through the change from +11:00 to +10:00
        assert all(c.interval.duration == 1800 for c in controls)
        assert all(a.interval.start + a.interval.duration == b.interval.start
                   for a, b in zip(controls, controls[1:]))
        for c, (period, rows) in zip(controls, g.groupby("period")):
            assert c.interval.start == int(dt.datetime.fromisoformat(rows.start.iat[0]).timestamp())
            for field, direction in (("opModExpLimW", "export"), ("opModImpLimW", "import")):
                ap = getattr(c.DERControlBase_, field)
                w = ap.value * 10 ** ap.multiplier
                kw = rows[rows.direction == direction].oe_kw.iat[0]
                assert w <= kw * 1000 + 1e-6 < w + 10 ** ap.multiplier
                assert -32768 <= ap.value <= 32767
            assert c.creationTime == CREATED
            assert "tutorial" in c.description and "step" in c.description
    # exports and imports differ on this day, so a swapped sign or direction would not match
    assert not np.allclose(env[env.direction == "export"].oe_kw.to_numpy(),
                           env[env.direction == "import"].oe_kw.to_numpy())


def test_mrids_are_unique_and_stable_for_the_same_inputs(results, tmp_path):
    res = copy_results(results, tmp_path)
    mrids = []
    for created in (CREATED, CREATED + 999):
        assert invoke(["publish", res, "--creation-time", created]).exit_code == 0
        doc = DERControlListResponse.from_xml((res / "csip-aus" / "load_mg1_1" /
                                               "DERControlList.xml").read_bytes())
        mrids.append([c.mRID for c in doc.DERControl])
    assert mrids[0] == mrids[1] and len(set(mrids[0])) == 48
    other = DERControlListResponse.from_xml((res / "csip-aus" / "load_mg1_2" /
                                             "DERControlList.xml").read_bytes())
    assert not set(mrids[0]) & {c.mRID for c in other.DERControl}


def test_unverified_periods_get_no_control_and_the_site_default_is_written(results, tmp_path):
    def damage(env):
        exp3 = (env.period == 3) & (env.direction == "export")
        env.loc[exp3, ["status", "oe_kw"]] = ["infeasible", np.nan]
        env.loc[env.period == 5, ["status", "oe_kw"]] = ["nonconvergent", np.nan]
        env.loc[(env.period == 7) & (env.direction == "import"), "verified"] = False

    res = copy_results(results, tmp_path, damage)
    r = invoke(["publish", res, "--default-export-w", 1500, "--default-import-w", 10000,
                "--creation-time", CREATED])
    assert r.exit_code == 0, r.output
    doc = DERControlListResponse.from_xml((res / "csip-aus/load_mg1_1/DERControlList.xml").read_bytes())
    by_start = {c.interval.start: c.DERControlBase_ for c in doc.DERControl}
    env = pd.read_csv(res / "envelopes.csv")
    start = {p: int(dt.datetime.fromisoformat(s).timestamp())
             for p, s in env.groupby("period").start.first().items()}
    assert len(doc.DERControl) == 47 and start[5] not in by_start
    assert by_start[start[3]].opModExpLimW is None and by_start[start[3]].opModImpLimW is not None
    assert by_start[start[7]].opModImpLimW is None and by_start[start[7]].opModExpLimW is not None
    skipped = pd.read_csv(res / "csip-aus" / "skipped.csv")
    assert set(skipped.status) == {"infeasible", "nonconvergent", "ok"}  # ok but unverified
    assert sorted(skipped[skipped.customer == "load_mg1_1"].period) == [3, 5, 5, 7]
    assert "1 infeasible" in r.output and "2 nonconvergent" in r.output
    dflt = DefaultDERControl.from_xml((res / "csip-aus/load_mg1_1/DefaultDERControl.xml").read_bytes())
    base = dflt.DERControlBase_
    assert base.opModExpLimW.value * 10 ** base.opModExpLimW.multiplier == 1500
    assert base.opModImpLimW.value * 10 ** base.opModImpLimW.multiplier == 10000


def test_envoy_json_parses_as_site_control_requests_with_the_mapped_site_groups(results, tmp_path):
    res = copy_results(results, tmp_path)
    env = pd.read_csv(res / "envelopes.csv")
    customers = list(dict.fromkeys(env.customer))
    sites = tmp_path / "sites.csv"
    pd.DataFrame({"customer": customers, "site": [f"site{i}" for i in range(len(customers))],
                  "site_group_id": [100 + i for i in range(len(customers))]}).to_csv(sites, index=False)
    r = invoke(["publish", res, "--format", "envoy-json", "--sites", sites])
    assert r.exit_code == 0, r.output
    controls = TypeAdapter(list[SiteControlRequest]).validate_json(
        (res / "envoy-json" / "site_controls.json").read_text())
    assert len(controls) == 48 * len(customers)
    first = [c for c in controls if c.site_group_id == 100]
    rows = env[env.customer == customers[0]]
    assert len(first) == 48
    for c, (_, g) in zip(first, rows.groupby("period")):
        assert c.start_time == dt.datetime.fromisoformat(g.start.iat[0])
        assert c.duration_seconds == 1800
        for d in ("export", "import"):
            w = float(getattr(c, f"{d}_limit_watts"))
            assert w <= g[g.direction == d].oe_kw.iat[0] * 1000 < w + 1
    assert [c.start_time.utcoffset() for c in (first[0], first[-1])] == \
        [dt.timedelta(hours=11), dt.timedelta(hours=10)]


@pytest.mark.parametrize("case", ["missing", "no_start", "format", "sites", "default", "sites_gid"])
def test_bad_input_gives_one_error_line_and_writes_nothing(results, tmp_path, case):
    res = copy_results(results, tmp_path)
    args, message = ["publish", res], ""
    if case == "missing":
        args, message = ["publish", tmp_path / "nowhere"], "results folder not found"
    elif case == "no_start":
        env = pd.read_csv(res / "envelopes.csv").drop(columns=["start", "end"])
        env.to_csv(res / "envelopes.csv", index=False)
        message = "needs absolute time: set [study] start_date"
    elif case == "format":
        args += ["--format", "openadr"]
        message = "--format 'openadr': choose one of csip-aus, envoy-json"
    elif case == "sites":
        (tmp_path / "s.csv").write_text("customer,site\nload_mg1_1,a\n")
        args += ["--sites", tmp_path / "s.csv"]
        message = "no site for customer(s) load_mg1_2"
    elif case == "sites_gid":
        env = pd.read_csv(res / "envelopes.csv")
        pd.DataFrame({"customer": env.customer.unique(), "site_group_id": "x"}).to_csv(
            tmp_path / "s.csv", index=False)
        args += ["--sites", tmp_path / "s.csv", "--format", "envoy-json"]
        message = "site_group_id of load_mg1_1 must be a whole number"
    elif case == "default":
        args += ["--default-export-w", -5]
        message = "--default-export-w -5.0: must be a finite number of W >= 0"
    r = invoke(args)
    assert r.exit_code == 2
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], r.output
    assert not (res / "csip-aus").exists() and not (res / "envoy-json").exists()


def test_a_23_hour_day_does_not_publish_controls_that_overlap_the_next_day(results, tmp_path):
    from oe_opt.io.results import add_period_times

    res = tmp_path / "res"
    shutil.copytree(results, res)
    env = pd.read_csv(res / "envelopes.csv").drop(columns=["start", "end"])
    # 2024-10-06 (day 279): Melbourne clocks go forward, the local day has 23 hours
    days = pd.concat([env.assign(day=279), env.assign(day=280)], ignore_index=True)
    add_period_times(days, dt.date(2024, 1, 1), "Australia/Melbourne", 0.5).to_csv(
        res / "envelopes.csv", index=False)
    assert invoke(["publish", res, "--creation-time", CREATED]).exit_code == 0
    doc = DERControlListResponse.from_xml((res / "csip-aus/load_mg1_1/DERControlList.xml").read_bytes())
    c = doc.DERControl
    assert len(c) == 94  # 48 + 48, less the two periods past the next local midnight
    assert all(a.interval.start + a.interval.duration == b.interval.start for a, b in zip(c, c[1:]))
    skipped = pd.read_csv(res / "csip-aus" / "skipped.csv")
    mine = skipped[skipped.customer == "load_mg1_1"]
    assert set(mine.status) == {"overlaps_next_day"} and set(zip(mine.day, mine.period)) == \
        {(279, 46), (279, 47)}
