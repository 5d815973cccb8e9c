"""Stored results of batch runs: file paths, run keys, atomic and validated Parquet files.

Every file is written to a temporary file and moved into place with
:func:`os.replace` (:func:`write_parquet_atomic`), so a file either is
complete or does not exist.  A stored file is reused only if it is valid
(:func:`read_valid_parquet`): readable, with the expected columns, row count,
day and run key (:func:`run_key`, a fingerprint of the study settings and
method).  Rerunning a batch therefore skips the finished work and recomputes
the rest, so an interrupted run resumes where it stopped and loses nothing.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from oe_opt.io.results import ENVELOPE_COLUMNS
from oe_opt.study import Study

#: Parquet schema-metadata key holding the run key
KEY_META = b"oe_opt.run_key"
#: Parquet schema-metadata key holding the expected number of rows
ROWS_META = b"oe_opt.rows"
#: bump to invalidate stored results when the result format changes
KEY_VERSION = 1


# ------------------------------------------------------------------ names
def day_path(out_dir: str | Path, day: int) -> Path:
    """The Parquet file of 0-based `day`: ``<out_dir>/days/day_<DDD>.parquet``."""
    return Path(out_dir) / "days" / f"day_{int(day):03d}.parquet"


def network_path(out_dir: str | Path, name: str, day: int) -> Path:
    """The Parquet file of network `name` on 0-based `day` in a network-set run."""
    return Path(out_dir) / "networks" / f"{name}_day{int(day):03d}.parquet"


def run_key(study: Study, method: str, *extra: object) -> str:
    """Fingerprint of everything that determines a day's results except the day.

    Two runs with the same study settings (after command-line overrides),
    method and `extra` items have the same key; stored results are reused only
    when the keys match.
    """
    text = repr((KEY_VERSION, study.with_day(0), method, extra))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


# ---------------------------------------------------------------- Parquet
def write_parquet_atomic(df: pd.DataFrame, path: str | Path, key: str) -> None:
    """Write `df` to `path` so that the file is either complete or absent.

    The table goes to a temporary file in the same folder, is flushed to disk,
    then moved into place with :func:`os.replace`.  The run `key` and the row
    count are stored in the Parquet schema metadata.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(df, preserve_index=False)
    meta = dict(table.schema.metadata or {})
    meta.update({KEY_META: key.encode(), ROWS_META: str(len(df)).encode()})
    table = table.replace_schema_metadata(meta)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            pq.write_table(table, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def read_valid_parquet(path: str | Path, key: str, n_rows: int | None = None,
                       columns: Sequence[str] = tuple(ENVELOPE_COLUMNS),
                       day: int | None = None) -> tuple[pd.DataFrame | None, str]:
    """Read a stored result if it is complete and belongs to this run.

    Parameters
    ----------
    path : Path
    key : str
        The run key (:func:`run_key`) the file must carry.
    n_rows : int, optional
        Expected rows; if omitted, the count stored in the file's metadata.
    columns : sequence of str
        Expected columns, in order.
    day : int, optional
        Every row's ``day`` must equal this.

    Returns
    -------
    (DataFrame or None, reason)
        The data and ``"ok"``, or None and why the file cannot be used:
        ``"missing"``, ``"unreadable"`` (truncated or corrupt),
        ``"other settings"``, ``"short"``, ``"wrong columns"``, ``"wrong day"``.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    if not path.is_file():
        return None, "missing"
    try:
        pf = pq.ParquetFile(path)
        meta = pf.schema_arrow.metadata or {}
        if meta.get(KEY_META) != key.encode():
            return None, "other settings"
        want = n_rows if n_rows is not None else int(meta.get(ROWS_META, b"-1"))
        if pf.metadata.num_rows != want:
            return None, "short"
        if list(pf.schema_arrow.names) != list(columns):
            return None, "wrong columns"
        df = pf.read().to_pandas()
    except (OSError, ValueError, pa.ArrowException):
        return None, "unreadable"
    if len(df) != want:
        return None, "short"
    if day is not None and not (df["day"] == day).all():
        return None, "wrong day"
    return df, "ok"
