"""Stored results of batch runs: file paths, run keys, atomic and validated Parquet files.

Every file is written to a temporary file and moved into place with
:func:`os.replace` (:func:`write_parquet_atomic`), so a file either is
complete or does not exist (or, after a system crash, fails validation).  A stored file is reused only if it is valid
(:func:`read_valid_parquet`): readable, with the expected columns, row count,
day and run key (:func:`run_key`, a fingerprint of the study settings and
method).  Rerunning a batch therefore skips the finished work and recomputes
the rest, so an interrupted run resumes where it stopped and loses nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from oe_opt.io.results import ENVELOPE_COLUMNS
from oe_opt.runs.fingerprint import changed_inputs, combined_digest, input_digests, package_version
from oe_opt.study import Study

#: Parquet schema-metadata key holding the run key
KEY_META = b"oe_opt.run_key"
#: Parquet schema-metadata key holding the expected number of rows
ROWS_META = b"oe_opt.rows"
#: Parquet schema-metadata key holding the input files' digests (JSON ``{path: sha256}``)
INPUTS_META = b"oe_opt.inputs"
#: Parquet schema-metadata key holding the checksum of the rows (:func:`rows_checksum`)
CHECKSUM_META = b"oe_opt.checksum"
#: bump to invalidate stored results when the result format changes
KEY_VERSION = 2
#: every status a stored row may carry
KNOWN_STATUSES = ("ok", "at_cap", "infeasible", "nonconvergent")


# ------------------------------------------------------------------ names
def day_path(out_dir: str | Path, day: int) -> Path:
    """The Parquet file of 0-based `day`: ``<out_dir>/days/day_<DDD>.parquet``."""
    return Path(out_dir) / "days" / f"day_{int(day):03d}.parquet"


def network_path(out_dir: str | Path, name: str, day: int) -> Path:
    """The Parquet file of network `name` on 0-based `day` in a network-set run."""
    return Path(out_dir) / "networks" / f"{name}_day{int(day):03d}.parquet"


def run_key(study: Study, method: str, *extra: object,
            inputs: Mapping[str, str] | None = None) -> str:
    """Fingerprint of everything that determines a day's results except the day.

    Two runs with the same study settings (after command-line overrides),
    method, `extra` items, package version and input file *contents*
    (`inputs`, :func:`~oe_opt.runs.fingerprint.input_digests` of the study if
    omitted: every network file the master reads, the profile files, the
    source table) have the same key; stored results are reused only when the
    keys match.
    """
    inputs = input_digests(study) if inputs is None else inputs
    text = repr((KEY_VERSION, package_version(), study.with_day(0), method, extra,
                 combined_digest(dict(inputs))))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def rows_checksum(df: pd.DataFrame) -> str:
    """SHA-256 of a table's values (row order and columns included), as stored."""
    h = hashlib.sha256(",".join(map(str, df.columns)).encode())
    h.update(pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes())
    return h.hexdigest()


def check_rows(df: pd.DataFrame, caps: Mapping[tuple[str, str], float] | None = None) -> str | None:
    """Why stored envelope rows are implausible, or None if they pass.

    Every status must be known; rows that are not infeasible or
    nonconvergent must be verified and carry an ``oe_kw`` in [0, cap]
    (`caps`: ``{(direction, customer): kW}``, or ``{direction: kW}`` for every
    customer; only >= 0 checked without).
    """
    if "status" in df:
        bad = sorted(set(pd.unique(df["status"])) - set(KNOWN_STATUSES))
        if bad:
            return f"unknown status {bad[0]!r}"
    if "oe_kw" not in df or "status" not in df:
        return None
    # column arrays, not row selections of the table (a day file has ~1,250 rows of strings)
    solved = np.isin(df["status"].to_numpy(dtype=object), ["ok", "at_cap"])
    if "verified" in df and not df["verified"].to_numpy()[solved].astype(bool).all():
        return "unverified envelope"
    oe = df["oe_kw"].to_numpy(dtype=float)[solved]
    if np.isnan(oe).any() or (oe < 0).any():
        return "oe_kw missing or negative"
    if caps:
        nan = float("nan")
        cap = np.array([caps.get((d, c), caps.get(d, nan)) for d, c in
                        zip(df["direction"].to_numpy(dtype=object)[solved],
                            df["customer"].to_numpy(dtype=object)[solved])], dtype=float)
        if (oe > cap + 1e-6).any() or np.isnan(cap).any():
            return "oe_kw above the cap"
    return None


# ---------------------------------------------------------------- Parquet
def write_parquet_atomic(df: pd.DataFrame, path: str | Path, key: str,
                         inputs: Mapping[str, str] | None = None) -> tuple[pd.DataFrame, str]:
    """Write `df` to `path` so that the file is either complete or absent.

    The table goes to a temporary file in the same folder, then is moved into
    place with :func:`os.replace`: a stopped process leaves either the whole file
    or none.  (It is not forced to disk: after a system crash a file may be short
    or damaged, which :func:`read_valid_parquet` detects, so it is recomputed.)  The run `key`, the row
    count, a checksum of the rows (:func:`rows_checksum`) and the input
    files' digests (`inputs`, to say later which files changed) are stored in
    the Parquet schema metadata.

    Returns
    -------
    (DataFrame, str)
        The rows as stored (the Arrow table converted back, as
        :func:`read_valid_parquet` reads them) and their checksum.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(df, preserve_index=False)
    stored = table.to_pandas()
    checksum = rows_checksum(stored)
    meta = dict(table.schema.metadata or {})
    meta.update({KEY_META: key.encode(), ROWS_META: str(len(df)).encode(),
                 CHECKSUM_META: checksum.encode()})
    if inputs is not None:
        meta[INPUTS_META] = json.dumps(dict(inputs), sort_keys=True).encode()
    table = table.replace_schema_metadata(meta)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            pq.write_table(table, fh)
        # no fsync (3 ms a file here, a year's run 1 s): an interrupted process leaves the
        # file complete or absent; a file a system crash left short or damaged fails
        # read_valid_parquet's checks (footer, rows, checksum) and is recomputed
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return stored, checksum


def check_written(path: str | Path, stored: pd.DataFrame, checksum: str, key: str, n_rows: int,
                  day: int | None = None,
                  caps: Mapping[tuple[str, str], float] | None = None) -> str | None:
    """Why a file just written by :func:`write_parquet_atomic` cannot be used, or None.

    The checks of :func:`read_valid_parquet` without reading the rows back: the
    file's footer (run key, row count, columns, `checksum`: that of `stored`, the rows as
    written) and the rows themselves (`day`, :func:`check_rows` with `caps`).
    """
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(path)
    schema = meta.schema_arrow
    info = schema.metadata or {}
    if info.get(KEY_META) != key.encode():
        return "other settings"
    if meta.metadata.num_rows != n_rows or len(stored) != n_rows:
        return "short"
    if list(schema.names) != list(ENVELOPE_COLUMNS):
        return "wrong columns"
    if info.get(CHECKSUM_META) != checksum.encode():
        return "checksum mismatch"
    if day is not None and not (stored["day"].to_numpy() == day).all():
        return "wrong day"
    return check_rows(stored, caps) if caps is not None else None


def read_valid_parquet(path: str | Path, key: str, n_rows: int | None = None,
                       columns: Sequence[str] = tuple(ENVELOPE_COLUMNS),
                       day: int | None = None, inputs: Mapping[str, str] | None = None,
                       caps: Mapping[tuple[str, str], float] | None = None,
                       ) -> tuple[pd.DataFrame | None, str]:
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
    inputs : dict, optional
        The present input digests: when the key differs, the files whose
        content changed since the file was written are named in the reason.
    caps : dict, optional
        ``{(direction, customer): cap kW}``: check the envelope rows' values
        with :func:`check_rows` (not checked if omitted).

    Returns
    -------
    (DataFrame or None, reason)
        The data and ``"ok"``, or None and why the file cannot be used:
        ``"missing"``, ``"unreadable"`` (truncated or corrupt),
        ``"other settings"``, ``"inputs changed: <files>"``, ``"short"``,
        ``"wrong columns"``, ``"wrong day"``, ``"checksum mismatch"`` (rows
        edited or damaged), or an implausible value (:func:`check_rows`).
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
            if inputs is not None and INPUTS_META in meta:
                changed = changed_inputs(json.loads(meta[INPUTS_META]), dict(inputs))
                if changed:
                    return None, "inputs changed: " + ", ".join(changed)
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
    if day is not None and not (df["day"].to_numpy() == day).all():
        return None, "wrong day"
    if meta.get(CHECKSUM_META) != rows_checksum(df).encode():
        return None, "checksum mismatch"
    problem = check_rows(df, caps) if caps is not None else None
    if problem is not None:
        return None, problem
    return df, "ok"
