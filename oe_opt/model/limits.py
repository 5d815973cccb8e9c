"""Limit evaluation on a solved network state.

Pure functions: given monitored quantities and limits, say whether every
limit holds, which constraint binds and by how much.

Margins are in percent so that different constraints compare:

* voltage upper limit: ``(v_max - v) / v_max * 100``;
* voltage lower limit: ``(v - v_min) / v_min * 100``;
* line and transformer: ``limit_pct - loading_pct`` (percentage points of rating).

Transformer check: the per-phase current of every winding against the
winding's rated current kVA/(sqrt(3)·kV) — 667 A on the 433 V side of the
Test LV Circuit's 500 kVA transformer.  The tutorial notebook instead compares
the *sum* of the three LV phase currents with 3·(500/3)/0.433 A, i.e. an
average phase current against 385 A, which is neither the rated current nor a
per-phase check (an unbalanced phase can exceed its rating unnoticed, and a
balanced load is flagged at 58 % of rating).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from oe_opt.network.opendss import NetworkState
from oe_opt.study import LimitSpec


@dataclass(frozen=True)
class LimitCheck:
    """The outcome of checking one solved state against the limits.

    Attributes
    ----------
    ok : bool
        Every limit holds.
    binding : str
        The constraint with the smallest margin, as ``kind:element`` with kind
        one of ``v_max``, ``v_min``, ``line``, ``transformer`` (or
        ``power_flow:not_converged``).
    margin_pct : float
        Margin of that constraint, percent (negative when violated).
    converged : bool
        False if the power flow did not converge (then nothing else is known).
    voltage_v : ndarray or None
        Every monitored customer voltage (V) of the checked state.
    v_lowest_v, v_highest_v : float
        Lowest and highest customer voltage (V) observed in the checked state
        (the limits themselves are ``LimitSpec.v_min_v`` / ``v_max_v``).
    max_line_loading_pct, transformer_loading_pct : float
        Highest line and transformer loading (%).
    """

    ok: bool
    binding: str
    margin_pct: float
    v_lowest_v: float
    v_highest_v: float
    max_line_loading_pct: float
    transformer_loading_pct: float
    converged: bool = True
    voltage_v: np.ndarray | None = field(default=None, repr=False, compare=False)


NOT_CONVERGED = LimitCheck(False, "power_flow:not_converged", -np.inf, np.nan, np.nan, np.nan,
                           np.nan, converged=False)


def margins_pct(state: NetworkState, limits: LimitSpec) -> dict[str, np.ndarray]:
    """Margin (percent) of every constraint, by constraint kind.

    Returns
    -------
    dict
        ``v_max``, ``v_min`` (per monitored customer node), ``line`` (per
        line), ``transformer`` (per transformer); negative entries are violations.
    """
    v = state.voltage_v
    return {
        "v_max": (limits.v_max_v - v) / limits.v_max_v * 100.0,
        "v_min": (v - limits.v_min_v) / limits.v_min_v * 100.0,
        "line": limits.line_max_pct - state.line_loading_pct,
        "transformer": limits.transformer_max_pct - state.transformer_loading_pct,
    }


def evaluate_limits(state: NetworkState, limits: LimitSpec, voltage_labels: list[str],
                    line_names: list[str], transformer_names: list[str]) -> LimitCheck:
    """Check a solved state against voltage and thermal limits.

    Parameters
    ----------
    state : NetworkState
        Monitored quantities of a solved power flow.
    limits : LimitSpec
        Voltage limits (V) and thermal limits (%).
    voltage_labels, line_names, transformer_names : list of str
        Element names aligned with the state's arrays.

    Returns
    -------
    LimitCheck
    """
    margins = margins_pct(state, limits)
    labels = {"v_max": voltage_labels, "v_min": voltage_labels, "line": line_names,
              "transformer": transformer_names}
    best_kind, best_i, best = "", -1, np.inf
    for kind, m in margins.items():
        if len(m):
            i = int(np.argmin(m))
            if m[i] < best:
                best_kind, best_i, best = kind, i, float(m[i])
    binding = f"{best_kind}:{labels[best_kind][best_i]}" if best_kind else "none"
    v = state.voltage_v
    return LimitCheck(
        ok=bool(best >= 0.0),
        binding=binding,
        margin_pct=best,
        v_lowest_v=float(v.min()),
        v_highest_v=float(v.max()),
        max_line_loading_pct=float(state.line_loading_pct.max()) if len(state.line_loading_pct) else 0.0,
        transformer_loading_pct=(float(state.transformer_loading_pct.max())
                                 if len(state.transformer_loading_pct) else 0.0),
        voltage_v=v,
    )
