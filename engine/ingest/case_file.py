"""`read_case_file`: the one reader of a case file for every command (settle, group, weights,
dip, simulate) — the project's ingestion (`read_cases`: formats, header aliases, per-row
problems, patient ids), the header note handed to the caller, optionally only some columns."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import polars as pl

from engine.ingest.read import read_cases


def read_case_file(path: Path, *, columns: Sequence[str] | None = None,
                   patient_ids: str = "pseudonymise",
                   notes: Callable[[str], None] | None = None) -> pl.DataFrame:
    """The cases of `path`; `columns`: only those (the ones the file has), `patient_ids`:
    "pseudonymise" (settlement links stays) or "drop" (grouping, builds); `notes` receives
    the file's header note (unknown headers with the closest alias) when there is one."""
    result = read_cases(path, patient_ids=patient_ids)
    note = result.header_note()
    if notes is not None and note:
        notes(note)
    cases = result.cases
    return cases if columns is None else cases.select([c for c in columns if c in cases.columns])
