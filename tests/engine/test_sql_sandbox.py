"""`drgdip sql` stays in the store (issue 14 bullet 5): each escape the operator found is run
through the real command line (`python -m engine.cli sql …`) on a real store file, and must end
with one line and a non-zero exit, leaving nothing behind outside the store."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import engine.pipeline  # noqa: F401  (registers the settlement migrations)
from api.auth import create_key
from weights.store import open_store

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("sandbox") / "store.duckdb"
    con = open_store(db)
    create_key(con, "analyst", None, "sandbox test")
    con.execute("CREATE VIEW v_keys AS SELECT * FROM api_keys")  # a view over the hidden table
    con.close()
    return db


def sql(store: Path, statement: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "engine.cli", "sql", statement, "--db", str(store)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, "DRGDIP_DB": str(store), **env})


def refused(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode not in (0, 1), result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_copy_to_a_path_is_refused(store: Path, tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    refused(sql(store, f"COPY (SELECT * FROM weight_versions) TO '{target}'"))
    refused(sql(store, f"COPY weight_versions TO '{target}' (FORMAT csv)"))
    assert not target.exists()


def test_export_database_is_refused(store: Path, tmp_path: Path) -> None:
    target = tmp_path / "export"
    refused(sql(store, f"EXPORT DATABASE '{target}'"))
    assert not target.exists()


@pytest.mark.parametrize("statement", [
    "SELECT * FROM read_text('/etc/hostname')",
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM read_csv_auto('/etc/passwd')",
    "SELECT * FROM '/etc/passwd'",
    "SELECT * FROM glob('/etc/*')",
    "SELECT * FROM read_blob('/etc/hostname')",
])
def test_files_outside_the_store_are_not_readable(store: Path, statement: str) -> None:
    result = sql(store, statement)
    refused(result)
    assert "root:" not in result.stdout


@pytest.mark.parametrize("statement", [
    "INSTALL httpfs", "LOAD httpfs", "SELECT * FROM read_csv('https://example.com/x.csv')",
    "SET enable_external_access = true", "ATTACH '/tmp/drgdip-escape.duckdb' AS x",
])
def test_no_extensions_network_settings_or_attach(store: Path, statement: str) -> None:
    refused(sql(store, statement))
    assert not Path("/tmp/drgdip-escape.duckdb").exists()


def test_unbounded_range_is_cut_at_the_row_limit(store: Path) -> None:
    result = sql(store, "SELECT * FROM range(100000000000)", DRGDIP_SQL_MAX_ROWS="1000")
    assert result.returncode == 0, result.stderr
    assert "1,000" in result.stderr and "DRGDIP_SQL_MAX_ROWS" in result.stderr


def test_a_long_query_is_stopped_at_the_time_limit(store: Path) -> None:
    result = sql(store, "SELECT count(*) FROM range(100000000000) a WHERE a.range % 7 = 3",
                 DRGDIP_SQL_TIMEOUT_SECONDS="1")
    line = refused(result)
    assert result.returncode == 4 and "DRGDIP_SQL_TIMEOUT_SECONDS" in line


@pytest.mark.parametrize("statement", [
    "SELECT * FROM api_keys",
    "SELECT secret_hash FROM main.API_KEYS",
    "FROM api_keys",
    "SELECT count(*) FROM api_keys",
    "SELECT (SELECT max(secret_hash) FROM api_keys)",
    "SELECT * FROM weight_versions, (FROM api_keys)",
    "WITH k AS (SELECT * FROM api_keys) SELECT * FROM k",
    "SELECT * FROM query('SELECT * FROM api_keys')",
    "SELECT * FROM query_table('api_keys')",
    "SELECT * FROM pragma_storage_info('api_keys')",
    "SELECT * FROM v_keys",
    "SUMMARIZE api_keys",
])
def test_api_keys_are_not_readable(store: Path, statement: str) -> None:
    result = sql(store, statement)
    refused(result)
    key_hash = open_store(store, read_only=True).execute(
        "SELECT secret_hash FROM api_keys").fetchone()[0]
    assert key_hash[:16] not in result.stdout + result.stderr


def test_more_than_one_statement_or_a_write_is_refused(store: Path) -> None:
    refused(sql(store, "SELECT 1; SELECT 2"))
    refused(sql(store, "CREATE TEMP TABLE t AS SELECT 1"))
    refused(sql(store, "DELETE FROM weight_versions"))


def test_ordinary_queries_still_work(store: Path) -> None:
    result = sql(store, "SELECT table_name FROM information_schema.tables "
                        "WHERE table_name = 'weight_versions'")
    assert result.returncode == 0, result.stderr
    assert "weight_versions" in result.stdout
    described = sql(store, "DESCRIBE weight_versions")
    assert described.returncode == 0 and "version" in described.stdout, described.stderr
    ranged = sql(store, "SELECT sum(range) AS s FROM range(10)")
    assert ranged.returncode == 0 and "45" in ranged.stdout


def test_a_misspelt_table_keeps_duckdbs_hint(store: Path) -> None:
    line = refused(sql(store, "SELECT * FROM weight_version"))
    assert "weight_versions" in line
