"""Opening the DuckDB store: one file, schema migrated on a read-write open.

DuckDB allows one read-write process or any number of read-only processes on a file; inside
one process, `con.cursor()` gives further connections to the same database (each with its own
transactions, snapshot isolation), which is how threads share a store.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from weights.errors import StoreBusyError, StoreError, StoreMissingError
from weights.schema import BOOTSTRAP, pending

LOCK_WORDS = ("Could not set lock", "Conflicting lock", "being used")
CREATORS = ("`drgdip demo`, `drgdip weights build-drg|build-dip`, `drgdip settle`, or any "
            "command with `drgdip --create …`")


@dataclass
class StoreOptions:
    """Process-wide defaults of `open_store`, set by the CLI's `--wait` and `--create`."""

    wait: float = 0.0  # seconds to wait for a lock held by another process
    create: bool = False  # let commands that do not normally create a store create one


OPTIONS = StoreOptions()


def is_locked(exc: BaseException) -> bool:
    return any(w in str(exc) for w in LOCK_WORDS)


def _holder(exc: BaseException) -> str:
    pid = re.search(r"PID (\d+)", str(exc))
    return f" (held by process {pid.group(1)})" if pid else ""


def open_store(path: str | Path, *, read_only: bool = False, create: bool = True,
               wait: float | None = None) -> duckdb.DuckDBPyConnection:
    """A connection to the store at `path` with the schema migrated.

    Read-write opens apply pending migrations and, with `create` (or `drgdip --create`), create
    a missing file; read-only opens require an existing, fully migrated file. A missing store
    otherwise raises `StoreMissingError` (exit 3). A lock held by another process is retried
    for `wait` seconds (default `OPTIONS.wait`, the CLI's `--wait`), then `StoreBusyError`.

    >>> con = open_store("drgdip.duckdb")  # doctest: +SKIP
    >>> con.sql("SELECT version, status FROM weight_versions").pl()  # doctest: +SKIP
    """
    path = Path(path)
    if not path.is_file() and (read_only or not (create or OPTIONS.create)):
        raise StoreMissingError(f"store not found: {path} — check --db / DRGDIP_DB; stores are "
                                f"created by {CREATORS}")
    if path.parent and not path.parent.exists():
        raise StoreError(f"directory of the store does not exist: {path.parent}")
    wait = OPTIONS.wait if wait is None else wait
    deadline = time.monotonic() + max(wait, 0.0)
    pause = 0.05
    while True:
        try:
            con = duckdb.connect(str(path), read_only=read_only)
            break
        except duckdb.IOException as exc:
            if not is_locked(exc):
                reason = str(exc).splitlines()[0]
                raise StoreError(f"cannot open store {path}: {reason}") from exc
            if time.monotonic() >= deadline:
                waited = f"waited {wait:g} s" if wait > 0 else "did not wait"
                raise StoreBusyError(
                    f"store {path} is in use by another process{_holder(exc)}, e.g. a running "
                    f"`drgdip serve` writing or another drgdip command; {waited} — retry, or "
                    f"wait longer with `drgdip --wait SECONDS …`") from exc
            time.sleep(min(pause, max(deadline - time.monotonic(), 0.0)))
            pause = min(pause * 2, 1.0)
    if read_only:
        _check_migrated(con, path)
    else:
        migrate(con)
    return con


def applied_migrations(con: duckdb.DuckDBPyConnection) -> set[int]:
    exists = first_row(
        con, "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_migrations'")
    if not exists or not exists[0]:
        return set()
    return {row[0] for row in con.execute("SELECT number FROM schema_migrations").fetchall()}


def migrate(con: duckdb.DuckDBPyConnection) -> list[int]:
    """Apply pending migrations, each in its own transaction; returns their numbers."""
    con.execute(BOOTSTRAP)
    done = []
    for migration in pending(applied_migrations(con)):
        with transaction(con):
            for statement in migration.statements:
                con.execute(statement)
            con.execute("INSERT INTO schema_migrations VALUES (?, ?, ?)",
                        [migration.number, migration.name, datetime.now()])
        done.append(migration.number)
    return done


def _check_migrated(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    missing = pending(applied_migrations(con))
    if missing:
        names = ", ".join(f"{m.number} {m.name}" for m in missing)
        con.close()
        raise StoreError(f"store {path} lacks migration(s) {names}; open it read-write once "
                         f"(e.g. `drgdip weights list --db {path}`) to migrate")


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """BEGIN … COMMIT, ROLLBACK on any exception."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def query(con: duckdb.DuckDBPyConnection, sql: str, args: Sequence[Any] = ()) -> pl.DataFrame:
    """The full result of `sql` as a polars frame (nothing left pending on the connection)."""
    table = con.sql(sql, params=list(args) or None).to_arrow_table()
    return pl.from_arrow(table)  # type: ignore[return-value]


def first_row(con: duckdb.DuckDBPyConnection, sql: str,
              args: Sequence[Any] = ()) -> tuple[Any, ...] | None:
    """The first row of `sql` or None; the result is fetched to its end, so the connection is
    free for `con.sql(...)` afterwards (DuckDB refuses new work while a result is pending)."""
    rows = con.execute(sql, list(args)).fetchall()
    return rows[0] if rows else None
