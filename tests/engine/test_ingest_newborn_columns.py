"""Regression: a Chinese-header CSV carrying both 年龄(天) and 新生儿出生体重(克) used to panic
inside polars while formatting the birth-weight problem message (found by the Spark engineer)."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from engine.ingest import read_cases
from grouper import group_drg
from tests.conftest import EXPECTED


def test_newborn_columns_with_chinese_headers_read_and_group_like_parquet(
        tmp_path: Path, oracle: dict[str, pl.DataFrame]) -> None:
    cases = oracle["chs_drg_11"].head(3000).drop(EXPECTED)
    src = tmp_path / "cases.csv"
    cases.select(
        pl.col("case_id").alias("病案号"), pl.col("sex").alias("性别"), pl.col("age").alias("年龄"),
        pl.col("age_days").alias("年龄(天)"), pl.col("birth_weight").alias("新生儿出生体重(克)"),
        pl.col("diagnoses").list.join("|").alias("诊断编码"),
        pl.col("procedures").list.join("|").alias("手术及操作编码"),
    ).write_csv(src)
    result = read_cases(src)
    assert result.cases.height == cases.height
    newborn_missing = cases.filter((pl.col("age") == 0) & (pl.col("age_days") <= 28)
                                   & pl.col("birth_weight").is_null())
    flagged = result.problems.filter(pl.col("field") == "birth_weight")["case_id"]
    assert sorted(flagged.to_list()) == sorted(newborn_missing["case_id"].to_list())
    got = group_drg(result.cases, "chs_drg_11")
    want = group_drg(cases, "chs_drg_11")
    assert got.select("status", "drg").equals(want.select("status", "drg"))
