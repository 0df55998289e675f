"""Issue 16 "must show": the fixture region settled under jiangmen_dip_2025 with the imported
Pingdingshan catalogue (real DuckDB store, the CLI as a user runs it): no grouped case is
`unmatched` (every group, fallback ones included, carries a mean cost) and the share of cases
per DIP type is printed."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from engine.cli import cli

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = Path("/work/shared/dip/pingdingshan_2025/catalog.csv")
REGION = ROOT / "data" / "fixtures" / "region"


@pytest.mark.slow  # settles the 20,000-case fixture region
@pytest.mark.skipif(not SHIPPED.is_file(), reason="shared DIP catalogue not mounted")
def test_region_settles_with_the_imported_catalogue(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    runner = CliRunner()
    out = runner.invoke(cli, ["--create", "weights", "import-dip", str(SHIPPED), "--version",
                              "pds-2025", "--db", str(db)])
    assert out.exit_code == 0, out.output
    out = runner.invoke(cli, ["settle", "--policy", "jiangmen_dip_2025", "--cases",
                              str(REGION / "cases.parquet"), "--period", "2025-01",
                              "--run-id", "pds", "--weights", "pds-2025", "--hospitals",
                              str(REGION / "hospitals.parquet"), "--db", str(db),
                              "--allow-held"])
    assert out.exit_code == 0, out.output
    line = next(x for x in out.output.splitlines() if x.startswith("DIP types of the "))
    shares = dict(re.findall(r"(\w+) [\d,]+ \(([\d.]+) %\)", line))
    assert set(shares) <= {"core", "comprehensive", "fallback"} and "core" in shares
    assert abs(sum(float(v) for v in shares.values()) - 100) < 0.2
    assert line.endswith("unmatched 0")
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute("SELECT count(*), count(*) FILTER (WHERE case_type = 'unmatched') "
                           "FROM case_results WHERE run_id = 'pds' AND group_code IS NOT NULL"
                           ).fetchone()
        assert rows is not None and rows[0] == 20000 and rows[1] == 0
    finally:
        con.close()
