"""report.xlsx is for people (issue 13 bullet 7): Chinese headers (with the column name),
hospital levels and flag kinds as labels, hospital names where the hospital table or the store
knows them — and the same rows and numbers as the CSV files. Read back with openpyxl."""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner
from openpyxl import load_workbook

from engine.cli import cli
from engine.report.charts import LEVEL_NAMES
from engine.supervision.flags import KIND_NAMES

REGION = Path(__file__).resolve().parents[2] / "data" / "fixtures" / "region"
CJK = re.compile(r"[\u4e00-\u9fff]")


def report(tmp: Path, *extra: str) -> Path:
    out = tmp / "out"
    result = CliRunner().invoke(cli, [
        "report", "--cases", str(REGION / "cases.parquet"), "--db", str(tmp / "s.duckdb"),
        "--run-id", "fixture", "--out", str(out), *extra], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def with_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("xlsx")
    return report(tmp, "--hospitals", str(REGION / "hospitals.parquet"))


def _sheet(path: Path, name: str) -> tuple[list[str], list[tuple[object, ...]]]:
    ws = load_workbook(path / "report.xlsx", read_only=True)[name]
    rows = list(ws.iter_rows(values_only=True))
    return [str(h) for h in rows[0]], rows[1:]


def test_headers_are_chinese_with_the_column_name(with_file: Path) -> None:
    wb = load_workbook(with_file / "report.xlsx", read_only=True)
    assert wb.sheetnames == ["指标 indicators", "监管标记 flags", "病组 groups"]
    for name in wb.sheetnames:
        headers = [str(c) for c in next(wb[name].iter_rows(max_row=1, values_only=True))]
        untranslated = [h for h in headers if not CJK.search(h)]
        assert not untranslated, f"{name}: {untranslated}"
        assert all(re.fullmatch(r".+ \([a-z_]+\)", h) for h in headers), headers
    headers, _ = _sheet(with_file, "指标 indicators")
    assert "入组率 (grouping_rate)" in headers and "医院级别 (hospital_level)" in headers


def test_levels_kinds_and_scopes_are_labels_and_names_sit_beside_ids(with_file: Path) -> None:
    headers, rows = _sheet(with_file, "指标 indicators")
    col = {h.split(" (")[-1].rstrip(")"): i for i, h in enumerate(headers)}
    assert col["hospital_name"] == col["hospital_id"] + 1
    levels = {r[col["hospital_level"]] for r in rows} - {None}
    assert levels and levels <= set(LEVEL_NAMES.values())
    assert {r[col["scope"]] for r in rows} == {"区域", "医院", "科室"}
    names = dict(pl.read_parquet(REGION / "hospitals.parquet").select("hospital_id", "name")
                 .iter_rows())
    hospital_rows = [r for r in rows if r[col["hospital_id"]] is not None]
    assert hospital_rows and all(r[col["hospital_name"]] == names[r[col["hospital_id"]]]
                                 for r in hospital_rows)
    headers, flags = _sheet(with_file, "监管标记 flags")
    kinds = {r[headers.index("标记类型 (kind)")] for r in flags}
    assert kinds and kinds <= set(KIND_NAMES.values())
    assert "医院名称 (hospital_name)" in headers


def test_the_workbook_holds_the_csv_numbers(with_file: Path) -> None:
    csv = pl.read_csv(with_file / "indicators.csv", infer_schema_length=None)
    headers, rows = _sheet(with_file, "指标 indicators")
    assert len(rows) == csv.height
    cmi = headers.index("病例组合指数 CMI (cmi)")
    assert [r[cmi] for r in rows] == pytest.approx(csv["cmi"].to_list(), nan_ok=True)
    ws = load_workbook(with_file / "report.xlsx")["指标 indicators"]
    rate = headers.index("入组率 (grouping_rate)") + 1
    assert ws.cell(row=2, column=rate).number_format == "0.00%"
    assert csv["hospital_level"].drop_nulls().cast(pl.String).is_in(list(LEVEL_NAMES)).all()


def test_names_come_from_the_store_when_no_file_is_given(tmp_path: Path) -> None:
    db = str(tmp_path / "s.duckdb")
    master = tmp_path / "hospitals.csv"
    master.write_text("医疗机构编码,医疗机构名称,等级\nH0001,城区人民医院,三级\n", encoding="utf-8")
    imported = CliRunner().invoke(cli, ["--create", "weights", "import-hospitals", str(master), "--db", db],
                                  catch_exceptions=False)
    assert imported.exit_code == 0, imported.output
    out = report(tmp_path)
    headers, rows = _sheet(out, "指标 indicators")
    hid, name = headers.index("医院编码 (hospital_id)"), headers.index("医院名称 (hospital_name)")
    named = {r[hid]: r[name] for r in rows if r[hid] is not None}
    assert named["H0001"] == "城区人民医院"
    assert all(v is None for k, v in named.items() if k != "H0001")  # unknown: id only
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "H0001 城区人民医院" in html
