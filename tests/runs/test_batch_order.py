"""Many-day results come back in day order however the days finish; stored columns are checked."""

from __future__ import annotations

import pandas as pd
import pytest

from conftest import TUTORIAL
from oe_opt.io.results import ENVELOPE_COLUMNS
from oe_opt.runs import batch
from oe_opt.runs.storage import read_valid_parquet, write_parquet_atomic
from oe_opt.study import load_study


@pytest.mark.parametrize("workers", [None, 1], ids=["serial", "dask"])
def test_days_are_returned_in_day_order_whatever_order_they_finish(tmp_path, monkeypatch, workers):
    study = load_study(TUTORIAL)
    real = batch.execute

    def reversed_execute(tasks, workers, scheduler, on_result, progress, desc, done=0, unit="day"):
        # finish the days in the reverse of the requested order, as a slow first worker would
        # (one Dask worker runs the tasks in the order they are submitted)
        real(list(reversed(tasks)), workers, scheduler, on_result, progress, desc, done, unit)

    monkeypatch.setattr(batch, "execute", reversed_execute)
    env = batch.run_days(study, [5, 1, 3], out_dir=tmp_path, method="step", progress=False,
                         workers=workers)
    assert env.drop_duplicates("day").day.tolist() == [1, 3, 5]
    assert env.groupby("day", sort=False).size().tolist() == [48 * 2 * 13] * 3
    for day in (1, 3, 5):
        d = env[env.day == day]
        assert d.period.tolist() == sorted(d.period.tolist())


def test_a_stored_file_with_other_columns_is_not_reused(tmp_path):
    df = pd.DataFrame({c: [0.0] * 4 for c in ENVELOPE_COLUMNS})
    df["day"] = 2
    path = tmp_path / "day_002.parquet"
    write_parquet_atomic(df, path, "k")
    assert read_valid_parquet(path, "k", 4, day=2)[1] == "ok"
    write_parquet_atomic(df.drop(columns=["verified"]), path, "k")
    assert read_valid_parquet(path, "k", 4, day=2) == (None, "wrong columns")
    write_parquet_atomic(df[list(reversed(ENVELOPE_COLUMNS))], path, "k")
    assert read_valid_parquet(path, "k", 4, day=2) == (None, "wrong columns")
    write_parquet_atomic(df.assign(extra=1.0), path, "k")
    assert read_valid_parquet(path, "k", 4, day=2) == (None, "wrong columns")
