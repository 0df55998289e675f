"""Access rules endpoint by endpoint, over real HTTP: 401 without a valid key, 403 outside the
role, and never another hospital's data."""

from __future__ import annotations

import io
from decimal import Decimal

import polars as pl
import pytest

from tests.api.conftest import DIP_VERSION, H1, H2, Live, open_beside_service

CASE = {"case_id": "1", "sex": 1, "age": 40, "diagnoses": ["I10.x00"]}


def upload(live: Live, who: str) -> str:
    buf = io.BytesIO()
    pl.DataFrame({"case_id": ["a"], "sex": [1], "age": [40], "diagnoses": [["I10.x00"]]}) \
        .write_parquet(buf)
    r = live.client.post("/v1/batches", headers=live.h(who),
                         files={"file": ("c.parquet", buf.getvalue())})
    assert r.status_code == 202, r.text
    return r.json()["job_id"]


def test_every_v1_route_needs_a_valid_key(live: Live) -> None:
    """Walk the OpenAPI: each /v1 operation refuses no key and a forged key with 401."""
    spec = live.client.get("/openapi.json").json()
    ops = [(path, method) for path, item in spec["paths"].items() if path.startswith("/v1")
           for method in item]
    assert len(ops) >= 12
    forged = "ddk_" + live.keys["admin"].split("_")[1] + "_" + "0" * 48
    for path, method in ops:
        url = (path.replace("{job_id}", "j_x").replace("{version}", "v")
               .replace("{hospital_id}", H1).replace("{kind}", "period-results"))
        for headers in ({}, {"X-API-Key": "nonsense"}, {"X-API-Key": forged}):
            r = live.client.request(method.upper(), url, headers=headers)
            assert r.status_code == 401, (method, path, headers, r.text)
            assert r.json()["code"] == "UNAUTHENTICATED"
            assert r.json()["field"] == "header.X-API-Key"


@pytest.mark.parametrize("who", ["h1", "analyst", "admin"])
def test_per_case_open_to_every_role(live: Live, who: str) -> None:
    assert live.client.post("/v1/drg/group", headers=live.h(who),
                            json={"case": CASE}).status_code == 200
    assert live.client.post("/v1/dip/group", headers=live.h(who),
                            json={"case": CASE}).status_code == 200


def test_batches_are_the_owner_hospitals(live: Live) -> None:
    mine, bureau = upload(live, "h1"), upload(live, "analyst")
    # H2 cannot see H1's job or results; it does not even learn that it exists
    for url in (f"/v1/batches/{mine}", f"/v1/batches/{mine}/results",
                f"/v1/batches/{bureau}", f"/v1/batches/{bureau}/results"):
        r = live.client.get(url, headers=live.h("h2"))
        assert (r.status_code, r.json()["code"]) == (404, "NOT_FOUND"), url
    listed = {j["job_id"] for j in live.client.get("/v1/batches", headers=live.h("h2"))
              .json()["jobs"]}
    assert mine not in listed and bureau not in listed
    own = live.client.get("/v1/batches", headers=live.h("h1")).json()["jobs"]
    assert mine in {j["job_id"] for j in own} and {j["hospital_id"] for j in own} == {H1}
    for who in ("analyst", "admin"):  # the bureau reads everything
        assert live.client.get(f"/v1/batches/{mine}", headers=live.h(who)).status_code == 200
        ids = {j["job_id"] for j in live.client.get("/v1/batches", headers=live.h(who))
               .json()["jobs"]}
        assert {mine, bureau} <= ids
    assert live.client.get(f"/v1/batches/{mine}", headers=live.h("h1")).status_code == 200


@pytest.mark.parametrize("kind", ["period-results", "clearing-results", "case-results"])
def test_hospital_results(live: Live, kind: str) -> None:
    r = live.client.get(f"/v1/hospitals/{H2}/{kind}", headers=live.h("h1"))
    assert (r.status_code, r.json()["code"], r.json()["field"]) == (403, "FORBIDDEN",
                                                                    "path.hospital_id")
    own = live.client.get(f"/v1/hospitals/{H1}/{kind}", headers=live.h("h1"),
                          params={"limit": 10000})
    assert own.status_code == 200 and own.json()["rows"], "the demo settled H1"
    assert {row["hospital_id"] for row in own.json()["rows"]} == {H1}
    for who in ("analyst", "admin"):
        other = live.client.get(f"/v1/hospitals/{H2}/{kind}", headers=live.h(who))
        assert other.status_code == 200
        assert {row["hospital_id"] for row in other.json()["rows"]} == {H2}
    # money is a decimal string, exact to the fen, and equals the store's own sum
    column = {"period-results": "fund_payable", "clearing-results": "final_payment",
              "case-results": "fund_payable"}[kind]
    table = {"period-results": "hospital_period_results", "clearing-results": "clearing_results",
             "case-results": "case_results"}[kind]
    if own.json()["total"] <= 10000:
        got = sum(Decimal(r[column]) for r in own.json()["rows"] if r[column] is not None)
        con = open_beside_service(live.db)
        try:
            want = con.execute(f"SELECT coalesce(sum({column}), 0) FROM {table} "
                               "WHERE hospital_id = ?", [H1]).fetchone()[0]
        finally:
            con.close()
        assert got == want


def test_indicators_scoped(live: Live) -> None:
    r = live.client.get("/v1/indicators", params={"hospital_id": H2}, headers=live.h("h1"))
    assert (r.status_code, r.json()["field"]) == (403, "query.hospital_id")
    assert live.client.get("/v1/indicators", headers=live.h("h1")).status_code == 200
    assert live.client.get("/v1/indicators", params={"hospital_id": H2},
                           headers=live.h("analyst")).status_code == 200


def audit_rows(live: Live, entity: str, key: str) -> list[tuple]:
    # the service holds no connection between requests, so the test may open the store
    con = open_beside_service(live.db)
    try:
        return con.execute("SELECT who, action, detail FROM audit_log WHERE entity = ? AND "
                           "entity_key = ?", [entity, key]).fetchall()
    finally:
        con.close()


def test_publish_is_admin_only_and_audited(live: Live) -> None:
    url = f"/v1/weights/versions/{DIP_VERSION}/publish"
    for who in ("h1", "analyst"):
        r = live.client.post(url, headers=live.h(who), json={"why": "test"})
        assert (r.status_code, r.json()["code"]) == (403, "FORBIDDEN"), who
    # a hospital sees published versions only: the draft is invisible to it
    assert DIP_VERSION not in {v["version"] for v in live.client.get(
        "/v1/weights/versions", headers=live.h("h1")).json()["rows"]}
    r = live.client.get(f"/v1/weights/versions/{DIP_VERSION}/rows", headers=live.h("h1"))
    assert r.status_code == 404
    assert live.client.get(f"/v1/weights/versions/{DIP_VERSION}/rows",
                           headers=live.h("analyst")).json()["total"] > 0
    r = live.client.post(url, headers=live.h("admin"), json={"why": "golden catalogue"})
    assert r.status_code == 200, r.text
    assert r.json()["rows"][0]["status"] == "published"
    admin_id = live.keys["admin"].split("_")[1]
    assert ("publish" in {a for _, a, _ in audit_rows(live, "weight_versions", DIP_VERSION)})
    assert f"key:{admin_id}" in {w for w, _, _ in audit_rows(live, "weight_versions",
                                                             DIP_VERSION)}
    # published: hospitals read it, and the per-case DIP path uses it at once
    rows = live.client.get(f"/v1/weights/versions/{DIP_VERSION}/rows", headers=live.h("h1"))
    assert rows.status_code == 200 and rows.json()["table"] == "dip_catalog"
    r = live.client.post("/v1/dip/group", headers=live.h("h1"),
                         json={"case": CASE, "catalog": DIP_VERSION})
    assert r.status_code == 200 and r.json()["catalog"] == DIP_VERSION
    again = live.client.post(url, headers=live.h("admin"), json={"why": "twice"})
    assert (again.status_code, again.json()["code"]) == (409, "NOT_PUBLISHABLE")
    missing = live.client.post("/v1/weights/versions/none/publish", headers=live.h("admin"),
                               json={"why": "x"})
    assert missing.status_code == 404


def test_key_creation_admin_only_and_audited(live: Live) -> None:
    body = {"role": "hospital", "hospital_id": "H0009", "label": "new HIS"}
    for who in ("h1", "analyst"):
        assert live.client.post("/v1/keys", headers=live.h(who), json=body).status_code == 403
    r = live.client.post("/v1/keys", headers=live.h("admin"), json=body)
    assert r.status_code == 201, r.text
    new = r.json()
    assert audit_rows(live, "api_keys", new["key_id"])[0][1] == "create"
    headers = {"X-API-Key": new["key"]}
    assert live.client.get("/v1/hospitals/H0009/period-results", headers=headers).status_code \
        == 200
    assert live.client.get(f"/v1/hospitals/{H1}/period-results", headers=headers).status_code \
        == 403
    bad = live.client.post("/v1/keys", headers=live.h("admin"), json={"role": "hospital"})
    assert (bad.status_code, bad.json()["code"]) == (422, "BAD_KEY_REQUEST")
    unknown = live.client.post("/v1/keys", headers=live.h("admin"),
                               json={"role": "hospital", "hospital_id": "NOPE"})
    assert unknown.status_code == 400 and "hospital master" in unknown.json()["message"]


def test_batch_creation_audited(live: Live) -> None:
    job_id = upload(live, "h2")
    (who, action, detail), = audit_rows(live, "jobs", job_id)
    assert (who, action) == ("key:" + live.keys["h2"].split("_")[1], "create")
    assert f'"hospital": "{H2}"' in detail


def test_keys_are_stored_hashed(live: Live) -> None:
    con = open_beside_service(live.db)
    try:
        stored = con.execute("SELECT * FROM api_keys").fetchall()
    finally:
        con.close()
    text = repr(stored)
    for key in live.keys.values():
        assert key.split("_")[2] not in text
