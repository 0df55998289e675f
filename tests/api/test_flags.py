"""Supervision reads over real HTTP: indicators and flags, scoped by key, with other hospitals'
evidence withheld from a hospital key."""

from __future__ import annotations

import json
from datetime import datetime

from tests.api.conftest import H1, H2, Live, open_beside_service


def store_rows(live: Live, sql: str, params: list[object]) -> list[tuple]:
    con = open_beside_service(live.db)
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


def test_analyst_reads_indicators_and_flags_of_every_hospital(live: Live) -> None:
    ind = live.client.get("/v1/indicators", params={"limit": 10000},
                          headers=live.h("analyst")).json()
    assert ind["total"] > 0 and len({r["run_id"] for r in ind["rows"]}) == 1
    assert {H1, H2} <= {r["hospital_id"] for r in ind["rows"]}
    flags = live.client.get("/v1/flags", params={"limit": 10000}, headers=live.h("analyst"))
    assert flags.status_code == 200, flags.text
    body = flags.json()
    run_id = body["rows"][0]["run_id"]
    stored = store_rows(live, "SELECT count(*) FROM supervision_flags WHERE run_id = ?",
                        [run_id])[0][0]
    assert body["total"] == stored == len(body["rows"]) > 0
    scores = [r["score"] for r in body["rows"]]
    assert scores == sorted(scores, reverse=True)
    assert all(r["evidence_case_ids"] for r in body["rows"] if r["level"] == "case")


def test_hospital_key_reads_its_own_flags_only(live: Live) -> None:
    r = live.client.get("/v1/flags", params={"limit": 10000}, headers=live.h("h1"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert {row["hospital_id"] for row in body["rows"]} <= {H1}
    run_id = live.client.get("/v1/flags", params={"limit": 1},
                             headers=live.h("analyst")).json()["rows"][0]["run_id"]
    stored = store_rows(live, "SELECT count(*) FROM supervision_flags WHERE run_id = ? AND "
                        "hospital_id = ?", [run_id, H1])[0][0]
    assert body["total"] == stored
    denied = live.client.get("/v1/flags", params={"hospital_id": H2}, headers=live.h("h1"))
    assert (denied.status_code, denied.json()["field"]) == (403, "query.hospital_id")
    ind = live.client.get("/v1/indicators", params={"limit": 10000}, headers=live.h("h1")).json()
    assert ind["total"] > 0 and {row["hospital_id"] for row in ind["rows"]} == {H1}


def test_other_hospitals_evidence_is_withheld_from_a_hospital_key(live: Live) -> None:
    """A transfer-readmission flag on H1's stay names H2's earlier stay: the analyst sees both
    case ids and the detail; H1's key sees its own case only and no detail."""
    (own,) = store_rows(live, "SELECT min(case_id) FROM case_results WHERE hospital_id = ?", [H1])[0]
    (foreign,) = store_rows(live, "SELECT min(case_id) FROM case_results WHERE hospital_id = ?",
                            [H2])[0]
    run_id = "test-evidence"
    con = open_beside_service(live.db)
    try:
        con.execute("DELETE FROM supervision_flags WHERE run_id = ?", [run_id])
        con.execute(
            "INSERT INTO supervision_flags (run_id, flag_id, kind, level, hospital_id, period, "
            "case_id, score, value, threshold, n_evidence, evidence_case_ids, detail, message, "
            "computed_at) VALUES (?, ?, 'transfer_readmission', 'case', ?, '2025-03', ?, 0.9, "
            "3, 15, 2, ?, ?, ?, ?)",
            [run_id, f"transfer_readmission:{own}", H1, own, [foreign, own],
             json.dumps({"prev_case_id": foreign, "prev_hospital_id": H2}),
             f"同一患者从医院 {H2} 出院 3 天后入住本院（前次病例 {foreign}）", datetime.now()])
    finally:
        con.close()
    analyst = live.client.get("/v1/flags", params={"run_id": run_id},
                              headers=live.h("analyst")).json()["rows"]
    assert analyst[0]["evidence_case_ids"] == [foreign, own] and analyst[0]["detail"]
    mine = live.client.get("/v1/flags", params={"run_id": run_id}, headers=live.h("h1")).json()
    assert mine["total"] == 1
    row = mine["rows"][0]
    assert row["evidence_case_ids"] == [own] and row["detail"] is None
    assert foreign not in row["message"] and H2 not in row["message"]
    other = live.client.get("/v1/flags", params={"run_id": run_id}, headers=live.h("h2")).json()
    assert other["total"] == 0
