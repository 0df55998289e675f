"""The special-review quota counted against the year (payment-rules §2.7: at most `quota` of a
hospital's discharges), not against one monthly run.

For a settle run of `period`, the year's earlier periods already in the store — per period the
latest done settle run of the same policy and year, the runs clearing sums
(`engine.settlement.store_tables.LATEST_SETTLE_RUNS`) — give each hospital's earlier cases and granted
approvals (`review_outcome` approved_ffs / approved_uplift after their own quota). Later periods
never count: a month's result depends only on the months before it, so re-settling March after
April gives what March gave before (the readmission history reads the same way). The run being
written is left out by its run id and its period, so re-running a run id (or re-running a period
under a new id) never counts itself. `engine.settlement.review.apply_quota` then allows
`floor(quota × (earlier cases + the run's cases)) − earlier approvals`.
"""

from __future__ import annotations

import duckdb
import polars as pl

from engine.policy import Policy
from engine.settlement.review import APPROVED, USED_COLUMNS
from engine.settlement.store_tables import LATEST_SETTLE_RUNS
from weights.store import query


def year_quota_used(con: duckdb.DuckDBPyConnection, policy: Policy, *, period: str,
                    run_id: str) -> pl.DataFrame:
    """(hospital_id, review_cases_before, review_granted_before) over the year's earlier
    periods' latest settle runs of `policy`."""
    latest = LATEST_SETTLE_RUNS.format(exclude=" AND run_id <> ? AND period < ?")
    marks = ", ".join("?" for _ in APPROVED)
    sql = f"""
        SELECT hospital_id, count(*) AS review_cases_before,
               count(*) FILTER (WHERE review_outcome IN ({marks})) AS review_granted_before
        FROM case_results
        WHERE run_id IN ({latest}) AND hospital_id IS NOT NULL
        GROUP BY hospital_id ORDER BY hospital_id"""
    return query(con, sql, [*APPROVED, policy.name, policy.year, run_id, period])


def with_year_quota_used(con: duckdb.DuckDBPyConnection, hospitals: pl.DataFrame,
                         policy: Policy, *, period: str, run_id: str) -> pl.DataFrame:
    """The hospital table with `review_cases_before` and `review_granted_before` (0 for a
    hospital without earlier cases this year)."""
    used = year_quota_used(con, policy, period=period, run_id=run_id)
    table = hospitals.drop(USED_COLUMNS, strict=False).with_columns(
        pl.col("hospital_id").cast(pl.String))
    key = pl.col("hospital_id").str.strip_chars()
    return (table.with_columns(key.alias("_key"))
            .join(used.rename({"hospital_id": "_key"}), on="_key", how="left",
                  maintain_order="left")
            .with_columns(pl.col(c).cast(pl.Int64).fill_null(0) for c in USED_COLUMNS)
            .drop("_key"))
