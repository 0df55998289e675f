"""`drgdip report`: store tables, self-contained HTML, CSV and Excel with the same numbers."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import polars as pl
import pytest
from click.testing import CliRunner
from openpyxl import load_workbook

from engine.cli import cli

REGION = Path(__file__).resolve().parents[2] / "data" / "fixtures" / "region"


def run_report(tmp: Path, *extra: str) -> str:
    result = CliRunner().invoke(cli, [
        "report", "--cases", str(REGION / "cases.parquet"),
        "--hospitals", str(REGION / "hospitals.parquet"), "--db", str(tmp / "s.duckdb"),
        "--run-id", "fixture", *extra], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("report")
    run_report(tmp, "--out", str(tmp / "out"))
    return tmp


def test_report_files_and_store(report_dir: Path) -> None:
    out = report_dir / "out"
    for name in ("report.html", "indicators.csv", "flags.csv", "groups.csv", "report.xlsx"):
        assert (out / name).stat().st_size > 0, name
    con = duckdb.connect(str(report_dir / "s.duckdb"), read_only=True)
    n_ind = con.execute("SELECT count(*) FROM indicators WHERE run_id = 'fixture'").fetchone()
    n_flags = con.execute("SELECT count(*) FROM supervision_flags WHERE run_id = 'fixture'"
                          ).fetchone()
    con.close()
    csv = pl.read_csv(out / "indicators.csv", infer_schema_length=None)
    assert n_ind is not None and csv.height == n_ind[0]
    flags = pl.read_csv(out / "flags.csv", infer_schema_length=None)
    assert n_flags is not None and flags.height == n_flags[0] > 0
    wb = load_workbook(out / "report.xlsx", read_only=True)
    assert wb["指标 indicators"].max_row == csv.height + 1
    assert wb["监管标记 flags"].max_row == flags.height + 1


def test_csv_numbers_equal_the_store(report_dir: Path) -> None:
    con = duckdb.connect(str(report_dir / "s.duckdb"), read_only=True)
    stored = con.execute("SELECT hospital_id, cmi, cost_index FROM indicators WHERE "
                         "run_id = 'fixture' AND scope = 'hospital' AND period = '2024' "
                         "ORDER BY hospital_id").fetchall()
    con.close()
    csv = (pl.read_csv(report_dir / "out" / "indicators.csv", infer_schema_length=None)
           .filter((pl.col("scope") == "hospital") & (pl.col("period").cast(pl.String) == "2024"))
           .sort("hospital_id"))
    assert csv["hospital_id"].to_list() == [r[0] for r in stored]
    assert csv["cmi"].to_list() == pytest.approx([r[1] for r in stored])
    assert csv["cost_index"].to_list() == pytest.approx([r[2] for r in stored])


def test_html_is_self_contained_and_chinese(report_dir: Path) -> None:
    html = (report_dir / "out" / "report.html").read_text(encoding="utf-8")
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=[\"']?(https?:)?//", html)
    # plotly.js is inlined (its bundle names a CDN only as the default for geo maps, unused)
    head = html.split("</head>")[0]
    assert re.search(r"plotly\.js v\d", head) and len(head) > 1_000_000
    assert html.count('class="plotly-graph-div"') >= 4
    for words in ("医院指标", "CMI 与费用消耗指数", "病组分布", "重点标记"):
        assert words in html


def test_rerun_replaces_and_hospital_report_sees_only_its_own(report_dir: Path) -> None:
    output = run_report(report_dir, "--out", str(report_dir / "h"), "--hospital", "H0001")
    assert "report:" in output
    con = duckdb.connect(str(report_dir / "s.duckdb"), read_only=True)
    dupes = con.execute("SELECT count(*) FROM (SELECT flag_id FROM supervision_flags "
                        "GROUP BY run_id, flag_id HAVING count(*) > 1)").fetchone()
    con.close()
    assert dupes == (0,)
    flags = pl.read_csv(report_dir / "h" / "flags.csv", infer_schema_length=None)
    assert flags.height > 0 and set(flags["hospital_id"]) == {"H0001"}
    ind = pl.read_csv(report_dir / "h" / "indicators.csv", infer_schema_length=None)
    assert set(ind["hospital_id"].drop_nulls()) == {"H0001"}
    html = (report_dir / "h" / "report.html").read_text(encoding="utf-8")
    assert "本院科室指标" in html and "H0002" not in html.split('id="flags"')[1]


def test_unknown_run_is_one_line_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["report", "--out", str(tmp_path / "o"), "--db",
                                      str(tmp_path / "e.duckdb"), "--run-id", "nope"])
    assert result.exit_code != 0
    assert "nope" in str(result.exception)


def test_report_of_a_cleared_year_from_the_settlement(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The real path: `drgdip demo` settles a year month by month and clears it; the report
    supervises the clear run's settle runs and shows surplus/overspend per hospital."""
    monkeypatch.chdir(tmp_path)
    db = str(tmp_path / "d.duckdb")
    runner = CliRunner()
    demo = runner.invoke(cli, ["demo", "--cases", "4000", "--hospitals", "12", "--dir", "work",
                               "--db", db], catch_exceptions=False)
    assert demo.exit_code == 0, demo.output
    out = runner.invoke(cli, ["report", "--out", "rep", "--db", db], catch_exceptions=False)
    assert out.exit_code == 0, out.output
    con = duckdb.connect(db, read_only=True)
    clear_run = con.execute("SELECT run_id, year FROM runs WHERE kind = 'clear'").fetchone()
    settled = con.execute("SELECT count(*) FROM case_results c JOIN runs r USING (run_id) "
                          "WHERE r.kind = 'settle'").fetchone()
    region = con.execute("SELECT n_cases FROM indicators WHERE run_id = ? AND scope = 'region' "
                         "AND period = ?", [clear_run[0], str(clear_run[1])]).fetchone()
    con.close()
    assert clear_run is not None and settled is not None and region is not None
    assert region[0] == settled[0]
    clearing = pl.read_csv(tmp_path / "rep" / "clearing.csv")
    assert clearing.height == 12
    html = (tmp_path / "rep" / "report.html").read_text(encoding="utf-8")
    assert "结余与超支" in html
