"""What a run writes: network-set tables carry the date with a start date."""

from __future__ import annotations

import numpy as np
import pandas as pd

from oe_opt.io.outputs import write_network_outputs
from oe_opt.io.results import read_run_info
from oe_opt.runs.netset import NETWORK_COLUMNS
from oe_opt.study import load_study


def test_network_outputs_have_the_date_the_chart_and_run_info(tmp_path, write_study):
    st = load_study(write_study({"study": {"start_date": "2024-01-01"}}))
    rows = [["n1", 220, t, f"{t:02d}:00", d, "c1", 2.0 + t, "step", "cap", 240, 250, 10, 10, 2,
             True, "ok", 0, 0, 0.01, 0.0, 2.0 + t, 1.0, 7, 0.5]
            for t in range(3) for d in ("export", "import")]
    env = pd.DataFrame(rows, columns=NETWORK_COLUMNS)
    table, written = write_network_outputs(st, env, 0.5, tmp_path)
    csv = pd.read_csv(tmp_path / "networks.csv")
    assert list(csv.columns[:3]) == ["network", "direction", "date"]
    assert (csv.date == "2024-08-08").all() and (csv.customers == 7).all()
    assert np.allclose(csv.energy_kwh_total, (2 + 3 + 4) * 0.5)
    assert [p.name for p in written] == ["networks.csv", "networks.png"]
    assert read_run_info(tmp_path)["kind"] == "networks"


def test_the_days_csv_writer_reads_back_as_pandas_own_csv(tmp_path):
    from oe_opt.io.outputs import write_csv

    rows = [[220, t, f"{t:02d}:00", d, "c,1", 2.5 + t, "lp", 'v_max:"x"', 240.1, 250.0, 10.0,
             10.0, 2, t != 1, "ok", 0.25, 1, 0.01, 0.125, np.nan if t == 2 else 2.0 + t]
            for t in range(3) for d in ("export", "import")]
    from oe_opt.io.results import ENVELOPE_COLUMNS

    env = pd.DataFrame(rows, columns=ENVELOPE_COLUMNS)
    write_csv(env, tmp_path / "fast.csv")
    env.to_csv(tmp_path / "pandas.csv", index=False)
    fast, ref = pd.read_csv(tmp_path / "fast.csv"), pd.read_csv(tmp_path / "pandas.csv")
    pd.testing.assert_frame_equal(fast, ref)
    assert fast.verified.tolist() == [True, True, False, False, True, True]


def test_the_csv_writer_converts_runs_of_equal_floats_once_with_the_text_of_each_value(tmp_path):
    from oe_opt.io.outputs import write_csv

    # runs of equal values (a day's per-period columns repeat per customer), -0.0 next to
    # 0.0, runs of NaN, whole numbers, tiny and huge values, a value once
    x = np.array([2.5, 2.5, 2.5, -0.0, 0.0, 0.0, np.nan, np.nan, 10.0, 10.0, 1e-7, 1e-7,
                  1e16, 0.1 + 0.2, 0.1 + 0.2, 3.0])
    table = pd.DataFrame({"x": x, "y": x[::-1].copy(), "n": np.arange(len(x))})
    write_csv(table, tmp_path / "fast.csv")
    table.to_csv(tmp_path / "pandas.csv", index=False)
    fast = (tmp_path / "fast.csv").read_text().splitlines()
    assert fast[0] == "x,y,n"
    assert [line.split(",")[0] for line in fast[1:]] == [
        "2.5", "2.5", "2.5", "-0.0", "0.0", "0.0", "", "", "10.0", "10.0", "1e-7", "1e-7",
        "1e+16", "0.30000000000000004", "0.30000000000000004", "3.0"]
    back = pd.read_csv(tmp_path / "fast.csv")
    pd.testing.assert_frame_equal(back, pd.read_csv(tmp_path / "pandas.csv"))
    np.testing.assert_array_equal(np.signbit(back.x.to_numpy()), np.signbit(x))
