"""Annual clearing per institution (年度清算), payment-rules.md §4, in exact Decimal yuan.

For one fund pool: withhold the risk reserve `R` and the special-review pool `S` from the budget
`B`; fix the settlement point value (`plus_liability`: (B_avail + patients' and other funds'
payments − amounts paid outside points) / Σ points; `ratio`: (B_avail / reimbursement ratio −
those amounts) / Σ points; optional cap against last year); per hospital the payable
`P = points × pv + fixed − liability`, compared with the FFS fund amount `F`: surplus retention
or overspend sharing by band, shared amounts funded from `R` (scaled down pro rata when they
exceed it), violation deductions, the assessment coefficient, prepayments and turnover funds.
The reserve left is returned to the fund or redistributed (二次分配) pro rata to points × assessment
coefficient. Rounded to the fen at every payable amount, half-up; the point value to 4 dp.

Money is conserved, to the fen:
`Σ final_payment + reserve_left + surplus_not_retained + violation_deductions + pool_residual
 + special_review_pool = budget`, where `pool_residual = B_avail − Σ P` (zero under
`plus_liability` up to the point value's rounding).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import polars as pl

from engine.policy import Policy
from engine.settlement.money import allocate, round4, round_money, yuan

ZERO = Decimal(0)
INPUT_COLUMNS = ("hospital_id", "points", "fixed_amount", "payment_standard", "liability",
                 "ffs_fund_amount", "total_cost", "prepaid", "deduction")
RESULT_COLUMNS = (
    "hospital_id", "points", "point_value", "value", "liability", "payable", "ffs_fund_amount",
    "ratio", "outcome", "surplus", "overspend", "surplus_retained", "surplus_not_retained",
    "overspend_shared", "violation_deduction", "pay_before_assessment", "assessment_coef",
    "assessment_deduction", "reserve_redistributed", "final_payment", "prepaid", "turnover",
    "turnover_recovered", "net_clearing", "reserve_withheld",
)


@dataclass(frozen=True)
class Clearing:
    """Per-hospital rows (RESULT_COLUMNS) and the pool summary with the conservation terms."""

    hospitals: pl.DataFrame
    summary: dict[str, Any]


def _d(value: Any) -> Decimal:
    return ZERO if value is None else Decimal(str(value))


def settlement_point_value(policy: Policy, fund_pool: str, rows: list[dict[str, Any]],
                           available: Decimal) -> Decimal:
    """pv_settle (§3.4); the provisional value under the DRG rate method."""
    pool = policy.pool_params(fund_pool)
    if policy.fixed_point_value:
        return policy.provisional_point_value(fund_pool)
    points = sum((r["points"] for r in rows), ZERO)
    fixed = sum((r["fixed_amount"] for r in rows), ZERO)
    if points <= 0:
        return policy.provisional_point_value(fund_pool)
    if pool.pv_basis == "plus_liability":
        liability = sum((r["liability"] for r in rows), ZERO)
        pv = round4((available + liability - fixed) / points)
    else:
        ratio = pool.reimbursement_ratio
        if ratio is None:
            ffs = sum((r["ffs_fund_amount"] for r in rows), ZERO)
            cost = sum((r["total_cost"] for r in rows), ZERO)
            ratio = ffs / cost if cost > 0 and ffs > 0 else Decimal(1)
        pv = round4((available / ratio - fixed) / points)
    if pool.pv_prev_year is not None and pool.pv_cap_ratio is not None:
        pv = min(pv, round4(pool.pv_prev_year * pool.pv_cap_ratio))
    return max(pv, ZERO)


def _surplus_pay(policy: Policy, payable: Decimal, ffs: Decimal) -> Decimal:
    rule = policy.clearing
    if rule.surplus_rule == "full":
        return payable
    if rule.surplus_rule == "capped_pct_of_ffs":
        return min(payable, round_money(ffs * rule.ffs_cap_pct))
    gap = payable - ffs
    band = (1 - rule.surplus_floor) * payable
    keep = min(gap, band) * rule.keep_in_band + max(ZERO, gap - band) * rule.keep_beyond
    return ffs + round_money(keep)


def _shared(policy: Policy, payable: Decimal, ffs: Decimal) -> Decimal:
    rule = policy.clearing
    if rule.overspend_rule == "none":
        return ZERO
    over = ffs - payable
    band = rule.overspend_cap * max(payable, ZERO)
    return round_money(min(over, band) * rule.share_in_band
                       + max(ZERO, over - band) * rule.share_beyond)


def clear_pool(hospitals: pl.DataFrame, policy: Policy, fund_pool: str) -> Clearing:
    """Clear one fund pool's year. `hospitals` has INPUT_COLUMNS (yuan as Decimal/float/str,
    points 4 dp): the year's sums per hospital of case points, amounts paid outside points
    (`fixed_amount`), payment standards, patients' and other funds' payments (`liability`),
    FFS fund amounts, total cost, prepayments and violation deductions."""
    missing = [c for c in INPUT_COLUMNS if c not in hospitals.columns]
    if missing:
        raise ValueError(f"clearing input lacks {', '.join(missing)}")
    pool, rule = policy.pool_params(fund_pool), policy.clearing
    rows = [{k: (v if k == "hospital_id" else _d(v)) for k, v in r.items()}
            for r in hospitals.select(INPUT_COLUMNS).sort("hospital_id").iter_rows(named=True)]
    budget = pool.budget
    reserve = round_money(budget * rule.risk_reserve_rate)
    available = budget - reserve - pool.special_review_pool
    pv = settlement_point_value(policy, fund_pool, rows, available)
    unreasonable = set(policy.assessment.overspend_unreasonable)
    for r in rows:
        if policy.fixed_point_value:
            r["value"] = r["payment_standard"]
        else:
            r["value"] = round_money(r["points"] * pv) + r["fixed_amount"]
        r["payable"] = r["value"] - r["liability"]
        payable, ffs = r["payable"], r["ffs_fund_amount"]
        r["ratio"] = round4(ffs / payable) if payable > 0 else None
        r["surplus"] = max(ZERO, payable - ffs)
        r["overspend"] = max(ZERO, ffs - payable)
        if ffs <= payable:
            r["outcome"] = "surplus"
            pay = _surplus_pay(policy, payable, ffs)
            r["surplus_retained"], r["surplus_not_retained"] = pay - ffs, payable - pay
            r["overspend_shared"] = ZERO
        else:
            r["outcome"] = "overspend"
            r["surplus_retained"] = r["surplus_not_retained"] = ZERO
            r["overspend_shared"] = (ZERO if r["hospital_id"] in unreasonable
                                     else _shared(policy, payable, ffs))
    shared_total = sum((r["overspend_shared"] for r in rows), ZERO)
    if shared_total > reserve:  # §4.3: scale all shares by R / Σ shared, exactly to the fen
        parts = allocate(int(reserve * 100), [r["overspend_shared"] for r in rows])
        for r, fen in zip(rows, parts, strict=True):
            r["overspend_shared"] = yuan(fen)
        shared_total = reserve
    for r in rows:
        base = (r["payable"] + r["overspend_shared"] if r["outcome"] == "overspend"
                else r["payable"] - r["surplus_not_retained"])
        r["violation_deduction"] = r["deduction"]
        r["pay_before_assessment"] = base - r["deduction"]
        coef = policy.assessment.hospital.get(str(r["hospital_id"]), policy.assessment.default)
        r["assessment_coef"] = coef
        final = round_money(r["pay_before_assessment"] * coef)
        r["assessment_deduction"] = r["pay_before_assessment"] - final
        r["final_payment"] = final
    assessment_total = sum((r["assessment_deduction"] for r in rows), ZERO)
    reserve_left = reserve - shared_total + assessment_total
    redistributed = ZERO
    if rule.reserve_left == "redistribute" and reserve_left > 0:
        parts = allocate(int(reserve_left * 100),
                         [max(ZERO, r["points"] * r["assessment_coef"]) for r in rows])
        for r, fen in zip(rows, parts, strict=True):
            r["reserve_redistributed"] = yuan(fen)
            r["final_payment"] += yuan(fen)
        redistributed = sum((yuan(f) for f in parts), ZERO)
        reserve_left -= redistributed
    shares = [max(ZERO, r["payable"]) for r in rows]
    if not any(shares):
        shares = [Decimal(1)] * len(rows)
    withheld = allocate(int(reserve * 100), shares)
    for r, fen in zip(rows, withheld, strict=True):
        r.setdefault("reserve_redistributed", ZERO)
        r["reserve_withheld"] = yuan(fen)
        r["point_value"] = pv
        r["turnover"] = _d(policy.turnover.hospital.get(str(r["hospital_id"])))
        r["turnover_recovered"] = r["turnover"] if rule.turnover_recover_at_clearing else ZERO
        r["net_clearing"] = r["final_payment"] - r["prepaid"] - r["turnover_recovered"]
    payable_total = sum((r["payable"] for r in rows), ZERO)
    summary = {
        "fund_pool": fund_pool, "budget": budget, "risk_reserve": reserve,
        "special_review_pool": pool.special_review_pool, "available": available,
        "point_value": pv, "points": sum((r["points"] for r in rows), ZERO),
        "payable_total": payable_total, "pool_residual": available - payable_total,
        "ffs_total": sum((r["ffs_fund_amount"] for r in rows), ZERO),
        "overspend_shared": shared_total, "assessment_deductions": assessment_total,
        "violation_deductions": sum((r["violation_deduction"] for r in rows), ZERO),
        "surplus_not_retained": sum((r["surplus_not_retained"] for r in rows), ZERO),
        "reserve_redistributed": redistributed, "reserve_left": reserve_left,
        "final_total": sum((r["final_payment"] for r in rows), ZERO),
        "prepaid_total": sum((r["prepaid"] for r in rows), ZERO),
        "net_total": sum((r["net_clearing"] for r in rows), ZERO),
    }
    return Clearing(_frame(rows), summary)


def conservation_gap(summary: dict[str, Any]) -> Decimal:
    """budget − (payments + reserve left + everything else returned to the fund); 0 when money
    is conserved."""
    s = summary
    returned = (s["final_total"] + s["reserve_left"] + s["surplus_not_retained"]
                + s["violation_deductions"] + s["pool_residual"] + s["special_review_pool"])
    gap: Decimal = s["budget"] - returned
    return gap


def _frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    money = pl.Decimal(38, 2)
    schema: dict[str, Any] = {c: money for c in RESULT_COLUMNS}
    wide = pl.Decimal(38, 4)  # ratios and point values of degenerate pools can be large
    schema.update({"hospital_id": pl.String, "outcome": pl.String, "points": wide,
                   "point_value": wide, "ratio": wide, "assessment_coef": pl.Decimal(18, 4)})
    data = {c: [r.get(c) for r in rows] for c in RESULT_COLUMNS}
    return pl.DataFrame(data, schema=schema)
