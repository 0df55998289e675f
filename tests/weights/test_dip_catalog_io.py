"""Official DIP catalogue import: layouts, encodings, Excel, and row-level validation."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import polars as pl
import pytest

from grouper import group_dip
from grouper.dip_errors import DipCatalogError
from grouper.errors import InputError
from weights.dip_catalog_io import import_catalog, require_clean

HEADER = "病种编码,主要诊断编码,主要诊断名称,手术操作编码,分值,病种类型"
GOOD = [
    "K801001,K80.1,胆囊结石伴胆囊炎,51.2300+88.0100/87.5400,812.5,核心病种",
    "K80ZS,K80,胆石症,相关手术,900,综合病种",
    "J189000,J189,肺炎,,300,基层病种",
    "RJ003,K80,胆囊结石（日间）,51.2300,800,日间手术",
    "TCM001,S52.5,桡骨远端骨折,,700,中医优势病种",
]


def write(tmp_path: Path, lines: list[str], encoding: str = "utf-8") -> Path:
    path = tmp_path / "catalog.csv"
    path.write_text("\n".join([HEADER, *lines]) + "\n", encoding=encoding)
    return path


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
def test_official_layout_imports(tmp_path: Path, encoding: str) -> None:
    result = import_catalog(write(tmp_path, GOOD, encoding), version="2024-official")
    catalog = require_clean(result)
    rows = {r["dip_code"]: r for r in catalog.groups.to_dicts()}
    assert rows["K801001"]["procedures"] == "51.2300+87.5400/88.0100"  # canonical order
    assert rows["K80ZS"]["treatment_class"] == "surgical"
    assert rows["J189000"]["principal_dx"] == "J18.9"
    assert [rows[c]["dip_type"] for c in ("K801001", "K80ZS", "J189000", "RJ003", "TCM001")] == [
        "core", "comprehensive", "basic", "day_surgery", "tcm"]
    out = group_dip(pl.DataFrame({"case_id": ["1"], "diagnoses": [["K80.101"]],
                                  "procedures": [["87.5400", "51.2300"]]}), catalog)
    assert out["dip_code"].item() == "K801001" and out["dip_score"].item() == 812.5


def test_excel_imports(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(HEADER.split(","))  # type: ignore[union-attr]
    for line in GOOD:
        sheet.append(line.split(","))  # type: ignore[union-attr]
    path = tmp_path / "catalog.xlsx"
    book.save(path)
    assert require_clean(import_catalog(path)).groups.height == len(GOOD)


# (row text, rejected column, words of the reason)
BAD_ROWS = [
    ("X1,K80.1,n,51.23,abc,核心", "score", "not a number"),
    ("X2,K80.1,n,51.23,-5,核心", "score", ">= 0"),
    ("X3,XYZ,n,51.23,10,核心", "principal_dx", "ICD-10"),
    ("X4,K80.1,n,51.23+zz,10,核心", "procedures", "ICD-9-CM-3"),
    ("X5,K80.1,n,51.23,10,神秘病种", "dip_type", "accepted"),
    ("X6,K80,n,某种方式,10,综合病种", "procedures", "treatment class"),
    ("X7,K80.1,n,保守治疗,10,综合病种", "principal_dx", "3-character"),
    ("X8,K80,n,,10,日间手术", "procedures", "day-surgery"),
    (",K80.1,n,51.23,10,核心", "dip_code", "empty"),
    ("K801001,K80.1,n,51.23,10,核心", "dip_code", "duplicate of row 2"),
]


@pytest.mark.parametrize(("line", "column", "reason"), BAD_ROWS, ids=[b[0] for b in BAD_ROWS])
def test_bad_row_is_reported_by_row_and_column(tmp_path: Path, line: str, column: str,
                                               reason: str) -> None:
    result = import_catalog(write(tmp_path, [GOOD[0], line]))
    assert result.rejected.height >= 1
    first = result.rejected.row(0, named=True)
    assert (first["row"], first["column"]) == (3, column)
    assert reason in first["reason"]
    assert result.catalog is not None and result.catalog.groups.height == 1  # good row kept
    with pytest.raises(DipCatalogError, match="row 3"):
        require_clean(result)


def test_all_problems_of_all_rows_are_listed(tmp_path: Path) -> None:
    result = import_catalog(write(tmp_path, [line for line, _, _ in BAD_ROWS[:4]]))
    assert result.rejected.select("row", "column").rows() == [
        (2, "score"), (3, "score"), (4, "principal_dx"), (5, "procedures")]


@pytest.mark.parametrize(("content", "message"), [
    ("病种编码,分值\nA,1\n", "lacks column"),
    (None, "not found"),
])
def test_unusable_file_fails_fast(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "c.csv"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError, match=message):
        import_catalog(path)
