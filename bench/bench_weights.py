"""DRG weight build from a large history: grouping + weights, and saving/publishing a version.

Replicates the oracle cases to N rows at run time with seeded lognormal costs, lengths of stay
and three discharge years (nothing generated is committed); prints the time of each step and
the peak RSS. Usage: python bench/bench_weights.py [--cases 10000000] [--trim iqr]
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

from weights import DrgBuildParams, build_drg, open_store, publish, save_weight_version
from weights.drg_build import group_in_chunks

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def history(n: int, seed: int = 1) -> pl.DataFrame:
    base = pl.read_parquet(DATA / "chs_drg_11_dev.parquet").drop(
        "expected_status", "expected_mdc", "expected_adrg", "expected_drg")
    reps = -(-n // base.height)
    cases = pl.concat([base] * reps).head(n).with_columns(
        pl.format("C{}", pl.int_range(pl.len())).alias("case_id"))
    rng = np.random.default_rng(seed)
    return cases.with_columns(
        pl.Series("total_cost", np.round(rng.lognormal(9.0, 0.7, n), 2)),
        pl.Series("year", rng.choice(np.array([2021, 2022, 2023]), n)),
        pl.Series("los", rng.integers(1, 30, n)))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=10_000_000)
    ap.add_argument("--trim", default="iqr")
    args = ap.parse_args()
    t0 = time.perf_counter()
    cases = history(args.cases)
    print(f"machine: {os.cpu_count()} cores; cases: {cases.height:,}; polars {pl.__version__}; "
          f"history generated in {time.perf_counter() - t0:.1f} s, RSS {peak_rss_mb():,.0f} MB")
    t0 = time.perf_counter()
    grouped = group_in_chunks(cases, "chs_drg_11")  # what build_drg does
    t_group = time.perf_counter() - t0
    print(f"grouping (1M-row chunks): {t_group:.1f} s; peak RSS {peak_rss_mb():,.0f} MB")
    params = DrgBuildParams(trim_method=args.trim, year_weights=(1, 2, 7), cost_growth=0.05)
    t0 = time.perf_counter()
    build = build_drg(cases, "chs_drg_11", params=params, grouped=grouped)
    t_weights = time.perf_counter() - t0
    print(f"weights ({args.trim}, 1:2:7, restated): {t_weights:.1f} s for "
          f"{build.report['groups']} DRGs from {build.report['cases_used']:,} cases; "
          f"peak RSS {peak_rss_mb():,.0f} MB")
    with tempfile.TemporaryDirectory() as tmp:
        con = open_store(Path(tmp) / "bench.duckdb")
        t0 = time.perf_counter()
        save_weight_version(con, "bench", "drg", build.weights, ruleset="chs_drg_11",
                            region="bench", year=2024, source="bench")
        publish(con, "bench", "bench", "benchmark")
        print(f"save + publish: {time.perf_counter() - t0:.2f} s")
        con.close()
    print(f"total build (grouping + weights): {t_group + t_weights:.1f} s; "
          f"peak RSS {peak_rss_mb():,.0f} MB")


if __name__ == "__main__":
    main()
