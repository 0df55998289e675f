"""Grouping throughput: batch path (group_drg) and single-case path (group_one).

Replicates the oracle cases to N rows at run time (nothing generated is committed) and prints
cases/s and peak RSS. Several rulesets (comma-separated, default chs_drg_11,chs_drg_20) are run
on the same case count in one run, interleaved A/B in every round (the order alternating from
round to round), and compared at the end by the median of the rounds (best beside it).
Usage: PYTHONPATH=. python bench/bench_grouper.py [--cases 1000000] [--ruleset chs_drg_11,chs_drg_20]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
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
    # The rulesets take turns in every round, in alternating order, so a busy spell of a shared
    # machine falls on all of them alike; the median of the rounds is reported, best beside it.
    # Wall time and CPU time of this process (all threads): on a shared machine the wall
    # time also counts the time other programs held the cores, the CPU time does not.
    batch: dict[str, list[tuple[float, float]]] = {name: [] for name in names}
    single: dict[str, list[tuple[float, float]]] = {name: [] for name in names}
    rows_of = {name: cases.head(args.single).to_dicts() for name, (_, cases) in setups.items()}
    for i in range(args.repeat):
        order = names if i % 2 == 0 else names[::-1]
        for name in order:
            rs, cases = setups[name]
            w0, c0 = time.perf_counter(), time.process_time()
            out = group_drg(cases, rs)
            wall, cpu = time.perf_counter() - w0, time.process_time() - c0
            batch[name].append((wall, cpu))
            print(f"{name:<12} batch run {i + 1}: {wall:.2f} s = {cases.height / wall:,.0f} "
                  f"cases/s, CPU {cpu:.2f} s (ok {out['status'].eq('ok').sum():,}, "
                  f"ambiguous {out['status'].eq('ambiguous').sum():,})")
        for name in order:
            rs = setups[name][0]
            rows = rows_of[name]
            w0, c0 = time.perf_counter(), time.process_time()
            for row in rows:
                group_one(row, rs)
            wall = (time.perf_counter() - w0) / len(rows)
            cpu = (time.process_time() - c0) / len(rows)
            single[name].append((wall, cpu))
            print(f"{name:<12} single-case run {i + 1}: {1 / wall:,.0f} cases/s "
                  f"({wall * 1e6:.0f} µs/case, CPU {cpu * 1e6:.0f} µs/case)")
    print(f"peak RSS {peak_rss_mb():,.0f} MB")
    print(f"comparison on {args.cases:,} cases each, {args.repeat} interleaved rounds, "
          "median (best):")
    print(f"  {'ruleset':<12} {'batch cases/s wall':>20} {'batch cases/s CPU':>20} "
          f"{'single µs wall':>16} {'single µs CPU':>16}")
    for name in names:
        bw, bc = _stats(batch[name], 0), _stats(batch[name], 1)
        sw, sc = _stats(single[name], 0), _stats(single[name], 1)
        print(f"  {name:<12} {_rate(args.cases, bw):>20} {_rate(args.cases, bc):>20} "
              f"{_us(sw):>16} {_us(sc):>16}")
    if len(names) == 2:
        a, b = names
        ratio = {k: statistics.median(y[k] for y in batch[b]) / statistics.median(
            y[k] for y in batch[a]) for k in (0, 1)}
        sratio = {k: statistics.median(y[k] for y in single[b]) / statistics.median(
            y[k] for y in single[a]) for k in (0, 1)}
        print(f"  {b} time / {a} time (median): batch wall {ratio[0]:.3f}, CPU {ratio[1]:.3f}; "
              f"single wall {sratio[0]:.3f}, CPU {sratio[1]:.3f}")


def _stats(runs: list[tuple[float, float]], k: int) -> tuple[float, float]:
    """(median, best) of one measure over the rounds."""
    values = [r[k] for r in runs]
    return statistics.median(values), min(values)


def _rate(n: int, t: tuple[float, float]) -> str:
    return f"{n / t[0]:,.0f} ({n / t[1]:,.0f})"


def _us(t: tuple[float, float]) -> str:
    return f"{t[0] * 1e6:.0f} ({t[1] * 1e6:.0f})"


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
