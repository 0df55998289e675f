"""Monthly pre-settlement (月度预结算, payment-rules.md §4.2): per hospital and fund pool, the
period's sums of the case results and the advance paid for the month.

Sums leave out held cases (`invalid`, `violation`): they are neither paid nor counted as what FFS
would have paid. `fund_payable` is the sum of the per-case rounded amounts, so case rows add up
to the hospital total to the fen. The prepayment rounds once per hospital:
`ffs_ratio`: ratio × FFS fund amount; `points`: ratio × (value − liability), value =
Σ payment standards under the DRG rate method, else round(points × pv_budget) + fixed amounts.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import polars as pl

from engine.policy import Policy
from engine.settlement.money import MONEY, POINTS, round_money

HELD = ("invalid", "violation")


def hospital_period(case_results: pl.DataFrame, policy: Policy, period: str) -> pl.DataFrame:
    """One row per (fund_pool, hospital_id) of settled cases; columns of
    hospital_period_results without run_id."""
    c = pl.col
    paid = ~c("case_type").is_in(HELD)

    def paid_sum(col: str) -> pl.Expr:
        return c(col).filter(paid).sum()

    frame = (case_results.filter(c("fund_pool").is_not_null() & c("hospital_id").is_not_null())
             .group_by("fund_pool", "hospital_id")
             .agg(pl.len().alias("cases"),
                  c("case_type").is_in(HELD).sum().alias("cases_invalid"),
                  (c("case_type") == "high_outlier").sum().alias("high_outliers"),
                  (c("case_type") == "low_outlier").sum().alias("low_outliers"),
                  paid_sum("points").alias("points"),
                  paid_sum("fixed_amount").alias("fixed_amount"),
                  paid_sum("payment_standard").alias("payment_standard"),
                  paid_sum("total_cost").alias("total_cost"),
                  paid_sum("fund_paid").alias("ffs_fund_amount"),
                  (paid_sum("patient_paid") + paid_sum("other_fund_paid")).alias("liability"),
                  c("fund_payable").sum().alias("fund_payable"),
                  c("deduction").sum().alias("deduction"))
             .sort("fund_pool", "hospital_id"))
    rows = []
    for r in frame.iter_rows(named=True):
        r = {k: (Decimal(0) if v is None and k not in ("fund_pool", "hospital_id") else v)
             for k, v in r.items()}
        pv = policy.provisional_point_value(r["fund_pool"]) if r["fund_pool"] in policy.pool \
            else None
        r["point_value"] = pv
        r["prepay_method"] = policy.prepay.method
        r["prepayment"] = prepayment(policy, r, pv)
        r["period"] = period
        rows.append(r)
    return _frame(rows)


def prepayment_due(policy: Policy, r: dict[str, Any], pv: Decimal | None) -> Decimal:
    """The month's advance by the policy's rule, before the clamp at 0 (it is negative when the
    value of the points is below what patients and other funds paid)."""
    rule = policy.prepay
    if rule.method == "ffs_ratio" or pv is None:
        return round_money(rule.ratio * r["ffs_fund_amount"])
    if policy.fixed_point_value:
        value = r["payment_standard"]
    else:
        value = round_money(r["points"] * pv) + r["fixed_amount"]
    return round_money(rule.ratio * (value - r["liability"]))


def prepayment(policy: Policy, r: dict[str, Any], pv: Decimal | None) -> Decimal:
    """The advance paid: `prepayment_due`, a negative one paid as 0 (payment-rules §4.3; each
    such clamp is listed by `clamped_prepayments`)."""
    return max(Decimal(0), prepayment_due(policy, r, pv))


def clamped_prepayments(period_rows: pl.DataFrame, policy: Policy) -> dict[str, dict[str, str]]:
    """{fund_pool: {hospital_id: the negative advance due}} of the hospital-period rows whose
    prepayment was clamped to 0 — for the run summary (stored with the run, printed by
    `drgdip settle`), never applied silently."""
    out: dict[str, dict[str, str]] = {}
    for r in period_rows.filter(pl.col("prepayment") == 0).iter_rows(named=True):
        r = {k: (Decimal(0) if v is None and k not in ("fund_pool", "hospital_id", "point_value")
                 else v) for k, v in r.items()}
        due = prepayment_due(policy, r, r["point_value"])
        if due < 0:
            out.setdefault(r["fund_pool"], {})[r["hospital_id"]] = str(due)
    return out


def off_scale_pools(period_rows: pl.DataFrame, policy: Policy) -> dict[str, dict[str, str]]:
    """{fund_pool: {"payable_to_ffs": ratio, "band": "lo–hi"}} of the pools whose fund payable
    ÷ FFS fund amount in this run is outside `[policy] scale_warning_band` — the sign of a
    point value or base rate on another scale than the catalogue's or weights' (an imported
    catalogue priced at another region's point value); for the run summary, never silent."""
    low, high = policy.policy.scale_warning_band
    out: dict[str, dict[str, str]] = {}
    sums = (period_rows.filter(pl.col("fund_pool").is_not_null()).group_by("fund_pool")
            .agg(pl.col("fund_payable").sum(), pl.col("ffs_fund_amount").sum())
            .sort("fund_pool"))
    for pool, payable, ffs in sums.iter_rows():
        if not ffs or ffs <= 0 or payable is None:
            continue
        ratio = Decimal(payable) / Decimal(ffs)
        if not low <= ratio <= high:
            out[pool] = {"payable_to_ffs": f"{ratio:.3f}", "band": f"{low}–{high}",
                         "fund_payable": str(payable), "ffs_fund_amount": str(ffs)}
    return out


PERIOD_COLUMNS = ("period", "fund_pool", "hospital_id", "cases", "cases_invalid", "high_outliers",
                  "low_outliers", "points", "fixed_amount", "payment_standard", "total_cost",
                  "ffs_fund_amount", "liability", "fund_payable", "deduction", "point_value",
                  "prepay_method", "prepayment")


def _frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    schema: dict[str, Any] = {c: MONEY for c in PERIOD_COLUMNS}
    schema.update({"period": pl.String, "fund_pool": pl.String, "hospital_id": pl.String,
                   "cases": pl.Int64, "cases_invalid": pl.Int64, "high_outliers": pl.Int64,
                   "low_outliers": pl.Int64, "points": POINTS, "point_value": POINTS,
                   "prepay_method": pl.String})
    return pl.DataFrame({c: [r.get(c) for r in rows] for c in PERIOD_COLUMNS}, schema=schema)
