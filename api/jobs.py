"""Batch jobs: accepted uploads persisted in the store, run one at a time by a worker thread.

A job row is written (state `accepted`) before the upload is acknowledged; the worker moves it to
`running`, then `done` or `failed`. On start-up every `accepted` or `running` job is queued again:
a job writes its result file to a temporary name and renames it at the end, so running one twice
is harmless and a restart loses none.
"""

from __future__ import annotations

import json
import logging
import queue
import secrets
import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow.parquet as pq  # type: ignore[import-untyped]

from api.store_access import Store
from engine.case_output import flatten_lists

log = logging.getLogger("drgdip.api.jobs")

CHUNK_ROWS = 250_000  # progress is recorded after each chunk
INPUT_SUFFIXES = (".parquet", ".csv", ".jsonl", ".xlsx")
JOB_COLUMNS = ("job_id", "kind", "params", "state", "key_id", "hospital_id", "filename",
               "input_path", "result_path", "rows_total", "rows_done", "counts", "error",
               "created_at", "started_at", "finished_at")

# (kind, params, cases) -> results frame; supplied by the service state (rulesets, catalogues)
GroupFn = Callable[[str, dict[str, str], pl.DataFrame], pl.DataFrame]


def new_job_id() -> str:
    return "j_" + secrets.token_hex(8)


def read_case_file(path: Path) -> pl.DataFrame:
    """Cases of an uploaded file through the project's ingestion (formats, aliases, encodings)."""
    from engine.ingest import read_cases  # ingestion owns formats and header aliases

    return read_cases(path).cases


def job_row(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    out["params"] = json.loads(row["params"])
    out["counts"] = json.loads(row["counts"]) if row["counts"] else None
    return out


class JobRunner:
    """Runs jobs from a queue on one daemon thread."""

    def __init__(self, store: Store, root: Path, group: GroupFn) -> None:
        self.store, self.root, self.group = store, root, group
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._thread: threading.Thread | None = None

    # -- records ----------------------------------------------------------------------------
    def create(self, *, kind: str, params: dict[str, str], key_id: str,
               hospital_id: str | None, filename: str, input_path: Path, job_id: str) -> None:
        self.store.execute(
            "INSERT INTO jobs (job_id, kind, params, state, key_id, hospital_id, filename, "
            "input_path, created_at) VALUES (?, ?, ?, 'accepted', ?, ?, ?, ?, ?)",
            [job_id, kind, json.dumps(params), key_id, hospital_id, filename, str(input_path),
             datetime.now()])
        self._queue.put(job_id)

    def get(self, job_id: str) -> dict[str, Any] | None:
        rows = self.store.query(f"SELECT {', '.join(JOB_COLUMNS)} FROM jobs WHERE job_id = ?",
                                [job_id])
        return job_row(rows[0]) if rows else None

    def list(self, hospital_id: str | None, *, limit: int, offset: int) -> list[dict[str, Any]]:
        where, params = ("WHERE hospital_id = ?", [hospital_id]) if hospital_id else ("", [])
        rows = self.store.query(
            f"SELECT {', '.join(JOB_COLUMNS)} FROM jobs {where} ORDER BY created_at DESC "
            f"LIMIT ? OFFSET ?", [*params, limit, offset])
        return [job_row(r) for r in rows]

    def queued(self) -> int:
        return self._queue.qsize()

    # -- worker -----------------------------------------------------------------------------
    def start(self) -> None:
        pending = self.store.query("SELECT job_id FROM jobs WHERE state IN ('accepted', "
                                   "'running') ORDER BY created_at")
        for r in pending:
            self._queue.put(r["job_id"])
        if pending:
            log.info("resuming %d batch job(s)", len(pending))
        self._thread = threading.Thread(target=self._loop, name="drgdip-jobs", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout)
            self._thread = None

    def _loop(self) -> None:
        while (job_id := self._queue.get()) is not None:
            try:
                self.run(job_id)
            except Exception as exc:  # a job failure must not end the worker
                log.exception("job %s failed", job_id)
                try:
                    self._finish(job_id, "failed", error=f"{type(exc).__name__}: {exc}")
                except Exception:  # store unavailable: the job stays queued for the next start
                    log.exception("job %s: could not record the failure", job_id)

    def _update(self, job_id: str, **cols: Any) -> None:
        sets = ", ".join(f"{c} = ?" for c in cols)
        self.store.execute(f"UPDATE jobs SET {sets} WHERE job_id = ?", [*cols.values(), job_id])

    def _finish(self, job_id: str, state: str, **cols: Any) -> None:
        self._update(job_id, state=state, finished_at=datetime.now(), **cols)

    def run(self, job_id: str) -> None:
        job = self.get(job_id)
        if job is None or job["state"] in ("done", "failed"):
            return
        self._update(job_id, state="running", started_at=datetime.now(), rows_done=0)
        try:
            cases = read_case_file(Path(job["input_path"]))
        except Exception as exc:  # noqa: BLE001 - any unusable file fails the job, with its reason
            self._finish(job_id, "failed", error=str(exc).splitlines()[0] if str(exc) else
                         type(exc).__name__)
            return
        self._update(job_id, rows_total=cases.height)
        parts = []
        for start in range(0, max(cases.height, 1), CHUNK_ROWS):
            parts.append(self.group(job["kind"], job["params"], cases.slice(start, CHUNK_ROWS)))
            self._update(job_id, rows_done=min(start + CHUNK_ROWS, cases.height))
        results = pl.concat(parts, how="vertical_relaxed") if parts else pl.DataFrame()
        final = self.root / job_id / "results.parquet"
        tmp = final.with_suffix(".parquet.tmp")
        results.write_parquet(tmp)
        tmp.replace(final)
        counts = dict(results.group_by("status").len().iter_rows()) if results.height else {}
        self._finish(job_id, "done", result_path=str(final), counts=json.dumps(counts),
                     rows_done=results.height, error=None)


def csv_chunks(path: Path, batch_rows: int = 65_536) -> Iterator[bytes]:
    """The result Parquet as CSV, a record batch at a time (lists `|`-joined, header once)."""
    first = True
    for batch in pq.ParquetFile(path).iter_batches(batch_size=batch_rows):
        frame = flatten_lists(pl.from_arrow(batch))  # type: ignore[arg-type]
        yield frame.write_csv(include_header=first).encode()
        first = False
    if first:  # no rows: still the header
        yield pl.read_parquet(path).write_csv().encode()
