"""Issue 13/14 "Must show": a 1,000,000-row CSV with ~5 % structurally broken lines (extra
fields, stray quotes, quotes left open) through the CLI and as an HTTP job: every row comes out
once, in order, with a status; the broken lines are I112 row problems with their line numbers."""

from __future__ import annotations

import io
import random
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import polars as pl
import pytest

from tests.conftest import DATA, EXPECTED

ROOT = Path(__file__).resolve().parents[2]
ROWS = 1_000_000
SHARE = 0.05
HEADERS = {"case_id": "病案号", "sex": "性别", "age": "年龄", "age_days": "年龄(天)",
           "birth_weight": "新生儿出生体重(克)", "dept": "科室", "los": "实际住院天数",
           "discharge_way": "离院方式", "icu_hours": "重症监护时长(小时)",
           "diagnoses": "诊断编码", "procedures": "手术及操作编码"}


def break_line(line: str, kind: int) -> str:
    fields = line.split(",")
    if kind == 0:  # an extra field
        return line + ",备注"
    if kind == 1:  # a stray quote inside a field
        fields[2] = fields[2][:1] + '"' + fields[2][1:]
    else:  # a quote left open at the start of the diagnoses field
        fields[9] = '"' + fields[9]
    return ",".join(fields)


def million_broken_csv(path: Path) -> tuple[list[str], list[int]]:
    """The file, its case ids in order, and the 0-based rows broken."""
    oracle = pl.read_parquet(DATA / "chs_drg_11_dev.parquet").drop(EXPECTED)
    reps = -(-ROWS // oracle.height)
    frame = pl.concat([oracle.with_columns(pl.col("case_id") + f"-{k}") for k in range(reps)])
    frame = frame.head(ROWS).with_columns(
        pl.col("diagnoses").list.join("|"),
        pl.col("procedures").list.join("|").replace("", None)).select(
        *(pl.col(c).alias(h) for c, h in HEADERS.items()))
    lines = frame.write_csv().splitlines()
    assert '"' not in "".join(lines[:1000])  # the clean file has no quotes at all
    rnd = random.Random(20261203)
    broken = sorted(rnd.sample(range(ROWS), int(ROWS * SHARE)))
    for i in broken:
        lines[i + 1] = break_line(lines[i + 1], i % 3)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return frame[HEADERS["case_id"]].to_list(), broken


@pytest.fixture(scope="module")
def broken_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str], list[int]]:
    path = tmp_path_factory.mktemp("million") / "million_broken.csv"
    ids, broken = million_broken_csv(path)
    return path, ids, broken


def assert_every_row_once(out: pl.DataFrame, ids: list[str], broken: list[int]) -> None:
    assert out.height == ROWS
    assert out["case_id"].to_list() == ids  # once, in order (a broken line keeps its id)
    assert out["status"].null_count() == 0
    assert set(out["status"].gather(broken)) == {"invalid"}


@pytest.mark.slow
def test_million_broken_csv_through_the_cli(broken_file: tuple[Path, list[str], list[int]],
                                            tmp_path: Path) -> None:
    path, ids, broken = broken_file
    out = tmp_path / "groups.parquet"
    start = time.monotonic()
    run = subprocess.run([sys.executable, "-m", "engine.cli", "group", str(path), str(out)],
                         capture_output=True, text=True, timeout=1800, check=False, cwd=ROOT)
    print(f"group 1M rows, {len(broken):,} broken: {time.monotonic() - start:.1f} s")
    assert run.returncode == 0, run.stderr[-2000:]
    assert_every_row_once(pl.read_parquet(out), ids, broken)
    problems = tmp_path / "problems.csv"
    run = subprocess.run([sys.executable, "-m", "engine.cli", "validate", str(path),
                          "--problems", str(problems), "--no-bom"],
                         capture_output=True, text=True, timeout=1800, check=False, cwd=ROOT)
    assert run.returncode == 0, run.stderr[-2000:]
    assert f"I112 line: {len(broken):,}" in run.stdout
    found = pl.read_csv(problems, infer_schema=False).filter(pl.col("error_code") == "I112")
    assert found["_row"].cast(pl.Int64).to_list() == broken
    lines = [int(re.search(r"line=(\d+) ", m).group(1))  # type: ignore[union-attr]
             for m in found["message"].head(100)]
    assert lines == [i + 2 for i in broken[:100]]  # physical lines: the header is line 1


@pytest.mark.slow
def test_million_broken_csv_as_an_http_job(broken_file: tuple[Path, list[str], list[int]],
                                           tmp_path: Path) -> None:
    from tests.api.conftest import service_data, service_settings, start_server
    from tests.api.test_job_isolation import upload, wait_ready

    path, ids, broken = broken_file
    db = tmp_path / "s.duckdb"
    keys = service_data(db)
    server = start_server(service_settings(db, job_workers=1, max_upload_bytes=256 << 20))
    try:
        with httpx.Client(base_url=server.url, timeout=120) as c:
            wait_ready(c)
            h = {"X-API-Key": keys["h1"]}
            job_id = upload(c, keys["h1"], "million_broken.csv", path.read_bytes())
            deadline = time.monotonic() + 1800
            while (job := c.get(f"/v1/batches/{job_id}", headers=h).json())["state"] not in (
                    "done", "failed"):
                assert time.monotonic() < deadline, job
                time.sleep(1)
            assert job["state"] == "done", job
            assert job["rows_done"] == ROWS and sum(job["counts"].values()) == ROWS
            # the service kept serving, and the next job completes
            nxt = upload(c, keys["h1"], "small.csv", "病案号,性别,年龄,诊断编码\na,1,30,I10.x00\n"
                         .encode())
            while (small := c.get(f"/v1/batches/{nxt}", headers=h).json())["state"] not in (
                    "done", "failed"):
                time.sleep(0.2)
            assert small["state"] == "done"
            res = c.get(job["results_url"], headers=h)
            assert res.status_code == 200
            assert_every_row_once(pl.read_parquet(io.BytesIO(res.content)), ids, broken)
    finally:
        server.stop()
