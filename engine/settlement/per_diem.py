"""Per diem (按床日) payment for long stays: payment-rules.md §2.6.

`pay = Σ_bands days_in_band × daily_rate × factor`, rounded once to the fen, optionally capped per
episode. The daily rate comes from the case's per-diem category (principal-diagnosis prefixes or
ADRGs in the policy) or, for stays of `scope.max_los` days or more outside any category, from
`per_diem.long_stay_daily_rate`. Written over the backend `b` (`engine.settlement.backend`): one
rule for the batch and for one case.
"""

from __future__ import annotations

from typing import Any

from engine.policy import Policy
from engine.settlement.backend import Backend
from engine.settlement.money import scaled

X = Any  # an operand: a polars expression (batch) or a Val (one case)


def per_diem_rate(b: Backend, policy: Policy, *, dx0: X, adrg: X, los: X) -> X:
    """Daily rate in fen for cases paid per diem, null for the others. First category wins."""
    branches = []
    for cat in policy.per_diem.categories:
        hit = b.lit(False)
        for prefix in cat.dx_prefixes:
            hit = hit | b.starts_with(dx0, prefix.upper())
        if cat.adrgs:
            hit = hit | b.is_in(adrg, cat.adrgs)
        branches.append((b.fill(hit, False), scaled(cat.daily_rate, 2)))
    fallback = policy.per_diem.long_stay_daily_rate
    if fallback is not None and policy.scope.max_los is not None:
        branches.append((los >= policy.scope.max_los, scaled(fallback, 2)))
    return b.first(branches, b.lit(None))


def per_diem_amount(b: Backend, policy: Policy, *, los: X, rate_fen: X) -> X:
    """Per-diem payment in fen for `los` days at `rate_fen`, bands and cap applied."""
    total: X = b.wide(0)
    for band in policy.per_diem.bands:
        start = band.from_day - 1
        upper = los if band.to_day is None else b.min(los, b.lit(band.to_day))
        days = b.wide(b.max(upper - start, b.lit(0)))
        total = total + days * b.wide(rate_fen) * b.wide(scaled(band.factor))
    amount = b.narrow(b.div(total, 10_000))
    if policy.per_diem.episode_cap is not None:
        amount = b.min(amount, b.lit(scaled(policy.per_diem.episode_cap, 2)))
    return amount
