"""What-if simulations as jobs over real HTTP (issue 18.5): the job stores what `drgdip simulate`
stores for the same file, results are read page by page, hospital keys simulate and see their
own hospital's cases only, and requests the job would refuse are refused at once."""

from __future__ import annotations

import io
import shutil
import time
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from engine.cli import cli
from tests.api.conftest import DEMO_POLICY, H1, Live

SETS = ("outliers.k_low=0.35",)


def demo_cases(live: Live) -> Path:
    """The demo region's settlement-year cases (`drgdip demo` of the live store)."""
    found = sorted(live.db.parent.rglob("region_2025/cases.parquet"))
    assert found, "the demo region's 2025 cases"
    return found[0]


def parquet(frame: pl.DataFrame) -> bytes:
    buf = io.BytesIO()
    frame.write_parquet(buf)
    return buf.getvalue()


def post(live: Live, who: str, cases: bytes, **form: object) -> dict:
    data = {"baseline": DEMO_POLICY, "set": list(SETS), **form}
    return live.client.post("/v1/simulations", headers=live.h(who),
                            files={"file": ("cases.parquet", cases)}, data=data)  # type: ignore


def wait_done(live: Live, sim_id: str, who: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = live.client.get(f"/v1/simulations/{sim_id}", headers=live.h(who)).json()
        if job["state"] in ("done", "failed"):
            return job
        time.sleep(0.2)
    raise AssertionError(f"simulation {sim_id} not finished: {job}")


def rows(live: Live, sim_id: str, table: str, who: str) -> pl.DataFrame:
    r = live.client.get(f"/v1/simulations/{sim_id}/{table}", headers=live.h(who),
                        params={"limit": 10000})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["total"] == len(body["rows"])
    return pl.DataFrame(body["rows"], infer_schema_length=None)


@pytest.fixture(scope="module")
def bureau_sim(live: Live) -> tuple[str, dict, pl.DataFrame]:
    cases = pl.read_parquet(demo_cases(live)).head(1500)
    r = post(live, "analyst", parquet(cases), case_rows="all")
    assert r.status_code == 202, r.text
    job = wait_done(live, r.json()["sim_id"], "analyst")
    assert job["state"] == "done", job
    return job["sim_id"], job, cases


def test_job_stores_what_the_cli_stores(live: Live, bureau_sim, tmp_path: Path) -> None:
    sim_id, job, cases = bureau_sim
    assert job["counts"]["cases"] == 1500 and job["counts"]["settlements"] == 2
    assert set(job["results"]) == {"hospitals", "groups", "causes", "sweep", "solutions",
                                   "cases"}
    http = rows(live, sim_id, "hospitals", "analyst")
    # the same file through `drgdip simulate` on a copy of the store
    copy = tmp_path / "copy.duckdb"
    shutil.copyfile(live.db, copy)
    if live.db.with_name(live.db.name + ".wal").exists():
        shutil.copyfile(live.db.with_name(live.db.name + ".wal"),
                        copy.with_name(copy.name + ".wal"))
    path = tmp_path / "cases.parquet"
    cases.write_parquet(path)
    out = CliRunner().invoke(cli, ["simulate", "--cases", str(path), "--baseline", DEMO_POLICY,
                                   *[f"--set={s}" for s in SETS], "--sim-id", "cli",
                                   "--db", str(copy)])
    assert out.exit_code == 0, out.output
    import duckdb

    con = duckdb.connect(str(copy), read_only=True)
    try:
        cli_rows = con.sql("SELECT * EXCLUDE (sim_id) FROM sim_hospital WHERE sim_id = 'cli' "
                           "ORDER BY scenario, hospital_id").pl()
        inputs = con.sql(f"SELECT input FROM sim_runs WHERE sim_id = '{sim_id}'").fetchall()
    finally:
        con.close()
    assert http.height == cli_rows.height > 1
    for col in ("base_fund_payable", "fund_payable", "change", "surplus"):
        assert [Decimal(v) for v in http[col]] == cli_rows[col].to_list(), col
    assert http["hospital_id"].to_list() == cli_rows["hospital_id"].to_list()
    # the stored input is the file name the user gave, not a server path
    assert inputs == [('["cases.parquet"]',)]
    # the worker's Parquet files are gone once the store holds the tables
    assert not list((live.db.parent).rglob(f"{sim_id}/simulation/*"))
    summary = job["summary"]["scenarios"]["s1"]
    assert Decimal(summary["change"]) == sum(Decimal(v) for v in http["change"])
    cases_rows = rows(live, sim_id, "cases", "analyst")
    assert cases_rows.height == 1500 and "patient_id" not in cases_rows.columns


def test_a_hospital_simulates_and_sees_only_its_own(live: Live, bureau_sim) -> None:
    sim_id, _, cases = bureau_sim
    own = cases.filter(pl.col("hospital_id") == H1)
    r = post(live, "h1", parquet(own))
    assert r.status_code == 202, r.text
    mine = wait_done(live, r.json()["sim_id"], "h1")
    assert mine["state"] == "done" and mine["hospital_id"] == H1, mine
    assert rows(live, mine["sim_id"], "hospitals", "h1")["hospital_id"].to_list() == [H1]
    changed = mine["summary"]["scenarios"]["s1"]["changed_cases"]  # default: changed cases
    assert rows(live, mine["sim_id"], "cases", "h1").height == changed < own.height
    # another hospital and the bureau's simulation: not found; the bureau sees both
    for url in (f"/v1/simulations/{mine['sim_id']}", f"/v1/simulations/{mine['sim_id']}/cases"):
        assert live.client.get(url, headers=live.h("h2")).status_code == 404
    assert live.client.get(f"/v1/simulations/{sim_id}", headers=live.h("h1")).status_code == 404
    assert live.client.get(f"/v1/simulations/{mine['sim_id']}",
                           headers=live.h("analyst")).status_code == 200
    listed = {s["sim_id"] for s in live.client.get("/v1/simulations", headers=live.h("h1"))
              .json()["simulations"]}
    assert mine["sim_id"] in listed and sim_id not in listed
    bureau = {s["sim_id"] for s in live.client.get("/v1/simulations", headers=live.h("analyst"))
              .json()["simulations"]}
    assert {mine["sim_id"], sim_id} <= bureau
    # a simulation is not a batch
    assert live.client.get(f"/v1/batches/{sim_id}", headers=live.h("analyst")).status_code == 404
    batches = live.client.get("/v1/batches", headers=live.h("analyst")).json()["jobs"]
    assert sim_id not in {j["job_id"] for j in batches}


def test_a_hospital_file_with_other_hospitals_fails_with_one_line(live: Live, bureau_sim):
    _, _, cases = bureau_sim
    r = post(live, "h1", parquet(cases.head(200)))
    assert r.status_code == 202, r.text
    job = wait_done(live, r.json()["sim_id"], "h1")
    others = cases.head(200).filter(pl.col("hospital_id") != H1).height
    assert job["state"] == "failed" and "\n" not in job["error"]
    assert f"{others:,} of 200 cases are not of hospital {H1}" in job["error"]


@pytest.mark.parametrize(("who", "form", "status", "code"), [
    ("h1", {"solve": "true"}, 403, "FORBIDDEN"),
    ("h1", {"scenario": [f"{DEMO_POLICY}@drg-2026-draft"]}, 403, "FORBIDDEN"),  # unpublished
    ("analyst", {"baseline": "/etc/drgdip/policy.toml"}, 422, "UNKNOWN_POLICY"),
    ("analyst", {"set": ["outliers.k_low=-1"]}, 422, "BAD_SCENARIO"),
    ("analyst", {"set": ["outliers"]}, 422, "BAD_SCENARIO"),
    ("analyst", {"ruleset": "nope"}, 422, "UNKNOWN_RULESET"),
    ("analyst", {"sweep": ["outliers.k_low=" + ",".join(f"0.{i}" for i in range(10, 40))]},
     422, "TOO_MANY_SETTLEMENTS"),
])
def test_requests_the_job_would_refuse_are_refused_now(live: Live, who, form, status, code):
    r = post(live, who, b"not read", **form)
    assert r.status_code == status, r.text
    body = r.json()
    assert body["code"] == code and " / " in body["message"]
