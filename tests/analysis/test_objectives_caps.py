"""``cap_kw`` of ``objective_envelopes.csv`` is the customer's own cap."""

from __future__ import annotations

from conftest import REPO
from oe_opt.analysis.objectives import run_objectives
from oe_opt.study import load_study


def test_cap_kw_is_each_customers_cap():
    st = load_study(REPO / "models" / "unequal_der.toml")
    env = run_objectives(st, periods=[24], objectives=("heuristic",)).envelopes
    caps = {"export": st.customers.export_max_kw, "import": st.customers.import_max_kw}
    expected = [caps[d][c] for d, c in zip(env.direction, env.customer)]
    assert env.cap_kw.tolist() == expected
    assert env.cap_kw.nunique() > 2  # unequal caps: not the envelope cap
    assert (env.oe_kw.dropna() <= env.cap_kw[env.oe_kw.notna()] + 1e-9).all()
