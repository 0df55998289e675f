"""The estimate's settlement: µs per case of `engine.settlement.one_case.settle_one` (plain Python,
tables prepared once) against `settle_cases` on a one-row frame (what `POST /v1/estimate` ran
before), and of the whole `Estimator.estimate` (typed row, per-case grouping, settle_one,
response dict) in process, on the case dict the router passes (dates, Decimal money),
without HTTP. Beside the mean per case (best of --repeat), each estimate() call and each
settle_one call is timed on its own, and p50 / p99 are printed against the issue 17 targets:
settle_one ≤ 100 µs per case, the estimate's compute p99 < 1 ms.

Weights are built from the fixture region (data/fixtures/region) as build-drg / build-dip build
them (same-level and per-hospital mean costs); the region's cases are settled one by one under
each shipped policy. Usage:
python bench/bench_estimate.py [--cases 20000] [--frame-cases 200] [--repeat 3]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl

from engine.policy import load_policy
from engine.settlement.batch import settle_cases
from engine.settlement.cost_coef import attach_hospital_costs
from engine.settlement.estimate import Estimator, PolicyBook
from engine.settlement.inputs import attach_level_costs
from engine.settlement.one_case import CASE_SCHEMA, hospital_entries, prepare_tables, settle_one
from grouper import group_dip, group_drg, load_ruleset
from weights import build_drg
from weights.dip_build import build_dip_catalog

REGION = Path(__file__).resolve().parent.parent / "data" / "fixtures" / "region"
POLICIES = ("foshan_drg_2025", "fuzhou_drg_2025", "jiangmen_dip_2025", "chaozhou_dip_2025")


def per_case_us(fn: Callable[[int], Any], n: int, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for i in range(n):
            fn(i)
        best = min(best, time.perf_counter() - t0)
    return best / n * 1e6


def percentiles_us(fn: Callable[[int], Any], n: int, repeat: int) -> tuple[float, float]:
    """(p50, p99) in µs of single calls, over `repeat` passes of n calls (the first pass warms)."""
    times: list[int] = []
    clock = time.perf_counter_ns
    for r in range(repeat):
        for i in range(n):
            t0 = clock()
            fn(i)
            if r:
                times.append(clock() - t0)
    times.sort()
    if not times:
        return float("nan"), float("nan")
    return (times[len(times) // 2] / 1e3, times[min(len(times) - 1, len(times) * 99 // 100)] / 1e3)


SETTLE_TARGET_US, ESTIMATE_P99_TARGET_US = 100.0, 1000.0


def bench_policy(name: str, typed: pl.DataFrame, hospitals: pl.DataFrame, dip: Any,
                 dip_table: pl.DataFrame, args: argparse.Namespace) -> bool:
    rows = typed.to_dicts()
    n = len(rows)
    policy = load_policy(name)
    if policy.method == "dip":
        weights, grouped = dip_table, group_dip(typed, dip.catalog)
        book = PolicyBook(policy, "fixture", weights, catalog=dip.catalog)
    else:
        ruleset = policy.policy.ruleset
        grouped = group_drg(typed, ruleset)
        build = build_drg(typed, ruleset, grouped=grouped, hospitals=hospitals)
        weights = attach_hospital_costs(
            attach_level_costs(build.weights, build.level_costs, "drg"),
            build.hospital_costs, "drg")
        book = PolicyBook(policy, "fixture", weights, ruleset=load_ruleset(ruleset))
    groups = grouped.to_dicts()
    tables = prepare_tables(weights, policy)
    entries = hospital_entries(hospitals, policy)
    frames = [(typed.slice(i, 1), grouped.slice(i, 1),
               hospitals.filter(pl.col("hospital_id") == rows[i]["hospital_id"]))
              for i in range(min(args.frame_cases, n))]
    batch_us = per_case_us(lambda i: settle_cases(*frames[i][:2], weights, frames[i][2],
                                                  policy), len(frames), 1)
    one_us = per_case_us(lambda i: settle_one(rows[i], groups[i],
                                              entries.get(rows[i]["hospital_id"]), tables),
                         n, args.repeat)
    est = Estimator(books={name: book},
                    hospitals={h: hospitals.filter(pl.col("hospital_id") == h)
                               .select("hospital_id", "level", "type")
                               for h in hospitals["hospital_id"]})
    est_us = per_case_us(lambda i: est.estimate(rows[i], name), min(n, 2000),
                         args.repeat)
    _, one_p99 = percentiles_us(lambda i: settle_one(
        rows[i], groups[i], entries.get(rows[i]["hospital_id"]), tables), n, 2)
    est_p50, est_p99 = percentiles_us(lambda i: est.estimate(rows[i], name), min(n, 2000),
                                      max(args.repeat, 2))
    ok = one_us <= SETTLE_TARGET_US and est_p99 < ESTIMATE_P99_TARGET_US
    print(f"{name:<20} {batch_us:>19,.0f} {one_us:>11,.1f} {one_p99:>8,.1f} "
          f"{batch_us / one_us:>8,.0f}× {est_us:>11,.0f} {est_p50:>8,.0f} {est_p99:>8,.0f}  "
          f"{'ok' if ok else 'OVER TARGET'}", flush=True)
    return ok


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--cases", type=int, default=20_000)
    ap.add_argument("--frame-cases", type=int, default=200,
                    help="cases for the one-row settle_cases comparison (~45 ms each)")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    typed = pl.read_parquet(REGION / "cases.parquet").head(args.cases).select(
        pl.col(c).cast(t) for c, t in CASE_SCHEMA.items())
    hospitals = pl.read_parquet(REGION / "hospitals.parquet")
    t0 = time.perf_counter()
    dip = build_dip_catalog(typed, hospitals=hospitals)
    dip_table = attach_level_costs(dip.catalog.groups, dip.level_costs, "dip_code")
    print(f"setup: DIP catalogue in {time.perf_counter() - t0:.1f} s", flush=True)
    print(f"{'policy':<20} {'settle_cases 1-row':>19} {'settle_one':>11} {'p99':>8} "
          f"{'speed-up':>9} {'estimate()':>11} {'p50':>8} {'p99':>8}   (µs per case; targets: "
          f"settle_one ≤ {SETTLE_TARGET_US:.0f}, estimate p99 < {ESTIMATE_P99_TARGET_US:.0f})")
    results = [bench_policy(name, typed, hospitals, dip, dip_table, args) for name in POLICIES]
    print("targets met" if all(results) else "targets NOT met", flush=True)


if __name__ == "__main__":
    main()
