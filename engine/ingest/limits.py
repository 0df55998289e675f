"""What one case file may be: row and size caps, and the share of malformed CSV lines tolerated.

Defaults come from settings (`DRGDIP_INGEST_*`, engine/settings.py); a command's option
(`--max-bad-lines`) or the service (its job row limit) overrides them for its reads. Caps are
checked before the full parse: the file size from the file system, CSV rows while the lines are
scanned, xlsx rows from the sheet's declared dimension and its uncompressed size, then while rows
are read (never more than the cap plus one).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any


@dataclass(frozen=True)
class IngestLimits:
    max_rows: int = 0  # data rows of any file (0: no limit)
    max_bytes: int = 0  # file size, and an xlsx sheet's uncompressed size (0: no limit)
    xlsx_max_rows: int = 100_000  # data rows of an .xlsx (0: no limit); CSV/Parquet for more
    max_bad_line_share: float = 0.10  # malformed CSV lines kept as row problems up to this share
    rows_setting: str = "DRGDIP_INGEST_MAX_ROWS"  # named when `max_rows` refuses a file

    def with_(self, **changes: Any) -> IngestLimits:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def with_max_rows(self, rows: int, setting: str) -> IngestLimits:
        """The tighter of this row cap and `rows` (0: none), named by its setting."""
        if rows and (not self.max_rows or rows < self.max_rows):
            return replace(self, max_rows=rows, rows_setting=setting)
        return self

    def rows_for_xlsx(self) -> int:
        caps = [c for c in (self.max_rows, self.xlsx_max_rows) if c > 0]
        return min(caps) if caps else 0


_overrides: dict[str, Any] = {}


def configure(**changes: Any) -> None:
    """Process-wide overrides of the settings (a CLI option); None leaves a value alone."""
    _overrides.update({k: v for k, v in changes.items() if v is not None})


def current() -> IngestLimits:
    """The settings' limits with this process's overrides."""
    from engine.settings import get_settings

    s = get_settings()
    base = IngestLimits(max_rows=s.ingest_max_rows, max_bytes=s.ingest_max_bytes,
                        xlsx_max_rows=s.ingest_xlsx_max_rows,
                        max_bad_line_share=s.ingest_max_bad_line_share)
    return base.with_(**_overrides)


def parse_share(text: str) -> float:
    """`0.05`, `5%` → 0.05; a value outside 0…1 is a ValueError."""
    t = text.strip()
    value = float(t[:-1]) / 100 if t.endswith("%") else float(t)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{text!r} is not a share between 0 and 1 (or 0% and 100%)")
    return value
