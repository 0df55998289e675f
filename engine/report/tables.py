"""The report's numbers for publication: CSV (UTF-8 with BOM, for Excel) and one .xlsx workbook."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
from openpyxl import Workbook  # type: ignore[import-untyped]
from openpyxl.utils import get_column_letter  # type: ignore[import-untyped]


def _flat(frame: pl.DataFrame) -> pl.DataFrame:
    """List columns become JSON text (CSV/Excel cells hold scalars)."""
    return frame.with_columns(
        pl.col(c).map_elements(lambda v: json.dumps(list(v), ensure_ascii=False),
                               return_dtype=pl.String)
        for c, t in frame.schema.items() if isinstance(t, pl.List))


def write_csv(frame: pl.DataFrame, path: Path) -> None:
    path.write_bytes(b"\xef\xbb\xbf" + _flat(frame).write_csv().encode("utf-8"))


def write_workbook(sheets: dict[str, pl.DataFrame], path: Path) -> None:
    """One sheet per frame (sheet name ≤ 31 characters), header row frozen."""
    wb = Workbook()
    wb.remove(wb.active)
    for name, frame in sheets.items():
        ws = wb.create_sheet(title=name[:31])
        flat = _flat(frame)
        ws.append(flat.columns)
        for row in flat.iter_rows():
            ws.append(list(row))
        ws.freeze_panes = "A2"
        for i, col in enumerate(flat.columns, start=1):
            ws.column_dimensions[get_column_letter(i)].width = max(10, min(40, len(col) + 2))
    wb.save(path)
