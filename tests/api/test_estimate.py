"""`POST /v1/estimate` over real HTTP equals the batch settlement of the same case."""

from __future__ import annotations

from decimal import Decimal

import polars as pl

from engine.policy import load_policy
from engine.settle_case import settle_cases
from grouper import group_drg

from tests.api.conftest import DRG_VERSION, HOSPITALS, Live, sample_drg_weights

POLICY = "fuzhou_drg_2025"
MONEY = ("payment_standard", "fund_payable", "points", "weight", "total_cost", "patient_paid")


def publish_weights(live: Live) -> None:
    r = live.client.post(f"/v1/weights/versions/{DRG_VERSION}/publish",
                         headers=live.h("admin"), json={"why": "estimate tests"})
    assert r.status_code in (200, 409), r.text


def settlement_case(row: dict, cost: str) -> dict:
    fund = (Decimal(cost) * Decimal("0.7")).quantize(Decimal("0.01"))
    case = {k: v for k, v in row.items() if not k.startswith("expected_") and v is not None}
    return {**case, "hospital_id": "H001", "insurance_type": "employee",
            "admit_date": "2025-03-01", "discharge_date": "2025-03-09", "total_cost": cost,
            "fund_paid": str(fund), "other_fund_paid": "0.00",
            "patient_paid": str(Decimal(cost) - fund)}


def test_estimate_needs_published_weights_then_equals_batch(live: Live,
                                                            oracle_cases: pl.DataFrame) -> None:
    ok = oracle_cases.filter(pl.col("expected_status") == "ok").head(12)
    cases = [settlement_case(r, cost) for r, cost in
             zip(ok.to_dicts(), ["1200.00", "8800.50", "23456.78", "150000.00"] * 3,
                 strict=True)]
    publish_weights(live)
    policy = load_policy(POLICY)
    frame = pl.DataFrame(cases, infer_schema_length=None).with_columns(
        pl.col("admit_date", "discharge_date").str.to_date(),
        pl.col("total_cost", "fund_paid", "other_fund_paid", "patient_paid")
        .cast(pl.Decimal(18, 2)))
    weights = sample_drg_weights().with_columns(pl.lit(DRG_VERSION).alias("version"))
    batch = settle_cases(frame, group_drg(frame, "chs_drg_11"), weights, HOSPITALS, policy)
    for case, want in zip(cases, batch.to_dicts(), strict=True):
        r = live.client.post("/v1/estimate", headers=live.h("h1"),
                             json={"case": case, "policy": POLICY})
        assert r.status_code == 200, r.text
        got = r.json()
        for k in MONEY:
            assert (Decimal(got[k]) if got[k] is not None else None) == want[k], (k, case)
        assert (got["case_type"], got["group_code"]) == (want["case_type"], want["group_code"])
        assert got["weights_version"] == DRG_VERSION


def test_estimate_access_and_errors(live: Live, oracle_cases: pl.DataFrame) -> None:
    publish_weights(live)
    row = oracle_cases.filter(pl.col("expected_status") == "ok").row(0, named=True)
    case = settlement_case(row, "5000.00")
    other = {**case, "hospital_id": "H002"}
    r = live.client.post("/v1/estimate", headers=live.h("h1"),
                         json={"case": other, "policy": POLICY})
    assert (r.status_code, r.json()["field"]) == (403, "body.case.hospital_id")
    assert live.client.post("/v1/estimate", headers=live.h("analyst"),
                            json={"case": other, "policy": POLICY}).status_code == 200
    no_hosp = {k: v for k, v in case.items() if k != "hospital_id"}
    r = live.client.post("/v1/estimate", headers=live.h("h1"),
                         json={"case": no_hosp, "policy": POLICY})
    assert r.status_code == 200 and r.json()["hospital_id"] == "H001"
    r = live.client.post("/v1/estimate", headers=live.h("analyst"),
                         json={"case": {**case, "hospital_id": "H999"}, "policy": POLICY})
    assert (r.status_code, r.json()["code"]) == (422, "UNKNOWN_HOSPITAL")
    r = live.client.post("/v1/estimate", headers=live.h("analyst"),
                         json={"case": case, "policy": "jiangmen_dip_2025"})
    assert (r.status_code, r.json()["code"]) == (422, "POLICY_UNAVAILABLE")
    assert "no published" in r.json()["message"]
