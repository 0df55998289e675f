"""`engine.settlement.one_case.settle_one` (one case in plain Python) equals the batch settlement
`settle_cases`, every RESULT column, row for row, on the fixture region under the four shipped
policies, and on hand-made odd cases (missing or negative money, unknown hospital or pool,
LOS 0, per-diem diagnoses, costs exactly at the outlier thresholds).

Weights are built from the fixture itself as `drgdip weights build-drg` / `build-dip` build
them (`hospitals=`: same-level and per-hospital mean costs nested in the table, so r uses the
level mean and fuzhou's c_{h,g} applies). The batch settles the whole region in one call; a
case the batch merges into an earlier episode of the same patient (a readmission, which a
single case cannot have) is compared with the batch on its own one-row frame instead.
"""

from __future__ import annotations

from collections import Counter
from datetime import date
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from engine.policy import PolicyError, load_policy
from engine.settlement.batch import RESULT_COLUMNS, settle_cases
from engine.settlement.cost_coef import attach_hospital_costs
from engine.settlement.inputs import attach_level_costs
from engine.settlement.one_case import CASE_SCHEMA, hospital_entries, prepare_tables, settle_one
from grouper import group_dip, group_drg
from weights import build_drg
from weights.dip_build import build_dip_catalog

REGION = Path(__file__).resolve().parents[2] / "data" / "fixtures" / "region"
POLICIES = ("foshan_drg_2025", "fuzhou_drg_2025", "jiangmen_dip_2025", "chaozhou_dip_2025")


@pytest.fixture(scope="module")
def region() -> tuple[pl.DataFrame, pl.DataFrame]:
    cases = pl.read_parquet(REGION / "cases.parquet")
    typed = cases.select(pl.col(c).cast(t) for c, t in CASE_SCHEMA.items())
    return typed, pl.read_parquet(REGION / "hospitals.parquet")


@pytest.fixture(scope="module")
def books(region) -> dict[str, tuple[Any, pl.DataFrame, pl.DataFrame, Any]]:
    """policy name → (policy, weight table, grouping of the fixture cases, DIP catalogue)."""
    cases, hospitals = region
    out: dict[str, tuple[Any, pl.DataFrame, pl.DataFrame, Any]] = {}
    dip = build_dip_catalog(cases, hospitals=hospitals)
    dip_table = attach_level_costs(dip.catalog.groups, dip.level_costs, "dip_code")
    dip_grouped = group_dip(cases, dip.catalog)
    for name in POLICIES:
        policy = load_policy(name)
        if policy.method == "dip":
            out[name] = (policy, dip_table, dip_grouped, dip.catalog)
            continue
        ruleset = policy.policy.ruleset
        grouped = group_drg(cases, ruleset)
        build = build_drg(cases, ruleset, grouped=grouped, hospitals=hospitals)
        table = attach_level_costs(build.weights, build.level_costs, "drg")
        table = attach_hospital_costs(table, build.hospital_costs, "drg")
        out[name] = (policy, table, grouped, None)
    return out


def _shown(value: Any) -> Any:
    """Decimals compared with their scale (the API prints them)."""
    return str(value) if isinstance(value, D) else value


def assert_rows_equal(batch: dict[str, Any], one: dict[str, Any], where: str) -> None:
    assert tuple(one) == RESULT_COLUMNS
    diff = {c: (batch[c], one[c]) for c in RESULT_COLUMNS
            if _shown(batch[c]) != _shown(one[c]) or type(batch[c]) is not type(one[c])}
    assert not diff, f"{where}: {diff}"


def compare(cases: pl.DataFrame, grouped: pl.DataFrame, weights: pl.DataFrame,
            hospitals: pl.DataFrame, policy) -> Counter:
    """Both paths on every case; returns the batch's case types."""
    batch = settle_cases(cases, grouped, weights, hospitals, policy)
    tables = prepare_tables(weights, policy)
    entries = hospital_entries(hospitals, policy)
    types: Counter = Counter()
    for i, (case, group, expected) in enumerate(zip(cases.iter_rows(named=True),
                                                    grouped.iter_rows(named=True),
                                                    batch.iter_rows(named=True), strict=True)):
        if expected["case_type"] == "readmission_merged":
            expected = settle_cases(cases.slice(i, 1), grouped.slice(i, 1), weights, hospitals,
                                    policy).row(0, named=True)
        hid = (case["hospital_id"] or "").strip()
        one = settle_one(case, group, entries.get(hid), tables)
        assert_rows_equal(expected, one, f"{policy.policy.region} row {i} {case['case_id']}")
        types[expected["case_type"]] += 1
    return types


@pytest.mark.parametrize("name", POLICIES)
def test_every_fixture_case_settles_as_the_batch(region, books, name):
    cases, hospitals = region
    policy, weights, grouped, _ = books[name]
    types = compare(cases, grouped, weights, hospitals, policy)
    assert sum(types.values()) == cases.height == 20_000
    # the fixture reaches the main rules under every policy (its cases are all valid: the
    # invalid ones are the odd cases below)
    assert {"normal", "high_outlier", "low_outlier", "per_diem", "incomplete"} <= set(types), types
    if name == "fuzhou_drg_2025":
        # c_{h,g} is on and not 1 everywhere
        coefs = settle_cases(cases, grouped, weights, hospitals, policy)["cost_coef"]
        assert coefs.drop_nulls().n_unique() > 1


def _odd_cases(template: dict[str, Any]) -> list[dict[str, Any]]:
    t = dict(template)
    one = [
        {},
        {"total_cost": None}, {"total_cost": D("-1.00")}, {"fund_paid": None},
        {"patient_paid": D("-0.01")}, {"other_fund_paid": None},
        {"insurance_type": "商业保险"}, {"insurance_type": " 职工 "}, {"insurance_type": "RESIDENT"},
        {"hospital_id": None}, {"hospital_id": ""}, {"hospital_id": "H9999"},
        {"hospital_id": " H0005 "},
        {"los": 0}, {"los": 1}, {"los": 2, "discharge_way": 5}, {"los": 2, "discharge_way": None},
        {"los": None}, {"los": None, "admit_date": None},
        {"los": None, "admit_date": date(2025, 3, 9), "discharge_date": date(2025, 3, 1)},
        {"los": 60}, {"los": 200},
        {"diagnoses": ["F20.000"], "los": 45}, {"diagnoses": ["Z50.001"], "los": 30},
        {"diagnoses": ["f32.900"], "los": 3}, {"diagnoses": []}, {"diagnoses": None},
        {"total_cost": D("0.00"), "fund_paid": D("0.00"), "patient_paid": D("0.00")},
        {"total_cost": D("0.01")}, {"total_cost": D("9999999.99")},
        {"patient_paid": D("9999999.99")},
        {"case_id": " c-odd ", "patient_id": None},
    ]
    return [{**t, **change} for change in one]


def _threshold_cases(policy, settled: pl.DataFrame, cases: pl.DataFrame) -> list[dict]:
    """Costs exactly at k_high × avg and k_low × avg (and one fen either side), for normal cases
    whose mean cost makes the product a whole fen."""
    o = policy.outliers
    out = []
    rows = settled.with_row_index("i").filter(pl.col("case_type") == "normal").head(400)
    for row in rows.iter_rows(named=True):
        avg, weight = row["avg_cost"], row["weight"]
        tiers = o.k_high_tiers
        k_high = o.k_high if not tiers else next(
            (t.k for t in tiers[:-1] if t.weight_max is not None and weight <= D(str(
                t.weight_max))), tiers[-1].k)
        for k in (D(str(k_high)), D(str(o.k_low))):
            cost = avg * k
            if cost != cost.quantize(D("0.01")):
                continue
            for delta in (D("-0.01"), D(0), D("0.01")):
                total = (cost + delta).quantize(D("0.01"))
                out.append({**cases.row(row["i"], named=True), "total_cost": total,
                            "fund_paid": D("0.00"), "other_fund_paid": D("0.00"),
                            "patient_paid": D("0.00")})
        if len(out) >= 60:
            break
    return out


@pytest.mark.parametrize("name", POLICIES)
def test_odd_cases_settle_as_the_batch(region, books, name):
    cases, hospitals = region
    policy, weights, grouped, catalog = books[name]
    settled = settle_cases(cases, grouped, weights, hospitals, policy)
    ok = settled.with_row_index("i").filter(pl.col("status") == "ok",
                                            pl.col("case_type") == "normal")
    templates = [cases.row(i, named=True) for i in ok["i"].head(3).to_list()]
    rows = [r for t in templates for r in _odd_cases(t)]
    at = _threshold_cases(policy, settled, cases)
    assert len(at) >= 12
    rows += at
    odd = pl.DataFrame(rows, schema=CASE_SCHEMA)
    odd_grouped = (group_dip(odd, catalog) if policy.method == "dip" else group_drg(odd, policy.policy.ruleset))
    types = compare(odd, odd_grouped, weights, hospitals, policy)
    batch = settle_cases(odd, odd_grouped, weights, hospitals, policy)
    codes = set(batch["error_code"].drop_nulls())
    assert {"S101", "S102", "S103", "S104", "S105"} <= codes
    # at exactly k × avg the inclusive flags decide; one fen beyond is always outside
    thresholds = batch.tail(len(at))["case_type"].to_list()
    step = [thresholds[i:i + 3] for i in range(0, len(thresholds), 3)]
    highs = [s for s in step if s[2] == "high_outlier"]
    lows = [s for s in step if s[0] == "low_outlier"]
    assert highs and lows, step
    for s in highs:
        assert s[0] == "normal" and (s[1] == "high_outlier") == policy.outliers.high_inclusive
    for s in lows:
        assert s[2] == "normal" and (s[1] == "low_outlier") == policy.outliers.low_inclusive
    assert "per_diem" in types or not policy.per_diem.categories
    # the same cases with their groups missing from the weight table: unmatched (FFS or
    # cost points, as the policy says)
    code = "drg" if policy.method == "drg" else "dip_code"
    missing = set(odd_grouped[code].head(3 * 32).drop_nulls())
    fewer = weights.filter(~pl.col(code).is_in(list(missing)))
    assert compare(odd, odd_grouped, fewer, hospitals, policy)["unmatched"] >= 20


def test_an_unknown_hospital_level_fails_as_in_the_batch(region, books):
    cases, hospitals = region
    bad = hospitals.with_columns(pl.when(pl.col("hospital_id") == "H0001").then(pl.lit("四级"))
                                 .otherwise(pl.col("level")).alias("level"))
    policy, weights, grouped, _ = books["foshan_drg_2025"]
    with pytest.raises(PolicyError, match="H0001"):
        settle_cases(cases.head(5), grouped.head(5), weights, bad, policy)
    with pytest.raises(PolicyError, match="H0001"):
        hospital_entries(bad, policy)
    # the other hospitals, one at a time, still settle as the batch
    one = bad.filter(pl.col("hospital_id") == "H0002")
    rows = cases.with_row_index("i").filter(pl.col("hospital_id") == "H0002").head(20)
    idx = rows["i"].to_list()
    compare(cases[idx], grouped[idx], weights, one, policy)
