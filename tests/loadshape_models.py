"""A small LV feeder driven by its own 5-minute OpenDSS loadshapes, for tests of network-loadshape
studies (imported by tests of several rooms)."""

from __future__ import annotations

import math

import numpy as np

from conftest import dump_toml

N5 = 288  # five-minute points in a day


def mult_text(values) -> str:
    return "[" + " ".join(f"{v:.6f}" for v in values) + "]"


def shapes(n: int = N5):
    t = np.arange(n) / n  # fraction of the day at the end of each point
    house = 0.6 + 0.4 * np.sin(2 * math.pi * (t - 0.3)) ** 2
    evening = 0.3 + 0.7 * np.exp(-((t - 0.8) / 0.08) ** 2)
    solar = np.clip(np.sin(math.pi * (t - 0.25) / 0.5), 0, None) * ((t > 0.25) & (t < 0.75))
    return house, evening, solar


def write_model(folder, n: int = N5, minutes: float = 5.0, extra: str = "") -> object:
    """A small LV feeder whose loads and PV system follow daily loadshapes of `n` points."""
    house, evening, solar = shapes(n)
    folder.mkdir(parents=True, exist_ok=True)
    lines = [
        "Clear",
        "Set DefaultBaseFrequency=50",
        "New Circuit.ls basekv=11 pu=1.0 phases=3 bus1=src",
        "New Transformer.tx phases=3 windings=2 buses=[src, lv] conns=[delta, wye] "
        "kvs=[11, 0.415] kvas=[100, 100] xhl=4 %loadloss=1",
        "New Linecode.lc nphases=3 r1=0.25 x1=0.08 r0=0.6 x0=0.1 units=km normamps=250",
        "New Linecode.svc nphases=1 r1=1.15 x1=0.08 r0=1.15 x0=0.08 units=km normamps=100",
        "New Line.l1 bus1=lv bus2=p1 linecode=lc length=0.15 units=km",
        "New Line.l2 bus1=p1 bus2=p2 linecode=lc length=0.15 units=km",
        f"New Loadshape.house npts={n} minterval={minutes:g} mult={mult_text(house)}",
        f"New Loadshape.evening npts={n} minterval={minutes:g} mult={mult_text(evening)} "
        f"qmult={mult_text(0.5 * evening)}",
        f"New Loadshape.solar npts={n} sinterval={minutes * 60:g} mult={mult_text(solar)}",
    ]
    loads = [("h1", "p1.1", "kw=3 pf=0.95 daily=house"),
             ("h2", "p1.2", "kw=2 kvar=0.8 daily=evening"),
             ("h3", "p2.3", "kw=4 pf=0.9 daily=house status=fixed"),
             ("h4", "p2.1", "kw=2.5 pf=1 daily=evening"),
             ("f1", "p2.2", "kw=0 pf=1"),
             ("f2", "p2.3", "kw=0 pf=1")]
    for name, bus, spec in loads:
        lines.append(f"New Line.svc_{name} bus1={bus} bus2=c_{name}.{bus[-1]} phases=1 "
                     f"linecode=svc length=0.02 units=km")
        lines.append(f"New Load.{name} bus1=c_{name}.{bus[-1]} phases=1 kv=0.24 model=1 {spec}")
    lines += ["New PVSystem.pv_roof bus1=c_h2.2 phases=1 kv=0.24 kva=6 pmpp=6 irradiance=0.9 "
              "daily=solar pf=1 %cutin=0.05 %cutout=0.05",
              extra,
              "Set VoltageBases=[11, 0.415]",
              "CalcVoltageBases"]
    master = folder / "master.dss"
    master.write_text("\n".join(lines) + "\n")
    return master


def write_network_study(folder, master, **network) -> object:
    data = {
        "study": {"name": "loadshapes"},
        "network": {"master": str(master), **network},
        "profiles": {"source": "network"},
        "customers": {"flexible": ["f1", "f2"]},
        "limits": {"v_min_v": 216.0, "v_max_v": 253.0},
        "envelope": {"export_max_kw": 10.0, "import_max_kw": 14.0, "step_kw": 1.0,
                     "method": "bisect"},
    }
    path = folder / "study.toml"
    path.write_text(dump_toml(data))
    return path
