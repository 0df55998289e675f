"""`drgdip sql` in a sandbox: one read-only query over the store and nothing else.

The store is opened read-only with DuckDB's external access off and the configuration locked
(`enable_external_access=false`, `lock_configuration=true`, extension auto-install/auto-load
off): no file is read or written outside the store (`COPY … TO`, `EXPORT DATABASE`,
`read_csv`, `read_text`, `ATTACH`, `glob` fail with a permission error), no extension is
installed or loaded (no network), and no setting can be changed back. On top of that:

- one statement, and only a query (SELECT / FROM / WITH / VALUES / DESCRIBE / SHOW /
  SUMMARIZE, everything DuckDB can serialize as a SELECT);
- the `api_keys` table (salted key hashes) is not readable: a query naming it, or whose plan
  scans it (through a view or `query()`), is refused; so are table functions that read a table
  by name or its storage (`query`, `query_table`, `pragma_storage_info`, …): only the table
  functions of `TABLE_FUNCTIONS` are allowed;
- at most `max_rows` rows are fetched (the limit is pushed into the plan, so
  `SELECT * FROM range(1e11)` returns at once) and the query is interrupted after
  `timeout_seconds`; DuckDB's memory is capped at `memory_limit`.

Settings: `DRGDIP_SQL_MAX_ROWS`, `DRGDIP_SQL_TIMEOUT_SECONDS`, `DRGDIP_SQL_MEMORY_LIMIT`
(engine.settings). docs/store.md says what analysts can and cannot do.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from grouper.errors import RefusedError
from weights.errors import StoreError
from weights.store import open_store

HIDDEN_TABLES = frozenset({"api_keys"})
# Table functions a query may call; everything else (query, query_table, pragma_storage_info,
# the file readers …) is refused before it runs.
TABLE_FUNCTIONS = frozenset({
    "range", "generate_series", "unnest", "pragma_table_info", "pragma_show",
    "duckdb_columns", "duckdb_constraints", "duckdb_databases", "duckdb_dependencies",
    "duckdb_functions", "duckdb_indexes", "duckdb_keywords", "duckdb_schemas",
    "duckdb_sequences", "duckdb_settings", "duckdb_tables", "duckdb_types", "duckdb_views",
    "summary", "show", "show_tables", "show_databases", "describe",
})
SANDBOX_CONFIG = {
    "enable_external_access": False,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "allow_community_extensions": False,
    "allow_unsigned_extensions": False,
}


@dataclass(frozen=True)
class SqlResult:
    frame: pl.DataFrame
    truncated: bool  # more rows than max_rows: only the first max_rows are in `frame`
    max_rows: int


def open_sandbox(db: Path, *, memory_limit: str = "1GB") -> duckdb.DuckDBPyConnection:
    """The store read-only, external access off, configuration locked."""
    path = Path(db)
    if not path.is_file():
        raise StoreError(f"store not found: {path}")
    # migrations checked by the ordinary read-only open first (a clear message if behind)
    open_store(path, read_only=True).close()
    try:
        con = duckdb.connect(str(path), read_only=True,
                             config={**SANDBOX_CONFIG, "memory_limit": memory_limit})
    except duckdb.IOException as exc:
        raise StoreError(f"cannot open store {path}: {str(exc).splitlines()[0]}") from exc
    con.execute("SET lock_configuration = true")
    return con


def _walk(node: Any) -> Any:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def check_statement(con: duckdb.DuckDBPyConnection, statement: str) -> None:
    """Refuse anything but one query that reads no hidden table (RefusedError)."""
    try:
        statements = con.extract_statements(statement)
    except duckdb.Error as exc:
        raise duckdb_error(exc) from exc
    if len(statements) != 1:
        raise RefusedError(f"sql: 一次只能执行一条查询 / one statement at a time "
                           f"(got {len(statements)})")
    ast = json.loads(con.execute("SELECT json_serialize_sql(?)", [statement]).fetchone()[0])
    if ast.get("error"):
        raise RefusedError("sql: 只允许查询 (SELECT) / only queries are allowed (SELECT, FROM, "
                           "WITH, DESCRIBE, SHOW, SUMMARIZE); the store is read-only here")
    for node in _walk(ast):
        kind = node.get("type")
        if kind == "BASE_TABLE" and str(node.get("table_name", "")).lower() in HIDDEN_TABLES:
            raise _hidden(str(node["table_name"]))
        if kind == "TABLE_FUNCTION":
            fn = node.get("function") or {}
            name = str(fn.get("function_name", "")).lower()
            if name not in TABLE_FUNCTIONS:
                raise RefusedError(f"sql: 不允许的表函数 / table function {name}() is not "
                                   f"allowed here (allowed: {', '.join(sorted(TABLE_FUNCTIONS))})")
    # the plan, for what names alone do not show (views over a hidden table)
    try:
        plan = con.execute(f"EXPLAIN (FORMAT JSON) {statement}").fetchall()
    except duckdb.Error as exc:
        raise duckdb_error(exc) from exc
    for _, text in plan:
        for node in _walk(json.loads(text)):
            table = str((node.get("extra_info") or {}).get("Table", "")) \
                if isinstance(node.get("extra_info"), dict) else ""
            if table and table.rsplit(".", 1)[-1].lower() in HIDDEN_TABLES:
                raise _hidden(table.rsplit(".", 1)[-1])


def _hidden(name: str) -> RefusedError:
    return RefusedError(f"sql: 表 {name} 不可查询 / table {name} is not readable through sql "
                        "(API key hashes); use `drgdip keys list`")


def duckdb_error(exc: duckdb.Error) -> StoreError:
    """DuckDB's message (its first line, and a "Did you mean" hint when it gives one)."""
    lines = [ln for ln in str(exc).splitlines() if ln.strip()]
    hint = [ln.strip() for ln in lines[1:] if "did you mean" in ln.lower()]
    return StoreError("sql: " + " ".join([lines[0] if lines else type(exc).__name__, *hint]))


def run_query(db: Path, statement: str, *, max_rows: int, timeout_seconds: float,
              memory_limit: str = "1GB") -> SqlResult:
    """One sandboxed query: at most `max_rows` rows, interrupted after `timeout_seconds`."""
    con = open_sandbox(db, memory_limit=memory_limit)
    fired = threading.Event()

    def stop() -> None:
        fired.set()
        con.interrupt()

    timer = threading.Timer(timeout_seconds, stop)
    try:
        check_statement(con, statement)
        timer.start()
        try:
            table = con.sql(statement).limit(max_rows + 1).to_arrow_table()
        except duckdb.Error as exc:
            if fired.is_set() or isinstance(exc, duckdb.InterruptException):
                raise RefusedError(f"sql: 查询超时 / query stopped after {timeout_seconds:g} s "
                                   "(DRGDIP_SQL_TIMEOUT_SECONDS); narrow it with WHERE or "
                                   "aggregate") from exc
            raise duckdb_error(exc) from exc
    finally:
        timer.cancel()
        con.close()
    frame: pl.DataFrame = pl.from_arrow(table)  # type: ignore[assignment]
    truncated = frame.height > max_rows
    return SqlResult(frame.head(max_rows), truncated, max_rows)
