"""DRG rate method (费率法, payment-rules §2.4): the payment standard is RW × rate_L rounded once
to the fen, never through 4-dp points (issue 12: 24,666 of 60,000 cases differed by up to
0.675 yuan). Batch (`settle_cases`) and one case (`settle_one`) agree.

RW 1.2345 at a secondary hospital (level factor 0.85) under base rate 13,500.00: rate_L =
11,475.0000; std = 1.2345 × 11,475 = 14,165.8875 → 14,165.89. Rounding the points first
(1.2345 × 0.85 = 1.049325 → 1.0493) would pay 1.0493 × 13,500 = 14,165.55.
"""

from __future__ import annotations

from decimal import Decimal as D

import polars as pl
import pytest

from engine.policy import parse_policy
from engine.settlement.batch import settle_cases
from engine.settlement.one_case import hospital_entries, prepare_tables, settle_one
from tests.engine.test_settle_cases import DRG_POLICY

POLICY = DRG_POLICY.replace("base_rate = 10000.00", "base_rate = 13500.00")
WEIGHTS = pl.DataFrame({"drg": ["G1"], "rw": [D("1.2345")], "mean_cost": [D("10000.00")],
                        "n_cases": [100]})
HOSPITALS = pl.DataFrame({"hospital_id": ["B"], "level": ["二级"]})

# title, total cost, case type, payment standard (hand-computed from RW × rate_L exactly)
CASES = [
    ("normal: 1.2345 × 11,475", "10000.00", "normal", "14165.89"),
    # high (k = 2.5 for 1 < RW ≤ 2): std × (1 + r − k) = 14,165.8875 × (1 + 3.1 − 2.5) = 22,665.42
    ("high outlier, points_excess: std × (1 + r − k)", "31000.00", "high_outlier", "22665.42"),
    # low: std × r = 14,165.8875 × 0.3333 (r = 3,333.33 / 10,000) = 4,721.9578… → 4,721.96
    ("low outlier: std × r", "3333.33", "low_outlier", "4721.96"),
]


def frames(costs: list[str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    n = len(costs)
    cases = pl.DataFrame({
        "case_id": [f"r{i}" for i in range(n)], "hospital_id": ["B"] * n,
        "insurance_type": ["employee"] * n, "los": [5] * n, "discharge_way": [1] * n,
        "diagnoses": [["K80.100"]] * n, "total_cost": [D(c) for c in costs],
        "patient_paid": [D(0)] * n, "other_fund_paid": [D(0)] * n,
        "fund_paid": [D(c) for c in costs]},
        schema_overrides={"total_cost": pl.Decimal(18, 2), "patient_paid": pl.Decimal(18, 2),
                          "other_fund_paid": pl.Decimal(18, 2), "fund_paid": pl.Decimal(18, 2)})
    grouped = pl.DataFrame({"case_id": cases["case_id"], "status": ["ok"] * n, "drg": ["G1"] * n,
                            "adrg": [None] * n, "error_code": [None] * n,
                            "error_message": [None] * n},
                           schema_overrides={"adrg": pl.String, "error_code": pl.String,
                                             "error_message": pl.String})
    return cases, grouped


@pytest.fixture(scope="module")
def settled() -> pl.DataFrame:
    cases, grouped = frames([c[1] for c in CASES])
    return settle_cases(cases, grouped, WEIGHTS, HOSPITALS, parse_policy(POLICY))


@pytest.mark.parametrize("index", range(len(CASES)), ids=[c[0] for c in CASES])
def test_rate_method_rounds_once_at_the_fen(settled, index):
    _, _, case_type, standard = CASES[index]
    row = settled.row(index, named=True)
    assert row["case_type"] == case_type
    assert str(row["payment_standard"]) == standard
    assert str(row["fund_payable"]) == standard


def test_the_one_case_path_pays_the_same(settled):
    policy = parse_policy(POLICY)
    cases, grouped = frames([c[1] for c in CASES])
    tables = prepare_tables(WEIGHTS, policy)
    entry = hospital_entries(HOSPITALS, policy)["B"]
    for case, group, batch in zip(cases.iter_rows(named=True), grouped.iter_rows(named=True),
                                  settled.iter_rows(named=True), strict=True):
        one = settle_one(case, group, entry, tables)
        assert one["payment_standard"] == batch["payment_standard"]
        assert one["fund_payable"] == batch["fund_payable"]
