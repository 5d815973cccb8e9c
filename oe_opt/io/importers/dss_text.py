"""OpenDSS command text for the elements of an MV-LV workbook.

Pure functions from one workbook row (a :class:`pandas.Series`, see
:mod:`oe_opt.io.importers.workbook`) to one OpenDSS ``New ...`` command, the bus
names of the imported networks, and the text of a ``master.dss``.

Bus names are made by :func:`mv_bus` (MV nodes) and :func:`lv_busbar` (the
LV busbar of a distribution transformer); LV buses and loads keep their
workbook names.  Numbers are written with 10 significant digits (:func:`num`).
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

SOURCE_MVASC = 10_000.0
"""Short-circuit level of the stiff source, MVA (3-phase and 1-phase)."""
LOAD_VMIN_PU = 0.85
LOAD_VMAX_PU = 1.20
FREQUENCY_HZ = 50


# --------------------------------------------------------------------------
# Names and numbers
# --------------------------------------------------------------------------

def num(value: object) -> str:
    """Format a number for OpenDSS (10 significant digits, no trailing .0)."""
    return format(float(value), ".10g")


def ident(value: object) -> str:
    """Format an id read from Excel (``8.0`` becomes ``"8"``)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def bare_bus(bus: str) -> str:
    """Bus name without its node suffix (``"b.1.2"`` becomes ``"b"``)."""
    return str(bus).split(".", 1)[0].strip().lower()


def mv_bus(node: object) -> str:
    """OpenDSS bus name of MV node ``node``."""
    return f"mv_f0_n{ident(node)}".lower()


def lv_busbar(index: int) -> str:
    """OpenDSS bus name of the LV busbar of the transformer in ``lvtx`` row ``index``."""
    return f"mv_f0_lv{index}_busbar"


def _nodes(phases: int) -> str:
    return "." + ".".join(str(p) for p in range(1, int(phases) + 1))


# --------------------------------------------------------------------------
# OpenDSS commands
# --------------------------------------------------------------------------

def linecode_command(row: pd.Series) -> str:
    """``New LineCode`` for a ``linecodes`` row (named ``lc_<Linecode_ID>``).

    ``normamps`` is ``Ampacity1``; ``emergamps`` the larger of both ratings.
    """
    norm = float(row["Ampacity1"])
    emerg = max(norm, float(row["Ampacity2"])) if pd.notna(row["Ampacity2"]) else norm
    return (f"New LineCode.lc_{ident(row['Linecode_ID'])} nphases={int(row['Phases'])} "
            f"r1={num(row['r1'])} x1={num(row['x1'])} r0={num(row['r0'])} "
            f"x0={num(row['x0'])} b1={num(row['b1'])} b0={num(row['b0'])} "
            f"units={str(row['Units']).strip()} normamps={num(norm)} emergamps={num(emerg)}")


#: MV phase (OpenDSS node) of each ``Conn_Type`` letter (red, white, blue)
PHASE_NODES = {"R": 1, "W": 2, "B": 3}
#: a single-phase transformer's ``kvs_secondary`` above this (kV) is a line-line value
LV_PHASE_KV_MAX = 0.3


def conn_phases(row: pd.Series) -> list[int]:
    """MV phases (nodes 1-3) of a transformer row from its ``Conn_Type`` letters (all three when
    the sheet has no ``Conn_Type``, as ``mv_net_txs``)."""
    if "Conn_Type" not in row.index or pd.isna(row["Conn_Type"]):
        return [1, 2, 3]
    return [PHASE_NODES[c] for c in str(row["Conn_Type"]).strip().upper()]


def single_phase_kvs(row: pd.Series) -> tuple[float, float]:
    """Winding voltages (kV) of a single-phase transformer row (``Conn_Type`` of one or two
    letters): the primary as given (across two MV phases, or phase to earth for SWER); the
    secondary as given when at most :data:`LV_PHASE_KV_MAX` kV (phase-neutral, e.g. 0.25),
    else a line-line value divided by sqrt(3) (0.433 kV gives 0.25 kV)."""
    kv_s = float(row["kvs_secondary"])
    return float(row["kvs_primary"]), kv_s if kv_s <= LV_PHASE_KV_MAX else kv_s / 3 ** 0.5


def transformer_command(name: str, row: pd.Series, hv_bus: str, lv_bus: str) -> str:
    """``New Transformer`` for an ``lvtx``/``mv_net_txs`` row: 3-phase, 2 windings; or, for a
    ``Conn_Type`` of two letters, a single-phase transformer between those two MV phases; of one
    letter, a SWER distribution transformer from that MV phase to earth (both with a
    single-phase LV winding to node 1 of `lv_bus`, see :func:`single_phase_kvs`)."""
    phases = conn_phases(row)
    if len(phases) < 3:
        kv_p, kv_s = single_phase_kvs(row)
        hv = f"{hv_bus}.{'.'.join(map(str, phases))}" + (".0" if len(phases) == 1 else "")
        return (f"New Transformer.{name} phases=1 windings=2 buses=[{hv} {lv_bus}.1.0] "
                f"conns=[wye wye] kVs=[{num(kv_p)} {num(kv_s)}] "
                f"kVAs=[{num(row['kvas_primary'])} {num(row['kvas_secondary'])}] "
                f"XHL={num(row['xhl'])} %loadloss={num(row['loadloss'])} "
                f"%noloadloss={num(row['noloadloss'])} wdg=1 "
                f"numtaps={int(row['wdg1_numtaps'])} maxtap={num(row['wdg1_maxtap'])} "
                f"mintap={num(row['wdg1_mintap'])} tap={num(row['wdg1_tap'])}")
    return (f"New Transformer.{name} phases=3 windings=2 buses=[{hv_bus} {lv_bus}] "
            f"conns=[{row['Connection_Primary']} {row['Connection_Secondary']}] "
            f"kVs=[{num(row['kvs_primary'])} {num(row['kvs_secondary'])}] "
            f"kVAs=[{num(row['kvas_primary'])} {num(row['kvas_secondary'])}] "
            f"XHL={num(row['xhl'])} %loadloss={num(row['loadloss'])} "
            f"%noloadloss={num(row['noloadloss'])} wdg=1 "
            f"numtaps={int(row['wdg1_numtaps'])} maxtap={num(row['wdg1_maxtap'])} "
            f"mintap={num(row['wdg1_mintap'])} tap={num(row['wdg1_tap'])}")


def lv_line_command(row: pd.Series) -> str:
    """``New Line`` for an ``lv_lines`` row (nodes 1..phases at both ends)."""
    nodes = _nodes(row["phases"])
    return (f"New Line.{str(row['line_name']).strip()} bus1={bare_bus(row['bus1'])}{nodes} "
            f"bus2={bare_bus(row['bus2'])}{nodes} phases={int(row['phases'])} "
            f"linecode={str(row['linecode']).strip()} length={num(row['length'])} "
            f"units={str(row['units']).strip()}")


def mv_line_command(row: pd.Series) -> str:
    """``New Line`` (named ``mv_f0_l<Line_Number>``) for a ``lines`` row."""
    phases = int(row["Phases"])
    return (f"New Line.mv_f0_l{ident(row['Line_Number'])} "
            f"bus1={mv_bus(row['Start_Node'])}.{ident(row['Start_Node_Phase'])} "
            f"bus2={mv_bus(row['End_Node'])}.{ident(row['End_Node_Phase'])} "
            f"phases={phases} linecode=lc_{ident(row['Linecode'])}-{phases}ph "
            f"length={num(row['Length'])} units={str(row['Units']).strip()}")


def load_command(row: pd.Series, kw: float = 1.0) -> str:
    """``New Load`` (wye, constant power, ``kw`` kW) for an ``lv_loads`` row."""
    return (f"New Load.{str(row['load_name']).strip()} bus1={str(row['bus1']).strip()} "
            f"phases={int(row['phases'])} conn=wye kV={num(row['kv'])} kW={num(kw)} "
            f"pf={num(row['pf'])} model=1 vminpu={LOAD_VMIN_PU} vmaxpu={LOAD_VMAX_PU} "
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
    bases = ", ".join(num(v) for v in voltage_bases_kv)
    lines = [
        "! Generated by oe_opt.io.importers.mvlv_xlsx; regenerate rather than edit.",
        f"! Source: stiff {num(source_kv)} kV, 1.0 pu Thevenin source "
        f"({num(SOURCE_MVASC)} MVA short-circuit level).",
        "Clear",
        f"Set DefaultBaseFrequency={FREQUENCY_HZ}",
        f"New Circuit.{circuit} bus1={source_bus} basekv={num(source_kv)} pu=1.0 "
        f"angle=0 frequency={FREQUENCY_HZ} phases=3 "
        f"MVAsc3={num(SOURCE_MVASC)} MVAsc1={num(SOURCE_MVASC)}",
        *(f"Redirect {name}" for name in redirects),
        f"Set VoltageBases=[{bases}]",
        "CalcVoltageBases",
        *extra,
    ]
    return "\n".join(lines) + "\n"
