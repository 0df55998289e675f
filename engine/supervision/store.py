"""The supervision tables of the store (`indicators`, `supervision_flags`; weights.schema
migration 310): write a run's results, read them back for reports and the API.

A run is replaced as a whole (delete + insert in one transaction): re-running supervision for a
run id never duplicates rows.
"""

from __future__ import annotations

from datetime import datetime

import duckdb
import polars as pl

from engine.supervision.flags import FLAG_COLUMNS
from engine.supervision.indicators import INDICATOR_COLUMNS
from engine.supervision.screening import SupervisionResult
from weights.store import transaction


def write_supervision(con: duckdb.DuckDBPyConnection, run_id: str,
                      result: SupervisionResult) -> None:
    """Store a run's indicators and flags, replacing any earlier rows of the same run id."""
    now = datetime.now().replace(microsecond=0)
    ind = result.indicators.select(pl.lit(run_id).alias("run_id"), *INDICATOR_COLUMNS,
                                   pl.lit(now).alias("computed_at"))
    flags = result.flags.select(pl.lit(run_id).alias("run_id"), *FLAG_COLUMNS,
                                pl.lit(now).alias("computed_at"))
    with transaction(con):
        con.execute("DELETE FROM indicators WHERE run_id = ?", [run_id])
        con.execute("DELETE FROM supervision_flags WHERE run_id = ?", [run_id])
        con.register("_sup_ind", ind.to_arrow())
        con.register("_sup_flags", flags.to_arrow())
        con.execute(f"INSERT INTO indicators ({', '.join(ind.columns)}) "
                    f"SELECT * FROM _sup_ind")
        con.execute(f"INSERT INTO supervision_flags ({', '.join(flags.columns)}) "
                    f"SELECT * FROM _sup_flags")
        con.unregister("_sup_ind")
        con.unregister("_sup_flags")


def _frame(table: object) -> pl.DataFrame:
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return frame


def supervision_runs(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Run ids with stored indicators, newest first."""
    rows = con.execute("SELECT run_id, max(computed_at) AS last_at FROM indicators "
                       "GROUP BY run_id ORDER BY last_at DESC, run_id DESC").fetchall()
    return [r[0] for r in rows]


def _where(run_id: str | None, con: duckdb.DuckDBPyConnection,
           filters: dict[str, object]) -> tuple[str, list[object]]:
    if run_id is None:
        runs = supervision_runs(con)
        run_id = runs[0] if runs else ""
    clauses: list[str] = ["run_id = ?"]
    params: list[object] = [run_id]
    for col, value in filters.items():
        if value is not None:
            clauses.append(f"{col} = ?")
            params.append(value)
    return " AND ".join(clauses), params


def indicators_for(con: duckdb.DuckDBPyConnection, *, hospital_id: str | None = None,
                   period: str | None = None, scope: str | None = None,
                   run_id: str | None = None) -> pl.DataFrame:
    """Stored indicators of a run (default: the newest), optionally for one hospital, period
    (`2025-03` or `2025`) or scope (`region` | `hospital` | `dept`).

    With a hospital, its own hospital and department rows come back (plus nothing of others).

    >>> indicators_for(con, hospital_id="H001", period="2025")  # doctest: +SKIP
    """
    where, params = _where(run_id, con, {"hospital_id": hospital_id, "period": period,
                                         "scope": scope})
    return _frame(con.sql(f"SELECT * FROM indicators WHERE {where} "
                          f"ORDER BY scope, period_kind, period, hospital_id NULLS FIRST, "
                          f"dept NULLS FIRST", params=params).to_arrow_table())


def flags_for(con: duckdb.DuckDBPyConnection, *, hospital_id: str | None = None,
              period: str | None = None, kind: str | None = None, level: str | None = None,
              run_id: str | None = None, limit: int | None = None) -> pl.DataFrame:
    """Stored flags of a run (default: the newest), strongest first, with their evidence.

    >>> flags_for(con, hospital_id="H001", kind="split_admission")  # doctest: +SKIP
    """
    where, params = _where(run_id, con, {"hospital_id": hospital_id, "period": period,
                                         "kind": kind, "level": level})
    sql = (f"SELECT * FROM supervision_flags WHERE {where} "
           f"ORDER BY score DESC, kind, flag_id")
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return _frame(con.sql(sql, params=params).to_arrow_table())
