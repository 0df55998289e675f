"""A DIP case's adjusted score (病种分值 × 辅助目录系数), one rule for batch and per-case paths.

Scores and coefficients are published with at most 4 decimal places. Each is read as an integer
number of 1/10⁴ (a 4-dp value × 10⁴ lies within float error of an integer, so rounding it there
is exact), the product is exact in integers (1/10⁸), and it is rounded once to 4 dp half-up
(payment-rules: ROUND_HALF_UP), never half-to-even on floats. The value returned is that 4-dp
decimal (as a float for the tables, which `engine.settlement.money.to_scaled` reads back exactly).
"""

from __future__ import annotations

import math

import polars as pl

SCALE = 10_000  # 4 dp


def _scaled(x: float) -> int:
    """x × 10⁴ to the nearest integer, half away from zero (same float steps as `_scaled_expr`)."""
    y = abs(x) * SCALE
    return int(math.copysign(math.floor(y + 0.5), x))


def _scaled_expr(e: pl.Expr) -> pl.Expr:
    x = e.cast(pl.Float64)
    return ((x.abs() * SCALE + 0.5).floor() * x.sign()).cast(pl.Int64)


def _half_up(product: int) -> int:
    """An integer of 1/10⁸ to 1/10⁴, half away from zero (ROUND_HALF_UP)."""
    q = (abs(product) + SCALE // 2) // SCALE
    return q if product >= 0 else -q


def adjusted_score(score: float | None, coef: float | None) -> float | None:
    """score × coef to 4 dp, ROUND_HALF_UP, exact; None when either is missing."""
    if score is None or coef is None:
        return None
    return _half_up(_scaled(score) * _scaled(coef)) / SCALE


def adjusted_score_expr(score: pl.Expr, coef: pl.Expr) -> pl.Expr:
    """`adjusted_score` as a polars expression (Int128 product: no overflow, no float)."""
    product = _scaled_expr(score).cast(pl.Int128) * _scaled_expr(coef).cast(pl.Int128)
    q = (product.abs() + SCALE // 2) // SCALE
    signed = pl.when(product >= 0).then(q).otherwise(pl.lit(0, pl.Int128) - q)
    # exact 4-dp decimal, then to float (a literal float division would become × 1e-4)
    return (signed.cast(pl.Decimal(38, 4)) / SCALE).cast(pl.Decimal(38, 4)).cast(pl.Float64)
