"""Regression (issue 13): a CSV with the Chinese headers of docs/data.md made from the first 5,000
chs_drg_11 reference cases made `drgdip group` die inside polars (`PanicException: assertion
failed: i < self.len()` while formatting a row-problem message; 1,000 rows and more)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from grouper import group_drg
from tests.conftest import EXPECTED


def chinese_wide(cases: pl.DataFrame) -> pl.DataFrame:
    """The hospital-export layout of docs/data.md: 病案号, 性别 as 男/女, one column per code."""
    dx, px = pl.col("diagnoses"), pl.col("procedures")
    return cases.select(
        pl.col("case_id").alias("病案号"),
        pl.col("sex").replace_strict({1: "男", 2: "女"}, default=None,
                                     return_dtype=pl.String).alias("性别"),
        pl.col("age").alias("年龄"), pl.col("age_days").alias("年龄(天)"),
        pl.col("birth_weight").alias("新生儿出生体重(克)"), pl.col("dept").alias("科室"),
        pl.col("los").alias("实际住院天数"), pl.col("discharge_way").alias("离院方式"),
        pl.col("icu_hours").alias("重症监护时长(小时)"),
        dx.list.get(0, null_on_oob=True).alias("主要诊断编码"),
        *(dx.list.get(i, null_on_oob=True).alias(f"其他诊断编码{i}") for i in range(1, 16)),
        px.list.get(0, null_on_oob=True).alias("主要手术及操作编码"),
        *(px.list.get(i, null_on_oob=True).alias(f"其他手术及操作编码{i}") for i in range(1, 8)))


@pytest.mark.parametrize("encoding", ["utf-8", "gb18030"])
def test_chinese_header_5000_case_csv_groups_like_parquet(
        tmp_path: Path, oracle: dict[str, pl.DataFrame], encoding: str) -> None:
    cases = oracle["chs_drg_11"].head(5000).drop(EXPECTED)
    src = tmp_path / "export.csv"
    src.write_bytes(chinese_wide(cases).write_csv().encode(encoding))
    out = tmp_path / "groups.parquet"
    run = subprocess.run([sys.executable, "-m", "engine.cli", "group", "--ruleset", "chs_drg_11",
                          str(src), str(out)], capture_output=True, text=True, timeout=300,
                         check=False)
    assert run.returncode == 0, run.stderr
    assert "PanicException" not in run.stderr
    got = pl.read_parquet(out)
    assert got.height == 5000
    assert got["case_id"].to_list() == cases["case_id"].to_list()
    # the wide columns keep at most 16 diagnoses / 8 procedures, like the export
    trimmed = cases.with_columns(pl.col("diagnoses").list.head(16),
                                 pl.col("procedures").list.head(8))
    want = group_drg(trimmed, "chs_drg_11")
    assert got.select("status", "drg").equals(want.select("status", "drg"))
