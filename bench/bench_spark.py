"""Spark against the single-machine engine: grouping (and settlement) at 1M, 5M and 10M cases.

Inputs are generated at run time (nothing generated is committed): the oracle cases of
tests/data are replicated with fresh case_ids into Parquet files of 1M rows each. Both engines
read the same files and write Parquet:

- polars: per file `engine.ingest.read_cases` → `grouper.group_drg` → write (what `drgdip group`
  does, streamed file by file so 10M cases fit in memory);
- spark: `read_cases_spark` → `group_spark` (mapInArrow) → `write_parquet`, master `--master`.

With `--work settle` the input is a synthetic region year (200k cases of 100 hospitals from
`engine.synth`, replicated with fresh case_ids and patient_ids; weights built from it) settled
under fuzhou_drg_2025: polars = `engine.pipeline.settle_frame` on the whole period (what
`drgdip settle` does, without the store), spark = `settle_spark` → case results written
partitioned by fund_pool → `hospital_period_spark` (what `--engine spark --no-store` does).

Spark's JVM start is timed separately; the Spark time is from an existing session to the written
dataset. Usage:
  python bench/bench_spark.py --sizes 1000000,5000000,10000000 --master 'local[2]'
  python bench/bench_spark.py --work settle --sizes 1000000,5000000 --master 'local[2]'
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path

import polars as pl
from patient_key import ensure_patient_key

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
FILE_ROWS = 1_000_000
SETTLE_POLICY = "fuzhou_drg_2025"


def make_input(n: int, ruleset: str, out: Path) -> None:
    """`n` oracle cases with fresh case_ids, as Parquet files of FILE_ROWS rows."""
    base = pl.read_parquet(DATA / f"{ruleset}_dev.parquet").drop(
        "expected_status", "expected_mdc", "expected_adrg", "expected_drg")
    out.mkdir(parents=True)
    reps = -(-min(n, FILE_ROWS) // base.height)
    block = pl.concat([base] * reps).head(min(n, FILE_ROWS))
    for i, start in enumerate(range(0, n, FILE_ROWS)):
        rows = min(FILE_ROWS, n - start)
        block.head(rows).with_columns(
            pl.format("B{}", pl.int_range(start, start + rows)).alias("case_id")
        ).write_parquet(out / f"cases-{i:04d}.parquet", row_group_size=100_000)


def make_settle_input(n: int, out: Path, seed: int = 7) -> tuple[pl.DataFrame, pl.DataFrame]:
    """`n` cases of a synthetic region year (200k generated, replicated with fresh case_ids
    and patient_ids) as Parquet files of FILE_ROWS rows; returns (hospitals, weights)."""
    from engine.synth import generate
    from weights import build_drg

    hospitals, base, _ = generate(200_000, 100, 2025, seed)
    weights = build_drg(base, "chs_drg_11").weights
    out.mkdir(parents=True)
    reps = -(-min(n, FILE_ROWS) // base.height)
    block = pl.concat([base.with_columns(pl.lit(r).alias("_rep")) for r in range(reps)])
    for i, start in enumerate(range(0, n, FILE_ROWS)):
        rows = min(FILE_ROWS, n - start)
        block.head(rows).with_columns(
            pl.format("S{}", pl.int_range(start, start + rows)).alias("case_id"),
            pl.format("{}-{}-{}", "patient_id", pl.lit(i), "_rep").alias("patient_id"),
        ).drop("_rep").write_parquet(out / f"cases-{i:04d}.parquet", row_group_size=100_000)
    return hospitals, weights


def run_polars_settle(src: Path, dst: Path, hospitals: pl.DataFrame,
                      weights: pl.DataFrame) -> tuple[float, int]:
    """engine.pipeline's path for one period: read → group → settle → hospital sums → write."""
    from engine.pipeline import Weights, read_case_file, settle_frame
    from engine.policy import load_policy

    policy = load_policy(SETTLE_POLICY)
    dst.mkdir(parents=True)
    t0 = time.perf_counter()
    cases = pl.concat([read_case_file(f) for f in sorted(src.glob("*.parquet"))])
    results, periods = settle_frame(cases, policy, Weights("bench", weights), hospitals,
                                    "2025-12")
    results.write_parquet(dst / "case_results.parquet")
    periods.write_parquet(dst / "hospital_period_results.parquet")
    return time.perf_counter() - t0, results.height


def run_spark_settle(spark, src: Path, dst: Path, hospitals: pl.DataFrame,  # type: ignore[no-untyped-def]
                     weights: pl.DataFrame) -> tuple[float, int]:
    """`drgdip settle --engine spark --no-store`'s path."""
    from engine.pipeline import Weights
    from engine.policy import load_policy
    from engine.spark import hospital_period_spark, read_cases_spark, settle_spark, write_parquet

    policy = load_policy(SETTLE_POLICY)
    t0 = time.perf_counter()
    results = settle_spark(spark, read_cases_spark(spark, src), policy, Weights("bench", weights),
                           hospitals, "2025-12")
    write_parquet(results.drop("_seq"), dst / "case_results", partition_by=["fund_pool"])
    written = spark.read.parquet(str(dst / "case_results"))
    periods = hospital_period_spark(written, policy, "2025-12").toArrow()
    dt = time.perf_counter() - t0
    assert periods.num_rows > 0
    return dt, written.count()


def run_polars(src: Path, dst: Path, ruleset: str) -> tuple[float, int]:
    from engine.ingest import read_cases
    from grouper import group_drg, load_ruleset

    rs = load_ruleset(ruleset)
    dst.mkdir(parents=True)
    t0, n = time.perf_counter(), 0
    for f in sorted(src.glob("*.parquet")):
        out = group_drg(read_cases(f).cases, rs)
        out.write_parquet(dst / f.name)
        n += out.height
    return time.perf_counter() - t0, n


def run_spark(spark, src: Path, dst: Path, ruleset: str) -> tuple[float, int]:  # type: ignore[no-untyped-def]
    from engine.spark import group_spark, read_cases_spark, write_parquet

    t0 = time.perf_counter()
    write_parquet(group_spark(read_cases_spark(spark, src), ruleset), dst)
    dt = time.perf_counter() - t0
    return dt, pl.scan_parquet(dst / "*.parquet").select(pl.len()).collect().item()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1000000,5000000,10000000")
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--ruleset", default="chs_drg_11")
    ap.add_argument("--engines", default="polars,spark")
    ap.add_argument("--workdir", default=None, help="scratch directory (default: a temp dir)")
    ap.add_argument("--driver-memory", default="3g")
    ap.add_argument("--work", default="group", help="group or settle")
    args = ap.parse_args()
    engines = args.engines.split(",")
    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench_spark_"))
    ensure_patient_key(work)
    print(f"machine: {os.cpu_count()} cores (shared); load average {os.getloadavg()[0]:.1f}; "
          f"polars {pl.__version__}; master {args.master}; work dir {work}")
    spark = None
    if "spark" in engines:
        from engine.spark import spark_session

        t0 = time.perf_counter()
        spark = spark_session(args.master, app_name="bench_spark",
                              conf={"spark.driver.memory": args.driver_memory})
        print(f"spark {spark.version}: session start {time.perf_counter() - t0:.1f} s; "
              f"default parallelism {spark.sparkContext.defaultParallelism}")
    for n in (int(s) for s in args.sizes.split(",")):
        src = work / f"in_{n}"
        t0 = time.perf_counter()
        if args.work == "settle":
            hospitals, weights = make_settle_input(n, src)
        else:
            make_input(n, args.ruleset, src)
        print(f"\n{n:,} cases: input generated in {time.perf_counter() - t0:.1f} s")
        for engine in engines:
            dst = work / f"out_{engine}_{n}"
            if args.work == "settle":
                dt, rows = (run_polars_settle(src, dst, hospitals, weights) if engine == "polars"
                            else run_spark_settle(spark, src, dst, hospitals, weights))
            elif engine == "polars":
                dt, rows = run_polars(src, dst, args.ruleset)
            else:
                dt, rows = run_spark(spark, src, dst, args.ruleset)
            assert rows == n, f"{engine}: {rows} rows for {n} cases"
            print(f"  {engine:6s} {args.work}: {dt:7.1f} s  {n / dt:>10,.0f} cases/s  "
                  f"load avg {os.getloadavg()[0]:.1f}")
            shutil.rmtree(dst)
        shutil.rmtree(src)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\ndriver/polars peak RSS {rss:,.0f} MB (Spark JVM and workers not included)")
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
