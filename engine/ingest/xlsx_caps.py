"""Row and size caps of an .xlsx, checked on the zip before openpyxl parses anything.

A workbook is a zip: 650 KB can hold a first sheet of 100 MB of XML and a million rows, which
openpyxl reads for minutes (and, without a `<dimension>`, scans whole just to open). Here the
first sheet is found from the workbook's relationships, then: its uncompressed size against
`max_bytes`; its declared `<dimension>` (in the first bytes) against `max_rows`; else its
`<row>` elements are counted while the XML streams through (no parsing), stopping at the cap.
"""

from __future__ import annotations

import posixpath
import re
import zipfile
from pathlib import Path
from xml.etree import ElementTree

from grouper.errors import InputError

HEAD_BYTES = 64 << 10  # a <dimension> comes before <sheetData>, at the start of the sheet
CHUNK = 4 << 20
DIMENSION = re.compile(rb"<(?:\w+:)?dimension\s+ref=\"[A-Z]*(\d+)(?::[A-Z]*(\d+))?\"")
ROW = re.compile(rb"<(?:\w+:)?row[\s>/]")
REL = "{http://schemas.openxmlformats.org/package/2006/relationships}Relationship"
R_ID = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"


def _first_sheet(z: zipfile.ZipFile) -> str | None:
    """The zip member of the workbook's first sheet (as openpyxl's `worksheets[0]`)."""
    names = set(z.namelist())
    try:
        root_rels = ElementTree.fromstring(z.read("_rels/.rels"))
        book = next((r.get("Target", "") for r in root_rels.iter(REL)
                     if r.get("Type", "").endswith("/officeDocument")), "xl/workbook.xml")
        book = book.lstrip("/")
        base = posixpath.dirname(book)
        rels_name = posixpath.join(base, "_rels", posixpath.basename(book) + ".rels")
        targets = {r.get("Id"): r.get("Target", "")
                   for r in ElementTree.fromstring(z.read(rels_name)).iter(REL)}
        sheets = [e for e in ElementTree.fromstring(z.read(book)).iter()
                  if e.tag.endswith("}sheet")]
        target = targets.get(sheets[0].get(R_ID)) if sheets else None
        if target:
            member = (target.lstrip("/") if target.startswith("/")
                      else posixpath.normpath(posixpath.join(base, target)))
            if member in names:
                return member
    except (KeyError, ElementTree.ParseError, IndexError):
        pass
    sheets_found = sorted(n for n in names if re.fullmatch(r"xl/worksheets/sheet\d+\.xml", n))
    return sheets_found[0] if sheets_found else None


def _too_many(path: Path, rows: str, cap: int, setting: str) -> InputError:
    return InputError(f"{path}: 文件行数超过上限 / the file has {rows} rows; the limit is "
                      f"{cap:,} ({setting}); split the file or save it as CSV")


def check(path: Path, *, max_rows: int, max_bytes: int, setting: str) -> None:
    """Refuse a sheet over the caps (0: none) before it is parsed; an unreadable zip passes
    (openpyxl then says what is wrong)."""
    if not max_rows and not max_bytes:
        return
    try:
        z = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        return
    with z:
        member = _first_sheet(z)
        if member is None:
            return
        size = z.getinfo(member).file_size
        if max_bytes and size > max_bytes:
            raise InputError(f"{path}: 工作表过大 / the sheet expands to {size:,} bytes; the "
                             f"limit is {max_bytes:,} (DRGDIP_INGEST_MAX_BYTES); split the "
                             "file or save it as CSV")
        if not max_rows:
            return
        with z.open(member) as fh:
            head = fh.read(HEAD_BYTES)
            dim = DIMENSION.search(head)
            if dim is not None:
                declared = int(dim.group(2) or dim.group(1)) - 1  # less the header row
                if declared > max_rows:
                    raise _too_many(path, f"{declared:,}", max_rows, setting)
            rows, tail = 0, b""
            chunk = head
            while chunk:
                data = tail + chunk
                ends = [m.end() for m in ROW.finditer(data)]
                rows += len(ends)
                if rows > max_rows + 1:  # the header and `max_rows` rows
                    raise _too_many(path, f"more than {max_rows:,}", max_rows, setting)
                # the tail may hold a tag cut by the chunk boundary; never one counted already
                tail = data[max(len(data) - 32, ends[-1] if ends else 0):]
                chunk = fh.read(CHUNK)
