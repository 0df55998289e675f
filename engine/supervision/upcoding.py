"""编码高套 (upcoding) screening: MCC/CC share observed against expected from same-level peers.

payment-rules.md §5: O = Σ_a n_{h,a,MCC/CC}; E = Σ_a n_{h,a} × peer_share_a over the ADRGs split
by severity; a hospital is flagged when O/E > `upcoding_oe`, E ≥ `upcoding_min_expected` and
(O − E)/√E ≥ `upcoding_min_z` (the excess is beyond Poisson chance).
peer_share_a is the MCC/CC share of ADRG a among the hospital's peers (same level when the level
has `min_peers` other hospitals, else all other hospitals; never the hospital itself).
"""

from __future__ import annotations

import polars as pl

from engine.supervision.thresholds import SupervisionThresholds

SEVERE = ("mcc", "cc")


def adrg_counts(frame: pl.DataFrame, period: str, keys: list[str]) -> pl.DataFrame:
    """Per (period, keys…, hospital_level, adrg): n and n_severe over severity-split ADRGs."""
    return (frame.filter((pl.col("status") == "ok") & pl.col("severity_split"))
            .with_columns(pl.col(period).alias("period"))
            .group_by("period", *keys, "hospital_level", "adrg")
            .agg(pl.len().alias("n"), pl.col("severity").is_in(SEVERE).sum().alias("n_severe")))


def adrg_expected(frame: pl.DataFrame, period: str, keys: list[str],
                  th: SupervisionThresholds) -> pl.DataFrame:
    """Per (period, keys…, adrg): n, n_severe, peer_share, expected = n × peer_share, excess."""
    own = adrg_counts(frame, period, keys)
    by_h = adrg_counts(frame, period, ["hospital_id"])
    # Peers per hospital: level when the level has min_peers other hospitals in the period.
    hosp = by_h.select("period", "hospital_id", "hospital_level").unique()
    n_level = hosp.group_by("period", "hospital_level").agg(pl.len().alias("_n_level"))
    scope = (hosp.join(n_level, on=["period", "hospital_level"])
             .with_columns(pl.when(pl.col("_n_level") - 1 >= th.min_peers).then(pl.lit("level"))
                           .otherwise(pl.lit("all")).alias("peer_scope"))
             .select("period", "hospital_id", "peer_scope"))
    lvl = by_h.group_by("period", "hospital_level", "adrg").agg(
        pl.col("n").sum().alias("_lvl_n"), pl.col("n_severe").sum().alias("_lvl_s"))
    reg = by_h.group_by("period", "adrg").agg(
        pl.col("n").sum().alias("_all_n"), pl.col("n_severe").sum().alias("_all_s"))
    mine = by_h.select("period", "hospital_id", "adrg", pl.col("n").alias("_own_n"),
                       pl.col("n_severe").alias("_own_s"))
    peer = (mine.join(scope, on=["period", "hospital_id"])
            .join(by_h.select("period", "hospital_id", "hospital_level").unique(),
                  on=["period", "hospital_id"])
            .join(lvl, on=["period", "hospital_level", "adrg"])
            .join(reg, on=["period", "adrg"]))
    level = pl.col("peer_scope") == "level"
    peer_n = pl.when(level).then(pl.col("_lvl_n")).otherwise(pl.col("_all_n")) - pl.col("_own_n")
    peer_s = pl.when(level).then(pl.col("_lvl_s")).otherwise(pl.col("_all_s")) - pl.col("_own_s")
    peer = peer.select("period", "hospital_id", "adrg", "peer_scope",
                       pl.when(peer_n > 0).then(peer_s / peer_n).otherwise(None)
                       .alias("peer_share"))
    out = own.join(peer, on=["period", "hospital_id", "adrg"], how="inner")
    out = out.filter(pl.col("peer_share").is_not_null())
    return out.with_columns((pl.col("n") * pl.col("peer_share")).alias("expected"),
                            (pl.col("n_severe") - pl.col("n") * pl.col("peer_share"))
                            .alias("excess"))


def upcoding_oe(frame: pl.DataFrame, period: str, keys: list[str],
                th: SupervisionThresholds) -> pl.DataFrame:
    """Per (period, keys…): severe_observed, severe_expected, upcoding_oe, n_split_cases."""
    per = adrg_expected(frame, period, keys, th)
    return (per.group_by("period", *keys)
            .agg(pl.col("n").sum().alias("n_split_cases"),
                 pl.col("n_severe").sum().cast(pl.Float64).alias("severe_observed"),
                 pl.col("expected").sum().alias("severe_expected"),
                 pl.col("peer_scope").first().alias("peer_scope"))
            .with_columns(pl.when(pl.col("severe_expected") > 0)
                          .then(pl.col("severe_observed") / pl.col("severe_expected"))
                          .otherwise(None).alias("upcoding_oe")))
