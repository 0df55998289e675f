"""Grouping throughput: batch path (group_drg) and single-case path (group_one).

Replicates the oracle cases to N rows at run time (nothing generated is committed) and prints
cases/s and peak RSS. Several rulesets (comma-separated, default chs_drg_11,chs_drg_20) are run
on the same case count in one run, taking turns in every repeat, and compared at the end.
Usage: PYTHONPATH=. python bench/bench_grouper.py [--cases 1000000] [--ruleset chs_drg_11,chs_drg_20]
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from pathlib import Path

import polars as pl

from grouper import Ruleset, group_drg, group_one, load_ruleset

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
    names = [name for name in args.ruleset.split(",") if name]
    setups = {name: setup(name, args.cases) for name in names}
    # The rulesets take turns in every repeat, so a busy spell of a shared machine falls on
    # all of them alike; best of the repeats is reported.
    # Wall time and CPU time of this process (all threads): on a shared machine the wall
    # time also counts the time other programs held the cores, the CPU time does not.
    batch = {name: [float("inf")] * 2 for name in names}
    single = {name: [float("inf")] * 2 for name in names}
    rows_of = {name: cases.head(args.single).to_dicts() for name, (_, cases) in setups.items()}
    for i in range(args.repeat):
        for name, (rs, cases) in setups.items():
            w0, c0 = time.perf_counter(), time.process_time()
            out = group_drg(cases, rs)
            wall, cpu = time.perf_counter() - w0, time.process_time() - c0
            batch[name] = [min(batch[name][0], wall), min(batch[name][1], cpu)]
            print(f"{name:<12} batch run {i + 1}: {wall:.2f} s = {cases.height / wall:,.0f} "
                  f"cases/s, CPU {cpu:.2f} s (ok {out['status'].eq('ok').sum():,}, "
                  f"ambiguous {out['status'].eq('ambiguous').sum():,})")
        for name, (rs, _) in setups.items():
            rows = rows_of[name]
            w0, c0 = time.perf_counter(), time.process_time()
            for row in rows:
                group_one(row, rs)
            wall = (time.perf_counter() - w0) / len(rows)
            cpu = (time.process_time() - c0) / len(rows)
            single[name] = [min(single[name][0], wall), min(single[name][1], cpu)]
            print(f"{name:<12} single-case run {i + 1}: {1 / wall:,.0f} cases/s "
                  f"({wall * 1e6:.0f} µs/case, CPU {cpu * 1e6:.0f} µs/case)")
    print(f"peak RSS {peak_rss_mb():,.0f} MB")
    print(f"comparison on {args.cases:,} cases each, best of {args.repeat} "
          "(cases/s by wall time | by CPU time):")
    print(f"  {'ruleset':<12} {'batch':>10} | {'batch CPU':>10}   {'single':>7} | {'single CPU':>10}")
    for name in names:
        (bw, bc), (sw, sc) = batch[name], single[name]
        print(f"  {name:<12} {args.cases / bw:>10,.0f} | {args.cases / bc:>10,.0f}   "
              f"{1 / sw:>7,.0f} | {1 / sc:>10,.0f}")


def setup(name: str, n: int) -> tuple[Ruleset, pl.DataFrame]:
    """A ruleset and its oracle cases replicated to n rows (warmed up)."""
    rs = load_ruleset(name)
    base = pl.read_parquet(DATA / f"{name}_dev.parquet").drop(
        "expected_status", "expected_mdc", "expected_adrg", "expected_drg")
    reps = -(-n // base.height)
    cases = pl.concat([base] * reps).head(n).with_columns(
        pl.format("C{}", pl.int_range(pl.len())).alias("case_id"))
    print(f"machine: {os.cpu_count()} cores; cases: {cases.height:,}; "
          f"ruleset: {name}; polars {pl.__version__}")
    group_drg(cases.head(1000), rs)  # warm-up
    for row in cases.head(200).to_dicts():
        group_one(row, rs)
    return rs, cases


if __name__ == "__main__":
    main()
