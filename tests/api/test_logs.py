"""Structured logs (api/logs.py): one JSON line per request and per job state change, with no
patient identifier, no API key secret and no server path — captured from the real service."""

from __future__ import annotations

import io
import json
import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import polars as pl
import pytest

from api.logs import JsonFormatter, scrub
from tests.api.conftest import Live
from tests.api.test_batches import wait_done

ROOT = Path(__file__).resolve().parents[2]
PATIENT = "PATIENT-CLEAR-4711"
CASE = {"case_id": "LOG-CASE-1", "patient_id": PATIENT, "sex": "男", "age": 67,
        "diagnoses": ["I21.001"], "los": 6, "total_cost": 18000}


@pytest.fixture()
def captured() -> Iterator[io.StringIO]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("drgdip")
    before = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield out
    finally:
        logger.removeHandler(handler)
        logger.setLevel(before)


def lines(out: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in out.getvalue().splitlines()]  # every line is JSON


def wait_for(out: io.StringIO, pred, timeout: float = 30) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [x for x in lines(out) if pred(x)]
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"no such log line in {out.getvalue()[-3000:]}")


def test_one_json_line_per_request_and_job_change(live: Live, captured: io.StringIO,
                                                  tmp_path: Path) -> None:
    h1 = live.h("h1")
    assert live.client.post("/v1/drg/group", headers=h1, json={"case": CASE}).status_code == 200
    assert live.client.post("/v1/estimate", headers=h1, json={
        "case": CASE, "policy": "fuzhou_drg_2025"}).status_code == 200
    forged = "ddk_0123456789ab_" + "f" * 48
    assert live.client.get("/v1/flags", headers={"X-API-Key": forged}).status_code == 401
    assert live.client.post("/v1/drg/group", headers={**h1, "Content-Type": "application/json"},
                            content=b"{").status_code == 400
    # a batch that is done, and one that fails
    good = pl.DataFrame([{**CASE, "diagnoses": "I21.001", "case_id": f"B{i}"} for i in range(5)])
    buf = io.BytesIO()
    good.write_csv(buf)
    job = live.client.post("/v1/batches", headers=h1,
                           files={"file": ("mine.csv", buf.getvalue())}).json()
    assert wait_done(live.client, job["job_id"], h1)["state"] == "done"
    bad = live.client.post("/v1/batches", headers=h1,
                           files={"file": ("broken.xlsx", b"not a workbook")}).json()
    failed = wait_done(live.client, bad["job_id"], h1)
    assert failed["state"] == "failed"

    wait_for(captured, lambda x: x.get("job_id") == bad["job_id"] and x.get("state") == "failed")
    wait_for(captured, lambda x: x.get("route") == "/v1/batches/{job_id}")
    logged = lines(captured)
    requests = [x for x in logged if x["event"] == "request"]
    by_route = {(x["method"], x["route"], x["status"]) for x in requests}
    assert {("POST", "/v1/drg/group", 200), ("POST", "/v1/estimate", 200),
            ("GET", "/v1/flags", 401), ("POST", "/v1/drg/group", 400), ("POST", "/v1/batches", 202),
            ("GET", "/v1/batches/{job_id}", 200)} <= by_route
    for x in requests:
        assert {"ts", "level", "method", "path", "status", "ms", "key_id"} <= set(x)
        assert x["ts"].endswith("Z") and "T" in x["ts"]
    codes = {(x["route"], x.get("code")) for x in requests if x["status"] >= 400}
    assert {("/v1/flags", "UNAUTHENTICATED"), ("/v1/drg/group", "BAD_REQUEST")} <= codes
    group = next(x for x in requests if x["route"] == "/v1/drg/group" and x["status"] == 200)
    assert group["key_id"] == live.keys["h1"].split("_")[1] and group["role"] == "hospital"
    # the job's changes, in order, each one line
    states = [x["state"] for x in logged if x["event"] == "job" and x["job_id"] == job["job_id"]]
    assert states == ["accepted", "running", "done"], states
    done = next(x for x in logged if x.get("job_id") == job["job_id"] and x["state"] == "done")
    assert done["rows"] == 5 and sum(done["counts"].values()) == 5
    fail = next(x for x in logged if x.get("job_id") == bad["job_id"] and x["state"] == "failed")
    assert fail["level"] == "warning" and fail["error"]
    # nothing to identify a patient, no key secret, no server path
    text = captured.getvalue()
    for secret in (PATIENT, "LOG-CASE-1", "B3", live.keys["h1"], live.keys["h1"].split("_")[2],
                   forged, "f" * 48, str(live.db.parent), str(ROOT)):
        assert secret not in text, secret


def test_failed_job_and_error_answers_hold_no_server_path(live: Live) -> None:
    h1 = live.h("h1")
    for name, content in (("broken.xlsx", b"not a workbook"), ("empty.parquet", b"PAR1"),
                          ("cols.csv", "病案号,其他\n1,2\n".encode())):
        job = live.client.post("/v1/batches", headers=h1, files={"file": (name, content)}).json()
        failed = wait_done(live.client, job["job_id"], h1)
        assert failed["state"] == "failed" and failed["error"], failed
        assert str(live.db.parent) not in failed["error"] and "/tmp" not in failed["error"]
        assert "input." not in failed["error"], failed["error"]  # the user's name, not ours
        listed = live.client.get("/v1/batches", headers=h1).json()["jobs"]
        assert all(str(live.db.parent) not in (j["error"] or "") for j in listed)


def test_scrub_keeps_names_and_urls() -> None:
    assert scrub("cannot read /srv/drg/x.jobs/j_1/input.csv: bad") == "cannot read input.csv: bad"
    assert scrub(r"file C:\data\cases.csv") == "file cases.csv"
    assert scrub("key ddk_abc123_DEADbeef0 used") == "key ddk_abc123_… used"
    for kept in ("http://127.0.0.1:8000/v1/x", "see /v1/batches/j_1", "2025/3/9", "1/2",
                 "I10.x00/I11", "docs/api.md"):
        assert scrub(kept) == kept


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_drgdip_serve_writes_json_lines_to_stderr(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "DRGDIP_JOB_WORKERS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "engine.cli", "serve", "--db",
                             str(tmp_path / "s.duckdb"), "--port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        assert httpx.post(url + "/v1/drg/group", json={"case": CASE},
                          headers={"X-API-Key": "ddk_00_secretsecret"}).status_code == 401
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=60)
    logged = [json.loads(line) for line in err.splitlines() if line.strip()]  # all JSON
    assert any(x["event"] == "request" and x["route"] == "/v1/drg/group" and x["status"] == 401
               for x in logged), err[-2000:]
    assert "secretsecret" not in err and str(tmp_path) not in err and PATIENT not in err


def test_no_server_path_in_any_read_answer(live: Live) -> None:
    """Every read endpoint, the probes, the job list and the spec, as an analyst and a hospital:
    the store's folder and the code's folder appear in none (the `runs` and `jobs` tables hold
    such paths; they are not served)."""
    for who in ("analyst", "h1"):
        versions = live.client.get("/v1/weights/versions", headers=live.h(who)).json()["rows"]
        urls = ["/readyz", "/healthz", "/openapi.json", "/v1/weights/versions",
                "/v1/indicators", "/v1/flags", "/v1/batches",
                *(f"/v1/weights/versions/{v['version']}/rows?limit=5" for v in versions),
                *(f"/v1/hospitals/H0001/{k}-results?limit=50"
                  for k in ("period", "clearing", "case"))]
        assert len(urls) > 10
        for url in urls:
            r = live.client.get(url, headers=live.h(who))
            assert r.status_code == 200, (url, r.text[:300])
            for server_path in (str(live.db.parent), str(ROOT), "/tmp/"):
                assert server_path not in r.text, (who, url, server_path)
