"""A 10M-case settlement year end to end: read Parquet → ingest → group → settle → write the store.

Setup (not timed): a synthetic region is generated at run time with `engine.synth` (the year to
settle, split into twelve monthly Parquet files, and a smaller previous year from which DRG
weights are built and published). Timed, in a child process so its peak memory is its own:
twelve `run_settle` monthly runs (each reading its Parquet file through ingestion, grouping,
settling and writing case_results / hospital_period_results in one transaction) and the
`run_clear` of the year. Nothing generated is committed.

Usage: python bench/bench_settle.py [--cases 10000000] [--hospitals 200] [--work DIR]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from patient_key import ensure_patient_key

POLICY = "fuzhou_drg_2025"


def setup(work: Path, cases: int, hospitals: int, history: int) -> None:
    import polars as pl

    from engine.synth import write_region
    from weights import build_drg, open_store, publish, save_weight_version, version_info
    from weights.errors import WeightTableError

    t = time.perf_counter()
    if not (work / "2025" / "region.json").is_file():
        write_region(work / "2025", cases, hospitals, 2025, 5)
    if not (work / "2024" / "region.json").is_file():
        write_region(work / "2024", history, hospitals, 2024, 5)
    month = pl.col("discharge_date").dt.month()
    for m in range(1, 13):
        target = work / f"cases_2025_{m:02d}.parquet"
        if not target.is_file():
            (pl.scan_parquet(work / "2025" / "cases.parquet").filter(month == m)
             .sink_parquet(target))
    print(f"setup: synthetic data in {time.perf_counter() - t:.1f} s", flush=True)
    t = time.perf_counter()
    import engine.views  # noqa: F401

    con = open_store(work / "bench.duckdb")
    try:
        try:
            version_info(con, "bench-2025")
        except WeightTableError:
            hist = pl.read_parquet(work / "2024" / "cases.parquet")
            hospitals = pl.read_parquet(work / "2024" / "hospitals.parquet")
            # as `drgdip weights build-drg`: same-level and per-hospital costs too (the
            # policy's r and c_{h,g} use them)
            build = build_drg(hist, "chs_drg_11", hospitals=hospitals)
            save_weight_version(con, "bench-2025", "drg", build.weights, ruleset="chs_drg_11",
                                region="fuzhou", year=2025, source="bench history",
                                extra=build.extra_tables() or None)
            publish(con, "bench-2025")
    finally:
        con.close()
    print(f"setup: weights from {history:,} cases in {time.perf_counter() - t:.1f} s",
          flush=True)


def run(work: Path) -> None:
    """The timed part (child process)."""
    from engine.pipeline import run_clear, run_settle
    from engine.policy import load_policy

    policy = load_policy(POLICY)
    db = work / "bench.duckdb"
    total = 0
    start = time.perf_counter()
    for m in range(1, 13):
        t = time.perf_counter()
        period = f"2025-{m:02d}"
        result = run_settle(db, policy, work / f"cases_2025_{m:02d}.parquet", period=period,
                            run_id=f"bench-{period}", weights_version="bench-2025",
                            hospitals_path=work / "2025" / "hospitals.parquet")
        total += result.summary["cases"]
        print(f"  {period}: {result.summary['cases']:>9,} cases in "
              f"{time.perf_counter() - t:6.1f} s", flush=True)
    t = time.perf_counter()
    cleared = run_clear(db, policy, year=2025, run_id="bench-clear-2025")
    gaps = {p: s["conservation_gap"] for p, s in cleared.summary.items()}
    print(f"  clear: {time.perf_counter() - t:.1f} s, conservation gaps {gaps}", flush=True)
    wall = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"cases": total, "wall_s": round(wall, 1), "peak_rss_mb": round(peak),
                      "cases_per_s": round(total / wall)}), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--cases", type=int, default=10_000_000)
    ap.add_argument("--hospitals", type=int, default=200)
    ap.add_argument("--history", type=int, default=2_000_000,
                    help="cases of the previous year the weights are built from")
    ap.add_argument("--work", type=Path, default=None)
    ap.add_argument("--phase", choices=("all", "setup", "run"), default="all")
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="bench_settle_"))
    work.mkdir(parents=True, exist_ok=True)
    ensure_patient_key(work)
    if args.phase == "run":
        run(work)
        return
    setup(work, args.cases, args.hospitals, args.history)
    if args.phase == "setup":
        return
    print(f"timed: settle 12 months + clear, store {work / 'bench.duckdb'}", flush=True)
    subprocess.run([sys.executable, __file__, "--phase", "run", "--work", str(work)],
                   check=True)
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"peak RSS of the timed process: {child:.0f} MB")


if __name__ == "__main__":
    main()
