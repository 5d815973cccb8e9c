"""An LV network with volt-var inverter controls, driven by its own five-minute loadshapes.

:func:`write_invcontrol_feeder` writes the benchmark network of issue 9's InvControl case: a
synthetic LV feeder (:func:`~oe_opt.io.importers.synthetic.write_synthetic_feeder`, 114
single-phase customers by default) whose fixed customers follow daily demand loadshapes of 288
five-minute points, and whose rooftop PV (a PVSystem on most fixed customers, following a
daily solar loadshape) is under one volt-var ``InvControl`` (AS/NZS 4777.2-like curve).
:func:`write_invcontrol_study` writes a study on it (``[profiles] source = "network"``: one day
of 288 periods).  The same arguments always write byte-identical files; they go to an ignored
folder (``networks/generated/``), never into the repository.

Run as ``python -m oe_opt.io.importers.invcontrol_lv --out DIR``.
"""

from __future__ import annotations

import argparse
import json
import math
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from oe_opt.io.importers.synthetic import write_synthetic_feeder

#: five-minute points in a day
N_POINTS = 288
#: demand loadshapes the fixed customers are spread over
N_DEMAND_SHAPES = 6
#: customers of the default network (the issue's InvControl network)
N_CUSTOMERS = 114
#: every FLEX_EVERY-th customer is flexible (its load is the envelope)
FLEX_EVERY = 6
#: customer ``i`` has rooftop PV when ``i % PV_EVERY == 1`` (none of them flexible)
PV_EVERY = 2
#: rooftop PV: inverter rating (kVA) and array power (kW at irradiance 1)
PV_KVA, PV_KW = 3.5, 3.0
#: HV-winding tap of the transformer: the LV busbar idles at 0.433/1.025 kV (1.056 pu of
#: 0.4 kV, ~243 V), inside the volt-var curve's absorbing ramp
HV_TAP_PU = 1.05
#: the InvControl's DeltaQ_factor (the largest change of an inverter's vars per control
#: iteration, pu of its var limit); -1, OpenDSS's default, adapts it within the control loop
DELTA_Q_FACTOR = -1.0
#: volt-var curve (pu of 230 V, + supplied / - absorbed share of the inverter's kvar limit):
#: AS/NZS 4777.2 "Australia A" (207 V +44 %, 220 V 0, 240 V 0, 258 V -60 %), flat beyond
VOLT_VAR_PU = ((0.5, 0.44), (0.9, 0.44), (0.9565, 0.0), (1.0435, 0.0), (1.1217, -0.6),
               (1.5, -0.6))


def _mult(values: np.ndarray) -> str:
    return "[" + " ".join(f"{v:.5f}" for v in values) + "]"


def daily_shapes(n_points: int = N_POINTS, n_demand: int = N_DEMAND_SHAPES,
                 seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic residential demand shapes and a clear-sky-like solar shape.

    Parameters
    ----------
    n_points : int
        Points per day (288: five minutes).
    n_demand : int
        Number of demand shapes.
    seed : int
        Seed of the shapes' variation.

    Returns
    -------
    demand : ndarray, shape (n_demand, n_points)
        Multipliers of the customers' base kW (morning and evening peaks, 0.15 to ~1.3).
    solar : ndarray, shape (n_points,)
        Irradiance multiplier (0 at night, about 1 at solar noon, with some cloud dips).
    """
    rng = np.random.default_rng(seed)
    h = (np.arange(n_points) + 0.5) * 24.0 / n_points            # hour of the point's middle
    demand = np.empty((n_demand, n_points))
    for k in range(n_demand):
        morning = 7.0 + rng.uniform(-0.7, 0.7)
        evening = 18.5 + rng.uniform(-1.0, 1.0)
        d = (0.18 + 0.45 * np.exp(-((h - morning) / 1.2) ** 2)
             + 0.9 * np.exp(-((h - evening) / 1.8) ** 2)
             + 0.12 * np.exp(-((h - 13.0) / 3.0) ** 2))
        noise = np.convolve(rng.normal(0.0, 0.06, n_points), np.ones(6) / 6, mode="same")
        demand[k] = np.clip(d + noise, 0.1, None)
    day = np.clip(np.sin(math.pi * (h - 6.0) / 13.0), 0.0, None) ** 1.3 * ((h > 6) & (h < 19))
    clouds = 1.0 - 0.35 * np.exp(-((h - 11.0) / 0.25) ** 2) - 0.25 * np.exp(-((h - 14.5) / 0.2) ** 2)
    return demand, day * clouds


def write_invcontrol_feeder(out_dir: str | Path, n_customers: int = N_CUSTOMERS, seed: int = 0,
                            n_points: int = N_POINTS) -> Path:
    """Write the InvControl LV benchmark network as OpenDSS files.

    Parameters
    ----------
    out_dir : str or Path
        Folder for the files (created; files of the same names are overwritten).
    n_customers : int
        Customers of the synthetic feeder (30 to 2,000).
    seed : int
        Seed of the feeder and of the loadshapes.
    n_points : int
        Points of the daily loadshapes (288: five minutes, one day of 288 periods).

    Returns
    -------
    Path
        ``<out_dir>/master.dss``.

    Notes
    -----
    * The feeder is :func:`~oe_opt.io.importers.synthetic.write_synthetic_feeder`'s
      (``load_<i>`` on bus ``c_<i>``, constant power); customer ``i`` is flexible when
      ``i % FLEX_EVERY == 0`` (its load is set by the envelope, no loadshape).
    * A fixed customer has base kW 1.2-3.2 (seeded), pf 0.95 and ``daily=demand_<k>``
      (:func:`daily_shapes`, one of :data:`N_DEMAND_SHAPES` shapes).
    * Customers with ``i % PV_EVERY == 1`` (fixed ones) have a PVSystem ``pv_<i>``
      (:data:`PV_KVA` kVA, :data:`PV_KW` kW, ``daily=solar``), all under one InvControl
      ``vv`` in ``VOLTVAR`` mode on the curve :data:`VOLT_VAR_PU` (``voltage_curvex_ref=rated``).
    """
    master = write_synthetic_feeder(n_customers, out_dir, seed)
    folder = master.parent
    rng = np.random.default_rng(seed + 1)
    demand, solar = daily_shapes(n_points, seed=seed)
    minutes = 24 * 60 / n_points
    shapes = [f"New Loadshape.demand_{k} npts={n_points} minterval={minutes:g} mult={_mult(d)}"
              for k, d in enumerate(demand)]
    shapes.append(f"New Loadshape.solar npts={n_points} minterval={minutes:g} mult={_mult(solar)}")
    (folder / "loadshapes.dss").write_text("\n".join(shapes) + "\n")
    loads, pv = [], []
    for line in (folder / "loads.dss").read_text().splitlines():
        m = re.match(r"New Load\.load_(\d+) bus1=(\S+)", line)
        i = int(m.group(1))
        kw = rng.uniform(1.2, 3.2)
        k = int(rng.integers(N_DEMAND_SHAPES))
        if i % FLEX_EVERY == 0:
            loads.append(line.replace("kW=1 pf=1", "kW=0 pf=1"))
            continue
        loads.append(line.replace("kW=1 pf=1", f"kW={kw:.3f} pf=0.95 daily=demand_{k}"))
        if i % PV_EVERY == 1:
            pv.append(f"New PVSystem.pv_{i} phases=1 bus1={m.group(2)} kV=0.23 kVA={PV_KVA:g} "
                      f"Pmpp={PV_KW:g} irradiance=1 daily=solar pf=1 %cutin=0.05 %cutout=0.05 "
                      f"vmaxpu=1.5 vminpu=0.5 varFollowInverter=yes")
    (folder / "loads.dss").write_text("\n".join(loads) + "\n")
    xs = ", ".join(f"{x:g}" for x, _ in VOLT_VAR_PU)
    ys = ", ".join(f"{y:g}" for _, y in VOLT_VAR_PU)
    pv += [f"New XYCurve.vv npts={len(VOLT_VAR_PU)} Xarray=[{xs}] Yarray=[{ys}]",
           f"New InvControl.vv mode=VOLTVAR vvc_curve1=vv voltage_curvex_ref=rated "
           f"DeltaQ_factor={DELTA_Q_FACTOR:g}"]
    (folder / "pv.dss").write_text("\n".join(pv) + "\n")
    text = master.read_text()
    text = text.replace("Redirect loads.dss",
                        "Redirect loadshapes.dss\nRedirect loads.dss\nRedirect pv.dss")
    text = text.replace("! Generated by", f"! Loads on {n_points}-point daily loadshapes, rooftop "
                        "PV under a volt-var InvControl (oe_opt.io.importers.invcontrol_lv).\n"
                        "! Generated by")
    master.write_text(text)
    tx = folder / "transformer.dss"
    tx.write_text(re.sub(r"tap=\S+", f"tap={HV_TAP_PU:g}", tx.read_text()))
    return master


def flexible_names(n_customers: int = N_CUSTOMERS) -> list[str]:
    """The flexible customers of :func:`write_invcontrol_feeder`'s network (load names)."""
    return [f"load_{i}" for i in range(1, n_customers + 1) if i % FLEX_EVERY == 0]


def write_invcontrol_study(out_dir: str | Path, n_customers: int = N_CUSTOMERS, seed: int = 0,
                           holds_for: str = "full_use", method: str = "lp") -> Path:
    """Write the network (:func:`write_invcontrol_feeder`) and a study on it.

    The study has the tutorial's limits (216-253 V, lines and transformer 100 %) and
    caps (export 10 kW, import 14 kW, equal allocation), its profiles from the network's
    loadshapes (one day of 288 five-minute periods) and the customers of
    :func:`flexible_names` flexible.

    Parameters
    ----------
    out_dir : str or Path
        Folder of the network; the study is ``<out_dir>/study.toml``.
    holds_for : str
        ``full_use`` (the issue's measurement) or ``any_use``.
    method : str
        The study's default method.

    Returns
    -------
    Path
        The study file.
    """
    master = write_invcontrol_feeder(out_dir, n_customers, seed)
    flex = ", ".join(json.dumps(n) for n in flexible_names(n_customers))
    text = "\n".join([
        "[study]", f'name = "invcontrol_lv_n{n_customers}"',
        'description = "synthetic LV feeder, rooftop PV under volt-var InvControl, 288 '
        'five-minute periods"', "",
        "[network]", f"master = {json.dumps(str(master.resolve()))}", "",
        "[profiles]", 'source = "network"', "",
        "[customers]", f"flexible = [{flex}]", "",
        "[limits]", "v_min_v = 216.0", "v_max_v = 253.0", "line_max_pct = 100.0",
        "transformer_max_pct = 100.0", "",
        "[envelope]", "export_max_kw = 10.0", "import_max_kw = 14.0", "step_kw = 1.0",
        f'method = "{method}"', f'holds_for = "{holds_for}"', ""])
    path = master.parent / "study.toml"
    path.write_text(text)
    return path


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; prints the study file written."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=N_CUSTOMERS)
    parser.add_argument("--out", type=Path, default=None,
                        help="folder (default networks/generated/invcontrol_lv_n<N>_s<S>)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    out = args.out or Path("networks/generated") / f"invcontrol_lv_n{args.customers}_s{args.seed}"
    print(write_invcontrol_study(out, args.customers, args.seed))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
