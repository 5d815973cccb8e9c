"""Import MV-LV spreadsheet networks (``Network_*.xlsx`` format) into OpenDSS.

The workbook is read and checked by :mod:`oe_opt.io.importers.workbook` (which
describes the sheets and columns used) and its rows become OpenDSS commands
through :mod:`oe_opt.io.importers.dss_text`.  This module splits the LV side into
one network per distribution transformer (:func:`split_lv_networks`) and
writes the network folders: one per transformer (:func:`write_lv_networks`)
and the integrated feeder (:func:`write_mv_lv_network`).

MV node ``n`` becomes bus ``mv_f0_n<n>``.  The LV network of the transformer
in row ``i`` of ``lvtx`` hangs from bus ``mv_f0_lv<i>_busbar``; LV buses and
loads keep their workbook names, so an LV network and the integrated feeder
use the same names.  Loads are constant power (``model=1``) placeholders of
1 kW: the study sets their power for each period.

Run as ``python -m oe_opt.io.importers.mvlv_xlsx WORKBOOK [--out DIR]
[--which lv|mvlv|all]``.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from oe_opt.io.importers.dss_text import (PHASE_NODES, bare_bus, conn_phases, ident, linecode_command,
                                          load_command, lv_busbar, lv_line_command, master_text,
                                          mv_bus, mv_line_command, num, transformer_command)
from oe_opt.io.importers.workbook import (LV_SHEETS, MVLV_SHEETS, WorkbookError, check_tables,
                                          enabled_rows, mv_line_rows, read_workbook)

DEFAULT_OUT_DIR = Path("networks/generated")
LV_BASE_KV = 0.4
"""LV voltage base, kV line-line (230 V phase-neutral, Australian nominal)."""


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
    busbar : str
        Its LV busbar, as named in ``lv_lines`` (see :func:`find_busbars`).
    """

    index: int
    name: str
    transformer: pd.Series
    lines: pd.DataFrame
    loads: pd.DataFrame
    #: the LV busbar bus the transformer feeds (``mv_f<k>_lv<index>_busbar``)
    busbar: str = ""


def _safe(name: str) -> str:
    """Lower-case ``name`` and replace characters OpenDSS names dislike."""
    return re.sub(r"[^a-z0-9_-]+", "_", name.strip().lower()).strip("_")


# --------------------------------------------------------------------------
# Splitting the LV side into one network per transformer
# --------------------------------------------------------------------------

def _check_conn_type(lvtx: pd.DataFrame) -> None:
    """Every ``Conn_Type`` is one to three distinct phase letters R, W, B (sheet row = index + 2)."""
    for i, value in lvtx["Conn_Type"].items():
        letters = str(value).strip().upper()
        if (pd.isna(value) or not 1 <= len(letters) <= 3 or len(set(letters)) != len(letters)
                or not set(letters) <= set(PHASE_NODES)):
            raise WorkbookError(
                f"sheet 'lvtx' row {int(i) + 2} ({ident(lvtx.at[i, 'Substation_ID'])}): Conn_Type "
                f"{value!r} is not 1-3 distinct phase letters of R, W, B (three: a three-phase "
                f"transformer; two: single-phase between two MV phases; one: SWER)")


def _check_single_phase_lv(net: "LvNetwork") -> None:
    """The LV side of a single-phase (two-phase primary or SWER) transformer is single-phase:
    every LV line one phase, every load one phase at node 1."""
    if len(conn_phases(net.transformer)) == 3:
        return
    tx = ident(net.transformer["Substation_ID"])
    for i, row in net.lines.iterrows():
        if int(row["phases"]) != 1:
            raise WorkbookError(
                f"sheet 'lv_lines' row {int(i) + 2} ({str(row['line_name']).strip()}): "
                f"{int(row['phases'])} phases under the single-phase transformer {tx} "
                f"(Conn_Type {net.transformer['Conn_Type']}); its LV network must be single-phase")
    for i, row in net.loads.iterrows():
        nodes = str(row["bus1"]).strip().split(".")[1:]
        if int(row["phases"]) != 1 or [n for n in nodes if n != "0"] not in ([], ["1"]):
            raise WorkbookError(
                f"sheet 'lv_loads' row {int(i) + 2} ({str(row['load_name']).strip()}): bus1 "
                f"{str(row['bus1']).strip()!r} with {int(row['phases'])} phase(s) under the "
                f"single-phase transformer {tx}; loads there are single-phase at node 1")


def find_busbars(n_transformers: int, buses: Sequence[str]) -> list[str]:
    """The LV busbar of each ``lvtx`` row: the ``lv_lines`` bus named ``mv_f<k>_lv<i>_busbar``
    for row ``i`` (any feeder number ``k``; ``mv_f0_lv<i>_busbar`` when no line names one, a
    transformer without customers).

    Raises
    ------
    WorkbookError
        If two buses claim the busbar of one row, naming the row and the buses.
    """
    found: dict[int, set[str]] = {}
    for bus in set(buses):
        m = _BUSBAR.match(bus)
        if m:
            found.setdefault(int(m.group(1)), set()).add(bus)
    out = []
    for i in range(n_transformers):
        names = sorted(found.get(i, {lv_busbar(i)}))
        if len(names) > 1:
            raise WorkbookError(f"sheet 'lv_lines': buses {', '.join(names)} are all the LV busbar "
                                f"of lvtx row {i + 2} (transformer {i}); expected one")
        out.append(names[0])
    extra = sorted(i for i in found if i >= n_transformers)
    if extra:
        raise WorkbookError(f"sheet 'lv_lines': bus {sorted(found[extra[0]])[0]} is the busbar of "
                            f"transformer {extra[0]}, but lvtx has {n_transformers} rows")
    return out


_BUSBAR = re.compile(r"^mv_f\d+_lv(\d+)_busbar$")


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
    _check_conn_type(lvtx)
    lines = enabled_rows(tables["lv_lines"])
    loads = tables["lv_loads"]
    bus1, bus2 = lines["bus1"].map(bare_bus), lines["bus2"].map(bare_bus)
    adjacency: dict[str, list[str]] = {}
    for a, b in zip(bus1, bus2):
        adjacency.setdefault(a, []).append(b)
        adjacency.setdefault(b, []).append(a)
    owner: dict[str, int] = {}
    busbars = find_busbars(len(lvtx), list(adjacency))
    for i in range(len(lvtx)):
        for bus in _reach(busbars[i], adjacency):
            if bus in owner:
                raise WorkbookError(
                    f"sheet 'lv_lines': bus '{bus}' connects the LV networks of "
                    f"lvtx rows {owner[bus]} and {i}")
            owner[bus] = i
    line_owner = bus1.map(owner)
    load_owner = loads["bus1"].map(bare_bus).map(owner)
    for sheet, table, col, own in (("lv_lines", lines, "line_name", line_owner),
                                   ("lv_loads", loads, "load_name", load_owner)):
        orphans = table.loc[own.isna(), col].astype(str).tolist()
        if orphans:
            raise WorkbookError(
                f"sheet '{sheet}': {len(orphans)} element(s) not connected to any "
                f"transformer busbar 'mv_f<k>_lv<i>_busbar', e.g. {', '.join(orphans[:3])}")
    nets = [
        LvNetwork(index=i, name=f"lv{i:02d}_{_safe(str(row['Substation_ID']))}",
                  transformer=row, lines=lines[line_owner == i],
                  loads=loads[load_owner == i], busbar=busbars[i])
        for i, row in lvtx.iterrows()
    ]
    for net in nets:
        _check_single_phase_lv(net)
    return nets


def _used_linecodes(tables: dict[str, pd.DataFrame], names: set[str]) -> list[str]:
    codes = tables["linecodes"]
    ids = codes["Linecode_ID"].map(ident)
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

def _write(folder: Path, files: dict[str, list[str]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, commands in files.items():
        (folder / name).write_text("\n".join(commands) + "\n")


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
        "transformers.dss": [transformer_command(net.name, tx, hv_bus,
                                                 net.busbar or lv_busbar(net.index))],
        "lines.dss": [lv_line_command(row) for _, row in net.lines.iterrows()],
        "loads.dss": [load_command(row) for _, row in net.loads.iterrows()],
    })
    master = folder / "master.dss"
    mv_kv = _primary_base_kv(tx)
    master.write_text(master_text(
        net.name, hv_bus, mv_kv,
        ["linecodes.dss", "transformers.dss", "lines.dss", "loads.dss"],
        [mv_kv, lv_base_kv]))
    return master


def _primary_base_kv(tx: pd.Series) -> float:
    """Line-line kV of the MV system at a distribution transformer's primary: ``kvs_primary``,
    or ``kvs_primary`` x sqrt(3) for a SWER (one-letter ``Conn_Type``) transformer, whose
    winding is phase to earth."""
    kv = float(tx["kvs_primary"])
    return kv * 3 ** 0.5 if len(conn_phases(tx)) == 1 else kv


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
    kvs = sorted({float(v) for v in set(mv["kvs_primary"]) | set(mv["kvs_secondary"])}
                 | {lv_base_kv}, reverse=True)
    # distribution transformers' systems, unless within 1 % of one already there (a 12.7 kV
    # SWER winding is the 22 kV system's phase-to-earth voltage)
    for _, r in tables["lvtx"].iterrows():
        kv = _primary_base_kv(r)
        if all(abs(kv - b) > 0.01 * b for b in kvs):
            kvs = sorted(kvs + [round(kv, 6)], reverse=True)
    return kvs


def _buscoords(tables: dict[str, pd.DataFrame]) -> list[str]:
    coords = tables.get("buscoords")
    if coords is None:
        return []
    return [f"{mv_bus(r['Node_ID'])}, {num(r['NodeStartX'])}, {num(r['NodeStartY'])}"
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
    mv_lines = mv_line_rows(tables)
    lv_lines = pd.concat([n.lines for n in nets])
    names = {f"lc_{ident(c)}-{int(p)}ph" for c, p in zip(mv_lines["Linecode"], mv_lines["Phases"])}
    names |= set(lv_lines["linecode"].astype(str).str.strip())
    transformers = [transformer_command(_safe(str(r["Substation_ID"])), r, source_bus,
                                        mv_bus(r["Bus2"])) for _, r in mvtx.iterrows()]
    transformers += [transformer_command(n.name, n.transformer, mv_bus(n.transformer["Bus1"]),
                                         n.busbar or lv_busbar(n.index)) for n in nets]
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
