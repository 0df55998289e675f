"""The batch job worker: a separate process that reads one uploaded file, groups it and writes
the results Parquet, so that nothing a file does (a polars panic, a crash, memory or time
exhaustion) can reach the service.

The service (`api.jobs.JobRunner`) starts one such process per worker slot and talks to it over
a pipe. It sends a job spec; the worker answers with messages:

- `("ready", pid)` once its imports are done (and again after each job),
- `("progress", rows_done, rows_total)` after reading and after each chunk,
- `("done", result_path, counts, rows)` or `("failed", one_line_reason)`.

The worker never opens the store: the service is its one writer. A worker that dies or overruns
its time limit is killed and replaced by the service, and the job is marked failed.
"""

from __future__ import annotations

import os
import sys
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

CHUNK_ROWS = 250_000  # progress is reported after each chunk


def one_line(exc: BaseException) -> str:
    """The first line of an exception's message, without server paths (their file names only)."""
    from api.logs import scrub

    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return scrub(text)


def _reason(exc: BaseException) -> str:
    from grouper.errors import DrgDipError

    if isinstance(exc, DrgDipError):  # an unusable file: its own one-line reason
        return one_line(exc)
    if type(exc).__name__ == "PanicException":  # pyo3_runtime.PanicException (a BaseException)
        return (f"读取/分组时数据处理库内部错误 / internal error in the data library while "
                f"reading or grouping this file (polars panic: {one_line(exc)}); the file was "
                f"not processed")
    if isinstance(exc, MemoryError):
        return "内存不足 / out of memory while processing this file"
    return f"处理失败 / processing failed: {type(exc).__name__}: {one_line(exc)}"


class Grouper:
    """Rulesets and DIP catalogues loaded once per worker process."""

    def __init__(self) -> None:
        self.rulesets: dict[str, Any] = {}

    def ruleset(self, name: str) -> Any:
        from grouper import load_ruleset

        if name not in self.rulesets:
            self.rulesets[name] = load_ruleset(name)
        return self.rulesets[name]

    def group(self, spec: dict[str, Any], cases: Any) -> Any:
        from grouper import group_dip, group_drg

        params = spec["params"]
        if spec["kind"] == "dip":
            return group_dip(cases, spec["catalog"])
        if params["ruleset"] == "auto":  # per case by discharge date (grouper.by_date)
            from grouper.by_date import group_drg_auto

            return group_drg_auto(cases, translate_codes=params.get("translate_codes") == "true")
        return group_drg(cases, self.ruleset(params["ruleset"]),
                         translate_codes=params.get("translate_codes") == "true")


def run_job(spec: dict[str, Any], grouper: Grouper, send: Any) -> None:
    """Read, check the row limit, group in chunks, write the results (temporary name, renamed)."""
    import polars as pl

    from engine.ingest import read_cases
    from engine.ingest.one_case import hold_ingest_errors

    cases = read_cases(Path(spec["input_path"]), patient_ids="drop").cases  # grouping only
    limit = spec.get("max_rows") or 0
    if limit and cases.height > limit:
        send(("failed", (f"文件行数超过上限 / the file has {cases.height:,} rows; the limit "
                         f"is {limit:,} (DRGDIP_JOB_MAX_ROWS); split the file")))
        return
    send(("progress", 0, cases.height))
    parts = []
    for start in range(0, max(cases.height, 1), CHUNK_ROWS):
        parts.append(grouper.group(spec, cases.slice(start, CHUNK_ROWS)))
        send(("progress", min(start + CHUNK_ROWS, cases.height), cases.height))
    results = pl.concat(parts, how="vertical_relaxed") if parts else pl.DataFrame()
    results = hold_ingest_errors(results, cases)  # as `drgdip group` and settlement
    final = Path(spec["result_path"])
    tmp = final.with_name(final.name + ".tmp")
    results.write_parquet(tmp)
    tmp.replace(final)
    counts = {str(k): int(v) for k, v in results.group_by("status").len().iter_rows()} \
        if results.height else {}
    send(("done", str(final), counts, results.height))


def _limit_memory(megabytes: int) -> None:
    if megabytes > 0:
        import resource

        limit = megabytes * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def serve(conn: Connection, options: dict[str, Any]) -> None:
    """Entry point of the worker process: jobs from `conn` until it closes or sends None."""
    try:
        os.nice(int(options.get("nice", 10)))  # per-case requests of the service come first
    except OSError:
        pass
    _limit_memory(int(options.get("memory_mb") or 0))
    import engine.ingest  # noqa: F401  (imports before "ready": the first job starts at once)
    import grouper  # noqa: F401

    grouper_ = Grouper()
    conn.send(("ready", os.getpid()))
    while True:
        try:
            spec = conn.recv()
        except (EOFError, OSError):
            return
        if spec is None:
            return
        try:
            run_job(spec, grouper_, conn.send)
        except BaseException as exc:
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            try:
                conn.send(("failed", _reason(exc)))
            except (OSError, ValueError):
                return
        conn.send(("ready", os.getpid()))


if __name__ == "__main__":  # pragma: no cover - started by multiprocessing
    sys.exit("run by api.jobs.JobRunner")
