"""Exact fixed-point arithmetic for settlement: money in integer fen, points and ratios ×10⁴.

Intermediates are exact integers (Int128 where products get large); rounding happens once per
payable amount, ROUND_HALF_UP (half away from zero), as payment-rules.md's conventions ask.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache

import polars as pl

SCALE4 = 10_000  # points, scores, RW, coefficients, point values and ratios: 4 dp
MONEY = pl.Decimal(18, 2)
POINTS = pl.Decimal(18, 4)
I128 = pl.Int128


@lru_cache(maxsize=4096)
def scaled(value: Decimal | float | str, dp: int = 4) -> int:
    """`value` × 10^dp as an exact integer, rounded half-up (a policy value with <= dp places
    is exact). Cached: policy values are few and the per-case path asks for them per case."""
    return int(Decimal(str(value)).scaleb(dp).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def div_half_up(num: pl.Expr, den: pl.Expr | int) -> pl.Expr:
    """num / den rounded half away from zero, for integer expressions and den > 0."""
    n = num.cast(I128)
    d = den.cast(I128) if isinstance(den, pl.Expr) else pl.lit(den, I128)
    q = (n.abs() * 2 + d) // (d * 2)
    return pl.when(n < 0).then(lit(0) - q).otherwise(q)


def lit(value: int) -> pl.Expr:
    return pl.lit(value, I128)


def to_scaled(frame: pl.DataFrame, col: str, dp: int) -> pl.Expr:
    """A decimal column (Decimal, float, int or text) × 10^dp as Int64; unreadable → null.

    Values carry at most `dp` places by contract (money 2, weights 4); a float × 10^dp then lands
    within float error of an integer, so rounding it is exact.
    """
    if col not in frame.columns:
        return pl.lit(None, pl.Int64).alias(col)
    dtype = frame.schema[col]
    expr: pl.Expr
    c: pl.Expr = pl.col(col)
    factor = 10**dp
    if isinstance(dtype, pl.Decimal):
        expr = (c.cast(pl.Decimal(38, dp)) * factor).cast(pl.Int64)
    elif dtype in (pl.String, pl.Utf8):
        expr = (c.str.strip_chars().cast(pl.Decimal(38, dp), strict=False) * factor).cast(
            pl.Int64)
    elif dtype.is_numeric():
        expr = (c.cast(pl.Float64) * factor).round(0).cast(pl.Int64)
    else:
        expr = pl.lit(None, pl.Int64)
    return expr.alias(col)


def to_fen(frame: pl.DataFrame, col: str) -> pl.Expr:
    """A money column (Decimal, float, int or text yuan) as Int64 fen; unreadable → null."""
    return to_scaled(frame, col, 2)


def fen_to_money(expr: pl.Expr) -> pl.Expr:
    """Int fen → Decimal(18, 2) yuan, exactly."""
    return (expr.cast(pl.Decimal(38, 0)) * pl.lit(Decimal("0.01"))).cast(MONEY)


def scaled_to_points(expr: pl.Expr) -> pl.Expr:
    """Int ×10⁴ → Decimal(18, 4), exactly."""
    return (expr.cast(pl.Decimal(38, 0)) * pl.lit(Decimal("0.0001"))).cast(POINTS)


def yuan(fen: int) -> Decimal:
    return Decimal(fen).scaleb(-2)


def round_money(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def round4(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)


def allocate(total_fen: int, weights: list[Decimal]) -> list[int]:
    """Split `total_fen` in proportion to `weights` (≥ 0) by largest remainder, so the parts add
    up to the total exactly; ties go to the earlier entry. All-zero weights → all zero."""
    whole = sum(weights, Decimal(0))
    if whole <= 0 or total_fen == 0:
        return [0] * len(weights)
    exact = [Decimal(total_fen) * w / whole for w in weights]
    parts = [int(x) for x in exact]  # floor for non-negative amounts
    order = sorted(range(len(weights)), key=lambda i: (-(exact[i] - parts[i]), i))
    for i in order[: total_fen - sum(parts)]:
        parts[i] += 1
    return parts
