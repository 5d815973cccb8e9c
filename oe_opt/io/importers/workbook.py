"""Reading and checking MV-LV spreadsheet networks (``Network_*.xlsx`` format).

The workbook format is the one of the Australian MV-LV network models
(one 22 kV feeder, its distribution transformers and pseudo LV networks down to
each customer).  The sheets and columns used, with their units, are:

``linecodes``
    ``Linecode_ID`` (e.g. ``"2-3ph"``), ``Phases``, ``r1``, ``x1``, ``r0``,
    ``x0`` in ohm per ``Units`` (``km``), ``b1``, ``b0`` in microsiemens per
    ``Units``, ``Ampacity1`` (normal rating, A) and ``Ampacity2`` (A).
``lines`` (MV)
    ``Line_Number``, ``Start_Node``/``End_Node`` (MV node ids),
    ``Start_Node_Phase``/``End_Node_Phase`` (e.g. ``"1.2.3"``), ``Phases``,
    ``Length`` in ``Units``, ``Linecode`` (number; the code is
    ``"<Linecode>-<Phases>ph"``) and ``Element_Name`` (``"delete"`` drops it).
``mv_net_txs`` / ``lvtx`` (zone-substation and distribution transformers)
    ``Substation_ID``, ``Bus1`` (primary node), ``Connection_Primary``/
    ``Connection_Secondary`` (``delta``/``wye``), ``kvs_*`` (kV line-line),
    ``kvas_*`` (kVA), ``xhl`` (%), ``loadloss``/``noloadloss`` (%),
    ``wdg1_numtaps``, ``wdg1_tap``, ``wdg1_maxtap``, ``wdg1_mintap`` (pu),
    ``Conn_Type`` (``lvtx``: the MV phase letters R, W, B it is connected to:
    three letters a three-phase transformer, two a single-phase one between
    those MV phases, one a SWER transformer from that phase to earth, with
    ``kvs_primary`` its phase-to-earth voltage; the LV side of a single-phase
    transformer is single-phase, ``kvs_secondary`` phase-neutral if at most
    0.3 kV, else line-line; see :func:`oe_opt.io.importers.dss_text.transformer_command`).
    ``mv_net_txs`` also has ``Bus2`` (the MV node it feeds).
``lv_lines``
    ``line_name``, ``bus1``, ``bus2`` (bus names), ``phases``, ``length`` in
    ``units`` (``m``) and ``linecode`` (``"lc_<Linecode_ID>"``); an optional
    ``enabled`` column switches lines off.
``lv_loads``
    ``load_name``, ``phases``, ``bus1`` (with nodes, e.g. ``"..._c0.2"``),
    ``pf`` and ``kv`` (kV: phase-neutral for 1-phase, line-line for 3-phase).
``buscoords`` (optional)
    ``Node_ID``, ``NodeStartX``, ``NodeStartY`` of the MV nodes.

The tables are kept as read (one DataFrame per sheet); :func:`enabled_rows`
and :func:`mv_line_rows` pick the rows that become network elements.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from oe_opt.errors import OEError

REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "linecodes": ("Linecode_ID", "Phases", "r1", "x1", "b1", "r0", "x0", "b0",
                  "Units", "Ampacity1", "Ampacity2"),
    "lines": ("Line_Number", "Start_Node", "Start_Node_Phase", "End_Node",
              "End_Node_Phase", "Phases", "Length", "Units", "Linecode",
              "Element_Name"),
    "mv_net_txs": ("Substation_ID", "Bus1", "Bus2", "Connection_Primary",
                   "Connection_Secondary", "kvs_primary", "kvs_secondary",
                   "kvas_primary", "kvas_secondary", "xhl", "loadloss",
                   "noloadloss", "wdg1_numtaps", "wdg1_tap", "wdg1_maxtap",
                   "wdg1_mintap"),
    "lvtx": ("Substation_ID", "Bus1", "Connection_Primary",
             "Connection_Secondary", "kvs_primary", "kvs_secondary",
             "kvas_primary", "kvas_secondary", "xhl", "loadloss", "noloadloss",
             "wdg1_numtaps", "wdg1_tap", "wdg1_maxtap", "wdg1_mintap",
             "Conn_Type"),
    "lv_lines": ("line_name", "bus1", "bus2", "phases", "length", "units",
                 "linecode"),
    "lv_loads": ("load_name", "phases", "bus1", "pf", "kv"),
}
OPTIONAL_COLUMNS: dict[str, tuple[str, ...]] = {
    "buscoords": ("Node_ID", "NodeStartX", "NodeStartY"),
}
LV_SHEETS = ("linecodes", "lvtx", "lv_lines", "lv_loads")
MVLV_SHEETS = tuple(REQUIRED_COLUMNS)


class WorkbookError(OEError, ValueError):
    """The workbook lacks a sheet or column, or its data are inconsistent."""


def read_workbook(path: str | Path) -> dict[str, pd.DataFrame]:
    """Read every sheet of an MV-LV workbook and check the required ones.

    Parameters
    ----------
    path : str or Path
        The ``.xlsx`` file.

    Returns
    -------
    dict of str to pandas.DataFrame
        One table per sheet, keyed by sheet name.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    WorkbookError
        (a ``ValueError``) if the file is not a readable workbook, or a
        required sheet or column is missing; the message names the file, the
        sheet and the column.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"MV-LV workbook not found: {path}")
    try:
        tables = pd.read_excel(path, sheet_name=None, engine="openpyxl")
    except Exception as exc:  # openpyxl raises several unrelated types
        raise WorkbookError(f"{path}: not a readable .xlsx workbook ({exc})") from exc
    check_tables(tables, MVLV_SHEETS, source=str(path))
    return tables


def check_tables(tables: dict[str, pd.DataFrame], sheets: Iterable[str],
                 source: str = "workbook") -> None:
    """Raise :class:`WorkbookError` if a sheet or one of its columns is missing.

    Parameters
    ----------
    tables : dict of str to pandas.DataFrame
        Tables keyed by sheet name.
    sheets : iterable of str
        Required sheets (keys of :data:`REQUIRED_COLUMNS`).  Optional sheets
        that are present are checked too.
    source : str
        Name of the file or object, used in messages.
    """
    wanted = {s: REQUIRED_COLUMNS[s] for s in sheets}
    for sheet, columns in wanted.items():
        if sheet not in tables:
            raise WorkbookError(
                f"{source}: missing sheet '{sheet}' (sheets found: {', '.join(tables)})")
    wanted.update({s: c for s, c in OPTIONAL_COLUMNS.items() if s in tables})
    for sheet, columns in wanted.items():
        missing = [c for c in columns if c not in tables[sheet].columns]
        if missing:
            raise WorkbookError(
                f"{source}: sheet '{sheet}' is missing column(s) "
                + ", ".join(f"'{c}'" for c in missing))


def enabled_rows(df: pd.DataFrame) -> pd.DataFrame:
    """Rows whose optional ``enabled`` column is empty or true."""
    if "enabled" not in df.columns:
        return df
    flag = df["enabled"]
    off = flag.notna() & flag.astype(str).str.strip().str.lower().isin(
        ["0", "0.0", "false", "no", "n"])
    return df[~off]


def mv_line_rows(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The ``lines`` (MV) rows kept: those whose ``Element_Name`` is not ``"delete"``."""
    lines = tables["lines"]
    keep = lines["Element_Name"].astype(str).str.strip().str.lower() != "delete"
    return lines[keep]
