"""Synthetic-region generator throughput and memory: `write_region` to a temporary directory.

Generates N cases at run time (nothing is committed), streams them to Parquet in chunks and
prints wall time, cases/s, peak RSS and the output size. Target: 10M cases < 2 minutes on the
2-core machine with bounded memory (peak RSS does not grow with N).
Usage: python bench/bench_synth.py [--cases 10000000] [--hospitals 300] [--compression lz4]
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq

from engine.synth import write_region


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=10_000_000)
    ap.add_argument("--hospitals", type=int, default=300)
    ap.add_argument("--year", type=int, default=2024)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--compression", default="zstd")
    ap.add_argument("--out", type=Path, default=None, help="keep the region here")
    args = ap.parse_args()
    print(f"machine: {os.cpu_count()} cores; cases: {args.cases:,}; hospitals: "
          f"{args.hospitals}; compression: {args.compression}")
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp)
        start = time.perf_counter()
        summary = write_region(out, args.cases, args.hospitals, args.year, args.seed,
                               compression=args.compression)
        wall = time.perf_counter() - start
        size = sum(f.stat().st_size for f in out.iterdir()) / 2**20
        rows = pq.ParquetFile(out / "cases.parquet").metadata.num_rows
    print(f"wrote {rows:,} cases in {wall:.1f} s = {rows / wall:,.0f} cases/s; "
          f"peak RSS {peak_rss_mb():,.0f} MB; output {size:,.0f} MB; "
          f"seeded {summary['seeded']}")


if __name__ == "__main__":
    main()
