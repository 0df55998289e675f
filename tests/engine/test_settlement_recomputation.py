"""Independent recomputation of the golden settlements in exact fractions (issue 12 "must
show"): from each case row's own operands (weight, coefficients, mean cost, cost, point value)
the payment-rules formulas in `fractions.Fraction`, one ROUND_HALF_UP per payable amount, agree
to the fen with every deviation / normal case row; hospital-period rows are the sums of their
case rows; clearing values are round(points × pv) + fixed (point methods) or Σ standards (rate).
Written apart from engine/settlement/: it shares no code with them."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction as F
from pathlib import Path

import polars as pl
import pytest

from engine.policy import load_policy

GOLDEN = Path(__file__).resolve().parents[2] / "data" / "fixtures" / "settlement"
POLICIES = ("foshan_drg_2025", "fuzhou_drg_2025", "jiangmen_dip_2025", "chaozhou_dip_2025")
RULED = ("normal", "high_outlier", "low_outlier", "incomplete")


def half_up(x: F, places: int) -> Decimal:
    q = F(10**places)
    n = x * q
    whole = (abs(n.numerator) * 2 + n.denominator) // (n.denominator * 2)
    return Decimal(whole if n >= 0 else -whole).scaleb(-places)


def fr(v) -> F:
    return F(str(v))


def k_high(policy, weight: F) -> F:
    tiers = policy.outliers.k_high_tiers
    if not tiers:
        return fr(policy.outliers.k_high)
    for t in tiers[:-1]:
        if weight <= fr(t.weight_max):
            return fr(t.k)
    return fr(tiers[-1].k)


def amount(policy, r: dict, base: F, std: F, dev: F, pv: F) -> F:
    """The case type's points (or money with base = RW, std = rate_L, pv = 1) unrounded."""
    cost, avg = fr(r["total_cost"]), fr(r["avg_cost"])
    ratio = cost / avg
    t = r["case_type"]
    if t == "normal":
        return base * std
    if t == "low_outlier":
        return base * dev * ratio
    if t == "incomplete":
        return base * std * min(F(1), ratio)
    k = k_high(policy, fr(r["weight"]))
    if policy.outliers.high_outlier_method == "points_excess":
        return base * std + base * dev * (ratio - k)
    return base * std + (cost - k * avg) * fr(policy.outliers.excess_share) / pv


@pytest.mark.parametrize("name", POLICIES)
def test_case_rows_recompute_to_the_fen(name):
    policy = load_policy(name)
    rows = pl.read_parquet(GOLDEN / f"{name}.cases.parquet")
    checked = 0
    for r in rows.filter(pl.col("case_type").is_in(RULED)).iter_rows(named=True):
        inst = fr(r["institution_coef"])
        std_coef = inst * (fr(r["cost_coef"]) if r["cost_coef"] is not None else 1)
        dev = inst if policy.outliers.apply_inst_to_deviation else F(1)
        weight = fr(r["weight"])
        if policy.fixed_point_value:  # rate method: RW × rate_L, rounded once
            rate = fr(policy.pool[r["fund_pool"]].base_rate)
            money = amount(policy, r, weight, fr(half_up(rate * std_coef, 4)),
                           fr(half_up(rate * dev, 4)), F(1))
            standard = half_up(money, 2) + r["fixed_amount"]
        else:
            base = weight * fr(policy.policy.points_per_weight) if policy.method == "drg" \
                else weight
            pv = fr(r["point_value"])
            points = half_up(amount(policy, r, base, std_coef, dev, pv), 4)
            assert points == r["points"], r
            standard = half_up(fr(points) * pv, 2) + r["fixed_amount"]
        assert standard == r["payment_standard"], r
        if policy.policy.fund_share_method == "ratio":
            payable = half_up(fr(standard) * fr(r["fund_paid"]) / fr(r["total_cost"]), 2)
        else:
            payable = max(Decimal(0), standard - r["patient_paid"] - r["other_fund_paid"])
        assert payable == r["fund_payable"], r
        checked += 1
    assert checked > 10_000


@pytest.mark.parametrize("name", POLICIES)
def test_hospital_period_and_clearing_rows_recompute(name):
    policy = load_policy(name)
    cases = pl.read_parquet(GOLDEN / f"{name}.cases.parquet")
    periods = pl.read_parquet(GOLDEN / f"{name}.hospital_period.parquet")
    clearing = pl.read_parquet(GOLDEN / f"{name}.clearing.parquet")
    paid = cases.filter(~pl.col("case_type").is_in(["invalid", "violation"]))
    for p in periods.iter_rows(named=True):
        mine = paid.filter((pl.col("fund_pool") == p["fund_pool"])
                           & (pl.col("hospital_id") == p["hospital_id"]))
        assert sum(mine["fund_payable"].to_list(), Decimal(0)) == p["fund_payable"]
        assert sum(mine["points"].to_list(), Decimal(0)) == p["points"]
        assert sum(mine["payment_standard"].to_list(), Decimal(0)) == p["payment_standard"]
    joined = clearing.join(periods, on=["fund_pool", "hospital_id"], suffix="_p")
    for c in joined.iter_rows(named=True):
        if policy.fixed_point_value:
            value = c["payment_standard"]
        else:
            value = half_up(fr(c["points_p"]) * fr(c["point_value"]), 2) + c["fixed_amount"]
        assert value == c["value"], c
        assert value - c["liability_p"] == c["payable"], c
