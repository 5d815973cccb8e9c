"""The envelope problem built from a study: caps and weights per customer and direction."""

from __future__ import annotations

import numpy as np

from oe_opt.problem import build_problem
from oe_opt.study import load_study


def test_caps_default_to_the_envelope_caps_and_weights_to_the_caps(write_study):
    st = load_study(write_study({"customers": {"export_max_kw": {"load_mg1_1": 4.0},
                                               "import_weight": 3.0}}))
    names = list(st.customers.flexible)
    pb = build_problem(st, names)
    caps = pb.customer_caps_kw("export")
    assert caps[0] == 4.0 and np.all(caps[1:] == st.envelope.export_max_kw)
    assert pb.cap_kw("export") == st.envelope.export_max_kw
    assert np.array_equal(pb.weights("export"), caps)          # weights default to the caps
    assert np.all(pb.weights("import") == 3.0)


def test_problem_follows_the_day_case_order(write_study):
    st = load_study(write_study({"customers": {"export_max_kw": {"load_mg1_1": 4.0}}}))
    names = list(reversed(st.customers.flexible))
    caps = build_problem(st, names).customer_caps_kw("export")
    assert caps[-1] == 4.0 and np.all(caps[:-1] == st.envelope.export_max_kw)
