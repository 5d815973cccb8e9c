"""Synthetic Australian-style LV feeders for tests and benchmarks.

:func:`write_synthetic_feeder` writes an OpenDSS network of ``N`` single-phase
customers (30 to 2,000) supplied by one 22/0.433 kV Dyn transformer, with
radial 3-phase backbones, laterals and 1-phase service lines.  The same
``(N, seed)`` always gives byte-identical files.

Run as ``python -m oe_opt.io.importers.synthetic --customers N --out DIR --seed S``.
"""

from __future__ import annotations

import argparse
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

MIN_CUSTOMERS, MAX_CUSTOMERS = 30, 2000
KVA_PER_CUSTOMER = 4.0
"""After-diversity demand used to size the transformer, kVA per customer."""
TX_SIZES_KVA = (100, 200, 315, 500, 630, 800, 1000, 1500, 2000)
CUSTOMERS_PER_FEEDER = 80
"""Customers per LV feeder (radial backbone) leaving the LV busbar."""
HV_TAP_PU = 1.05
"""HV-winding tap: the 0.433 kV winding idles at 0.433/1.05 kV (1.031 pu of 0.4 kV)."""
SOURCE_MVASC = 10_000.0
"""Short-circuit level of the stiff 22 kV source, MVA."""
SPAN_M = (25.0, 40.0)
SERVICE_M = (10.0, 30.0)
CUSTOMERS_PER_POLE = (2, 4)
LATERAL_EVERY = 4
"""Every 4th backbone pole starts a lateral."""
LATERAL_POLES = (2, 4)

# name: (nphases, r1, x1, r0, x0 in ohm/km, normamps in A)
LINECODES: dict[str, tuple[int, float, float, float, float, float]] = {
    "4c_240sq": (3, 0.127, 0.072, 0.342, 0.089, 325),
    "4c_185sq": (3, 0.164, 0.074, 0.443, 0.091, 280),
    "4c_95sq": (3, 0.320, 0.075, 0.864, 0.094, 195),
    "4c_16sq": (1, 1.150, 0.083, 1.200, 0.083, 100),
}
# kVA: (XHL %, load loss %, no-load loss %)
TX_IMPEDANCE: dict[int, tuple[float, float, float]] = {
    100: (4.0, 1.7, 0.20), 200: (4.0, 1.5, 0.15), 315: (4.0, 1.35, 0.13),
    500: (4.0, 1.2, 0.12), 630: (4.5, 1.1, 0.11), 800: (5.0, 1.05, 0.10),
    1000: (5.0, 1.0, 0.10), 1500: (6.0, 0.95, 0.09), 2000: (6.0, 0.9, 0.08),
}


@dataclass
class _Feeder:
    """OpenDSS commands of the lines, service lines and loads being built."""

    lines: list[str] = field(default_factory=list)
    services: list[str] = field(default_factory=list)
    loads: list[str] = field(default_factory=list)


def transformer_kva(n_customers: int) -> int:
    """Smallest standard size covering ``KVA_PER_CUSTOMER`` kVA per customer.

    Parameters
    ----------
    n_customers : int
        Number of customers.

    Returns
    -------
    int
        Rating in kVA, capped at the largest standard size (2,000 kVA).
    """
    need = KVA_PER_CUSTOMER * n_customers
    return next((s for s in TX_SIZES_KVA if s >= need), TX_SIZES_KVA[-1])


def split_evenly(total: int, parts: int) -> list[int]:
    """Split ``total`` into ``parts`` integers differing by at most one."""
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def phase_sequence(n_customers: int, rng: random.Random) -> list[int]:
    """Phases 1, 2, 3 in rotation, each block of three randomly permuted.

    Counts per phase differ by at most one.
    """
    phases: list[int] = []
    while len(phases) < n_customers:
        block = [1, 2, 3]
        rng.shuffle(block)
        phases += block
    return phases[:n_customers]


def _line(name: str, bus1: str, bus2: str, code: str, length_m: float) -> str:
    return (f"New Line.{name} bus1={bus1}.1.2.3 bus2={bus2}.1.2.3 phases=3 "
            f"linecode={code} length={length_m:.1f} units=m")


def _customer(feeder: _Feeder, pole: str, index: int, phase: int, rng: random.Random) -> None:
    """Add customer ``index``: service line from ``pole`` phase ``phase`` and its load."""
    bus = f"c_{index}"
    feeder.services.append(
        f"New Line.svc_{index} bus1={pole}.{phase} bus2={bus}.{phase} phases=1 "
        f"linecode=4c_16sq length={rng.uniform(*SERVICE_M):.1f} units=m")
    feeder.loads.append(
        f"New Load.load_{index} bus1={bus}.{phase} phases=1 conn=wye kV=0.23 kW=1 "
        "pf=1 model=1 vminpu=0.85 vmaxpu=1.2 status=variable")


def _build_feeder(feeder: _Feeder, f: int, customers: Sequence[int], phases: dict[int, int],
                  rng: random.Random) -> None:
    """Backbone poles from the busbar, laterals every ``LATERAL_EVERY`` poles.

    The backbone is 4c_240sq while more than half of the feeder's customers
    are downstream, then 4c_185sq; laterals are 4c_95sq.
    """
    queue = list(customers)
    prev, k = "lv_busbar", 0

    def serve(pole: str) -> None:
        for _ in range(rng.randint(*CUSTOMERS_PER_POLE)):
            if queue:
                i = queue.pop(0)
                _customer(feeder, pole, i, phases[i], rng)

    while queue:
        pole = f"f{f}_b{k}"
        code = "4c_240sq" if 2 * len(queue) > len(customers) else "4c_185sq"
        feeder.lines.append(_line(f"f{f}_s{k}", prev, pole, code, rng.uniform(*SPAN_M)))
        serve(pole)
        if k % LATERAL_EVERY == LATERAL_EVERY - 1:
            lat_prev = pole
            for j in range(rng.randint(*LATERAL_POLES)):
                if not queue:
                    break
                lat = f"{pole}_l{j}"
                feeder.lines.append(_line(f"f{f}_s{k}_l{j}", lat_prev, lat, "4c_95sq",
                                          rng.uniform(*SPAN_M)))
                serve(lat)
                lat_prev = lat
        prev, k = pole, k + 1


def _master(name: str, n_customers: int, kva: int, n_feeders: int) -> list[str]:
    return [
        f"! Synthetic LV feeder: {n_customers} single-phase customers, {n_feeders} feeder(s),",
        f"! one {kva} kVA 22/0.433 kV Dyn transformer (HV tap {HV_TAP_PU}).",
        "! Generated by oe_opt.io.importers.synthetic; regenerate rather than edit.",
        "Clear",
        "Set DefaultBaseFrequency=50",
        f"New Circuit.{name} bus1=sourcebus basekv=22 pu=1.0 angle=0 frequency=50 phases=3 "
        f"MVAsc3={SOURCE_MVASC:g} MVAsc1={SOURCE_MVASC:g}",
        "Redirect linecodes.dss",
        "Redirect transformer.dss",
        "Redirect lines.dss",
        "Redirect services.dss",
        "Redirect loads.dss",
        "Set VoltageBases=[22, 0.4]",
        "CalcVoltageBases",
    ]


def _linecodes() -> list[str]:
    return [f"New LineCode.{name} nphases={n} r1={r1} x1={x1} r0={r0} x0={x0} "
            f"units=km normamps={amps}"
            for name, (n, r1, x1, r0, x0, amps) in LINECODES.items()]


def _transformer(kva: int) -> list[str]:
    xhl, load_loss, no_load_loss = TX_IMPEDANCE[kva]
    return [f"New Transformer.tx phases=3 windings=2 buses=[sourcebus lv_busbar] "
            f"conns=[delta wye] kVs=[22 0.433] kVAs=[{kva} {kva}] XHL={xhl} "
            f"%loadloss={load_loss} %noloadloss={no_load_loss} wdg=1 tap={HV_TAP_PU}"]


def write_synthetic_feeder(n_customers: int, out_dir: str | Path, seed: int = 0) -> Path:
    """Write a synthetic LV feeder of single-phase customers as OpenDSS files.

    Parameters
    ----------
    n_customers : int
        Number of customers, 30 to 2,000.
    out_dir : str or Path
        Folder for the files, created if missing; existing files of the same
        names are overwritten.
    seed : int
        Seed of the span, service-length, pole and phase draws.  The same
        ``(n_customers, seed)`` writes identical files.

    Returns
    -------
    Path
        ``<out_dir>/master.dss``.

    Raises
    ------
    ValueError
        If ``n_customers`` is outside 30 to 2,000.

    Notes
    -----
    * Source: stiff (10,000 MVA) 22 kV Vsource at 1.0 pu on ``sourcebus``.
    * Transformer ``tx``: 22/0.433 kV delta-wye, the smallest of 100, 200,
      315, 500, 630, 800, 1000, 1500, 2000 kVA covering 4 kVA per customer
      (2,000 kVA at most), HV tap 1.05 so the LV busbar idles at 1.031 pu.
    * ``ceil(N / 80)`` radial 3-phase feeders leave ``lv_busbar``; spans are
      25-40 m (4c_240sq then 4c_185sq: R1 0.127/0.164 ohm/km, 325/280 A);
      every 4th backbone pole starts a 2-4 span 4c_95sq lateral.  Each pole
      serves 2-4 customers.
    * Customer ``i`` (1..N) is on bus ``c_<i>``, fed by a 1-phase 4c_16sq
      service line ``svc_<i>`` of 10-30 m from phase ``p`` of its pole, and
      has load ``load_<i>``: ``bus1=c_<i>.<p>``, wye, kV=0.23, kW=1, pf=1,
      model=1 (constant power).  Phases go a, b, c in rotation, each block of
      three shuffled, so phase counts differ by at most one.
    * ``Set VoltageBases=[22, 0.4]`` and ``CalcVoltageBases`` end the master.
    """
    if not MIN_CUSTOMERS <= n_customers <= MAX_CUSTOMERS:
        raise ValueError(f"n_customers must be {MIN_CUSTOMERS} to {MAX_CUSTOMERS}, "
                         f"not {n_customers}")
    rng = random.Random(seed)
    kva = transformer_kva(n_customers)
    n_feeders = math.ceil(n_customers / CUSTOMERS_PER_FEEDER)
    phases = dict(enumerate(phase_sequence(n_customers, rng), start=1))
    feeder, first = _Feeder(), 1
    for f, size in enumerate(split_evenly(n_customers, n_feeders)):
        _build_feeder(feeder, f, range(first, first + size), phases, rng)
        first += size
    files = {
        "master.dss": _master(f"synthetic_n{n_customers}_s{seed}", n_customers, kva, n_feeders),
        "linecodes.dss": _linecodes(),
        "transformer.dss": _transformer(kva),
        "lines.dss": feeder.lines,
        "services.dss": feeder.services,
        "loads.dss": feeder.loads,
    }
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    for name, commands in files.items():
        (folder / name).write_text("\n".join(commands) + "\n")
    return folder / "master.dss"


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; prints the master file written."""
    parser = argparse.ArgumentParser(description="Write a synthetic LV feeder (OpenDSS).")
    parser.add_argument("--customers", type=int, required=True)
    parser.add_argument("--out", type=Path, default=None,
                        help="folder (default networks/generated/synthetic_n<N>_s<S>)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    out = args.out or Path("networks/generated") / f"synthetic_n{args.customers}_s{args.seed}"
    print(write_synthetic_feeder(args.customers, out, args.seed))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
