"""Normalise a case table (contracts §1) into the typed frame the grouper works on."""

from __future__ import annotations

import math
import re
from typing import Any

import polars as pl
import pyarrow as pa

from grouper.errors import InputError

REQUIRED = ("case_id", "sex", "age", "diagnoses")
OPTIONAL_INT = ("age_days", "birth_weight", "los")
OPTIONAL_FLOAT = ("icu_hours",)
LISTS = ("diagnoses", "procedures")

CaseTable = pl.DataFrame | pl.LazyFrame | pa.Table


def to_frame(cases: CaseTable | list[dict[str, Any]]) -> pl.DataFrame:
    if isinstance(cases, pl.LazyFrame):
        return cases.collect()
    if isinstance(cases, pa.Table):
        return pl.from_arrow(cases)  # type: ignore[return-value]
    if isinstance(cases, list):
        return pl.DataFrame(cases, infer_schema_length=None)
    if isinstance(cases, pl.DataFrame):
        return cases
    raise InputError(f"cases must be a polars/pyarrow table, got {type(cases).__name__}")


def _code_list(frame: pl.DataFrame, col: str) -> pl.Expr:
    """A list[str] column; `|`-separated strings are split; null list -> empty list."""
    if col not in frame.columns:
        return pl.lit([], dtype=pl.List(pl.String)).alias(col)
    dtype = frame.schema[col]
    if dtype == pl.String:
        # "" or null -> no codes; "A|B" -> ["A", "B"]
        expr = (pl.when(pl.col(col).is_null() | (pl.col(col) == ""))
                .then(pl.lit([], dtype=pl.List(pl.String)))
                .otherwise(pl.col(col).str.split("|")))
    elif isinstance(dtype, pl.List):
        expr = pl.col(col).cast(pl.List(pl.String)).fill_null(pl.lit([], dtype=pl.List(pl.String)))
    elif dtype == pl.Null:
        expr = pl.lit([], dtype=pl.List(pl.String))
    else:
        raise InputError(f"column {col!r} must be a list of codes or a '|'-separated string, "
                         f"got {dtype}")
    # A null element keeps its position (it is a blank code that matches nothing).
    return expr.list.eval(pl.element().fill_null("")).alias(col)


def _number(frame: pl.DataFrame, col: str, dtype: pl.DataType) -> pl.Expr:
    if col not in frame.columns:
        return pl.lit(None, dtype=dtype).alias(col)
    src = pl.col(col)
    if frame.schema[col] == pl.String:
        src = src.str.strip_chars()
    if dtype == pl.Int64 and frame.schema[col] in (pl.Float32, pl.Float64):
        # 35.0 is the number 35; 35.5 is not a whole number of years
        return (pl.when(src == src.floor()).then(src).otherwise(None)
                .cast(pl.Int64, strict=False).alias(col))
    return src.cast(dtype, strict=False).alias(col)


def explode_codes(cases: pl.DataFrame, col: str) -> pl.DataFrame:
    """(_row, pos, code): one row per code of list column `col`, pos 0 = principal."""
    return (cases.select("_row", pl.col(col).alias("code"),
                         pl.int_ranges(pl.col(col).list.len(), dtype=pl.Int32).alias("pos"))
            .explode("code", "pos").drop_nulls("code"))


def normalise_cases(cases: CaseTable | list[dict[str, Any]]) -> pl.DataFrame:
    """Typed grouping input with `_row` (0..n-1). Missing required columns raise InputError."""
    frame = to_frame(cases)
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise InputError(f"missing required column(s): {', '.join(missing)}; "
                         f"got: {', '.join(frame.columns) or '(none)'}")
    return frame.select(
        pl.int_range(pl.len(), dtype=pl.UInt32).alias("_row"),
        pl.col("case_id").cast(pl.String),
        _number(frame, "sex", pl.Int64),
        _number(frame, "age", pl.Int64),
        *(_number(frame, c, pl.Int64) for c in OPTIONAL_INT),
        *(_number(frame, c, pl.Float64) for c in OPTIONAL_FLOAT),
        *(_code_list(frame, c) for c in LISTS),
    )


_INT_TEXT = re.compile(r"^[+-]?[0-9]+$")  # ASCII digits, as polars reads them


def _int_one(v: Any) -> int | None:
    """The batch path's Int64 cast (strict=False), for one value."""
    if v is None or isinstance(v, bool):
        return None if v is None else int(v)
    if isinstance(v, int):
        return v
    if isinstance(v, float):
        return int(v) if math.isfinite(v) and v.is_integer() else None
    if isinstance(v, str):
        text = v.strip()
        return int(text) if _INT_TEXT.match(text) else None
    return None


def _float_one(v: Any) -> float | None:
    if v is None:
        return None
    if isinstance(v, bool | int | float):
        return float(v)
    if isinstance(v, str):
        text = v.strip()
        if not text.isascii() or "_" in text:  # Python reads "١" and "1_0"; polars does not
            return None
        try:
            return float(text)
        except ValueError:
            return None
    return None


def codes_one(v: Any) -> list[str]:
    if v is None or v == "":
        return []
    if isinstance(v, str):
        return v.split("|")
    if isinstance(v, list | tuple):
        return ["" if c is None else str(c) for c in v]
    raise InputError(f"a code list must be a list of codes or a '|'-separated string, got {v!r}")


def normalise_one(case: dict[str, Any]) -> dict[str, Any]:
    """One case (a dict) with the same normalisation as `normalise_cases`, without polars.

    The per-case path (HTTP, explain) uses this; tests check it agrees with the batch path.
    """
    missing = [c for c in REQUIRED if c not in case]
    if missing:
        raise InputError(f"missing required field(s): {', '.join(missing)}")
    cid = case.get("case_id")
    out: dict[str, Any] = {"_row": 0, "case_id": None if cid is None else str(cid)}
    for col in ("sex", "age", *OPTIONAL_INT):
        out[col] = _int_one(case.get(col))
    for col in OPTIONAL_FLOAT:
        out[col] = _float_one(case.get(col))
    for col in LISTS:
        out[col] = codes_one(case.get(col))
    return out
