"""`--engine spark` for `drgdip group` (and `drgdip settle`): run the work on Apache Spark and
print the same one-line summary as the single-machine path."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click
import polars as pl

from grouper.errors import InputError

SPARK_OUTPUTS = (".parquet", "")  # a Parquet dataset: `out.parquet/` or a plain directory


def check_spark_output(path: Path) -> None:
    """Spark writes a directory of Parquet part files; other formats fail before any work."""
    if path.suffix.lower() not in SPARK_OUTPUTS:
        raise InputError(f"{path}: --engine spark writes a Parquet dataset (a directory); "
                         f"name the output `*.parquet` or a directory, not {path.suffix!r}")


def status_summary(counts: Sequence[tuple[str, int]]) -> str:
    return ", ".join(f"{s} {n:,}" for s, n in sorted(counts))


def group_on_spark(input_path: Path, output_path: Path, *, ruleset: str, translate_codes: bool,
                   master: str | None, partition_by: Sequence[str] = ()) -> None:
    """`drgdip group --engine spark`: read, group on the executors, write a Parquet dataset."""
    from engine.spark import group_spark, read_cases_spark, spark_session, write_parquet
    from grouper import load_ruleset

    check_spark_output(output_path)
    if ruleset != "auto":
        load_ruleset(ruleset)  # fail before starting a JVM
    if not any(ch in str(input_path) for ch in "*?[") and not input_path.exists():
        raise InputError(f"{input_path}: no such file or directory")
    spark = spark_session(master, app_name=f"drgdip group {input_path.name}")
    cases = read_cases_spark(spark, input_path)
    write_parquet(group_spark(cases, ruleset, translate_codes=translate_codes), output_path,
                  partition_by=partition_by)
    written = spark.read.parquet(str(output_path)).groupBy("status").count().collect()
    counts = [(row["status"], int(row["count"])) for row in written]
    total = sum(n for _, n in counts)
    click.echo(f"grouped {total:,} cases with {ruleset} on Spark ({spark.sparkContext.master}) "
               f"→ {output_path} ({status_summary(counts)})")


def settle_on_spark(db: Path, policy_name: str, cases_path: Path, *, period: str, run_id: str,
                    weights_version: str | None, hospitals_path: Path | None,
                    reviews_path: Path | None, out_dir: Path, master: str | None,
                    store: bool, by_date: bool = False) -> None:
    """`drgdip settle --engine spark`: the run of engine.pipeline.run_settle with grouping and
    settlement on Spark; case results as Parquet partitioned by fund_pool under
    OUT/RUN_ID/case_results/, loaded into the store in one transaction unless `store` is off."""
    from datetime import datetime

    from engine.pipeline import (
        RunError,
        check_period,
        coefficients_used,
        load_hospitals,
        load_weights,
        period_start,
    )
    from engine.policy import load_policy
    from engine.settlement.presettle import clamped_prepayments, off_scale_pools
    from engine.settlement.readmission_history import earlier_episodes
    from engine.settlement.review import read_reviews
    from engine.settlement.review_quota import with_year_quota_used
    from engine.settlement.store_parameters import with_store_parameters
    from engine.spark import (
        hospital_period_spark,
        read_cases_spark,
        settle_spark,
        spark_session,
        write_parquet,
    )
    from engine.spark.store_load import load_settle_run
    from weights.store import open_store

    policy = load_policy(policy_name, store=db)
    if check_period(period) != policy.year:
        raise RunError(f"period {period} is outside the policy year {policy.year}")
    started = datetime.now()
    reviews = read_reviews(reviews_path) if reviews_path is not None else None
    con = open_store(db)
    try:  # the store's rates over the TOML's, as engine.pipeline.run_settle
        policy, parameters = with_store_parameters(con, policy, period=period)
        weights = load_weights(con, policy, weights_version)
        hospitals = with_year_quota_used(con, load_hospitals(con, hospitals_path,
                                                            on=period_start(period)), policy,
                                         period=period, run_id=run_id)
        earlier = earlier_episodes(con, policy, period=period, run_id=run_id)
        coefficients = coefficients_used(con, hospitals_path, period)
    finally:
        con.close()  # not held while Spark works
    spark = spark_session(master, app_name=f"drgdip settle {run_id}")
    cases = read_cases_spark(spark, cases_path)
    target = out_dir / run_id
    results = settle_spark(spark, cases, policy, weights, hospitals, period, reviews=reviews,
                           earlier=earlier, by_date=by_date)
    write_parquet(results.sortWithinPartitions("_seq").drop("_seq"), target / "case_results",
                  partition_by=["fund_pool"])
    written = spark.read.parquet(str(target / "case_results"))
    periods = hospital_period_spark(written, policy, period)
    period_rows = pl.from_arrow(periods.toArrow())
    assert isinstance(period_rows, pl.DataFrame)
    period_rows.write_parquet(target / "hospital_period_results.parquet")
    summary = spark_summary(written, period_rows) | {
        "parameters": parameters,
        "prepayments_clamped": clamped_prepayments(period_rows, policy),
        "off_scale_pools": off_scale_pools(period_rows, policy),
        "hospital_coefficients": coefficients}
    if store:
        run = {"run_id": run_id, "kind": "settle", "status": "done", "policy": policy.name,
               "policy_version": policy.policy.version, "policy_checksum": policy.checksum,
               "region": policy.policy.region, "method": policy.method, "year": policy.year,
               "period": period, "input": str(cases_path), "weights_version": weights.version,
               "n_cases": summary["cases"], "started_at": started,
               "finished_at": datetime.now(),
               "summary": json.dumps(summary, ensure_ascii=False, default=str, sort_keys=True)}
        con = open_store(db)
        try:
            load_settle_run(con, run, target / "case_results", period_rows)
        finally:
            con.close()
    types = ", ".join(f"{k} {v:,}" for k, v in summary["case_types"].items())
    click.echo(f"run {run_id}: settled {summary['cases']:,} cases of {summary['hospitals']} "
               f"hospitals for {period} under {policy.name} on Spark "
               f"({spark.sparkContext.master}) ({types})")
    click.echo(f"fund payable {summary['fund_payable']} yuan; FFS fund amount "
               f"{summary['ffs_fund_amount']}; prepayment {summary['prepayment']}; invalid "
               f"{summary['invalid']:,}; Parquet {target}"
               + ("" if store else "; store not loaded (--no-store)"))
    from engine.commands.settle import (
        warn_clamped_prepayments,
        warn_coefficient_changes,
        warn_off_scale,
    )

    warn_clamped_prepayments(summary)
    warn_off_scale(summary)
    warn_coefficient_changes(summary)


def spark_summary(results: Any, period_rows: pl.DataFrame) -> dict[str, Any]:
    """engine.pipeline.settle_summary's figures, the case-level ones computed by Spark."""
    from pyspark.sql import functions as F

    types = {r["case_type"]: int(r["count"])
             for r in results.groupBy("case_type").count().collect()}
    totals = results.agg(F.count(F.lit(1)).alias("n"),
                         F.count_if(F.col("status") == "invalid").alias("invalid"),
                         F.sum("fund_payable").alias("payable")).collect()[0]
    return {"cases": int(totals["n"]), "case_types": dict(sorted(types.items())),
            "invalid": int(totals["invalid"]),
            "hospitals": period_rows["hospital_id"].n_unique(),
            "fund_payable": str(totals["payable"] if totals["payable"] is not None else "0.00"),
            "ffs_fund_amount": str(period_rows["ffs_fund_amount"].sum()),
            "prepayment": str(period_rows["prepayment"].sum())}
