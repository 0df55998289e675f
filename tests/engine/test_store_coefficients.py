"""Institution coefficients set in the store take effect in settle, for the settled period, and
the run says which it used (issue 12 Build 1: "the same for hospital coefficients set in the
store"). Before: settle read the `hospitals` view, i.e. the coefficient in force on the day the
command ran, so re-settling March after a July change paid March at July's coefficient. Real
store, CLI, payment-rules §3.3 (points = base × inst)."""

from __future__ import annotations

import json
from decimal import ROUND_HALF_UP
from decimal import Decimal as D

import polars as pl
from click.testing import CliRunner

from engine.cli import cli
from tests.engine.test_pipeline import POLICY, build_store, table


def _cli(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def _settle_from_store(paths, period: str, run_id: str) -> str:
    # no --hospitals: the store's hospitals and coefficients
    return _cli("settle", "--policy", POLICY, "--cases", str(paths[period]), "--period", period,
                "--run-id", run_id, "--db", str(paths["db"]))


def _normal_points(db, run_id: str, hospital: str) -> dict[str, D]:
    rows = table(db, "SELECT case_id, points FROM case_results WHERE run_id = "
                     f"'{run_id}' AND hospital_id = '{hospital}' AND case_type = 'normal'")
    return {c: D(p) for c, p in rows.iter_rows()}


def test_store_coefficient_in_force_on_the_period_is_paid_and_recorded(tmp_path):
    paths = build_store(tmp_path, cases=1500, hospitals=4)
    db = str(paths["db"])
    hospitals = tmp_path / "h.csv"
    pl.read_parquet(paths["hospitals"]).select(
        pl.col("hospital_id").alias("医疗机构编码"), pl.col("name").alias("医疗机构名称"),
        pl.col("level").alias("医院等级"), pl.lit("1.0").alias("系数")).write_csv(hospitals)
    _cli("weights", "import-hospitals", str(hospitals), "--effective-from", "2025-01-01",
         "--reason", "年度核定", "--db", db)
    out = _settle_from_store(paths, "2025-03", "base-03")
    base = _normal_points(paths["db"], "base-03", "H0001")
    assert base
    # H0001 at 1.2 from 2025-04-01: not March's coefficient; from 2025-03-01 it is
    _cli("weights", "set-coefficient", "H0001", "1.2", "--from", "2025-04-01", "--reason",
         "上调", "--db", db)
    _settle_from_store(paths, "2025-03", "later-03")
    assert _normal_points(paths["db"], "later-03", "H0001") == base
    _cli("weights", "set-coefficient", "H0001", "1.2", "--from", "2025-03-01", "--reason",
         "上调", "--db", db)
    _settle_from_store(paths, "2025-03", "march-03")
    paid = _normal_points(paths["db"], "march-03", "H0001")
    assert paid.keys() == base.keys()
    # a normal case's points are base × inst, 4 dp half-up: base × 1.0 before, base × 1.2 now
    assert all(paid[c] == (base[c] * D("1.2")).quantize(D("0.0001"), ROUND_HALF_UP)
               for c in base)
    summary = json.loads(table(paths["db"], "SELECT summary FROM runs WHERE run_id = "
                                            "'march-03'")["summary"][0])
    assert summary["hospital_coefficients"] == {"source": "store", "on": "2025-03-01",
                                                "changes_within_period": {}}
    # a change taking effect inside the period is named, and the period keeps its first day's
    _cli("weights", "set-coefficient", "H0002", "0.9", "--from", "2025-03-15", "--reason",
         "年中调整", "--db", db)
    out = _settle_from_store(paths, "2025-03", "mid-03")
    summary = json.loads(table(paths["db"], "SELECT summary FROM runs WHERE run_id = "
                                            "'mid-03'")["summary"][0])
    assert summary["hospital_coefficients"]["changes_within_period"] == {
        "H0002": "0.9000 from 2025-03-15"}
    assert "warning: H0002: institution coefficient 0.9000 from 2025-03-15" in out
    assert (_normal_points(paths["db"], "mid-03", "H0002")
            == _normal_points(paths["db"], "march-03", "H0002"))
