"""Weights name the ruleset they were built for; settling with another ruleset is refused."""

from __future__ import annotations

import pytest

from engine.pipeline import load_weights
from engine.policy import parse_policy
from grouper.errors import RefusedError
from tests.engine.test_level_costs import WEIGHTS
from tests.engine.test_settle_cases import DRG_POLICY
from weights import open_store, save_weight_version


def test_weights_of_another_ruleset_are_refused_with_one_line(tmp_path) -> None:
    policy = parse_policy(DRG_POLICY)
    assert policy.policy.ruleset == "chs_drg_11"
    con = open_store(tmp_path / "s.duckdb")
    try:
        save_weight_version(con, "v20", "drg", WEIGHTS, ruleset="chs_drg_20", region="t",
                            year=2025, source="test")
        save_weight_version(con, "v11", "drg", WEIGHTS, ruleset="chs_drg_11", region="t",
                            year=2025, source="test")
        with pytest.raises(RefusedError, match="built for ruleset chs_drg_20") as err:
            load_weights(con, policy, "v20")
        assert "\n" not in str(err.value)
        assert load_weights(con, policy, "v11").version == "v11"
    finally:
        con.close()
