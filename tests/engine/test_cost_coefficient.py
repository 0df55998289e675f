"""The DRG hospital cost coefficient c_{h,g} (payment-rules §2.3, point method [L:Jinhua]),
hand-built, to the fen.

DRG point method: 100 points per RW, provisional point value 100 yuan, levels 3 → 1.00 and
2 → 0.85, `[drg] cost_coefficient = "hospital_group"` with 30 kept cases at least. Group G1:
RW 1.2 (120 base points), city mean cost 10,000. Per-hospital means of G1: A 12,000 (40 kept:
c = 1.2), B 8,765.43 (exactly 30 kept: c = 0.876543 → 0.8765), C 5,000 (29 kept: too few,
c = 1). G2 (RW 0.5, mean 4,000) has no hospital rows: c = 1 (a new group). Patients pay 30 %.
Reading: c multiplies the institution coefficient in the standard part of the points
(base × inst × c), never the deviation part (base × dev × (r − k), base × dev × r).
"""

from __future__ import annotations

import hashlib
from decimal import Decimal as D
from fractions import Fraction

import polars as pl
import pytest

from engine.pipeline import load_weights
from engine.policy import PolicyError, load_policy, parse_policy
from engine.settlement.batch import settle_cases
from engine.settlement.cost_coef import attach_hospital_costs
from engine.settlement.inputs import attach_level_costs
from engine.settlement.review import normalise_reviews
from tests.engine.test_settle_cases import frames
from weights import build_drg, copy_version, open_store, publish, query, save_weight_version
from weights.drg_build import DrgBuildParams
from weights.versions import checksum, verify

POINT_POLICY = """
[policy]
region = "test"
year = 2025
version = "t1"
method = "drg"
payment_basis = "points"
points_per_weight = 100
[scope]
min_los = 1
[outliers]
k_high_tiers = [{ weight_max = 1.0, k = 3.0 }, { weight_max = 2.0, k = 2.5 }, { k = 2.0 }]
k_low = 0.4
high_outlier_method = "points_excess"
[review]
quota = 0.5
[institution_coef]
by_level = { "3" = 1.0, "2" = 0.85, "1" = 0.75, community = 0.75 }
[drg]
cost_coefficient = "hospital_group"
cost_coefficient_min_cases = 30
[pool.employee]
budget = 1000000.00
pv_budget = 100.0000
"""
POLICY = parse_policy(POINT_POLICY)
HOSPITALS = pl.DataFrame({"hospital_id": ["A", "B", "C"], "level": ["三级", "二级", "三级"]})
WEIGHTS = pl.DataFrame({"drg": ["G1", "G2"], "rw": [1.2, 0.5], "mean_cost": [10000.0, 4000.0],
                        "n_cases": [200, 100]})
COSTS = pl.DataFrame({"drg": ["G1", "G1", "G1"], "hospital_id": ["A", "B", "C"],
                      "mean_cost": [D("12000.00"), D("8765.43"), D("5000.00")],
                      "n_cases": [44, 31, 29], "n_kept": [40, 30, 29]})
TABLE = attach_hospital_costs(WEIGHTS, COSTS, "drg")

# title, case fields, review, expected case_type, cost_coef, points, payment_standard, payable
CASES = [
    ("A, normal: 120 × 1.0 × 1.2", {}, None, "normal", "1.2", "144", "14400.00", "11400.00"),
    ("B, normal: 120 × 0.85 × 0.8765 = 89.403 (inst × c not rounded first: 0.745025)",
     {"hospital_id": "B"}, None, "normal", "0.8765", "89.403", "8940.30", "5940.30"),
    ("C, 29 kept < 30: c = 1", {"hospital_id": "C"}, None, "normal", "1", "120", "12000.00",
     "9000.00"),
    ("A, G2 without hospital rows (new group): c = 1", {"drg": "G2", "total_cost": 4000},
     None, "normal", "1", "50", "5000.00", "3800.00"),
    ("A, high outlier r = 3 > 2.5: 120 × 1.2 + 120 × 1.0 × 0.5 (no c on the excess)",
     {"total_cost": 30000}, None, "high_outlier", "1.2", "204", "20400.00", "11400.00"),
    ("A, low outlier r = 0.3: 120 × 1.0 × 0.3 (deviation part, no c)", {"total_cost": 3000},
     None, "low_outlier", "1.2", "36", "3600.00", "2700.00"),
    ("A, incomplete stay r = 0.6: 120 × 1.2 × 0.6", {"discharge_way": 5, "los": 2,
                                                     "total_cost": 6000},
     None, "incomplete", "1.2", "86.4", "8640.00", "6840.00"),
    ("B, incomplete to the fen: 120 × 0.745025 × 7,777.77 / 10,000 = 69.53559… → 69.5356",
     {"hospital_id": "B", "discharge_way": 5, "los": 2, "total_cost": D("7777.77"),
      "patient_paid": D("2333.33")},
     None, "incomplete", "0.8765", "69.5356", "6953.56", "4620.23"),
    ("A, approved uplift: 144 + (30,000 − 14,400) / 100", {"total_cost": 30000},
     ("approved_uplift", None), "review_uplift", "1.2", "300", "30000.00", "21000.00"),
    ("A, ungroupable: paid by item, no coefficient", {"status": "ungroupable", "drg": None},
     None, "unmatched", None, "0", "10000.00", "7000.00"),
]


def _settle(policy=POLICY, table=TABLE, cases=CASES):
    cases_frame, grouped = frames([c[1] for c in cases])
    reviewed = [(f"c{i:02d}", c[2]) for i, c in enumerate(cases) if c[2]]
    reviews = normalise_reviews(pl.DataFrame({
        "case_id": [r[0] for r in reviewed], "review_outcome": [r[1][0] for r in reviewed],
        "deduction": [r[1][1] for r in reviewed]},
        schema={"case_id": pl.String, "review_outcome": pl.String, "deduction": pl.String}))
    return settle_cases(cases_frame, grouped, table, HOSPITALS, policy, reviews=reviews)


@pytest.fixture(scope="module")
def settled() -> pl.DataFrame:
    return _settle()


@pytest.mark.parametrize("index", range(len(CASES)), ids=[c[0] for c in CASES])
def test_titled_case(settled, index):
    title, _, _, case_type, coef, points, standard, payable = CASES[index]
    row = settled.row(index, named=True)
    got = (row["case_type"], row["cost_coef"], row["points"], row["payment_standard"],
           row["fund_payable"])
    want = (case_type, None if coef is None else D(coef), D(points), D(standard), D(payable))
    assert got == want, title


def test_incomplete_case_rounds_once():
    """The B incomplete stay from exact fractions: one rounding of base × inst × c × r."""
    exact = Fraction(120) * Fraction("0.85") * Fraction("0.8765") * Fraction("7777.77") / 10000
    assert round(exact, 4) == Fraction("69.5356")
    # rounding inst × c to 4 dp first (0.7450) would give 69.5333
    assert round(Fraction(120) * Fraction("0.7450") * Fraction("7777.77") / 10000, 4) == \
        Fraction("69.5333")
    assert _settle(cases=[CASES[7]])["points"].to_list() == [D("69.5356")]


@pytest.mark.parametrize(("extra", "coef_a", "coef_b", "points_a", "points_b"), [
    # 1 + 0.5 × (1.2 − 1) = 1.1; 1 + 0.5 × (0.876543 − 1) = 0.9382715 → 0.9383
    ("cost_coefficient_blend = 0.5", "1.1", "0.9383", "132", "95.7066"),
    # bounded to [0.9, 1.1]
    ("cost_coefficient_floor = 0.9\ncost_coefficient_cap = 1.1", "1.1", "0.9", "132", "91.8"),
    # blend then bounds: 0.9383 stays above the floor 0.93, 1.1 is capped at 1.05
    ("cost_coefficient_blend = 0.5\ncost_coefficient_floor = 0.93\ncost_coefficient_cap = 1.05",
     "1.05", "0.9383", "126", "95.7066"),
    # 40 kept at A reach 40, 30 at B do not reach 31
    ("cost_coefficient_min_cases = 31", "1.2", "1", "144", "102"),
])
def test_blend_floor_cap_and_minimum(extra, coef_a, coef_b, points_a, points_b):
    text = POINT_POLICY.replace("cost_coefficient_min_cases = 30\n", "") if "min_cases" in \
        extra else POINT_POLICY
    policy = parse_policy(text.replace('cost_coefficient = "hospital_group"',
                                       f'cost_coefficient = "hospital_group"\n{extra}'))
    out = _settle(policy, cases=CASES[:2])
    assert out["cost_coef"].to_list() == [D(coef_a), D(coef_b)]
    assert out["points"].to_list() == [D(points_a), D(points_b)]


def test_none_and_a_table_without_hospital_costs_leave_points_unchanged():
    none = parse_policy(POINT_POLICY.replace('"hospital_group"', '"none"'))
    for out in (_settle(none), _settle(POLICY, table=WEIGHTS)):
        assert out["points"].to_list()[:3] == [D(120), D(102), D(120)]
        if out["cost_coef"].null_count() < out.height:  # on, but no rows: c = 1
            assert set(out["cost_coef"].drop_nulls().to_list()) == {D(1)}
    assert _settle(none)["cost_coef"].null_count() == len(CASES)


def test_with_same_level_costs_r_uses_the_level_mean_and_c_the_city_mean():
    """A's level (3) mean of G1 is 15,000: r = 30,000 / 15,000 = 2 is normal, while c stays
    12,000 / 10,000 = 1.2 (the city mean is the regional one)."""
    levels = pl.DataFrame({"drg": ["G1"], "level": ["3"], "mean_cost": [D("15000.00")],
                           "n_kept": [50]})
    table = attach_level_costs(TABLE, levels, "drg")
    out = _settle(POLICY, table=table, cases=[CASES[4]])
    row = out.row(0, named=True)
    assert (row["case_type"], row["avg_cost"], row["cost_coef"], row["points"]) == (
        "normal", D("15000.00"), D("1.2"), D(144))


@pytest.mark.parametrize(("change", "message"), [
    ('method = "drg"', "needs method"),
    ("cost_coefficient_min_cases = 30", "cost_coefficient_floor"),
    ("cost_coefficient_min_cases = 30", "cost_coefficient_cap"),
    ("cost_coefficient_min_cases = 30", "cost_coefficient_blend"),
])
def test_bad_options_fail_with_the_field(change, message):
    text = {
        "needs method": POINT_POLICY.replace('method = "drg"', 'method = "dip"'),
        "cost_coefficient_floor": POINT_POLICY.replace(change, "cost_coefficient_floor = 1.1"),
        "cost_coefficient_cap": POINT_POLICY.replace(change, "cost_coefficient_cap = 0.9"),
        "cost_coefficient_blend": POINT_POLICY.replace(change,
                                                       "cost_coefficient_blend = 0.12345"),
    }[message]
    with pytest.raises(PolicyError, match=message):
        parse_policy(text)


def _history() -> tuple[pl.DataFrame, pl.DataFrame]:
    """G1 at A 100, 200; at ' B ' 300, 400 and a 100,000 that trimming drops; at U 250; one
    G1 case without a hospital (regional mean only). G2 at A only."""
    rows = [("A", "G1", 100), ("A", "G1", 200), (" B ", "G1", 300), ("B", "G1", 400),
            ("B", "G1", 100000), ("U", "G1", 250), ("", "G1", 250), ("A", "G2", 1000),
            ("A", "G2", 1200)]
    history = pl.DataFrame({"case_id": [str(i) for i in range(len(rows))],
                            "hospital_id": [r[0] for r in rows],
                            "total_cost": [float(r[2]) for r in rows]})
    grouped = pl.DataFrame({"status": ["ok"] * len(rows), "drg": [r[1] for r in rows],
                            "adrg": ["G"] * len(rows), "mdc": ["M"] * len(rows),
                            "drg_name": ["g"] * len(rows)})
    return history, grouped


def test_build_splits_the_kept_cases_by_hospital():
    history, grouped = _history()
    build = build_drg(history, grouped=grouped)
    g1 = build.weights.filter(pl.col("drg") == "G1").row(0, named=True)
    assert (g1["mean_cost"], g1["n_cases"], g1["n_kept"]) == (250.0, 7, 6)
    assert build.hospital_costs.rows() == [
        ("G1", "A", D("150.00"), 2, 2), ("G1", "B", D("350.00"), 3, 2),
        ("G1", "U", D("250.00"), 1, 1), ("G2", "A", D("1100.00"), 2, 2)]
    assert build.report["hospital_cost_rows"] == 4
    assert set(build.extra_tables()) == {"drg_hospital_costs"}  # no levels without hospitals
    # year weights 1:3 weight the newer year's cases in the hospital means as in the city mean
    dated = history.with_columns(pl.Series("year", [2023, 2024] * 4 + [2024]))
    weighted = build_drg(dated, grouped=grouped, params=DrgBuildParams(year_weights=(1.0, 3.0)))
    a = weighted.hospital_costs.filter(pl.col("hospital_id") == "A", pl.col("drg") == "G1")
    assert a["mean_cost"].to_list() == [D("175.00")]  # (100 × 1 + 200 × 3) / 4


def test_store_round_trip_and_old_checksums_stay_valid(tmp_path):
    levels = pl.DataFrame({"drg": ["G1"], "level": ["3"], "mean_cost": [D("15000.00")],
                           "n_cases": [60], "n_kept": [50]})
    con = open_store(tmp_path / "s.duckdb")
    try:
        save_weight_version(con, "lvl", "drg", WEIGHTS, ruleset="chs_drg_11", region="t",
                            year=2025, source="test", extra={"drg_level_costs": levels})
        # a version without hospital rows keeps the checksum it had before the table existed
        parts = [query(con, f"SELECT * EXCLUDE (version) FROM {t} WHERE version = 'lvl' "
                            f"ORDER BY {k}")
                 for t, k in (("drg_weights", "drg"), ("drg_level_costs", "drg, level"))]
        old = hashlib.sha256(b"drg_weights" + parts[0].write_csv().encode()
                             + b"drg_level_costs" + parts[1].write_csv().encode()).hexdigest()
        assert checksum(con, "drg", "lvl") == old
        save_weight_version(con, "hc", "drg", WEIGHTS, ruleset="chs_drg_11", region="t",
                            year=2025, source="test", extra={"drg_hospital_costs": COSTS})
        assert checksum(con, "drg", "hc") != checksum(con, "drg", "lvl")
        publish(con, "hc")
        con.execute("UPDATE drg_hospital_costs SET mean_cost = 12100 WHERE hospital_id = 'A'")
        assert not verify(con, "hc")  # the hospital rows are part of the version's checksum
        con.execute("UPDATE drg_hospital_costs SET mean_cost = 12000 WHERE hospital_id = 'A'")
        assert verify(con, "hc")
        copy_version(con, "hc", "hc2")
        assert query(con, "SELECT count(*) AS n FROM drg_hospital_costs "
                          "WHERE version = 'hc2'")["n"][0] == 3
        weights = load_weights(con, POLICY)
    finally:
        con.close()
    assert weights.version == "hc"
    out = _settle(POLICY, table=weights.table, cases=CASES[:2])
    assert out["points"].to_list() == [D(144), D("89.403")]


def test_monthly_run_applies_c_from_the_stored_version(tmp_path):
    """fuzhou_drg_2025 (blend 0.5, bounds [0.8, 1.2]) with 1 kept case enough, on a store
    whose weights carry the history's per-hospital means: every stored cost_coef is the one
    computed here from drg_hospital_costs and drg_weights with Decimal, normal cases have
    RW × 100 × inst × c points to 4 dp, and case rows add up to the hospital rows to the fen."""
    from decimal import ROUND_HALF_UP

    from engine.pipeline import run_settle
    from tests.engine.test_pipeline import WEIGHTS as VERSION
    from tests.engine.test_pipeline import build_store, table

    base = load_policy("fuzhou_drg_2025")
    policy = base.model_copy(update={"drg": base.drg.model_copy(
        update={"cost_coefficient_min_cases": 1})})
    paths = build_store(tmp_path, cases=2000, hospitals=4)
    run_settle(paths["db"], policy, paths["2025-03"], period="2025-03", run_id="c-03",
               hospitals_path=paths["hospitals"])
    rows = table(paths["db"], f"""
        SELECT c.case_id, c.case_type, c.institution_coef, c.cost_coef, c.points, w.rw,
               w.mean_cost AS city, h.mean_cost AS own
        FROM case_results c
        LEFT JOIN drg_weights w ON w.version = '{VERSION}' AND w.drg = c.group_code
        LEFT JOIN drg_hospital_costs h ON h.version = '{VERSION}' AND h.drg = c.group_code
             AND h.hospital_id = c.hospital_id
        WHERE c.run_id = 'c-03' AND c.status = 'ok' AND w.rw IS NOT NULL""")
    q4 = D("0.0001")

    def expected(city, own):
        if own is None:
            return D(1)
        c = (1 + D("0.5") * (own / city - 1)).quantize(q4, rounding=ROUND_HALF_UP)
        return min(D("1.2"), max(D("0.8"), c))

    coefs = [expected(r["city"], r["own"]) for r in rows.iter_rows(named=True)]
    assert rows["cost_coef"].to_list() == coefs
    assert len(set(coefs)) > 20 and {D("0.8"), D("1.2")} <= set(coefs)  # bounds reached
    normal = rows.filter(pl.col("case_type") == "normal")
    assert normal.height > 100
    for r in normal.iter_rows(named=True):
        want = (r["rw"] * 100 * r["institution_coef"] * r["cost_coef"]).quantize(
            q4, rounding=ROUND_HALF_UP)
        assert r["points"] == want, r["case_id"]
    check = table(paths["db"], """
        SELECT h.fund_payable, c.s, h.points, c.p, h.payment_standard, c.ps
        FROM hospital_period_results h JOIN (
            SELECT hospital_id, fund_pool, sum(fund_payable) AS s,
                   sum(points) FILTER (WHERE case_type NOT IN ('invalid', 'violation')) AS p,
                   sum(payment_standard) FILTER (WHERE case_type NOT IN ('invalid', 'violation'))
                       AS ps
            FROM case_results WHERE run_id = 'c-03' GROUP BY ALL) c
          USING (hospital_id, fund_pool)
        WHERE h.run_id = 'c-03'""")
    assert check.height > 0
    for a, b in (("fund_payable", "s"), ("points", "p"), ("payment_standard", "ps")):
        assert (check[a] == check[b]).all(), a
