"""Where the case-level work of a settle run runs: this machine (polars) or Apache Spark.

`engine.pipeline.run_settle` is the one run path: the period and policy checks, the store's
parameters, weights, hospitals and earlier episodes, the summary, the held-share refusal, the
`runs` row and the single transaction are written once there. An executor only reads the cases,
settles them into case rows and hospital-period rows, counts them for the summary, and says how
its case rows reach the store:

- `PolarsExecutor`: rows in memory, inserted from Arrow; Parquet copies after the commit
  (`load_store=False`, `--no-store`: the Parquet copies only).
- `SparkExecutor`: rows written by Spark as a Parquet dataset (OUT/RUN_ID/case_results/,
  partitioned by fund_pool) and loaded by DuckDB from it inside the same transaction
  (`engine.spark.store_load`); `load_store=False` (`--no-store`) stops at the Parquet.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import duckdb
import polars as pl

from grouper.errors import InputError

if TYPE_CHECKING:
    from engine.pipeline import Progress, Weights
    from engine.policy import Policy

# the keys of the case counts a summary is made from (engine.pipeline.settle_summary)
COUNT_KEYS = ("case_type", "group_type", "status", "error_code", "outside_period")


@dataclass
class Settled:
    """One period settled: the case counts (COUNT_KEYS, n, fund_payable), the hospital-period
    rows, and the case rows (in memory, or where the executor wrote them)."""

    counts: pl.DataFrame
    period_rows: pl.DataFrame
    results: pl.DataFrame | None = None
    dataset: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Executor(Protocol):
    name: str
    holds_store: bool  # keep the store open while settling (else closed, reopened to write)
    load_store: bool  # write the run into the store (else only its Parquet files)

    def read(self, cases_path: Path, cases: pl.DataFrame | None) -> Any: ...

    def history_cases(self, handle: Any) -> pl.DataFrame | None: ...

    def settle(self, handle: Any, policy: Policy, weights: Weights, hospitals: pl.DataFrame,
               period: str, *, reviews: pl.DataFrame | None, earlier: pl.DataFrame | None,
               progress: Progress | None, by_date: bool, target: Path | None) -> Settled: ...

    def store(self, con: duckdb.DuckDBPyConnection, run: dict[str, Any],
              settled: Settled) -> None: ...

    def write_files(self, settled: Settled, out_dir: Path | None, run_id: str) -> None: ...

    def discard(self, settled: Settled) -> None: ...


def case_counts(results: pl.DataFrame, period: str) -> pl.DataFrame:
    """The counts of `results` by COUNT_KEYS, with their fund payable (the polars side)."""
    month = pl.col("discharge_date").dt.strftime("%Y-%m")
    return (results.with_columns((month != period).fill_null(False).alias("outside_period"))
            .group_by(COUNT_KEYS).agg(pl.len().cast(pl.Int64).alias("n"),
                                      pl.col("fund_payable").sum())
            .sort(COUNT_KEYS, nulls_last=False))


class PolarsExecutor:
    """Settle on this machine (engine.pipeline.settle_frame)."""

    name = "polars"
    holds_store = True

    def __init__(self, *, load_store: bool = True) -> None:
        self.load_store = load_store

    def read(self, cases_path: Path, cases: pl.DataFrame | None) -> pl.DataFrame:
        from engine.pipeline import read_case_file

        if cases is not None:
            return cases
        if not cases_path.exists():
            raise InputError(f"{cases_path}: no such file")
        return read_case_file(cases_path)

    def history_cases(self, handle: pl.DataFrame) -> pl.DataFrame:
        return handle

    def settle(self, handle: pl.DataFrame, policy: Policy, weights: Weights,
               hospitals: pl.DataFrame, period: str, *, reviews: pl.DataFrame | None,
               earlier: pl.DataFrame | None, progress: Progress | None, by_date: bool,
               target: Path | None) -> Settled:
        from engine.pipeline import settle_frame

        if progress:
            progress("read 读取", handle.height, handle.height)
        results, period_rows = settle_frame(handle, policy, weights, hospitals, period,
                                            reviews=reviews, earlier=earlier,
                                            progress=progress, by_date=by_date)
        results = results.with_columns(pl.lit(period).alias("period"))
        return Settled(case_counts(results, period), period_rows, results=results)

    def store(self, con: duckdb.DuckDBPyConnection, run: dict[str, Any],
              settled: Settled) -> None:
        from engine.pipeline import write_run

        assert settled.results is not None
        write_run(con, run, {"case_results": settled.results,
                             "hospital_period_results": settled.period_rows})

    def write_files(self, settled: Settled, out_dir: Path | None, run_id: str) -> None:
        from engine.pipeline import write_parquet

        if out_dir is None:
            return
        assert settled.results is not None
        write_parquet(settled.results.with_columns(pl.lit(run_id).alias("run_id")),
                      out_dir / run_id / "case_results.parquet")
        write_parquet(settled.period_rows.with_columns(pl.lit(run_id).alias("run_id")),
                      out_dir / run_id / "hospital_period_results.parquet")

    def discard(self, settled: Settled) -> None:
        return None  # nothing is written before the run is stored


class SparkExecutor:
    """Settle on Apache Spark (engine.spark.settle_spark); the case rows never come through
    Python: Spark writes them as Parquet, DuckDB loads them from there."""

    name = "spark"
    holds_store = False  # not held while Spark works

    def __init__(self, master: str | None = None, *, load_store: bool = True,
                 app_name: str = "drgdip settle") -> None:
        self.master, self.load_store, self.app_name = master, load_store, app_name
        self.spark: Any = None

    @property
    def where(self) -> str:
        """The Spark master the run used (after `read`)."""
        return self.spark.sparkContext.master if self.spark is not None else self.master or ""

    def read(self, cases_path: Path, cases: pl.DataFrame | None) -> Any:
        from engine.spark import read_cases_spark, spark_session

        if cases is not None:
            raise InputError("--engine spark reads the case file itself; pass a path")
        self.spark = spark_session(self.master, app_name=self.app_name)
        return read_cases_spark(self.spark, cases_path)

    def history_cases(self, handle: Any) -> None:
        return None  # the year's earlier episodes are read whole (engine.spark.settlement)

    def settle(self, handle: Any, policy: Policy, weights: Weights, hospitals: pl.DataFrame,
               period: str, *, reviews: pl.DataFrame | None, earlier: pl.DataFrame | None,
               progress: Progress | None, by_date: bool, target: Path | None) -> Settled:
        from pyspark.sql import functions as F

        from engine.spark import hospital_period_spark, settle_spark, write_parquet

        if target is None:
            raise InputError("--engine spark needs an output folder for its Parquet dataset")
        results = settle_spark(self.spark, handle, policy, weights, hospitals, period,
                               reviews=reviews, earlier=earlier, by_date=by_date)
        dataset = target / "case_results"
        write_parquet(results.sortWithinPartitions("_seq").drop("_seq"), dataset,
                      partition_by=["fund_pool"])
        written = self.spark.read.parquet(str(dataset))
        period_rows = pl.from_arrow(hospital_period_spark(written, policy, period).toArrow())
        assert isinstance(period_rows, pl.DataFrame)
        period_rows.write_parquet(target / "hospital_period_results.parquet")
        month = F.date_format(F.col("discharge_date"), "yyyy-MM")
        counts = pl.from_arrow(
            written.withColumn("outside_period",
                               F.coalesce(month != F.lit(period), F.lit(False)))
            .groupBy(*COUNT_KEYS).agg(F.count(F.lit(1)).alias("n"),
                                      F.sum("fund_payable").alias("fund_payable"))
            .toArrow())
        assert isinstance(counts, pl.DataFrame)
        counts = counts.with_columns(pl.col("n").cast(pl.Int64)).sort(COUNT_KEYS,
                                                                       nulls_last=False)
        return Settled(counts, period_rows, dataset=dataset)

    def store(self, con: duckdb.DuckDBPyConnection, run: dict[str, Any],
              settled: Settled) -> None:
        from engine.spark.store_load import load_settle_run

        assert settled.dataset is not None
        load_settle_run(con, run, settled.dataset, settled.period_rows)

    def write_files(self, settled: Settled, out_dir: Path | None, run_id: str) -> None:
        return None  # written while settling (the store loads from them)

    def discard(self, settled: Settled) -> None:
        """Remove the run's Parquet (written while settling) of a run that was refused or
        failed before it was stored, so no file is left that looks like a settled run."""
        if settled.dataset is not None:
            shutil.rmtree(settled.dataset.parent, ignore_errors=True)
