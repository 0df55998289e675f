"""Write result tables in the format named by the file extension (.parquet, .csv, .jsonl).

CSV starts with a UTF-8 byte-order mark by default: Excel (the tool bureaus and hospitals open
CSVs with) reads a BOM-less UTF-8 file as the local code page and garbles Chinese. Programs and
pipes that do not expect a BOM get `bom=False` (the commands' `--no-bom`).
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from grouper.errors import InputError

FORMATS = (".parquet", ".csv", ".jsonl")


def output_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise InputError(f"{path}: unknown output format {suffix or '(none)'!r}; "
                         f"use one of {', '.join(FORMATS)}")
    return suffix


def flatten_lists(frame: pl.DataFrame) -> pl.DataFrame:
    """CSV has no lists: list columns become `|`-separated strings (contracts §1)."""
    return frame.with_columns(
        pl.col(c).list.join("|") for c, t in frame.schema.items()
        if isinstance(t, pl.List) and t.inner == pl.String)


def write_table(frame: pl.DataFrame, path: Path, *, bom: bool = True) -> None:
    fmt = output_format(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == ".parquet":
        frame.write_parquet(path)
    elif fmt == ".csv":
        flatten_lists(frame).write_csv(path, include_bom=bom)
    else:
        frame.write_ndjson(path)
