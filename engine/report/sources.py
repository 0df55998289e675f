"""What a report reads from the store besides indicators and flags: the group distribution of a
settled run and the clearing results of its year."""

from __future__ import annotations

import duckdb
import polars as pl

from weights.store import query


def _has_table(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    return bool(query(con, "SELECT 1 FROM information_schema.tables WHERE table_name = ?",
                      [name]).height)


def group_counts(con: duckdb.DuckDBPyConnection, run_id: str) -> pl.DataFrame:
    """group_code, group_name, n of the run's settled cases (empty when none are stored)."""
    if not _has_table(con, "case_results") or not _has_table(con, "runs"):
        return pl.DataFrame(schema={"group_code": pl.String, "group_name": pl.String,
                                    "n": pl.Int64})
    # A clear run covers the settle runs of its year and region.
    return query(con, """
        SELECT group_code, any_value(group_name) AS group_name, count(*) AS n
        FROM case_results
        WHERE status = 'ok' AND group_code IS NOT NULL AND run_id IN (
            SELECT s.run_id FROM runs s JOIN runs r ON r.run_id = ?
            WHERE s.run_id = r.run_id
               OR (r.kind = 'clear' AND s.kind = 'settle' AND s.year = r.year
                   AND s.region = r.region))
        GROUP BY group_code""", [run_id])


def clearing_for(con: duckdb.DuckDBPyConnection, year: str) -> pl.DataFrame | None:
    """The newest clearing run's results of `year`, summed over fund pools; None when none."""
    if not _has_table(con, "clearing_results") or not year.isdigit():
        return None
    frame = query(con, """
        SELECT hospital_id, sum(payable) AS payable, sum(ffs_fund_amount) AS ffs_fund_amount,
               sum(surplus) AS surplus, sum(overspend) AS overspend,
               sum(surplus_retained) AS surplus_retained,
               sum(overspend_shared) AS overspend_shared, sum(final_payment) AS final_payment
        FROM clearing_results
        WHERE run_id = (SELECT c.run_id FROM clearing_results c JOIN runs r USING (run_id)
                        WHERE c.year = ? ORDER BY r.finished_at DESC, c.run_id DESC LIMIT 1)
        GROUP BY hospital_id ORDER BY hospital_id""", [int(year)])
    return frame if frame.height else None


NAME_COLUMNS = ("name", "hospital_name", "医疗机构名称", "定点医疗机构名称", "医院名称", "机构名称")


def hospital_names(con: duckdb.DuckDBPyConnection | None,
                   hospitals: pl.DataFrame | None = None) -> dict[str, str]:
    """hospital_id → name: from the hospital table given (a `name` column), else the store's
    hospital master; hospitals without a known name are left out (shown by id)."""
    names: dict[str, str] = {}
    if con is not None and _has_table(con, "hospital_master"):
        names.update(query(con, "SELECT hospital_id, name FROM hospital_master "
                                "WHERE name IS NOT NULL AND name <> ''").iter_rows())
    if hospitals is not None and "hospital_id" in hospitals.columns:
        column = next((c for c in NAME_COLUMNS if c in hospitals.columns), None)
        if column is not None:
            given = hospitals.select(pl.col("hospital_id").cast(pl.String),
                                     pl.col(column).cast(pl.String)).drop_nulls()
            names.update((h, n) for h, n in given.iter_rows() if n.strip())
    return names
