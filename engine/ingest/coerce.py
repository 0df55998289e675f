"""Typed expressions for each field kind, with the mask of cells that could not be read.

Each `coerce_<kind>(col, dtype)` returns `(typed, bad)`: `typed` is the cleaned column (null
where unreadable) and `bad` is true where a value was given but could not be read. Money
becomes `pl.Decimal(18, 2)`, read exactly from text and rounded ROUND_HALF_UP to the fen.
"""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

MONEY = pl.Decimal(18, 2)
CODE_SEPARATORS = r"[|,;，；]"
NUMERIC = (pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.UInt8, pl.UInt16, pl.UInt32, pl.UInt64)

SEX_WORDS = {"1": 1, "2": 2, "男": 1, "女": 2, "m": 1, "f": 2, "male": 1, "female": 2,
             "男性": 1, "女性": 2}
INSURANCE_WORDS = {"employee": "employee", "resident": "resident", "职工": "employee",
                   "城镇职工": "employee", "职工医保": "employee", "职工基本医疗保险": "employee",
                   "居民": "resident", "城乡居民": "resident", "居民医保": "resident",
                   "城乡居民基本医疗保险": "resident", "310": "employee", "390": "resident"}
BOOL_WORDS = {"1": True, "0": False, "true": True, "false": False, "是": True, "否": False,
              "y": True, "n": False, "yes": True, "no": False, "有": True, "无": False}
DISCHARGE_WAYS = (1, 2, 3, 4, 5, 9)
# 2024-01-05, 2024/1/5, 2024.01.05, 2024年1月5日, optionally followed by a time; or 20240105.
# The same patterns read files (polars) and one case over HTTP (api.models, Python `re`).
DATE_PARTS = r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?(?:[ T].*)?$"
DATE_COMPACT = r"^(\d{4})(\d{2})(\d{2})(?:\d{6})?$"

Coerced = tuple[pl.Expr, pl.Expr]


def text(col: str, dtype: pl.DataType) -> pl.Expr:
    """The cell as stripped text; blank → null."""
    s = pl.col(col).cast(pl.String).str.strip_chars()
    return pl.when(s == "").then(None).otherwise(s)


def given(col: str, dtype: pl.DataType) -> pl.Expr:
    return text(col, dtype).is_not_null()


def coerce_str(col: str, dtype: pl.DataType) -> Coerced:
    return text(col, dtype), pl.lit(False)


def _float(col: str, dtype: pl.DataType) -> pl.Expr:
    if dtype.is_numeric():
        return pl.col(col).cast(pl.Float64)
    return text(col, dtype).str.replace_all(",", "").cast(pl.Float64, strict=False)


def coerce_int(col: str, dtype: pl.DataType) -> Coerced:
    if dtype in NUMERIC:
        typed = pl.col(col).cast(pl.Int64, strict=False)
        return typed, pl.col(col).is_not_null() & typed.is_null()  # only UInt64 overflow
    else:
        f = _float(col, dtype)  # "35", "35.0" and 35.0 are 35; 35.5 is not a whole number
        typed = pl.when(f == f.floor()).then(f).otherwise(None).cast(pl.Int64, strict=False)
    return typed, given(col, dtype) & typed.is_null()


def coerce_float(col: str, dtype: pl.DataType) -> Coerced:
    typed = _float(col, dtype)
    if dtype.is_numeric():
        return typed, pl.lit(False)
    return typed, given(col, dtype) & typed.is_null()


def coerce_date(col: str, dtype: pl.DataType) -> Coerced:
    if dtype == pl.Date:
        return pl.col(col), pl.lit(False)
    if isinstance(dtype, pl.Datetime):
        return pl.col(col).dt.date(), pl.lit(False)
    s = text(col, dtype)
    parts = s.str.extract_groups(DATE_PARTS)
    compact = s.str.extract_groups(DATE_COMPACT)
    iso = pl.coalesce(
        pl.concat_str(parts.struct[0], parts.struct[1].str.zfill(2),
                      parts.struct[2].str.zfill(2), separator="-"),
        pl.concat_str(compact.struct[0], compact.struct[1], compact.struct[2], separator="-"))
    typed = iso.str.strptime(pl.Date, "%Y-%m-%d", strict=False)
    return typed, s.is_not_null() & typed.is_null()


def money_fen(col: str, dtype: pl.DataType) -> pl.Expr:
    """Integer fen, ROUND_HALF_UP (away from zero on .5); null where unreadable."""
    if dtype in NUMERIC:
        return pl.col(col).cast(pl.Int64) * 100
    if dtype in (pl.Float32, pl.Float64):
        x = pl.col(col).cast(pl.Float64)
        # round(…, 6) first: 1.005 is stored as 1.00499999…, and means 1.005 yuan
        mag = ((x.abs() * 100).round(6) + 0.5).floor()
        return (pl.when(x < 0).then(-mag).otherwise(mag)).cast(pl.Int64, strict=False)
    s = text(col, dtype).str.replace_all(r"[,\s¥￥元]", "")
    g = s.str.extract_groups(r"^([+-]?)(\d+)(?:\.(\d*))?$")
    frac = g.struct[2].fill_null("")
    cents = (frac + "00").str.slice(0, 2).cast(pl.Int64)
    up = (frac.str.slice(2, 1).fill_null("0").replace("", "0").cast(pl.Int64) >= 5).cast(pl.Int64)
    mag = g.struct[1].cast(pl.Int64, strict=False) * 100 + cents + up
    return pl.when(g.struct[0] == "-").then(-mag).otherwise(mag)


def fen_to_money(fen: pl.Expr) -> pl.Expr:
    """Integer fen → Decimal(18, 2) yuan, exactly."""
    return (fen.cast(pl.Decimal(38, 2)) / 100).cast(MONEY)


def coerce_money(col: str, dtype: pl.DataType) -> Coerced:
    if isinstance(dtype, pl.Decimal) and dtype.scale is not None and dtype.scale <= 2:
        return pl.col(col).cast(MONEY), pl.lit(False)
    fen = money_fen(col, dtype)
    return fen_to_money(fen), given(col, dtype) & fen.is_null()


def _mapped(col: str, dtype: pl.DataType, words: dict[str, object],
            out: pl.DataType) -> Coerced:
    if dtype in NUMERIC and out == pl.Int64:  # sex as 1/2: no text round trip
        valid = sorted({int(k) for k in words if k.isdigit()})
        typed = pl.when(pl.col(col).is_in(valid)).then(pl.col(col)).cast(pl.Int64)
        return typed, pl.col(col).is_not_null() & typed.is_null()
    if dtype == pl.String and out == pl.String:
        # already canonical values (e.g. employee/resident) need no lower-casing
        canonical = sorted({str(v) for v in words.values()})
        s0 = pl.col(col)
        mapped = _mapped_text(col, dtype, words, out)
        typed = pl.when(s0.is_in(canonical)).then(s0).otherwise(mapped[0])
        return typed, pl.when(s0.is_in(canonical)).then(False).otherwise(mapped[1])
    return _mapped_text(col, dtype, words, out)


def _mapped_text(col: str, dtype: pl.DataType, words: dict[str, object],
                 out: pl.DataType) -> Coerced:
    s = text(col, dtype).str.to_lowercase()
    if dtype.is_numeric():  # 1.0 → "1"
        f = pl.col(col).cast(pl.Float64)
        s = pl.when(f == f.floor()).then(f.cast(pl.Int64).cast(pl.String)).otherwise(s)
    typed = s.replace_strict(words, default=None, return_dtype=out)
    return typed, s.is_not_null() & typed.is_null()


def coerce_sex(col: str, dtype: pl.DataType) -> Coerced:
    return _mapped(col, dtype, SEX_WORDS, pl.Int64)  # type: ignore[arg-type]


def coerce_insurance(col: str, dtype: pl.DataType) -> Coerced:
    return _mapped(col, dtype, INSURANCE_WORDS, pl.String)  # type: ignore[arg-type]


def coerce_bool(col: str, dtype: pl.DataType) -> Coerced:
    if dtype == pl.Boolean:
        return pl.col(col), pl.lit(False)
    return _mapped(col, dtype, BOOL_WORDS, pl.Boolean)  # type: ignore[arg-type]


def coerce_discharge_way(col: str, dtype: pl.DataType) -> Coerced:
    n, bad = coerce_int(col, dtype)
    typed = pl.when(n.is_in(DISCHARGE_WAYS)).then(n).otherwise(None)
    return typed, bad | (n.is_not_null() & typed.is_null())


def coerce_codes(col: str, dtype: pl.DataType) -> Coerced:
    """list[str], principal first; blank codes dropped, a blank principal empties the list."""
    empty = pl.lit([], dtype=pl.List(pl.String))
    if isinstance(dtype, pl.List):
        lst = pl.col(col).cast(pl.List(pl.String))
    elif dtype == pl.Null:
        return empty, pl.lit(False)
    else:
        lst = text(col, dtype).str.replace_all(CODE_SEPARATORS, "|").str.split("|")
    lst = lst.list.eval(pl.element().str.strip_chars().fill_null(""))
    principal_blank = lst.list.first().fill_null("") == ""
    typed = (pl.when(lst.is_null() | principal_blank).then(empty)
             .otherwise(lst.list.eval(pl.element().filter(pl.element() != ""))))
    return typed, pl.lit(False)


COERCERS: dict[str, Callable[[str, pl.DataType], Coerced]] = {
    "str": coerce_str, "int": coerce_int, "float": coerce_float, "date": coerce_date,
    "money": coerce_money, "bool": coerce_bool, "sex": coerce_sex,
    "insurance": coerce_insurance, "discharge_way": coerce_discharge_way,
    "codes": coerce_codes,
}
OUT_DTYPES: dict[str, pl.DataType] = {
    "str": pl.String(), "int": pl.Int64(), "float": pl.Float64(), "date": pl.Date(),
    "money": MONEY, "bool": pl.Boolean(), "sex": pl.Int64(), "insurance": pl.String(),
    "discharge_way": pl.Int64(), "codes": pl.List(pl.String),
}
