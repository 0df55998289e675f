"""Spark DIP settlement reads a catalogue's same-level mean costs (`dip_level_costs`) through
the broadcast weight table, like the single-machine path, to the fen.

A synthetic region's DIP catalogue built with its hospitals' levels and read back from the
store; jiangmen_dip_2025 with `level_cost_min_cases = 5` so that the small history gives levels
enough kept cases. Spark runs in local mode; skipped when PySpark or Java is missing.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl
import pytest

pytest.importorskip("pyspark", reason="PySpark not installed: pip install '.[spark]'")
pytest.importorskip("pandas", reason="PySpark's Arrow functions need pandas: pip install '.[spark]'")
if shutil.which("java") is None:
    pytest.skip("no Java runtime for Spark", allow_module_level=True)

from engine.policy import parse_policy
from engine.spark import read_cases_spark, settle_spark, spark_session, write_parquet

POLICIES = Path(__file__).resolve().parents[2] / "engine" / "policies"


@pytest.mark.slow
def test_spark_dip_uses_the_level_means_like_single_machine(tmp_path: Path) -> None:
    from engine.pipeline import load_weights, read_case_file, settle_frame
    from engine.synth import generate
    from weights import open_store, publish
    from weights.dip_build import build_dip_catalog
    from weights.dip_store import load_level_costs, save_catalog
    from weights.hospitals import normalise_level

    text = (POLICIES / "jiangmen_dip_2025.toml").read_text(encoding="utf-8")
    assert "level_cost_min_cases = 30" in text
    policy = parse_policy(text.replace("level_cost_min_cases = 30", "level_cost_min_cases = 5"))
    hospitals, history, _ = generate(3000, 5, 2024, 3)
    _, current, _ = generate(2000, 5, 2025, 3)
    build = build_dip_catalog(history, hospitals=hospitals)
    db = tmp_path / "dip.duckdb"
    save_catalog(db, build.catalog, "dip-lvl-2025", region=policy.policy.region, year=2025,
                 source="test history", level_costs=build.level_costs)
    levels = load_level_costs(db, "dip-lvl-2025")
    assert levels.height == build.level_costs.height > 0
    con = open_store(db)
    try:
        publish(con, "dip-lvl-2025")
        weights = load_weights(con, policy)
    finally:
        con.close()
    current.write_parquet(tmp_path / "cases.parquet")
    expected, _ = settle_frame(read_case_file(tmp_path / "cases.parquet"), policy, weights,
                               hospitals, "2025-03")
    # some cases are measured against a level mean that differs from the regional one
    regional = build.catalog.groups.select(pl.col("dip_code").alias("group_code"),
                                           pl.col("mean_cost").round(2).alias("regional"))
    normalised = hospitals.select("hospital_id", pl.col("level").map_elements(
        normalise_level, return_dtype=pl.String))
    level = (expected.join(normalised, on="hospital_id", how="left")
             .join(levels.filter(pl.col("n_kept") >= 5).select(
                 pl.col("dip_code").alias("group_code"), "level",
                 pl.col("mean_cost").alias("level_mean")), on=["group_code", "level"])
             .join(regional, on="group_code"))
    used = level.filter((pl.col("avg_cost") == pl.col("level_mean"))
                        & (pl.col("level_mean").cast(pl.Float64) != pl.col("regional")))
    assert used.height > 0
    assert level.filter(pl.col("avg_cost") != pl.col("level_mean")).height == 0
    spark = spark_session("local[2]")
    results = settle_spark(spark, read_cases_spark(spark, tmp_path / "cases.parquet"), policy,
                           weights, hospitals, "2025-03")
    write_parquet(results, tmp_path / "case_results")
    got = pl.read_parquet(tmp_path / "case_results" / "*.parquet").sort("_seq")
    assert got.drop("_seq", "period").equals(expected)
