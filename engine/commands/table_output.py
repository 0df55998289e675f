"""Tables for people: the options and writers every command shares for what it prints or writes.

- A terminal table fits the terminal: no line is wider than it (`COLUMNS`, else the terminal's
  size; piped output without `COLUMNS` is not cut). Long cells end in `…`; columns that do not
  fit even at a readable minimum are left out and named on a last line.
- `--format csv|json|xlsx` (and `--out FILE`) give the whole result for programs and Excel: CSV
  (to a file with a UTF-8 BOM for Excel, to stdout without), JSON lines, or an .xlsx workbook.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Callable
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import click
import polars as pl
from rich.cells import cell_len
from rich.console import Console
from rich.table import Column, Table

BOM_OPTION = click.option(
    "--bom/--no-bom", default=True, show_default=True,
    help="CSV output: begin with a UTF-8 BOM so Excel shows Chinese (带 BOM 供 Excel 打开); "
         "--no-bom for programs and pipes")

FORMATS = ("table", "csv", "json", "xlsx")
SUFFIX_FORMATS = {".csv": "csv", ".json": "json", ".jsonl": "json", ".ndjson": "json",
                  ".xlsx": "xlsx"}
MIN_COLUMN = 16  # a wider column shrinks to no less than this; narrower ones are never cut
F = TypeVar("F", bound=Callable[..., Any])


def format_options(func: F) -> F:
    """`--format table|csv|json|xlsx` and `--out FILE` (the format follows FILE's extension when
    `--format` is not given)."""
    func = click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path),
                        default=None,
                        help="write the result to this file (.csv with a BOM for Excel, .json "
                             "lines, .xlsx) instead of printing it")(func)
    return click.option("--format", "fmt", type=click.Choice(FORMATS), default=None,
                        help="table (default on a terminal), csv, json (JSON lines) or xlsx "
                             "(needs --out); 输出格式")(func)


def resolve_format(fmt: str | None, out: Path | None) -> str:
    if fmt is None:
        if out is None:
            return "table"
        fmt = SUFFIX_FORMATS.get(out.suffix.lower())
        if fmt is None:
            raise click.UsageError(f"--out {out.name}: say --format csv|json|xlsx or use a "
                                   f".csv, .jsonl or .xlsx name")
    if fmt == "table" and out is not None:
        raise click.UsageError("--out writes csv, json or xlsx; a table is printed")
    if fmt == "xlsx" and out is None:
        raise click.UsageError("--format xlsx needs --out FILE.xlsx (a workbook is not text)")
    return fmt


def terminal_width() -> int | None:
    """Columns to fit: `COLUMNS`, else the terminal's; None when piped without `COLUMNS`."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    if sys.stdout.isatty():
        return shutil.get_terminal_size().columns
    return None


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return "|".join(_text(v) for v in value)
    return str(value).replace("\n", " ")


def _fit(natural: list[int], minimum: list[int], room: int) -> list[int]:
    """Widths ≤ natural summing to ≤ room: the widest shrink first, none below its minimum."""
    if sum(natural) <= room:
        return natural
    lo, hi = 0, max(natural)
    while lo < hi:  # the largest cap whose widths still fit
        cap = (lo + hi + 1) // 2
        if sum(min(n, max(cap, m)) for n, m in zip(natural, minimum, strict=True)) <= room:
            lo = cap
        else:
            hi = cap - 1
    return [min(n, max(lo, m)) for n, m in zip(natural, minimum, strict=True)]


def _hidden_note(hidden: list[str], width: int | None) -> str:
    """`… 3 more columns: a, b, … (…)` within the width."""
    tail = " (wider terminal, or --format csv|json|xlsx)"
    head = f"… {len(hidden)} more column{'s' if len(hidden) > 1 else ''}: "
    names = ", ".join(hidden)
    if width is not None and cell_len(head + "…" + tail) > width:
        return head.removesuffix(": ")
    if width is not None and cell_len(head + names + tail) > width:
        room = max(width - cell_len(head + tail) - 3, 0)
        shown: list[str] = []
        for name in hidden:
            if cell_len(", ".join([*shown, name])) > room:
                break
            shown.append(name)
        names = ", ".join([*shown, "…"]) if shown else "…"
    return head + names + tail


def print_table(frame: pl.DataFrame, *, limit: int | None = None, title: str | None = None,
                width: int | None = None) -> None:
    """A frame as a rich table (first `limit` rows) that fits the terminal."""
    width = width if width is not None else terminal_width()
    shown = frame if limit is None else frame.head(limit)
    headers = list(frame.columns)
    rows = [[_text(v) for v in row] for row in shown.iter_rows()]
    natural = [max([cell_len(h), *(cell_len(r[i]) for r in rows)], default=1) or 1
               for i, h in enumerate(headers)]
    minimum = [min(n, MIN_COLUMN) for n in natural]
    keep = len(headers)
    if width is not None:  # a box table takes 3 cells per column and 1 more
        keep = 0
        while keep < len(headers) and sum(minimum[:keep + 1]) + 3 * (keep + 1) + 1 <= width:
            keep += 1
        keep = max(keep, 1)
    room = (width - 3 * keep - 1) if width is not None else sum(natural[:keep])
    widths = _fit(natural[:keep], minimum[:keep], max(room, keep))
    table = Table(*(Column(h, width=w, no_wrap=True, overflow="ellipsis")
                    for h, w in zip(headers[:keep], widths, strict=True)), title=title)
    for row in rows:
        table.add_row(*row[:keep])
    total = sum(widths) + 3 * keep + 1
    console = Console(width=max(total, width or 0), soft_wrap=False, highlight=False)
    console.print(table)
    if keep < len(headers):
        click.echo(_hidden_note(headers[keep:], width))
    if limit is not None and frame.height > limit:
        click.echo(f"… {frame.height - limit:,} more rows")


def _cell(value: Any) -> Any:
    """A value as an Excel cell: numbers, text and naive dates; Decimal stays exact."""
    if value is None or isinstance(value, bool | int | float | Decimal | str | date | time):
        if isinstance(value, datetime) and value.tzinfo is not None:
            return value.replace(tzinfo=None)
        return value
    if isinstance(value, list | tuple):
        return "|".join(_text(v) for v in value)
    return json.dumps(value, ensure_ascii=False, default=str)


def _scalars(frame: pl.DataFrame) -> pl.DataFrame:
    """CSV has no lists or structs: lists `|`-joined, structs as JSON text."""
    exprs = []
    for column, dtype in frame.schema.items():
        if isinstance(dtype, pl.List | pl.Array):
            exprs.append(pl.col(column).cast(pl.List(pl.String)).list.join("|"))
        elif isinstance(dtype, pl.Struct | pl.Object):
            exprs.append(pl.col(column).map_elements(
                lambda v: json.dumps(v, ensure_ascii=False, default=str),
                return_dtype=pl.String))
    return frame.with_columns(exprs) if exprs else frame


def write_xlsx(frame: pl.DataFrame, path: Path, *, sheet: str = "result") -> None:
    from openpyxl import Workbook  # type: ignore[import-untyped]
    from openpyxl.utils import get_column_letter  # type: ignore[import-untyped]

    wb = Workbook()
    ws = wb.active
    ws.title = sheet[:31]
    ws.append(frame.columns)
    for row in frame.iter_rows():
        ws.append([_cell(v) for v in row])
    ws.freeze_panes = "A2"
    for i, column in enumerate(frame.columns, start=1):
        sample = [cell_len(_text(v)) for v in frame[column].head(200).to_list()]
        ws.column_dimensions[get_column_letter(i)].width = max(8, min(48, max(
            [cell_len(column), *sample]) + 2))
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)


def emit(frame: pl.DataFrame, fmt: str | None, out: Path | None, *, limit: int | None = None,
         title: str | None = None, sheet: str = "result") -> None:
    """Print or write `frame` as the user asked (see `format_options`). `limit` cuts the table
    (and whatever the command's own `--limit` cuts); files get every row given."""
    fmt = resolve_format(fmt, out)
    if fmt == "table":
        print_table(frame, limit=limit, title=title)
        return
    if fmt == "xlsx":
        assert out is not None
        write_xlsx(frame, out, sheet=sheet)
    elif fmt == "csv":
        flat = _scalars(frame)
        if out is None:
            click.echo(flat.write_csv(), nl=False)
        else:
            out.parent.mkdir(parents=True, exist_ok=True)
            flat.write_csv(out, include_bom=True)  # a file is for Excel
    else:
        lines = [json.dumps(row, ensure_ascii=False, default=str) for row in frame.iter_rows(
            named=True)]
        text = "".join(line + "\n" for line in lines)
        if out is None:
            click.echo(text, nl=False)
        else:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(text, encoding="utf-8")
    if out is not None:
        click.echo(f"wrote {frame.height:,} rows to {out}", err=True)
