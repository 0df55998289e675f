"""Load a Spark settle run's Parquet into the store, atomically and idempotently by run id.

The case results are not brought through Python: DuckDB reads the run's Parquet dataset
(Hive-partitioned by fund_pool) inside the same single transaction that first deletes the
run id's rows and finally marks the run done — the contract of `engine.pipeline.write_run`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import polars as pl

import engine.views  # noqa: F401  (registers the settlement tables before the store opens)
from weights.store import transaction

RUN_TABLES = ("case_results", "hospital_period_results", "clearing_results", "clearing_pools",
              "runs")


def _insert_frame(con: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame) -> None:
    con.register("_incoming", frame.to_arrow())
    try:
        cols = ", ".join(f'"{c}"' for c in frame.columns)
        con.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM _incoming")
    finally:
        con.unregister("_incoming")


def load_settle_run(con: duckdb.DuckDBPyConnection, run: dict[str, Any], case_results: Path,
                    period_rows: pl.DataFrame) -> int:
    """Replace run `run["run_id"]` with the Parquet case results and the period rows; returns
    the number of case rows loaded."""
    run_id = run["run_id"]
    columns = [r[0] for r in con.execute("DESCRIBE case_results").fetchall()]
    source = f"read_parquet('{case_results.as_posix()}/**/*.parquet', hive_partitioning = true)"
    present = {r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()}
    select = ", ".join("?" if c == "run_id" else f'"{c}"' if c in present
                       else f'NULL AS "{c}"' for c in columns)
    with transaction(con):
        for table in RUN_TABLES:
            con.execute(f"DELETE FROM {table} WHERE run_id = ?", [run_id])
        cols = ", ".join(f'"{c}"' for c in columns)
        con.execute(f"INSERT INTO case_results ({cols}) SELECT {select} FROM {source}", [run_id])
        _insert_frame(con, "hospital_period_results",
                      period_rows.with_columns(pl.lit(run_id).alias("run_id")))
        _insert_frame(con, "runs", pl.DataFrame([run]))
        loaded = con.execute("SELECT count(*) FROM case_results WHERE run_id = ?",
                             [run_id]).fetchone()
    return int(loaded[0]) if loaded else 0
