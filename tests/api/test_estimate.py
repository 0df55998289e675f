"""`POST /v1/estimate` over real HTTP equals the batch settlement of the same case, under the
demo region's published weights."""

from __future__ import annotations

from decimal import Decimal

import polars as pl

from engine.pipeline import load_weights
from engine.policy import load_policy
from engine.settlement.batch import settle_cases
from grouper import group_dip, group_drg
from tests.api.conftest import DEMO_POLICY, H1, H2, Live, open_beside_service

COMPARED = ("payment_standard", "fund_payable", "points", "weight", "point_value",
            "total_cost", "patient_paid", "case_type", "group_code", "status", "fund_pool")


def settlement_case(row: dict, cost: str, pool: str = "employee") -> dict:
    fund = (Decimal(cost) * Decimal("0.7")).quantize(Decimal("0.01"))
    case = {k: v for k, v in row.items() if not k.startswith("expected_") and v is not None}
    return {**case, "hospital_id": H1, "insurance_type": pool, "admit_date": "2025-03-01",
            "discharge_date": "2025-03-09", "total_cost": cost, "fund_paid": str(fund),
            "other_fund_paid": "0.00", "patient_paid": str(Decimal(cost) - fund)}


def case_frame(cases: list[dict]) -> pl.DataFrame:
    """The JSON cases as the batch path reads them (dates, money as Decimal)."""
    return pl.DataFrame(cases, infer_schema_length=None).with_columns(
        pl.col("admit_date", "discharge_date").str.to_date(),
        pl.col("total_cost", "fund_paid", "other_fund_paid", "patient_paid")
        .cast(pl.Decimal(18, 2)))


def hospital_frame(live: Live, hospital_id: str) -> pl.DataFrame:
    con = open_beside_service(live.db)
    try:
        return pl.DataFrame(con.sql("SELECT hospital_id, level, type FROM hospitals WHERE "
                                    "hospital_id = ?", params=[hospital_id]).to_arrow_table())
    finally:
        con.close()


def test_estimate_equals_batch_settlement(live: Live, oracle_cases: pl.DataFrame) -> None:
    ok = oracle_cases.filter(pl.col("expected_status") == "ok").head(12)
    costs = ["800.00", "8800.50", "23456.78", "250000.00"] * 3
    pools = ["employee", "resident"] * 6
    cases = [settlement_case(r, c, p) for r, c, p in zip(ok.to_dicts(), costs, pools,
                                                          strict=True)]
    policy = load_policy(DEMO_POLICY)
    con = open_beside_service(live.db)
    try:
        loaded = load_weights(con, policy)  # what `drgdip settle` settles with
    finally:
        con.close()
    weights = loaded.table
    assert "level_costs" in weights.columns  # the demo builds same-level costs
    frame = case_frame(cases)
    batch = settle_cases(frame, group_drg(frame, policy.policy.ruleset), weights,
                         hospital_frame(live, H1), policy)
    for case, want in zip(cases, batch.to_dicts(), strict=True):
        r = live.client.post("/v1/estimate", headers=live.h("h1"),
                             json={"case": case, "policy": DEMO_POLICY})
        assert r.status_code == 200, r.text
        got = r.json()
        for k in COMPARED:
            value = Decimal(got[k]) if isinstance(want[k], Decimal) else got[k]
            assert value == want[k], (k, case["case_id"])
        assert got["weights_version"] == loaded.version
    assert len({r["case_type"] for r in batch.to_dicts()}) > 1  # outliers as well as normal
    # codes as '|'-separated text (as in CSV exports) estimate like the same codes as a list
    piped = {**cases[0], "diagnoses": "|".join(cases[0]["diagnoses"]),
             "procedures": "|".join(cases[0].get("procedures") or [])}
    listed = live.client.post("/v1/estimate", headers=live.h("h1"),
                              json={"case": cases[0], "policy": DEMO_POLICY}).json()
    r = live.client.post("/v1/estimate", headers=live.h("h1"),
                         json={"case": piped, "policy": DEMO_POLICY})
    assert r.status_code == 200, r.text
    assert {k: r.json()[k] for k in COMPARED} == {k: listed[k] for k in COMPARED}


def test_estimate_access_and_errors(live: Live, oracle_cases: pl.DataFrame) -> None:
    row = oracle_cases.filter(pl.col("expected_status") == "ok").row(0, named=True)
    case = settlement_case(row, "5000.00")
    other = {**case, "hospital_id": H2}
    r = live.client.post("/v1/estimate", headers=live.h("h1"),
                         json={"case": other, "policy": DEMO_POLICY})
    assert (r.status_code, r.json()["field"]) == (403, "body.case.hospital_id")
    assert live.client.post("/v1/estimate", headers=live.h("analyst"),
                            json={"case": other, "policy": DEMO_POLICY}).status_code == 200
    no_hosp = {k: v for k, v in case.items() if k != "hospital_id"}
    r = live.client.post("/v1/estimate", headers=live.h("h1"),
                         json={"case": no_hosp, "policy": DEMO_POLICY})
    assert r.status_code == 200 and r.json()["hospital_id"] == H1
    r = live.client.post("/v1/estimate", headers=live.h("analyst"),
                         json={"case": {**case, "hospital_id": "H999"}, "policy": DEMO_POLICY})
    assert (r.status_code, r.json()["code"]) == (422, "UNKNOWN_HOSPITAL")
    r = live.client.post("/v1/estimate", headers=live.h("analyst"),
                         json={"case": case, "policy": "chaozhou_dip_2025"})
    assert (r.status_code, r.json()["code"]) == (422, "POLICY_UNAVAILABLE")
    assert "no published" in r.json()["message"]


def test_documented_examples_work(live: Live) -> None:
    """The OpenAPI request examples answer 200 with a body of the documented response model."""
    from api.models import DipGroupOut, DrgGroupOut, EstimateOut

    spec = live.client.get("/openapi.json").json()["components"]["schemas"]
    for path, request, response in (("/v1/drg/group", "DrgGroupIn", DrgGroupOut),
                                    ("/v1/dip/group", "DipGroupIn", DipGroupOut),
                                    ("/v1/estimate", "EstimateIn", EstimateOut)):
        body = dict(spec[request]["examples"][0])
        body.pop("catalog", None)  # the example names a production catalogue
        r = live.client.post(path, headers=live.h("h1"), json=body)
        assert r.status_code == 200, (path, r.text)
        response.model_validate(r.json())


def test_dip_estimate_equals_batch_settlement(live: Live) -> None:
    """A DIP policy becomes usable when a catalogue for its region and year is published."""
    from tests.api.conftest import FIXTURES
    from weights.dip_catalog_io import import_catalog, require_clean
    from weights.dip_store import save_catalog

    policy = load_policy("jiangmen_dip_2025")
    version = "dip-jiangmen-test"
    catalog = require_clean(import_catalog(FIXTURES / "dip_golden_catalog.csv"))
    catalog.groups = catalog.groups.with_columns(  # as conftest: derived mean costs
        pl.coalesce("mean_cost", pl.col("score") * 10).alias("mean_cost"))
    save_catalog(live.db, catalog, version, region=policy.policy.region, year=policy.year,
                 source="golden fixture")
    r = live.client.post(f"/v1/weights/versions/{version}/publish", headers=live.h("admin"),
                         json={"why": "DIP estimate test"})
    assert r.status_code == 200, r.text
    golden = pl.read_csv(FIXTURES / "dip_golden.csv", infer_schema_length=0).head(8)
    cases = []
    for i, g in enumerate(golden.to_dicts()):
        cost = ["900.00", "4200.00", "12800.00", "64000.00"][i % 4]
        fund = (Decimal(cost) * Decimal("0.6")).quantize(Decimal("0.01"))
        cases.append({"case_id": g["case_id"], "sex": 1, "age": int(g["age"]),
                      "los": int(g["los"]), "discharge_way": int(g["discharge_way"]),
                      "diagnoses": g["diagnoses"].split("|"),
                      "procedures": [p for p in (g["procedures"] or "").split("|") if p],
                      "hospital_id": H1, "insurance_type": "resident",
                      "admit_date": "2025-05-01", "discharge_date": "2025-05-07",
                      "total_cost": cost, "fund_paid": str(fund), "other_fund_paid": "0.00",
                      "patient_paid": str(Decimal(cost) - fund)})
    frame = case_frame(cases)
    batch = settle_cases(frame, group_dip(frame, catalog), catalog.groups,
                         hospital_frame(live, H1), policy)
    for case, want in zip(cases, batch.to_dicts(), strict=True):
        r = live.client.post("/v1/estimate", headers=live.h("h1"),
                             json={"case": case, "policy": "jiangmen_dip_2025"})
        assert r.status_code == 200, r.text
        got = r.json()
        assert got["weights_version"] == version and got["method"] == "dip"
        for k in COMPARED:
            value = Decimal(got[k]) if isinstance(want[k], Decimal) else got[k]
            assert value == want[k], (k, case["case_id"])
