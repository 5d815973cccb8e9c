"""Customer classes against the network: every load in exactly one class."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from oe_opt.cli.main import main
from oe_opt.errors import StudyError
from oe_opt.inputs.case import check_customers, open_network
from oe_opt.study import load_study


def test_an_explicit_fixed_list_must_cover_every_other_load(write_study, tmp_path):
    from conftest import tutorial_dict

    data = tutorial_dict()
    flex, der = data["customers"]["flexible"], data["customers"]["fixed_der"]
    others = [f"load_mg1_{i}" for i in range(1, 32)
              if f"load_mg1_{i}" not in set(flex) | set(der)]
    complete = load_study(write_study({"customers": {"fixed": others}}, name="complete.toml"))
    net = open_network(complete)
    flex_names, fixed = check_customers(complete, net)
    assert flex_names == flex and len(fixed) == 31 - len(flex)
    partial = load_study(write_study({"customers": {"fixed": others[:-2]}}, name="partial.toml"))
    with pytest.raises(StudyError, match=rf"load\(s\) {others[-2]}, {others[-1]} are in no class"):
        check_customers(partial, net)
    out = tmp_path / "out"
    r = CliRunner().invoke(main, ["run", str(partial.path), "--out", str(out)])
    assert r.exit_code == 2 and "are in no class" in r.output and not out.exists()
