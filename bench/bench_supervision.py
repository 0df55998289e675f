"""Supervision over a synthetic region: ingestion + grouping + RW, the screens and indicators,
writing the store, and the report. The region is generated at run time (engine.synth), nothing
is committed. Prints the time of each step and the peak RSS.
Usage: python bench/bench_supervision.py [--cases 1000000] [--hospitals 100]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import polars as pl

from engine.report import ReportData, build_report
from engine.supervision import (
    DEFAULT_THRESHOLDS,
    flags_for,
    indicators_for,
    supervise,
    write_supervision,
)
from engine.supervision.inputs import from_case_file
from engine.synth.generator import write_region
from weights.store import open_store


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=1_000_000)
    ap.add_argument("--hospitals", type=int, default=100)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        t = time.perf_counter()
        write_region(d / "region", args.cases, args.hospitals, 2025, 11)
        print(f"synth {args.cases:,} cases: {time.perf_counter() - t:.1f} s (not timed below)")
        hospitals = pl.read_parquet(d / "region" / "hospitals.parquet")
        t0 = time.perf_counter()
        frame, notes = from_case_file(d / "region" / "cases.parquet", ruleset="chs_drg_11",
                                      thresholds=DEFAULT_THRESHOLDS, hospitals=hospitals)
        t1 = time.perf_counter()
        result = supervise(frame)
        t2 = time.perf_counter()
        con = open_store(d / "s.duckdb")
        write_supervision(con, "bench", result)
        t3 = time.perf_counter()
        data = ReportData(run_id="bench", indicators=indicators_for(con, run_id="bench"),
                          flags=flags_for(con, run_id="bench"),
                          groups=frame.group_by("group_code").agg(pl.len().alias("n"))
                          .drop_nulls().with_columns(pl.lit("").alias("group_name")))
        build_report(data, d / "out")
        t4 = time.perf_counter()
        print(f"read + group + RW ({notes['weights']}): {t1 - t0:.1f} s")
        print(f"screens + indicators: {t2 - t1:.1f} s "
              f"({result.indicators.height:,} indicator rows, {result.flags.height:,} flags)")
        print(f"store write: {t3 - t2:.1f} s; report (HTML, CSV, xlsx): {t4 - t3:.1f} s")
        print(f"total {t4 - t0:.1f} s; peak RSS {peak_rss_mb():,.0f} MB")


if __name__ == "__main__":
    main()
