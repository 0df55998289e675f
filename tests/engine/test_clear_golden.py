"""payment-rules.md §4.4, the worked three-hospital example, to the fen (issue 6)."""

from __future__ import annotations

from decimal import Decimal

import polars as pl
import pytest

from engine.policy import parse_policy
from engine.settlement.batch import settle_cases
from engine.settlement.clear import clear_pool, conservation_gap

GOLDEN_POLICY = """
[policy]
region = "worked_example"
year = 2025
version = "payment-rules-4.4"
method = "dip"

[outliers]
k_high = 2.0
k_low = 0.5

[institution_coef]
by_level = { "3" = 1.0, "2" = 0.85, "1" = 0.7, community = 0.70 }
basic_group_coef = 1.0

[pool.employee]
budget = 60000000.00
pv_budget = 10.0
pv_basis = "plus_liability"

[clearing]
risk_reserve_rate = 0.05
surplus_rule = "banded"
surplus_floor = 0.85
overspend_rule = "banded"
overspend_cap = 0.10
share_in_band = 0.5
share_beyond = 0.0

[prepay]
method = "ffs_ratio"
ratio = 0.90

[assessment]
hospital = { A = 0.98, B = 1.00, C = 0.99 }
"""

D = Decimal


@pytest.fixture()
def policy():
    return parse_policy(GOLDEN_POLICY, name="golden")


def hospital_year(points, liability, ffs, *, fixed=None) -> pl.DataFrame:
    ids = ["A", "B", "C"]
    return pl.DataFrame({
        "hospital_id": ids, "points": [D(p) for p in points],
        "fixed_amount": [D(f) for f in (fixed or ["0"] * 3)],
        "payment_standard": [D(0)] * 3, "liability": [D(x) for x in liability],
        "ffs_fund_amount": [D(x) for x in ffs], "total_cost": [D(0)] * 3,
        "prepaid": [(D(x) * D("0.9")).quantize(D("0.01")) for x in ffs],
        "deduction": [D(0)] * 3}, schema_overrides={"points": pl.Decimal(18, 4)})


def test_worked_example_to_the_fen(policy):
    year = hospital_year(["4500000", "2210000", "790000"],
                         ["11000000", "5200000", "1800000"],
                         ["36000000", "15500000", "7000000"])
    result = clear_pool(year, policy, "employee")
    s = result.summary
    assert s["risk_reserve"] == D("3000000.00")
    assert s["available"] == D("57000000.00")
    assert s["point_value"] == D("10.0000")
    rows = {r["hospital_id"]: r for r in result.hospitals.iter_rows(named=True)}
    expected = {
        #      value          payable        ratio     shared        pay_before     final          net
        "A": ("45000000.00", "34000000.00", "1.0588", "1000000.00", "35000000.00", "34300000.00",
              "1900000.00"),
        "B": ("22100000.00", "16900000.00", "0.9172", "0.00", "16900000.00", "16900000.00",
              "2950000.00"),
        "C": ("7900000.00", "6100000.00", "1.1475", "305000.00", "6405000.00", "6340950.00",
              "40950.00"),
    }
    for hid, (value, payable, ratio, shared, pay, final, net) in expected.items():
        r = rows[hid]
        got = (r["value"], r["payable"], r["ratio"], r["overspend_shared"],
               r["pay_before_assessment"], r["final_payment"], r["net_clearing"])
        assert got == tuple(D(x) for x in (value, payable, ratio, shared, pay, final, net)), hid
    assert rows["B"]["surplus_retained"] == D("1400000.00")
    assert s["payable_total"] == D("57000000.00")
    assert s["overspend_shared"] == D("1305000.00")
    assert s["assessment_deductions"] == D("764050.00")
    assert s["reserve_left"] == D("2459050.00")
    assert s["final_total"] == D("57540950.00")
    assert s["final_total"] + s["reserve_left"] == s["budget"]
    assert conservation_gap(s) == 0


@pytest.mark.parametrize(("rule", "expected_pay"), [
    ("banded", "15535000.00"), ("capped_pct_of_ffs", "13390000.00"), ("full", "16900000.00")])
def test_worked_example_variant_low_ffs(policy, rule, expected_pay):
    """§4.4 variant: had B's F been 13,000,000 (ratio 0.769 < 0.85)."""
    varied = policy.model_copy(update={
        "clearing": policy.clearing.model_copy(update={"surplus_rule": rule})})
    year = hospital_year(["4500000", "2210000", "790000"],
                         ["11000000", "5200000", "1800000"],
                         ["36000000", "13000000", "7000000"])
    result = clear_pool(year, varied, "employee")
    b = result.hospitals.filter(pl.col("hospital_id") == "B").row(0, named=True)
    assert b["pay_before_assessment"] == D(expected_pay)
    assert conservation_gap(result.summary) == 0


def test_case_level_illustration(policy):
    """§4.4 case illustration: score 1,000, same-level mean cost 12,000; C's basic group at 1.0."""
    costs = [11000, 30000, 4800, 11000, 11000, 11000]
    cases = pl.DataFrame({
        "case_id": [f"c{i}" for i in range(6)], "hospital_id": ["A", "A", "A", "B", "C", "C"],
        "insurance_type": ["employee"] * 6, "los": [6] * 6, "discharge_way": [1] * 6,
        "diagnoses": [["K80.100"]] * 6, "total_cost": [float(c) for c in costs],
        "fund_paid": [c * 0.6 for c in costs], "other_fund_paid": [0.0] * 6,
        "patient_paid": [c * 0.4 for c in costs]})
    grouped = pl.DataFrame({
        "case_id": cases["case_id"], "status": ["ok"] * 6,
        "dip_code": ["G1"] * 5 + ["B1"], "dip_type": ["core"] * 5 + ["basic"],
        "dip_name": ["core group"] * 5 + ["basic group"], "adjusted_score": [1000.0] * 6,
        "error_code": [None] * 6, "error_message": [None] * 6})
    catalog = pl.DataFrame({"dip_code": ["G1", "B1"], "score": [1000.0, 1000.0],
                            "mean_cost": [12000.0, 12000.0], "n_cases": [100, 100]})
    hospitals = pl.DataFrame({"hospital_id": ["A", "B", "C"], "level": ["3", "2", "community"]})
    out = settle_cases(cases, grouped, catalog, hospitals, policy)
    assert out["case_type"].to_list() == ["normal", "high_outlier", "low_outlier", "normal",
                                          "normal", "normal"]
    assert out["cost_ratio"].to_list()[:3] == [D("0.9167"), D("2.5000"), D("0.4000")]
    assert out["points"].to_list() == [D("1000.0000"), D("1500.0000"), D("400.0000"),
                                       D("850.0000"), D("700.0000"), D("1000.0000")]
