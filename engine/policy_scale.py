"""Where the shipped policies' budgets, point values and base rates come from, and the band they
must pay within (issue 12 item 4; docs/settlement.md "Scale of the shipped policies").

A point value is only meaningful against the catalogue it prices: a DIP catalogue built with
`score_scale = 1000` gives the history's average case about 1,000 points, so one point is worth
about the region's mean cost per case / 1,000 (≈ 21 yuan on the synthetic region), and a DRG
base rate is about the mean cost of a 1.0-RW case. The shipped values are therefore DERIVED, not
chosen: `fit(policy, history, hospitals)` builds the policy's weights from a history year exactly
as `drgdip demo` does (DRG weights with same-level and per-hospital means, or a DIP catalogue),
groups the history and runs `engine.settle_calibration.calibrate` — budget = last year's FFS fund
amount × 1.03 per pool, `pv_budget` (or the base rate) = the value clearing would fix for those
cases with that budget. `python -m engine.policy_scale [--cases N] [--seed S]` prints the fit of
every shipped policy on the demo's history year (`drgdip demo` defaults: 60,000 cases, 20
hospitals, 2024, seed 7); the files carry those numbers, rounded as the header of each says.

`payable_ratio(results)` is what the band is checked on: per fund pool, Σ fund payable of the
paid case rows / Σ FFS fund amount (统筹基金记账) of the same rows. `PAYABLE_BAND` is the band a
shipped policy must meet on the demo region (tests/engine/test_policy_scale.py).
"""

from __future__ import annotations

import sys
from decimal import Decimal
from pathlib import Path

import polars as pl

from engine.policy import Policy, load_policy, shipped_policies

# Σ fund payable / Σ FFS fund amount per pool on the demo region. DRG/DIP moves money between
# hospitals and cases, not the size of the fund: a policy fitted to last year's claims pays within
# a few per cent of FFS; 0.90–1.10 leaves room for the 3 % growth, the 5 % reserve and case-mix
# drift, and catches a point value on the wrong scale (8.9 yuan against ≈ 21 paid 0.17 of FFS).
PAYABLE_BAND = (Decimal("0.90"), Decimal("1.10"))


def weights_and_grouping(cases: pl.DataFrame, hospitals: pl.DataFrame, policy: Policy, *,
                         group: pl.DataFrame | None = None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(weight table built from `cases`, grouping of `group` — default `cases` — under it) for
    `policy`, as `drgdip weights build-drg` / `build-dip` and `drgdip demo` build them (same-level
    and per-hospital means nested)."""
    group = cases if group is None else group
    from engine.settle_cost_coef import attach_hospital_costs
    from engine.settle_inputs import attach_level_costs
    from grouper import group_dip, group_drg
    from weights import build_drg
    from weights.dip_build import DipBuildParams, build_dip_catalog

    if policy.method == "dip":
        dip = build_dip_catalog(cases, DipBuildParams(ruleset=policy.policy.ruleset),
                                hospitals=hospitals)
        return (attach_level_costs(dip.catalog.groups, dip.level_costs, "dip_code"),
                group_dip(group, dip.catalog))
    ruleset = policy.policy.ruleset
    grouped = group_drg(cases, ruleset)
    build = build_drg(cases, ruleset, grouped=grouped, hospitals=hospitals)
    table = attach_level_costs(build.weights, build.level_costs, "drg")
    if group is not cases:
        grouped = group_drg(group, ruleset)
    return attach_hospital_costs(table, build.hospital_costs, "drg"), grouped


def fit(policy: Policy, history: pl.DataFrame, hospitals: pl.DataFrame, *,
        weights: pl.DataFrame | None = None, grouped: pl.DataFrame | None = None) -> Policy:
    """`policy` with budgets and point values (base rates) fitted to `history`."""
    from engine.settle_calibration import calibrate

    if weights is None or grouped is None:
        weights, grouped = weights_and_grouping(history, hospitals, policy)
    return calibrate(policy, history, grouped, weights, hospitals)


def payable_ratio(results: pl.DataFrame) -> dict[str, Decimal]:
    """Per fund pool: Σ fund_payable / Σ fund_paid (FFS fund amount) of the settled (not held)
    case rows, exact (Decimal)."""
    sums = (results.filter(pl.col("status") != "invalid").group_by("fund_pool")
            .agg(pl.col("fund_payable").sum(), pl.col("fund_paid").sum()))
    return {r["fund_pool"]: Decimal(r["fund_payable"]) / Decimal(r["fund_paid"])
            for r in sums.iter_rows(named=True) if r["fund_paid"]}


def _main(argv: list[str]) -> None:
    import argparse

    from engine.ingest import read_cases
    from engine.synth import write_region

    parser = argparse.ArgumentParser(prog="python -m engine.policy_scale", description=__doc__)
    parser.add_argument("--cases", type=int, default=60_000)
    parser.add_argument("--hospitals", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--year", type=int, default=2024)
    parser.add_argument("--dir", type=Path, default=Path("policy_scale_region"))
    args = parser.parse_args(argv)
    regions: dict[str, tuple[pl.DataFrame, pl.DataFrame]] = {}
    for name in shipped_policies():
        base = load_policy(name)
        ruleset = base.policy.ruleset
        if ruleset not in regions:  # the demo synthesizes its region under the policy's ruleset
            out = args.dir / ruleset
            write_region(out, args.cases, args.hospitals, args.year, args.seed, ruleset)
            regions[ruleset] = (read_cases(out / "cases.parquet").cases,
                                pl.read_parquet(out / "hospitals.parquet"))
        fitted = fit(base, *regions[ruleset])
        for pool, p in sorted(fitted.pool.items()):
            value = (f"base_rate {p.base_rate}" if base.fixed_point_value
                     else f"pv_budget {p.pv_budget}")
            print(f"{name} {pool}: budget {p.budget} {value}")

if __name__ == "__main__":
    _main(sys.argv[1:])
