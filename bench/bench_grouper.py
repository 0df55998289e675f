"""Grouping throughput: batch path (group_drg) and single-case path (group_one).

Replicates the oracle cases to N rows at run time (nothing generated is committed) and prints
cases/s and peak RSS. Several rulesets (comma-separated, default chs_drg_11,chs_drg_20) are run
on the same case count in one run and compared at the end.
Usage: PYTHONPATH=. python bench/bench_grouper.py [--cases 1000000] [--ruleset chs_drg_11,chs_drg_20]
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

import polars as pl

from grouper import group_drg, group_one, load_ruleset

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=1_000_000)
    ap.add_argument("--ruleset", default="chs_drg_11,chs_drg_20",
                    help="one ruleset or several, comma-separated (compared in one run)")
    ap.add_argument("--single", type=int, default=20_000, help="cases for the single-case path")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    results = {name: run(name, args) for name in args.ruleset.split(",") if name}
    if len(results) > 1:
        print(f"comparison on {args.cases:,} cases each (batch best, single-case):")
        for name, (batch, single) in results.items():
            print(f"  {name:<12} {batch:>12,.0f} cases/s  {single:>8,.0f} cases/s")


def run(name: str, args: argparse.Namespace) -> tuple[float, float]:
    """Batch best and single-case throughput (cases/s) of one ruleset on its oracle cases."""
    rs = load_ruleset(name)
    base = pl.read_parquet(DATA / f"{name}_dev.parquet").drop(
        "expected_status", "expected_mdc", "expected_adrg", "expected_drg")
    reps = -(-args.cases // base.height)
    cases = pl.concat([base] * reps).head(args.cases).with_columns(
        pl.format("C{}", pl.int_range(pl.len())).alias("case_id"))
    print(f"machine: {__import__('os').cpu_count()} cores; cases: {cases.height:,}; "
          f"ruleset: {name}; polars {pl.__version__}")
    group_drg(cases.head(1000), rs)  # warm-up
    best = float("inf")
    for i in range(args.repeat):
        t0 = time.perf_counter()
        out = group_drg(cases, rs)
        dt = time.perf_counter() - t0
        best = min(best, dt)
        print(f"batch run {i + 1}: {dt:.2f} s = {cases.height / dt:,.0f} cases/s "
              f"(ok {out['status'].eq('ok').sum():,})")
    print(f"batch best: {cases.height / best:,.0f} cases/s; peak RSS {peak_rss_mb():,.0f} MB")
    rows = cases.head(args.single).to_dicts()
    t0 = time.perf_counter()
    for row in rows:
        group_one(row, rs)
    dt = time.perf_counter() - t0
    print(f"single-case path: {len(rows) / dt:,.0f} cases/s ({dt / len(rows) * 1e6:.0f} µs/case)")
    return cases.height / best, len(rows) / dt


if __name__ == "__main__":
    main()
