"""Deviation cases (偏差病例): high- and low-cost outliers and incomplete stays, as exact points.

payment-rules.md §2.4 (DRG) and §3.3 (DIP). With `base` the case's base points (RW × points per
weight, or the DIP score after the auxiliary coefficient), `inst` the institution coefficient,
`dev` = `inst` when `apply_inst_to_deviation` else 1, and `r = total_cost / avg`:

| case type | condition | points |
|---|---|---|
| normal | k_low ≤ r ≤ k_high | base × inst |
| high_outlier, points_excess | r > k_high | base × inst + base × dev × (r − k_high) |
| high_outlier, cost_excess_share | r > k_high | base × inst + (cost − k_high × avg) × share / pv |
| low_outlier | r < k_low (not for exempt group types) | base × dev × r |
| incomplete | discharge way in the list and los < short_los | base × inst × min(1, r) |

For DIP with `dev = inst` the high rule is `base × inst × (r − k_high + 1)`, the national form.
The `inst` of the standard parts may be given at another scale (`scale`, default 10⁴): the DRG
hospital cost coefficient enters as `inst × c` at 10⁸, so each formula still rounds once.
All arithmetic is on integers (points ×10⁴, money in fen) and rounds once, half-up, to 4 dp.
Each formula also exists as an exact fraction (`*_frac`: numerator, denominator): the DRG rate
method evaluates them with base = RW, inst = the rate rate_L and pv = 1 yuan, so its payment
standard RW × rate_L is rounded once, to the fen, and never through 4-dp points.
Inclusive/strict bounds follow `high_inclusive` / `low_inclusive`.
"""

from __future__ import annotations

import polars as pl

from engine.policy import Policy
from engine.settlement.money import I128, SCALE4, div_half_up, lit, scaled

S = SCALE4


def k_high(policy: Policy, weight4: pl.Expr) -> pl.Expr:
    """k_high ×10⁴ for each case: the first tier whose weight_max ≥ the case's weight."""
    tiers = policy.outliers.k_high_tiers
    if not tiers:
        return pl.lit(scaled(policy.outliers.k_high), pl.Int64)
    expr: pl.Expr = pl.lit(scaled(tiers[-1].k), pl.Int64)
    for tier in reversed(tiers[:-1]):
        assert tier.weight_max is not None
        expr = pl.when(weight4 <= scaled(tier.weight_max)).then(pl.lit(scaled(tier.k))).otherwise(
            expr)
    return expr


def _above(cost: pl.Expr, avg: pl.Expr, k4: pl.Expr, inclusive: bool) -> pl.Expr:
    left, right = cost.cast(I128) * S, k4.cast(I128) * avg.cast(I128)
    return left >= right if inclusive else left > right


def is_high(policy: Policy, cost: pl.Expr, avg: pl.Expr, k4: pl.Expr) -> pl.Expr:
    return _above(cost, avg, k4, policy.outliers.high_inclusive)


def is_low(policy: Policy, cost: pl.Expr, avg: pl.Expr) -> pl.Expr:
    left = cost.cast(I128) * S
    right = lit(scaled(policy.outliers.k_low)) * avg.cast(I128)
    return left <= right if policy.outliers.low_inclusive else left < right


def is_review_recommended(policy: Policy, cost: pl.Expr, avg: pl.Expr) -> pl.Expr:
    """r ≥ review_ratio (DIP: expert review of very high cost cases)."""
    return _above(cost, avg, pl.lit(scaled(policy.outliers.review_ratio)), True)


Frac = tuple[pl.Expr, pl.Expr]  # (numerator, denominator > 0), both Int128


def normal_frac(base4: pl.Expr, inst4: pl.Expr, *, scale: int = S) -> Frac:
    return base4.cast(I128) * inst4.cast(I128), lit(scale)


def high_points_excess_frac(base4: pl.Expr, inst4: pl.Expr, dev4: pl.Expr, cost: pl.Expr,
                            avg: pl.Expr, k4: pl.Expr, *, scale: int = S) -> Frac:
    """base×inst + base×dev×(r − k) over the common denominator avg × 10⁴ × scale."""
    b, a = base4.cast(I128), avg.cast(I128)
    num = (b * inst4.cast(I128) * a * S
           + b * dev4.cast(I128) * (cost.cast(I128) * S - k4.cast(I128) * a) * (scale // S))
    return num, a * (S * scale)


def high_cost_excess_share_frac(base4: pl.Expr, inst4: pl.Expr, cost: pl.Expr, avg: pl.Expr,
                                k4: pl.Expr, share4: int, pv4: pl.Expr, *, scale: int = S
                                ) -> Frac:
    """base×inst + (cost − k×avg)×share/pv; money in fen, pv ×10⁴."""
    pv = pv4.cast(I128)
    t1 = base4.cast(I128) * inst4.cast(I128) * pv * 100
    t2 = (cost.cast(I128) * S - k4.cast(I128) * avg.cast(I128)) * share4 * scale
    return t1 + t2, pv * (scale * 100)


def low_frac(base4: pl.Expr, dev4: pl.Expr, cost: pl.Expr, avg: pl.Expr) -> Frac:
    """base × dev × r."""
    return base4.cast(I128) * dev4.cast(I128) * cost.cast(I128), avg.cast(I128) * S


def incomplete_frac(base4: pl.Expr, inst4: pl.Expr, cost: pl.Expr, avg: pl.Expr, *,
                    scale: int = S) -> Frac:
    """base × inst × min(1, r)."""
    capped = pl.min_horizontal(cost, avg).cast(I128)
    return base4.cast(I128) * inst4.cast(I128) * capped, avg.cast(I128) * scale


def uplift_frac(base4: pl.Expr, inst4: pl.Expr, cost: pl.Expr, share4: int,
                pv4: pl.Expr, *, scale: int = S) -> Frac:
    """Special review approved_uplift: base×inst + max(0, cost − base×inst×pv) × share / pv."""
    bi, pv = base4.cast(I128) * inst4.cast(I128), pv4.cast(I128)
    excess = cost.cast(I128) * (10**6 * scale) - bi * pv  # (cost − std) × 10⁸ × scale
    excess = pl.when(excess > 0).then(excess).otherwise(lit(0))
    return bi * pv * S + excess * share4, pv * (S * scale)


def normal_points(base4: pl.Expr, inst4: pl.Expr, *, scale: int = S) -> pl.Expr:
    return div_half_up(*normal_frac(base4, inst4, scale=scale))


def high_points_excess(base4: pl.Expr, inst4: pl.Expr, dev4: pl.Expr, cost: pl.Expr,
                       avg: pl.Expr, k4: pl.Expr, *, scale: int = S) -> pl.Expr:
    return div_half_up(*high_points_excess_frac(base4, inst4, dev4, cost, avg, k4, scale=scale))


def high_cost_excess_share(base4: pl.Expr, inst4: pl.Expr, cost: pl.Expr, avg: pl.Expr,
                           k4: pl.Expr, share4: int, pv4: pl.Expr, *, scale: int = S
                           ) -> pl.Expr:
    return div_half_up(*high_cost_excess_share_frac(base4, inst4, cost, avg, k4, share4, pv4,
                                                    scale=scale))


def low_points(base4: pl.Expr, dev4: pl.Expr, cost: pl.Expr, avg: pl.Expr) -> pl.Expr:
    return div_half_up(*low_frac(base4, dev4, cost, avg))


def incomplete_points(base4: pl.Expr, inst4: pl.Expr, cost: pl.Expr, avg: pl.Expr, *,
                      scale: int = S) -> pl.Expr:
    return div_half_up(*incomplete_frac(base4, inst4, cost, avg, scale=scale))


def uplift_points(base4: pl.Expr, inst4: pl.Expr, cost: pl.Expr, share4: int,
                  pv4: pl.Expr, *, scale: int = S) -> pl.Expr:
    return div_half_up(*uplift_frac(base4, inst4, cost, share4, pv4, scale=scale))


def cost_ratio4(cost: pl.Expr, avg: pl.Expr) -> pl.Expr:
    """r = cost / avg ×10⁴, rounded for display (comparisons use the exact ratio)."""
    return div_half_up(cost.cast(I128) * S, avg.cast(I128))
