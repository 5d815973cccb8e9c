"""The InvControl LV benchmark network: what it is made of, one day of 288 five-minute periods,
and the same files for the same arguments."""

from __future__ import annotations

import numpy as np

from oe_opt.io.importers.invcontrol_lv import (N_POINTS, daily_shapes, flexible_names,
                                               write_invcontrol_feeder, write_invcontrol_study)
from oe_opt.runs.day import Session
from oe_opt.study import load_study


def test_the_study_is_one_day_of_288_five_minute_periods_with_volt_var_pv(invctl_study):
    session = Session(invctl_study)
    net, case = session.net, session.case()
    assert len(net.load_names) == 114
    assert case.n_periods == N_POINTS
    assert np.isclose(case.period_hours, 5 / 60)
    assert net.n_invcontrols == 1 and net.has_controls
    assert sorted(invctl_study.customers.flexible) == sorted(flexible_names())
    # PV follows the solar shape: none at midnight, most at noon
    irr = case.pv_irradiance
    assert irr.shape == (N_POINTS, 57)
    assert irr[0].max() == 0.0 and irr[144].min() > 0.8
    # fixed demand follows its loadshapes: the evening peak above the night
    total = case.p_fixed_kw.sum(axis=1)
    assert total[19 * 12] > 2 * total[3 * 12]


def test_the_same_arguments_write_the_same_files(tmp_path):
    a = write_invcontrol_feeder(tmp_path / "a").parent
    b = write_invcontrol_feeder(tmp_path / "b").parent
    c = write_invcontrol_feeder(tmp_path / "c", seed=1).parent
    for name in ("master.dss", "loads.dss", "pv.dss", "loadshapes.dss", "lines.dss"):
        text = (a / name).read_text()
        assert text == (b / name).read_text(), name
    assert (a / "loadshapes.dss").read_text() != (c / "loadshapes.dss").read_text()


def test_the_shapes_are_daily_profiles():
    demand, solar = daily_shapes()
    assert demand.shape == (6, N_POINTS) and demand.min() > 0
    assert solar.min() == 0.0 and 0.6 < solar.max() <= 1.0
    assert solar[:60].max() == 0.0                  # no sun before 05:00


def test_the_study_file_loads(tmp_path):
    study = load_study(write_invcontrol_study(tmp_path, holds_for="any_use"))
    assert study.envelope.holds_for == "any_use"
    assert study.profiles.source == "network"
