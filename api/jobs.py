"""Batch jobs: accepted uploads persisted in the store, run by worker processes.

A job row is written (state `accepted`) before the upload is acknowledged. `JobRunner` keeps
`job_workers` slots; each slot is a thread of the service that owns one worker process
(`api.job_worker`) and hands it one job at a time. Everything a file can do to its worker (a
polars panic, a crash, running out of memory, overrunning `job_time_limit_seconds`) ends that
job as `failed` with a one-line reason; the slot then replaces its process and the queue goes
on. The service is the only writer of the `jobs` table (workers only write Parquet files).

Each start of a job counts an attempt. On start-up every `accepted` job is queued again, and
every `running` one (the service stopped while it ran) too, unless it has used its
`job_max_attempts`: then it is `failed` rather than run blindly once more. A job writes its
result file to a temporary name and renames it at the end, so running one twice is harmless.

Job times are UTC (RFC 3339 with zone in the API). Uploaded inputs are deleted once a job is
done or failed (after `upload_retention_seconds`), and stray temporary files of interrupted
jobs are removed when the runner starts.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import queue
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow.parquet as pq  # type: ignore[import-untyped]

from api import job_worker
from api.errors import ApiError
from api.logs import job_event, scrub
from api.store_access import Store
from engine.case_output import flatten_lists
from weights.schema import Migration, register_migration

log = logging.getLogger("drgdip.api.jobs")

INPUT_SUFFIXES = (".parquet", ".csv", ".jsonl", ".xlsx")
JOB_COLUMNS = ("job_id", "kind", "params", "state", "key_id", "hospital_id", "filename",
               "input_path", "result_path", "rows_total", "rows_done", "counts", "error",
               "created_at", "started_at", "finished_at", "attempts")
TIME_COLUMNS = ("created_at", "started_at", "finished_at")
READY_TIMEOUT = 120.0  # seconds a new worker process may take to import
POLL_SECONDS = 0.5

register_migration(Migration(305, "jobs: attempts", (
    "ALTER TABLE jobs ADD COLUMN attempts INTEGER DEFAULT 0",
)))

# DIP catalogue name -> catalogue object (sent to the worker with the job)
CatalogFn = Callable[[str], Any]


@dataclass(frozen=True)
class JobLimits:
    workers: int = 2
    time_limit_seconds: float = 3600.0
    max_rows: int = 5_000_000
    max_attempts: int = 2
    memory_mb: int = 0
    upload_retention_seconds: float = 0.0  # < 0: keep uploads


def new_job_id() -> str:
    return "j_" + secrets.token_hex(8)


def utc_now() -> datetime:
    """Now in UTC, naive (the store's TIMESTAMP columns hold UTC)."""
    return datetime.now(UTC).replace(tzinfo=None)


def user_words(reason: str, job: dict[str, Any]) -> str:
    """A job's failure as its user sees it: the uploaded file's name for ours (`input.csv`), and
    no other server path."""
    ours, theirs = Path(str(job["input_path"])), job.get("filename") or "upload"
    reason = scrub(reason.replace(str(ours), theirs))
    return re.sub(rf"(?<![\w.]){re.escape(ours.name)}\b", lambda _: theirs, reason)


def job_row(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    out["params"] = json.loads(row["params"]) if isinstance(row["params"], str) else row["params"]
    counts = row.get("counts")
    out["counts"] = json.loads(counts) if isinstance(counts, str) and counts else counts or None
    for c in TIME_COLUMNS:
        if isinstance(out.get(c), datetime) and out[c].tzinfo is None:
            out[c] = out[c].replace(tzinfo=UTC)
    out["attempts"] = out.get("attempts") or 0
    return out


class Slot:
    """One worker slot: a thread of the service and the worker process it owns."""

    def __init__(self, runner: JobRunner, index: int) -> None:
        self.runner, self.index = runner, index
        self.proc: multiprocessing.process.BaseProcess | None = None
        self.conn: Any = None
        self.ready = False
        self.job_id: str | None = None
        self.failures = 0  # consecutive worker starts that did not get ready
        self.thread = threading.Thread(target=self._loop, name=f"drgdip-jobs-{index}",
                                       daemon=True)

    # -- the worker process ---------------------------------------------------------------
    def alive(self) -> bool:
        return self.proc is not None and self.proc.is_alive()

    def _spawn(self) -> bool:
        ctx = multiprocessing.get_context("spawn")  # no fork: the service has threads
        parent, child = ctx.Pipe()
        limits = self.runner.limits
        proc = ctx.Process(target=job_worker.serve, name=f"drgdip-job-worker-{self.index}",
                           args=(child, {"memory_mb": limits.memory_mb}), daemon=True)
        proc.start()
        child.close()
        self.proc, self.conn, self.ready = proc, parent, False
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline and not self.runner.stopping.is_set():
            if parent.poll(POLL_SECONDS):
                try:
                    msg = parent.recv()
                except (EOFError, OSError):
                    break
                if msg[0] == "ready":
                    self.ready = True
                    self.failures = 0
                    return True
            elif not proc.is_alive():
                break
        self._kill()
        if self.runner.stopping.is_set():
            return False
        self.failures += 1
        log.error("job worker %d did not start (attempt %d)", self.index, self.failures)
        return False

    def _kill(self) -> None:
        proc, self.proc, self.ready = self.proc, None, False
        if self.conn is not None:
            self.conn.close()
            self.conn = None
        if proc is not None:
            if proc.is_alive():
                proc.kill()
            proc.join(5)

    def stop(self) -> None:
        if self.conn is not None and self.alive():
            try:
                self.conn.send(None)
            except (OSError, ValueError):
                pass
            if self.proc is not None:
                self.proc.join(2)
        self._kill()

    # -- the slot thread -------------------------------------------------------------------
    def _loop(self) -> None:
        stopping = self.runner.stopping
        while not stopping.is_set():
            if not self.alive() or not self.ready:
                if self.proc is not None:
                    code = self.proc.exitcode
                    log.error("job worker %d died (exit code %s); starting a new one",
                              self.index, code)
                    self._kill()
                if not self._spawn():
                    stopping.wait(min(30.0, 2.0 ** self.failures))
                continue
            try:
                job_id = self.runner.pending.get(timeout=POLL_SECONDS)
            except queue.Empty:
                continue
            if job_id is None:
                break
            self.job_id = job_id
            try:
                self.runner.run(job_id, self)
            except Exception:
                log.exception("job %s: could not be recorded; it runs again on the next start",
                              job_id)
            finally:
                self.job_id = None
        self.stop()

    def execute(self, spec: dict[str, Any]) -> tuple[str, Any]:
        """Run one job on the worker: ('done', (path, counts, rows)) or ('failed', reason)."""
        assert self.conn is not None and self.proc is not None
        self.ready = False
        try:
            self.conn.send(spec)
            sent = True
        except (OSError, ValueError):  # the worker died just before the job
            sent = False
        limit = self.runner.limits.time_limit_seconds
        deadline = time.monotonic() + limit
        while True:
            remaining = deadline - time.monotonic()
            if self.runner.stopping.is_set():  # the service stops: the job runs again later
                self._kill()
                return "stopped", None
            if remaining <= 0:
                self._kill()
                return "failed", (f"超过时间上限 / the job ran longer than its time limit of "
                                  f"{limit:g} s (DRGDIP_JOB_TIME_LIMIT_SECONDS) and was stopped")
            try:
                has = not sent or self.conn.poll(min(remaining, POLL_SECONDS))
                msg = self.conn.recv() if has and sent else None
            except (EOFError, OSError):
                msg, has = None, True
            if msg is None:
                if has or not self.proc.is_alive():
                    self.proc.join(5)
                    code = self.proc.exitcode
                    self._kill()
                    how = (f"signal {-code}" if code is not None and code < 0
                           else f"exit code {code}")
                    return "failed", (f"任务进程异常退出 / the worker process died while running "
                                      f"this job ({how}: a crash, out of memory, or stopped by "
                                      f"an operator); the job is not retried")
                continue
            if msg[0] == "progress":
                self.runner.progress(spec["job_id"], msg[1], msg[2])
            elif msg[0] == "done":
                self._expect_ready()
                return "done", msg[1:]
            elif msg[0] == "failed":
                self._expect_ready()
                return "failed", msg[1]

    def _expect_ready(self) -> None:
        """The worker says `ready` after every job; a worker that does not is replaced."""
        assert self.conn is not None
        try:
            if self.conn.poll(10) and self.conn.recv()[0] == "ready":
                self.ready = True
                return
        except (EOFError, OSError):
            pass
        self._kill()


class JobRunner:
    """Job records (the service writes them) and the worker slots that run them."""

    def __init__(self, store: Store, root: Path, catalog: CatalogFn,
                 limits: JobLimits | None = None) -> None:
        self.store, self.root, self.catalog = store, root, catalog
        self.limits = limits or JobLimits()
        self.pending: queue.Queue[str | None] = queue.Queue()
        self.stopping = threading.Event()
        self.slots: list[Slot] = []
        self._cache: dict[str, dict[str, Any]] = {}  # jobs this process wrote, newest values
        self._cache_lock = threading.Lock()
        self.started = False

    # -- records ----------------------------------------------------------------------------
    def create(self, *, kind: str, params: dict[str, str], key_id: str,
               hospital_id: str | None, filename: str, input_path: Path, job_id: str) -> None:
        row = {"job_id": job_id, "kind": kind, "params": json.dumps(params), "state": "accepted",
               "key_id": key_id, "hospital_id": hospital_id, "filename": filename,
               "input_path": str(input_path), "result_path": None, "rows_total": None,
               "rows_done": 0, "counts": None, "error": None, "created_at": utc_now(),
               "started_at": None, "finished_at": None, "attempts": 0}
        cols = [c for c in JOB_COLUMNS if row[c] is not None or c in ("rows_done",)]
        self.store.execute(f"INSERT INTO jobs ({', '.join(cols)}) VALUES "
                           f"({', '.join('?' for _ in cols)})", [row[c] for c in cols])
        with self._cache_lock:
            self._cache[job_id] = row
        job_event(job_id, "accepted", kind=kind, key_id=key_id, hospital_id=hospital_id,
                  filename=filename)
        self.pending.put(job_id)

    def get(self, job_id: str) -> dict[str, Any] | None:
        with self._cache_lock:
            cached = self._cache.get(job_id)
        if cached is not None:
            return job_row(cached)
        rows = self.store.query(f"SELECT {', '.join(JOB_COLUMNS)} FROM jobs WHERE job_id = ?",
                                [job_id])
        return job_row(rows[0]) if rows else None

    def list(self, hospital_id: str | None, *, limit: int, offset: int) -> list[dict[str, Any]]:
        where, params = ("WHERE hospital_id = ?", [hospital_id]) if hospital_id else ("", [])
        with self._cache_lock:
            cached = {k: v for k, v in self._cache.items()
                      if hospital_id is None or v["hospital_id"] == hospital_id}
        rows = self.store.query(
            f"SELECT {', '.join(JOB_COLUMNS)} FROM jobs {where} ORDER BY created_at DESC, "
            f"job_id DESC LIMIT ? OFFSET 0", [*params, limit + offset + len(cached)])
        merged = {r["job_id"]: r for r in rows} | cached
        ordered = sorted(merged.values(), key=lambda r: (r["created_at"], r["job_id"]),
                         reverse=True)
        return [job_row(r) for r in ordered[offset:offset + limit]]

    def queued(self) -> int:
        return self.pending.qsize()

    def _update(self, job_id: str, *, wait: bool = True, **cols: Any) -> None:
        """Record new values (in memory at once, in the store as soon as it is free: a store
        held by another writer, e.g. a long `drgdip settle`, is waited for, not given up)."""
        with self._cache_lock:
            row = self._cache.get(job_id)
            if row is None:
                row = self.store.query(f"SELECT {', '.join(JOB_COLUMNS)} FROM jobs "
                                       f"WHERE job_id = ?", [job_id])[0]
            self._cache[job_id] = {**row, **cols}
        sets = ", ".join(f"{c} = ?" for c in cols)
        while True:
            try:
                self.store.execute(f"UPDATE jobs SET {sets} WHERE job_id = ?",
                                   [*cols.values(), job_id])
                return
            except ApiError as exc:
                if exc.code != "STORE_BUSY" or not wait or self.stopping.is_set():
                    raise
                log.warning("job %s: store busy, waiting to record %s", job_id, sorted(cols))

    def _finish(self, job_id: str, state: str, **cols: Any) -> None:
        self._update(job_id, state=state, finished_at=utc_now(), **cols)
        job_event(job_id, state, rows=cols.get("rows_done"), error=cols.get("error"),
                  counts=json.loads(cols["counts"]) if cols.get("counts") else None)

    def progress(self, job_id: str, rows_done: int, rows_total: int) -> None:
        try:  # progress is best effort: a busy store does not hold the job up
            self._update(job_id, wait=False, rows_done=rows_done, rows_total=rows_total)
        except ApiError:
            pass

    # -- workers ----------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        """Worker slots: how many there are, how many have a live, ready process or a job."""
        up = sum(1 for s in self.slots if s.thread.is_alive() and s.alive()
                 and (s.ready or s.job_id is not None))
        return {"workers": len(self.slots), "workers_up": up, "queued": self.queued(),
                "running": sum(1 for s in self.slots if s.job_id is not None)}

    def start(self) -> None:
        self.clean_stray_files()
        self.remove_old_inputs()
        pending = self.store.query("SELECT job_id, state, attempts FROM jobs WHERE state IN "
                                   "('accepted', 'running') ORDER BY created_at")
        resumed = 0
        for r in pending:
            tries = r["attempts"] or 0
            if r["state"] == "running" and tries >= self.limits.max_attempts:
                self._finish(r["job_id"], "failed", error=(
                    f"任务多次中断 / the job was interrupted {tries} times while running (the "
                    f"service or its worker stopped each time); not retried again — check the "
                    f"file, or upload it again"))
                self._remove_input(r["job_id"])
                continue
            self.pending.put(r["job_id"])
            resumed += 1
        if resumed:
            log.info("resuming %d batch job(s)", resumed)
        self.slots = [Slot(self, i) for i in range(max(1, self.limits.workers))]
        for slot in self.slots:
            slot.thread.start()
        self.started = True

    def stop(self, timeout: float = 10.0) -> None:
        self.stopping.set()
        for _ in self.slots:
            self.pending.put(None)
        for slot in self.slots:
            slot.thread.join(timeout)
            slot.stop()
        self.slots = []

    def run(self, job_id: str, slot: Slot) -> None:
        job = self.get(job_id)
        if job is None or job["state"] in ("done", "failed"):
            return
        attempts = job["attempts"] + 1
        self._update(job_id, state="running", started_at=utc_now(), rows_done=0,
                     attempts=attempts)
        job_event(job_id, "running", kind=job["kind"], attempts=attempts, worker=slot.index)
        spec: dict[str, Any] = {
            "job_id": job_id, "kind": job["kind"], "params": job["params"],
            "input_path": job["input_path"], "max_rows": self.limits.max_rows,
            "result_path": str(self.root / job_id / "results.parquet")}
        try:
            if job["kind"] == "dip":
                spec["catalog"] = self.catalog(job["params"]["catalog"])
            if not Path(job["input_path"]).is_file():
                outcome: tuple[str, Any] = ("failed", ("上传文件已不存在 / the uploaded file "
                                                       "is gone; upload it again"))
            else:
                outcome = slot.execute(spec)
        except Exception as exc:  # noqa: BLE001 - e.g. the catalogue is no longer loaded
            outcome = ("failed", job_worker.one_line(exc))
        if outcome[0] == "stopped":
            job_event(job_id, "interrupted", why="the service is stopping; queued for the next "
                      "start")
            return
        if self.limits.upload_retention_seconds == 0:  # before the job is seen as finished
            self._remove_input(job_id)
        if outcome[0] == "done":
            path, counts, rows = outcome[1]
            self._finish(job_id, "done", result_path=path, counts=json.dumps(counts),
                         rows_done=rows, rows_total=rows, error=None)
        else:
            # the user's file name for the upload's, and no other server path (issue 13)
            self._finish(job_id, "failed", error=user_words(str(outcome[1]), job))
        if self.limits.upload_retention_seconds > 0:
            self.remove_old_inputs()

    # -- files ------------------------------------------------------------------------------
    def _remove_input(self, job_id: str) -> None:
        for path in (self.root / job_id).glob("input.*"):
            try:
                path.unlink()
            except OSError:
                log.warning("job %s: could not delete its upload", job_id)

    def remove_old_inputs(self) -> int:
        """Uploads of finished jobs older than the retention (start-up and each finish)."""
        keep = self.limits.upload_retention_seconds
        if keep < 0:
            return 0
        cutoff = utc_now() - timedelta(seconds=keep)
        rows = self.store.query("SELECT job_id, state, finished_at FROM jobs WHERE state IN "
                                "('done', 'failed') AND finished_at <= ?", [cutoff])
        with self._cache_lock:  # this process's jobs, newer than the read replica
            rows += [r for r in self._cache.values() if r["state"] in ("done", "failed")
                     and r["finished_at"] is not None and r["finished_at"] <= cutoff]
        n = 0
        for r in rows:
            if any((self.root / r["job_id"]).glob("input.*")):
                self._remove_input(r["job_id"])
                n += 1
        return n

    def clean_stray_files(self) -> int:
        """Temporary result files left by a job that was interrupted (a kill mid-write)."""
        n = 0
        if self.root.is_dir():
            for tmp in self.root.glob("*/*.tmp"):
                try:
                    tmp.unlink()
                    n += 1
                except OSError:
                    pass
        if n:
            log.info("removed %d stray temporary file(s) of interrupted jobs", n)
        return n


def csv_chunks(path: Path, batch_rows: int = 65_536) -> Iterator[bytes]:
    """The result Parquet as CSV, a record batch at a time (lists `|`-joined, header once)."""
    first = True
    for batch in pq.ParquetFile(path).iter_batches(batch_size=batch_rows):
        frame = flatten_lists(pl.from_arrow(batch))  # type: ignore[arg-type]
        yield frame.write_csv(include_header=first).encode()
        first = False
    if first:  # no rows: still the header
        yield pl.read_parquet(path).write_csv().encode()
