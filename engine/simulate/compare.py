"""Baseline against scenario: per case, per hospital, per group, and the fund change by cause.

Inputs are two `settle_cases` results of the same cases (same rows, same order). Held cases
(`invalid`, `violation`) pay nothing and count nowhere, as in pre-settlement. Money stays
Decimal(18, 2); shares and indices are Decimal rounded half-up to 4 places.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import polars as pl

from engine.settlement.presettle import HELD

SHARE_DP = Decimal("0.0001")
GAIN_LOSS = Decimal("0.05")  # "hospitals gaining/losing more than 5 %"
OUTLIERS = ("high_outlier", "low_outlier")
CAUSES = ("regrouped", "case_type", "price")  # waterfall order


def share(numerator: Decimal | int, denominator: Decimal | int) -> Decimal | None:
    if not denominator:
        return None
    return (Decimal(numerator) / Decimal(denominator)).quantize(SHARE_DP, ROUND_HALF_UP)


# the columns of a settle_cases result the comparison reads (a simulation keeps no others:
# at 10M cases each kept result is a few hundred MB instead of several GB)
SETTLED_COLUMNS = ("case_id", "hospital_id", "fund_pool", "group_code", "case_type", "weight",
                   "points", "point_value", "fixed_amount", "payment_standard", "fund_payable",
                   "total_cost")


def case_rows(base: pl.DataFrame, scen: pl.DataFrame) -> pl.DataFrame:
    """One row per case: both groups, case types, points and fund payables, and the cause of
    any change (regrouped / case_type / price / none). No patient identifier."""
    if base.height != scen.height:
        raise ValueError(f"baseline has {base.height} rows, scenario {scen.height}")
    b = base.select(pl.col("group_code").alias("base_group_code"),
                    pl.col("case_type").alias("base_case_type"),
                    pl.col("points").alias("base_points"),
                    pl.col("payment_standard").alias("base_payment_standard"),
                    pl.col("fund_payable").alias("base_fund_payable"))
    s = scen.select("case_id", "hospital_id", "fund_pool", "group_code", "case_type", "weight",
                    "points", "point_value", "fixed_amount", "payment_standard", "fund_payable",
                    "total_cost")
    frame = pl.concat([s, b], how="horizontal")
    c = pl.col
    moved = c("group_code").ne_missing(c("base_group_code"))
    retyped = c("case_type") != c("base_case_type")
    change = c("fund_payable") - c("base_fund_payable")
    return frame.with_columns(
        moved.alias("moved"),
        change.alias("change"),
        pl.when(moved).then(pl.lit("regrouped")).when(retyped).then(pl.lit("case_type"))
        .when(change != 0).then(pl.lit("price")).otherwise(pl.lit("none")).alias("cause"),
    )


def hospital_rows(cases: pl.DataFrame) -> pl.DataFrame:
    """Per hospital: cases, fund payable before/after, change and change %, payment standard
    against cost (surplus + / overspend −) and CMI before/after."""
    c = pl.col
    paid, base_paid = ~c("case_type").is_in(HELD), ~c("base_case_type").is_in(HELD)
    agg = (cases.filter(c("hospital_id").is_not_null())
           .group_by("hospital_id")
           .agg(pl.len().alias("cases"),
                c("base_fund_payable").filter(base_paid).sum().alias("base_fund_payable"),
                c("fund_payable").filter(paid).sum().alias("fund_payable"),
                c("payment_standard").filter(paid).sum().alias("payment_standard"),
                c("total_cost").filter(paid).sum().alias("total_cost"),
                c("base_points").filter(base_paid).sum().alias("base_points"),
                c("points").filter(paid).sum().alias("points"),
                c("weight").filter(paid & c("weight").is_not_null()).sum().alias("weight_sum"),
                (paid & c("weight").is_not_null()).sum().alias("weighted_cases"))
           .sort("hospital_id"))
    rows = []
    for r in agg.iter_rows(named=True):
        base, now = r["base_fund_payable"] or Decimal(0), r["fund_payable"] or Decimal(0)
        cost = r["total_cost"] or Decimal(0)
        std = r["payment_standard"] or Decimal(0)
        rows.append({
            "hospital_id": r["hospital_id"], "cases": r["cases"],
            "base_fund_payable": base, "fund_payable": now, "change": now - base,
            "change_pct": share(now - base, base), "payment_standard": std,
            "total_cost": cost, "surplus": std - cost,
            "payment_cost_ratio": share(std, cost),
            "cmi": share(r["weight_sum"] or 0, r["weighted_cases"]),
        })
    return _frame(rows, HOSPITAL_SCHEMA)


def group_rows(cases: pl.DataFrame) -> pl.DataFrame:
    """Per group of the scenario: cases, points, payment standard, cost and their ratio."""
    c = pl.col
    agg = (cases.filter(~c("case_type").is_in(HELD))
           .group_by("group_code")
           .agg(pl.len().alias("cases"), c("points").sum().alias("points"),
                c("payment_standard").sum().alias("payment_standard"),
                c("total_cost").sum().alias("total_cost"),
                c("moved").sum().alias("moved_in"))
           .sort("group_code", nulls_last=True))
    rows = [{**r, "payment_cost_ratio": share(r["payment_standard"], r["total_cost"] or 0)}
            for r in agg.iter_rows(named=True)]
    return _frame(rows, GROUP_SCHEMA)


def cause_rows(cases: pl.DataFrame) -> pl.DataFrame:
    """The fund change split by cause, in waterfall order (held cases count at 0 payable)."""
    c = pl.col
    payable = pl.when(c("case_type").is_in(HELD)).then(0).otherwise(c("fund_payable"))
    base = pl.when(c("base_case_type").is_in(HELD)).then(0).otherwise(c("base_fund_payable"))
    agg = (cases.filter(c("cause") != "none")
           .group_by("cause").agg(pl.len().alias("cases"), (payable - base).sum().alias("change")))
    found = {r["cause"]: r for r in agg.iter_rows(named=True)}
    rows = [{"cause": k, "cases": found.get(k, {}).get("cases", 0),
             "change": found.get(k, {}).get("change") or Decimal("0.00")} for k in CAUSES]
    return _frame(rows, {"cause": pl.String, "cases": pl.Int64, "change": pl.Decimal(18, 2)})


def summary(cases: pl.DataFrame, hospitals: pl.DataFrame) -> dict[str, Any]:
    """The figures of one scenario: fund payable, its change, hospitals gaining or losing
    more than 5 %, outlier share and cases that changed group."""
    c = pl.col
    paid = cases.filter(~c("case_type").is_in(HELD))
    base = cases.filter(~c("base_case_type").is_in(HELD))["base_fund_payable"].sum()
    now = paid["fund_payable"].sum()
    pct = hospitals["change_pct"]
    return {
        "cases": cases.height, "base_fund_payable": base, "fund_payable": now,
        "change": now - base, "change_pct": share(now - base, base),
        "hospitals_gaining": int((pct > GAIN_LOSS).sum()),
        "hospitals_losing": int((pct < -GAIN_LOSS).sum()),
        "outlier_share": share(int(paid["case_type"].is_in(OUTLIERS).sum()), paid.height),
        "moved_cases": int(cases["moved"].sum()),
        "changed_cases": int((cases["cause"] != "none").sum()),
    }


RATIO_BINS, RATIO_MAX = 60, 3  # payment / cost per case in bins of 0.05, the last open


def ratio_bins(cases: pl.DataFrame) -> list[int]:
    """How many cases (with a cost) have payment / cost in each bin [k·0.05, (k+1)·0.05),
    values above 3 in the last: the report's distribution, kept in the summary so it needs no
    per-case rows. Display only: the ratio is a float, nothing here reaches money."""
    ratio = (pl.col("payment_standard").cast(pl.Float64)
             / pl.col("total_cost").cast(pl.Float64))
    step = RATIO_MAX / RATIO_BINS
    counts = (cases.filter(pl.col("total_cost") > 0)
              .select((ratio / step).floor().clip(0, RATIO_BINS - 1).cast(pl.Int32).alias("bin"))
              .group_by("bin").len())
    found = dict(counts.iter_rows())
    return [int(found.get(k, 0)) for k in range(RATIO_BINS)]


HOSPITAL_SCHEMA: dict[str, Any] = {
    "hospital_id": pl.String, "cases": pl.Int64, "base_fund_payable": pl.Decimal(18, 2),
    "fund_payable": pl.Decimal(18, 2), "change": pl.Decimal(18, 2),
    "change_pct": pl.Decimal(18, 4), "payment_standard": pl.Decimal(18, 2),
    "total_cost": pl.Decimal(18, 2), "surplus": pl.Decimal(18, 2),
    "payment_cost_ratio": pl.Decimal(18, 4), "cmi": pl.Decimal(18, 4)}
GROUP_SCHEMA: dict[str, Any] = {
    "group_code": pl.String, "cases": pl.Int64, "points": pl.Decimal(18, 4),
    "payment_standard": pl.Decimal(18, 2), "total_cost": pl.Decimal(18, 2),
    "moved_in": pl.Int64, "payment_cost_ratio": pl.Decimal(18, 4)}


def _frame(rows: list[dict[str, Any]], schema: dict[str, Any]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=schema) if rows else pl.DataFrame(schema=schema)
