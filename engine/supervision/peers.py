"""Peer comparison of a hospital indicator (payment-rules.md §5: "compared with same-level peers").

Peers of hospital h in a period are the other hospitals of h's level with at least
`min_hospital_cases` cases; when a level has fewer than `min_peers` such hospitals, all other
hospitals are the peers. h itself is never a peer (leave-one-out), so one extreme hospital does
not raise the bar it is measured against.
"""

from __future__ import annotations

import polars as pl

from engine.supervision.thresholds import SupervisionThresholds

MAD_SCALE = 1.4826  # MAD → sd under normality


def peer_stats(values: pl.DataFrame, th: SupervisionThresholds) -> pl.DataFrame:
    """Peer percentile, median and robust z of `value` for each (period, hospital_id).

    `values` has period, hospital_id, hospital_level, n (cases behind the value), value.
    Returns those columns plus peer_scope (`level` | `all`), n_peers, peer_pct (the
    `peer_percentile` quantile), peer_median and robust_z = (value − median) / s with
    s² = (1.4826·MAD)² + p·(1 − p)/n, p = max(median, 1/n): the peers' robust spread plus the sampling
    noise of a rate over n cases, so small hospitals and tight peer groups do not flag on noise.
    """
    eligible = values.filter((pl.col("n") >= th.min_hospital_cases) & pl.col("value").is_not_null()
                             & pl.col("value").is_not_nan())
    pairs = values.join(
        eligible.select("period", pl.col("hospital_id").alias("peer_id"),
                        pl.col("hospital_level").alias("peer_level"),
                        pl.col("value").alias("peer_value")),
        on="period").filter(pl.col("hospital_id") != pl.col("peer_id"))
    same = pairs.filter(pl.col("hospital_level") == pl.col("peer_level"))
    n_same = same.group_by("period", "hospital_id").agg(pl.len().alias("_n_same"))
    pairs = (pairs.join(n_same, on=["period", "hospital_id"], how="left")
             .with_columns(pl.col("_n_same").fill_null(0)))
    use_level = pl.col("_n_same") >= th.min_peers
    pairs = pairs.filter(~use_level | (pl.col("hospital_level") == pl.col("peer_level")))
    q = th.peer_percentile
    stats = (pairs.group_by("period", "hospital_id")
             .agg(pl.when(use_level.first()).then(pl.lit("level")).otherwise(pl.lit("all"))
                  .alias("peer_scope"),
                  pl.len().alias("n_peers"),
                  pl.col("peer_value").quantile(q, interpolation="linear").alias("peer_pct"),
                  pl.col("peer_value").median().alias("peer_median"),
                  (pl.col("peer_value") - pl.col("peer_value").median()).abs().median()
                  .alias("_mad")))
    out = values.join(stats, on=["period", "hospital_id"], how="left", maintain_order="left")
    # Between-hospital spread (robust) and the sampling noise of a rate from n cases, together.
    # The rate's floor is one case in n: a peer median of 0 must not make one case significant.
    p = pl.max_horizontal(pl.col("peer_median"), 1 / pl.col("n")).clip(0.0, 1.0)
    spread = ((MAD_SCALE * pl.col("_mad")) ** 2 + p * (1 - p) / pl.col("n")).sqrt()
    diff = pl.col("value") - pl.col("peer_median")
    z = (pl.when(spread > 0).then(diff / spread)
         .when(diff > 0).then(float("inf")).otherwise(0.0))
    return out.with_columns(z.alias("robust_z")).drop("_mad")
