"""Store access for the service: reads from a read-only replica, writes through one writer.

A DuckDB file admits one writing process or several reading ones, never both. So that hospital
reads never block the nightly batch (`drgdip settle` writing from another process) and the batch
never blocks the reads:

- **Reads** (`query`, `tables`, `read`) go to a *replica*: a copy of the store file opened
  read-only once and shared by every request through cursors (DuckDB's snapshot isolation). No
  read opens or locks the store file itself.
- The replica is **refreshed** when the store changes: every `replica_refresh_seconds` (and
  after the service's own publishes and key changes) the file's stamp is compared; when another
  process changed it and nobody is writing, the store is opened read-only for the moment of the
  copy (a writer waits that long, see `drgdip --wait`), copied, and the new copy replaces the
  old one for the next requests. While a writer holds the store the replica stays as it is.
- **Answers are kept per replica**: a replica never changes, so what a read computed from it
  (table columns, counts, a page of rows as JSON) is kept in the replica's `ReadCache`
  (`read_cache_mb`, least recently used first out) and served again without a query until the
  replica is replaced; a new replica starts empty. A request pins one replica (`view()`), so
  its count and its rows come from the same snapshot.
- **Writes** (`connect`, `execute`: jobs, keys, audit, publish) open the store read-write for
  the one operation, one at a time within the process, waiting up to `store_retry_seconds`
  for a lock held by another process, then 503 STORE_BUSY.

The service's tables (api_keys, jobs) are migration 300+ of the store's one schema
(`weights.schema`); writes through the service are recorded in the store's `audit_log`.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb

from api.errors import ApiError
from weights.errors import StoreBusyError, StoreError
from weights.store import open_store

log = logging.getLogger("drgdip.api.store")

Stamp = tuple[int, int, int, int]
BUSY_PAUSE = 0.25  # seconds between read-path copy attempts while another process writes


def file_stamp(path: Path) -> Stamp:
    """(mtime, size) of the store file and of its write-ahead log: changes with every commit."""
    def one(p: Path) -> tuple[int, int]:
        try:
            st = p.stat()
        except FileNotFoundError:
            return (0, 0)
        return (st.st_mtime_ns, st.st_size)

    return (*one(path), *one(path.with_name(path.name + ".wal")))  # type: ignore[return-value]


class ReadCache:
    """Answers computed from one replica (which never changes), least recently used out first,
    at most `max_bytes` of answers (an answer larger than an eighth of that is not kept)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key: Hashable) -> Any | None:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return item[0]

    def put(self, key: Hashable, value: Any, size: int) -> None:
        if size > self.max_bytes // 8:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            self._items[key] = (value, size)
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, (_, gone) = self._items.popitem(last=False)
                self._bytes -= gone


class Replica:
    """A read-only copy of the store, shared by readers; closed once retired and unused."""

    def __init__(self, path: Path, stamp: Stamp, cache_bytes: int = 64 * 1024 * 1024) -> None:
        self.path, self.stamp = path, stamp
        self.con = duckdb.connect(str(path), read_only=True)
        self.users = 0
        self.retired = False
        self.cache = ReadCache(cache_bytes)

    def close(self) -> None:
        self.con.close()
        for p in (self.path, self.path.with_name(self.path.name + ".wal")):
            p.unlink(missing_ok=True)


class View:
    """One replica pinned for one request: its queries, and its cached metadata and answers."""

    def __init__(self, replica: Replica, cur: duckdb.DuckDBPyConnection) -> None:
        self.replica, self.con, self.cache = replica, cur, replica.cache

    def query(self, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
        cur = self.con.execute(sql, params or [])
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def remember(self, key: Hashable, compute: Callable[[], Any], size: int = 64) -> Any:
        """`compute()` once per replica for `key` (metadata, counts: small values)."""
        found = self.cache.get(key)
        if found is None:
            found = compute()
            self.cache.put(key, found, size)
        return found

    def tables(self) -> set[str]:
        return self.remember(("tables",), lambda: frozenset(r["table_name"] for r in self.query(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'")))

    def columns(self, table: str) -> list[str]:
        """The table's columns in order ([] when it does not exist)."""
        return list(self.remember(("columns", table), lambda: tuple(
            r["column_name"] for r in self.query(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = "
                "'main' AND table_name = ? ORDER BY ordinal_position", [table]))))


class Store:
    """Writes open the store per operation (one at a time); reads use the replica."""

    def __init__(self, path: Path, *, retry_seconds: float = 10.0,
                 replica_dir: Path | None = None, refresh_seconds: float = 2.0,
                 sync_refresh_bytes: int = 256 * 1024 * 1024,
                 read_cache_bytes: int = 64 * 1024 * 1024) -> None:
        self.path = path
        self.read_cache_bytes = read_cache_bytes
        self.sync_refresh_bytes = sync_refresh_bytes
        self._busy_until = 0.0
        self.retry_seconds = retry_seconds
        self.refresh_seconds = refresh_seconds
        self.replica_dir = replica_dir or path.with_name(path.name + ".replica")
        self._lock = threading.Lock()  # the one writer of this process (and the copier)
        self._swap = threading.Lock()  # guards the current replica and its users
        self._replica: Replica | None = None
        self._serial = 0
        self._own: Stamp | None = None  # the stamp after our own last write (jobs, audit)

    # -- writes -----------------------------------------------------------------------------
    @contextmanager
    def connect(self, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """The store itself, read-write (or read-only), for one operation."""
        with self._lock:
            before = file_stamp(self.path)
            try:
                con = open_store(self.path, read_only=read_only, create=True,
                                 wait=self.retry_seconds)
            except StoreBusyError as exc:
                raise ApiError(503, "STORE_BUSY", "数据库被其他进程占用 / store is locked by "
                               "another process; retry later") from exc
            except StoreError as exc:
                raise ApiError(503, "STORE_UNAVAILABLE",
                               "数据库不可用 / store cannot be opened") from exc
            try:
                yield con
            finally:
                con.close()
                # our own job/audit writes need no new replica (jobs are served from memory);
                # a change by another process since the replica was made still does
                replica = self._replica
                if replica is not None and before in (replica.stamp, self._own):
                    self._own = file_stamp(self.path)

    def init(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.connect():
            pass  # open_store creates the file and applies pending migrations
        self._remove_dead_replicas()
        self.refresh(force=True)

    def _remove_dead_replicas(self) -> None:
        """Copies left by a service that was killed (their process is gone)."""
        for old in self.replica_dir.glob("replica-*.duckdb*"):
            pid = old.name.split("-")[1]
            try:
                os.kill(int(pid), 0)
                alive = int(pid) != os.getpid()
            except (OSError, ValueError):
                alive = False
            if not alive:
                old.unlink(missing_ok=True)

    def execute(self, sql: str, params: list[Any] | None = None) -> None:
        with self.connect() as con:
            con.execute(sql, params or [])

    # -- the replica ------------------------------------------------------------------------
    def stale(self) -> bool:
        replica = self._replica
        if replica is None:
            return True
        now = file_stamp(self.path)
        return now not in (replica.stamp, self._own)

    def refresh(self, *, force: bool = False, blocking: bool = True) -> bool:
        """Copy the store into a new replica when it changed (or `force`); False when a writer
        holds the store (the old replica keeps serving). `blocking=False` gives up at once when
        this process is writing or copying already, and retries a busy store only every
        `BUSY_PAUSE` seconds (the read path)."""
        if not force and not self.stale():
            return True
        if not blocking and time.monotonic() < self._busy_until:
            return False
        if not self._lock.acquire(blocking=blocking):
            return False
        try:
            return self._copy(force)
        finally:
            self._lock.release()

    def _copy(self, force: bool) -> bool:
        try:
            guard = open_store(self.path, read_only=True, wait=0 if not force
                               else self.retry_seconds)
        except StoreBusyError:
            if force and self._replica is None:
                raise ApiError(503, "STORE_BUSY", "数据库被其他进程占用 / store is locked "
                               "by another process; retry later") from None
            self._busy_until = time.monotonic() + BUSY_PAUSE
            return False
        try:  # no writer can change the file while we hold it read-only
            stamp = file_stamp(self.path)
            self.replica_dir.mkdir(parents=True, exist_ok=True)
            self._serial += 1
            target = self.replica_dir / f"replica-{os.getpid()}-{self._serial}.duckdb"
            shutil.copyfile(self.path, target)
            wal = self.path.with_name(self.path.name + ".wal")
            if wal.exists():
                shutil.copyfile(wal, target.with_name(target.name + ".wal"))
        finally:
            guard.close()
        fresh = Replica(target, stamp, self.read_cache_bytes)
        with self._swap:
            old, self._replica = self._replica, fresh
            self._own = None
            if old is not None:
                old.retired = True
                if old.users == 0:
                    old.close()
        return True

    def refresh_forever(self, stop: threading.Event) -> None:
        while not stop.wait(self.refresh_seconds):
            try:
                self.refresh()
            except Exception:
                log.exception("store replica refresh failed")

    def _small(self) -> bool:
        try:
            return self.path.stat().st_size <= self.sync_refresh_bytes
        except OSError:
            return False

    def replica_path(self) -> Path:
        if self._replica is None:
            self.refresh(force=True)
        assert self._replica is not None
        return self._replica.path

    @contextmanager
    def read(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor on the current replica (a consistent snapshot of the store)."""
        with self.view() as v:
            yield v.con

    def _follow(self) -> None:
        """A store changed by another process and free is copied first when it is small
        (`sync_refresh_bytes`), so a read follows a write at once; a larger one is copied by
        the refresh thread."""
        if self._replica is None:
            self.refresh(force=True)
        elif self.stale() and self._small():
            self.refresh(blocking=False)

    @contextmanager
    def view(self) -> Iterator[View]:
        """The current replica pinned for one request (see `_follow` for when it is new)."""
        self._follow()
        with self._swap:
            replica = self._replica
            assert replica is not None
            replica.users += 1
            cur = replica.con.cursor()
        try:
            yield View(replica, cur)
        finally:
            cur.close()
            with self._swap:
                replica.users -= 1
                if replica.retired and replica.users == 0:
                    replica.close()

    def cached(self, key: Hashable) -> Any | None:
        """An answer kept for `key` on the replica a read would use now, without touching the
        replica or waiting (None: not kept, or a newer copy is due first). For the event loop:
        two `stat` calls and a dict lookup."""
        replica = self._replica
        if replica is None:
            return None
        if self.stale() and self._small() and time.monotonic() >= self._busy_until:
            return None  # the read path copies the store first
        return replica.cache.get(key)

    def answer(self, key: Hashable, compute: Callable[[View], bytes]) -> bytes:
        """The answer for `key` from the replica of this moment: kept, or computed and kept."""
        with self.view() as v:
            found = v.cache.get(key)
            if found is None:
                found = compute(v)
                v.cache.put(key, found, len(found))
            return found

    @contextmanager
    def snapshot(self) -> Iterator[Path]:
        """The current replica's file, kept (not retired) while in use, for a worker process to
        open read-only: a consistent snapshot without opening the store itself."""
        if self._replica is None:
            self.refresh(force=True)
        with self._swap:
            replica = self._replica
            assert replica is not None
            replica.users += 1
        try:
            yield replica.path
        finally:
            with self._swap:
                replica.users -= 1
                if replica.retired and replica.users == 0:
                    replica.close()

    def close(self) -> None:
        with self._swap:
            old, self._replica = self._replica, None
            if old is not None:
                old.retired = True
                if old.users == 0:
                    old.close()

    def tables(self) -> set[str]:
        with self.view() as v:
            return set(v.tables())

    def columns(self, table: str) -> list[str]:
        with self.view() as v:
            return v.columns(table)

    def query(self, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
        with self.view() as v:
            return v.query(sql, params)
