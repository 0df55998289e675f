"""挂床住院 (false hospitalisation: the patient holds a bed but is barely treated), payment-rules §5.

Claims show it as a stay whose cost per day is far below what the group's stays cost per day:
the days are billed, the care is not. A case is flagged when

- it is grouped, LOS ≥ `bed_blocking_min_los` and no procedure at all was coded, and
- its cost per day < `bed_blocking_max_daily_ratio` × the group's median cost per day.

With `ratio_basis = "level"` the median is over the group's grouped cases of the case's hospital
level when the level has `min_group_cases_for_level_mean` of them, else the region's median ×
the level's factor (median over the level's cases of daily cost / region group median: primary
hospitals cost about 0.6–0.8 of the region per day and would otherwise fill the list), as for
r; with `"region"` the region's median. Groups with fewer than `bed_blocking_min_group_cases`
grouped cases are not screened. A median of
per-case daily cost, not mean cost / mean LOS: long stays cost less per day, and the median is not
moved by the group's outliers.

Hospital flag (same kind, level `hospital`): the share of a hospital's screenable stays (grouped,
LOS ≥ min LOS) that were flagged, against leave-one-out peers (`flags.peer_outliers`: above the
peer P90, robust z ≥ `min_robust_z`).
"""

from __future__ import annotations

import polars as pl

from engine.supervision.flags import (
    empty_flags,
    evidence_ids,
    finish_flags,
    hospital_flag,
    peer_message,
    peer_outliers,
)
from engine.supervision.thresholds import SupervisionThresholds

_SCREENED = (pl.col("status") == "ok") & pl.col("group_code").is_not_null()


def _long_enough(th: SupervisionThresholds) -> pl.Expr:
    return _SCREENED & (pl.col("los") >= th.bed_blocking_min_los)


def daily_cost_ratios(frame: pl.DataFrame, th: SupervisionThresholds) -> pl.DataFrame:
    """The frame with `daily_cost` (cost / LOS), `group_daily_median` (the expected cost per
    day of the case's group and level) and `daily_ratio` = daily_cost / group_daily_median."""
    daily = pl.col("total_cost") / pl.col("los").clip(lower_bound=1)
    f = frame.with_columns(pl.when(_SCREENED).then(daily).otherwise(None).alias("daily_cost"))
    f = f.with_columns(pl.col("daily_cost").median().over("group_code").alias("_region"),
                       pl.col("daily_cost").count().over("group_code").alias("_n_region"))
    expected = pl.col("_region")
    if th.ratio_basis == "level":
        level_keys = ["group_code", "hospital_level"]
        # The level's factor on the same groups (as for r): median of daily / region median.
        f = f.with_columns(
            pl.col("daily_cost").median().over(level_keys).alias("_level"),
            pl.col("daily_cost").count().over(level_keys).alias("_n_level"),
            (pl.col("daily_cost") / pl.col("_region")).median().over("hospital_level")
            .alias("_factor"))
        expected = (pl.when(pl.col("_n_level") >= th.min_group_cases_for_level_mean)
                    .then(pl.col("_level")).otherwise(pl.col("_region") * pl.col("_factor")))
    expected = pl.when(pl.col("_n_region") >= th.bed_blocking_min_group_cases).then(expected)
    f = f.with_columns(expected.alias("group_daily_median"))
    ratio = (pl.when(pl.col("group_daily_median") > 0)
             .then(pl.col("daily_cost") / pl.col("group_daily_median")).otherwise(None))
    return f.with_columns(ratio.alias("daily_ratio")).drop(
        [c for c in ("_region", "_n_region", "_level", "_n_level", "_factor") if c in f.columns])


def bed_blocking_stays(frame: pl.DataFrame, th: SupervisionThresholds) -> pl.DataFrame:
    """One row per flagged stay: case_id, hospital_id, dept, month, year, los, daily_cost,
    group_daily_median, daily_ratio, score = 1 − daily_ratio / max_daily_ratio."""
    f = daily_cost_ratios(frame, th)
    hits = f.filter(_long_enough(th) & (pl.col("n_procedures") == 0)
                    & (pl.col("daily_ratio") < th.bed_blocking_max_daily_ratio))
    score = 1 - pl.col("daily_ratio") / th.bed_blocking_max_daily_ratio
    return hits.select("case_id", "hospital_id", "hospital_level", "dept", "month", "year",
                       "group_code", "los", "daily_cost", "group_daily_median", "daily_ratio",
                       score.clip(0.01, 1.0).alias("score"))


def bed_blocking_case_flags(hits: pl.DataFrame, th: SupervisionThresholds) -> pl.DataFrame:
    return finish_flags(hits.with_columns(
        pl.format("bed_blocking:{}", pl.col("case_id")).alias("flag_id"),
        pl.lit("bed_blocking").alias("kind"), pl.lit("case").alias("level"),
        pl.col("month").alias("period"),
        pl.col("daily_ratio").alias("value"),
        pl.lit(th.bed_blocking_max_daily_ratio).alias("threshold"),
        pl.col("group_daily_median").alias("peer_value"),
        pl.lit(1).alias("n_evidence"),
        pl.concat_list("case_id").alias("evidence_case_ids"),
        pl.struct("group_code", "los", "daily_cost", "group_daily_median", "daily_ratio")
        .struct.json_encode().alias("detail"),
        pl.format("住院 {} 天，日均费用 {} 元，为本组日均费用中位数的 {}%，无任何操作",
                  pl.col("los"), pl.col("daily_cost").round(0).cast(pl.Int64),
                  (pl.col("daily_ratio") * 100).round(0).cast(pl.Int64)).alias("message")))


def bed_blocking_hospital_flags(frame: pl.DataFrame, hits: pl.DataFrame,
                                th: SupervisionThresholds) -> pl.DataFrame:
    """Hospitals whose share of flagged stays among their stays of LOS ≥ min LOS is high."""
    period = th.flag_period
    flagged = pl.col("case_id").is_in(hits["case_id"].implode())
    values = (frame.filter(_long_enough(th))
              .group_by(pl.col(period).alias("period"), "hospital_id")
              .agg(pl.col("hospital_level").first(), pl.len().alias("n"),
                   flagged.mean().alias("value")))
    found = peer_outliers(values, th)
    if found.is_empty():
        return empty_flags()
    scored = frame.join(hits.select("case_id", "score"), on="case_id")
    ev = evidence_ids(scored, found, period, pl.lit(True), pl.col("score"), th.max_evidence)
    found = found.join(ev, on=["period", "hospital_id"], how="left")
    return hospital_flag(found, "bed_blocking", peer_message("挂床嫌疑住院占比", th))
