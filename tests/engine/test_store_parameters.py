"""Rates and budgets set in the store drive settlement and clearing (issue 12: `weights set-rate
--kind pv_budget` and `weights set-budget` printed success and changed nothing). The TOML value
is the default; every run records the value it used and where it came from. Real store, CLI."""

from __future__ import annotations

import json
from decimal import Decimal as D

import polars as pl
from click.testing import CliRunner

from engine.cli import cli
from tests.engine.test_pipeline import POLICY, build_store, settle, table


def run(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def summary(db, run_id: str) -> dict:
    return json.loads(table(db, f"SELECT summary FROM runs WHERE run_id = '{run_id}'")
                      ["summary"][0])


def test_store_point_value_and_budget_take_effect_and_are_recorded(tmp_path):
    paths = build_store(tmp_path, cases=1500, hospitals=4)
    db = str(paths["db"])
    settle(paths, "2025-03", "toml-03")
    before = table(paths["db"], "SELECT point_value, sum(payment_standard) AS s FROM case_results "
                                "WHERE run_id = 'toml-03' AND fund_pool = 'employee' "
                                "GROUP BY point_value")
    assert before["point_value"].to_list() == [D("232.7300")]  # fuzhou's TOML pv_budget
    used = summary(paths["db"], "toml-03")["parameters"]["employee"]["pv_budget"]
    assert used == {"value": "232.7300", "source": "policy file"}

    run("weights", "set-rate", "--region", "fuzhou", "--fund-pool", "employee", "--year", "2025",
        "--scheme", "drg", "--kind", "pv_budget", "--value", "100.0000", "--db", db)
    settle(paths, "2025-03", "store-03")
    after = table(paths["db"], "SELECT point_value, sum(payment_standard) AS s FROM case_results "
                               "WHERE run_id = 'store-03' AND fund_pool = 'employee' "
                               "GROUP BY point_value")
    assert after["point_value"].to_list() == [D("100.0000")]
    assert after["s"][0] < before["s"][0]
    used = summary(paths["db"], "store-03")["parameters"]["employee"]["pv_budget"]
    assert used == {"value": "100.0000", "source": "store rates"}

    run("weights", "set-budget", "--region", "fuzhou", "--fund-pool", "employee", "--year",
        "2025", "--scheme", "drg", "--amount", "123456789.00", "--db", db)
    out = run("clear", "--policy", POLICY, "--year", "2025", "--partial", "--db", db)
    assert "employee: budget 123456789.00" in out
    pools = table(paths["db"], "SELECT fund_pool, budget, risk_reserve FROM clearing_pools "
                               "ORDER BY fund_pool")
    employee = pools.filter(pl.col("fund_pool") == "employee").row(0, named=True)
    assert employee["budget"] == D("123456789.00")
    assert employee["risk_reserve"] == D("6172839.45")  # the policy's 5 % of the store's budget
    resident = pools.filter(pl.col("fund_pool") == "resident").row(0, named=True)
    assert resident["budget"] == D("465000000.00")  # no store row: the TOML budget
    recorded = summary(paths["db"], "clear-fuzhou_drg_2025-2025")["employee"]["parameters"]
    assert recorded["budget"] == {"value": "123456789.00", "source": "store fund_budgets"}
