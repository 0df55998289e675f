"""Structure of a CSV file's lines, found before polars parses it.

A record is well formed when it has as many fields as the header and its quotes follow RFC 4180
(a field is either unquoted without any `"`, or wholly quoted with `""` for a quote inside; a
quoted field may span lines). A blank line is a record too (polars reads it as a row of nulls,
which ingestion reports as missing fields). Anything else — an extra or a missing field, a
stray quote inside a field, a quote left open — is a *malformed line*: it becomes a row problem
(I112) with its line number and the rest of the file goes on. A quote left open is followed for
at most `MAX_JOINED_LINES` lines; when it does not close into a well-formed record there, only
its first line is malformed and the scan goes on from the next line. A quote that does close into
a record of the right width is still a stray quote when one of the lines it spans holds, on its
own, a whole record's separators (a line break inside a cell leaves each part short; a quote
swallowing whole rows does not).

The scan reads the file once in binary, line by line (two byte counts per line without quotes),
and stops as soon as the row cap is passed, so a huge file is refused before it is parsed.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

MAX_JOINED_LINES = 10  # physical lines one quoted record may span
QUOTED = re.compile(rb'"(?:[^"]|"")*"')


@dataclass(frozen=True)
class BadLine:
    record: int  # position among the data records (0-based, the row's `_row`)
    line: int  # physical line number in the file (1-based; the header is line 1)
    reason: str  # bilingual: 字段数 4 ≠ 表头 3 / 4 fields, the header has 3
    first_field: str | None  # the line's first field as written (a case id hint), or None


@dataclass
class LineScan:
    header: list[str]
    records: int = 0  # data records, well formed and malformed
    bad: list[BadLine] = field(default_factory=list)
    too_many: bool = False  # stopped at the row cap

    @property
    def bad_lines(self) -> set[int]:
        return {b.line for b in self.bad}


def _record_pattern(sep: bytes) -> re.Pattern[bytes]:
    s = re.escape(sep)
    one = rb'(?:[^"' + s + rb'\r\n]*|"(?:[^"]|"")*")'
    return re.compile(one + rb"(?:" + s + one + rb")*")


def _fields(record: bytes, sep: str) -> list[str]:
    text = record.decode("utf-8", errors="replace")
    return next(csv.reader(io.StringIO(text, newline=""), delimiter=sep), [])


def _strip_eol(line: bytes) -> bytes:
    return line.rstrip(b"\r\n")


def _first_field(line: bytes, sep: bytes) -> str | None:
    head = _strip_eol(line).split(sep, 1)[0].strip().strip(b'"').strip()
    return head.decode("utf-8", errors="replace") or None


def _lines(path: Path) -> Iterator[bytes]:
    with path.open("rb") as fh:
        yield from fh


def scan(path: Path, separator: str, *, max_rows: int = 0) -> LineScan:
    """Lines of a UTF-8 CSV file: the header, the record count and the malformed lines."""
    sep = separator.encode()
    quote = b'"'
    pattern = _record_pattern(sep)
    lines = _lines(path)
    first = next(lines, b"")
    header = _fields(first.removeprefix(b"\xef\xbb\xbf"), separator)
    out = LineScan(header=header)
    width = len(header)
    commas = width - 1
    pending: list[bytes] = []  # lines looked ahead while following an open quote
    number = 1  # physical line number of the line being looked at

    def next_line() -> bytes | None:
        if pending:
            return pending.pop(0)
        return next(lines, None)

    while (line := next_line()) is not None:
        number += 1
        if max_rows and out.records >= max_rows:
            out.too_many = True
            return out
        if quote not in line:
            n = line.count(sep)
            if n != commas and _strip_eol(line):
                out.bad.append(BadLine(out.records, number, _count_reason(n + 1, width),
                                       _first_field(line, sep)))
            out.records += 1
            continue
        body = _strip_eol(line)
        joined = [line]
        if line.count(quote) % 2:  # a quote left open: follow it over the next lines
            while len(joined) < MAX_JOINED_LINES:
                more = next_line()
                if more is None:
                    break
                joined.append(more)
                if more.count(quote) % 2:
                    break
            body = _strip_eol(b"".join(joined))
        reason = "引号不配对或字段内有引号 / stray or unclosed quote"
        if pattern.fullmatch(body):
            n = QUOTED.sub(b"", body).count(sep) + 1  # separators outside quoted fields
            # a quote over lines that each hold a whole record's separators is a stray quote
            # swallowing rows, not a cell with a line break
            swallows = len(joined) > 1 and any(x.count(sep) == commas for x in joined)
            if n == width and not swallows:
                out.records += 1
                number += len(joined) - 1
                continue
            if n != width:
                reason = _count_reason(n, width)
        pending[:0] = joined[1:]  # only the first line is malformed; the others are read again
        out.bad.append(BadLine(out.records, number, reason, _first_field(line, sep)))
        out.records += 1
    return out


def _count_reason(n: int, width: int) -> str:
    return f"字段数 {n} ≠ 表头 {width} / {n} fields, the header has {width}"


def write_good_lines(path: Path, bad_lines: set[int], target: Path) -> None:
    """Copy the file without its malformed physical lines (line numbers 1-based)."""
    with path.open("rb") as src, target.open("wb") as dst:
        for number, line in enumerate(src, 1):
            if number not in bad_lines:
                dst.write(line)
