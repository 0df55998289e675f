"""One case through the per-case path (`engine.settlement.one_case.settle_one`) equals its row
of the batch (`settle_cases` over all generated cases at once), every result column, under the
four shipped policies (issue 17, Must show) — odd cases included: unknown hospital or pool,
missing money, LOS 0, ungroupable and invalid groupings, groups without a weight, review
decisions (the one case is given the decision its batch row shows, after the quota).

Pinned edges (`@example`): cost exactly k_high × avg and exactly k_low × avg (the inclusive /
strict bounds), LOS exactly the policy's min_los, an unknown fund pool.
"""

from __future__ import annotations

from decimal import Decimal

import polars as pl
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from engine.policy import Policy, load_policy
from engine.settlement.backend import VALUES, Val
from engine.settlement.batch import RESULT_COLUMNS, settle_cases
from engine.settlement.money import scaled
from engine.settlement.one_case import hospital_entries, prepare_tables, settle_one
from engine.settlement.outliers import k_high
from engine.settlement.review import normalise_reviews

POLICIES = ("foshan_drg_2025", "fuzhou_drg_2025", "jiangmen_dip_2025", "chaozhou_dip_2025")
HOSPITALS = pl.DataFrame({"hospital_id": ["H1", "H2", "H3", "H4"],
                          "level": ["三级", "二级", "一级", "基层"],
                          "type": ["general", "TCM", "maternal-child", "general"]})
# mean costs in whole hundreds of yuan, so k × mean is a whole fen for every k of 4 dp
DRG_WEIGHTS = pl.DataFrame({"drg": ["GB11", "GZ15", "FR23"], "rw": [2.3456, 0.6789, 1.1111],
                            "mean_cost": [45600.00, 8700.00, 23400.00],
                            "n_cases": [40, 900, 300]})
DIP_CATALOG = pl.DataFrame({"dip_code": ["K80.1:51.23", "I10.x", "J18.9"],
                            "dip_type": ["core", "basic", "tcm"],
                            "score": [1234.5678, 456.7891, 789.0123],
                            "mean_cost": [15000.00, 5000.00, 9000.00], "n_cases": [50, 400, 80]})
EDGES = (None, "k_high", "k_low", "min_los")

one = st.fixed_dictionaries({
    "hospital_id": st.sampled_from(["H1", "H2", "H3", "H4", "H9", None]),
    "insurance_type": st.sampled_from(["employee", "resident", "居民", "other", None]),
    "los": st.one_of(st.none(), st.integers(min_value=0, max_value=200)),
    "discharge_way": st.sampled_from([1, 2, 4, 5, 9, None]),
    "dx": st.sampled_from(["K80.100", "F20.000", "Z50.000", "I10.x00", "J18.900"]),
    "group": st.integers(min_value=0, max_value=3),  # 3: a code without a weight
    "status": st.sampled_from(["ok", "ok", "ok", "ungroupable", "invalid"]),
    "total": st.one_of(st.none(), st.integers(min_value=0, max_value=50_000_000)),
    "share_fund": st.integers(0, 100), "share_other": st.integers(0, 100),
    "review": st.sampled_from([None, None, None, "approved_ffs", "approved_uplift", "rejected",
                               "violation"]),
    "edge": st.sampled_from(EDGES)})


def _base(**kw: object) -> dict[str, object]:
    row: dict[str, object] = {"hospital_id": "H1", "insurance_type": "employee", "los": 8,
                              "discharge_way": 1, "dx": "K80.100", "group": 0, "status": "ok",
                              "total": 1_000_000, "share_fund": 70, "share_other": 10,
                              "review": None, "edge": None}
    return {**row, **kw}


def _edge_cost(policy: Policy, table: pl.DataFrame, row: dict, edge: str) -> int:
    """Cost in fen exactly at k × avg for the case's group (the regional mean: the tables
    carry no same-level costs)."""
    avg_fen = round(table["mean_cost"][row["group"]] * 100)
    if edge == "k_low":
        k4 = scaled(policy.outliers.k_low)
    else:
        weight = (table["rw"] if policy.method == "drg" else table["score"])[row["group"]]
        found = k_high(VALUES, policy, Val(scaled(weight)))
        k4 = found.v if isinstance(found, Val) else found
    assert (k4 * avg_fen) % 10_000 == 0
    return k4 * avg_fen // 10_000


def frames(rows: list[dict], policy: Policy) -> tuple[pl.DataFrame, pl.DataFrame,
                                                      pl.DataFrame, pl.DataFrame]:
    method = policy.method
    table = DRG_WEIGHTS if method == "drg" else DIP_CATALOG
    ids = [f"c{i}" for i in range(len(rows))]
    for r in rows:
        if r["edge"] in ("k_high", "k_low") and r["group"] < 3:
            r["total"] = _edge_cost(policy, table, r, r["edge"])
        if r["edge"] == "min_los" and policy.scope.min_los is not None:
            r["los"] = policy.scope.min_los
    totals = [r["total"] for r in rows]
    fund = [None if t is None else t * r["share_fund"] // 100 for t, r in zip(totals, rows,
                                                                             strict=True)]
    other = [None if t is None else (t - f) * r["share_other"] // 100
             for t, f, r in zip(totals, fund, rows, strict=True)]
    patient = [None if t is None else t - f - o for t, f, o in zip(totals, fund, other,
                                                                   strict=True)]

    def yuan(xs: list[int | None]) -> list[Decimal | None]:
        return [None if x is None else Decimal(x).scaleb(-2) for x in xs]

    cases = pl.DataFrame({
        "case_id": ids, "hospital_id": [r["hospital_id"] for r in rows],
        "insurance_type": [r["insurance_type"] for r in rows],
        "los": [r["los"] for r in rows], "discharge_way": [r["discharge_way"] for r in rows],
        "diagnoses": [[r["dx"]] for r in rows], "total_cost": yuan(totals),
        "fund_paid": yuan(fund), "other_fund_paid": yuan(other), "patient_paid": yuan(patient)},
        schema_overrides={"los": pl.Int64, "discharge_way": pl.Int64, "hospital_id": pl.String,
                          "insurance_type": pl.String,
                          **{c: pl.Decimal(18, 2) for c in ("total_cost", "fund_paid",
                                                            "other_fund_paid",
                                                            "patient_paid")}})
    code_col = "drg" if method == "drg" else "dip_code"
    codes = [*table[code_col].to_list(), "NOWEIGHT"]
    status = [r["status"] for r in rows]
    group_code = [codes[r["group"]] if s == "ok" else None for r, s in zip(rows, status,
                                                                           strict=True)]
    err = ["E101" if s == "invalid" else None for s in status]
    if method == "drg":
        grouped = pl.DataFrame({"case_id": ids, "status": status, "drg": group_code,
                                "adrg": [g[:3] if g else None for g in group_code],
                                "drg_name": group_code, "error_code": err,
                                "error_message": [None] * len(rows)},
                               schema_overrides={"error_message": pl.String,
                                                 "drg": pl.String, "adrg": pl.String,
                                                 "drg_name": pl.String,
                                                 "error_code": pl.String})
        weights = DRG_WEIGHTS
    else:
        types = dict(zip(table["dip_code"], table["dip_type"], strict=True))
        scores = dict(zip(table["dip_code"], table["score"], strict=True))
        grouped = pl.DataFrame({
            "case_id": ids, "status": status, "dip_code": group_code,
            "dip_type": [types.get(g, "core") if g else None for g in group_code],
            "dip_name": group_code,
            "adjusted_score": [scores.get(g, 100.0) if g else None for g in group_code],
            "error_code": err, "error_message": [None] * len(rows)},
            schema_overrides={"error_message": pl.String, "adjusted_score": pl.Float64,
                              "dip_code": pl.String, "dip_type": pl.String,
                              "dip_name": pl.String, "error_code": pl.String})
        weights = DIP_CATALOG
    reviewed = [(i, r["review"]) for i, r in zip(ids, rows, strict=True) if r["review"]]
    reviews = normalise_reviews(pl.DataFrame(
        {"case_id": [i for i, _ in reviewed], "review_outcome": [o for _, o in reviewed],
         "deduction": ["12.34" if o == "violation" else None for _, o in reviewed]},
        schema={"case_id": pl.String, "review_outcome": pl.String, "deduction": pl.String}))
    return cases, grouped, weights, reviews


@pytest.mark.parametrize("name", POLICIES)
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(one, min_size=1, max_size=25))
@example(rows=[_base(edge="k_high"), _base(edge="k_high", group=1, hospital_id="H2"),
               _base(edge="k_high", group=2, insurance_type="resident")])
@example(rows=[_base(edge="k_low"), _base(edge="k_low", group=1, hospital_id="H4")])
@example(rows=[_base(edge="min_los"), _base(los=0), _base(los=None)])
@example(rows=[_base(insurance_type="other"), _base(insurance_type=None),
               _base(hospital_id="H9"), _base(total=None), _base(group=3)])
@example(rows=[_base(review="violation"), _base(review="approved_uplift"),
               _base(review="approved_ffs"), _base(review="rejected")])
def test_one_case_equals_its_batch_row(name: str, rows: list[dict]) -> None:
    policy = load_policy(name)
    rows = [dict(r) for r in rows]
    cases, grouped, weights, reviews = frames(rows, policy)
    batch = settle_cases(cases, grouped, weights, HOSPITALS, policy, reviews=reviews)
    tables = prepare_tables(weights, policy)
    entries = hospital_entries(HOSPITALS, policy)
    deductions = dict(zip(reviews["case_id"], reviews["deduction_fen"], strict=True))
    for case, group, want in zip(cases.to_dicts(), grouped.to_dicts(), batch.to_dicts(),
                                 strict=True):
        review = None
        if want["review_outcome"] is not None:  # the decision as the batch row shows it
            review = (want["review_outcome"], deductions[case["case_id"]])
        got = settle_one(case, group, entries.get(case["hospital_id"]), tables, review=review)
        columns = [c for c in RESULT_COLUMNS
                   if not (c == "review_over_quota" and want["review_over_quota"])]
        assert {c: got[c] for c in columns} == {c: want[c] for c in columns}, case


def test_the_edges_are_on_the_bounds() -> None:
    """The pinned threshold costs sit exactly on k × avg, so the bound's inclusiveness decides:
    foshan's strict high bound keeps a case at exactly k_high × avg normal."""
    policy = load_policy("foshan_drg_2025")
    rows = [_base(edge="k_high"), _base(edge="k_low")]
    cases, grouped, weights, reviews = frames(rows, policy)
    batch = settle_cases(cases, grouped, weights, HOSPITALS, policy, reviews=reviews)
    ratio = batch["total_cost"][0] / batch["avg_cost"][0]
    k = Decimal(_edge_cost(policy, weights, rows[0], "k_high")) / (batch["avg_cost"][0] * 100)
    assert ratio == k
    high = batch["case_type"][0]
    assert high == ("high_outlier" if policy.outliers.high_inclusive else "normal")
    low = batch["case_type"][1]
    assert low == ("low_outlier" if policy.outliers.low_inclusive else "normal")
