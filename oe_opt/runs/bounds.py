"""Bounds on the work of a run: no runaway searches, no implausible caps.

A stepping search with a tiny ``step_kw`` or caps far beyond what the
network can carry would run for minutes without producing anything useful.
:func:`check_bounds` refuses such studies before anything is computed.
"""

from __future__ import annotations

import math

from oe_opt.errors import StudyError
from oe_opt.study import Study

#: most power flows the stepping search (``step``) may use per period and direction (cap / step_kw)
MAX_STEPS_PER_PERIOD = 1000
#: a customer's cap may be at most this multiple of the network's total transformer rating (kVA)
MAX_CAP_OF_TRANSFORMER_RATING = 1.0


def transformer_kva(net) -> float:
    """Total rating (kVA, first winding) of the network's transformers; NaN if it has none
    (or the engine does not say)."""
    kva = getattr(net, "transformer_kva", None)
    if kva is None or not len(kva):
        return math.nan
    return float(sum(kva))


def check_bounds(study: Study, method: str, net=None) -> None:
    """Refuse a run whose work is unbounded in practice.

    Parameters
    ----------
    study : Study
    method : str
    net : DssNetwork, optional
        The compiled network; caps are checked against its transformer
        rating when given.

    Raises
    ------
    StudyError
        If ``step`` would need more than :data:`MAX_STEPS_PER_PERIOD` power
        flows per period (cap / ``step_kw``), or a flexible customer's cap
        exceeds :data:`MAX_CAP_OF_TRANSFORMER_RATING` × the network's total
        transformer kVA.
    """
    env = study.envelope
    if method == "step":
        for d in env.directions:
            cap = getattr(env, f"{d}_max_kw")
            steps = cap / env.step_kw
            if steps > MAX_STEPS_PER_PERIOD:
                raise StudyError(
                    f"{study.path}: [envelope] step_kw = {env.step_kw:g} with {d}_max_kw = {cap:g} "
                    f"means {steps:.0f} power flows per period (at most {MAX_STEPS_PER_PERIOD}); "
                    f"use a larger step_kw or --method bisect / lp")
    if net is None:
        return
    kva = transformer_kva(net)
    if not kva > 0:
        return
    limit = MAX_CAP_OF_TRANSFORMER_RATING * kva
    for d in env.directions:
        caps = getattr(study.customers, f"{d}_max_kw")
        over = {n: v for n, v in caps.items() if v > limit}
        if over:
            name, value = next(iter(over.items()))
            raise StudyError(
                f"{study.path}: [envelope]/[customers] {d}_max_kw = {value:g} kW for {name} is "
                f"more than the network's transformers can carry ({kva:g} kVA in total); "
                f"caps must be plausible for the network")
