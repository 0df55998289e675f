"""Properties of settlement and clearing (issue 6): per-case amounts add up to hospital totals to
the fen; clearing conserves money; settlement never drops or reorders a row."""

from __future__ import annotations

from decimal import Decimal

import polars as pl
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from engine.policy import load_policy
from engine.settlement.batch import CASE_TYPES, settle_cases
from engine.settlement.clear import clear_pool, conservation_gap
from engine.settlement.presettle import hospital_period

POLICIES = {name: load_policy(name) for name in
            ("foshan_drg_2025", "fuzhou_drg_2025", "jiangmen_dip_2025", "chaozhou_dip_2025")}
HOSPITALS = pl.DataFrame({"hospital_id": ["H1", "H2", "H3", "H4"],
                          "level": ["三级", "二级", "一级", "基层"],
                          "type": ["general", "TCM", "maternal-child", "general"]})
DRG_WEIGHTS = pl.DataFrame({"drg": ["GB11", "GZ15", "FR23"], "rw": [2.3456, 0.6789, 1.1111],
                            "mean_cost": [45678.91, 8765.43, 23456.78], "n_cases": [40, 900, 300]})
DIP_CATALOG = pl.DataFrame({"dip_code": ["K80.1:51.23", "I10.x", "J18.9"],
                            "dip_type": ["core", "basic", "tcm"],
                            "score": [1234.5678, 456.7891, 789.0123],
                            "mean_cost": [15000.00, 5000.55, 9000.01], "n_cases": [50, 400, 80]})

money = st.integers(min_value=0, max_value=50_000_000)  # fen
case = st.fixed_dictionaries({
    "hospital_id": st.sampled_from(["H1", "H2", "H3", "H4", "H9", None]),
    "insurance_type": st.sampled_from(["employee", "resident", "居民", "other"]),
    "los": st.integers(min_value=0, max_value=200),
    "discharge_way": st.sampled_from([1, 2, 4, 5, 9]),
    "dx": st.sampled_from(["K80.100", "F20.000", "Z50.000", "I10.x00", "J18.900"]),
    "group": st.integers(min_value=0, max_value=3),
    "status": st.sampled_from(["ok", "ok", "ok", "ungroupable", "invalid", "ambiguous"]),
    "total": money, "share_fund": st.integers(0, 100), "share_other": st.integers(0, 100)})


def build(rows: list[dict], method: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    ids = [f"c{i}" for i in range(len(rows))]
    totals = [r["total"] for r in rows]
    fund = [t * r["share_fund"] // 100 for t, r in zip(totals, rows, strict=True)]
    other = [(t - f) * r["share_other"] // 100 for t, f, r in zip(totals, fund, rows, strict=True)]
    patient = [t - f - o for t, f, o in zip(totals, fund, other, strict=True)]
    yuan = lambda xs: [Decimal(x).scaleb(-2) for x in xs]
    cases = pl.DataFrame({
        "case_id": ids, "hospital_id": [r["hospital_id"] for r in rows],
        "insurance_type": [r["insurance_type"] for r in rows],
        "los": [r["los"] for r in rows], "discharge_way": [r["discharge_way"] for r in rows],
        "diagnoses": [[r["dx"]] for r in rows], "total_cost": yuan(totals),
        "fund_paid": yuan(fund), "other_fund_paid": yuan(other), "patient_paid": yuan(patient)},
        schema_overrides={c: pl.Decimal(18, 2) for c in ("total_cost", "fund_paid",
                                                         "other_fund_paid", "patient_paid")})
    table = DRG_WEIGHTS if method == "drg" else DIP_CATALOG
    code_col = "drg" if method == "drg" else "dip_code"
    codes = table[code_col].to_list() + ["NOWEIGHT"]
    status = [r["status"] for r in rows]
    group_code = [codes[r["group"]] if s == "ok" else None for r, s in zip(rows, status,
                                                                           strict=True)]
    if method == "drg":
        grouped = pl.DataFrame({"case_id": ids, "status": status, "drg": group_code,
                                "adrg": [g[:3] if g else None for g in group_code],
                                "drg_name": group_code,
                                "error_code": ["E101" if s == "invalid" else None for s in status],
                                "error_message": [None] * len(rows)},
                               schema_overrides={"error_message": pl.String})
    else:
        lookup = dict(zip(table["dip_code"], zip(table["dip_type"], table["score"], strict=True),
                          strict=True))
        grouped = pl.DataFrame({
            "case_id": ids, "status": status, "dip_code": group_code,
            "dip_type": [lookup.get(g, ("core", 0))[0] if g else None for g in group_code],
            "dip_name": group_code,
            "adjusted_score": [lookup.get(g, ("core", 100.0))[1] if g else None
                               for g in group_code],
            "error_code": ["E105" if s == "invalid" else None for s in status],
            "error_message": [None] * len(rows)},
            schema_overrides={"error_message": pl.String, "adjusted_score": pl.Float64})
    return cases, grouped


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(case, min_size=1, max_size=40), name=st.sampled_from(sorted(POLICIES)))
@example(rows=[{"hospital_id": "H1", "insurance_type": "employee", "los": 5, "discharge_way": 1,
                "dx": "K80.100", "group": 0, "status": "ok", "total": 1, "share_fund": 50,
                "share_other": 0}], name="fuzhou_drg_2025")
def test_case_amounts_add_up_to_hospital_totals(rows, name):
    policy = POLICIES[name]
    cases, grouped = build(rows, policy.method)
    weights = DRG_WEIGHTS if policy.method == "drg" else DIP_CATALOG
    out = settle_cases(cases, grouped, weights, HOSPITALS, policy)
    assert out["case_id"].to_list() == cases["case_id"].to_list()
    assert set(out["case_type"]) <= set(CASE_TYPES)
    assert out.filter(pl.col("status") == "invalid")["error_code"].null_count() == 0
    assert out.filter(pl.col("status") == "invalid")["error_message"].null_count() == 0
    assert (out["fund_payable"] >= 0).all()
    period = hospital_period(out, policy, "2025-03")
    settled = out.filter(pl.col("fund_pool").is_not_null() & pl.col("hospital_id").is_not_null())
    for col in ("fund_payable", "deduction"):
        assert settled[col].sum() == period[col].sum()
    by_case = settled.group_by("fund_pool", "hospital_id").agg(
        pl.col("fund_payable").sum().alias("case_sum"))
    joined = period.join(by_case, on=["fund_pool", "hospital_id"])
    assert joined.height == period.height
    assert (joined["case_sum"] == joined["fund_payable"]).all()


hospital_year = st.fixed_dictionaries({
    "points": st.integers(10**4, 10**11), "fixed": st.integers(0, 10**9),  # ≥ 1 point
    "liability": st.integers(0, 10**10), "ffs": st.integers(0, 10**11),
    "deduction": st.integers(0, 10**7)})


@settings(max_examples=150, deadline=None)
@given(rows=st.lists(hospital_year, min_size=1, max_size=12),
       name=st.sampled_from(sorted(POLICIES)),
       surplus=st.sampled_from(["banded", "capped_pct_of_ffs", "full"]),
       reserve_left=st.sampled_from(["return", "redistribute"]),
       reserve_rate=st.sampled_from(["0", "0.0001", "0.05", "0.2"]),
       coefs=st.lists(st.sampled_from(["0.9", "0.95", "0.98", "1.0"]), min_size=12, max_size=12))
def test_clearing_conserves_money(rows, name, surplus, reserve_left, reserve_rate, coefs):
    base = POLICIES[name]
    ids = [f"H{i:02d}" for i in range(len(rows))]
    policy = base.model_copy(update={
        "clearing": base.clearing.model_copy(update={
            "surplus_rule": surplus, "reserve_left": reserve_left,
            "risk_reserve_rate": Decimal(reserve_rate)}),
        "assessment": base.assessment.model_copy(update={
            "hospital": {h: Decimal(c) for h, c in zip(ids, coefs, strict=False)}})})
    d = lambda x, e: Decimal(x).scaleb(e)
    frame = pl.DataFrame({
        "hospital_id": ids, "points": [d(r["points"], -4) for r in rows],
        "fixed_amount": [d(r["fixed"], -2) for r in rows],
        "payment_standard": [d(r["points"] // 3, -2) for r in rows],
        "liability": [d(r["liability"], -2) for r in rows],
        "ffs_fund_amount": [d(r["ffs"], -2) for r in rows],
        "total_cost": [d(r["ffs"] + r["liability"], -2) for r in rows],
        "prepaid": [d(r["ffs"] * 9 // 10, -2) for r in rows],
        "deduction": [d(r["deduction"], -2) for r in rows]},
        schema_overrides={"points": pl.Decimal(18, 4)})
    result = clear_pool(frame, policy, "employee")
    s = result.summary
    assert conservation_gap(s) == 0
    h = result.hospitals
    assert h["final_payment"].sum() == s["final_total"]
    assert h["reserve_withheld"].sum() == s["risk_reserve"]
    assert s["overspend_shared"] <= s["risk_reserve"]
    assert h["reserve_redistributed"].sum() == s["reserve_redistributed"]
    if reserve_left == "redistribute" and s["points"] > 0:
        assert s["reserve_left"] == 0 or s["reserve_left"] < 0
