"""Read a claim file into a raw frame: Parquet, CSV (UTF-8, UTF-8 BOM, GB18030), JSONL, xlsx.

CSV and Excel cells are read as text and typed later (coercion reports bad cells per row);
Parquet and JSONL keep their own types. A file that cannot be read at all raises
`InputError` with a one-line reason.
"""

from __future__ import annotations

import codecs
import datetime as dt
import json
import tempfile
from pathlib import Path
from typing import Any

import polars as pl

from grouper.errors import InputError

CSV_SUFFIXES = (".csv", ".txt", ".tsv")
PARQUET_SUFFIXES = (".parquet", ".pq")
JSONL_SUFFIXES = (".jsonl", ".ndjson")
EXCEL_SUFFIXES = (".xlsx", ".xlsm")
TRANSCODE_CHUNK = 8 << 20  # bytes per step when re-encoding GB18030 to UTF-8


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def read_raw(path: Path) -> pl.DataFrame:
    """The file's table as polars reads it, before aliases and types."""
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, expected a case file")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: empty file")
    suffix = path.suffix.lower()
    if suffix in PARQUET_SUFFIXES:
        reader = _read_parquet
    elif suffix in CSV_SUFFIXES:
        reader = _read_csv
    elif suffix in JSONL_SUFFIXES:
        reader = _read_jsonl
    elif suffix in EXCEL_SUFFIXES:
        reader = _read_excel
    elif suffix == ".xls":
        raise InputError(f"{path}: legacy .xls is not read; save the sheet as .xlsx or CSV")
    else:
        raise InputError(f"{path}: unknown case file format {suffix or '(none)'!r}; use .parquet, "
                         ".csv, .jsonl or .xlsx")
    frame = reader(path)
    if frame.width == 0:
        raise InputError(f"{path}: no columns")
    return frame


def _read_parquet(path: Path) -> pl.DataFrame:
    try:
        return pl.read_parquet(path)
    except (Exception, pl.exceptions.PanicException) as exc:  # several types for corrupt files
        raise InputError(f"{path}: not a readable Parquet file ({_one_line(exc)})") from exc


def _csv(source: Path, separator: str) -> pl.DataFrame:
    return pl.read_csv(source, infer_schema=False, separator=separator, encoding="utf8",
                       truncate_ragged_lines=False)


def _is_utf8(path: Path) -> bool:
    decoder = codecs.getincrementaldecoder("utf-8")()
    with path.open("rb") as fh:
        while chunk := fh.read(TRANSCODE_CHUNK):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError:
                return False
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _read_csv(path: Path) -> pl.DataFrame:
    separator = "\t" if path.suffix.lower() == ".tsv" else ","
    try:
        if _is_utf8(path):  # a UTF-8 BOM is kept in the first header and stripped with aliases
            return _csv(path, separator)
        # Chinese hospital exports are often GB18030 (a superset of GBK/GB2312): re-encode in
        # steps to a temporary UTF-8 file so memory stays bounded.
        with tempfile.NamedTemporaryFile(suffix=".csv") as tmp:
            decoder = codecs.getincrementaldecoder("gb18030")()
            with path.open("rb") as fh:
                try:
                    while chunk := fh.read(TRANSCODE_CHUNK):
                        tmp.write(decoder.decode(chunk).encode("utf-8"))
                    tmp.write(decoder.decode(b"", final=True).encode("utf-8"))
                except UnicodeDecodeError as exc:
                    raise InputError(f"{path}: text is neither UTF-8 nor GB18030 "
                                     f"(bad byte at offset {exc.start})") from exc
            tmp.flush()
            return _csv(Path(tmp.name), separator)
    except InputError:
        raise
    except (Exception, pl.exceptions.PanicException) as exc:
        raise InputError(f"{path}: not a readable CSV file ({_one_line(exc)})") from exc


def _text(value: Any) -> Any:
    """Scalars as text (types are decided by coercion), lists kept as lists of text."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, list):
        return [None if v is None else str(v) for v in value]
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _columns_of(path: Path, header: list[Any], rows: list[list[Any]]) -> pl.DataFrame:
    names = [str(h).strip() if h is not None else "" for h in header]
    if not any(names):
        raise InputError(f"{path}: no header row")
    dupes = sorted({n for n in names if n and names.count(n) > 1})
    if dupes:
        raise InputError(f"{path}: repeated column header(s): {', '.join(dupes)}")
    data: dict[str, list[Any]] = {}
    for i, name in enumerate(names):
        if not name:
            continue
        data[name] = [_text(r[i]) if i < len(r) else None for r in rows]
    return pl.DataFrame(data, strict=False, infer_schema_length=None)


def _read_jsonl(path: Path) -> pl.DataFrame:
    try:
        frame = pl.read_ndjson(path, infer_schema_length=None)
    except (pl.exceptions.PolarsError, ValueError, pl.exceptions.PanicException):
        return _read_jsonl_as_text(path)  # mixed types across rows (1 and "男" for sex)
    # polars turns a list or object in a text column into its JSON text ('["I10.x00"]' next to
    # "I10.x00"): such a file is read again cell by cell so nothing is silently stringified
    text_cols = [c for c, t in frame.schema.items() if t == pl.String]
    if text_cols and frame.select(pl.any_horizontal(
            pl.col(c).str.strip_chars_start().str.contains(r"^[\[{]").any()
            for c in text_cols)).item():
        return _read_jsonl_as_text(path)
    return frame


def _read_jsonl_as_text(path: Path) -> pl.DataFrame:
    records: list[dict[str, Any]] = []
    with path.open(encoding="utf-8-sig") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"{path}: line {n} is not JSON ({exc.msg})") from exc
            if not isinstance(rec, dict):
                raise InputError(f"{path}: line {n} is not a JSON object")
            records.append(rec)
    if not records:
        raise InputError(f"{path}: no records")
    header = list(dict.fromkeys(k for r in records for k in r))
    return _json_columns(header, records)


TYPE_ERRORS = "_type_error"  # per row: the headers whose cell had the wrong JSON type


def _is_codes_header(name: str) -> bool:
    from engine.ingest.fields import ALIASES, BY_NAME, header_key

    target = ALIASES.get(header_key(name))
    return target is not None and BY_NAME[target].kind == "codes"


def _codes_cell(value: Any) -> tuple[list[str] | None, bool]:
    """A code-list cell read per row: a list of codes or one separated string; (cell, bad)."""
    import re

    from engine.ingest.coerce import CODE_SEPARATORS

    if value is None:
        return None, False
    if isinstance(value, list):
        if any(isinstance(v, (list, dict)) for v in value):
            return None, True
        return [_text(v) if v is not None else None for v in value], False  # type: ignore[misc]
    if isinstance(value, dict):
        return None, True
    return re.split(CODE_SEPARATORS, _text(value)), False


def _json_columns(header: list[str], records: list[dict[str, Any]]) -> pl.DataFrame:
    """JSON records → columns read per cell: scalars as text, code lists as lists (a string of
    separated codes is split), a list/object elsewhere a null cell named in `_type_error`."""
    data: dict[str, Any] = {}
    wrong: list[list[str]] = [[] for _ in records]
    for name in header:
        cells = [r.get(name) for r in records]
        if _is_codes_header(name):
            col: list[Any] = []
            for i, v in enumerate(cells):
                cell, bad = _codes_cell(v)
                col.append(cell)
                if bad:
                    wrong[i].append(name)
            data[name] = pl.Series(name, col, dtype=pl.List(pl.String))
        else:
            col = []
            for i, v in enumerate(cells):
                if isinstance(v, (list, dict)):
                    col.append(None)
                    wrong[i].append(name)
                else:
                    col.append(_text(v))
            data[name] = pl.Series(name, col, dtype=pl.String)
    frame = pl.DataFrame(data)
    if any(wrong):
        frame = frame.with_columns(pl.Series(TYPE_ERRORS, ["\t".join(w) or None for w in wrong],
                                             dtype=pl.String))
    return frame


def _read_excel(path: Path) -> pl.DataFrame:
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:
        raise InputError(f"{path}: not a readable .xlsx workbook ({_one_line(exc)})") from exc
    try:
        sheet = book.worksheets[0]
        rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    finally:
        book.close()
    rows = [r for r in rows if any(v is not None and v != "" for v in r)]
    if not rows:
        raise InputError(f"{path}: the first sheet is empty")
    return _columns_of(path, rows[0], rows[1:])
