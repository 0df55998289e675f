"""The report's numbers for publication: CSV (UTF-8 with BOM, for Excel; the store's columns and
codes) and one .xlsx workbook for people (Chinese headers and labels, hospital names)."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
from openpyxl import Workbook  # type: ignore[import-untyped]
from openpyxl.utils import get_column_letter  # type: ignore[import-untyped]

from engine.report import labels


def _flat(frame: pl.DataFrame) -> pl.DataFrame:
    """List columns become JSON text (CSV/Excel cells hold scalars)."""
    return frame.with_columns(
        pl.col(c).map_elements(lambda v: json.dumps(list(v), ensure_ascii=False),
                               return_dtype=pl.String)
        for c, t in frame.schema.items() if isinstance(t, pl.List))


def write_csv(frame: pl.DataFrame, path: Path) -> None:
    path.write_bytes(b"\xef\xbb\xbf" + _flat(frame).write_csv().encode("utf-8"))


def _with_names(frame: pl.DataFrame, names: dict[str, str]) -> pl.DataFrame:
    """`hospital_name` right after `hospital_id`, where the hospital table knows the name."""
    if "hospital_id" not in frame.columns or not names or "hospital_name" in frame.columns:
        return frame
    at = frame.columns.index("hospital_id") + 1
    named = frame.with_columns(pl.col("hospital_id").cast(pl.String)
                               .replace_strict(names, default=None, return_dtype=pl.String)
                               .alias("hospital_name"))
    return named.select([*frame.columns[:at], "hospital_name", *frame.columns[at:]])


def _labelled(frame: pl.DataFrame) -> pl.DataFrame:
    """Coded values as their Chinese labels; lists as `、`-joined text."""
    exprs = []
    for column, dtype in frame.schema.items():
        if column in labels.VALUE_NAMES:
            exprs.append(pl.col(column).cast(pl.String).replace(labels.VALUE_NAMES[column]))
        elif isinstance(dtype, pl.List):
            exprs.append(pl.col(column).cast(pl.List(pl.String)).list.join("、"))
    return frame.with_columns(exprs) if exprs else frame


def _width(text: object) -> int:
    """Display width: a CJK character takes two columns."""
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in str(text))


def write_workbook(sheets: dict[str, pl.DataFrame], path: Path, *,
                   hospital_names: dict[str, str] | None = None) -> None:
    """One sheet per frame (named `指标 indicators` …), bilingual header row frozen, coded
    values as Chinese labels, rates as percentages, hospital names beside their ids."""
    wb = Workbook()
    wb.remove(wb.active)
    for name, frame in sheets.items():
        ws = wb.create_sheet(title=labels.SHEET_NAMES.get(name, name)[:31])
        table = _labelled(_with_names(frame, hospital_names or {}))
        ws.append([labels.header(c) for c in table.columns])
        for row in table.iter_rows():
            ws.append(list(row))
        ws.freeze_panes = "A2"
        for i, col in enumerate(table.columns, start=1):
            letter = get_column_letter(i)
            sample = table[col].head(200).to_list()
            widest = max([_width(labels.header(col)), *(_width(v) for v in sample if v is not None)])
            ws.column_dimensions[letter].width = max(8, min(48, widest + 2))
            fmt = labels.number_format(col)
            if fmt is not None:
                for cell in ws[letter][1:]:
                    cell.number_format = fmt
        ws.auto_filter.ref = ws.dimensions
    wb.save(path)
