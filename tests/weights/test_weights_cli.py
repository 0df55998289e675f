"""`drgdip weights …` and `drgdip sql` on a real store file."""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from engine.cli import cli
from weights import PublishedVersionError, open_store


@pytest.fixture(scope="module")
def history_file(tmp_path_factory: pytest.TempPathFactory, history: pl.DataFrame) -> Path:
    path = tmp_path_factory.mktemp("hist") / "history.parquet"
    history.with_columns(
        pl.date(pl.col("year"), 6, 30).alias("discharge_date")).drop("year").write_parquet(path)
    return path


def run(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_build_publish_diff_export(tmp_path: Path, history_file: Path) -> None:
    db = str(tmp_path / "cli.duckdb")
    out = run("weights", "build-drg", "--history", str(history_file), "--ruleset", "chs_drg_11",
              "--version", "drg2023", "--year-weights", "1:2:7", "--cost-growth", "0.05",
              "--db", db)
    assert "drg version drg2023 (draft, chs_drg_11, year 2023)" in out
    run("weights", "export", "drg2023", str(tmp_path / "w.csv"), "--db", db)
    exported = pl.read_csv(tmp_path / "w.csv", infer_schema_length=0)
    assert exported.columns[:4] == ["DRG编码", "DRG名称", "权重", "基准点数"]
    # a revised table: drop one group, change one weight
    revised = exported.slice(1).with_columns(
        pl.when(pl.int_range(pl.len()) == 0).then(pl.lit("9.9999")).otherwise(pl.col("权重"))
        .alias("权重"))
    revised.write_csv(tmp_path / "revised.csv")
    run("weights", "import", str(tmp_path / "revised.csv"), "--version", "drg2023r",
        "--year", "2023", "--db", db)
    run("weights", "publish", "drg2023", "--why", "annual weights", "--db", db)
    out = run("weights", "diff", "drg2023", "drg2023r", "--csv", str(tmp_path / "d.csv"),
              "--db", db)
    assert "0 added, 1 retired" in out
    d = pl.read_csv(tmp_path / "d.csv")
    assert d.filter(pl.col("change") == "retired")["drg"].to_list() == [exported["DRG编码"][0]]
    assert exported["DRG编码"][1] in d.filter(pl.col("change") == "rescored")["drg"].to_list()
    out = run("sql", "SELECT version, status FROM weight_versions ORDER BY version", "--db", db)
    assert "published" in out and "draft" in out
    with pytest.raises(PublishedVersionError, match="immutable"):
        CliRunner().invoke(cli, ["weights", "import", str(tmp_path / "revised.csv"),
                                 "--version", "drg2023", "--year", "2023", "--replace",
                                 "--db", db], catch_exceptions=False)


def test_hospitals_and_rates(tmp_path: Path) -> None:
    db = str(tmp_path / "h.duckdb")
    path = tmp_path / "h.csv"
    path.write_text("医疗机构编码,医疗机构名称,医院等级,系数\nH1,甲院,三级,1.0\nH2,中医院,二级,0.88\n",
                    encoding="utf-8")
    run("weights", "import-hospitals", str(path), "--effective-from", "2024-01-01",
        "--reason", "年度核定", "--db", db)
    run("weights", "set-coefficient", "H2", "0.9", "--from", "2024-07-01", "--reason", "上调",
        "--db", db)
    run("weights", "set-rate", "--fund-pool", "employee", "--year", "2024", "--scheme", "dip",
        "--kind", "pv_budget", "--value", "10.5", "--db", db)
    run("weights", "set-budget", "--fund-pool", "resident", "--year", "2024", "--scheme", "dip",
        "--amount", "60000000", "--db", db)
    con = open_store(db, read_only=True)
    coefs = con.execute("SELECT coefficient FROM hospital_coefficients WHERE hospital_id = 'H2' "
                        "ORDER BY effective_from").fetchall()
    assert [str(c[0]) for c in coefs] == ["0.8800", "0.9000"]
    assert con.execute("SELECT count(*) FROM audit_log").fetchall()[0][0] >= 4
    assert date(2024, 7, 1) == con.execute(
        "SELECT max(effective_from) FROM hospital_coefficients").fetchall()[0][0]


def test_publish_twice_exit_status_and_one_line(tmp_path: Path, history_file: Path) -> None:
    db = str(tmp_path / "p.duckdb")
    run("weights", "build-drg", "--history", str(history_file), "--version", "v1", "--db", db)
    run("weights", "publish", "v1", "--why", "first", "--db", db)
    proc = subprocess.run([sys.executable, "-m", "engine.cli", "weights", "publish", "v1",
                           "--why", "again", "--db", db], capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 4  # refused by the store's state (README "Exit codes")
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "already published" in lines[0]
    assert "publishing twice is refused" in lines[0]
