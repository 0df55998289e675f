"""The vectorised line scan (`engine.ingest.csv_lines.scan`) against a plain line-by-line
reading of the same rules, on random files of separators, quotes, line breaks and blank lines,
with chunks small enough that lines and quoted records straddle chunk boundaries."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.ingest import csv_lines
from engine.ingest.csv_lines import (
    MAX_JOINED_LINES,
    QUOTED,
    BadLine,
    LineScan,
    _count_reason,
    _fields,
    _first_field,
    _record_pattern,
    _strip_eol,
)


def _lines(path: Path) -> Iterator[bytes]:
    with path.open("rb") as fh:
        yield from fh


def reference_scan(path: Path, separator: str, *, max_rows: int = 0) -> LineScan:
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
            swallows = len(joined) > 1 and 0 < commas <= body.count(sep) - (n - 1)
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


CELLS = st.sampled_from(["a", "", '"', '""', '"x,y"', '"a\nb"', "a\"b", "\r", "Z" * 30, "中"])
LINES = st.lists(st.lists(CELLS, min_size=0, max_size=5).map(",".join), max_size=40)


@settings(max_examples=300, deadline=None)
@given(header=st.integers(1, 4), lines=LINES, chunk=st.sampled_from([1, 7, 64, 1 << 20]),
       newline_at_end=st.booleans())
def test_vectorised_scan_equals_the_line_by_line_reading(header: int, lines: list[str],
                                                          chunk: int,
                                                          newline_at_end: bool) -> None:
    text = ",".join(f"h{i}" for i in range(header)) + "\n" + "\n".join(lines)
    if newline_at_end and lines:
        text += "\n"
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "c.csv"
        path.write_bytes(text.encode("utf-8"))
        want = reference_scan(path, ",")
        old = csv_lines.CHUNK
        csv_lines.CHUNK = chunk
        try:
            got = csv_lines.scan(path, ",")
        finally:
            csv_lines.CHUNK = old
    assert (got.records, got.bad) == (want.records, want.bad), text
