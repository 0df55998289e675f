"""Budgets and provisional point values from last year's claims (payment-rules.md §2.3, §3.4):
what a bureau does before the year when it sets 以收定支 budgets and the budget point value.

Per fund pool: `budget = Σ last year's FFS fund amount × (1 + growth)`; last year's cases are
settled under the new weights (DRG weights or a DIP catalogue, with the matching grouping) to count
their points, and `pv_budget` is the point value the year-end clearing would fix for those cases
with that budget (`engine.settlement.clear.settlement_point_value`, so the pool's `pv_basis` decides:
`plus_liability` (B_avail + liability − fixed amounts) / points, `ratio` (B_avail / reimbursement
ratio − fixed amounts) / points); under the DRG rate method, where clearing keeps the provisional
value, the `plus_liability` form, and `base_rate = pv_budget × points_per_weight`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import polars as pl

from engine.policy import Policy
from engine.settlement.batch import settle_cases
from engine.settlement.clear import settlement_point_value
from engine.settlement.money import round4, round_money
from engine.settlement.presettle import hospital_period


def _point_value(policy: Policy, pool: str, sums: dict[str, Any], available: Decimal) -> Decimal:
    """The settlement point value of one pool's year sums (points, fixed_amount, liability,
    ffs_fund_amount, total_cost) against `available`, without the cap on last year's value."""
    if policy.fixed_point_value:  # rate method: clearing pays Σ payment standards
        return round4((available + sums["liability"] - sums["fixed_amount"]) / sums["points"])
    return settlement_point_value(policy, pool, [sums], available)


def _fit(policy: Policy, history: pl.DataFrame, grouped: pl.DataFrame, weights: pl.DataFrame,
         hospitals: pl.DataFrame, growth: Decimal) -> Policy:
    """One step: settle history at the policy's current point values, fit new ones."""
    settled = settle_cases(history, grouped, weights, hospitals, policy)
    sums = hospital_period(settled, policy, "history").group_by("fund_pool").agg(
        pl.col("points", "fixed_amount", "liability", "ffs_fund_amount", "total_cost").sum())
    pools = dict(policy.pool)
    for row in sums.iter_rows(named=True):
        name = row["fund_pool"]
        if name not in pools or not row["points"]:
            continue
        budget = round_money(row["ffs_fund_amount"] * (1 + growth))
        available = budget * (1 - policy.clearing.risk_reserve_rate)
        pv = _point_value(policy, name, row, available)
        update: dict[str, Decimal | None] = {"budget": budget, "pv_budget": pv,
                                             "pv_prev_year": None}
        if policy.fixed_point_value:
            update["base_rate"] = round4(pv * policy.policy.points_per_weight)
        pools[name] = pools[name].model_copy(update=update)
    return policy.model_copy(update={"pool": pools})


def calibrate(policy: Policy, history: pl.DataFrame, grouped: pl.DataFrame,
              weights: pl.DataFrame, hospitals: pl.DataFrame, *,
              growth: Decimal = Decimal("0.03"), rounds: int = 4) -> Policy:
    """A copy of `policy` whose pools carry budgets and point values fitted to `history`.

    Points of cost-based outliers depend on the point value (`cost_excess_share` divides the
    excess cost by it), so the fit is repeated from the policy's own values a few times; it
    settles within a fraction of a per cent in two or three rounds.
    """
    pools = {name: p.model_copy(update={"pv_prev_year": None}) for name, p in policy.pool.items()}
    fitted = policy.model_copy(update={"pool": pools})
    for _ in range(rounds):
        before = fitted
        fitted = _fit(fitted, history, grouped, weights, hospitals, growth)
        if fitted.pool == before.pool:  # a fixed point; the second round when no points use pv
            break
    return fitted
