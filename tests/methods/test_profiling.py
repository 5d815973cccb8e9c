"""The optimiser's stage profiler (benchmarks/optimiser_speed.py): every target exists, a run
is split into its stages, and the functions are restored afterwards."""

from __future__ import annotations

from conftest import TUTORIAL
from oe_opt.methods.profiling import StageProfiler, default_targets
from oe_opt.runs.day import Session, run_day
from oe_opt.study import load_study


def test_every_stage_target_exists_and_a_run_is_split_into_stages():
    targets = default_targets()
    for owner, attr, _ in targets:
        assert (attr in owner.__dict__) if isinstance(owner, type) else hasattr(owner, attr), \
            (owner, attr)
    st = load_study(TUTORIAL)
    session = Session(st)
    before = {(id(o), a): (o.__dict__[a] if isinstance(o, type) else getattr(o, a))
              for o, a, _ in targets}
    with StageProfiler() as prof:
        run_day(st, "lp", session=session, periods=[30], voltages=False)
    # the fast core's stages: power flows, the fused state reads, its one-variable LP
    for stage in ("opendss_solve", "set_loads", "state_read", "limit_check", "lp_solve"):
        assert prof.calls[stage] > 0, stage
    assert prof.split(1.0)["other"] >= 0.0
    after = {(id(o), a): (o.__dict__[a] if isinstance(o, type) else getattr(o, a))
             for o, a, _ in targets}
    assert after == before
