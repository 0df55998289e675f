"""Spark grouping (issue 9) equals the single-machine grouper row for row.

Runs Spark in local mode (local[2]) on the oracle cases; skipped with a reason when PySpark or
Java is missing (install with `pip install '.[spark]'`).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

pytest.importorskip("pyspark", reason="PySpark not installed: pip install '.[spark]'")
pytest.importorskip("pandas", reason="PySpark's Arrow functions need pandas: pip install '.[spark]'")
if shutil.which("java") is None:
    pytest.skip("no Java runtime for Spark", allow_module_level=True)

from engine.cli import cli
from engine.ingest import read_cases
from engine.spark import group_spark, read_cases_spark, spark_session, write_parquet
from grouper import group_drg
from grouper.errors import InputError, RulesetError

DATA = Path(__file__).parents[1] / "data"


@pytest.fixture(scope="module")
def spark():  # type: ignore[no-untyped-def]
    return spark_session("local[2]")  # getOrCreate: one JVM for all Spark test modules


def single_machine(path: Path, ruleset: str) -> pl.DataFrame:
    """What `drgdip group` computes without Spark: grouped, ingestion-held rows marked."""
    from engine.ingest.one_case import hold_ingest_errors

    cases = read_cases(path, patient_ids="drop").cases
    return hold_ingest_errors(group_drg(cases, ruleset), cases)


def read_dataset(path: Path) -> pl.DataFrame:
    """A Spark Parquet dataset, part files in name order (= partition order)."""
    return pl.concat([pl.read_parquet(p) for p in sorted(path.glob("part-*.parquet"))])


@pytest.mark.slow  # the default run covers the fixture region below
@pytest.mark.parametrize("ruleset", ["chs_drg_11", "foshan_2022"])
def test_spark_groups_equal_single_machine_row_for_row(spark, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                       ruleset: str) -> None:
    source = DATA / f"{ruleset}_dev.parquet"
    # small Arrow batches: many batches per partition must not change any result
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", "3000")
    try:
        write_parquet(group_spark(read_cases_spark(spark, source), ruleset), tmp_path / "out")
    finally:
        spark.conf.unset("spark.sql.execution.arrow.maxRecordsPerBatch")
    got, expected = read_dataset(tmp_path / "out"), single_machine(source, ruleset)
    assert got.schema == expected.schema
    assert got.height == expected.height == pl.read_parquet(source).height
    assert got.equals(expected)  # same order, every column incl. warnings and messages
    # and the oracle agrees on the groups themselves (sanity of the comparison)
    oracle = pl.read_parquet(source).select("case_id", "expected_drg")
    assert got.join(oracle, on="case_id").filter(
        pl.col("drg").ne_missing(pl.col("expected_drg"))).height == 0


@pytest.mark.slow
def test_spark_multi_file_input_keeps_order_and_rows(spark, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cases = pl.read_parquet(DATA / "chs_drg_11_dev.parquet")
    (tmp_path / "in").mkdir()
    for i, part in enumerate(cases.iter_slices(7_000)):  # three files → three partitions
        part.write_parquet(tmp_path / "in" / f"part-{i}.parquet")
    df = read_cases_spark(spark, tmp_path / "in")
    assert df.rdd.getNumPartitions() >= 2
    write_parquet(group_spark(df, "chs_drg_11"), tmp_path / "out")
    got = read_dataset(tmp_path / "out")
    expected = single_machine(DATA / "chs_drg_11_dev.parquet", "chs_drg_11")
    assert got.sort("case_id").equals(expected.sort("case_id"))


def test_spark_holds_a_case_id_repeated_in_another_partition(spark, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # ingestion's duplicate check is file-wide; Spark ingests a batch at a time, so a case_id
    # repeated in a later file (another partition, another Arrow batch) must still be I107
    cases = pl.read_parquet(DATA / "chs_drg_11_dev.parquet").head(300)
    later = cases.slice(200, 100).with_columns(  # 40 ids of the first file again
        pl.concat([cases["case_id"].slice(0, 40), cases["case_id"].slice(240, 60)]))
    (tmp_path / "in").mkdir()
    cases.head(200).write_parquet(tmp_path / "in" / "part-0.parquet")
    later.write_parquet(tmp_path / "in" / "part-1.parquet")
    whole = pl.concat([cases.head(200), later])
    whole.write_parquet(tmp_path / "whole.parquet")
    df = read_cases_spark(spark, tmp_path / "in")
    assert df.rdd.getNumPartitions() >= 2
    write_parquet(group_spark(df, "chs_drg_11"), tmp_path / "out")
    got = read_dataset(tmp_path / "out")
    expected = single_machine(tmp_path / "whole.parquet", "chs_drg_11")
    assert expected.filter(pl.col("error_code") == "I107").height == 40
    keys = ["case_id", "status", "error_code"]
    assert got.sort(keys, nulls_last=True).equals(expected.sort(keys, nulls_last=True))


@pytest.mark.slow
def test_spark_partitioned_output_by_status(spark, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source = DATA / "chs_drg_11_dev.parquet"
    write_parquet(group_spark(read_cases_spark(spark, source), "chs_drg_11"), tmp_path / "out",
                  partition_by=["status"])
    dirs = sorted(p.name for p in (tmp_path / "out").iterdir() if p.is_dir())
    assert dirs == ["status=invalid", "status=ok", "status=ungroupable"]
    got = (pl.read_parquet(tmp_path / "out" / "**" / "*.parquet", hive_partitioning=True)
           .select(single_machine(source, "chs_drg_11").columns))
    expected = single_machine(source, "chs_drg_11")
    assert got.sort("case_id").equals(expected.sort("case_id"))


def test_spark_fails_fast_on_driver(spark, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    no_dx = spark.createDataFrame([("a", 1, 30)], "case_id string, sex int, age int")
    with pytest.raises(InputError, match="diagnoses"):
        group_spark(no_dx, "chs_drg_11")
    with pytest.raises(RulesetError, match="unknown ruleset"):
        group_spark(read_cases_spark(spark, DATA / "chs_drg_11_dev.parquet"), "nope")
    with pytest.raises(InputError, match="no such file"):
        read_cases_spark(spark, tmp_path / "missing.parquet")
    with pytest.raises(InputError, match="partition-by"):
        write_parquet(no_dx, tmp_path / "x", partition_by=["nope"])


@pytest.mark.slow
def test_cli_group_engine_spark_equals_polars_on_chinese_csv(spark, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # a hospital file: GB18030, Chinese headers, 男/女, `|`-separated codes, read on the driver
    cases = pl.read_parquet(DATA / "chs_drg_11_dev.parquet").head(2_000)
    csv = cases.select(
        pl.col("case_id").alias("病案号"),
        pl.col("sex").replace_strict({1: "男", 2: "女"}, default="未知").alias("性别"),
        # (no birth-weight column: ingestion panics on CSV age_days + birth_weight, reported)
        pl.col("age").alias("年龄"), pl.col("age_days").alias("年龄(天)"),
        pl.col("los").alias("实际住院天数"),
        pl.col("diagnoses").list.join("|").alias("诊断编码"),
        pl.col("procedures").list.join("|").alias("手术及操作编码"))
    (tmp_path / "cases.csv").write_bytes(csv.write_csv().encode("gb18030"))
    runner = CliRunner()
    polars_run = runner.invoke(cli, ["group", str(tmp_path / "cases.csv"),
                                     str(tmp_path / "polars.parquet")])
    assert polars_run.exit_code == 0, polars_run.output
    spark_run = runner.invoke(cli, ["group", "--engine", "spark", "--master", "local[2]",
                                    str(tmp_path / "cases.csv"), str(tmp_path / "spark.parquet")])
    assert spark_run.exit_code == 0, spark_run.output
    assert "grouped 2,000 cases with chs_drg_11 on Spark" in spark_run.output
    expected = pl.read_parquet(tmp_path / "polars.parquet")
    assert read_dataset(tmp_path / "spark.parquet").equals(expected)
    # the summary line counts the same statuses as the single-machine run
    assert polars_run.output.split("(")[-1] == spark_run.output.split("(")[-1]


def test_cli_group_engine_spark_rejects_non_parquet_output(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["group", "--engine", "spark", str(DATA / "chs_drg_11_dev.parquet"),
                                      str(tmp_path / "out.csv")])
    assert result.exit_code != 0
    assert "Parquet dataset" in str(result.exception)


def test_spark_groups_fixture_region_like_single_machine(spark, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source = Path(__file__).parents[2] / "data" / "fixtures" / "region" / "cases.parquet"
    write_parquet(group_spark(read_cases_spark(spark, source), "chs_drg_11"), tmp_path / "out")
    assert read_dataset(tmp_path / "out").equals(single_machine(source, "chs_drg_11"))


def test_cli_group_engine_spark_ruleset_auto_equals_polars_on_a_mixed_year_file(  # type: ignore[no-untyped-def]
        spark, tmp_path: Path) -> None:
    import datetime as dt

    expected_cols = ["expected_status", "expected_mdc", "expected_adrg", "expected_drg"]
    old = pl.read_parquet(DATA / "chs_drg_11_dev.parquet").head(800).drop(expected_cols)
    new = pl.read_parquet(DATA / "chs_drg_20_dev.parquet").head(800).drop(expected_cols)
    mixed = pl.concat([
        new.head(300).with_columns(pl.lit(dt.date(2025, 1, 1)).alias("discharge_date")),
        old.with_columns(pl.lit(dt.date(2024, 12, 31)).alias("discharge_date")),
        old.head(3).with_columns(pl.lit(None, pl.Date).alias("discharge_date"),
                                 pl.format("undated-{}", "case_id").alias("case_id")),
        new.slice(300).with_columns(pl.lit(dt.date(2026, 3, 2)).alias("discharge_date")),
    ])
    mixed.write_parquet(tmp_path / "mixed.parquet")
    runner = CliRunner()
    polars_run = runner.invoke(cli, ["group", "--ruleset", "auto", str(tmp_path / "mixed.parquet"),
                                     str(tmp_path / "polars.parquet")])
    assert polars_run.exit_code == 0, polars_run.output
    spark_run = runner.invoke(cli, ["group", "--engine", "spark", "--master", "local[2]",
                                    "--ruleset", "auto", str(tmp_path / "mixed.parquet"),
                                    str(tmp_path / "spark.parquet")])
    assert spark_run.exit_code == 0, spark_run.output
    got, expected = read_dataset(tmp_path / "spark.parquet"), pl.read_parquet(
        tmp_path / "polars.parquet")
    assert got.equals(expected)
    assert got["ruleset"].value_counts().sort("ruleset").rows() == [
        (None, 3), ("chs_drg_11", 800), ("chs_drg_20", 800)]
    assert set(got.filter(pl.col("ruleset").is_null())["error_code"]) == {"E108"}
    assert polars_run.output.split("(")[-1] == spark_run.output.split("(")[-1]
