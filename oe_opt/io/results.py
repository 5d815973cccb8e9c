"""The envelope table: its columns and how a method's result becomes rows.

One owner of the result schema: :data:`ENVELOPE_COLUMNS` is what
``envelopes.csv``, the Parquet day files and every summary read.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from oe_opt.inputs.case import DayCase
from oe_opt.methods.result import SearchResult
from oe_opt.network.base import NetworkEngine

ENVELOPE_COLUMNS = ["day", "period", "time", "direction", "customer", "oe_kw", "method", "binding",
                    "v_lowest_v", "v_highest_v", "max_line_loading_pct", "transformer_loading_pct",
                    "n_powerflows", "verified", "status", "binding_margin_pct", "n_lp", "seconds",
                    "q_kvar", "p_kw"]


def envelope_rows(case: DayCase, t: int, direction: str, method: str, res: SearchResult,
          seconds: float) -> list[list]:
    oe = np.broadcast_to(np.asarray(res.oe_kw, dtype=float), (len(case.flex_names),))
    # reactive power at the envelope (kvar, load sign: + absorbed), from [customers] flexible_q
    c = res.check
    q = (np.broadcast_to(c.flex_q_kvar, oe.shape) if getattr(c, "flex_q_kvar", None) is not None
         else getattr(case, "flex_q_per_kw", 0.0) * np.abs(oe))
    # active power delivered at the envelope (kW, >= 0): the OE, or less where volt-watt curtails
    p = (np.abs(np.broadcast_to(c.flex_p_kw, oe.shape))
         if getattr(c, "flex_p_kw", None) is not None and np.isfinite(oe).all() else oe)
    verified = res.verified
    return [[case.day, t, case.times[t], direction, name, float(o), method, res.binding,
             c.v_lowest_v, c.v_highest_v, c.max_line_loading_pct, c.transformer_loading_pct,
             res.n_powerflows, verified, res.status,
             c.margin_pct, res.n_lp, seconds, float(qk), float(pk)]
            for name, o, qk, pk in zip(case.flex_names, oe, q, p)]


class EnvelopeColumns:
    """The envelope table of a day built column by column (one append per period-direction).

    The same table as ``pd.DataFrame(rows, columns=ENVELOPE_COLUMNS)`` of the
    :func:`envelope_rows` of every period-direction (same values, same column types, tested),
    without a Python row per customer: what is the same for every customer of a
    period-direction is kept once and repeated when the table is made.  :meth:`table` makes
    it as Arrow (what the run store writes) without a DataFrame in between.
    """

    #: columns with one value per period-direction (every customer the same)
    SAME = ("day", "period", "time", "direction", "method", "binding", "v_lowest_v",
            "v_highest_v", "max_line_loading_pct", "transformer_loading_pct", "n_powerflows",
            "verified", "status", "binding_margin_pct", "n_lp", "seconds")

    #: of those, the columns of numbers (ints, floats or booleans)
    NUMERIC = frozenset(("day", "period", "v_lowest_v", "v_highest_v", "max_line_loading_pct",
                         "transformer_loading_pct", "n_powerflows", "verified",
                         "binding_margin_pct", "n_lp", "seconds"))

    #: of :data:`SAME`, those taken from each result (the others: the case, the method)
    _FROM_RESULT = ("period", "direction", "binding", "v_lowest_v", "v_highest_v",
                    "max_line_loading_pct", "transformer_loading_pct", "n_powerflows",
                    "verified", "status", "binding_margin_pct", "n_lp", "seconds")

    def __init__(self, case: DayCase, method: str):
        self.case, self.method = case, method
        self.n = len(case.flex_names)
        # per period-direction: the values of _FROM_RESULT, and (oe, q, p) as the result has
        # them (a number or an array per customer; q, p None when the check has none)
        self._same: list[tuple] = []
        self._each: list[tuple] = []

    def append(self, t: int, direction: str, res: SearchResult, seconds: float) -> None:
        """Add the rows of period `t` and `direction` (one per flexible customer)."""
        c = res.check
        self._same.append((t, direction, res.binding, c.v_lowest_v, c.v_highest_v,
                           c.max_line_loading_pct, c.transformer_loading_pct, res.n_powerflows,
                           res.verified, res.status, c.margin_pct, res.n_lp, seconds))
        self._each.append((res.oe_kw, getattr(c, "flex_q_kvar", None),
                           getattr(c, "flex_p_kw", None)))

    def __len__(self) -> int:
        """Period-directions appended so far."""
        return len(self._same)

    def _values(self, start: int) -> tuple[int, dict[str, list], dict[str, np.ndarray]]:
        """(period-directions, the per-period-direction values of every :data:`SAME` column,
        the per-customer columns ``oe_kw``, ``q_kvar``, ``p_kw``) from the `start`-th on."""
        case, n = self.case, self.n
        rows = self._same[start:]
        m = len(rows)
        same = dict(zip(self._FROM_RESULT, map(list, zip(*rows)))) if m else {
            k: [] for k in self._FROM_RESULT}
        same["day"] = [case.day] * m
        same["time"] = [case.times[t] for t in same["period"]]
        same["method"] = [self.method] * m
        each = self._each[start:]
        fast = _one_envelope_each(each, n)
        if fast is not None:
            return m, same, fast
        oe_parts, q_parts, p_parts = [], [], []
        q_per_kw = getattr(case, "flex_q_per_kw", 0.0)
        for oe, q, p in each:
            oe = np.full(n, float(oe)) if np.ndim(oe) == 0 else np.asarray(oe, dtype=float)
            q = (q_per_kw * np.abs(oe) if q is None
                 else q if np.shape(q) == (n,) else np.broadcast_to(q, (n,)))
            p = (oe if p is None or not np.isfinite(oe).all()
                 else np.abs(p if np.shape(p) == (n,) else np.broadcast_to(p, (n,))))
            oe_parts.append(oe)
            q_parts.append(q)
            p_parts.append(p)
        cat = (lambda parts: np.concatenate(parts).astype(float, copy=False) if parts
               else np.zeros(0))
        return m, same, {"oe_kw": cat(oe_parts), "q_kvar": cat(q_parts), "p_kw": cat(p_parts)}

    def frame(self, start: int = 0) -> pd.DataFrame:
        """The table (columns :data:`ENVELOPE_COLUMNS`); from the `start`-th period-direction
        appended on (0: all of them)."""
        n = self.n
        m, same, each = self._values(start)
        cols: dict[str, object] = {}
        for k in self.SAME:
            values = same[k]
            # the column type pandas infers from the Python values (as from the row lists),
            # each value repeated per customer; numbers straight from numpy when numpy infers
            # the same type (ints, floats, booleans: not a mix with None or text)
            arr = np.asarray(values) if k in self.NUMERIC else None
            if arr is None or arr.dtype.kind not in "ifb":
                arr = pd.Series(values)._values
            cols[k] = arr.repeat(n)
        cols["customer"] = pd.Series(list(self.case.flex_names) * m)._values
        cols.update(each)
        return pd.DataFrame(cols, columns=ENVELOPE_COLUMNS)

    def table(self, start: int = 0) -> "pa.Table":
        """The table as an Arrow table: ``pa.Table.from_pandas(self.frame(start),
        preserve_index=False)`` (the same columns, types, values and schema metadata; tested),
        made from the columns without the DataFrame.

        Numbers go to Arrow as ``from_pandas`` sends them (NaN as null), text as one array of
        the distinct values per period-direction taken per customer.  The schema (with
        pandas' metadata) is that of a ``from_pandas`` of this process with the same column
        types: the first table of a kind, or any with a column numpy cannot type, is made by
        ``from_pandas`` itself (and teaches the schema).
        """
        import pyarrow as pa

        n = self.n
        m, same, each = self._values(start)
        arrays = {}
        for k in self.SAME:
            values = same[k]
            if k in self.NUMERIC:
                arr = np.asarray(values)
                if arr.dtype.kind not in "ifb":
                    return self._learn(start)
                arrays[k] = pa.array(arr.repeat(n), from_pandas=True)
            else:
                if not all(type(v) is str for v in values):
                    return self._learn(start)
                arrays[k] = pa.array(values, pa.large_string()).take(
                    pa.array(np.arange(m).repeat(n)))
        arrays["customer"] = pa.array(list(self.case.flex_names) * m, pa.large_string())
        for k, v in each.items():
            arrays[k] = pa.array(v, from_pandas=True)
        cols = [arrays[k] for k in ENVELOPE_COLUMNS]
        key = tuple(str(a.type) for a in cols)
        schema = _ARROW_SCHEMAS.get(key)
        if schema is None:
            return self._learn(start)
        return pa.Table.from_arrays(cols, schema=schema)

    def _learn(self, start: int) -> "pa.Table":
        """:meth:`table` by ``from_pandas`` of :meth:`frame`; its schema kept for its types."""
        import pyarrow as pa

        table = pa.Table.from_pandas(self.frame(start), preserve_index=False)
        _ARROW_SCHEMAS.setdefault(tuple(str(f.type) for f in table.schema), table.schema)
        return table


def _one_envelope_each(each: list[tuple], n: int) -> dict[str, np.ndarray] | None:
    """The ``oe_kw``, ``q_kvar``, ``p_kw`` columns of :meth:`EnvelopeColumns._values` when every
    period-direction has one envelope (a float) and the check's q and p per customer (arrays
    of `n` floats): the same values in a few array operations; None otherwise."""
    if not each:
        return None
    oes, qs, ps = zip(*each)
    if not all(type(o) is float or type(o) is np.float64 for o in oes):
        return None
    for arrays in (qs, ps):
        if not all(type(a) is np.ndarray and a.shape == (n,) and a.dtype == np.float64
                   for a in arrays):
            return None
    oe = np.array(oes, dtype=float)
    oe_col = oe.repeat(n)
    # p: the check's |p| where the envelope is a number, else the envelope (NaN)
    p_col = np.where(np.isfinite(oe).repeat(n), np.abs(np.concatenate(ps)), oe_col)
    return {"oe_kw": oe_col, "q_kvar": np.concatenate(qs), "p_kw": p_col}


#: the Arrow schemas (with pandas' metadata) of the envelope tables ``from_pandas`` made in
#: this process, by their column types (:meth:`EnvelopeColumns.table`)
_ARROW_SCHEMAS: dict[tuple[str, ...], "pa.Schema"] = {}


def voltage_rows(net: NetworkEngine, case: DayCase, t: int, direction: str,
                  res: SearchResult) -> pd.DataFrame:
    v = res.check.voltage_v
    if v is None:
        v = np.full(len(net.voltage_labels), np.nan)
    return pd.DataFrame({"day": case.day, "period": t, "time": case.times[t], "direction": direction,
                         "customer": net.voltage_labels, "voltage_v": v})


def add_period_times(table: pd.DataFrame, start_date, timezone: str | None,
                     period_hours: float) -> pd.DataFrame:
    """`table` with ISO 8601 ``start`` and ``end`` columns after ``time`` (or first).

    Parameters
    ----------
    table : DataFrame
        Rows with ``day`` and ``period`` columns.
    start_date : date or None
        ``[study] start_date``; None returns `table` unchanged.
    timezone : str or None
        IANA name (UTC if None).
    period_hours : float

    Returns
    -------
    DataFrame
        A copy with ``start``/``end`` (offset-aware ISO 8601, see
        :mod:`oe_opt.inputs.calendar`).
    """
    if start_date is None or not len(table) or "period" not in table or "day" not in table:
        return table
    from oe_opt.inputs.calendar import period_bounds

    starts, ends = period_bounds(start_date, table["day"].to_numpy(), table["period"].to_numpy(),
                                 period_hours, timezone)
    out = table.drop(columns=[c for c in ("start", "end") if c in table]).copy()
    at = list(out.columns).index("time") + 1 if "time" in out else 0
    out.insert(at, "start", starts)
    out.insert(at + 1, "end", ends)
    return out


RUN_INFO = "run.json"


def write_run_info(folder, study, method: str, period_hours: float, days: list[int],
                   kind: str = "day") -> None:
    """``run.json``: what a results folder holds (the study settings, method, days, calendar).

    Read back by ``oe-opt report`` and ``oe-opt publish`` (:func:`read_run_info`).
    """
    import json
    from dataclasses import asdict
    from pathlib import Path

    def plain(x):
        if isinstance(x, dict):
            return {str(k): plain(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [plain(v) for v in x]
        if isinstance(x, (str, int, float, bool)) or x is None:
            return x
        return str(x)

    info = {"kind": kind, "study": study.name, "study_file": str(study.path), "method": method,
            "period_hours": float(period_hours), "days": [int(d) for d in days],
            "start_date": study.start_date.isoformat() if getattr(study, "start_date", None)
            else None,
            "timezone": getattr(study, "timezone", None),
            "flexible": list(study.customers.flexible),
            "settings": {k: plain(asdict(getattr(study, k)))
                         for k in ("network", "profiles", "limits", "envelope")}}
    (Path(folder) / RUN_INFO).write_text(json.dumps(info, indent=1), encoding="utf-8")


def read_run_info(folder) -> dict:
    """The ``run.json`` of a results folder (:func:`write_run_info`); OEError if missing/bad."""
    import json
    from pathlib import Path

    from oe_opt.errors import OEError

    path = Path(folder) / RUN_INFO
    if not Path(folder).is_dir():
        raise OEError(f"{folder}: results folder not found")
    if not path.is_file():
        raise OEError(f"{path}: not found (not an oe-opt results folder; run `oe-opt run` first)")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise OEError(f"{path}: unreadable ({exc})") from None
