"""Tests of oe_opt.io.importers.mvlv_xlsx on a small workbook and, if present, the seed."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from dss import DSS

from conftest import compile_and_solve as solve

from oe_opt.io.importers.mvlv_xlsx import (import_network, split_lv_networks, write_lv_network,
                                           write_lv_networks, write_mv_lv_network)
from oe_opt.io.importers.workbook import WorkbookError, read_workbook

SEED = Path(__file__).resolve().parents[2].parent / "shared/seed/mv-lv-networks/Network_3_Urban_HPK11.xlsx"

TX_COLUMNS = {
    "Connection_Primary": "delta", "Connection_Secondary": "wye", "kvs_primary": 22,
    "kvs_secondary": 0.433, "xhl": 3.78, "loadloss": 1.46875, "noloadloss": 0.13125,
    "wdg1_numtaps": 1, "wdg1_tap": 1, "wdg1_maxtap": 1, "wdg1_mintap": 1, "Conn_Type": "RWB",
}


# --------------------------------------------------------------------------
# A small workbook in the seed's format
# --------------------------------------------------------------------------

def _linecodes() -> pd.DataFrame:
    rows = [  # id, phases, r1, x1, b1, r0, x0, b0, amp1, amp2
        ("0-3ph", 3, 0.001, 0.001, 0.001, 0.001, 0.001, 0.001, 1000, 1000),
        ("2-3ph", 3, 0.211, 0.106, 70.086, 0.257, 0.801, 70.086, 315, 315),
        ("247-3ph", 3, 0.127, 0.072, 0.0001, 0.342, 0.089, 0.0001, 280, 34),
        ("248-3ph", 3, 0.564, 0.115, 45.22, 1.59, 1.446, 45.22, 186, 186),
        ("2-1ph", 1, 0.211, 0.106, 70.086, 0.257, 0.801, 70.086, 315, 315),
    ]
    df = pd.DataFrame(rows, columns=["Linecode_ID", "Phases", "r1", "x1", "b1", "r0", "x0",
                                     "b0", "Ampacity1", "Ampacity2"])
    df.insert(8, "Units", "km")
    return df.assign(Des_Volt="22kV", Material="a (Al)", Full_Name_Code="CDR017",
                     Size="T_185mm", Country="AU", Provider="AusNet")


def _mv_lines() -> pd.DataFrame:
    edges = [(1, 2, 2, 0.5), (2, 3, 2, 0.4), (2, 4, 0, 0.0001), (4, 5, 2, 0.3)]
    return pd.DataFrame({
        "Line_Number": range(len(edges)), "Start_Node": [e[0] for e in edges],
        "Start_Node_Phase": "1.2.3", "End_Node": [e[1] for e in edges],
        "End_Node_Phase": "1.2.3", "Phases": 3, "Length": [e[3] for e in edges],
        "Units": "km", "Linecode": [e[2] for e in edges], "Element_Name": "CDR017",
        "Element_ID": range(10, 10 + len(edges)),
    })


def _lv(index: int, feeders: int, per_feeder: int, three_phase_first: bool = False):
    """LV lines and loads named as in the seed (mv_f0_lv<i>_f<f>_...)."""
    lines, loads = [], []
    for f in range(feeders):
        prev = f"mv_f0_lv{index}_busbar"
        for k in range(per_feeder):
            p = f"mv_f0_lv{index}_f{f}_"
            lines.append((f"{p}l{k}", prev, f"{p}n{k}", 18.63, "lc_247-3ph"))
            lines.append((f"{p}l{k}_ls", f"{p}n{k}", f"{p}c{k}", 10.0, "lc_248-3ph"))
            three = three_phase_first and f == 0 and k == 0
            loads.append((f"{p}c{k}", 3 if three else 1,
                          f"{p}c{k}" + (".1.2.3" if three else f".{(k + f) % 3 + 1}"),
                          0.4 if three else 0.23))
            prev = f"{p}n{k}"
    lines_df = pd.DataFrame(lines, columns=["line_name", "bus1", "bus2", "length", "linecode"])
    lines_df.insert(3, "phases", 3)
    lines_df.insert(5, "units", "m")
    lines_df["enabled"] = np.nan
    loads_df = pd.DataFrame(loads, columns=["load_name", "phases", "bus1", "kv"])
    loads_df.insert(3, "pf", 0.95)
    return lines_df, loads_df.assign(model="variable", tx_cap=300)


def small_tables() -> dict[str, pd.DataFrame]:
    """Two transformers (3 and 4 customers, one of them 3-phase) on a 4-line MV feeder."""
    lv0, ld0 = _lv(0, feeders=1, per_feeder=3)
    lv1, ld1 = _lv(1, feeders=2, per_feeder=2, three_phase_first=True)
    lvtx = pd.DataFrame({"Element_ID": [20, 21], "Substation_ID": ["ALPHA_ST", "BETA RD"],
                         "Bus1": [3, 5], "Bus2": 0, **TX_COLUMNS,
                         "kvas_primary": [300, 500], "kvas_secondary": [300, 500]})
    lvtx = lvtx.assign(Type=["RES", "RES"], Customers=[3, 4], PVs=0, Feeders=[1, 2])
    mvtx = pd.DataFrame({"Element_ID": [1], "Substation_ID": ["ZS1"], "Bus1": ["SourceBus"],
                         "Bus2": [1], **TX_COLUMNS, "kvs_primary": 66, "kvs_secondary": 22,
                         "kvas_primary": 100000, "kvas_secondary": 100000, "xhl": 0.0001})
    coords = pd.DataFrame({"Node_ID": [1, 2, 3, 4, 5], "NodeStartX": [0.0, 10, 20, 10, 10],
                           "NodeStartY": [0.0, 0, 0, 10, 20]})
    return {"buscoords": coords, "lines": _mv_lines(), "lvtx": lvtx, "mv_net_txs": mvtx,
            "linecodes": _linecodes(), "lv_lines": pd.concat([lv0, lv1], ignore_index=True),
            "lv_loads": pd.concat([ld0, ld1], ignore_index=True)}


def write_xlsx(tables: dict[str, pd.DataFrame], path: Path) -> Path:
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        for name, df in tables.items():
            df.to_excel(writer, sheet_name=name, index=False)
    return path


@pytest.fixture(scope="module")
def small_xlsx(tmp_path_factory) -> Path:
    return write_xlsx(small_tables(), tmp_path_factory.mktemp("wb") / "Network_Small.xlsx")


# --------------------------------------------------------------------------
# OpenDSS helpers
# --------------------------------------------------------------------------

def node_voltages_pu(circuit) -> dict[str, float]:
    return dict(zip((n.lower() for n in circuit.AllNodeNames), circuit.AllBusVmagPu))


def load_voltages_pu(circuit) -> dict[str, list[float]]:
    """Per-unit voltage at each load's connected nodes."""
    volts = node_voltages_pu(circuit)
    out = {}
    for name in circuit.Loads.AllNames:
        circuit.SetActiveElement(f"Load.{name}")
        bus, *nodes = circuit.ActiveCktElement.BusNames[0].lower().split(".")
        out[name] = [volts[f"{bus}.{n}"] for n in (nodes or ["1", "2", "3"]) if n != "0"]
    return out


def check_network(master: Path, n_loads: int, lo: float = 0.9, hi: float = 1.1) -> None:
    circuit = solve(master)
    assert circuit.Loads.Count == n_loads
    # Connectivity: no bus is isolated (an isolated bus solves to 0 V).
    assert min(circuit.AllBusVmagPu) > 0.5
    voltages = [v for vs in load_voltages_pu(circuit).values() for v in vs]
    assert len(voltages) >= n_loads
    assert lo <= min(voltages) and max(voltages) <= hi, (min(voltages), max(voltages))


# --------------------------------------------------------------------------
# Small workbook
# --------------------------------------------------------------------------

def test_read_workbook_returns_all_sheets(small_xlsx):
    tables = read_workbook(small_xlsx)
    assert {"lines", "linecodes", "lvtx", "mv_net_txs", "lv_lines", "lv_loads"} <= set(tables)
    assert len(tables["lv_loads"]) == 7


def test_split_assigns_lines_and_loads_to_transformers():
    nets = split_lv_networks(small_tables())
    assert [n.name for n in nets] == ["lv00_alpha_st", "lv01_beta_rd"]
    assert [len(n.loads) for n in nets] == [3, 4]
    assert [len(n.lines) for n in nets] == [6, 8]


def test_lv_networks_compile_solve_and_have_sensible_voltages(small_xlsx, tmp_path):
    masters = import_network(small_xlsx, tmp_path, which="lv")
    assert [m.parent.name for m in masters] == ["lv00_alpha_st", "lv01_beta_rd"]
    assert all(m.parent.parent == tmp_path / "network_small" for m in masters)
    for master, n_loads in zip(masters, (3, 4)):
        check_network(master, n_loads)
    text = masters[0].read_text()
    assert "bus1=mv_f0_n3 basekv=22 pu=1.0" in text
    assert "Set VoltageBases=[22, 0.4]" in text and "CalcVoltageBases" in text
    circuit = solve(masters[1])
    assert {n.lower() for n in circuit.Loads.AllNames} == {
        "mv_f0_lv1_f0_c0", "mv_f0_lv1_f0_c1", "mv_f0_lv1_f1_c0", "mv_f0_lv1_f1_c1"}
    circuit.Loads.Name = "mv_f0_lv1_f0_c1"
    assert (circuit.Loads.kV, circuit.Loads.kW, circuit.Loads.Model) == (0.23, 1.0, 1)
    assert circuit.Transformers.Count == 1


def test_mv_lv_network_compiles_and_solves(small_xlsx, tmp_path):
    (master,) = import_network(small_xlsx, tmp_path, which="mvlv")
    assert master == tmp_path / "network_small" / "mvlv" / "master.dss"
    check_network(master, 7)
    circuit = DSS.ActiveCircuit
    assert circuit.Transformers.Count == 3
    assert circuit.Lines.Count == 4 + 14
    assert "Set VoltageBases=[66, 22, 0.4]" in master.read_text()


def test_deleted_mv_line_is_dropped(tmp_path):
    tables = small_tables()
    tables["lines"].loc[3, "Element_Name"] = "delete"  # cuts off node 5 and BETA RD
    tables["lines"].loc[len(tables["lines"])] = tables["lines"].loc[2].to_dict() | {
        "Line_Number": 9, "Start_Node": 3, "End_Node": 5, "Element_Name": "CDR017"}
    master = write_mv_lv_network(tables, tmp_path)
    assert "mv_f0_l3 " not in (tmp_path / "mv_lines.dss").read_text()
    check_network(master, 7)


# --------------------------------------------------------------------------
# Single-phase distribution transformers: two MV phases, and SWER
# --------------------------------------------------------------------------

def rural_tables() -> dict[str, pd.DataFrame]:
    """The small workbook with ALPHA ST single-phase between MV phases R and W, and a third
    transformer GAMMA (SWER, phase B to earth, 12.7 kV) at node 6 at the end of a single-phase
    (SWER) MV line from node 3; both LV networks single-phase."""
    t = small_tables()
    lc = t["linecodes"]
    one = lc[lc.Linecode_ID.isin(["247-3ph", "248-3ph"])].assign(
        Linecode_ID=lambda d: d.Linecode_ID.str.replace("3ph", "1ph"), Phases=1)
    t["linecodes"] = pd.concat([lc, one], ignore_index=True)
    lvtx = t["lvtx"]
    lvtx.loc[0, ["Conn_Type", "kvs_secondary"]] = ["RW", 0.25]
    swer = lvtx.loc[[0]].assign(Element_ID=22, Substation_ID="GAMMA", Bus1=6, Conn_Type="B",
                                kvs_primary=12.7, kvs_secondary=0.433, kvas_primary=25,
                                kvas_secondary=25)
    t["lvtx"] = pd.concat([lvtx, swer], ignore_index=True)
    lv2, ld2 = _lv(2, feeders=1, per_feeder=2)
    lines = pd.concat([t["lv_lines"], lv2], ignore_index=True)
    loads = pd.concat([t["lv_loads"], ld2], ignore_index=True)
    single = lines.line_name.str.startswith(("mv_f0_lv0_", "mv_f0_lv2_"))
    lines.loc[single, "phases"] = 1
    lines.loc[single, "linecode"] = lines.loc[single, "linecode"].str.replace("3ph", "1ph")
    on = loads.load_name.str.startswith(("mv_f0_lv0_", "mv_f0_lv2_"))
    loads.loc[on, "bus1"] = loads.loc[on, "load_name"] + ".1"
    t["lv_lines"], t["lv_loads"] = lines, loads
    mv = t["lines"]
    t["lines"] = pd.concat([mv, pd.DataFrame([{
        "Line_Number": 7, "Start_Node": 3, "Start_Node_Phase": "3", "End_Node": 6,
        "End_Node_Phase": "3", "Phases": 1, "Length": 2.0, "Units": "km", "Linecode": 2,
        "Element_Name": "SWER", "Element_ID": 17}])], ignore_index=True)
    t["buscoords"].loc[len(t["buscoords"])] = [6, 30.0, 0.0]
    return t


def transformer_buses(circuit, name: str) -> tuple[int, list[str]]:
    circuit.SetActiveElement(f"Transformer.{name}")
    el = circuit.ActiveCktElement
    return el.NumPhases, [b.lower() for b in el.BusNames]


def test_two_phase_and_swer_transformers_are_modelled(tmp_path):
    path = write_xlsx(rural_tables(), tmp_path / "Network_Rural.xlsx")
    (master,) = import_network(path, tmp_path, which="mvlv")
    check_network(master, 9)
    circuit = DSS.ActiveCircuit
    assert transformer_buses(circuit, "lv00_alpha_st") == (1, ["mv_f0_n3.1.2", "mv_f0_lv0_busbar.1.0"])
    assert transformer_buses(circuit, "lv02_gamma") == (1, ["mv_f0_n6.3.0", "mv_f0_lv2_busbar.1.0"])
    # the SWER line carries the GAMMA customers' power on phase B only, returning through earth
    circuit.SetActiveElement("Line.mv_f0_l7")
    assert circuit.ActiveCktElement.NumPhases == 1
    p_line = -sum(circuit.ActiveCktElement.Powers[2::2][:1])      # kW into node 6
    assert p_line == pytest.approx(2.0, rel=0.05)                  # two 1 kW customers + losses
    # winding voltages: 22 kV across R-W; 12.7 kV phase to earth; 0.433 kV line-line -> 0.25 kV
    circuit.Transformers.Name = "lv02_gamma"
    circuit.Transformers.Wdg = 1
    assert circuit.Transformers.kV == pytest.approx(12.7)
    circuit.Transformers.Wdg = 2
    assert circuit.Transformers.kV == pytest.approx(0.433 / 3 ** 0.5)
    circuit.SetActiveBus("mv_f0_lv2_busbar")
    assert circuit.ActiveBus.kVBase == pytest.approx(0.4 / 3 ** 0.5)
    assert "Set VoltageBases=[66, 22, 0.4]" in master.read_text()   # 12.7 kV SWER = 22 kV system
    # each LV network on its own too
    for lv, n in zip(import_network(path, tmp_path / "lv", which="lv"), (3, 4, 2)):
        check_network(lv, n)


@pytest.mark.parametrize("edit, message", [
    (lambda t: t["lvtx"].__setitem__("Conn_Type", ["RX", "RWB", "B"]),
     r"sheet 'lvtx' row 2 \(ALPHA_ST\): Conn_Type 'RX' is not 1-3 distinct phase letters"),
    (lambda t: t["lvtx"].__setitem__("Conn_Type", ["RR", "RWB", "B"]), r"Conn_Type 'RR'"),
    (lambda t: t["lv_lines"].loc.__setitem__((0, "phases"), 3),
     r"sheet 'lv_lines' row 2 \(mv_f0_lv0_f0_l0\): 3 phases under the single-phase transformer "
     r"ALPHA_ST"),
    (lambda t: t["lv_loads"].loc.__setitem__((8, "bus1"), "mv_f0_lv2_f0_c1.2"),
     r"sheet 'lv_loads' row 10 \(mv_f0_lv2_f0_c1\): bus1 'mv_f0_lv2_f0_c1.2' with 1 phase\(s\) "
     r"under the single-phase transformer GAMMA"),
])
def test_single_phase_transformer_errors_name_sheet_and_row(tmp_path, edit, message):
    t = rural_tables()
    edit(t)
    with pytest.raises(WorkbookError, match=message):
        write_lv_networks(t, tmp_path)


# --------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------

def test_missing_file_is_named(tmp_path):
    missing = tmp_path / "nope.xlsx"
    with pytest.raises(FileNotFoundError, match="nope.xlsx"):
        read_workbook(missing)


def test_missing_sheet_is_named(tmp_path):
    tables = small_tables()
    del tables["lv_loads"]
    path = write_xlsx(tables, tmp_path / "no_loads.xlsx")
    with pytest.raises(ValueError, match=r"no_loads\.xlsx.*missing sheet 'lv_loads'"):
        read_workbook(path)


def test_missing_column_is_named(tmp_path):
    tables = small_tables()
    tables["lvtx"] = tables["lvtx"].drop(columns=["xhl"])
    path = write_xlsx(tables, tmp_path / "no_xhl.xlsx")
    with pytest.raises(ValueError, match=r"sheet 'lvtx' is missing column\(s\) 'xhl'"):
        read_workbook(path)


def test_unknown_linecode_is_named(tmp_path):
    tables = small_tables()
    tables["lv_lines"].loc[0, "linecode"] = "lc_999-3ph"
    with pytest.raises(WorkbookError, match="lc_999-3ph"):
        write_lv_networks(tables, tmp_path)


def test_orphan_load_is_reported(tmp_path):
    tables = small_tables()
    tables["lv_loads"].loc[0, "bus1"] = "nowhere.1"
    with pytest.raises(WorkbookError, match="lv_loads.*mv_f0_lv0_f0_c0"):
        write_lv_networks(tables, tmp_path)


def test_bad_which_is_rejected(small_xlsx, tmp_path):
    with pytest.raises(ValueError, match="which"):
        import_network(small_xlsx, tmp_path, which="mv")


# --------------------------------------------------------------------------
# The real seed workbook (skipped if absent)
# --------------------------------------------------------------------------

@pytest.mark.skipif(not SEED.is_file(), reason=f"seed workbook not found at {SEED}")
def test_seed_workbook_lv_networks(tmp_path):
    tables = read_workbook(SEED)
    nets = split_lv_networks(tables)
    assert len(nets) == 44
    assert sum(len(n.loads) for n in nets) == 5275
    for net in random.Random(11).sample(nets, 3):
        master = write_lv_network(tables, net, tmp_path)
        check_network(master, len(net.loads))


def test_busbars_of_another_feeder_number_are_found(tmp_path):
    t = small_tables()
    for sheet, cols in (("lv_lines", ["bus1", "bus2", "line_name"]), ("lv_loads", ["bus1", "load_name"])):
        for c in cols:
            t[sheet][c] = t[sheet][c].str.replace("mv_f0_", "mv_f3_")
    nets = split_lv_networks(t)
    assert [n.busbar for n in nets] == ["mv_f3_lv0_busbar", "mv_f3_lv1_busbar"]
    master = write_mv_lv_network(t, tmp_path)
    check_network(master, 7)
    extra = t["lv_lines"].iloc[[0]].assign(line_name="x", bus1="mv_f4_lv0_busbar")
    t["lv_lines"] = pd.concat([t["lv_lines"], extra], ignore_index=True)  # a second busbar
    with pytest.raises(WorkbookError, match=r"buses mv_f3_lv0_busbar, mv_f4_lv0_busbar are all the "
                                            r"LV busbar of lvtx row 2"):
        split_lv_networks(t)
