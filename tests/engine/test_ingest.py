"""Ingestion: every format, Chinese headers and wide code columns, per-row problems, bad files."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from openpyxl import Workbook

from engine.ingest import COST_COLUMNS, IngestCode, read_cases
from grouper import group_drg
from grouper.errors import InputError

ROOT = Path(__file__).resolve().parents[2]
REGION = ROOT / "data" / "fixtures" / "region"
EDGE = ROOT / "data" / "fixtures" / "ingest_edge_cases.csv"
GROUP_COLS = ("case_id", "status", "mdc", "adrg", "drg", "error_code")
HEADERS_ZH = {"case_id": "结算清单号", "hospital_id": "定点医疗机构编码",
              "insurance_type": "险种类型", "sex": "性别", "age": "年龄",
              "age_days": "年龄不足1周岁的年龄(天)", "birth_weight": "新生儿出生体重(克)",
              "admit_date": "入院日期", "discharge_date": "出院日期", "los": "实际住院天数",
              "discharge_way": "离院方式", "total_cost": "医疗总费用", "fund_paid": "统筹基金支付"}


@pytest.fixture(scope="module")
def region() -> pl.DataFrame:
    return pl.read_parquet(REGION / "cases.parquet")


@pytest.fixture(scope="module")
def sample(region: pl.DataFrame) -> pl.DataFrame:
    # newborns, MDCZ-style multi-diagnosis cases and ordinary ones: the first 400 rows plus
    # every newborn, so the wide layout has many diagnosis columns
    newborn = region.filter(pl.col("age_days").is_not_null()).head(50)
    return pl.concat([region.head(400), newborn]).unique("case_id", maintain_order=True)


def chinese_wide(frame: pl.DataFrame) -> pl.DataFrame:
    """The hospital-export layout: Chinese headers, 男/女, 职工/居民, one column per code."""
    n_dx = int(frame["diagnoses"].list.len().max())  # type: ignore[arg-type]
    n_px = max(1, int(frame["procedures"].list.len().max()))  # type: ignore[arg-type]
    out = frame.select(
        *(pl.col(c).alias(HEADERS_ZH[c]) for c in HEADERS_ZH if c not in (
            "sex", "insurance_type")),
        pl.col("sex").replace_strict({1: "男", 2: "女"}).alias("性别"),
        pl.col("insurance_type").replace_strict({"employee": "职工", "resident": "居民"})
        .alias("险种类型"),
        pl.col("diagnoses").list.get(0, null_on_oob=True).alias("主要诊断编码"),
        *(pl.col("diagnoses").list.get(i, null_on_oob=True).alias(f"其他诊断编码{i}")
          for i in range(1, n_dx)),
        pl.col("procedures").list.get(0, null_on_oob=True).alias("主要手术及操作编码"),
        *(pl.col("procedures").list.get(i, null_on_oob=True).alias(f"其他手术及操作编码{i}")
          for i in range(1, n_px)),
        "other_fund_paid", "patient_paid", "icu_hours", *COST_COLUMNS)
    return out.with_columns(pl.col(pl.Decimal).cast(pl.String))


def grouped(cases: pl.DataFrame) -> pl.DataFrame:
    return group_drg(cases).select(GROUP_COLS)


def assert_same_cases(got: pl.DataFrame, want: pl.DataFrame) -> None:
    cols = ["case_id", "sex", "age", "age_days", "birth_weight", "admit_date",
            "discharge_date", "los", "discharge_way", "diagnoses", "procedures", "total_cost",
            "fund_paid", "other_fund_paid", "patient_paid", "insurance_type", "hospital_id"]
    assert got.select(cols).equals(want.select(cols))


def test_gb18030_chinese_wide_csv_groups_like_parquet(sample: pl.DataFrame, tmp_path: Path
                                                      ) -> None:
    parquet = tmp_path / "cases.parquet"
    sample.write_parquet(parquet)
    csv = tmp_path / "export.csv"
    text = chinese_wide(sample).write_csv()
    csv.write_bytes(text.encode("gb18030"))
    with pytest.raises(UnicodeDecodeError):
        csv.read_bytes().decode("utf-8")  # really not UTF-8
    from_csv = read_cases(csv)
    from_parquet = read_cases(parquet)
    assert from_csv.error_rows == 0 and from_parquet.error_rows == 0
    assert_same_cases(from_csv.cases, from_parquet.cases)
    assert grouped(from_csv.cases).equals(grouped(from_parquet.cases))


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig"])
def test_csv_utf8_with_and_without_bom(sample: pl.DataFrame, tmp_path: Path,
                                       encoding: str) -> None:
    csv = tmp_path / "cases.csv"
    csv.write_bytes(chinese_wide(sample).write_csv().encode(encoding))
    got = read_cases(csv)
    assert got.error_rows == 0
    assert_same_cases(got.cases, read_cases(sample).cases)


def test_csv_with_pipe_separated_code_lists(sample: pl.DataFrame, tmp_path: Path) -> None:
    csv = tmp_path / "cases.csv"
    sample.with_columns(pl.col("diagnoses", "procedures").list.join("|")).with_columns(
        pl.col(pl.Decimal).cast(pl.String)).write_csv(csv)
    got = read_cases(csv)
    assert got.error_rows == 0
    assert_same_cases(got.cases, read_cases(sample).cases)
    assert got.cases.select(COST_COLUMNS).equals(sample.select(COST_COLUMNS))


def test_jsonl_lists_and_mixed_types(sample: pl.DataFrame, tmp_path: Path) -> None:
    path = tmp_path / "cases.jsonl"
    sample.with_columns(pl.col(pl.Decimal).cast(pl.String)).write_ndjson(path)
    got = read_cases(path)
    assert got.error_rows == 0
    assert_same_cases(got.cases, read_cases(sample).cases)


def test_jsonl_mixed_value_types_are_read_as_text(tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in [
        {"case_id": "a", "sex": 1, "age": 50, "diagnoses": ["J18.900"]},
        {"case_id": "b", "sex": "女", "age": "40", "diagnoses": ["O80.000", "Z37.000"]},
    ]), encoding="utf-8")
    got = read_cases(path).cases
    assert got["sex"].to_list() == [1, 2]
    assert got["age"].to_list() == [50, 40]
    assert got["diagnoses"].to_list() == [["J18.900"], ["O80.000", "Z37.000"]]


def test_xlsx_with_chinese_headers(sample: pl.DataFrame, tmp_path: Path) -> None:
    small = sample.head(60)
    wide = chinese_wide(small)
    book = Workbook()
    sheet = book.active
    sheet.append(wide.columns)
    for row in wide.iter_rows():
        # dates as Excel dates, numbers as numbers: what a hospital workbook holds
        sheet.append(list(row))
    path = tmp_path / "cases.xlsx"
    book.save(path)
    got = read_cases(path)
    assert got.error_rows == 0
    assert_same_cases(got.cases, read_cases(small).cases)
    assert grouped(got.cases).equals(grouped(read_cases(small).cases))


def test_edge_case_file_titles_and_codes() -> None:
    result = read_cases(EDGE)
    cases = result.cases
    assert cases.height == pl.read_csv(EDGE, infer_schema=False).height  # nothing dropped
    assert cases["_row"].to_list() == list(range(cases.height))
    for row in cases.iter_rows(named=True):
        title = row["title"]
        assert row["ingest_status"] == row["expected_status"], title
        assert (row["ingest_error_code"] or "") == (row["expected_error_code"] or ""), title
        if row["expected_field"]:
            fields = result.problems.filter(pl.col("_row") == row["_row"])["field"].to_list()
            assert fields[0] == row["expected_field"], title
    by_id = {r["case_id"]: r for r in cases.iter_rows(named=True) if r["case_id"]}
    assert by_id["E02"]["los"] == 1  # same day counts one day
    assert by_id["E22"]["total_cost"] == Decimal("100.01")  # ROUND_HALF_UP
    assert by_id["E12"]["total_cost"] == Decimal("12000.00")
    assert by_id["E24"]["diagnoses"] == ["J18.900", "I10.x00"]
    assert all(" / " in m for m in result.problems["message"])  # Chinese / English


@pytest.mark.parametrize(("field", "value", "code"), [
    ("sex", "X", IngestCode.BAD_CATEGORY),
    ("age", "abc", IngestCode.NOT_A_NUMBER),
    ("age", "-1", IngestCode.OUT_OF_RANGE),
    ("admit_date", "2024-02-30", IngestCode.BAD_DATE),
    ("total_cost", "-0.01", IngestCode.NEGATIVE_COST),
    ("total_cost", "12.3.4", IngestCode.NOT_A_NUMBER),
    ("tcm_treatment", "maybe", IngestCode.BAD_CATEGORY),
    ("icu_hours", "many", IngestCode.NOT_A_NUMBER),
])
def test_invalid_values_table(field: str, value: str, code: IngestCode) -> None:
    row = {"case_id": "x", "sex": "1", "age": "50", "diagnoses": "J18.900",
           "admit_date": "2024-01-01", "discharge_date": "2024-01-03", field: value}
    result = read_cases(pl.DataFrame([row]))
    assert result.cases.height == 1
    assert result.cases["ingest_error_code"][0] == code.value
    assert result.problems["field"][0] == field


def test_cost_breakdown_must_sum_to_total() -> None:
    frame = pl.DataFrame({"case_id": ["a", "b"], "sex": [1, 2], "age": [50, 60],
                          "diagnoses": ["J18.900", "J18.900"], "total_cost": ["100.00", "100.00"],
                          "cost_bed": ["40.00", "40.00"], "cost_lab": ["60.00", "59.00"]})
    result = read_cases(frame)
    assert result.cases["ingest_error_code"].to_list() == [
        None, IngestCode.COST_BREAKDOWN_MISMATCH.value]


def test_ruleset_needs_column_and_values() -> None:
    frame = pl.DataFrame({"case_id": ["a", "b"], "sex": [1, 2], "age": [50, 60],
                          "diagnoses": ["J18.900", "J18.900"], "icu_hours": [None, 5.0]})
    result = read_cases(frame, ruleset_needs=("icu_hours",))
    assert result.cases["ingest_error_code"].to_list() == [IngestCode.REQUIRED_MISSING, None]
    with pytest.raises(InputError, match="hospital_id"):
        read_cases(frame, ruleset_needs=("hospital_id",))


@pytest.mark.parametrize(("name", "content", "reason"), [
    ("missing.csv", None, "no such file"),
    ("empty.csv", b"", "empty file"),
    ("cases.dbf", b"x", "unknown case file format"),
    ("cases.xls", b"x", "legacy .xls"),
    ("broken.parquet", b"PAR1 not really", "not a readable Parquet"),
    ("broken.xlsx", b"PK not a zip", "not a readable .xlsx"),
    ("noheader.csv", "病案号,性别\na,1\n".encode(), "missing required column"),
    ("latin.csv", b"case_id,sex,age,diagnoses\n" + b"\xff\xfe\x00\x81,1,2,3\n",
     "neither UTF-8 nor GB18030"),
    ("bad.jsonl", b'{"case_id": "a"}\nnot json\n', "line 2 is not JSON"),
])
def test_unusable_files_fail_fast_with_one_line(tmp_path: Path, name: str,
                                                content: bytes | None, reason: str) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InputError, match=reason) as info:
        read_cases(path)
    assert "\n" not in str(info.value)


def test_problem_rows_are_kept_in_order() -> None:
    frame = pl.DataFrame({"case_id": ["a", None, "c"], "sex": ["男", "?", "女"],
                          "age": ["1", "2", "x"], "diagnoses": ["J18.900", "", "O80.000"]})
    result = read_cases(frame)
    assert result.cases["_row"].to_list() == [0, 1, 2]
    assert result.cases["ingest_status"].to_list() == ["ok", "error", "error"]
    assert set(result.problems.filter(pl.col("_row") == 1)["error_code"]) == {
        IngestCode.REQUIRED_MISSING.value, IngestCode.BAD_CATEGORY.value}


def test_validate_command_reports_problems(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from engine.cli import cli

    out = tmp_path / "problems.csv"
    result = CliRunner().invoke(cli, ["validate", str(EDGE), "--problems", str(out)])
    assert result.exit_code == 0, result.output
    assert "25 rows, 16 with problems" in result.output
    assert "I107 case_id: 1" in result.output
    written = pl.read_csv(out)
    assert written.columns == ["case_id", "_row", "field", "error_code", "message"]
    assert written.height == read_cases(EDGE).problems.height
