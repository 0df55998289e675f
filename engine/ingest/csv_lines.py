"""Structure of a CSV file's lines, found before polars parses it.

A record is well formed when it has as many fields as the header and its quotes follow RFC 4180
(a field is either unquoted without any `"`, or wholly quoted with `""` for a quote inside; a
quoted field may span lines). A blank line is a record too (polars reads it as a row of nulls,
which ingestion reports as missing fields). Anything else — an extra or a missing field, a
stray quote inside a field, a quote left open — is a *malformed line*: it becomes a row problem
(I112) with its line number and the rest of the file goes on. A quote left open is followed for
at most `MAX_JOINED_LINES` lines; when it does not close into a well-formed record there, only
its first line is malformed and the scan goes on from the next line. A quote that does close into
a record of the right width is still a stray quote when its quoted text spans lines and holds a
whole record's separators (a cell with a line break holds few; a quote swallowing rows holds
theirs).

The scan counts separators and quotes per line with numpy over the mapped file in 16 MB steps
(stopping once the row cap is surely passed, so a huge file is refused before it is parsed) and
looks one by one only at the lines with a quote, a wrong separator count or nothing on them.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

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


CHUNK = 16 << 20  # bytes per step of the vectorised line statistics


@dataclass
class _Lines:
    """Per physical line, for the lines that need a look (a quote, a wrong separator count,
    or blank): global line index, start and end offsets, separators, quotes."""

    index: list[np.ndarray] = field(default_factory=list)
    start: list[np.ndarray] = field(default_factory=list)
    end: list[np.ndarray] = field(default_factory=list)
    seps: list[np.ndarray] = field(default_factory=list)
    quotes: list[np.ndarray] = field(default_factory=list)
    total: int = 0  # physical lines

    def arrays(self) -> tuple[np.ndarray, ...]:
        def cat(parts: list[np.ndarray]) -> np.ndarray:
            return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
        return (cat(self.index), cat(self.start), cat(self.end), cat(self.seps),
                cat(self.quotes))


def _line_stats(data: np.ndarray, base: int, first_line: int, commas: int, sep: int,
                out: _Lines, *, final: bool) -> int:
    """Add the lines of one chunk (ending at a newline, or at the end of the file)."""
    nl = np.flatnonzero(data == 10)
    ends = nl if not final or (len(data) and data[-1] == 10) else np.append(nl, len(data))
    if not len(ends):
        return 0
    starts = np.concatenate(([0], nl[: len(ends) - 1] + 1))
    seps = np.bincount(np.searchsorted(ends, np.flatnonzero(data == sep)),
                       minlength=len(ends))[: len(ends)]
    quotes = np.bincount(np.searchsorted(ends, np.flatnonzero(data == 34)),
                         minlength=len(ends))[: len(ends)]
    length = ends - starts
    cr = data[np.maximum(ends - 1, 0)] == 13
    blank = (length == 0) | ((length == 1) & cr)
    look = (quotes > 0) | ((seps != commas) & ~blank) | blank
    pick = np.flatnonzero(look)
    out.index.append(pick + first_line)
    out.start.append(starts[pick] + base)
    out.end.append(ends[pick] + base)
    out.seps.append(seps[pick])
    out.quotes.append(quotes[pick])
    return len(ends)


def scan(path: Path, separator: str, *, max_rows: int = 0) -> LineScan:
    """Lines of a UTF-8 CSV file: the header, the record count and the malformed lines.

    Line statistics (separators and quotes per line) are counted with numpy over the mapped
    file; only lines with a quote, a wrong separator count or nothing on them are looked at
    one by one (regular expressions), so a clean file costs about one pass of byte counts."""
    import mmap

    sep = separator.encode()
    with path.open("rb") as fh:
        header_line = fh.readline()
    header = _fields(_strip_eol(header_line.removeprefix(b"\xef\xbb\xbf")), separator)
    out = LineScan(header=header)
    width = len(header)
    commas = width - 1
    size = path.stat().st_size
    lines = _Lines()
    with path.open("rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        pos, number = len(header_line), 1  # line 0 is the header
        odd = 0
        while pos < size:
            stop = mm.rfind(b"\n", pos, min(pos + CHUNK, size))
            final = stop < 0 or pos + CHUNK >= size
            end = size if final else stop + 1
            data = np.frombuffer(mm, dtype=np.uint8, count=end - pos, offset=pos)
            number += _line_stats(data, pos, number, commas, sep[0], lines, final=final)
            del data
            if max_rows:  # a join folds at most MAX_JOINED_LINES - 1 lines into one record
                odd += int((lines.quotes[-1] % 2 == 1).sum()) if lines.quotes else 0
                if (number - 1) - (MAX_JOINED_LINES - 1) * odd > max_rows:
                    out.too_many = True
                    return out
            pos = end
        out.records = _look(mm, lines, number, width, sep, separator, out.bad)
    if max_rows and out.records > max_rows:
        out.too_many = True
    return out


def _look(mm: object, lines: _Lines, total: int, width: int, sep: bytes, separator: str,
          bad: list[BadLine]) -> int:
    """The lines worth a look, in order: malformed ones into `bad`; the record count."""
    from bisect import bisect_left, bisect_right

    arrays = lines.arrays()
    odd_lines = arrays[0][arrays[4] % 2 == 1].tolist()
    index, start, end, seps, quotes = (x.tolist() for x in arrays)  # plain ints: fast access
    commas = width - 1
    pattern = _record_pattern(sep)
    data = memoryview(mm)  # type: ignore[arg-type]
    shift = 0  # lines folded into the records before (quoted fields over lines)
    consumed = 0  # last line index inside a joined record
    for k, i in enumerate(index):
        if i <= consumed:
            continue
        record = i - 1 - shift
        line = first = bytes(data[start[k]:end[k] + 1])
        if quotes[k] == 0:
            if seps[k] != commas and _strip_eol(line):
                bad.append(BadLine(record, i + 1, _count_reason(seps[k] + 1, width),
                                   _first_field(line, sep)))
            continue
        j = i
        if quotes[k] % 2:  # a quote left open: the next line with an odd count may close it
            at = bisect_right(odd_lines, i)
            if at == len(odd_lines) or odd_lines[at] - i + 1 > MAX_JOINED_LINES:
                bad.append(BadLine(record, i + 1, QUOTE_REASON, _first_field(line, sep)))
                continue
            j = odd_lines[at]
            kj = bisect_left(index, j, lo=k)
            line = bytes(data[start[k]:end[kj] + 1])
        body = _strip_eol(line)
        reason = QUOTE_REASON
        if pattern.fullmatch(body):
            n = QUOTED.sub(b"", body).count(sep) + 1  # separators outside quoted fields
            # quoted text over lines holding a whole record's separators is a stray quote
            # swallowing rows, not a cell with a line break
            swallows = j > i and 0 < commas <= body.count(sep) - (n - 1)
            if n == width and not swallows:
                shift += j - i
                consumed = j
                continue
            if n != width:
                reason = _count_reason(n, width)
        bad.append(BadLine(record, i + 1, reason, _first_field(first, sep)))
    return total - 1 - shift


QUOTE_REASON = "引号不配对或字段内有引号 / stray or unclosed quote"


def _count_reason(n: int, width: int) -> str:
    return f"字段数 {n} ≠ 表头 {width} / {n} fields, the header has {width}"


def write_good_lines(path: Path, bad_lines: set[int], target: Path) -> None:
    """Copy the file without its malformed physical lines (line numbers 1-based)."""
    with path.open("rb") as src, target.open("wb") as dst:
        for number, line in enumerate(src, 1):
            if number not in bad_lines:
                dst.write(line)
