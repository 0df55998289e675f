"""Per-case grouping over real HTTP: the answers equal the batch grouper's, case for case."""

from __future__ import annotations

import time

import polars as pl
import pytest

from grouper import group_dip, group_drg
from grouper.dip import OUTPUT_COLUMNS as DIP_COLUMNS
from tests.api.conftest import FIXTURES, Live
from weights.dip_catalog_io import import_catalog, require_clean

SECTION_2 = ("case_id", "status", "mdc", "adrg", "drg", "drg_name", "error_code",
             "error_message", "warnings")


def as_json_case(row: dict) -> dict:
    return {k: v for k, v in row.items() if not k.startswith("expected_") and v is not None}


def test_drg_group_equals_batch(live: Live, oracle_cases: pl.DataFrame) -> None:
    sample = oracle_cases.sample(150, seed=7)
    batch = group_drg(sample.drop(pl.selectors.starts_with("expected_")), "chs_drg_11")
    for row, want in zip(sample.to_dicts(), batch.to_dicts(), strict=True):
        r = live.client.post("/v1/drg/group", headers=live.h("h1"),
                             json={"case": as_json_case(row), "ruleset": "chs_drg_11"})
        assert r.status_code == 200, r.text
        got = r.json()
        assert {k: got[k] for k in SECTION_2} == {k: want[k] for k in SECTION_2}, row["case_id"]
        assert got["steps"] and got["steps"][0]["stage"] == "validate"


def test_drg_group_pipe_separated_lists(live: Live, oracle_cases: pl.DataFrame) -> None:
    row = oracle_cases.filter(pl.col("expected_status") == "ok").row(0, named=True)
    case = as_json_case(row)
    case["diagnoses"] = "|".join(case["diagnoses"])
    case["procedures"] = "|".join(case.get("procedures") or [])
    r = live.client.post("/v1/drg/group", headers=live.h("analyst"), json={"case": case})
    assert r.status_code == 200
    assert r.json()["drg"] == row["expected_drg"]


@pytest.mark.parametrize(("field", "value", "code"), [
    ("sex", 3, "E101"), ("sex", None, "E101"), ("diagnoses", [], "E105")])
def test_invalid_case_is_data_not_an_error(live: Live, field: str, value: object,
                                           code: str) -> None:
    case = {"case_id": "bad", "sex": 1, "age": 40, "diagnoses": ["I10.x00"], field: value}
    r = live.client.post("/v1/drg/group", headers=live.h("h1"), json={"case": case})
    assert r.status_code == 200
    body = r.json()
    assert (body["status"], body["error_code"]) == ("invalid", code)
    assert " / " in body["error_message"]  # Chinese / English


def test_dip_group_equals_batch(live: Live) -> None:
    golden = pl.read_csv(FIXTURES / "dip_golden.csv", infer_schema_length=0)
    cases = golden.select("case_id", pl.col("age").cast(pl.Int64),
                          pl.col("discharge_way").cast(pl.Int64), pl.col("los").cast(pl.Int64),
                          pl.col("tcm_treatment").cast(pl.Int64).cast(pl.Boolean),
                          pl.col("day_surgery").cast(pl.Int64).cast(pl.Boolean),
                          pl.col("diagnoses").fill_null("").str.split("|")
                          .list.eval(pl.element().filter(pl.element() != "")),
                          pl.col("procedures").fill_null("").str.split("|")
                          .list.eval(pl.element().filter(pl.element() != "")))
    catalog = require_clean(import_catalog(FIXTURES / "dip_golden_catalog.csv"))
    want = group_dip(cases, catalog)
    for case, expected in zip(cases.to_dicts(), want.to_dicts(), strict=True):
        case = {k: v for k, v in case.items() if v is not None}
        r = live.client.post("/v1/dip/group", headers=live.h("h2"),
                             json={"case": case, "catalog": "golden-file"})
        assert r.status_code == 200, r.text
        got = r.json()
        assert {k: got[k] for k in DIP_COLUMNS} == {k: expected[k] for k in DIP_COLUMNS}
        assert got["catalog"] == "golden-file" and got["steps"]


def test_unknown_ruleset_and_catalog(live: Live) -> None:
    case = {"case_id": "1", "sex": 1, "age": 40, "diagnoses": ["I10.x00"]}
    r = live.client.post("/v1/drg/group", headers=live.h("h1"),
                         json={"case": case, "ruleset": "nope"})
    assert r.status_code == 422
    assert r.json()["code"] == "UNKNOWN_RULESET" and r.json()["field"] == "body.ruleset"
    r = live.client.post("/v1/dip/group", headers=live.h("h1"),
                         json={"case": case, "catalog": "nope"})
    assert (r.status_code, r.json()["code"]) == (422, "UNKNOWN_CATALOG")


@pytest.mark.parametrize(("payload", "field"), [
    ({"case": {"case_id": "1", "sex": 1, "age": 40}}, "body.case.diagnoses"),
    ({"case": {"case_id": "1", "sex": "x", "age": 40, "diagnoses": ["I10"]}}, "body.case.sex"),
    ({"case": {"case_id": "1", "age": 400, "diagnoses": ["I10"]}}, "body.case.age"),
    ({"case": {"case_id": "1", "diagnoses": ["I10"]}, "extra": 1}, "body.extra"),
])
def test_request_errors_have_one_shape(live: Live, payload: dict, field: str) -> None:
    r = live.client.post("/v1/drg/group", headers=live.h("h1"), json=payload)
    assert r.status_code == 422
    assert set(r.json()) == {"code", "message", "field"}
    assert r.json()["code"] == "VALIDATION_ERROR" and r.json()["field"] == field


def test_malformed_json_and_size_limit(live: Live) -> None:
    r = live.client.post("/v1/drg/group", headers={**live.h("h1"),
                                                   "content-type": "application/json"},
                         content=b"{not json")
    assert r.status_code == 400 and set(r.json()) == {"code", "message", "field"}
    assert r.json()["code"] == "BAD_REQUEST" and r.json()["field"] == "body"  # docs/api.md
    big = {"case": {"case_id": "1", "sex": 1, "age": 3, "diagnoses": ["I10.x00"],
                    "dept": "x" * 100_000}}
    r = live.client.post("/v1/drg/group", headers=live.h("h1"), json=big)
    assert r.status_code == 413
    assert r.json()["code"] == "TOO_LARGE"

    def chunks():  # no Content-Length: counted as it arrives
        yield b'{"case": {"case_id": "1", "dept": "'
        for _ in range(100):
            yield b"x" * 1024
        yield b'"}}'

    r = live.client.post("/v1/drg/group", headers={**live.h("h1"),
                                                   "content-type": "application/json"},
                         content=chunks())
    assert r.status_code == 413 and r.json()["code"] == "TOO_LARGE"


def test_health(live: Live) -> None:
    assert live.client.get("/healthz").json() == {"status": "ok"}
    deadline = time.monotonic() + 60  # job worker processes may still be starting (503)
    while (r := live.client.get("/readyz")).status_code == 503 and time.monotonic() < deadline:
        assert r.json()["code"] in ("STARTING", "JOBS_DOWN")
        time.sleep(0.5)
    ready = r.json()
    assert ready["status"] == "ready" and "chs_drg_11" in ready["rulesets"]
    assert "golden-file" in ready["dip_catalogs"]


def test_file_spellings_are_read_over_http_as_in_files(live: Live,
                                                       oracle_cases: pl.DataFrame) -> None:
    """男/女, 职工/居民, 2025年3月1日 / 20250301 and "48,210.35" read as a case file reads them
    (engine.ingest.coerce holds the one copy of the words and date patterns)."""
    row = oracle_cases.filter(pl.col("expected_status") == "ok").row(0, named=True)
    plain = as_json_case(row)
    spelled = {**plain, "sex": {1: "男", 2: "女"}[plain["sex"]], "insurance_type": "职工",
               "admit_date": "2025年3月1日", "discharge_date": "20250309",
               "total_cost": "48,210.35"}
    plain = {**plain, "insurance_type": "employee", "admit_date": "2025-03-01",
             "discharge_date": "2025-03-09", "total_cost": "48210.35"}
    answers = [live.client.post("/v1/drg/group", headers=live.h("h1"),
                                json={"case": c, "ruleset": "chs_drg_11"}) for c in (plain, spelled)]
    assert [a.status_code for a in answers] == [200, 200], answers[1].text
    assert answers[0].json()["drg"] == answers[1].json()["drg"] == row["expected_drg"]
    r = live.client.post("/v1/drg/group", headers=live.h("h1"),
                         json={"case": {**spelled, "sex": "unknown-word"}})
    assert r.status_code == 422 and r.json()["field"] == "body.case.sex"


def test_drg_group_ruleset_auto_picks_by_discharge_date(live: Live) -> None:
    from grouper import group_one

    case = {"case_id": "a", "sex": 1, "age": 40, "diagnoses": ["I63.900"], "procedures": []}
    for day, name in (("2024-12-31", "chs_drg_11"), ("2025-01-01", "chs_drg_20")):
        r = live.client.post("/v1/drg/group", headers=live.h("h1"),
                             json={"case": {**case, "discharge_date": day}, "ruleset": "auto"})
        assert r.status_code == 200, r.text
        got = r.json()
        assert got["ruleset"] == name
        assert {k: got[k] for k in SECTION_2} == group_one(case, name)
    r = live.client.post("/v1/drg/group", headers=live.h("h1"),
                         json={"case": case, "ruleset": "auto"})
    assert r.status_code == 422 and "discharge_date" in r.text


def test_the_shipped_default_ruleset_groups_by_discharge_date(tmp_path) -> None:
    """A request without `ruleset` on a service with the shipped settings (default_ruleset
    auto): grouped under the ruleset in force on its discharge date; without a discharge date
    refused with 422 naming the field (no guess)."""
    import httpx

    from api.settings import ApiSettings
    from grouper import group_one
    from tests.api.conftest import service_data, start_server

    assert ApiSettings.model_fields["default_ruleset"].default == "auto"
    db = tmp_path / "s.duckdb"
    keys = service_data(db)
    server = start_server(ApiSettings(db=db, run_jobs=False))
    case = {"case_id": "d", "sex": 1, "age": 40, "diagnoses": ["I63.900"], "procedures": []}
    try:
        with httpx.Client(base_url=server.url, timeout=30) as c:
            for day, name in (("2024-06-30", "chs_drg_11"), ("2026-02-01", "chs_drg_20")):
                r = c.post("/v1/drg/group", headers={"X-API-Key": keys["h1"]},
                           json={"case": {**case, "discharge_date": day}})
                assert r.status_code == 200, r.text
                assert r.json()["ruleset"] == name
                assert {k: r.json()[k] for k in SECTION_2} == group_one(case, name)
            r = c.post("/v1/drg/group", headers={"X-API-Key": keys["h1"]}, json={"case": case})
            assert r.status_code == 422
            assert r.json()["field"] == "body.case.discharge_date"
            assert "discharge_date" in r.json()["message"] and "出院日期" in r.json()["message"]
            pinned = c.post("/v1/drg/group", headers={"X-API-Key": keys["h1"]},
                            json={"case": case, "ruleset": "chs_drg_11"})
            assert pinned.status_code == 200 and pinned.json()["ruleset"] == "chs_drg_11"
    finally:
        server.stop()
