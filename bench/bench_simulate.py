"""What-if simulation of a settlement year: baseline + 1 scenario on a 10M-case year, and the
cost of each extra sweep point.

Setup (not timed, shared with bench_settle.py): a synthetic region generated at run time (the
year and a smaller history), DRG weights built from the history and published. Timed, each in a
child process so its peak memory is its own: (A) `simulate` of the whole year under
fuzhou_drg_2025 against one scenario (`outliers.k_low=0.35`), storing sim_case for the cases
that change (the default); (B) the same with `--sweep outliers.k_low=0.3,0.45`: (B − A) / 2 is
the cost of a sweep point; (C) A storing sim_case for every case (`--case-rows all`).
Nothing generated is committed. `--copies N`: the year is N copies of a synthetic year of
cases/N (case and patient ids suffixed per copy, so no stay links across copies): the same
case mix, generated in a tenth of the time (a 10M synthetic year takes ~10 min on this
machine; 10 copies of 1M ~1 min + 4 min writing under load).

Usage: python bench/bench_simulate.py [--cases 10000000] [--hospitals 200] [--work DIR]
                                      [--copies 10]
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

POLICY = "fuzhou_drg_2025"


def run(work: Path, sweep: bool, case_rows: str = "changed") -> None:
    """The timed part (child process)."""
    from engine.simulate.run import simulate
    from engine.simulate.scenario import parse_sweep, scenario

    base = scenario(f"{POLICY}@bench-2025", label="baseline")
    scen = scenario(f"{POLICY}@bench-2025", label="s1", sets=(("outliers.k_low", "0.35"),))
    points = parse_sweep(("outliers.k_low=0.3,0.45",)) if sweep else []
    start = time.perf_counter()
    result = simulate(work / "bench.duckdb", [work / "2025" / "cases.parquet"], base, [scen],
                      sim_id=f"bench-{case_rows}" + ("-sweep" if sweep else ""), sweep=points,
                      hospitals_path=work / "2025" / "hospitals.parquet", case_rows=case_rows)
    wall = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    s = result.summary["scenarios"]["s1"]
    print(json.dumps({"cases": s["cases"], "sweep_points": len(points), "case_rows": case_rows,
                      "sim_case_rows": result.frames["sim_case"].height
                      if "sim_case" in result.frames else 0,
                      "wall_s": round(wall, 1), "peak_rss_mb": round(peak),
                      "fund_change": str(s["change"])}), flush=True)


def replicated_year(work: Path, cases: int, copies: int, hospitals: int, history: int) -> None:
    """`work` as bench_settle.setup makes it, with the year's cases.parquet replaced by
    `copies` id-suffixed copies of a synthetic year of cases // copies (untimed)."""
    import shutil

    import polars as pl
    from bench_settle import setup

    seed = work / "one-copy"
    setup(seed, cases // copies, hospitals, history)
    (work / "2025").mkdir(parents=True, exist_ok=True)
    shutil.copy(seed / "2025" / "hospitals.parquet", work / "2025" / "hospitals.parquet")
    if not (work / "bench.duckdb").is_file():
        shutil.copy(seed / "bench.duckdb", work / "bench.duckdb")
    target = work / "2025" / "cases.parquet"
    if not target.is_file():
        year = pl.scan_parquet(seed / "2025" / "cases.parquet")
        pl.concat([year.with_columns(pl.col("case_id") + f"-{k}", pl.col("patient_id") + f"-{k}")
                   for k in range(copies)]).sink_parquet(target)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--cases", type=int, default=10_000_000)
    ap.add_argument("--hospitals", type=int, default=200)
    ap.add_argument("--history", type=int, default=2_000_000)
    ap.add_argument("--work", type=Path, default=None)
    ap.add_argument("--copies", type=int, default=1)
    ap.add_argument("--phase", choices=("all", "run", "run-sweep", "run-all-rows"),
                    default="all")
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="bench_simulate_"))
    work.mkdir(parents=True, exist_ok=True)
    if args.phase != "all":
        run(work, args.phase == "run-sweep",
            "all" if args.phase == "run-all-rows" else "changed")
        return
    from bench_settle import setup

    if args.copies > 1:
        replicated_year(work, args.cases, args.copies, args.hospitals, args.history)
    else:
        setup(work, args.cases, args.hospitals, args.history)
    walls = {}
    for phase in ("run", "run-sweep", "run-all-rows"):
        t = time.perf_counter()
        subprocess.run([sys.executable, __file__, "--phase", phase, "--work", str(work)],
                       check=True)
        walls[phase] = time.perf_counter() - t
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"baseline + 1 scenario: {walls['run']:.1f} s; per sweep point: "
          f"{(walls['run-sweep'] - walls['run']) / 2:.1f} s; every case in sim_case: "
          f"{walls['run-all-rows']:.1f} s; peak RSS {child:.0f} MB (wall times include each "
          f"child's start and imports)")


if __name__ == "__main__":
    main()
