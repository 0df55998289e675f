"""DIP same-level mean costs (payment-rules §3.3): built with the catalogue from the cases kept
for the group's mean, stored in `dip_level_costs`, and the denominator of the outlier ratio r
when the level's mean rests on ≥ `level_cost_min_cases` kept cases — hand-built, to the fen.

Settlement policy: k_high 2 (strict), k_low 0.5, point value 10 yuan, every institution
coefficient 1. Group D1: score 1,000, regional mean 10,000; tertiary mean 8,000 from exactly
30 kept cases (used), secondary mean 12,000 from 29 (too few: the regional mean is used). T1 is
a TCM group with no costs of its own whose reference group is D1.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal as D
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from engine.pipeline import load_weights
from engine.policy import parse_policy
from engine.settle_case import settle_cases
from engine.settle_inputs import attach_level_costs
from weights import open_store, publish, query
from weights.dip_build import DipBuildParams, build_dip_catalog
from weights.dip_store import load_catalog, load_level_costs, save_catalog
from weights.versions import checksum, verify

POLICY_TEXT = """
[policy]
region = "t"
year = 2025
version = "t"
method = "dip"
[outliers]
k_high = 2.0
k_low = 0.5
level_cost_min_cases = 30
[institution_coef]
by_level = { "3" = 1.0, "2" = 1.0, "1" = 1.0, community = 1.0 }
tcm_group_coef = 1.0
[pool.employee]
budget = 1000000.00
pv_budget = 10.0
"""
POLICY = parse_policy(POLICY_TEXT)
REGIONAL = parse_policy(POLICY_TEXT.replace("[outliers]",
                                            '[outliers]\navg_cost_basis = "regional"'))
HOSPITALS = pl.DataFrame({"hospital_id": ["A", "B"], "level": ["三级", "二级"]})
CATALOG = pl.DataFrame({"dip_code": ["D1", "T1"], "score": [1000.0, 1000.0],
                        "mean_cost": [10000.0, None], "n_cases": [200, 0],
                        "ref_code": [None, "D1"]})
LEVELS = pl.DataFrame({"dip_code": ["D1", "D1"], "level": ["3", "2"],
                       "mean_cost": [D("8000.00"), D("12000.00")], "n_kept": [30, 29]})

# title, hospital, group, cost, case_type, avg_cost, points, payment_standard
CASES = [
    ("tertiary (30 kept = minimum), 17,000: r = 2.125 against 8,000 → 1,000 × 1.125",
     "A", "D1", 17000, "high_outlier", "8000.00", "1125.0000", "11250.00"),
    ("secondary (29 kept < 30) falls back to 10,000: r = 2.1 → 1,000 × 1.1",
     "B", "D1", 21000, "high_outlier", "10000.00", "1100.0000", "11000.00"),
    ("TCM at a tertiary hospital: its reference's 8,000, r = 2.25 → 1,000 × 1.25",
     "A", "T1", 18000, "high_outlier", "8000.00", "1250.0000", "12500.00"),
    ("TCM at a secondary hospital: its reference's regional 10,000, r = 2.4 → 1,000 × 1.4",
     "B", "T1", 24000, "high_outlier", "10000.00", "1400.0000",
     "14000.00"),
]


def _frames(rows) -> tuple[pl.DataFrame, pl.DataFrame]:
    n = len(rows)
    ids = [str(i) for i in range(n)]
    cases = pl.DataFrame({"case_id": ids, "hospital_id": [r[1] for r in rows],
                          "insurance_type": ["employee"] * n, "los": [5] * n,
                          "discharge_way": [1] * n, "diagnoses": [["K80.100"]] * n,
                          "total_cost": [float(r[3]) for r in rows],
                          "fund_paid": [10000.0] * n, "other_fund_paid": [0.0] * n,
                          "patient_paid": [float(r[3]) - 10000.0 for r in rows]})
    grouped = pl.DataFrame({"case_id": ids, "status": ["ok"] * n,
                            "dip_code": [r[2] for r in rows],
                            "dip_type": ["core" if r[2] == "D1" else "tcm" for r in rows],
                            "dip_name": ["g"] * n, "adjusted_score": [1000.0] * n})
    return cases, grouped


@pytest.mark.parametrize("index", range(len(CASES)), ids=[c[0] for c in CASES])
def test_dip_r_uses_the_level_mean_from_min_cases_on(index: int) -> None:
    cases, grouped = _frames(CASES)
    table = attach_level_costs(CATALOG, LEVELS, "dip_code")
    row = settle_cases(cases, grouped, table, HOSPITALS, POLICY).row(index, named=True)
    title, *_, case_type, avg, points, standard = CASES[index]
    got = (row["case_type"], row["avg_cost"], row["points"], row["payment_standard"])
    assert got == (case_type, D(avg), D(points), D(standard)), title


def test_regional_basis_and_a_catalogue_without_levels_use_the_regional_mean() -> None:
    cases, grouped = _frames(CASES)
    with_levels = attach_level_costs(CATALOG, LEVELS, "dip_code")
    for out in (settle_cases(cases, grouped, with_levels, HOSPITALS, REGIONAL),
                settle_cases(cases, grouped, CATALOG, HOSPITALS, POLICY)):
        assert out["avg_cost"].to_list() == [D("10000.00")] * 4
        # 17,000 / 10,000 = 1.7 and 18,000 / 10,000 = 1.8: normal cases at the score
        assert out["case_type"].to_list() == ["normal", "high_outlier", "normal", "high_outlier"]
        assert out["points"][0] == D("1000.0000") and out["points"][2] == D("1000.0000")


def _case_rows(dx: str, px: list[str], costs: list[float], year: int, hospital: str
               ) -> list[dict[str, object]]:
    return [{"case_id": f"{dx}-{hospital}-{year}-{i}", "diagnoses": [dx], "procedures": px,
             "total_cost": c, "year": year, "age": 40, "hospital_id": hospital}
            for i, c in enumerate(costs)]


def _history() -> pl.DataFrame:
    """K80.1 + 51.2300 (core group K801000): at A (tertiary) 1,000 in 2020 (weight 2) and
    2,000 in 2021 (weight 7); at B (secondary) 3,000, 4,000 and a 100,000 the IQR trimming
    drops; at U (not in the hospital table) 2,500. J18.9 conservative (basic) at A: 500, 700.
    The day-surgery group RJ003 (K80 + 51.2300) takes K801000 as its reference."""
    return pl.DataFrame(
        _case_rows("K80.101", ["51.2300"], [1000.0], 2020, "A")
        + _case_rows("K80.101", ["51.2300"], [2000.0], 2021, "A")
        + _case_rows("K80.101", ["51.2300"], [3000.0, 4000.0, 100000.0], 2021, "B")
        + _case_rows("K80.101", ["51.2300"], [2500.0], 2021, "U")
        + _case_rows("J18.900", [], [500.0, 700.0], 2021, "A"))


BUILD_HOSPITALS = pl.DataFrame({"hospital_id": ["A", "B"], "level": ["三级", "2"]})
PARAMS = DipBuildParams(core_threshold=2)


def test_build_splits_the_kept_cases_by_level() -> None:
    build = build_dip_catalog(_history(), PARAMS, hospitals=BUILD_HOSPITALS)
    core = build.catalog.groups.filter(pl.col("dip_code") == "K801000").row(0, named=True)
    # regional: (2 × 1,000 + 7 × (2,000 + 3,000 + 4,000 + 2,500)) / 30 over the 5 kept of 6
    assert (core["mean_cost"], core["n_cases"]) == (2750.0, 6)
    assert build.level_costs.rows() == [
        ("J189000", "3", D("600.00"), 2, 2),
        ("K801000", "2", D("3500.00"), 3, 2),  # 100,000 counted in n_cases, not in the mean
        ("K801000", "3", D("1777.78"), 2, 2),  # (2 × 1,000 + 7 × 2,000) / 9
    ]
    assert build.report["level_cost_rows"] == 3
    # the case's own hospital_level column wins over the hospital table
    own = build_dip_catalog(_history().with_columns(pl.lit("社区").alias("hospital_level")),
                            PARAMS, hospitals=BUILD_HOSPITALS).level_costs
    assert own.select("dip_code", "level", "n_kept").rows() == [
        ("J189000", "community", 2), ("K801000", "community", 5)]
    # no level known: no rows, and the catalogue itself is the same
    plain = build_dip_catalog(_history(), PARAMS)
    assert plain.level_costs.height == 0
    assert plain.catalog.groups.equals(build.catalog.groups)


def _old_checksum(con, version: str) -> str:
    """The checksum as computed before dip_level_costs and dip_catalog.avg_los existed."""
    digest = hashlib.sha256()
    for table, key in (("dip_catalog", "dip_code"), ("dip_aux", "dip_code, dimension, level")):
        drop = "version, avg_los" if table == "dip_catalog" else "version"
        rows = query(con, f"SELECT * EXCLUDE ({drop}) FROM {table} WHERE version = ? "
                          f"ORDER BY {key}", [version])
        digest.update(table.encode())
        digest.update(rows.write_csv().encode())
    return digest.hexdigest()


def test_store_round_trip_settles_with_the_level_means(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    build = build_dip_catalog(_history(), PARAMS, hospitals=BUILD_HOSPITALS)
    save_catalog(db, build.catalog, "plain", region="t", year=2025, source="test")
    save_catalog(db, build.catalog, "lvl", region="t", year=2025, source="test",
                 level_costs=build.level_costs)
    assert load_level_costs(db, "lvl").equals(build.level_costs)
    assert load_level_costs(db, "plain").height == 0
    assert load_catalog(db, "lvl").groups.equals(load_catalog(db, "plain").groups)
    con = open_store(db)
    try:
        # a version without level rows keeps the checksum it had before the table existed
        assert checksum(con, "dip", "plain") == _old_checksum(con, "plain")
        assert verify(con, "plain")
        assert checksum(con, "dip", "lvl") != checksum(con, "dip", "plain")
        publish(con, "lvl")
        con.execute("UPDATE dip_level_costs SET mean_cost = 1800 WHERE level = '3' "
                    "AND dip_code = 'K801000'")
        assert not verify(con, "lvl")  # the level rows are part of the version's checksum
        con.execute("UPDATE dip_level_costs SET mean_cost = 1777.78 WHERE level = '3' "
                    "AND dip_code = 'K801000'")
        assert verify(con, "lvl")
        at_two = load_weights(con, parse_policy(POLICY_TEXT.replace("= 30", "= 2")), "lvl")
        at_three = load_weights(con, parse_policy(POLICY_TEXT.replace("= 30", "= 3")), "lvl")
    finally:
        con.close()
    rows = [("K80 at A", "A", "K801000"), ("K80 at B", "B", "K801000"),
            ("day surgery at A", "A", "RJ003"), ("J18 at A", "A", "J189000")]
    cases, _ = _frames([(t, h, g, 5000) for t, h, g in rows])
    grouped = pl.DataFrame({"case_id": cases["case_id"], "status": ["ok"] * 4,
                            "dip_code": [r[2] for r in rows],
                            "dip_type": ["core", "core", "day_surgery", "basic"],
                            "dip_name": ["g"] * 4, "adjusted_score": [1000.0] * 4})
    out = settle_cases(cases, grouped, at_two.table, HOSPITALS,
                       parse_policy(POLICY_TEXT.replace("= 30", "= 2")))
    # 2 kept cases reach min 2: the level means; the day-surgery group reads its reference's
    assert out["avg_cost"].to_list() == [D("1777.78"), D("3500.00"), D("1777.78"),
                                         D("600.00")]
    out = settle_cases(cases, grouped, at_three.table, HOSPITALS,
                       parse_policy(POLICY_TEXT.replace("= 30", "= 3")))
    assert out["avg_cost"].to_list() == [D("2750.00"), D("2750.00"), D("2750.00"),
                                         D("600.00")]


def test_build_dip_command_takes_hospitals(tmp_path: Path) -> None:
    from engine.cli import cli

    history = tmp_path / "history.parquet"
    # the case-file reader keeps discharge_date (not year) and needs sex
    _history().with_columns(
        (pl.col("year").cast(pl.String) + "-06-30").str.to_date().alias("discharge_date"),
        pl.lit("M").alias("sex")).drop("year").write_parquet(history)
    hospitals = tmp_path / "hospitals.csv"
    BUILD_HOSPITALS.write_csv(hospitals)
    db = tmp_path / "s.duckdb"
    result = CliRunner().invoke(cli, [
        "weights", "build-dip", "--history", str(history), "--version", "v1", "--db", str(db),
        "--core-threshold", "2", "--hospitals", str(hospitals)])
    assert result.exit_code == 0, result.output
    assert "3 same-level mean costs" in result.output
    assert load_level_costs(db, "v1").select("dip_code", "level", "mean_cost").rows() == [
        ("J189000", "3", D("600.00")), ("K801000", "2", D("3500.00")),
        ("K801000", "3", D("1777.78"))]
