"""Official DIP catalogue import: layouts, encodings, Excel, and row-level validation."""

from __future__ import annotations

import re
from pathlib import Path

import openpyxl
import polars as pl
import pytest

from grouper import group_dip
from grouper.dip_errors import DIP_CATALOG_MESSAGES, DipCatalogError
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
    # rows 2 and 3 also share dx and combination: row 3 repeats row 2's key
    assert result.rejected.select("row", "column").rows() == [
        (2, "score"), (3, "score"), (3, "principal_dx+procedures"), (4, "principal_dx"),
        (5, "procedures")]


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


# (title, earlier row, later row, rejected column, value, code): the later row is refused
DUPLICATES = [
    ("core: same dx and combination in another order and spelling",
     GOOD[0], "K801002,k801,n,87.5400/88.0100+512300,10,核心病种", "principal_dx+procedures",
     "('K80.1', '51.2300+87.5400/88.0100')", "C402"),
    ("basic competes with core", GOOD[0], "J18X,K80.1,n,51.2300+88.0100/87.5400,10,基层病种",
     "principal_dx+procedures", "('K80.1', '51.2300+87.5400/88.0100')", "C402"),
    ("comprehensive: same 类目 and treatment class", GOOD[1], "K80ZX,K80,n,手术,950,综合病种",
     "principal_dx+treatment_class", "('K80', 'surgical')", "C403"),
    ("dip_code", GOOD[2], "J189000,J18.0,n,,300,基层病种", "dip_code", "J189000", "C401"),
]


@pytest.mark.parametrize(("first", "line", "column", "value", "code"),
                         [d[1:] for d in DUPLICATES], ids=[d[0] for d in DUPLICATES])
def test_duplicate_row_is_reported_with_code_and_first_row(
        tmp_path: Path, first: str, line: str, column: str, value: str, code: str) -> None:
    result = import_catalog(write(tmp_path, [first, line]))
    assert result.rejected.to_dicts() == [{
        "row": 3, "column": column, "value": value,
        "reason": f"{code} {DIP_CATALOG_MESSAGES[code]}; duplicate of row 2"}]
    assert result.catalog is not None and result.catalog.groups.height == 1  # first one kept
    with pytest.raises(DipCatalogError, match=r"^catalog\.csv: 1 of 2 catalogue rows rejected; "
                                              rf"first: row 3 {re.escape(column)}="):
        require_clean(result)


def test_duplicate_of_an_unreadable_row_still_names_it(tmp_path: Path) -> None:
    """The first row is refused for its score; the second, same key, is refused as its
    duplicate — the file is ambiguous either way."""
    bad_score = GOOD[0].replace("812.5", "abc")
    result = import_catalog(write(tmp_path, [bad_score, GOOD[0].replace("K801001", "K801002")]))
    assert result.rejected.select("row", "column").rows() == [
        (2, "score"), (3, "principal_dx+procedures")]
