"""A simulation as an HTTP job (`POST /v1/simulations`): the worker half and the service half.

The worker process (`api.job_worker`) runs `run_job`: it reads the uploaded cases, opens the
service's read-only snapshot of the store (`api.store_access.Store.snapshot`; never the store
itself) for weights, catalogues and hospitals, settles baseline and scenarios exactly as
`drgdip simulate` does (`engine.simulate.run.run_simulation`), and writes each sim table as a
Parquet file into the job's folder. The service, the store's one writer, then stores them
(`store_job_result`) under the job's id as the simulation id.

A hospital key's job simulates that hospital's cases only: a file with cases of another
hospital (or without a hospital) is refused with one line, not filtered, so nothing is paid on
a share of the file the user did not mean.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from engine.simulate.tables import SIM_TABLES
from grouper.errors import InputError, RefusedError

RESULT_DIR = "simulation"


def _checksum(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def check_hospital(cases: pl.DataFrame, hospital_id: str | None) -> None:
    """A hospital key's file must hold that hospital's cases only."""
    if hospital_id is None:
        return
    if "hospital_id" not in cases.columns:
        raise InputError("文件没有医院编码列 / the file has no hospital_id column; a hospital key "
                         "simulates its own hospital's cases only")
    other = cases.filter(pl.col("hospital_id").cast(pl.String).ne_missing(hospital_id))
    if other.height:
        found = other["hospital_id"].cast(pl.String).fill_null("(none)").unique(
            maintain_order=True).head(3).to_list()
        raise RefusedError(f"文件含其他医院的病例 / {other.height:,} of {cases.height:,} cases are "
                           f"not of hospital {hospital_id} (e.g. {', '.join(found)}); a hospital "
                           f"key simulates its own hospital's cases only")


def run_job(spec: dict[str, Any], send: Any) -> None:
    """Worker: read, check, simulate, write the sim tables as Parquet; `done` with counts."""
    from engine.pipeline import load_hospitals, read_case_file
    from engine.simulate.run import run_simulation
    from engine.simulate.scenario import plan

    params = spec["params"]
    p = plan(params["baseline"], params.get("scenarios") or (), params.get("sets") or (),
             params.get("ruleset"), params.get("sweeps") or (), bool(params.get("solve")))
    path = Path(spec["input_path"])
    cases = read_case_file(path, patient_ids="link")  # stores no patient id
    limit = spec.get("max_rows") or 0
    if limit and cases.height > limit:
        send(("failed", (f"文件行数超过上限 / the file has {cases.height:,} rows; the limit "
                         f"is {limit:,} (DRGDIP_JOB_MAX_ROWS); split the file")))
        return
    check_hospital(cases, spec.get("hospital_id"))
    send(("progress", 0, cases.height))
    con = duckdb.connect(spec["snapshot"], read_only=True)
    try:
        hospitals = load_hospitals(con, None)
        result, run = run_simulation(
            con, cases, p.baseline, p.scenarios, sim_id=spec["job_id"], sweep=p.sweep,
            solve=p.solve, hospitals=hospitals, inputs=[spec.get("filename") or path.name],
            case_rows=params.get("case_rows") or "changed",
            input_checksum=_checksum(path))
    finally:
        con.close()
    out = Path(spec["result_path"])
    out.mkdir(parents=True, exist_ok=True)
    frames = {**result.frames, "sim_runs": pl.DataFrame([run])}
    for table, frame in frames.items():
        tmp = out / f"{table}.parquet.tmp"
        frame.write_parquet(tmp)
        tmp.replace(out / f"{table}.parquet")
    counts = {"cases": cases.height, "scenarios": len(p.scenarios),
              "sweep_points": len(p.sweep),
              "settlements": int(result.summary.get("settlements", 0)),
              "groupings": int(result.summary.get("groupings", 0))}
    send(("done", str(out), counts, cases.height))


def read_job_result(folder: Path) -> tuple[dict[str, Any], dict[str, pl.DataFrame]]:
    """Service: the `sim_runs` row and the sim tables a worker wrote."""
    tables = {t: pl.read_parquet(folder / f"{t}.parquet") for t in SIM_TABLES
              if (folder / f"{t}.parquet").is_file()}
    run = tables.pop("sim_runs").row(0, named=True)
    return run, tables


def store_job_result(con: duckdb.DuckDBPyConnection, folder: Path) -> dict[str, Any]:
    """Service: write the simulation into the sim tables (one transaction); its summary."""
    from engine.simulate.run import write_sim

    run, tables = read_job_result(folder)
    write_sim(con, run, tables)
    return json.loads(run["summary"])
