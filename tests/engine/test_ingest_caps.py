"""Issue 14 item 4: row and size caps from settings, checked before the full parse — a 650 KB
.xlsx that expands to 1M rows is refused in moments, not parsed for minutes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import polars as pl
import pytest
from openpyxl import Workbook

from engine.ingest import read_cases
from engine.ingest.limits import IngestLimits
from grouper.errors import InputError

ROOT = Path(__file__).resolve().parents[2]

CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
    'package/2006/content-types"><Default Extension="rels" ContentType="application/'
    'vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType='
    '"application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/'
    'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName='
    '"/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.'
    'spreadsheetml.worksheet+xml"/></Types>')
ROOT_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.'
    'org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.'
    'openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/'
    'workbook.xml"/></Relationships>')
WORKBOOK = (
    '<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/'
    'spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships"><sheets><sheet name="cases" sheetId="1" r:id="rId1"/></sheets></workbook>')
WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.'
    'org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.'
    'openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/'
    'sheet1.xml"/></Relationships>')


def _cell(text: str) -> str:
    return f'<c t="inlineStr"><is><t>{text}</t></is></c>'


def expanding_xlsx(path: Path, rows: int, *, dimension: str | None) -> Path:
    """A workbook written straight as XML: `rows` identical cases without row numbers (as
    some writers do), which deflate to a few hundred KB."""
    head = ["case_id", "sex", "age", "diagnoses"]
    row = "<row>" + "".join(_cell(v) for v in ("c", "1", "30", "I10.x00")) + "</row>"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", CONTENT_TYPES)
        z.writestr("_rels/.rels", ROOT_RELS)
        z.writestr("xl/workbook.xml", WORKBOOK)
        z.writestr("xl/_rels/workbook.xml.rels", WORKBOOK_RELS)
        with z.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            dim = f'<dimension ref="{dimension}"/>' if dimension else ""
            sheet.write(('<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://'
                         f'schemas.openxmlformats.org/spreadsheetml/2006/main">{dim}'
                         '<sheetData>').encode())
            sheet.write(("<row>" + "".join(_cell(h) for h in head) + "</row>").encode())
            block = (row * 10_000).encode()
            for _ in range(rows // 10_000):
                sheet.write(block)
            sheet.write((row * (rows % 10_000)).encode())
            sheet.write(b"</sheetData></worksheet>")
    return path


@pytest.fixture(scope="module")
def million_xlsx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("xlsx") / "million.xlsx"
    return expanding_xlsx(path, 1_000_000, dimension="A1:D1000001")


def test_a_small_xlsx_expanding_to_a_million_rows_is_refused_before_parsing(
        million_xlsx: Path) -> None:
    assert million_xlsx.stat().st_size < 1 << 20  # < 1 MB on disk, ~100 MB of sheet XML
    start = time.monotonic()
    with pytest.raises(InputError) as info:
        read_cases(million_xlsx, limits=IngestLimits())  # the defaults: 100,000 xlsx rows
    assert time.monotonic() - start < 5  # openpyxl would read it for minutes
    text = str(info.value)
    assert "the file has 1,000,000 rows; the limit is 100,000" in text
    assert "DRGDIP_INGEST_XLSX_MAX_ROWS" in text and "文件行数超过上限" in text


def test_an_xlsx_without_a_dimension_stops_reading_at_the_cap(tmp_path: Path) -> None:
    path = expanding_xlsx(tmp_path / "nodim.xlsx", 200_000, dimension=None)
    start = time.monotonic()
    with pytest.raises(InputError, match="more than 1,000 rows; the limit is 1,000"):
        read_cases(path, limits=IngestLimits(xlsx_max_rows=1000))
    assert time.monotonic() - start < 5


def test_the_uncompressed_sheet_size_is_capped(million_xlsx: Path) -> None:
    size = million_xlsx.stat().st_size
    with pytest.raises(InputError, match="the sheet expands to .* bytes; the limit is"):
        read_cases(million_xlsx, limits=IngestLimits(xlsx_max_rows=0, max_bytes=size + 1))


def test_a_sheet_declaring_fewer_rows_than_it_has_is_read_whole(tmp_path: Path) -> None:
    path = expanding_xlsx(tmp_path / "short_dim.xlsx", 30, dimension="A1:D3")
    cases = read_cases(path).cases
    assert cases.height == 30 and cases["age"].to_list() == [30] * 30


def test_row_cap_on_each_format(tmp_path: Path) -> None:
    frame = pl.DataFrame({"case_id": [str(i) for i in range(50)], "sex": ["1"] * 50,
                          "age": ["30"] * 50, "diagnoses": ["I10.x00"] * 50})
    frame.write_csv(tmp_path / "c.csv")
    frame.write_parquet(tmp_path / "c.parquet")
    frame.write_ndjson(tmp_path / "c.jsonl")
    book = Workbook()
    sheet = book.active
    sheet.append(frame.columns)
    for row in frame.iter_rows():
        sheet.append(list(row))
    book.save(tmp_path / "c.xlsx")
    for name in ("c.csv", "c.parquet", "c.jsonl", "c.xlsx"):
        assert read_cases(tmp_path / name, limits=IngestLimits(max_rows=50)).cases.height == 50
        with pytest.raises(InputError, match="the limit is 49 .DRGDIP_INGEST_MAX_ROWS."):
            read_cases(tmp_path / name, limits=IngestLimits(max_rows=49))
    with pytest.raises(InputError, match="DRGDIP_JOB_MAX_ROWS"):
        read_cases(tmp_path / "c.csv",
                   limits=IngestLimits(max_rows=0).with_max_rows(10, "DRGDIP_JOB_MAX_ROWS"))


def test_size_cap_from_settings_through_the_cli(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("case_id,sex,age,diagnoses\na,1,30,I10.x00\n", encoding="utf-8")
    env = {**os.environ, "DRGDIP_INGEST_MAX_BYTES": "10"}
    run = subprocess.run([sys.executable, "-m", "engine.cli", "validate", str(path)],
                         capture_output=True, text=True, timeout=120, check=False, cwd=ROOT,
                         env=env)
    assert run.returncode == 3
    assert "bytes; the limit is 10 (DRGDIP_INGEST_MAX_BYTES)" in run.stderr
    env = {**os.environ, "DRGDIP_INGEST_MAX_ROWS": "0", "DRGDIP_INGEST_MAX_BYTES": "0"}
    run = subprocess.run([sys.executable, "-m", "engine.cli", "validate", str(path)],
                         capture_output=True, text=True, timeout=120, check=False, cwd=ROOT,
                         env=env)
    assert run.returncode == 0, run.stderr


def test_without_a_dimension_a_million_rows_are_refused_by_counting(tmp_path: Path) -> None:
    """No `<dimension>` (openpyxl would scan the whole sheet just to open it): the `<row>`
    elements are counted as the XML streams, stopping at the cap."""
    path = expanding_xlsx(tmp_path / "nodim.xlsx", 1_000_000, dimension=None)
    start = time.monotonic()
    with pytest.raises(InputError, match="more than 100,000 rows; the limit is 100,000"):
        read_cases(path, limits=IngestLimits())
    assert time.monotonic() - start < 5
