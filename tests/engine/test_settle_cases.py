"""Per-case settlement, one titled hand-worked case per rule (payment-rules §2.4–2.7, §3.3–3.6).

DRG rate method at base rate 10,000 yuan per RW, level factors 3 → 1.00 and 2 → 0.85; every
case is in group G1 (RW 1.2, regional mean cost 10,000) unless said otherwise, treated at
tertiary hospital A and paid 30 % by the patient.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal as D

import polars as pl
import pytest

from engine.policy import parse_policy
from engine.settlement.batch import settle_cases
from engine.settlement.review import ReviewFileError, normalise_reviews

DRG_POLICY = """
[policy]
region = "test"
year = 2025
version = "t1"
method = "drg"
payment_basis = "rate"
points_per_weight = 1
[scope]
min_los = 1
max_los = 60
[outliers]
k_high_tiers = [{ weight_max = 1.0, k = 3.0 }, { weight_max = 2.0, k = 2.5 }, { k = 2.0 }]
k_low = 0.4
[per_diem]
long_stay_daily_rate = 650.00
categories = [{ name = "psychiatry", dx_prefixes = ["F"], daily_rate = 380.00 }]
[review]
quota = 0.5
[institution_coef]
by_level = { "3" = 1.0, "2" = 0.85, "1" = 0.75, community = 0.75 }
[pool.employee]
budget = 1000000.00
base_rate = 10000.00
"""

WEIGHTS = pl.DataFrame({"drg": ["G1", "G2"], "rw": [1.2, 0.5], "mean_cost": [10000.0, 4000.0],
                        "n_cases": [100, 100]})
HOSPITALS = pl.DataFrame({"hospital_id": ["A", "B", "Q"], "level": ["三级", "二级", "三级"]})

# title, case fields (over the defaults), review (outcome, deduction) or None,
# expected case_type, points, payment_standard, fund_payable
CASES = [
    ("normal case at a tertiary hospital", {}, None, "normal", "1.2", "12000.00", "9000.00"),
    ("normal case at a secondary hospital gets the 0.85 level factor", {"hospital_id": "B"},
     None, "normal", "1.02", "10200.00", "7200.00"),
    ("high outlier: RW 1.2 → k 2.5; r = 3 → 1.2 + 1.2 × 0.5", {"total_cost": 30000},
     None, "high_outlier", "1.8", "18000.00", "9000.00"),
    ("r exactly k_high is not an outlier (strict bound)", {"total_cost": 25000},
     None, "normal", "1.2", "12000.00", "4500.00"),
    ("low outlier: r = 0.3 → 1.2 × 0.3", {"total_cost": 3000}, None, "low_outlier", "0.36",
     "3600.00", "2700.00"),
    ("incomplete stay: death on day 2, r = 0.6 → 1.2 × 0.6",
     {"discharge_way": 5, "los": 2, "total_cost": 6000}, None, "incomplete", "0.72",
     "7200.00", "5400.00"),
    ("per diem psychiatry, 100 days: 60×380 + 30×342 + 10×304",
     {"diagnoses": ["F20.000"], "los": 100}, None, "per_diem", "0", "36100.00", "33100.00"),
    ("long stay ≥ max_los outside a category: 60×650 + 10×585", {"los": 70}, None, "per_diem",
     "0", "44850.00", "41850.00"),
    ("stay of ≤ min_los days is paid by item", {"los": 1}, None, "ffs_short_stay", "0",
     "10000.00", "7000.00"),
    ("ungroupable case is paid by item", {"status": "ungroupable", "drg": None}, None,
     "unmatched", "0", "10000.00", "7000.00"),
    ("group without a weight is paid by item", {"drg": "G9"}, None, "unmatched", "0",
     "10000.00", "7000.00"),
    ("special review approved_ffs pays by item", {"total_cost": 50000}, ("approved_ffs", None),
     "review_ffs", "0", "50000.00", "35000.00"),
    ("approved_uplift: 1.2 + (30,000 − 12,000) / 10,000", {"total_cost": 30000},
     ("approved_uplift", None), "review_uplift", "3.0", "30000.00", "21000.00"),
    ("rejected review: the normal rule", {"total_cost": 30000}, ("rejected", None),
     "high_outlier", "1.8", "18000.00", "9000.00"),
    ("violation: nothing payable, deduction recorded", {}, ("violation", "500.00"),
     "violation", "0", "0.00", "0.00"),
    ("patient's part above the standard: fund pays 0", {"patient_paid": 15000,
                                                        "total_cost": 20000}, None,
     "normal", "1.2", "12000.00", "0.00"),
    ("unknown hospital is held with S102", {"hospital_id": "ZZ"}, None, "invalid", "0", "0.00",
     "0.00"),
    ("unknown insurance type is held with S103", {"insurance_type": "commercial"}, None,
     "invalid", "0", "0.00", "0.00"),
    ("grouper-invalid case keeps its grouping error", {"status": "invalid", "drg": None,
                                                       "error_code": "E101"}, None,
     "invalid", "0", "0.00", "0.00"),
]


def frames(rows: list[dict]) -> tuple[pl.DataFrame, pl.DataFrame]:
    base = {"hospital_id": "A", "insurance_type": "employee", "los": 5, "discharge_way": 1,
            "diagnoses": ["K80.100"], "total_cost": 10000, "patient_paid": None,
            "status": "ok", "drg": "G1", "error_code": None, "patient_id": None,
            "admit_date": None}
    full = [{**base, **r} for r in rows]
    for r in full:
        if r["patient_paid"] is None:
            r["patient_paid"] = r["total_cost"] * 3 // 10
    cases = pl.DataFrame({
        "case_id": [f"c{i:02d}" for i in range(len(full))],
        **{k: [r[k] for r in full] for k in ("hospital_id", "insurance_type", "los",
                                             "discharge_way", "diagnoses", "patient_id",
                                             "admit_date")},
        "discharge_date": [r["admit_date"] + timedelta(days=r["los"]) if r["admit_date"]
                           else None for r in full],
        "total_cost": [D(r["total_cost"]) for r in full],
        "patient_paid": [D(r["patient_paid"]) for r in full],
        "other_fund_paid": [D(0)] * len(full),
        "fund_paid": [D(r["total_cost"] - r["patient_paid"]) for r in full]},
        schema_overrides={"admit_date": pl.Date, "patient_id": pl.String})
    grouped = pl.DataFrame({"case_id": cases["case_id"], "status": [r["status"] for r in full],
                            "drg": [r["drg"] for r in full], "adrg": [None] * len(full),
                            "error_code": [r["error_code"] for r in full],
                            "error_message": [None] * len(full)},
                           schema_overrides={"adrg": pl.String, "error_message": pl.String})
    return cases, grouped


@pytest.fixture(scope="module")
def settled() -> pl.DataFrame:
    cases, grouped = frames([c[1] for c in CASES])
    reviews = normalise_reviews(pl.DataFrame({
        "case_id": [f"c{i:02d}" for i, c in enumerate(CASES) if c[2]],
        "review_outcome": [c[2][0] for c in CASES if c[2]],
        "deduction": [c[2][1] for c in CASES if c[2]]}))
    return settle_cases(cases, grouped, WEIGHTS, HOSPITALS, parse_policy(DRG_POLICY),
                        reviews=reviews)


@pytest.mark.parametrize("index", range(len(CASES)), ids=[c[0] for c in CASES])
def test_titled_case(settled, index):
    title, _, _, case_type, points, standard, payable = CASES[index]
    row = settled.row(index, named=True)
    got = (row["case_type"], row["points"], row["payment_standard"], row["fund_payable"])
    assert got == (case_type, D(points), D(standard), D(payable)), title
    if case_type == "invalid":
        assert row["status"] == "invalid" and row["error_code"] and row["error_message"]


def test_invalid_codes_are_stable(settled):
    codes = dict(zip(settled["case_id"], settled["error_code"], strict=True))
    assert [codes["c16"], codes["c17"], codes["c18"]] == ["S102", "S103", "E101"]
    assert settled.filter(pl.col("case_type") == "violation")["deduction"].to_list() == [
        D("500.00")]


def test_readmission_within_merge_days_is_merged_unless_planned():
    day = date(2025, 3, 1)
    cases, grouped = frames([
        {"patient_id": "p1", "admit_date": day, "los": 5},
        {"patient_id": "p1", "admit_date": day + timedelta(days=12), "los": 5},  # gap 7 days
        {"patient_id": "p2", "admit_date": day, "los": 5},
        {"patient_id": "p2", "admit_date": day + timedelta(days=8), "los": 5,
         "diagnoses": ["Z51.100"]},  # planned chemotherapy
        {"patient_id": "p3", "admit_date": day, "los": 5},
        {"patient_id": "p3", "admit_date": day + timedelta(days=20), "los": 5},  # gap 15 days
    ])
    out = settle_cases(cases, grouped, WEIGHTS, HOSPITALS, parse_policy(DRG_POLICY))
    assert out["case_type"].to_list() == ["normal", "readmission_merged", "normal", "normal",
                                          "normal", "normal"]


def test_review_quota_demotes_approvals_beyond_it_in_file_order():
    cases, grouped = frames([{"hospital_id": "Q", "total_cost": 50000}] * 2)
    reviews = normalise_reviews(pl.DataFrame({"case_id": ["c01", "c00"],
                                              "review_outcome": ["approved_ffs"] * 2}))
    out = settle_cases(cases, grouped, WEIGHTS, HOSPITALS, parse_policy(DRG_POLICY),
                       reviews=reviews)
    # quota 0.5 × 2 cases = 1 approval; c01 comes first in the review file
    assert out["case_type"].to_list() == ["high_outlier", "review_ffs"]
    assert out["review_over_quota"].to_list() == [True, False]


@pytest.mark.parametrize(("frame", "message"), [
    (pl.DataFrame({"case_id": ["a"], "review_outcome": ["maybe"]}), "review_outcome='maybe'"),
    (pl.DataFrame({"case_id": ["a", "a"], "review_outcome": ["rejected"] * 2}), "twice"),
    (pl.DataFrame({"case_id": ["a"]}), "missing column(s) review_outcome"),
])
def test_bad_review_file_is_refused(frame, message):
    with pytest.raises(ReviewFileError, match=message.replace("(", r"\(").replace(")", r"\)")):
        normalise_reviews(frame)


DIP_POLICY = """
[policy]
region = "test"
year = 2025
version = "t1"
method = "dip"
[outliers]
k_high = 2.0
k_low = 0.5
low_exempt_types = ["day_surgery", "tcm"]
[institution_coef]
by_level = { "3" = 1.0, "2" = 0.85, "1" = 0.7, community = 0.7 }
type_min = { tcm = 0.88 }
basic_group_coef = 1.0
tcm_group_coef = 1.05
[pool.resident]
budget = 1000000.00
pv_budget = 10.0
"""


def test_dip_group_families_and_hospital_types():
    """Day surgery is exempt from the low rule; 基层 groups pay 1.0 at every level; a TCM
    hospital's coefficient is raised to 0.88; a TCM group tilts it by 1.05."""
    hospitals = pl.DataFrame({"hospital_id": ["S", "T"], "level": ["二级", "二级"],
                              "type": ["general", "TCM"]})
    catalog = pl.DataFrame({"dip_code": ["D1", "B1", "T1"], "score": [1000.0, 500.0, 800.0],
                            "mean_cost": [10000.0, 5000.0, 8000.0]})
    rows = [("S", "D1", "day_surgery", 2000, 1000.0), ("S", "B1", "basic", 5000, 500.0),
            ("T", "D1", "core", 10000, 1000.0), ("T", "T1", "tcm", 8000, 800.0)]
    cases = pl.DataFrame({"case_id": ["1", "2", "3", "4"], "hospital_id": [r[0] for r in rows],
                          "insurance_type": ["resident"] * 4, "los": [1, 4, 4, 4],
                          "discharge_way": [1] * 4, "diagnoses": [["K80.100"]] * 4,
                          "total_cost": [float(r[3]) for r in rows],
                          "fund_paid": [r[3] * 0.5 for r in rows],
                          "other_fund_paid": [0.0] * 4,
                          "patient_paid": [r[3] * 0.5 for r in rows]})
    grouped = pl.DataFrame({"case_id": cases["case_id"], "status": ["ok"] * 4,
                            "dip_code": [r[1] for r in rows], "dip_type": [r[2] for r in rows],
                            "dip_name": [r[1] for r in rows],
                            "adjusted_score": [r[4] for r in rows]})
    out = settle_cases(cases, grouped, catalog, hospitals, parse_policy(DIP_POLICY))
    assert out["case_type"].to_list() == ["normal"] * 4
    assert out["institution_coef"].to_list() == [D("0.85"), D(1), D("0.88"), D("0.924")]
    assert out["points"].to_list() == [D(850), D(500), D(880), D("739.2")]


def test_dip_version_without_mean_costs_is_refused_not_paid_ffs():
    """A DIP catalogue imported without mean costs (次均费用) would settle every grouped case as
    `unmatched` at fee-for-service without a word (issue 16): settle refuses it in one line."""
    import pytest

    from grouper.errors import RefusedError
    hospitals = pl.DataFrame({"hospital_id": ["S"], "level": ["二级"], "type": ["general"]})
    catalog = pl.DataFrame({"dip_code": ["D1", "B1"], "score": [1000.0, 500.0],
                            "mean_cost": [None, None]}, schema_overrides={"mean_cost": pl.Float64})
    cases = pl.DataFrame({"case_id": ["1"], "hospital_id": ["S"], "insurance_type": ["resident"],
                          "los": [4], "discharge_way": [1], "diagnoses": [["K80.100"]],
                          "total_cost": [5000.0], "fund_paid": [2500.0],
                          "other_fund_paid": [0.0], "patient_paid": [2500.0]})
    grouped = pl.DataFrame({"case_id": ["1"], "status": ["ok"], "dip_code": ["B1"],
                            "dip_type": ["basic"], "dip_name": ["B1"], "adjusted_score": [500.0]})
    with pytest.raises(RefusedError, match="2 of 2 groups have no mean cost") as err:
        settle_cases(cases, grouped, catalog, hospitals, parse_policy(DIP_POLICY))
    assert "\n" not in str(err.value) and "不能用于结算" in str(err.value)
