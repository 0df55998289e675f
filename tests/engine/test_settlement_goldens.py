"""Golden settlements (issue 12 item 6, issue 17 step 1): every result column of `settle_cases`,
the pre-settlement rows and the clearing rows under each shipped policy on the fixture region,
Decimal scale and row order included, so that any change of money shows in review.

Per policy, in `data/fixtures/settlement/`:

- `inputs/<policy>.weights.parquet`, `inputs/<policy>.grouped.parquet`: the weight table (with
  its nested same-level and per-hospital mean costs) and the grouping of the fixture cases,
  built from `data/fixtures/region` as `drgdip weights build-drg` / `build-dip` build them.
  `test_fixture_still_builds_the_frozen_inputs` says when weights or grouping moved; the
  goldens themselves settle from the frozen inputs, so they isolate the settlement rules.
- `<policy>.cases.parquet`: `settle_cases` of the 20,000 fixture cases;
  `<policy>.hospital_period.parquet`: `engine.presettle.hospital_period` of them;
  `<policy>.clearing.parquet`: `engine.clear.clear_pool` of every pool of those sums (one period
  standing for the year);
- `<policy>.reviews.parquet`: the same cases with the review file `reviews.csv` (every outcome,
  one hospital's approvals beyond the quota);
- `<policy>.readmission.parquet`: a two-month run through a real DuckDB store: March settled and
  stored, April settled with March's episodes (`engine.readmission_history.earlier_episodes`).

The files are rewritten only with `DRGDIP_UPDATE_GOLDENS=1` (then the tests pass after
writing); otherwise a difference fails with the first differing rows.
"""

from __future__ import annotations

import os
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import engine.views  # noqa: F401  (settlement migrations before the store opens)
from engine.clear import clear_pool
from engine.pipeline import _run_row, write_run
from engine.policy import Policy, load_policy, shipped_policies
from engine.presettle import hospital_period
from engine.readmission_history import earlier_episodes
from engine.review import read_reviews
from engine.settle_case import settle_cases
from engine.settle_cost_coef import attach_hospital_costs
from engine.settle_inputs import attach_level_costs
from grouper import group_dip, group_drg
from weights import build_drg, open_store
from weights.dip_build import build_dip_catalog

ROOT = Path(__file__).resolve().parents[2]
REGION = ROOT / "data" / "fixtures" / "region"
GOLDEN = ROOT / "data" / "fixtures" / "settlement"
UPDATE = os.environ.get("DRGDIP_UPDATE_GOLDENS") == "1"
POLICIES = ("foshan_drg_2025", "fuzhou_drg_2025", "jiangmen_dip_2025", "chaozhou_dip_2025")
PERIOD = "2025-01"
MONTHS = (3, 4)  # the two-month readmission run: March, then April


def test_the_goldens_cover_every_shipped_policy():
    assert sorted(POLICIES) == sorted(shipped_policies())


@pytest.fixture(scope="module")
def region() -> tuple[pl.DataFrame, pl.DataFrame]:
    return (pl.read_parquet(REGION / "cases.parquet"),
            pl.read_parquet(REGION / "hospitals.parquet"))


def build_inputs(cases: pl.DataFrame, hospitals: pl.DataFrame,
                 policy: Policy) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(weight table, grouping) of the fixture for `policy`, as the weight commands build them."""
    if policy.method == "dip":
        dip = build_dip_catalog(cases, hospitals=hospitals)
        return (attach_level_costs(dip.catalog.groups, dip.level_costs, "dip_code"),
                group_dip(cases, dip.catalog))
    ruleset = policy.policy.ruleset
    grouped = group_drg(cases, ruleset)
    build = build_drg(cases, ruleset, grouped=grouped, hospitals=hospitals)
    table = attach_level_costs(build.weights, build.level_costs, "drg")
    return attach_hospital_costs(table, build.hospital_costs, "drg"), grouped


def check(frame: pl.DataFrame, path: Path) -> None:
    """Compare with the golden file (every column, dtype and row order), or rewrite it."""
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.write_parquet(path, statistics=False)
        return
    assert path.is_file(), f"{path} missing: run with DRGDIP_UPDATE_GOLDENS=1 to record it"
    golden = pl.read_parquet(path)
    if not frame.equals(golden):  # show where, before the full comparison's message
        common = [c for c in frame.columns if c in golden.columns]
        if frame.height == golden.height and common:
            diff = (frame.select(common).with_row_index("_row")
                    .filter(pl.any_horizontal(
                        (pl.col(c).ne_missing(golden[c])) for c in common)))
            print(f"{path.name}: {diff.height} rows differ; first:\n{diff.head(5)}")
    assert_frame_equal(frame, golden, check_dtypes=True, check_exact=True)


@pytest.fixture(scope="module")
def inputs(region) -> dict[str, tuple[Policy, pl.DataFrame, pl.DataFrame]]:
    """policy → (policy, frozen weight table, frozen grouping); recorded under the flag."""
    cases, hospitals = region
    out = {}
    for name in POLICIES:
        policy = load_policy(name)
        weights_path = GOLDEN / "inputs" / f"{name}.weights.parquet"
        grouped_path = GOLDEN / "inputs" / f"{name}.grouped.parquet"
        if UPDATE:  # rewritten only when they changed (the DIP row order varies by build)
            weights, grouped = build_inputs(cases, hospitals, policy)
            key = "drg" if policy.method == "drg" else "dip_code"
            for frame, path, k in ((weights, weights_path, key), (grouped, grouped_path, None)):
                if not path.is_file() or not (frame.sort(k) if k else frame).equals(
                        pl.read_parquet(path).sort(k) if k else pl.read_parquet(path)):
                    check(frame, path)
        out[name] = (policy, pl.read_parquet(weights_path), pl.read_parquet(grouped_path))
    return out


@pytest.mark.parametrize("name", POLICIES)
def test_fixture_still_builds_the_frozen_inputs(region, inputs, name):
    cases, hospitals = region
    policy, weights, grouped = inputs[name]
    built_weights, built_grouped = build_inputs(cases, hospitals, policy)
    assert_frame_equal(built_grouped, grouped, check_dtypes=True, check_exact=True)
    # The DIP catalogue's row order varies from build to build (its groups are keyed by code;
    # settlement joins on it), so the tables are compared in key order.
    key = "drg" if policy.method == "drg" else "dip_code"
    assert_frame_equal(built_weights.sort(key), weights.sort(key), check_dtypes=True,
                       check_exact=True)


def clearing_inputs(period_rows: pl.DataFrame) -> pl.DataFrame:
    return period_rows.rename({"prepayment": "prepaid"})


@pytest.mark.parametrize("name", POLICIES)
def test_region_settles_as_recorded(region, inputs, name):
    cases, hospitals = region
    policy, weights, grouped = inputs[name]
    results = settle_cases(cases, grouped, weights, hospitals, policy)
    assert results.height == cases.height
    check(results, GOLDEN / f"{name}.cases.parquet")
    period_rows = hospital_period(results, policy, PERIOD)
    check(period_rows, GOLDEN / f"{name}.hospital_period.parquet")
    cleared = []
    for pool in sorted(set(period_rows["fund_pool"])):
        rows = clearing_inputs(period_rows.filter(pl.col("fund_pool") == pool))
        cleared.append(clear_pool(rows, policy, pool).hospitals
                       .with_columns(pl.lit(pool).alias("fund_pool")))
    check(pl.concat(cleared), GOLDEN / f"{name}.clearing.parquet")


def review_file(cases: pl.DataFrame) -> Path:
    """`reviews.csv`: every 97th case (by case id) cycling through the four outcomes, and 60
    approvals at the smallest hospital, beyond a 5 % quota (written under the flag only)."""
    path = GOLDEN / "reviews.csv"
    if UPDATE:
        ids = cases.sort("case_id")
        outcomes = ("approved_ffs", "approved_uplift", "rejected", "violation")
        sample = ids.gather_every(97).with_row_index("i").select(
            "case_id", pl.col("i").map_elements(lambda i: outcomes[i % 4],
                                                return_dtype=pl.String).alias("review_outcome"))
        sizes = ids.group_by("hospital_id").len().sort("len", "hospital_id")
        first = sizes["hospital_id"][0]
        taken = set(sample["case_id"])
        extra = (ids.filter((pl.col("hospital_id") == first) & ~pl.col("case_id").is_in(taken))
                 .head(60).select("case_id", pl.lit("approved_ffs").alias("review_outcome")))
        frame = pl.concat([sample, extra]).with_columns(
            pl.when(pl.col("review_outcome") == "violation").then(pl.lit("100.00"))
            .otherwise(pl.lit(None, pl.String)).alias("deduction"))
        frame.write_csv(path)
    return path


@pytest.mark.parametrize("name", POLICIES)
def test_region_with_reviews_settles_as_recorded(region, inputs, name):
    cases, hospitals = region
    policy, weights, grouped = inputs[name]
    reviews = read_reviews(review_file(cases))
    results = settle_cases(cases, grouped, weights, hospitals, policy, reviews=reviews)
    types = set(results["case_type"])
    assert {"violation", "review_ffs", "review_uplift"} <= types, types
    assert results["review_over_quota"].any()
    check(results, GOLDEN / f"{name}.reviews.parquet")


@pytest.mark.parametrize("name", POLICIES)
def test_two_month_readmission_run_settles_as_recorded(region, inputs, name, tmp_path):
    cases, hospitals = region
    policy, weights, grouped = inputs[name]
    month = pl.col("discharge_date").dt.month()
    con = open_store(tmp_path / "store.duckdb")
    try:
        parts = []
        for m in MONTHS:
            period, run_id = f"{policy.year}-{m:02d}", f"golden-{m:02d}"
            keep = cases.with_row_index("_i").filter(month == m)["_i"]
            month_cases, month_grouped = cases[keep], grouped[keep]
            earlier = earlier_episodes(con, policy, period=period, run_id=run_id,
                                       cases=month_cases)
            results = settle_cases(month_cases, month_grouped, weights, hospitals, policy,
                                   earlier_episodes=earlier).with_columns(
                pl.lit(period).alias("period"))
            run = _run_row(run_id, "settle", policy, period, input_name="golden",
                           weights_version=None, n_cases=results.height,
                           started=datetime(2025, 1, 1), summary={})
            write_run(con, run, {"case_results": results,
                                 "hospital_period_results": hospital_period(results, policy,
                                                                            period)})
            parts.append((earlier, results))
    finally:
        con.close()
    (first_earlier, _), (earlier, april) = parts
    assert first_earlier.height == 0 and earlier.height > 0
    # April alone would merge fewer: some merges come from March's episodes
    alone = settle_cases(cases.filter(month == MONTHS[1]), grouped.filter(
        cases.select(month == MONTHS[1]).to_series()), weights, hospitals, policy)
    merged = (april["case_type"] == "readmission_merged").sum()
    assert merged > (alone["case_type"] == "readmission_merged").sum()
    check(april, GOLDEN / f"{name}.readmission.parquet")


def test_goldens_hold_money_as_decimal_fen():
    if UPDATE:
        pytest.skip("recording")
    frame = pl.read_parquet(GOLDEN / "foshan_drg_2025.cases.parquet")
    assert frame.schema["fund_payable"] == pl.Decimal(18, 2)
    assert frame.schema["points"] == pl.Decimal(18, 4)
    assert isinstance(frame["fund_payable"][0], Decimal)


def test_clearing_lists_negative_payables_and_the_binding_cap(region, inputs):
    """payment-rules §4.3: a hospital with P < 0 (chaozhou's former off-scale point values,
    8.9 / 9.8 yuan against a 1000-point catalogue, on the fixture region) is listed, never
    clamped silently; so is a binding point-value cap."""
    from engine.pipeline import clamps

    cases, hospitals = region
    policy, weights, grouped = inputs["chaozhou_dip_2025"]
    old = {"employee": ("9.8000", "9.6000"), "resident": ("8.9000", "8.7000")}
    policy = policy.model_copy(update={"pool": {
        p: v.model_copy(update={"pv_budget": Decimal(old[p][0]), "pv_prev_year": Decimal(old[p][1])})
        for p, v in policy.pool.items()}})
    results = settle_cases(cases, grouped, weights, hospitals, policy)
    rows = clearing_inputs(hospital_period(results, policy, PERIOD))
    found = {}
    for pool in sorted(set(rows["fund_pool"])):
        result = clear_pool(rows.filter(pl.col("fund_pool") == pool), policy, pool)
        found[pool] = clamps(result, policy, pool)
        negative = result.hospitals.filter(pl.col("payable") < 0)["hospital_id"].to_list()
        assert sorted(found[pool]["negative_payables"]) == negative
        assert found[pool]["point_value_cap_binding"] == (
            result.summary["point_value"] == Decimal(found[pool]["point_value_cap"]))
    assert sum(len(f["negative_payables"]) for f in found.values()) == 1
