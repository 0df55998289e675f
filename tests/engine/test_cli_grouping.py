"""`drgdip group`, `drgdip explain`, `drgdip rulesets` as a user runs them (real processes)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from grouper import group_drg
from tests.conftest import EXPECTED


def drgdip(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], input=stdin,
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def cases(oracle: dict[str, pl.DataFrame]) -> pl.DataFrame:
    return oracle["chs_drg_11"].head(400).drop(EXPECTED)


@pytest.mark.parametrize("fmt", ["parquet", "csv", "jsonl"])
def test_group_writes_the_same_result_in_every_format(tmp_path: Path, cases: pl.DataFrame,
                                                      fmt: str) -> None:
    src = tmp_path / f"cases.{fmt}"
    if fmt == "parquet":
        cases.write_parquet(src)
    elif fmt == "csv":
        cases.with_columns(pl.col("diagnoses", "procedures").list.join("|")).write_csv(src)
    else:
        cases.write_ndjson(src)
    out = tmp_path / f"groups.{fmt}"
    run = drgdip("group", "--ruleset", "chs_drg_11", str(src), str(out))
    assert run.returncode == 0, run.stderr
    assert "grouped 400 cases" in run.stdout
    want = group_drg(cases, "chs_drg_11")
    if fmt == "parquet":
        got = pl.read_parquet(out)
    elif fmt == "csv":
        got = pl.read_csv(out, infer_schema=False)
    else:
        got = pl.read_ndjson(out)
    assert got["case_id"].cast(pl.String).to_list() == want["case_id"].to_list()
    assert got["drg"].to_list() == want["drg"].to_list()
    assert got["status"].to_list() == want["status"].to_list()


def test_unusable_input_fails_fast_with_one_line(tmp_path: Path, cases: pl.DataFrame) -> None:
    missing = drgdip("group", str(tmp_path / "nope.parquet"), str(tmp_path / "o.parquet"))
    assert missing.returncode != 0
    assert len(missing.stderr.strip().splitlines()) == 1 and "nope.parquet" in missing.stderr
    no_dx = tmp_path / "no_dx.parquet"
    cases.drop("diagnoses").write_parquet(no_dx)
    run = drgdip("group", str(no_dx), str(tmp_path / "o.parquet"))
    assert run.returncode != 0
    assert len(run.stderr.strip().splitlines()) == 1 and "diagnoses" in run.stderr
    bad_rs = drgdip("group", "--ruleset", "nope", str(no_dx), str(tmp_path / "o.parquet"))
    assert bad_rs.returncode == 2 and "unknown ruleset='nope'" in bad_rs.stderr


def test_explain_reads_a_case_from_stdin_and_prints_both_languages() -> None:
    case = {"case_id": "x", "sex": 1, "age": 60, "diagnoses": ["I63.900"], "procedures": []}
    run = drgdip("explain", "--ruleset", "chs_drg_11", stdin=json.dumps(case))
    assert run.returncode == 0, run.stderr
    assert "drg=BR25" in run.stdout and "进入 MDCB" in run.stdout and "entered MDCB" in run.stdout
    as_json = json.loads(drgdip("explain", "--json", stdin=json.dumps(case)).stdout)
    assert as_json["drg"] == "BR25" and as_json["steps"][0]["stage"] == "validate"


def test_explain_by_case_id_in_a_file(tmp_path: Path, cases: pl.DataFrame) -> None:
    src = tmp_path / "cases.parquet"
    cases.write_parquet(src)
    cid = cases["case_id"][7]
    run = drgdip("explain", "--case-id", cid, str(src))
    assert run.returncode == 0, run.stderr
    want = group_drg(cases.slice(7, 1))["drg"][0]
    assert f"drg={want or '-'}" in run.stdout


def test_rulesets_lists_both_with_versions() -> None:
    run = drgdip("rulesets")
    assert run.returncode == 0
    assert "chs_drg_11" in run.stdout and "foshan_2022" in run.stdout and "1.1" in run.stdout


def test_group_ruleset_auto_groups_each_case_under_its_discharge_dates_scheme(
        tmp_path: Path, oracle: dict[str, pl.DataFrame]) -> None:
    old = oracle["chs_drg_11"].head(200).drop(EXPECTED).with_columns(
        pl.lit("2024-12-31").alias("discharge_date"))
    new = oracle["chs_drg_20"].head(200).drop(EXPECTED).with_columns(
        pl.lit("2025-01-01").alias("discharge_date"))
    src, out = tmp_path / "mixed.parquet", tmp_path / "groups.parquet"
    pl.concat([old, new]).write_parquet(src)
    run = drgdip("group", "--ruleset", "auto", str(src), str(out))
    assert run.returncode == 0, run.stderr
    got = pl.read_parquet(out)
    assert got["ruleset"].to_list() == ["chs_drg_11"] * 200 + ["chs_drg_20"] * 200
    want = pl.concat([group_drg(old, "chs_drg_11"), group_drg(new, "chs_drg_20")])
    assert got.select("status", "mdc", "adrg", "drg").to_dicts() == \
        want.select("status", "mdc", "adrg", "drg").to_dicts()


def test_rulesets_diff_lists_code_changes_and_case_moves(
        tmp_path: Path, oracle: dict[str, pl.DataFrame]) -> None:
    from grouper.ruleset_diff import code_changes

    changes = code_changes("chs_drg_11", "chs_drg_20")
    adrg = changes.filter(pl.col("level") == "adrg")
    # ruleset README: 356 ADRGs kept, 53 new, 20 dropped
    assert (adrg["change"] == "added").sum() == 53 and (adrg["change"] == "removed").sum() == 20
    out = tmp_path / "changes.csv"
    run = drgdip("rulesets", "diff", "chs_drg_11", "chs_drg_20", "--output", str(out))
    assert run.returncode == 0, run.stderr
    assert "adrg added 53" in run.stdout and "adrg removed 20" in run.stdout
    assert pl.read_csv(out).height == changes.height
    cases = oracle["chs_drg_20"].head(300).drop(EXPECTED).with_columns(
        pl.format("H{}", pl.int_range(pl.len()) % 3).alias("hospital_id"))
    src, moves = tmp_path / "cases.parquet", tmp_path / "moves.parquet"
    cases.write_parquet(src)
    run = drgdip("rulesets", "diff", "chs_drg_11", "chs_drg_20", str(src), "--output", str(moves))
    assert run.returncode == 0, run.stderr
    got = pl.read_parquet(moves)
    want_moved = (group_drg(cases, "chs_drg_11")["drg"].fill_null("")
                  != group_drg(cases, "chs_drg_20")["drg"].fill_null("")).sum()
    assert got.height == 300 and got["moved"].sum() >= want_moved > 0
    assert f"moved group 换组 {got['moved'].sum():,}" in run.stdout
    assert "H0" in run.stdout
