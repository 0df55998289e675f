"""`drgdip weights build-drg` is reproducible (issue 12: four builds of the same history gave two
checksums, a float group-by sum whose order varied): the same history built twice — and once
with its rows shuffled — gives byte-identical tables and the same checksum. Real store, real
CLI, the fixture region with its hospitals (same-level and per-hospital means included), and
the 1:2:7 year weights with cost growth that make the sums non-trivial."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from click.testing import CliRunner

from engine.cli import cli
from weights import open_store, query

REGION = Path(__file__).resolve().parents[2] / "data" / "fixtures" / "region"


def build(db: Path, history: Path, version: str) -> str:
    result = CliRunner().invoke(cli, [
        "weights", "build-drg", "--history", str(history), "--ruleset", "chs_drg_11",
        "--version", version, "--year", "2025", "--year-weights", "1:2:7",
        "--cost-growth", "0.05", "--hospitals", str(REGION / "hospitals.parquet"),
        "--db", str(db)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    con = open_store(db, read_only=True)
    try:
        return str(query(con, "SELECT checksum FROM weight_versions WHERE version = ?",
                         [version])["checksum"][0])
    finally:
        con.close()


def test_build_drg_twice_gives_the_same_checksum(tmp_path):
    cases = pl.read_parquet(REGION / "cases.parquet")
    # three years of history so that the year weights and restatement enter every mean
    years = [cases.with_columns(pl.col("admit_date", "discharge_date").dt.offset_by(f"-{k}y"),
                                pl.col("case_id") + f"-{k}") for k in (0, 1, 2)]
    history = pl.concat(years)
    plain, shuffled = tmp_path / "history.parquet", tmp_path / "shuffled.parquet"
    history.write_parquet(plain)
    history.sample(fraction=1.0, shuffle=True, seed=12).write_parquet(shuffled)
    db = tmp_path / "store.duckdb"
    sums = {build(db, plain, "a"), build(db, plain, "b"), build(db, shuffled, "c")}
    assert len(sums) == 1, sums
