"""`--ruleset auto`: the ruleset in force on each case's discharge date.

The calendar comes from the manifests' `effective_from`/`effective_to` of the national rulesets
(those without a `base`; a local refinement such as foshan_2022 applies only where a region names
it). A ruleset is in force from its `effective_from` until the day before the next one's (or its
own `effective_to`). A region overrides the calendar with `[(from_date, ruleset), ...]`, e.g. from
its policy. A case without a readable discharge date is not guessed: it gets status `invalid` with
E108. One output row per input row, in order, plus the column `ruleset`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import polars as pl

from grouper.drg import OUTPUT_COLUMNS, group_drg
from grouper.errors import ERROR_MESSAGES, ErrorCode, RulesetError
from grouper.ruleset_files import available_rulesets, read_manifest

AUTO = "auto"


def national_calendar() -> list[tuple[dt.date, dt.date | None, str]]:
    """(from, to or None, ruleset) of the national rulesets, by effective date."""
    rows = []
    for name in available_rulesets():
        m = read_manifest(name)
        if m.base or not m.effective_from:
            continue
        rows.append((dt.date.fromisoformat(m.effective_from),
                     dt.date.fromisoformat(m.effective_to) if m.effective_to else None, name))
    return _close(sorted(rows))


def _close(rows: list[tuple[dt.date, dt.date | None, str]]
           ) -> list[tuple[dt.date, dt.date | None, str]]:
    out = []
    for i, (start, end, name) in enumerate(rows):
        nxt = rows[i + 1][0] - dt.timedelta(days=1) if i + 1 < len(rows) else None
        out.append((start, min(d for d in (end, nxt) if d) if (end or nxt) else None, name))
    return out


def calendar_from(override: Sequence[tuple[str, str]]) -> list[tuple[dt.date, dt.date | None, str]]:
    """A region's calendar `[(from "YYYY-MM-DD", ruleset), ...]` (e.g. from its policy)."""
    known = set(available_rulesets())
    rows = []
    for start, name in override:
        if name not in known:
            raise RulesetError(f"calendar names unknown ruleset={name!r}; available: "
                               f"{', '.join(sorted(known))}")
        rows.append((dt.date.fromisoformat(str(start)), None, name))
    return _close(sorted(rows))


def _discharge_dates(frame: pl.DataFrame) -> pl.Series:
    if "discharge_date" not in frame.columns:
        return pl.Series("d", [None] * frame.height, dtype=pl.Date)
    col = frame["discharge_date"]
    if col.dtype == pl.Date:
        return col
    if col.dtype == pl.Datetime:
        return col.dt.date()
    return col.cast(pl.String).str.strip_chars().str.slice(0, 10).str.to_date(
        "%Y-%m-%d", strict=False)


def rulesets_for(frame: pl.DataFrame, calendar: Sequence[tuple[dt.date, dt.date | None, str]]
                 | None = None) -> pl.Series:
    """The ruleset name per row (null when no discharge date or none in force)."""
    cal = national_calendar() if calendar is None else list(calendar)
    d = _discharge_dates(frame)
    expr = pl.lit(None, pl.String)
    for start, end, name in reversed(cal):
        cond = pl.col("d") >= start
        if end is not None:
            cond = cond & (pl.col("d") <= end)
        expr = pl.when(cond).then(pl.lit(name)).otherwise(expr)
    return pl.DataFrame({"d": d}).select(expr.alias("ruleset")).to_series()


def group_drg_auto(cases: pl.DataFrame, calendar=None, *,
                   translate_codes: bool = False) -> pl.DataFrame:
    """Group each case with the ruleset in force on its discharge date (see module doc)."""
    names = rulesets_for(cases, calendar)
    idx = pl.Series("_i", range(cases.height), dtype=pl.UInt32)
    parts = []
    for name in names.drop_nulls().unique().sort().to_list():
        mask = names == name
        part = group_drg(cases.filter(mask), name, translate_codes=translate_codes)
        parts.append(part.with_columns(pl.lit(name).alias("ruleset"), idx.filter(mask)))
    missing = names.is_null()
    if missing.any():
        err = ErrorCode.DISCHARGE_DATE_MISSING
        sub = cases.filter(missing).select(pl.col("case_id").cast(pl.String))
        parts.append(sub.with_columns(
            pl.lit("invalid").alias("status"),
            *[pl.lit(None, pl.String).alias(c) for c in ("mdc", "adrg", "drg", "drg_name")],
            pl.lit(err.value).alias("error_code"), pl.lit(ERROR_MESSAGES[err]).alias("error_message"),
            pl.lit([], pl.List(pl.String)).alias("warnings"), pl.lit(None, pl.String).alias("ruleset"),
            idx.filter(missing)))
    if not parts:
        return group_drg(cases, "chs_drg_11").with_columns(pl.lit(None, pl.String).alias("ruleset"))
    return pl.concat(parts, how="vertical_relaxed").sort("_i").select(*OUTPUT_COLUMNS, "ruleset")


def ruleset_on(day: object, calendar: Sequence[tuple[dt.date, dt.date | None, str]]
               | None = None) -> str | None:
    """The ruleset in force on one discharge date (date or "YYYY-MM-DD…"); None when unknown."""
    if day is None:
        return None
    if isinstance(day, dt.datetime):
        day = day.date()
    if not isinstance(day, dt.date):
        try:
            day = dt.date.fromisoformat(str(day).strip()[:10])
        except ValueError:
            return None
    for start, end, name in (national_calendar() if calendar is None else calendar):
        if start <= day and (end is None or day <= end):
            return name
    return None
