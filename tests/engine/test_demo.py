"""`drgdip demo` is the whole main job, and running it twice in one folder gives the same store
(issue 6)."""

from __future__ import annotations

import polars as pl
from click.testing import CliRunner

from engine.cli import cli
from weights import open_store, query

TABLES = {
    "case_results": "SELECT * FROM case_results ORDER BY run_id, case_id",
    "hospital_period_results": "SELECT * FROM hospital_period_results "
                               "ORDER BY run_id, fund_pool, hospital_id",
    "clearing_results": "SELECT * FROM clearing_results ORDER BY fund_pool, hospital_id",
    "clearing_pools": "SELECT * FROM clearing_pools ORDER BY fund_pool",
    "runs": "SELECT * EXCLUDE (started_at, finished_at) FROM runs ORDER BY run_id",
    "weight_versions": "SELECT version, status, checksum FROM weight_versions",
    "drg_weights": "SELECT * FROM drg_weights ORDER BY version, drg",
    "hospitals": "SELECT hospital_id, level, type FROM hospitals ORDER BY hospital_id",
}


def snapshot(db) -> dict[str, pl.DataFrame]:
    con = open_store(db, read_only=True)
    try:
        return {name: query(con, sql) for name, sql in TABLES.items()}
    finally:
        con.close()


def test_demo_twice_gives_the_same_store(tmp_path):
    db = tmp_path / "drgdip.duckdb"
    args = ["demo", "--cases", "4000", "--hospitals", "6", "--dir", str(tmp_path),
            "--db", str(db)]
    first = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert first.exit_code == 0, first.output
    for step in ("1/5", "2/5", "3/5", "4/5", "5/5", "conservation gap 0.00"):
        assert step in first.output
    assert "H0006" in first.output and "final" in first.output
    before = snapshot(db)
    assert before["case_results"].height == 4000
    assert before["runs"].height == 13  # twelve months and the clearing
    assert (tmp_path / "results" / "demo-2025-03" / "case_results.parquet").is_file()
    second = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert second.exit_code == 0, second.output
    after = snapshot(db)
    for name in TABLES:
        assert after[name].equals(before[name]), name
