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

import numpy as np
import polars as pl

from engine.ingest import csv_lines, xlsx_caps
from engine.ingest.limits import IngestLimits
from engine.ingest.limits import current as current_limits
from grouper.errors import InputError

CSV_SUFFIXES = (".csv", ".txt", ".tsv")
PARQUET_SUFFIXES = (".parquet", ".pq")
JSONL_SUFFIXES = (".jsonl", ".ndjson")
EXCEL_SUFFIXES = (".xlsx", ".xlsm")
TRANSCODE_CHUNK = 8 << 20  # bytes per step when re-encoding GB18030 to UTF-8


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def read_raw(path: Path, limits: IngestLimits | None = None) -> pl.DataFrame:
    """The file's table as polars reads it, before aliases and types.

    `limits` (default: settings, `engine.ingest.limits.current()`): size and row caps checked
    before the full parse, and the share of malformed CSV lines kept as row problems."""
    limits = limits or current_limits()
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, expected a case file")
    size = path.stat().st_size
    if size == 0:
        raise InputError(f"{path}: empty file")
    if limits.max_bytes and size > limits.max_bytes:
        raise InputError(f"{path}: 文件过大 / the file is {size:,} bytes; the limit is "
                         f"{limits.max_bytes:,} (DRGDIP_INGEST_MAX_BYTES); split the file")
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
    frame = reader(path, limits)
    if frame.width == 0:
        raise InputError(f"{path}: no columns")
    return frame


def _too_many_rows(path: Path, rows: str, limit: int, setting: str) -> InputError:
    return InputError(f"{path}: 文件行数超过上限 / the file has {rows} rows; the limit is "
                      f"{limit:,} ({setting}); split the file")


def _read_parquet(path: Path, limits: IngestLimits) -> pl.DataFrame:
    if limits.max_rows:
        import pyarrow.parquet as pq

        try:
            rows = pq.ParquetFile(path).metadata.num_rows
        except Exception:  # noqa: BLE001  (unreadable: the read below says so)
            rows = 0
        if rows > limits.max_rows:
            raise _too_many_rows(path, f"{rows:,}", limits.max_rows, limits.rows_setting)
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


def _read_csv(path: Path, limits: IngestLimits) -> pl.DataFrame:
    separator = "\t" if path.suffix.lower() == ".tsv" else ","
    try:
        if _is_utf8(path):  # a UTF-8 BOM is kept in the first header and stripped with aliases
            return _read_utf8_csv(path, path, separator, limits)
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
            return _read_utf8_csv(Path(tmp.name), path, separator, limits)
    except InputError:
        raise
    except (Exception, pl.exceptions.PanicException) as exc:
        raise InputError(f"{path}: not a readable CSV file ({_one_line(exc)})") from exc


LINE_ERRORS = "_line_error"  # per row: why its CSV line is malformed (csv_lines), else null
FIRST_BAD_LINES = 5  # malformed lines named when a file has too many


def _read_utf8_csv(text_path: Path, path: Path, separator: str,
                   limits: IngestLimits) -> pl.DataFrame:
    """Scan the lines (row cap, malformed lines), then parse the well-formed ones with polars;
    a malformed line becomes a row of nulls with its reason in `_line_error`, in place."""
    scan = csv_lines.scan(text_path, separator, max_rows=limits.max_rows)
    if scan.too_many:
        raise _too_many_rows(path, f"more than {limits.max_rows:,}", limits.max_rows,
                             limits.rows_setting)
    if not scan.bad:
        return _csv(text_path, separator)
    share = len(scan.bad) / scan.records
    if share > limits.max_bad_line_share:
        first = "; ".join(f"line {b.line}: {b.reason}" for b in scan.bad[:FIRST_BAD_LINES])
        raise InputError(
            f"{path}: 格式错误的行过多 / {len(scan.bad):,} of {scan.records:,} lines are "
            f"malformed ({share:.2%}), more than the {limits.max_bad_line_share:.2%} allowed "
            f"(--max-bad-lines, DRGDIP_INGEST_MAX_BAD_LINE_SHARE); first 前几行: {first}")
    with tempfile.NamedTemporaryFile(suffix=".csv") as tmp:
        csv_lines.write_good_lines(text_path, scan.bad_lines, Path(tmp.name))
        good = _csv(Path(tmp.name), separator)
    if good.height != scan.records - len(scan.bad):  # the scan and polars disagree: say so
        raise InputError(f"{path}: not a readable CSV file (expected "
                         f"{scan.records - len(scan.bad):,} well-formed rows, read {good.height:,})")
    bad_pos = [b.record for b in scan.bad]
    good_pos = np.setdiff1d(np.arange(scan.records, dtype=np.int64),
                            np.asarray(bad_pos, dtype=np.int64))
    bad_cols: dict[str, Any] = {
        LINE_ERRORS: pl.Series([f"{b.line} ({b.reason})" for b in scan.bad], dtype=pl.String),
        "_line_pos": pl.Series(bad_pos, dtype=pl.Int64)}
    first_col = good.columns[0] if good.width else None
    if first_col is not None and _is_case_id_header(first_col):
        # the line's first field as written, so the user can find the case
        bad_cols[first_col] = pl.Series([b.first_field for b in scan.bad], dtype=pl.String)
    bad = pl.DataFrame(bad_cols)
    return (pl.concat([good.with_columns(pl.Series("_line_pos", good_pos)), bad],
                      how="diagonal")
            .sort("_line_pos").drop("_line_pos"))


def _is_case_id_header(name: str) -> bool:
    from engine.ingest.fields import ALIASES, header_key

    return ALIASES.get(header_key(name)) == "case_id"


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


def _read_jsonl(path: Path, limits: IngestLimits) -> pl.DataFrame:
    if limits.max_rows:
        rows = _count_lines(path, stop_after=limits.max_rows)
        if rows > limits.max_rows:
            raise _too_many_rows(path, f"more than {limits.max_rows:,}", limits.max_rows,
                                 limits.rows_setting)
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


def _count_lines(path: Path, *, stop_after: int) -> int:
    """Non-blank lines, counting stopped once past `stop_after`."""
    n = 0
    with path.open("rb") as fh:
        for line in fh:
            if line.strip():
                n += 1
                if n > stop_after:
                    break
    return n


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


def _read_excel(path: Path, limits: IngestLimits) -> pl.DataFrame:
    from openpyxl import load_workbook

    cap = limits.rows_for_xlsx()
    setting = ("DRGDIP_INGEST_XLSX_MAX_ROWS" if cap == limits.xlsx_max_rows
               else limits.rows_setting)
    xlsx_caps.check(path, max_rows=cap, max_bytes=limits.max_bytes, setting=setting)
    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:
        raise InputError(f"{path}: not a readable .xlsx workbook ({_one_line(exc)})") from exc
    try:
        sheet = book.worksheets[0]
        # the declared dimension is not trusted for reading: a sheet whose <dimension> says
        # fewer rows than it has would otherwise be cut short in read-only mode
        sheet.reset_dimensions()
        rows = []
        for r in sheet.iter_rows(values_only=True):
            rows.append(list(r))
            if cap and len(rows) > cap + 1:  # the header and `cap` rows: refuse, read no more
                raise _too_many_rows(path, f"more than {cap:,}", cap, setting)
    finally:
        book.close()
    rows = [r for r in rows if any(v is not None and v != "" for v in r)]
    if not rows:
        raise InputError(f"{path}: the first sheet is empty")
    return _columns_of(path, rows[0], rows[1:])
