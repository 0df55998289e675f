"""Batch jobs over real HTTP: upload in every format, poll, stream results; restart resumes."""

from __future__ import annotations

import io
import time

import polars as pl
import pytest

from api.settings import ApiSettings
from grouper import group_drg
from tests.api.conftest import H1, Live, service_data, start_server

EXPECTED = ("expected_status", "expected_mdc", "expected_adrg", "expected_drg")


def wait_done(live_client, job_id: str, headers: dict[str, str], timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = live_client.get(f"/v1/batches/{job_id}", headers=headers).json()
        if job["state"] in ("done", "failed"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} not finished: {job}")


def encode(frame: pl.DataFrame, fmt: str) -> bytes:
    buf = io.BytesIO()
    if fmt == "parquet":
        frame.write_parquet(buf)
    elif fmt == "csv":
        frame.with_columns(pl.col("diagnoses", "procedures").list.join("|")).write_csv(buf)
    elif fmt == "jsonl":
        frame.write_ndjson(buf)
    else:  # openpyxl (a runtime dependency) rather than polars' xlsxwriter
        import openpyxl

        flat = frame.with_columns(pl.col("diagnoses", "procedures").list.join("|"))
        book = openpyxl.Workbook()
        sheet = book.active
        sheet.append(flat.columns)
        for row in flat.iter_rows():
            sheet.append(list(row))
        book.save(buf)
    return buf.getvalue()


@pytest.mark.parametrize("fmt", ["parquet", "csv", "jsonl", "xlsx"])
def test_batch_round_trip(live: Live, oracle_cases: pl.DataFrame, fmt: str) -> None:
    cases = oracle_cases.head(300).drop(EXPECTED)
    r = live.client.post("/v1/batches", headers=live.h("h1"),
                         files={"file": (f"cases.{fmt}", encode(cases, fmt))},
                         data={"kind": "drg", "ruleset": "chs_drg_11"})
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["state"] in ("accepted", "running", "done") and job["hospital_id"] == H1
    job = wait_done(live.client, job["job_id"], live.h("h1"))
    assert job["state"] == "done", job
    assert job["rows_total"] == job["rows_done"] == 300
    want = group_drg(cases, "chs_drg_11")
    assert job["counts"] == dict(want.group_by("status").len().iter_rows())
    got = pl.read_parquet(io.BytesIO(live.client.get(job["results_url"],
                                                     headers=live.h("h1")).content))
    assert got.select("case_id", "status", "drg").equals(want.select("case_id", "status", "drg"))
    csv = live.client.get(job["results_url"], params={"format": "csv"}, headers=live.h("h1"))
    assert csv.headers["content-type"].startswith("text/csv")
    assert pl.read_csv(io.BytesIO(csv.content), infer_schema_length=0)["drg"].fill_null("") \
        .to_list() == want["drg"].fill_null("").to_list()


def test_dip_batch(live: Live, oracle_cases: pl.DataFrame) -> None:
    cases = oracle_cases.head(50).drop(EXPECTED)
    r = live.client.post("/v1/batches", headers=live.h("analyst"),
                         files={"file": ("c.parquet", encode(cases, "parquet"))},
                         data={"kind": "dip", "catalog": "golden-file"})
    assert r.status_code == 202, r.text
    job = wait_done(live.client, r.json()["job_id"], live.h("analyst"))
    assert job["state"] == "done" and job["hospital_id"] is None
    assert sum(job["counts"].values()) == 50


def test_unusable_file_fails_the_job_with_a_reason(live: Live) -> None:
    r = live.client.post("/v1/batches", headers=live.h("h1"),
                         files={"file": ("c.csv", b"case_id,age\n1,30\n")})
    assert r.status_code == 202
    job = wait_done(live.client, r.json()["job_id"], live.h("h1"))
    assert job["state"] == "failed" and "missing required column" in job["error"]
    res = live.client.get(f"/v1/batches/{job['job_id']}/results", headers=live.h("h1"))
    assert (res.status_code, res.json()["code"]) == (409, "JOB_NOT_DONE")


def test_upload_checks(live: Live) -> None:
    r = live.client.post("/v1/batches", headers=live.h("h1"),
                         files={"file": ("c.txt", b"x")})
    assert (r.status_code, r.json()["field"]) == (415, "body.file")
    r = live.client.post("/v1/batches", headers=live.h("h1"),
                         files={"file": ("c.csv", b"x" * (9 * 1024 * 1024))})
    assert (r.status_code, r.json()["code"]) == (413, "TOO_LARGE")
    r = live.client.post("/v1/batches", headers=live.h("h1"),
                         files={"file": ("c.csv", b"x")}, data={"ruleset": "nope"})
    assert (r.status_code, r.json()["code"]) == (422, "UNKNOWN_RULESET")


def test_restart_resumes_accepted_jobs(tmp_path, oracle_cases: pl.DataFrame) -> None:
    """Jobs accepted by a service that stops before running them are run by the next one."""
    db = tmp_path / "s.duckdb"
    keys = service_data(db)
    import httpx

    first = start_server(ApiSettings(db=db, run_jobs=False))
    cases = oracle_cases.head(100).drop(EXPECTED)
    with httpx.Client(base_url=first.url, timeout=30) as c:
        ids = [c.post("/v1/batches", headers={"X-API-Key": keys["h1"]},
                      files={"file": ("c.parquet", encode(cases, "parquet"))}).json()["job_id"]
               for _ in range(2)]
        assert {c.get(f"/v1/batches/{i}", headers={"X-API-Key": keys["h1"]}).json()["state"]
                for i in ids} == {"accepted"}
    first.stop()
    second = start_server(ApiSettings(db=db))
    try:
        with httpx.Client(base_url=second.url, timeout=30) as c:
            for i in ids:
                job = wait_done(c, i, {"X-API-Key": keys["h1"]})
                assert job["state"] == "done" and job["rows_done"] == 100
    finally:
        second.stop()
