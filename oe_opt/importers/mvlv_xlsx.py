"""Import MV-LV spreadsheet networks (``Network_*.xlsx`` format) into OpenDSS.

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
    ``Conn_Type`` (phase letters; only 3-phase transformers are supported).
    ``mv_net_txs`` also has ``Bus2`` (the MV node it feeds).
``lv_lines``
    ``line_name``, ``bus1``, ``bus2`` (bus names), ``phases``, ``length`` in
    ``units`` (``m``) and ``linecode`` (``"lc_<Linecode_ID>"``).
``lv_loads``
    ``load_name``, ``phases``, ``bus1`` (with nodes, e.g. ``"..._c0.2"``),
    ``pf`` and ``kv`` (kV: phase-neutral for 1-phase, line-line for 3-phase).
``buscoords`` (optional)
    ``Node_ID``, ``NodeStartX``, ``NodeStartY`` of the MV nodes.

MV node ``n`` becomes bus ``mv_f0_n<n>``.  The LV network of the transformer
in row ``i`` of ``lvtx`` hangs from bus ``mv_f0_lv<i>_busbar``; LV buses and
loads keep their workbook names, so an LV network and the integrated feeder
use the same names.  Loads are constant power (``model=1``) placeholders of
1 kW: the study sets their power for each period.

Run as ``python -m oe_opt.importers.mvlv_xlsx WORKBOOK [--out DIR]
[--which lv|mvlv|all]``.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..errors import OEError

DEFAULT_OUT_DIR = Path("networks/generated")
LV_BASE_KV = 0.4
"""LV voltage base, kV line-line (230 V phase-neutral, Australian nominal)."""
SOURCE_MVASC = 10_000.0
"""Short-circuit level of the stiff source, MVA (3-phase and 1-phase)."""
LOAD_VMIN_PU = 0.85
LOAD_VMAX_PU = 1.20
FREQUENCY_HZ = 50

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


@dataclass(frozen=True)
class LvNetwork:
    """One distribution transformer and the LV network it supplies.

    Attributes
    ----------
    index : int
        Row position of the transformer in the ``lvtx`` sheet.
    name : str
        Folder and circuit name, ``lv<index>_<substation id>`` (lower case).
    transformer : pandas.Series
        The transformer's ``lvtx`` row.
    lines : pandas.DataFrame
        Its ``lv_lines`` rows.
    loads : pandas.DataFrame
        Its ``lv_loads`` rows.
    """

    index: int
    name: str
    transformer: pd.Series
    lines: pd.DataFrame
    loads: pd.DataFrame


# --------------------------------------------------------------------------
# Reading and validation
# --------------------------------------------------------------------------

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


# --------------------------------------------------------------------------
# Small formatting helpers
# --------------------------------------------------------------------------

def _num(value: object) -> str:
    """Format a number for OpenDSS (10 significant digits, no trailing .0)."""
    return format(float(value), ".10g")


def _ident(value: object) -> str:
    """Format an id read from Excel (``8.0`` becomes ``"8"``)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _safe(name: str) -> str:
    """Lower-case ``name`` and replace characters OpenDSS names dislike."""
    return re.sub(r"[^a-z0-9_-]+", "_", name.strip().lower()).strip("_")


def _bare(bus: str) -> str:
    """Bus name without its node suffix (``"b.1.2"`` becomes ``"b"``)."""
    return str(bus).split(".", 1)[0].strip().lower()


def mv_bus(node: object) -> str:
    """OpenDSS bus name of MV node ``node``."""
    return f"mv_f0_n{_ident(node)}".lower()


def lv_busbar(index: int) -> str:
    """OpenDSS bus name of the LV busbar of the transformer in ``lvtx`` row ``index``."""
    return f"mv_f0_lv{index}_busbar"


def _nodes(phases: int) -> str:
    return "." + ".".join(str(p) for p in range(1, int(phases) + 1))


def _enabled(df: pd.DataFrame) -> pd.DataFrame:
    """Rows whose optional ``enabled`` column is empty or true."""
    if "enabled" not in df.columns:
        return df
    flag = df["enabled"]
    off = flag.notna() & flag.astype(str).str.strip().str.lower().isin(
        ["0", "0.0", "false", "no", "n"])
    return df[~off]


def _mv_lines(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    lines = tables["lines"]
    keep = lines["Element_Name"].astype(str).str.strip().str.lower() != "delete"
    return lines[keep]


# --------------------------------------------------------------------------
# OpenDSS commands
# --------------------------------------------------------------------------

def linecode_command(row: pd.Series) -> str:
    """``New LineCode`` for a ``linecodes`` row (named ``lc_<Linecode_ID>``).

    ``normamps`` is ``Ampacity1``; ``emergamps`` the larger of both ratings.
    """
    norm = float(row["Ampacity1"])
    emerg = max(norm, float(row["Ampacity2"])) if pd.notna(row["Ampacity2"]) else norm
    return (f"New LineCode.lc_{_ident(row['Linecode_ID'])} nphases={int(row['Phases'])} "
            f"r1={_num(row['r1'])} x1={_num(row['x1'])} r0={_num(row['r0'])} "
            f"x0={_num(row['x0'])} b1={_num(row['b1'])} b0={_num(row['b0'])} "
            f"units={str(row['Units']).strip()} normamps={_num(norm)} emergamps={_num(emerg)}")


def transformer_command(name: str, row: pd.Series, hv_bus: str, lv_bus: str) -> str:
    """``New Transformer`` (3-phase, 2 windings) for an ``lvtx``/``mv_net_txs`` row."""
    return (f"New Transformer.{name} phases=3 windings=2 buses=[{hv_bus} {lv_bus}] "
            f"conns=[{row['Connection_Primary']} {row['Connection_Secondary']}] "
            f"kVs=[{_num(row['kvs_primary'])} {_num(row['kvs_secondary'])}] "
            f"kVAs=[{_num(row['kvas_primary'])} {_num(row['kvas_secondary'])}] "
            f"XHL={_num(row['xhl'])} %loadloss={_num(row['loadloss'])} "
            f"%noloadloss={_num(row['noloadloss'])} wdg=1 "
            f"numtaps={int(row['wdg1_numtaps'])} maxtap={_num(row['wdg1_maxtap'])} "
            f"mintap={_num(row['wdg1_mintap'])} tap={_num(row['wdg1_tap'])}")


def lv_line_command(row: pd.Series) -> str:
    """``New Line`` for an ``lv_lines`` row (nodes 1..phases at both ends)."""
    nodes = _nodes(row["phases"])
    return (f"New Line.{str(row['line_name']).strip()} bus1={_bare(row['bus1'])}{nodes} "
            f"bus2={_bare(row['bus2'])}{nodes} phases={int(row['phases'])} "
            f"linecode={str(row['linecode']).strip()} length={_num(row['length'])} "
            f"units={str(row['units']).strip()}")


def mv_line_command(row: pd.Series) -> str:
    """``New Line`` (named ``mv_f0_l<Line_Number>``) for a ``lines`` row."""
    phases = int(row["Phases"])
    return (f"New Line.mv_f0_l{_ident(row['Line_Number'])} "
            f"bus1={mv_bus(row['Start_Node'])}.{_ident(row['Start_Node_Phase'])} "
            f"bus2={mv_bus(row['End_Node'])}.{_ident(row['End_Node_Phase'])} "
            f"phases={phases} linecode=lc_{_ident(row['Linecode'])}-{phases}ph "
            f"length={_num(row['Length'])} units={str(row['Units']).strip()}")


def load_command(row: pd.Series, kw: float = 1.0) -> str:
    """``New Load`` (wye, constant power, ``kw`` kW) for an ``lv_loads`` row."""
    return (f"New Load.{str(row['load_name']).strip()} bus1={str(row['bus1']).strip()} "
            f"phases={int(row['phases'])} conn=wye kV={_num(row['kv'])} kW={_num(kw)} "
            f"pf={_num(row['pf'])} model=1 vminpu={LOAD_VMIN_PU} vmaxpu={LOAD_VMAX_PU} "
            "status=variable")


def master_text(circuit: str, source_bus: str, source_kv: float,
                redirects: Sequence[str], voltage_bases_kv: Sequence[float],
                extra: Sequence[str] = ()) -> str:
    """Text of a ``master.dss`` with a stiff 1.0 pu source at ``source_bus``.

    Parameters
    ----------
    circuit : str
        Circuit name.
    source_bus : str
        Bus of the Thevenin source (the transformer primary).
    source_kv : float
        Source base voltage, kV line-line.
    redirects : sequence of str
        Files redirected, in order.
    voltage_bases_kv : sequence of float
        Voltage bases, kV line-line.
    extra : sequence of str
        Commands appended after ``CalcVoltageBases``.
    """
    bases = ", ".join(_num(v) for v in voltage_bases_kv)
    lines = [
        "! Generated by oe_opt.importers.mvlv_xlsx; regenerate rather than edit.",
        f"! Source: stiff {_num(source_kv)} kV, 1.0 pu Thevenin source "
        f"({_num(SOURCE_MVASC)} MVA short-circuit level).",
        "Clear",
        f"Set DefaultBaseFrequency={FREQUENCY_HZ}",
        f"New Circuit.{circuit} bus1={source_bus} basekv={_num(source_kv)} pu=1.0 "
        f"angle=0 frequency={FREQUENCY_HZ} phases=3 "
        f"MVAsc3={_num(SOURCE_MVASC)} MVAsc1={_num(SOURCE_MVASC)}",
        *(f"Redirect {name}" for name in redirects),
        f"Set VoltageBases=[{bases}]",
        "CalcVoltageBases",
        *extra,
    ]
    return "\n".join(lines) + "\n"


def _write(folder: Path, files: dict[str, list[str]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, commands in files.items():
        (folder / name).write_text("\n".join(commands) + "\n")


# --------------------------------------------------------------------------
# Splitting the LV side into one network per transformer
# --------------------------------------------------------------------------

def _check_three_phase(lvtx: pd.DataFrame) -> None:
    conn = lvtx["Conn_Type"].astype(str).str.strip()
    bad = lvtx.loc[conn.str.len() != 3, "Substation_ID"].tolist()
    if bad:
        raise WorkbookError(
            f"sheet 'lvtx': single-/two-phase (SWER) transformers are not supported: "
            f"{', '.join(map(str, bad[:5]))}")


def _reach(start: str, adjacency: dict[str, list[str]]) -> set[str]:
    seen, stack = {start}, [start]
    while stack:
        for nxt in adjacency.get(stack.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return seen


def split_lv_networks(tables: dict[str, pd.DataFrame]) -> list[LvNetwork]:
    """Group LV lines and loads by the transformer whose busbar feeds them.

    Parameters
    ----------
    tables : dict of str to pandas.DataFrame
        Workbook tables (see :func:`read_workbook`).

    Returns
    -------
    list of LvNetwork
        One per ``lvtx`` row, in sheet order.

    Raises
    ------
    WorkbookError
        If an LV line or load is not reachable from any busbar, or two
        busbars are connected.
    """
    check_tables(tables, LV_SHEETS, source="tables")
    lvtx = tables["lvtx"].reset_index(drop=True)
    _check_three_phase(lvtx)
    lines = _enabled(tables["lv_lines"])
    loads = tables["lv_loads"]
    bus1, bus2 = lines["bus1"].map(_bare), lines["bus2"].map(_bare)
    adjacency: dict[str, list[str]] = {}
    for a, b in zip(bus1, bus2):
        adjacency.setdefault(a, []).append(b)
        adjacency.setdefault(b, []).append(a)
    owner: dict[str, int] = {}
    for i in range(len(lvtx)):
        for bus in _reach(lv_busbar(i), adjacency):
            if bus in owner:
                raise WorkbookError(
                    f"sheet 'lv_lines': bus '{bus}' connects the LV networks of "
                    f"lvtx rows {owner[bus]} and {i}")
            owner[bus] = i
    line_owner = bus1.map(owner)
    load_owner = loads["bus1"].map(_bare).map(owner)
    for sheet, table, col, own in (("lv_lines", lines, "line_name", line_owner),
                                   ("lv_loads", loads, "load_name", load_owner)):
        orphans = table.loc[own.isna(), col].astype(str).tolist()
        if orphans:
            raise WorkbookError(
                f"sheet '{sheet}': {len(orphans)} element(s) not connected to any "
                f"transformer busbar 'mv_f0_lv<i>_busbar', e.g. {', '.join(orphans[:3])}")
    return [
        LvNetwork(index=i, name=f"lv{i:02d}_{_safe(str(row['Substation_ID']))}",
                  transformer=row, lines=lines[line_owner == i],
                  loads=loads[load_owner == i])
        for i, row in lvtx.iterrows()
    ]


def _used_linecodes(tables: dict[str, pd.DataFrame], names: set[str]) -> list[str]:
    codes = tables["linecodes"]
    ids = codes["Linecode_ID"].map(_ident)
    known = set("lc_" + ids.str.lower())
    missing = sorted(n for n in names if n.lower() not in known)
    if missing:
        raise WorkbookError(
            f"sheet 'linecodes': no Linecode_ID for line code(s) {', '.join(missing)}")
    used = codes[("lc_" + ids.str.lower()).isin({n.lower() for n in names})]
    return [linecode_command(row) for _, row in used.iterrows()]


# --------------------------------------------------------------------------
# Writers
# --------------------------------------------------------------------------

def write_lv_network(tables: dict[str, pd.DataFrame], net: LvNetwork,
                     out_dir: str | Path, lv_base_kv: float = LV_BASE_KV) -> Path:
    """Write one LV network (``<out_dir>/<net.name>/master.dss``).

    The source is a stiff 1.0 pu Thevenin source at the transformer's HV bus
    (``mv_f0_n<Bus1>``) at its primary voltage ``kvs_primary`` (kV).

    Parameters
    ----------
    tables : dict of str to pandas.DataFrame
        Workbook tables (for the line codes).
    net : LvNetwork
        The network, from :func:`split_lv_networks`.
    out_dir : str or Path
        Parent folder.
    lv_base_kv : float
        LV voltage base, kV line-line.

    Returns
    -------
    Path
        The ``master.dss`` written.
    """
    tx = net.transformer
    hv_bus = mv_bus(tx["Bus1"])
    linecodes = _used_linecodes(tables, set(net.lines["linecode"].astype(str).str.strip()))
    folder = Path(out_dir) / net.name
    _write(folder, {
        "linecodes.dss": linecodes,
        "transformers.dss": [transformer_command(net.name, tx, hv_bus, lv_busbar(net.index))],
        "lines.dss": [lv_line_command(row) for _, row in net.lines.iterrows()],
        "loads.dss": [load_command(row) for _, row in net.loads.iterrows()],
    })
    master = folder / "master.dss"
    master.write_text(master_text(
        net.name, hv_bus, float(tx["kvs_primary"]),
        ["linecodes.dss", "transformers.dss", "lines.dss", "loads.dss"],
        [float(tx["kvs_primary"]), lv_base_kv]))
    return master


def write_lv_networks(tables: dict[str, pd.DataFrame], out_dir: str | Path,
                      lv_base_kv: float = LV_BASE_KV) -> list[Path]:
    """Write one OpenDSS network folder per distribution transformer.

    Each folder ``<out_dir>/lv<ii>_<substation id>/`` holds ``master.dss``
    (stiff 1.0 pu source at the transformer's HV bus, ``Set VoltageBases``
    and ``CalcVoltageBases``), ``linecodes.dss``, ``transformers.dss``,
    ``lines.dss`` and ``loads.dss`` (one 1 kW constant-power wye load per
    customer, named as in ``lv_loads``).

    Parameters
    ----------
    tables : dict of str to pandas.DataFrame
        Workbook tables (see :func:`read_workbook`).
    out_dir : str or Path
        Parent folder, created if missing.
    lv_base_kv : float
        LV voltage base, kV line-line.

    Returns
    -------
    list of Path
        The ``master.dss`` files, in ``lvtx`` order.
    """
    return [write_lv_network(tables, net, out_dir, lv_base_kv)
            for net in split_lv_networks(tables)]


def _mvlv_voltage_bases(tables: dict[str, pd.DataFrame], lv_base_kv: float) -> list[float]:
    mv = tables["mv_net_txs"]
    kvs = set(mv["kvs_primary"]) | set(mv["kvs_secondary"]) | set(tables["lvtx"]["kvs_primary"])
    return sorted({float(v) for v in kvs} | {lv_base_kv}, reverse=True)


def _buscoords(tables: dict[str, pd.DataFrame]) -> list[str]:
    coords = tables.get("buscoords")
    if coords is None:
        return []
    return [f"{mv_bus(r['Node_ID'])}, {_num(r['NodeStartX'])}, {_num(r['NodeStartY'])}"
            for _, r in coords.iterrows()]


def write_mv_lv_network(tables: dict[str, pd.DataFrame], out_dir: str | Path,
                        circuit: str = "mvlv", lv_base_kv: float = LV_BASE_KV) -> Path:
    """Write the integrated MV-LV feeder as one OpenDSS network.

    ``<out_dir>/master.dss`` puts a stiff 1.0 pu source at the zone-substation
    transformer's primary bus (``mv_net_txs.Bus1``, at ``kvs_primary`` kV) and
    redirects ``linecodes.dss``, ``transformers.dss`` (zone substation and all
    distribution transformers), ``mv_lines.dss``, ``lv_lines.dss`` and
    ``loads.dss``; it ends with ``Set VoltageBases``, ``CalcVoltageBases`` and,
    if the workbook has a ``buscoords`` sheet, ``Buscoords buscoords.csv``.

    Parameters
    ----------
    tables : dict of str to pandas.DataFrame
        Workbook tables (see :func:`read_workbook`).
    out_dir : str or Path
        Folder, created if missing.
    circuit : str
        Circuit name.
    lv_base_kv : float
        LV voltage base, kV line-line.

    Returns
    -------
    Path
        The ``master.dss`` written.
    """
    check_tables(tables, MVLV_SHEETS, source="tables")
    nets = split_lv_networks(tables)
    mvtx = tables["mv_net_txs"]
    source_buses = {str(b).strip().lower() for b in mvtx["Bus1"]}
    if len(source_buses) != 1:
        raise WorkbookError(
            f"sheet 'mv_net_txs': expected one source bus, found {sorted(source_buses)}")
    source_bus = source_buses.pop()
    mv_lines = _mv_lines(tables)
    lv_lines = pd.concat([n.lines for n in nets])
    names = {f"lc_{_ident(c)}-{int(p)}ph" for c, p in zip(mv_lines["Linecode"], mv_lines["Phases"])}
    names |= set(lv_lines["linecode"].astype(str).str.strip())
    transformers = [transformer_command(_safe(str(r["Substation_ID"])), r, source_bus,
                                        mv_bus(r["Bus2"])) for _, r in mvtx.iterrows()]
    transformers += [transformer_command(n.name, n.transformer, mv_bus(n.transformer["Bus1"]),
                                         lv_busbar(n.index)) for n in nets]
    folder = Path(out_dir)
    files = {
        "linecodes.dss": _used_linecodes(tables, names),
        "transformers.dss": transformers,
        "mv_lines.dss": [mv_line_command(r) for _, r in mv_lines.iterrows()],
        "lv_lines.dss": [lv_line_command(r) for _, r in lv_lines.iterrows()],
        "loads.dss": [load_command(r) for n in nets for _, r in n.loads.iterrows()],
    }
    _write(folder, files)
    coords = _buscoords(tables)
    if coords:
        (folder / "buscoords.csv").write_text("\n".join(coords) + "\n")
    master = folder / "master.dss"
    master.write_text(master_text(
        circuit, source_bus, float(mvtx["kvs_primary"].iloc[0]), list(files),
        _mvlv_voltage_bases(tables, lv_base_kv),
        ["Buscoords buscoords.csv"] if coords else []))
    return master


# --------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------

def import_network(xlsx_path: str | Path, out_dir: str | Path = DEFAULT_OUT_DIR,
                   which: str = "lv") -> list[Path]:
    """Import a workbook into OpenDSS networks under ``<out_dir>/<workbook stem>/``.

    Parameters
    ----------
    xlsx_path : str or Path
        The workbook.
    out_dir : str or Path
        Parent folder for generated networks (default ``networks/generated``).
    which : {"lv", "mvlv", "all"}
        ``"lv"``: one network per transformer in ``<stem>/lv<ii>_<id>/``;
        ``"mvlv"``: the integrated feeder in ``<stem>/mvlv/``; ``"all"``: both.

    Returns
    -------
    list of Path
        The ``master.dss`` files written (LV networks first).
    """
    if which not in ("lv", "mvlv", "all"):
        raise ValueError(f"which must be 'lv', 'mvlv' or 'all', not {which!r}")
    tables = read_workbook(xlsx_path)
    base = Path(out_dir) / _safe(Path(xlsx_path).stem)
    masters: list[Path] = []
    if which in ("lv", "all"):
        masters += write_lv_networks(tables, base)
    if which in ("mvlv", "all"):
        masters.append(write_mv_lv_network(tables, base / "mvlv", circuit=_safe(Path(xlsx_path).stem)))
    return masters


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; prints the master files written."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workbook", type=Path)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT_DIR)
    parser.add_argument("--which", choices=("lv", "mvlv", "all"), default="all")
    args = parser.parse_args(argv)
    try:
        masters = import_network(args.workbook, args.out, args.which)
    except (FileNotFoundError, WorkbookError) as exc:
        parser.exit(2, f"error: {exc}\n")
    for master in masters:
        print(master)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
