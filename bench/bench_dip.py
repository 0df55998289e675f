"""DIP throughput: catalogue build and columnar grouping (group_dip).

Builds a catalogue from the DRG oracle cases with seeded costs, replicates the cases to N rows at
run time (nothing generated is committed; TCM/day-surgery flags set on a share of them so
those candidate paths run; the oracle cases have few of their diagnoses) and prints cases/s and peak RSS.
Usage: python bench/bench_dip.py [--cases 1000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from pathlib import Path

import numpy as np
import polars as pl

from grouper import group_dip
from weights.dip_build import DipBuildParams, build_dip_catalog

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--core-threshold", type=int, default=5)
    args = ap.parse_args()
    base = pl.read_parquet(DATA / "chs_drg_11_dev.parquet").drop(
        pl.selectors.starts_with("expected_"))
    rng = np.random.default_rng(1)
    history = base.with_columns(
        pl.Series("total_cost", np.round(rng.lognormal(9, 0.7, base.height), 2)))
    t0 = time.perf_counter()
    build = build_dip_catalog(history, DipBuildParams(core_threshold=args.core_threshold))
    build_s = time.perf_counter() - t0
    reps = -(-args.cases // base.height)
    cases = pl.concat([base] * reps).head(args.cases).with_columns(
        pl.format("C{}", pl.int_range(pl.len())).alias("case_id"),
        (pl.int_range(pl.len()) % 50 == 0).alias("tcm_treatment"),
        (pl.int_range(pl.len()) % 40 == 0).alias("day_surgery"),
    )
    print(f"machine: {os.cpu_count()} cores; cases: {cases.height:,}; polars {pl.__version__}; "
          f"catalogue: {build.catalog.groups.height:,} groups, {build.catalog.aux.height} aux "
          f"rows (built from {history.height:,} cases in {build_s:.2f} s)")
    group_dip(cases.head(1000), build.catalog)  # warm-up (loads the ruleset tables once)
    best = float("inf")
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        out = group_dip(cases, build.catalog)
        best = min(best, time.perf_counter() - t0)
    assert out.height == cases.height
    types = dict(out["dip_type"].value_counts().iter_rows())
    print(f"group_dip: best of {args.repeat}: {best:.2f} s = {cases.height / best:,.0f} cases/s; "
          f"peak RSS {peak_rss_mb():,.0f} MB; types {types}")


if __name__ == "__main__":
    main()
