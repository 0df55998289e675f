"""Per diem (按床日) payment for long stays: payment-rules.md §2.6.

`pay = Σ_bands days_in_band × daily_rate × factor`, rounded once to the fen, optionally capped per
episode. The daily rate comes from the case's per-diem category (principal-diagnosis prefixes or
ADRGs in the policy) or, for stays of `scope.max_los` days or more outside any category, from
`per_diem.long_stay_daily_rate`.
"""

from __future__ import annotations

import polars as pl

from engine.policy import Policy
from engine.settlement.money import I128, div_half_up, lit, scaled


def per_diem_rate(policy: Policy, *, dx0: pl.Expr, adrg: pl.Expr, los: pl.Expr) -> pl.Expr:
    """Daily rate in fen for cases paid per diem, null for the others. First category wins."""
    expr: pl.Expr = pl.lit(None, pl.Int64)
    fallback = policy.per_diem.long_stay_daily_rate
    if fallback is not None and policy.scope.max_los is not None:
        expr = pl.when(los >= policy.scope.max_los).then(pl.lit(scaled(fallback, 2))).otherwise(
            expr)
    for cat in reversed(policy.per_diem.categories):
        hit = pl.lit(False)
        for prefix in cat.dx_prefixes:
            hit = hit | dx0.str.starts_with(prefix.upper())
        if cat.adrgs:
            hit = hit | adrg.is_in(list(cat.adrgs))
        expr = pl.when(hit.fill_null(False)).then(pl.lit(scaled(cat.daily_rate, 2))).otherwise(
            expr)
    return expr


def per_diem_amount(policy: Policy, *, los: pl.Expr, rate_fen: pl.Expr) -> pl.Expr:
    """Per-diem payment in fen (Int64) for `los` days at `rate_fen`, bands and cap applied."""
    total = lit(0)
    for band in policy.per_diem.bands:
        start = band.from_day - 1
        upper = los if band.to_day is None else pl.min_horizontal(los, pl.lit(band.to_day))
        days = pl.max_horizontal(upper - start, pl.lit(0)).cast(I128)
        total = total + days * rate_fen.cast(I128) * lit(scaled(band.factor))
    amount = div_half_up(total, 10_000).cast(pl.Int64)
    if policy.per_diem.episode_cap is not None:
        amount = pl.min_horizontal(amount, pl.lit(scaled(policy.per_diem.episode_cap, 2)))
    return amount
