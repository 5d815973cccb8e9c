"""Study model loading: the tutorial study and every kind of bad input."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import TUTORIAL
from oe_opt.errors import StudyError
from oe_opt.study import load_study


def test_tutorial_study_reads_as_the_tutorial_configuration():
    st = load_study(TUTORIAL)
    assert st.profiles.day == 220 and st.profiles.assignment == "tutorial"
    assert len(st.customers.flexible) == 13
    assert st.customers.fixed_der == ("load_mg1_8", "load_mg1_21")
    assert st.customers.der_kw == {"load_mg1_8": 10.0, "load_mg1_21": 10.0}
    assert (st.limits.v_min_v, st.limits.v_max_v) == (216.0, 253.0)
    assert (st.envelope.export_max_kw, st.envelope.import_max_kw, st.envelope.step_kw) == (10, 14, 1)
    assert st.customers.fixed_pf == 0.95
    assert st.network.master.name == "master.dss" and st.network.master.is_file()


def test_paths_are_relative_to_the_study_file(tmp_path, write_study):
    path = write_study()
    st = load_study(path)
    assert st.network.master.is_absolute()


@pytest.mark.parametrize("changes, message", [
    ({"limits": {"v_min_v": 253.0, "v_max_v": 216.0}}, r"v_min_v .* must be below v_max_v"),
    ({"limits": {"v_min_v": 230.0, "v_max_v": 230.0}}, r"v_min_v .* must be below v_max_v"),
    ({"limits": {"v_min_v": None}}, r"\[limits\] v_min_v is required"),
    ({"network": {"master": "/nonexistent/master.dss"}}, r"\[network\] master: file not found"),
    ({"profiles": {"load": "/nonexistent/load.npy"}}, r"\[profiles\] load: file not found"),
    ({"profiles": {"day": -1}}, r"\[profiles\] day must be >= 0"),
    ({"customers": {"flexible": ["load_mg1_1", "load_mg1_8"]}}, r"load_mg1_8 is in both flexible and fixed_der"),
    ({"customers": {"flexible": ["load_mg1_1", "load_mg1_1"]}}, r"\[customers\] flexible lists load_mg1_1 more than once"),
    ({"customers": {"flexible": []}}, r"flexible must name at least one customer"),
    ({"customers": {"fixed_pf": 1.5}}, r"fixed_pf must be in"),
    ({"envelope": {"step_kw": 0.0}}, r"\[envelope\] step_kw must be > 0"),
    ({"envelope": {"export_max_kw": -1.0}}, r"\[envelope\] export_max_kw must be >= 0"),
    ({"envelope": {"step_kw": 20.0}}, r"step_kw .* is larger than export_max_kw"),
    ({"envelope": {"import_max_kw": "fourteen"}}, r"\[envelope\] import_max_kw must be a number"),
    ({"profiles": {"assignment": "random"}}, r"\[profiles\] assignment must be one of"),
    ({"envelope": {"colour": "red"}}, r"\[envelope\] unknown key\(s\) colour"),
    ({"customers": {"flexible_q": {"pf": 1.5}}}, r"\[customers\] flexible_q.pf must be a power "
                                                r"factor in \(0, 1\], got 1.5"),
    ({"customers": {"flexible_q": {"pf": 0.9, "mode": "sideways"}}},
     r"flexible_q.mode must be one of absorb, inject, got 'sideways'"),
    ({"customers": {"flexible_q": "as4777_z"}}, r"flexible_q must be \"zero\", 'as4777_a', "),
    ({"customers": {"flexible_q": {"volt_var": [[240, 0], [230, 10]]}}},
     r"flexible_q.volt_var: the voltages must increase"),
    ({"customers": {"flexible_q": {"volt_var": [[240, 0]]}}}, r"at least two \[volts, percent\]"),
    ({"customers": {"flexible_q": {"volt_watt": [[250, 100], [260, -20]]}}},
     r"flexible_q.volt_watt: percent of rated power must be >= 0"),
    ({"customers": {"flexible_kva": -1.0}}, r"\[customers\] flexible_kva must be > 0"),
    ({"customers": {"flexible_q": {"pf": 0.9, "kva": 5}}}, r"flexible_q has unknown key\(s\) kva"),
    ({"limits": {"vuf_max_pct": 0.0}}, r"\[limits\] vuf_max_pct must be > 0"),
    ({"limits": {"vuf_max_pct": 150.0}}, r"\[limits\] vuf_max_pct = 150.0 is not a plausible"),
    ({"limits": {"mv_v_max_pu": 11.0}}, r"\[limits\] mv_v_max_pu = 11.0 is not a plausible"),
    ({"limits": {"mv_v_min_pu": 1.05, "mv_v_max_pu": 1.0}}, r"mv_v_min_pu \(1.05\) must be below"),
    ({"limits": {"mv_v_min_pu": "low"}}, r"\[limits\] mv_v_min_pu must be a number"),
    ({"envelope": {"holds_for": "sometimes"}}, r"study.toml: \[envelope\] holds_for must be one of "
                                               r"full_use, any_use, got 'sometimes'"),
    ({"envelope": {"holds_for": 1}}, r"\[envelope\] holds_for must be a string"),
])
def test_bad_study_fields_are_named(write_study, changes, message):
    with pytest.raises(StudyError, match=message):
        load_study(write_study(changes))


def test_nan_limit_is_rejected(tmp_path):
    text = TUTORIAL.read_text().replace("v_max_v = 253.0", "v_max_v = nan")
    path = tmp_path / "nan.toml"
    path.write_text(text.replace('"../', f'"{TUTORIAL.parent.parent}/'))
    with pytest.raises(StudyError, match=r"v_max_v must be finite"):
        load_study(path)


def test_missing_study_file_and_bad_toml(tmp_path):
    with pytest.raises(StudyError, match="study file not found"):
        load_study(tmp_path / "none.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[network\nmaster = 1")
    with pytest.raises(StudyError, match="not valid TOML"):
        load_study(bad)


def test_per_customer_caps_default_to_envelope_caps_and_must_not_exceed_them(write_study):
    st = load_study(write_study())
    assert set(st.customers.export_max_kw.values()) == {10.0}
    assert st.customers.import_weight == st.customers.import_max_kw
    with pytest.raises(StudyError, match=r"export_max_kw for load_mg1_1 exceeds"):
        load_study(write_study({"customers": {"export_max_kw": {"load_mg1_1": 12.0}}}))
    with pytest.raises(StudyError, match=r"names load_mg1_3, which are not in this class"):
        load_study(write_study({"customers": {"export_max_kw": {"load_mg1_3": 2.0}}}))


def test_with_day_overrides(write_study):
    st = load_study(write_study())
    assert st.with_day(5).profiles.day == 5
    with pytest.raises(StudyError, match="--day -2"):
        st.with_day(-2)
    assert np.isclose(st.with_day(None).profiles.day, 220)


def test_start_date_and_timezone_are_read_and_checked(write_study, tmp_path):
    import datetime as dt

    st = load_study(write_study({"study": {"start_date": "2024-01-01",
                                           "timezone": "Australia/Melbourne"}}))
    assert st.start_date == dt.date(2024, 1, 1) and st.timezone == "Australia/Melbourne"
    assert load_study(TUTORIAL).start_date is None  # default: day index only
    path = tmp_path / "native.toml"
    path.write_text(write_study().read_text().replace('[study]\n', '[study]\nstart_date = 2024-03-01\n'))
    assert load_study(path).start_date == dt.date(2024, 3, 1)  # a TOML date literal
    with pytest.raises(StudyError, match=r"\[study\] start_date must be a date"):
        load_study(write_study({"study": {"start_date": "2024-13-01"}}))
    with pytest.raises(StudyError, match=r"\[study\] timezone: .*not an IANA"):
        load_study(write_study({"study": {"timezone": "Melbourne"}}))


def test_flexible_q_curves_by_name_or_points(write_study):
    st = load_study(write_study({"customers": {"flexible_q": "as4777_b"}}))
    fq = st.customers.flexible_q
    assert fq.mode == "volt_var" and fq.curve == "as4777_b"
    assert fq.volt_var == ((205.0, 30.0), (220.0, 0.0), (235.0, 0.0), (255.0, -40.0))
    assert st.customers.flexible_kva["load_mg1_1"] == 10.0          # default: the export cap
    pts = [[210, 40], [225, 0], [245, 0], [255, -50]]
    st = load_study(write_study({"customers": {"flexible_q": {"volt_var": pts}, "flexible_kva": 6.0}}))
    assert st.customers.flexible_q.volt_var == tuple((float(a), float(b)) for a, b in pts)
    assert set(st.customers.flexible_kva.values()) == {6.0}


def test_alloc_accept_defaults_to_auto_and_reaches_the_problem(write_study):
    from oe_opt.problem import build_problem

    st = load_study(write_study({"envelope": {"alloc_accept": None}}))
    assert st.envelope.alloc_accept == "auto"
    own = st.with_alloc_accept("own_state")
    assert own.envelope.alloc_accept == "own_state" and st.with_alloc_accept(None) is st
    assert build_problem(own, ["load_mg1_1"]).alloc_accept == "own_state"
    assert load_study(write_study({"envelope": {"alloc_accept": "model"}})
                      ).envelope.alloc_accept == "model"
    with pytest.raises(StudyError, match="--alloc-accept 'first' is not one of auto, model, "
                                         "own_state"):
        st.with_alloc_accept("first")


def test_holds_for_defaults_to_any_use_and_the_tutorial_says_full_use(write_study):
    assert load_study(TUTORIAL).envelope.holds_for == "full_use"
    st = load_study(write_study({"envelope": {"holds_for": None}}))
    assert st.envelope.holds_for == "any_use"
    assert st.with_holds_for("full_use").envelope.holds_for == "full_use"
    with pytest.raises(StudyError, match="--holds-for 'all' is not one of full_use, any_use"):
        st.with_holds_for("all")
