"""Stored results are reused only when nothing they depend on changed and their rows pass checks."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import pandas as pd
import pyarrow.parquet as pq
from click.testing import CliRunner

from conftest import REPO, tutorial_dict
from oe_opt.cli.main import main
from oe_opt.io.results import ENVELOPE_COLUMNS
from oe_opt.runs.fingerprint import changed_inputs, dss_files, input_digests
from oe_opt.runs.storage import (check_rows, day_path, read_valid_parquet, rows_checksum,
                                 write_parquet_atomic)
from oe_opt.study import load_study


def invoke(args):
    return CliRunner().invoke(main, args)


# ------------------------------------------------------------ which files count
def test_every_file_the_master_reads_is_found_as_opendss_resolves_it(tmp_path):
    (tmp_path / "sub" / "deeper").mkdir(parents=True)
    (tmp_path / "master.dss").write_text(
        "Clear\n! Redirect commented.dss\n/* Redirect blocked.dss */\n"
        "REDIRECT sub/Lines.DSS  ! a comment\n"
        "compile (sub/deeper/more.dss)\n"
        "BusCoords coords.csv\n"
        "New Loadshape.a npts=2 mult=(file=shapes/a.csv)\n")
    (tmp_path / "sub" / "lines.dss").write_text("redirect \"deeper/codes.dss\"\n")  # relative to sub/
    (tmp_path / "sub" / "deeper" / "codes.dss").write_text("New Linecode.x\n")
    (tmp_path / "sub" / "deeper" / "more.dss").write_text(
        "New Loadshape.b npts=2 csvfile=b.csv\nNew Loadshape.c npts=2 pqcsvfile='c.csv'\n")
    (tmp_path / "sub" / "deeper" / "b.csv").write_text("1\n2\n")
    (tmp_path / "sub" / "deeper" / "c.csv").write_text("1,0\n2,0\n")
    (tmp_path / "coords.csv").write_text("b1,0,0\n")
    (tmp_path / "shapes").mkdir()
    (tmp_path / "shapes" / "a.csv").write_text("1\n2\n")
    (tmp_path / "commented.dss").write_text("")
    (tmp_path / "blocked.dss").write_text("")
    found = {p.relative_to(tmp_path).as_posix() for p in dss_files(tmp_path / "master.dss")}
    assert found == {"master.dss", "sub/lines.dss", "sub/deeper/codes.dss", "sub/deeper/more.dss",
                     "sub/deeper/b.csv", "sub/deeper/c.csv", "coords.csv", "shapes/a.csv"}


def test_input_digests_cover_network_profiles_and_source_table(tmp_path):
    st = load_study(REPO / "models" / "tutorial.toml")
    d = input_digests(st)
    names = {p.split("/")[-1] for p in d}
    assert {"master.dss", "linecodes.dss", "loads.dss", "residential_demand_kw.npy",
            "pv_normalised.npy"} <= names
    assert changed_inputs(d, dict(d)) == []
    other = dict(d, **{str(st.profiles.pv): "0" * 64})
    assert changed_inputs(d, other) == [str(st.profiles.pv)]


# ---------------------------------------------------------------- the CLI cases
def _study_on_a_copy(tmp_path):
    """The tutorial on a copy of its network (export only, to keep it quick)."""
    net = tmp_path / "net"
    shutil.copytree(REPO / "networks" / "test_lv", net)
    data = tutorial_dict()
    data["network"]["master"] = str(net / "master.dss")
    data["envelope"]["directions"] = ["export"]
    from conftest import dump_toml

    path = tmp_path / "study.toml"
    path.write_text(dump_toml(data))
    return path, net


def test_resume_recomputes_after_a_network_file_changed_and_names_it(tmp_path):
    study, net = _study_on_a_copy(tmp_path)
    out = tmp_path / "out"
    args = ["run", str(study), "--days", "221-222", "--method", "step", "--out", str(out)]
    r = invoke(args)
    assert r.exit_code == 0, r.output
    assert "computed 2 days, reused 0" in r.output
    before = pd.read_parquet(out / "envelopes.parquet")
    r = invoke(args)
    assert "computed 0 days, reused 2" in r.output
    # the feeder's cable rating drops: stored envelopes are no longer valid
    codes = net / "linecodes.dss"
    codes.write_text(codes.read_text().replace("normamps=325", "normamps=60"))
    r = invoke(args)
    assert r.exit_code == 0, r.output
    assert "computed 2 days, reused 0" in r.output
    assert "inputs changed" in r.output and "linecodes.dss" in r.output
    after = pd.read_parquet(out / "envelopes.parquet")
    solved = after[after.status.isin(["ok", "at_cap"])]
    assert solved.max_line_loading_pct.max() <= 100.0 + 1e-6
    assert before.max_line_loading_pct.max() * 325 / 60 > 100  # the old OEs now overload it
    assert after.oe_kw.fillna(0).sum() < before.oe_kw.sum()


def test_resume_recomputes_after_a_profile_file_changed(tmp_path, write_study):
    pv = np.load(tutorial_dict()["profiles"]["pv"])
    path = tmp_path / "pv.npy"
    np.save(path, pv)
    study = write_study({"profiles": {"pv": str(path)}, "envelope": {"directions": ["export"]}})
    out = tmp_path / "out"
    args = ["run", str(study), "--days", "221", "--method", "step", "--out", str(out)]
    assert "computed 1 days" in invoke(args).output
    np.save(path, pv * 0.5)
    r = invoke(args)
    assert "computed 1 days, reused 0" in r.output and "pv.npy" in r.output


def _edit_keeping_metadata(path, column, value, fix_checksum=False):
    table = pq.read_table(path)
    meta = dict(table.schema.metadata)
    df = table.to_pandas()
    df[column] = value
    import pyarrow as pa

    new = pa.Table.from_pandas(df, preserve_index=False)
    if fix_checksum:
        meta[b"oe_opt.checksum"] = rows_checksum(new.to_pandas()).encode()
    pq.write_table(new.replace_schema_metadata(meta), path)


def test_an_edited_day_file_is_not_reused(tmp_path, write_study):
    study = write_study({"envelope": {"directions": ["export"]}})
    out = tmp_path / "out"
    args = ["run", str(study), "--days", "221", "--method", "step", "--out", str(out)]
    assert invoke(args).exit_code == 0
    good = pd.read_parquet(day_path(out, 220))
    # edited with its run key kept: the checksum catches it
    _edit_keeping_metadata(day_path(out, 220), "oe_kw", 99.0)
    r = invoke(args)
    assert "computed 1 days, reused 0" in r.output and "checksum mismatch" in r.output
    assert pd.read_parquet(out / "envelopes.parquet").oe_kw.max() <= 10.0
    # edited with a matching checksum: the value checks catch it
    _edit_keeping_metadata(day_path(out, 220), "oe_kw", 99.0, fix_checksum=True)
    r = invoke(args)
    assert "computed 1 days, reused 0" in r.output and "oe_kw above the cap" in r.output
    _edit_keeping_metadata(day_path(out, 220), "verified", False, fix_checksum=True)
    r = invoke(args)
    assert "computed 1 days, reused 0" in r.output and "unverified envelope" in r.output
    _edit_keeping_metadata(day_path(out, 220), "status", "fine", fix_checksum=True)
    r = invoke(args)
    assert "computed 1 days, reused 0" in r.output and "unknown status" in r.output
    pd.testing.assert_frame_equal(pd.read_parquet(day_path(out, 220)).drop(columns="seconds"),
                                  good.drop(columns="seconds"))


def _rows(**changes):
    df = pd.DataFrame({c: [0.0] * 2 for c in ENVELOPE_COLUMNS})
    df["direction"], df["customer"] = "export", ["a", "b"]
    df["status"], df["verified"], df["oe_kw"] = "ok", True, [3.0, 10.0]
    for k, v in changes.items():
        df[k] = v
    return df


def test_row_checks_catch_each_implausible_value():
    caps = {("export", "a"): 10.0, ("export", "b"): 10.0}
    assert check_rows(_rows(), caps) is None
    assert check_rows(_rows(oe_kw=[3.0, 10.5]), caps) == "oe_kw above the cap"
    assert check_rows(_rows(oe_kw=[-1.0, 1.0]), caps) == "oe_kw missing or negative"
    assert check_rows(_rows(oe_kw=[np.nan, 1.0]), caps) == "oe_kw missing or negative"
    assert check_rows(_rows(verified=[True, False]), caps) == "unverified envelope"
    assert check_rows(_rows(status=["ok", "maybe"]), caps) == "unknown status 'maybe'"
    # infeasible and nonconvergent rows carry no envelope and are not verified
    assert check_rows(_rows(status=["infeasible", "nonconvergent"], verified=False,
                            oe_kw=np.nan), caps) is None
    assert check_rows(_rows(), {"export": 5.0}) == "oe_kw above the cap"


def test_stored_files_without_value_checks_still_need_a_matching_checksum(tmp_path):
    path = tmp_path / "x.parquet"
    write_parquet_atomic(_rows(), path, "k")
    assert read_valid_parquet(path, "k", 2)[1] == "ok"
    _edit_keeping_metadata(path, "oe_kw", 1.0)
    assert read_valid_parquet(path, "k", 2) == (None, "checksum mismatch")


def test_network_run_recomputes_a_network_whose_files_changed(tmp_path):
    from conftest import TUTORIAL
    from oe_opt.io.importers.synthetic import write_synthetic_feeder

    master = write_synthetic_feeder(30, tmp_path / "nets" / "n30", seed=1)
    out = tmp_path / "out"
    args = ["network", "run", str(TUTORIAL), str(master), "--flexible", "0.2", "--method", "step",
            "--out", str(out)]
    r = invoke(args)
    assert r.exit_code == 0, r.output
    before = pd.read_parquet(out / "networks.parquet")
    r = invoke(args)
    assert r.exit_code == 0 and "recomputed" not in r.output
    codes = master.parent / "linecodes.dss"
    text = codes.read_text()
    import re

    codes.write_text(re.sub(r"normamps=\d+", "normamps=40", text, flags=re.IGNORECASE))
    r = invoke(args)
    assert r.exit_code == 0, r.output
    assert "recomputed n30: inputs changed" in r.output and "linecodes.dss" in r.output
    after = pd.read_parquet(out / "networks.parquet")
    assert not np.allclose(after.oe_kw.fillna(-1), before.oe_kw.fillna(-1))


def test_a_written_day_file_is_checked_from_its_footer_and_the_rows_as_stored(tmp_path):
    from oe_opt.runs.storage import check_written

    path = tmp_path / "x.parquet"
    caps = {("export", "a"): 10.0, ("export", "b"): 10.0}
    stored, checksum = write_parquet_atomic(_rows(), path, "k")
    # the rows handed back are those a reader gets (so fresh and resumed runs agree)
    back, reason = read_valid_parquet(path, "k", 2)
    assert reason == "ok"
    pd.testing.assert_frame_equal(stored, back)
    assert checksum == rows_checksum(back)
    assert check_written(path, stored, checksum, "k", 2, caps=caps) is None
    assert check_written(path, stored, checksum, "other", 2) == "other settings"
    assert check_written(path, stored, checksum, "k", 3) == "short"
    assert check_written(path, stored, "0" * 64, "k", 2) == "checksum mismatch"
    assert check_written(path, stored, checksum, "k", 2, caps={"export": 1.0}) == \
        "oe_kw above the cap"


# ------------------------------------------------------------ checksum and row checks on Arrow
def test_the_checksum_is_that_of_the_rows_as_stored_whatever_their_arrow_layout(tmp_path):
    import pyarrow as pa

    df = _rows(oe_kw=[3.0, np.nan], customer=["a", None])
    table = pa.Table.from_pandas(df, preserve_index=False)
    ref = rows_checksum(table)
    assert rows_checksum(df) == ref                                  # a DataFrame as stored
    write_parquet_atomic(df, tmp_path / "x.parquet", "k")
    assert rows_checksum(pq.read_table(tmp_path / "x.parquet")) == ref   # read back
    # the same rows in two chunks, or cut out of a longer table (non-zero offsets)
    assert rows_checksum(pa.concat_tables([table.slice(0, 1), table.slice(1, 1)])) == ref
    longer = pa.Table.from_pandas(pd.concat([_rows(), df], ignore_index=True),
                                  preserve_index=False)
    assert rows_checksum(longer.slice(2, 2)) == ref


def test_the_checksum_changes_with_any_value_null_order_or_type():
    import pyarrow as pa

    base = _rows(customer=["ab", "c"])
    ref = rows_checksum(base)
    changed = {
        "a float": _rows(customer=["ab", "c"], oe_kw=[3.0, 10.000000001]),
        "a text": _rows(customer=["ab", "d"]),
        "text moved between rows": _rows(customer=["a", "bc"]),
        "a null": _rows(customer=["ab", None]),
        "a boolean": _rows(customer=["ab", "c"], verified=[True, False]),
        "row order": base.iloc[::-1].reset_index(drop=True),
        "an int for a float": _rows(customer=["ab", "c"]).astype({"n_lp": "int64"}),
    }
    for what, df in changed.items():
        assert rows_checksum(df) != ref, what
    table = pa.Table.from_pandas(base, preserve_index=False)
    assert rows_checksum(table.rename_columns([*table.column_names[:-1], "other"])) != ref


@pytest.mark.parametrize("as_arrow", [False, True])
def test_row_checks_give_the_same_verdicts_on_arrow_tables(as_arrow):
    import pyarrow as pa

    def rows(**changes):
        df = _rows(**changes)
        return pa.Table.from_pandas(df, preserve_index=False) if as_arrow else df

    caps = {("export", "a"): 10.0, ("export", "b"): 10.0}
    assert check_rows(rows(), caps) is None
    assert check_rows(rows(oe_kw=[3.0, 10.5]), caps) == "oe_kw above the cap"
    assert check_rows(rows(oe_kw=[3.0, 10.5]), {("export", "a"): 11.0}) == "oe_kw above the cap"
    assert check_rows(rows(oe_kw=[10.5, 3.0]), {("export", "a"): 11.0, ("export", "b"): 5.0}) is None
    assert check_rows(rows(oe_kw=[-1.0, 1.0]), caps) == "oe_kw missing or negative"
    assert check_rows(rows(verified=[True, False]), caps) == "unverified envelope"
    assert check_rows(rows(status=["ok", "maybe"]), caps) == "unknown status 'maybe'"
    assert check_rows(rows(status=["infeasible", "nonconvergent"], verified=False,
                           oe_kw=np.nan), caps) is None


def test_the_checksum_of_columns_numpy_holds_as_objects_is_of_their_values():
    import pyarrow as pa

    # an all-missing column (Arrow's null type) and a nested one: equal tables, equal checksums
    # (not the objects' addresses), other values another checksum
    def table(nested):
        return pa.table({"none": pa.array([None, None]), "nested": pa.array(nested),
                         "when": pa.array(np.array(["2024-01-01", "2024-01-02"],
                                                   dtype="datetime64[ns]"))})

    assert rows_checksum(table([[1.0], [2.0, 3.0]])) == rows_checksum(table([[1.0], [2.0, 3.0]]))
    assert rows_checksum(table([[1.0], [2.0, 3.0]])) != rows_checksum(table([[1.0], [2.0, 4.0]]))
    assert rows_checksum(table([[1.0], [2.0, 3.0]]).slice(1)) != rows_checksum(table([[1.0], [2.0, 3.0]]))
