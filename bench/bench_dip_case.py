"""DIP per-case path: µs per case of `group_dip_one` and `explain_dip` (dict lookups) against
`group_dip` on a one-row frame (the columnar grouper, what the per-case path used before).

The catalogue is built from the fixture region (data/fixtures/region/cases.parquet) and the same
cases are grouped one by one, as dicts. Usage:
python bench/bench_dip_case.py [--cases 20000] [--frame-cases 300] [--core-threshold 15] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import polars as pl

from grouper import group_dip
from grouper.dip_explain import explain_dip, group_dip_one
from grouper.dip_lookup import build_dip_lookups, dip_lookups
from weights.dip_build import DipBuildParams, build_dip_catalog

REGION = Path(__file__).resolve().parent.parent / "data" / "fixtures" / "region" / "cases.parquet"


def per_case_us(fn: object, rows: list[dict[str, object]], catalog: object, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for row in rows:
            fn(row, catalog)  # type: ignore[operator]
        best = min(best, time.perf_counter() - t0)
    return best / len(rows) * 1e6


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=20_000)
    ap.add_argument("--frame-cases", type=int, default=300,
                    help="cases for the one-row-frame group_dip comparison")
    ap.add_argument("--core-threshold", type=int, default=15)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    region = pl.read_parquet(REGION)
    catalog = build_dip_catalog(region, DipBuildParams(core_threshold=args.core_threshold)).catalog
    t0 = time.perf_counter()
    build_dip_lookups(catalog)
    build_ms = (time.perf_counter() - t0) * 1e3
    dip_lookups(catalog)
    reps = -(-args.cases // region.height)
    rows = pl.concat([region] * reps).head(args.cases).to_dicts()
    print(f"machine: {os.cpu_count()} cores; polars {pl.__version__}; catalogue: "
          f"{catalog.groups.height:,} groups, {catalog.aux.height} aux rows; lookups built in "
          f"{build_ms:.0f} ms; cases: {len(rows):,}")
    fast = per_case_us(group_dip_one, rows, catalog, args.repeat)
    traced = per_case_us(explain_dip, rows, catalog, args.repeat)
    frame_rows = rows[: args.frame_cases]
    one_row = per_case_us(lambda r, c: group_dip(pl.DataFrame([r], infer_schema_length=None), c),
                          frame_rows, catalog, 1)
    print(f"group_dip_one (lookups):          {fast:8.1f} µs/case")
    print(f"explain_dip (lookups + trace):    {traced:8.1f} µs/case")
    print(f"group_dip on a one-row frame:     {one_row:8.1f} µs/case "
          f"({len(frame_rows)} cases; {one_row / fast:,.0f}× group_dip_one)")


if __name__ == "__main__":
    main()
