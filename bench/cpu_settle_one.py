"""CPU time (not wall time: the machine may be shared) per case of `settle_one`, tables
prepared once, over the fixture region's first `--cases` cases under each shipped policy.

Runs against the working tree or, for a before/after figure, against an earlier commit's tree
(`git archive <ref> api bench engine grouper weights data/fixtures/region | tar -x -C DIR`,
then `cd DIR && python /path/to/this/script`): it imports the settlement from wherever the
current directory keeps it (engine/settlement/ now, engine/settle_*.py before 4732407).
`--profile` prints the top functions by own time; p99 is of cases timed one by one.
Usage: python bench/cpu_settle_one.py [--cases 3000] [--repeat 3] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import time

sys.path.insert(0, os.getcwd())

import polars as pl

from engine.policy import load_policy
from grouper import group_dip, group_drg
from weights import build_drg
from weights.dip_build import build_dip_catalog

try:
    from engine.settlement.cost_coef import attach_hospital_costs
    from engine.settlement.inputs import attach_level_costs
    from engine.settlement.one_case import (
        CASE_SCHEMA,
        hospital_entries,
        prepare_tables,
        settle_one,
    )
except ImportError:  # an earlier tree
    from engine.settle_cost_coef import attach_hospital_costs  # type: ignore[no-redef]
    from engine.settle_inputs import attach_level_costs  # type: ignore[no-redef]
    from engine.settle_one import (  # type: ignore[no-redef]
        CASE_SCHEMA,
        hospital_entries,
        prepare_tables,
        settle_one,
    )

POLICIES = ("foshan_drg_2025", "fuzhou_drg_2025", "jiangmen_dip_2025", "chaozhou_dip_2025")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--cases", type=int, default=3000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    region = os.path.join(os.getcwd(), "data", "fixtures", "region")
    typed = pl.read_parquet(os.path.join(region, "cases.parquet")).head(args.cases).select(
        pl.col(c).cast(t) for c, t in CASE_SCHEMA.items())
    hospitals = pl.read_parquet(os.path.join(region, "hospitals.parquet"))
    dip = build_dip_catalog(typed, hospitals=hospitals)
    rows = typed.to_dicts()
    for name in POLICIES:
        policy = load_policy(name)
        if policy.method == "dip":
            grouped = group_dip(typed, dip.catalog)
            weights = attach_level_costs(dip.catalog.groups, dip.level_costs, "dip_code")
        else:
            ruleset = policy.policy.ruleset
            grouped = group_drg(typed, ruleset)
            build = build_drg(typed, ruleset, grouped=grouped, hospitals=hospitals)
            weights = attach_hospital_costs(
                attach_level_costs(build.weights, build.level_costs, "drg"),
                build.hospital_costs, "drg")
        tables = prepare_tables(weights, policy)
        entries = hospital_entries(hospitals, policy)
        calls = [(r, g, entries.get(r["hospital_id"]))
                 for r, g in zip(rows, grouped.to_dicts(), strict=True)]

        def run(calls: list = calls, tables: object = tables) -> None:
            for case, group, entry in calls:
                settle_one(case, group, entry, tables)

        best = float("inf")
        for _ in range(args.repeat):
            t0 = time.process_time()
            run()
            best = min(best, time.process_time() - t0)
        clock, each = time.process_time, []
        for case, group, entry in calls:  # one case at a time, for the tail
            t0 = clock()
            settle_one(case, group, entry, tables)
            each.append(clock() - t0)
        each.sort()
        p99 = each[min(len(each) - 1, int(len(each) * 0.99))]
        print(f"{name:<20} settle_one {best / len(calls) * 1e6:7.1f} µs CPU per case "
              f"(p99 {p99 * 1e6:6.1f})", flush=True)
        if args.profile:
            prof = cProfile.Profile()
            prof.runcall(run)
            pstats.Stats(prof).sort_stats("tottime").print_stats(8)


if __name__ == "__main__":
    main()
