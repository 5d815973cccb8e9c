"""Per-stage timing of the optimiser (behind a flag: nothing is timed unless a profiler runs).

:class:`StageProfiler` wraps named functions (``(owner, attribute, stage)``
targets) with ``time.perf_counter`` counters for as long as it is active
(a context manager) and restores them afterwards.  Times are *exclusive*: a
stage nested in another (e.g. a power flow inside a finite-difference
sensitivity) is counted in the inner stage only.  Used by
``benchmarks/optimiser_speed.py``; the methods themselves carry no timing code.
"""

from __future__ import annotations

import functools
import time
from collections import defaultdict
from typing import Iterable


def default_targets() -> list[tuple[object, str, str]]:
    """The optimiser's stages: OpenDSS solves, state reads, sensitivities, the local model,
    LP row building, LP updates and LP solves (and the fast equal path's stages)."""
    from oe_opt.methods import evaluator, slp
    from oe_opt.model import limits, lp, sensitivity
    from oe_opt.network import opendss

    targets = [
        (opendss.DssNetwork, "solve", "opendss_solve"),
        (opendss.DssNetwork, "solve_without_controls", "screen_solve"),
        (opendss.DssNetwork, "read_state", "state_read"),
        (opendss.DssNetwork, "set_loads", "set_loads"),
        (limits, "evaluate_limits", "limit_check"),
        (evaluator, "evaluate_limits", "limit_check"),
        (limits.LimitChecker, "__call__", "limit_check"),
        # the fused state and verdict of the fast core's checks (its state part counted here)
        (limits.QuantityChecker, "__call__", "limit_check"),
        (sensitivity.SensitivityModel, "analytic", "sensitivity"),
        (sensitivity.SensitivityModel, "quantities", "state_read"),
        (sensitivity.SensitivityModel, "node_voltages", "state_read"),
        (sensitivity.SensitivityModel, "state_of", "state_read"),
        (slp.EnvelopeModel, "quantities", "local_model"),
        (slp.EnvelopeModel, "gradient", "local_model"),
        (slp, "lp_rows", "lp_build"),
        (lp.EnvelopeLP, "update", "lp_update"),
        (lp.EnvelopeLP, "solve", "lp_solve"),
    ]
    try:
        from oe_opt.methods import equal_fast
        from oe_opt.model import ratio
    except ImportError:
        return targets
    # the fast core's one-variable LP: the ratio test on the rows at 0 kW and on the quadratic
    # rows of its steps (counted as LP solves)
    targets += [(equal_fast, "row_margin", "lp_build"), (ratio, "ratio_solve", "lp_solve"),
                (equal_fast, "ratio_solve", "lp_solve"), (equal_fast, "_row_roots", "lp_solve"),
                (equal_fast, "_smallest_root", "lp_solve"), (equal_fast, "headroom", "lp_build")]
    return targets


class StageProfiler:
    """Exclusive wall time and call counts per stage while active.

    Parameters
    ----------
    targets : iterable of (owner, attribute, stage), optional
        Functions to time (default :func:`default_targets`).

    Attributes
    ----------
    seconds : dict
        Stage to exclusive seconds.
    calls : dict
        Stage to number of calls.
    """

    def __init__(self, targets: Iterable[tuple[object, str, str]] | None = None):
        self.targets = list(default_targets() if targets is None else targets)
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self._saved: list[tuple[object, str, object]] = []
        self._stack: list[float] = []       # child time accumulated per open frame

    def reset(self) -> None:
        self.seconds.clear()
        self.calls.clear()

    def _wrap(self, fn, stage: str):
        prof = self

        @functools.wraps(fn)
        def timed(*args, **kwargs):
            prof._stack.append(0.0)
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                dt = time.perf_counter() - t0
                child = prof._stack.pop()
                prof.seconds[stage] += dt - child
                prof.calls[stage] += 1
                if prof._stack:
                    prof._stack[-1] += dt
        return timed

    def __enter__(self) -> "StageProfiler":
        for owner, attr, stage in self.targets:
            fn = owner.__dict__[attr] if isinstance(owner, type) else getattr(owner, attr)
            self._saved.append((owner, attr, fn))
            setattr(owner, attr, self._wrap(fn, stage))
        return self

    def __exit__(self, *exc) -> None:
        for owner, attr, fn in reversed(self._saved):
            setattr(owner, attr, fn)
        self._saved.clear()

    def split(self, total_s: float) -> dict[str, float]:
        """Seconds per stage plus ``other`` (the rest of `total_s`: the method's own Python)."""
        out = dict(self.seconds)
        out["other"] = max(total_s - sum(self.seconds.values()), 0.0)
        return out
