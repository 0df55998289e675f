"""One DIP case (a dict) typed and normalised exactly as `grouper.dip.prepare_dip_cases` does it
on a one-row frame, in plain Python: the per-case path (HTTP, explain) uses this.

Each function mirrors one polars step of the batch path, including its edge cases: text is trimmed
of Unicode White_Space only (polars `strip_chars`, not Python's `str.strip`, which also trims
\\x1c–\\x1f); whole numbers are read as Int64 (out of range → missing); `discharge_way` is a plain
Int64 cast (no trimming, floats truncated); flags accept bool / 1 / 是-style text.
`tests/grouper/test_dip_case_path.py` checks agreement with the batch path.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import polars as pl

from grouper.dip_errors import DipErrorCode
from grouper.errors import InputError

FLAG_TRUE = frozenset(("1", "true", "t", "y", "yes", "是"))  # grouper.dip.FLAG_TRUE
# Unicode White_Space: what polars `str.strip_chars()` removes
WHITESPACE = ("\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
              "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_INT_TEXT = re.compile(r"[+-]?[0-9]+")
_DX_DOT = re.compile(r"[A-Z][0-9]{2}[0-9A-Za-z]")  # grouper.dip_codes.dx_normalised
_PX_DOT = re.compile(r"[0-9]{3}")  # grouper.dip_codes.px_normalised
_DX_CODE = re.compile(r"[A-Z][0-9]{2}")  # grouper.dip_codes.DX_PATTERN
_PX_CODE = re.compile(r"[0-9]{2}(\.|\Z)")  # grouper.dip_codes.PX_PATTERN


@dataclass(frozen=True)
class DipCase:
    """A typed DIP case: what `prepare_dip_cases` makes of one row."""

    case_id: str | None
    age: int | None
    age_days: int | None
    los: int | None
    discharge_way: int | None
    tcm_treatment: bool
    day_surgery: bool
    total_cost: float | None
    diagnoses: tuple[str, ...]
    procedures: tuple[str, ...]
    dx0: str
    cat: str
    error_code: str | None


def _in_int64(v: int) -> int | None:
    return v if INT64_MIN <= v <= INT64_MAX else None


def _text_int(text: str) -> int | None:
    return _in_int64(int(text)) if _INT_TEXT.fullmatch(text) else None


def _polars_text(v: Any) -> str | None:
    """A value as polars casts it to String (rare types go through polars itself)."""
    if v is None or isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    return pl.Series([v]).cast(pl.String, strict=False).item()  # type: ignore[no-any-return]


def whole_number(v: Any) -> int | None:
    """`case_input._number(..., Int64)`: ints, whole floats, trimmed integer text."""
    if v is None:
        return None
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, int):
        return _in_int64(v)
    if isinstance(v, float):
        if math.isfinite(v) and v == math.floor(v) and INT64_MIN <= v < 2.0**63:
            return int(v)
        return None
    if isinstance(v, str):
        return _text_int(v.strip(WHITESPACE))
    return None


def int_cast(v: Any) -> int | None:
    """`cast(pl.Int64, strict=False)` (grouper.dip._int): floats truncate, text is not trimmed."""
    if v is None:
        return None
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, int):
        return _in_int64(v)
    if isinstance(v, float):
        return int(v) if math.isfinite(v) and INT64_MIN <= v < 2.0**63 else None
    if isinstance(v, str):
        return _text_int(v)
    return None


def cost(v: Any) -> float | None:
    """`grouper.dip._cost`: numbers (not bool), or text as polars reads it after trimming;
    non-finite values missing."""
    if v is None or isinstance(v, bool):
        return None
    if isinstance(v, int | float | Decimal):
        value: float | None = float(v)
    elif isinstance(v, str):
        value = pl.Series([v.strip(WHITESPACE)]).cast(pl.Float64, strict=False).item()
    else:
        return None
    return value if value is not None and math.isfinite(value) else None


def flag(v: Any) -> bool:
    """`grouper.dip._flag`: bool, numeric == 1, or text in FLAG_TRUE; else False."""
    if isinstance(v, bool):
        return v
    if isinstance(v, int | float | Decimal):
        return v == 1
    if isinstance(v, str):
        return v.strip(WHITESPACE).lower() in FLAG_TRUE
    return False


def code_list(v: Any, col: str) -> list[str]:
    """`case_input._code_list`: a list (null elements → ""), `|`-separated text, or none."""
    if v is None or v == "":
        return []
    if isinstance(v, str):
        return v.split("|")
    if isinstance(v, list | tuple):
        return ["" if c is None else (_polars_text(c) or "") for c in v]
    raise InputError(f"column {col!r} must be a list of codes or a '|'-separated string, "
                     f"got {type(v).__name__}")


def _upper_first(code: str) -> str:
    """polars `str.slice(0, 1).str.to_uppercase()` + the rest: Python's `upper` of one character
    can give two ("ß" -> "SS"), as polars' does; both follow Unicode full case mapping."""
    return code[:1].upper() + code[1:]


def dx_code(code: str) -> str:
    """`dip_codes.dx_normalised` for one code: the chapter letter upper-cased, a later `X` read
    as the extension letter `x`, the rest kept."""
    code = code.strip(WHITESPACE)
    code = _upper_first(code[:1]) + code[1:].replace("X", "x")
    return f"{code[:3]}.{code[3:]}" if _DX_DOT.match(code) else code


def px_code(code: str) -> str:
    """`dip_codes.px_normalised` for one code: `X` read as the extension letter `x`, the rest
    kept."""
    code = code.strip(WHITESPACE).replace("X", "x")
    return f"{code[:2]}.{code[2:]}" if _PX_DOT.match(code) else code


def prepare_dip_one(case: dict[str, Any]) -> DipCase:
    """`prepare_dip_cases` for one case. Raises InputError without case_id/diagnoses."""
    missing = [c for c in ("case_id", "diagnoses") if c not in case]
    if missing:
        raise InputError(f"missing required column(s): {', '.join(missing)}; "
                         f"got: {', '.join(case) or '(none)'}")
    diagnoses = tuple(dx_code(c) for c in code_list(case.get("diagnoses"), "diagnoses"))
    procedures = tuple(p for p in (px_code(c) for c in code_list(case.get("procedures"),
                                                                 "procedures"))
                       if _PX_CODE.match(p))
    dx0 = diagnoses[0] if diagnoses else ""
    if not diagnoses:
        error: str | None = DipErrorCode.DIAGNOSIS_MISSING.value
    elif not _DX_CODE.match(dx0):
        error = DipErrorCode.PRINCIPAL_DX_MALFORMED.value
    else:
        error = None
    return DipCase(
        case_id=_polars_text(case.get("case_id")), age=whole_number(case.get("age")),
        age_days=whole_number(case.get("age_days")), los=whole_number(case.get("los")),
        discharge_way=int_cast(case.get("discharge_way")),
        tcm_treatment=flag(case.get("tcm_treatment")), day_surgery=flag(case.get("day_surgery")),
        total_cost=cost(case.get("total_cost")),
        diagnoses=diagnoses, procedures=procedures, dx0=dx0, cat=dx0[:3], error_code=error)
