"""Short-lived store connections for the service, and the service's own tables.

The service holds no DuckDB connection between requests: a DuckDB file admits one writing
process, and `drgdip keys create`, `drgdip weights publish` and the batch commands must be able to
use the same file while the service runs. Each operation opens the store (`weights.store`),
works and closes; a lock held by another process is waited for (up to `store_retry_seconds`) and
then answered with 503.

The service's tables (api_keys, jobs) are migration 300 of the store's one schema definition
(`weights.schema`); writes through the service are recorded in the store's `audit_log`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb

from api.errors import ApiError
from weights.errors import StoreError
from weights.store import open_store

LOCK_WORDS = ("lock", "Conflicting", "being used")


def _locked(exc: Exception) -> bool:
    return any(w in str(exc) for w in LOCK_WORDS)


class Store:
    """Opens the store per operation; one operation at a time within the process."""

    def __init__(self, path: Path, *, retry_seconds: float = 10.0) -> None:
        self.path = path
        self.retry_seconds = retry_seconds
        self._lock = threading.Lock()

    @contextmanager
    def connect(self, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        deadline = time.monotonic() + self.retry_seconds
        pause = 0.02
        with self._lock:
            while True:
                try:
                    con = open_store(self.path, read_only=read_only)
                    break
                except (duckdb.Error, StoreError) as exc:
                    if not _locked(exc) or time.monotonic() > deadline:
                        if read_only and not self.path.exists():
                            raise ApiError(503, "STORE_MISSING",
                                           "数据库不存在 / store file does not exist") from exc
                        raise ApiError(503, "STORE_BUSY",
                                       "数据库被其他进程占用 / store is locked by another "
                                       "process; retry later") from exc
                    time.sleep(pause)
                    pause = min(pause * 2, 0.5)
            try:
                yield con
            finally:
                con.close()

    def init(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.connect():
            pass  # open_store creates the file and applies pending migrations

    def tables(self) -> set[str]:
        with self.connect() as con:
            return {r[0] for r in con.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = 'main'").fetchall()}

    def query(self, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
        with self.connect() as con:
            cur = con.execute(sql, params or [])
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def execute(self, sql: str, params: list[Any] | None = None) -> None:
        with self.connect() as con:
            con.execute(sql, params or [])
