"""`drgdip settle --engine spark` honours the store's rates as the polars engine does (issue 12
item 1: a rate set in the store and not read by one engine pays wrongly without a word). Real
store, real Spark in local mode; skipped with a reason without PySpark or Java."""

from __future__ import annotations

import json
import shutil
from decimal import Decimal as D

import pytest
from click.testing import CliRunner

pytest.importorskip("pyspark", reason="PySpark not installed: pip install '.[spark]'")
pytest.importorskip("pandas", reason="PySpark's Arrow functions need pandas: pip install '.[spark]'")
if shutil.which("java") is None:
    pytest.skip("no Java runtime for Spark", allow_module_level=True)

from engine.cli import cli
from engine.policy import load_policy
from tests.engine.test_pipeline import POLICY, build_store, settle, table


@pytest.mark.slow  # two settles and a Spark start: ~30 s, minutes under load
def test_spark_settle_uses_the_store_point_value_like_polars(tmp_path):
    paths = build_store(tmp_path, cases=1500, hospitals=4)
    toml_value = load_policy(POLICY).pool["employee"].pv_budget
    result = CliRunner().invoke(cli, [
        "weights", "set-rate", "--region", "fuzhou", "--fund-pool", "employee", "--year", "2025",
        "--scheme", "drg", "--kind", "pv_budget", "--value", "200.0000", "--db",
        str(paths["db"])], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert toml_value != D("200.0000")
    settle(paths, "2025-03", "p-03")
    settle(paths, "2025-03", "s-03", "--engine", "spark", "--master", "local[2]")
    for run_id in ("p-03", "s-03"):
        values = table(paths["db"], f"SELECT DISTINCT point_value FROM case_results WHERE "
                                    f"run_id = '{run_id}' AND fund_pool = 'employee' AND "
                                    f"point_value IS NOT NULL")["point_value"].to_list()
        assert values == [D("200.0000")], run_id
        summary = json.loads(table(paths["db"], f"SELECT summary FROM runs WHERE run_id = "
                                                f"'{run_id}'")["summary"][0])
        assert summary["parameters"]["employee"]["pv_budget"] == {
            "value": "200.0000", "source": "store rates"}, run_id
    rows = {r: table(paths["db"], f"SELECT * EXCLUDE (run_id) FROM {name} WHERE run_id = '{r}' "
                                  f"ORDER BY {order}")
            for name, order in (("hospital_period_results", "fund_pool, hospital_id"),)
            for r in ("p-03", "s-03")}
    assert rows["s-03"].equals(rows["p-03"])  # prepayments and sums to the fen
