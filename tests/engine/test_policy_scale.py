"""Shipped policies pay sensible money on the demo region (issue 12 item 4; docs/settlement.md
"Scale of the shipped policies"): fund payable within `PAYABLE_BAND` of the FFS fund amount per
pool, and the shipped point values / base rates are the ones `engine.policy_scale.fit` derives,
not guesses (chaozhou's 8.9 / 9.8 yuan against a 1000-point catalogue paid 0.17 of FFS)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from engine.clear import clear_pool
from engine.policy import load_policy, shipped_policies
from engine.policy_scale import PAYABLE_BAND, fit, payable_ratio, weights_and_grouping
from engine.presettle import hospital_period
from engine.settle_case import settle_cases

ROOT = Path(__file__).resolve().parents[2]
REGION = ROOT / "data" / "fixtures" / "region"  # 20,000 cases of the demo's generator (2024)
INPUTS = ROOT / "data" / "fixtures" / "settlement" / "inputs"
LOW, HIGH = PAYABLE_BAND


@pytest.fixture(scope="module")
def region() -> tuple[pl.DataFrame, pl.DataFrame]:
    return (pl.read_parquet(REGION / "cases.parquet"),
            pl.read_parquet(REGION / "hospitals.parquet"))


def _value(policy, pool: str) -> Decimal:
    p = policy.pool[pool]
    return p.base_rate if policy.fixed_point_value else p.pv_budget


@pytest.mark.parametrize("name", shipped_policies())
def test_shipped_policy_pays_within_the_band_of_ffs(region, name):
    cases, hospitals = region
    policy = load_policy(name)
    weights = pl.read_parquet(INPUTS / f"{name}.weights.parquet")
    grouped = pl.read_parquet(INPUTS / f"{name}.grouped.parquet")
    results = settle_cases(cases, grouped, weights, hospitals, policy)
    ratios = payable_ratio(results)
    assert set(ratios) == {"employee", "resident"}
    for pool, ratio in ratios.items():
        assert LOW <= ratio <= HIGH, f"{name} {pool}: fund payable / FFS = {ratio:.4f}"
    # ... and the shipped values are what the fit derives (another draw of the same generator
    # than the one the files were fitted on: within 5 %)
    fitted = fit(policy, cases, hospitals, weights=weights, grouped=grouped)
    for pool in ratios:
        shipped, derived = _value(policy, pool), _value(fitted, pool)
        assert abs(shipped / derived - 1) < Decimal("0.05"), (name, pool, shipped, derived)
    # no hospital's monthly payable comes out negative (it would be clamped at prepayment)
    rows = hospital_period(results, policy, "2025-01")
    assert rows.filter(pl.col("fund_payable") < 0).height == 0


def test_an_off_scale_point_value_is_outside_the_band(region):
    """The band catches the defect the issue found: chaozhou's former 8.9 yuan."""
    cases, hospitals = region
    name = "chaozhou_dip_2025"
    policy = load_policy(name)
    pools = {p: v.model_copy(update={"pv_budget": Decimal("8.9000")})
             for p, v in policy.pool.items()}
    off = policy.model_copy(update={"pool": pools})
    results = settle_cases(cases, pl.read_parquet(INPUTS / f"{name}.grouped.parquet"),
                           pl.read_parquet(INPUTS / f"{name}.weights.parquet"), hospitals, off)
    assert all(r < LOW for r in payable_ratio(results).values())


@pytest.mark.slow
@pytest.mark.parametrize("name", shipped_policies())
def test_demo_region_year_clears_within_the_band(name, tmp_path):
    """The demo's region at its default size (60,000 cases a year, 20 hospitals; 2025 drawn with
    another seed from 2024's hospitals, with case-mix drift, as `drgdip demo` does): the year
    settled in one run with the shipped file as it is (no fitting) and cleared per pool: final
    payments within the band of FFS, no negative payable, the point-value cap not binding."""
    from engine.commands.demo import YEAR_DRIFT
    from engine.ingest import read_cases
    from engine.pipeline import clamps
    from engine.synth import write_region

    policy = load_policy(name)
    ruleset = policy.policy.ruleset
    write_region(tmp_path / "history", 60_000, 20, policy.year - 1, 7, ruleset)
    write_region(tmp_path / "year", 60_000, 20, policy.year, 8, ruleset, hospital_seed=7,
                 drift=YEAR_DRIFT)  # as drgdip demo draws its settlement year
    history = read_cases(tmp_path / "history" / "cases.parquet").cases
    cases = read_cases(tmp_path / "year" / "cases.parquet").cases
    hospitals = pl.read_parquet(tmp_path / "year" / "hospitals.parquet")
    weights, grouped = weights_and_grouping(
        history, pl.read_parquet(tmp_path / "history" / "hospitals.parquet"), policy,
        group=cases)
    results = settle_cases(cases, grouped, weights, hospitals, policy)
    for pool, ratio in payable_ratio(results).items():
        assert LOW <= ratio <= HIGH, f"{name} {pool}: fund payable / FFS = {ratio:.4f}"
    rows = hospital_period(results, policy, f"{policy.year}").rename({"prepayment": "prepaid"})
    for pool in sorted(set(rows["fund_pool"])):
        result = clear_pool(rows.filter(pl.col("fund_pool") == pool), policy, pool)
        paid = result.hospitals["final_payment"].sum()
        ffs = result.hospitals["ffs_fund_amount"].sum()
        assert LOW <= Decimal(paid) / Decimal(ffs) <= HIGH, (name, pool, paid, ffs)
        found = clamps(result, policy, pool)
        assert not found["negative_payables"], found
        assert not found.get("point_value_cap_binding"), found
