"""Stored results of batch runs: file paths, run keys, atomic and validated Parquet files.

Every file is written to a temporary file and moved into place with
:func:`os.replace` (:func:`write_parquet_atomic`), so a file either is
complete or does not exist (or, after a system crash, fails validation).  A stored file is
reused only if it is valid (:func:`read_valid_parquet`): readable, with the expected columns,
row count, day and run key (:func:`run_key`, a fingerprint of the study settings and
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
#: bump to invalidate stored results when the result format changes (3: the checksum is
#: computed on the Arrow table, :func:`rows_checksum`)
KEY_VERSION = 3
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


def rows_checksum(rows: "pd.DataFrame | pa.Table") -> str:
    """SHA-256 of a table's values (row order, columns and column types included), as stored.

    Computed on the Arrow table (a DataFrame is converted as it is stored,
    ``pa.Table.from_pandas(df, preserve_index=False)``): per column its name, type, null
    mask and values (numbers and booleans as their bytes, text as its UTF-8 bytes and
    offsets).  About 0.1 ms for a day's 1,248 rows, so it is computed on the rows as written
    and on every file reused.
    """
    import pyarrow as pa

    table = rows if isinstance(rows, pa.Table) else pa.Table.from_pandas(rows, preserve_index=False)
    h = hashlib.sha256(",".join(map(str, table.column_names)).encode())
    for name in table.column_names:
        h.update(b"\x00" + name.encode())
        _hash_column(h, table.column(name))
    return h.hexdigest()


def _hash_column(h, column) -> None:
    """Feed one Arrow column's type, null mask and values into the hash `h`."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    text = pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)
    h.update(str("large_string" if text else arr.type).encode())
    if pa.types.is_null(arr.type):                  # every value missing (e.g. an all-None column)
        h.update(str(len(arr)).encode())
        return
    if arr.null_count:
        h.update(np.asarray(arr.is_null().to_numpy(zero_copy_only=False)).tobytes())
        arr = pc.fill_null(arr, "" if text else 0)
    if text:
        arr = arr.cast(pa.large_string())
        offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)
        offsets = offsets[arr.offset:arr.offset + len(arr) + 1]
        data = arr.buffers()[2]
        h.update((offsets - offsets[0]).tobytes())
        if data is not None:
            h.update(memoryview(data)[int(offsets[0]):int(offsets[-1])])
    else:
        values = arr.to_numpy(zero_copy_only=False)
        # numbers, booleans and times as their bytes; anything numpy holds as Python objects
        # (e.g. nested values) by its text, never by the objects' addresses
        h.update(repr(values.tolist()).encode() if values.dtype == object
                 else np.ascontiguousarray(values).tobytes())


def _values(rows, name: str) -> np.ndarray:
    """Column `name` of a DataFrame or an Arrow table as a numpy array (text: objects)."""
    return (rows[name] if isinstance(rows, pd.DataFrame) else rows.column(name)).to_numpy()


def check_rows(df: "pd.DataFrame | pa.Table",
               caps: Mapping[tuple[str, str], float] | None = None) -> str | None:
    """Why stored envelope rows are implausible, or None if they pass.

    Every status must be known; rows that are not infeasible or
    nonconvergent must be verified and carry an ``oe_kw`` in [0, cap]
    (`caps`: ``{(direction, customer): kW}``, or ``{direction: kW}`` for every
    customer; only >= 0 checked without).  `df` is a DataFrame or an Arrow table.
    """
    names = list(df.columns) if isinstance(df, pd.DataFrame) else df.column_names
    if "status" not in names:
        return None
    status = _values(df, "status").astype(object)
    codes, kinds = pd.factorize(status, use_na_sentinel=False)
    bad = sorted(set(kinds) - set(KNOWN_STATUSES))
    if bad:
        return f"unknown status {bad[0]!r}"
    if "oe_kw" not in names:
        return None
    # column arrays, not row selections of the table (a day file has ~1,250 rows of strings)
    solved = np.isin(codes, [k for k, s in enumerate(kinds) if s in ("ok", "at_cap")])
    if "verified" in names and not _values(df, "verified")[solved].astype(bool).all():
        return "unverified envelope"
    oe = _values(df, "oe_kw").astype(float)[solved]
    if np.isnan(oe).any() or (oe < 0).any():
        return "oe_kw missing or negative"
    if caps:
        nan = float("nan")
        # the cap of every (direction, customer) pair present, looked up once per pair
        d_codes, d_names = pd.factorize(_values(df, "direction").astype(object)[solved])
        c_codes, c_names = pd.factorize(_values(df, "customer").astype(object)[solved])
        table = np.array([[caps.get((d, c), caps.get(d, nan)) for c in c_names] for d in d_names],
                         dtype=float).reshape(len(d_names), len(c_names))
        cap = table[d_codes, c_codes]
        if (oe > cap + 1e-6).any() or np.isnan(cap).any():
            return "oe_kw above the cap"
    return None


# ---------------------------------------------------------------- Parquet
def write_parquet_atomic(df: pd.DataFrame, path: str | Path, key: str,
                         inputs: Mapping[str, str] | None = None) -> tuple[pd.DataFrame, str]:
    """Write `df` to `path` so that the file is either complete or absent.

    :func:`write_table_atomic` of ``pa.Table.from_pandas(df, preserve_index=False)``.

    Returns
    -------
    (DataFrame, str)
        The rows as stored (the Arrow table converted back, as
        :func:`read_valid_parquet` reads them) and their checksum.
    """
    import pyarrow as pa

    table = pa.Table.from_pandas(df, preserve_index=False)
    return table.to_pandas(), write_table_atomic(table, path, key, inputs)


def write_table_atomic(table: "pa.Table", path: str | Path, key: str,
                       inputs: Mapping[str, str] | None = None) -> str:
    """Write the Arrow `table` to `path` so that the file is either complete or absent.

    The table goes to a temporary file in the same folder, then is moved into
    place with :func:`os.replace`: a stopped process leaves either the whole file
    or none.  (It is not forced to disk: after a system crash a file may be short
    or damaged, which :func:`read_valid_parquet` detects, so it is recomputed.)  The run
    `key`, the row count, a checksum of the rows (:func:`rows_checksum`) and the input
    files' digests (`inputs`, to say later which files changed) are stored in
    the Parquet schema metadata (next to the table's own, e.g. pandas').

    Returns
    -------
    str
        The checksum of the rows written (:func:`rows_checksum` of `table`: the rows as a
        reader gets them back, the Arrow types round-trip through Parquet).
    """
    import pyarrow.parquet as pq

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    checksum = rows_checksum(table)
    meta = {k: v for k, v in (table.schema.metadata or {}).items()
            if not k.startswith(b"oe_opt.")}
    meta.update({KEY_META: key.encode(), ROWS_META: str(table.num_rows).encode(),
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
    return checksum


def check_written(path: str | Path, stored: "pd.DataFrame | pa.Table", checksum: str, key: str,
                  n_rows: int, day: int | None = None,
                  caps: Mapping[tuple[str, str], float] | None = None) -> str | None:
    """Why a file just written by :func:`write_parquet_atomic` cannot be used, or None.

    The checks of :func:`read_valid_parquet` without reading the rows back: the
    file's footer (run key, row count, columns, `checksum`: that of `stored`, the rows as
    written, a DataFrame or an Arrow table) and the rows themselves (`day`,
    :func:`check_rows` with `caps`).
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
    if day is not None and not (_values(stored, "day") == day).all():
        return "wrong day"
    return check_rows(stored, caps) if caps is not None else None


def read_valid_table(path: str | Path, key: str, n_rows: int | None = None,
                     columns: Sequence[str] = tuple(ENVELOPE_COLUMNS),
                     day: int | None = None, inputs: Mapping[str, str] | None = None,
                     caps: Mapping[tuple[str, str], float] | None = None,
                     ) -> tuple["pa.Table | None", str]:
    """Read a stored result as an Arrow table if it is complete and belongs to this run.

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
    (Table or None, reason)
        The rows (an Arrow table, with the file's schema metadata) and ``"ok"``, or None and
        why the file cannot be used:
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
        table = pf.read()
    except (OSError, ValueError, pa.ArrowException):
        return None, "unreadable"
    if table.num_rows != want:
        return None, "short"
    if day is not None and not (_values(table, "day") == day).all():
        return None, "wrong day"
    if meta.get(CHECKSUM_META) != rows_checksum(table).encode():
        return None, "checksum mismatch"
    problem = check_rows(table, caps) if caps is not None else None
    if problem is not None:
        return None, problem
    return table, "ok"


def read_valid_parquet(path: str | Path, key: str, n_rows: int | None = None,
                       columns: Sequence[str] = tuple(ENVELOPE_COLUMNS),
                       day: int | None = None, inputs: Mapping[str, str] | None = None,
                       caps: Mapping[tuple[str, str], float] | None = None,
                       ) -> tuple[pd.DataFrame | None, str]:
    """:func:`read_valid_table` with the rows as a DataFrame (``Table.to_pandas()``)."""
    table, reason = read_valid_table(path, key, n_rows, columns, day, inputs, caps)
    return (None if table is None else table.to_pandas()), reason
