"""No clear patient id in the store, its exports, the service's answers or its logs (issue 14.6,
数据可用不可见): the demo region's patients (`P` + 10 digits) are pseudonymised at ingest
(engine.pseudonym) and every table and view of the settled, cleared and supervised store, every
file the pipeline wrote beside it (results Parquet, the report's HTML/CSV/xlsx, job results, the
read replica) and every read answer is scanned for them. The scanner is shown to find the ids in
the input files, so a pass is not a scan that sees nothing."""

from __future__ import annotations

import io
import logging
import re
import zipfile
from pathlib import Path

import duckdb
import polars as pl
import pytest

from engine.pseudonym import PSEUDONYM_PATTERN, PatientKey
from tests.api.conftest import DEMO_POLICY, H1, H2, Live
from tests.api.test_batches import EXPECTED, encode, wait_done
from tests.api.test_estimate import settlement_case
from tests.conftest import TEST_PATIENT_KEY

CLEAR = re.compile(r"P\d{10}")
SQL_CLEAR = "P[0-9]{10}"


def inputs_dir(live: Live) -> Path:
    return live.db.parent / "demo" / "demo_data"


@pytest.fixture(scope="module")
def clear_ids(live: Live) -> set[str]:
    ids: set[str] = set()
    for path in inputs_dir(live).rglob("cases.parquet"):
        ids |= set(pl.read_parquet(path, columns=["patient_id"])["patient_id"].drop_nulls())
    assert len(ids) > 1000 and all(CLEAR.fullmatch(i) for i in ids)
    return ids


def store_hits(db: Path, ids: set[str]) -> dict[str, int]:
    """Clear ids found per table or view: every row rendered as text (nested values, JSON
    evidence and audit details included), the `P##########` tokens joined to the clear ids."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        con.register("_clear", pl.DataFrame({"id": sorted(ids)}).to_arrow())
        names = [r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' "
            "AND table_name <> '_clear' ORDER BY table_name").fetchall()]
        assert {"case_results", "runs", "supervision_flags", "audit_log"} <= set(names), names
        hits = {}
        for name in names:
            n = con.execute(f"""
                SELECT count(*) FROM (
                    SELECT unnest(regexp_extract_all(t::VARCHAR, '{SQL_CLEAR}')) AS id
                    FROM "{name}" t) x JOIN _clear USING (id)""").fetchone()[0]
            if n:
                hits[name] = n
        return hits
    finally:
        con.close()


def file_hits(path: Path, ids: set[str]) -> set[str]:
    if path.suffix == ".parquet":
        con = duckdb.connect()
        try:
            text = " ".join(r[0] for r in con.execute(
                "SELECT t::VARCHAR FROM read_parquet(?) t", [str(path)]).fetchall())
        finally:
            con.close()
    elif path.suffix == ".xlsx":
        with zipfile.ZipFile(path) as z:
            text = " ".join(z.read(n).decode("utf-8", "replace") for n in z.namelist())
    else:
        text = path.read_bytes().decode("utf-8", "replace")
    return set(CLEAR.findall(text)) & ids


def test_the_scanner_finds_clear_ids_in_the_inputs(live: Live, clear_ids: set[str]) -> None:
    found = set()
    for path in inputs_dir(live).rglob("cases.parquet"):
        found |= file_hits(path, clear_ids)
    assert len(found) == len(clear_ids)


def test_no_stored_table_or_view_holds_a_clear_patient_id(live: Live,
                                                           clear_ids: set[str]) -> None:
    assert store_hits(live.db, clear_ids) == {}
    con = duckdb.connect(str(live.db), read_only=True)
    try:
        ids = pl.DataFrame(con.sql("SELECT patient_id FROM case_results").to_arrow_table())
        runs = con.execute("SELECT count(DISTINCT run_id) FROM case_results").fetchone()[0]
    finally:
        con.close()
    # the stays are still linked: every case has its pseudonym, one per patient
    key = PatientKey(TEST_PATIENT_KEY.encode())
    assert runs == 12 and ids["patient_id"].null_count() == 0
    assert ids["patient_id"].str.contains(PSEUDONYM_PATTERN).all()
    assert set(ids["patient_id"].str.slice(0, 8)) == {key.key_id}
    assert ids["patient_id"].n_unique() <= len(clear_ids)


def test_no_file_beside_the_store_holds_a_clear_patient_id(live: Live,
                                                           clear_ids: set[str]) -> None:
    """Settle results, the report (HTML, CSV, xlsx), job folders and the read replica."""
    root = live.db.parent
    scanned, stores = [], []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if inputs_dir(live) in path.parents:
            continue  # the hospitals' own input files
        if path.suffix == ".duckdb":
            stores.append(path)
            continue
        if path.suffix in (".parquet", ".csv", ".html", ".xlsx", ".json", ".jsonl", ".txt"):
            assert file_hits(path, clear_ids) == set(), path
            scanned.append(path.suffix)
    assert {".parquet", ".csv", ".html", ".xlsx"} <= set(scanned)
    for store in stores:
        if store != live.db:
            assert store_hits(store, clear_ids) == {}, store


def test_no_api_answer_or_log_line_holds_a_clear_patient_id(
        live: Live, clear_ids: set[str], oracle_cases: pl.DataFrame) -> None:
    records: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(self.format(record))

    handler = Collect(logging.DEBUG)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        bodies = _answers(live, clear_ids, oracle_cases)
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    for where, text in bodies:
        assert set(CLEAR.findall(text)) & clear_ids == set(), where
    assert set(CLEAR.findall("\n".join(records))) & clear_ids == set()


def _answers(live: Live, clear_ids: set[str],
             oracle_cases: pl.DataFrame) -> list[tuple[str, str]]:
    out = []
    for who, hospital in (("h1", H1), ("analyst", H1), ("analyst", H2)):
        r = live.client.get(f"/v1/hospitals/{hospital}/case-results", headers=live.h(who),
                            params={"limit": 1000})
        assert r.status_code == 200 and r.json()["rows"], r.text
        assert all(re.fullmatch(PSEUDONYM_PATTERN, row["patient_id"])
                   for row in r.json()["rows"] if row.get("patient_id"))
        out.append((f"case-results {who} {hospital}", r.text))
    for path in ("/v1/flags", "/v1/indicators"):
        r = live.client.get(path, headers=live.h("analyst"), params={"limit": 1000})
        assert r.status_code == 200, r.text
        out.append((path, r.text))
    # a per-case estimate carrying a clear id answers its pseudonym, never the id
    clear = min(clear_ids)
    row = oracle_cases.filter(pl.col("expected_status") == "ok").drop(EXPECTED).row(0, named=True)
    case = settlement_case(row, "12000.00") | {"patient_id": clear}
    r = live.client.post("/v1/estimate", headers=live.h("h1"),
                         json={"policy": DEMO_POLICY, "case": case})
    assert r.status_code == 200, r.text
    assert r.json()["patient_id"] == PatientKey(TEST_PATIENT_KEY.encode()).pseudonym(clear)
    out.append(("estimate", r.text))
    # a batch upload with patient ids: the job's answers and result files hold none of them
    upload = oracle_cases.head(40).drop(EXPECTED).with_columns(
        pl.Series("patient_id", sorted(clear_ids)[:40]))
    r = live.client.post("/v1/batches", headers=live.h("h1"),
                         files={"file": ("c.csv", encode(upload, "csv"))},
                         data={"kind": "drg", "ruleset": "chs_drg_11"})
    assert r.status_code == 202, r.text
    job = wait_done(live.client, r.json()["job_id"], live.h("h1"))
    assert job["state"] == "done", job
    out.append(("job", str(job)))
    for fmt in ("parquet", "csv"):
        res = live.client.get(job["results_url"], params={"format": fmt}, headers=live.h("h1"))
        assert res.status_code == 200
        text = (" ".join(map(str, pl.read_parquet(io.BytesIO(res.content)).rows()))
                if fmt == "parquet" else res.text)
        out.append((f"job results {fmt}", text))
    return out
