"""Tables that fit the terminal and `--format table|csv|json|xlsx` (issue 13 bullet 7) on
`sql`, `weights list` and `policies`; `sql` keeps DuckDB's "Did you mean …" hint. Real child
processes on a real store file; CSV, JSON and xlsx read back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import duckdb
import polars as pl
import pytest
from openpyxl import load_workbook
from rich.cells import cell_len

ROOT = Path(__file__).resolve().parents[2]
WIDE_SQL = ("SELECT version, kind, ruleset, region, year, status, n_rows, source, created_at, "
            "checksum, 'a long text column that cannot fit a narrow terminal at all' AS note "
            "FROM weight_versions ORDER BY version")


def drgdip(*args: str, columns: int | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    if columns is not None:
        env["COLUMNS"] = str(columns)
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], capture_output=True,
                          text=True, timeout=120, check=False, cwd=ROOT, env=env)


def ok(*args: str, columns: int | None = None) -> str:
    run = drgdip(*args, columns=columns)
    assert run.returncode == 0, run.stderr
    return run.stdout


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    tmp = tmp_path_factory.mktemp("tables")
    path = str(tmp / "s.duckdb")
    weights = tmp / "w.csv"
    weights.write_text("DRG编码,DRG名称,权重\nAA19,心脏移植,12.5\nAB19,肝移植,9.25\n",
                       encoding="utf-8")
    for version in ("w2024", "w2025"):
        ok("--create", "weights", "import", str(weights), "--version", version,
           "--year", version[1:],
           "--region", "江门市", "--db", path)
    ok("weights", "publish", "w2025", "--why", "test", "--db", path)
    return path


COMMANDS = {
    "sql": lambda db: ["sql", WIDE_SQL, "--db", db],
    "weights list": lambda db: ["weights", "list", "--db", db],
    "policies": lambda db: ["policies"],
}


@pytest.mark.parametrize("name", list(COMMANDS))
@pytest.mark.parametrize("columns", [40, 72])
def test_tables_fit_a_narrow_terminal_without_wrapping(db: str, name: str,
                                                       columns: int) -> None:
    args = COMMANDS[name](db)
    wide = ok(*args).splitlines()
    narrow = ok(*args, columns=columns).splitlines()
    assert max(cell_len(line) for line in narrow) <= columns, "\n".join(narrow)
    assert max(cell_len(line) for line in wide) > columns  # the test is not vacuous
    # no row is wrapped onto a second line: as many lines as the full table (+ the fold note)
    table_lines = [line for line in narrow if line[:1] in "┏┃┡│└"]
    assert len(table_lines) == len(wide)
    header = [c.strip() for c in table_lines[1].strip("┃").split("┃")]
    note = narrow[-1]
    assert note.startswith("… ") and "more column" in note
    hidden = int(note.split()[1])
    full = [c.strip() for c in wide[1].strip("┃").split("┃")]
    assert len(header) + hidden == len(full)
    assert all(h == f or (h.endswith("…") and f.startswith(h[:-1]))
               for h, f in zip(header, full, strict=False))


def test_piped_output_without_columns_is_not_cut(db: str) -> None:
    out = ok("sql", WIDE_SQL, "--db", db)
    assert "a long text column that cannot fit a narrow terminal at all" in out
    assert "江门市" in out and "…" not in out


@pytest.mark.parametrize("name", list(COMMANDS))
def test_csv_json_and_xlsx_hold_every_row_and_column(db: str, name: str,
                                                     tmp_path: Path) -> None:
    args = COMMANDS[name](db)
    csv = pl.read_csv(ok(*args, "--format", "csv").encode(), infer_schema=False)
    lines = ok(*args, "--format", "json").splitlines()
    rows = [json.loads(line) for line in lines]
    assert len(rows) == csv.height > 0
    assert list(rows[0]) == csv.columns
    assert [str(r[csv.columns[0]]) for r in rows] == csv[csv.columns[0]].to_list()
    out = tmp_path / "result.xlsx"
    ok(*args, "--out", str(out))  # the format follows the extension
    sheet = list(load_workbook(out, read_only=True).active.iter_rows(values_only=True))
    assert list(sheet[0]) == csv.columns
    assert len(sheet) == csv.height + 1
    assert [str(r[0]) for r in sheet[1:]] == csv[csv.columns[0]].to_list()


def test_sql_results_equal_the_store_in_every_format(db: str, tmp_path: Path) -> None:
    statement = ("SELECT version, year, CAST(1234567.8912 AS DECIMAL(18, 4)) * 3 AS third, region "
                 "FROM weight_versions ORDER BY version")
    with duckdb.connect(db, read_only=True) as con:
        want = con.execute(statement).fetchall()
    rows = [json.loads(line) for line in ok("sql", statement, "--format", "json",
                                             "--db", db).splitlines()]
    assert [(r["version"], r["year"], Decimal(r["third"]), r["region"]) for r in rows] == want
    ok("sql", statement, "--out", str(tmp_path / "r.xlsx"), "--db", db)
    sheet = list(load_workbook(tmp_path / "r.xlsx", read_only=True).active
                 .iter_rows(values_only=True))[1:]
    assert [(v, y, Decimal(str(t)), r) for v, y, t, r in sheet] == want
    ok("sql", statement, "--out", str(tmp_path / "r.csv"), "--db", db)
    raw = (tmp_path / "r.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # a CSV file is for Excel
    assert not ok("sql", statement, "--format", "csv", "--db", db).startswith("\ufeff")
    back = pl.read_csv(tmp_path / "r.csv", infer_schema=False)
    assert [(v, int(y), Decimal(t), r) for v, y, t, r in back.iter_rows()] == want


def test_sql_limit_cuts_the_table_and_only_files_when_given(db: str) -> None:
    table = ok("sql", WIDE_SQL, "--limit", "1", "--db", db)
    assert "… 1 more rows" in table
    assert len(ok("sql", WIDE_SQL, "--format", "json", "--db", db).splitlines()) == 2
    assert len(ok("sql", WIDE_SQL, "--format", "json", "--limit", "1", "--db", db)
               .splitlines()) == 1
    assert len(ok("sql", WIDE_SQL, "--json", "--db", db).splitlines()) == 2  # old flag


def test_bad_format_requests_are_usage_errors(db: str) -> None:
    for args in (["policies", "--format", "xlsx"], ["policies", "--out", "x.txt"],
                 ["policies", "--format", "table", "--out", "x.csv"]):
        run = drgdip(*args)
        assert run.returncode == 2, run.stderr
        assert run.stderr.strip().splitlines()[-1].startswith("Error: ")


def test_sql_keeps_duckdbs_hint_on_one_line(db: str) -> None:
    run = drgdip("sql", "SELECT * FROM weight_version", "--db", db)
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert "weight_version does not exist" in lines[0]
    assert 'Did you mean "weight_versions"' in lines[0]
    column = drgdip("sql", "SELECT verson FROM weight_versions", "--db", db)
    assert column.returncode == 2 and len(column.stderr.strip().splitlines()) == 1
    assert '"version"' in column.stderr and "LINE 1" not in column.stderr
