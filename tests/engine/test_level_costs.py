"""Same-level mean cost as the denominator of r (payment-rules §3.3), hand-built, to the fen.

DRG rate method at base rate 10,000 yuan per RW (test_settle_cases' policy) with
`level_cost_min_cases = 30`. Group G1: RW 1.2, regional mean cost 10,000; same-level means
tertiary 12,500 (40 kept cases), secondary 8,000 (exactly 30 kept: used), level 1 5,000
(29 kept: too few, the regional mean is used). G2 has no same-level row.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal as D

import polars as pl
import pytest

from engine.pipeline import load_weights
from engine.policy import parse_policy
from engine.settlement.batch import settle_cases
from engine.settlement.inputs import attach_level_costs
from tests.engine.test_settle_cases import DRG_POLICY, frames
from weights import build_drg, open_store, publish, query, save_weight_version
from weights.versions import checksum, verify

POLICY = parse_policy(DRG_POLICY.replace("[outliers]", "[outliers]\nlevel_cost_min_cases = 30"))
REGIONAL = parse_policy(DRG_POLICY.replace("[outliers]", '[outliers]\navg_cost_basis = "regional"'))
HOSPITALS = pl.DataFrame({"hospital_id": ["A", "B", "L"], "level": ["三级", "二级", "一级"]})
WEIGHTS = pl.DataFrame({"drg": ["G1", "G2"], "rw": [1.2, 0.5], "mean_cost": [10000.0, 4000.0],
                        "n_cases": [200, 100]})
LEVELS = pl.DataFrame({"drg": ["G1", "G1", "G1"], "level": ["3", "2", "1"],
                       "mean_cost": [D("12500.00"), D("8000.00"), D("5000.00")],
                       "n_cases": [45, 33, 29], "n_kept": [40, 30, 29]})

# title, case fields, expected case_type, avg_cost, points, payment_standard, fund_payable
CASES = [
    ("tertiary, cost 30,000: r = 2.4 against 12,500, not 3.0 against 10,000",
     {"total_cost": 30000}, "normal", "12500.00", "1.2", "12000.00", "3000.00"),
    ("tertiary, cost 4,500: r = 0.36 < 0.4 → 1.2 × 0.36",
     {"total_cost": 4500}, "low_outlier", "12500.00", "0.432", "4320.00", "2970.00"),
    ("secondary (30 kept = minimum), cost 21,000: r = 2.625 → 1.02 + 1.02 × 0.125",
     {"hospital_id": "B", "total_cost": 21000}, "high_outlier", "8000.00", "1.1475",
     "11475.00", "5175.00"),
    ("level 1 (29 kept < 30) falls back to 10,000: r = 0.3 → 1.2 × 0.75 × 0.3",
     {"hospital_id": "L", "total_cost": 3000}, "low_outlier", "10000.00", "0.27", "2700.00",
     "1800.00"),
    ("incomplete stay to the fen, rounded once: 1.2 × 12,345.67 / 12,500 × 10,000 → 11,851.84",
     {"total_cost": D("12345.67"), "patient_paid": D("3703.70"), "discharge_way": 5, "los": 2},
     "incomplete", "12500.00", "1.1852", "11851.84", "8148.14"),
    ("G2 has no same-level row: regional 4,000, r = 2.5 < 3.0",
     {"drg": "G2", "total_cost": 10000}, "normal", "4000.00", "0.5", "5000.00", "2000.00"),
]


def _settle(policy, weights=None, cases=CASES):
    cases_frame, grouped = frames([c[1] for c in cases])
    table = attach_level_costs(WEIGHTS, LEVELS, "drg") if weights is None else weights
    return settle_cases(cases_frame, grouped, table, HOSPITALS, policy)


@pytest.mark.parametrize("index", range(len(CASES)), ids=[c[0] for c in CASES])
def test_same_level_mean_is_the_denominator(index):
    title, _, case_type, avg, points, standard, payable = CASES[index]
    row = _settle(POLICY).row(index, named=True)
    got = (row["case_type"], row["avg_cost"], row["points"], row["payment_standard"],
           row["fund_payable"])
    assert got == (case_type, D(avg), D(points), D(standard), D(payable)), title


def test_regional_basis_and_a_table_without_levels_keep_the_regional_mean():
    for out in (_settle(REGIONAL), _settle(POLICY, weights=WEIGHTS)):
        assert out["avg_cost"].to_list()[:4] == [D("10000.00")] * 4
        # 30,000 / 10,000 = 3.0 > 2.5 → 1.2 + 1.2 × 0.5
        assert out.row(0, named=True)["case_type"] == "high_outlier"
        assert out.row(0, named=True)["payment_standard"] == D("18000.00")


def test_dip_reference_group_uses_the_reference_groups_level_mean():
    """A TCM group without costs of its own measures r against its reference group's
    same-level mean: 17,000 / 8,000 = 2.125 > 2 → 1,000 × (2.125 − 2 + 1) = 1,125 points."""
    policy = parse_policy("""
[policy]
region = "t"
year = 2025
version = "t"
method = "dip"
[outliers]
k_high = 2.0
k_low = 0.5
level_cost_min_cases = 5
[institution_coef]
by_level = { "3" = 1.0, "2" = 0.85, "1" = 0.7, community = 0.7 }
tcm_group_coef = 1.0
[pool.employee]
budget = 1000000.00
pv_budget = 10.0
""")
    catalog = attach_level_costs(
        pl.DataFrame({"dip_code": ["D1", "T1"], "score": [1000.0, 1000.0],
                      "mean_cost": [10000.0, None], "n_cases": [100, 0],
                      "ref_code": [None, "D1"]}),
        pl.DataFrame({"dip_code": ["D1"], "level": ["3"], "mean_cost": [D("8000.00")],
                      "n_kept": [50]}), "dip_code")
    cases = pl.DataFrame({"case_id": ["1", "2"], "hospital_id": ["A", "A"],
                          "insurance_type": ["employee"] * 2, "los": [5, 5],
                          "discharge_way": [1, 1], "diagnoses": [["K80.100"]] * 2,
                          "total_cost": [17000.0, 17000.0], "fund_paid": [10000.0] * 2,
                          "other_fund_paid": [0.0] * 2, "patient_paid": [7000.0] * 2})
    grouped = pl.DataFrame({"case_id": ["1", "2"], "status": ["ok"] * 2,
                            "dip_code": ["T1", "D1"], "dip_type": ["tcm", "core"],
                            "dip_name": ["t", "d"], "adjusted_score": [1000.0, 1000.0]})
    out = settle_cases(cases, grouped, catalog, HOSPITALS, policy)
    assert out["avg_cost"].to_list() == [D("8000.00")] * 2
    assert out["case_type"].to_list() == ["high_outlier"] * 2
    assert out["points"].to_list() == [D("1125.0000")] * 2
    assert out["payment_standard"].to_list() == [D("11250.00")] * 2


def _history() -> tuple[pl.DataFrame, pl.DataFrame]:
    """G1 at A (tertiary) 100, 200; at B (secondary) 300, 400 and a 100,000 that trimming
    drops; at U (not in the hospital table) 250. G2 at A only."""
    rows = [("A", "G1", 100), ("A", "G1", 200), ("B", "G1", 300), ("B", "G1", 400),
            ("B", "G1", 100000), ("U", "G1", 250), ("A", "G2", 1000), ("A", "G2", 1200)]
    history = pl.DataFrame({"case_id": [str(i) for i in range(len(rows))],
                            "hospital_id": [r[0] for r in rows],
                            "total_cost": [float(r[2]) for r in rows]})
    grouped = pl.DataFrame({"status": ["ok"] * len(rows), "drg": [r[1] for r in rows],
                            "adrg": ["G"] * len(rows), "mdc": ["M"] * len(rows),
                            "drg_name": ["g"] * len(rows)})
    return history, grouped


def test_build_splits_the_kept_cases_by_level():
    history, grouped = _history()
    hospitals = pl.DataFrame({"hospital_id": ["A", "B"], "level": ["三级", "2"]})
    build = build_drg(history, grouped=grouped, hospitals=hospitals)
    g1 = build.weights.filter(pl.col("drg") == "G1").row(0, named=True)
    assert (g1["mean_cost"], g1["n_cases"], g1["n_kept"]) == (250.0, 6, 5)
    assert build.level_costs.rows() == [
        ("G1", "2", D("350.00"), 3, 2), ("G1", "3", D("150.00"), 2, 2),
        ("G2", "3", D("1100.00"), 2, 2)]
    # the case's own hospital_level column wins over the hospital table
    with_col = history.with_columns(pl.lit("社区").alias("hospital_level"))
    own = build_drg(with_col, grouped=grouped, hospitals=hospitals).level_costs
    assert own["level"].unique().to_list() == ["community"]
    assert build_drg(history, grouped=grouped).level_costs.height == 0


def test_store_round_trip_and_old_checksums_stay_valid(tmp_path):
    con = open_store(tmp_path / "s.duckdb")
    try:
        save_weight_version(con, "plain", "drg", WEIGHTS, ruleset="chs_drg_11", region="t",
                            year=2025, source="test")
        # a version without level rows has the checksum of drg_weights alone, as before
        rows = query(con, "SELECT * EXCLUDE (version) FROM drg_weights WHERE version = 'plain' "
                          "ORDER BY drg")
        old = hashlib.sha256(b"drg_weights" + rows.write_csv().encode()).hexdigest()
        assert checksum(con, "drg", "plain") == old
        save_weight_version(con, "lvl", "drg", WEIGHTS, ruleset="chs_drg_11", region="t",
                            year=2025, source="test", extra={"drg_level_costs": LEVELS})
        assert checksum(con, "drg", "lvl") != old
        publish(con, "lvl")
        con.execute("UPDATE drg_level_costs SET mean_cost = 12600 WHERE level = '3'")
        assert not verify(con, "lvl")  # the level rows are part of the version's checksum
        con.execute("UPDATE drg_level_costs SET mean_cost = 12500 WHERE level = '3'")
        weights = load_weights(con, POLICY)
    finally:
        con.close()
    assert weights.version == "lvl"
    cases, grouped = frames([CASES[0][1]])
    out = settle_cases(cases, grouped, weights.table, HOSPITALS, POLICY)
    assert (out["avg_cost"][0], out["payment_standard"][0]) == (D("12500.00"), D("12000.00"))
