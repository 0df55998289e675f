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

Every rule takes the backend `b` first (`engine.settlement.backend`): the batch passes polars
expressions, the per-case path plain values; the formula is written once.
"""

from __future__ import annotations

from typing import Any

from engine.policy import Policy
from engine.settlement.backend import Backend
from engine.settlement.money import SCALE4, scaled

S = SCALE4
X = Any  # an operand: a polars expression (batch) or a Val (one case)
Frac = tuple[X, X]  # (numerator, denominator > 0), exact wide integers


def k_high(b: Backend, policy: Policy, weight4: X) -> X:
    """k_high ×10⁴ for each case: the first tier whose weight_max ≥ the case's weight."""
    tiers = policy.outliers.k_high_tiers
    if not tiers:
        return b.lit(scaled(policy.outliers.k_high))
    branches = []
    for tier in tiers[:-1]:
        assert tier.weight_max is not None
        branches.append((weight4 <= scaled(tier.weight_max), scaled(tier.k)))
    return b.first(branches, scaled(tiers[-1].k))


def _above(b: Backend, cost: X, avg: X, k4: X, inclusive: bool) -> X:
    left, right = b.wide(cost) * S, b.wide(k4) * b.wide(avg)
    return left >= right if inclusive else left > right


def is_high(b: Backend, policy: Policy, cost: X, avg: X, k4: X) -> X:
    return _above(b, cost, avg, k4, policy.outliers.high_inclusive)


def is_low(b: Backend, policy: Policy, cost: X, avg: X) -> X:
    left = b.wide(cost) * S
    right = b.wide(scaled(policy.outliers.k_low)) * b.wide(avg)
    return left <= right if policy.outliers.low_inclusive else left < right


def is_review_recommended(b: Backend, policy: Policy, cost: X, avg: X) -> X:
    """r ≥ review_ratio (DIP: expert review of very high cost cases)."""
    return _above(b, cost, avg, b.lit(scaled(policy.outliers.review_ratio)), True)


def normal_frac(b: Backend, base4: X, inst4: X, *, scale: int = S) -> Frac:
    return b.wide(base4) * b.wide(inst4), b.wide(scale)


def high_points_excess_frac(b: Backend, base4: X, inst4: X, dev4: X, cost: X, avg: X, k4: X,
                            *, scale: int = S) -> Frac:
    """base×inst + base×dev×(r − k) over the common denominator avg × 10⁴ × scale."""
    w, a = b.wide(base4), b.wide(avg)
    num = (w * b.wide(inst4) * a * S
           + w * b.wide(dev4) * (b.wide(cost) * S - b.wide(k4) * a) * (scale // S))
    return num, a * (S * scale)


def high_cost_excess_share_frac(b: Backend, base4: X, inst4: X, cost: X, avg: X, k4: X,
                                share4: int, pv4: X, *, scale: int = S) -> Frac:
    """base×inst + (cost − k×avg)×share/pv; money in fen, pv ×10⁴."""
    pv = b.wide(pv4)
    t1 = b.wide(base4) * b.wide(inst4) * pv * 100
    t2 = (b.wide(cost) * S - b.wide(k4) * b.wide(avg)) * share4 * scale
    return t1 + t2, pv * (scale * 100)


def low_frac(b: Backend, base4: X, dev4: X, cost: X, avg: X) -> Frac:
    """base × dev × r."""
    return b.wide(base4) * b.wide(dev4) * b.wide(cost), b.wide(avg) * S


def incomplete_frac(b: Backend, base4: X, inst4: X, cost: X, avg: X, *, scale: int = S
                    ) -> Frac:
    """base × inst × min(1, r)."""
    capped = b.wide(b.min(cost, avg))
    return b.wide(base4) * b.wide(inst4) * capped, b.wide(avg) * scale


def uplift_frac(b: Backend, base4: X, inst4: X, cost: X, share4: int, pv4: X, *,
                scale: int = S) -> Frac:
    """Special review approved_uplift: base×inst + max(0, cost − base×inst×pv) × share / pv."""
    bi, pv = b.wide(base4) * b.wide(inst4), b.wide(pv4)
    excess = b.wide(cost) * (10**6 * scale) - bi * pv  # (cost − std) × 10⁸ × scale
    excess = b.when(excess > 0, excess, b.wide(0))
    return bi * pv * S + excess * share4, pv * (S * scale)


def cost_ratio4(b: Backend, cost: X, avg: X) -> X:
    """r = cost / avg ×10⁴, rounded for display (comparisons use the exact ratio)."""
    return b.div(b.wide(cost) * S, b.wide(avg))
