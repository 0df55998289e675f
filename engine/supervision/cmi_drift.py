"""CMI 异常增长 (CMI drift), payment-rules.md §5: ΔCMI_h − ΔCMI_peers.

For each hospital and period of `flag_period` that has a previous period in the data (the
hospital's latest earlier period), growth g_h = CMI_t / CMI_prev − 1. A hospital is flagged when

- both periods have ≥ `min_hospital_cases` weighted cases,
- g_h ≥ `cmi_drift_min_growth`, and
- g_h − median(g of its peers) ≥ `cmi_drift_min_excess`: the peers' case mix did not move the
  same way (a new grouper version or weight table moves everyone's CMI, not one hospital's).

Peers are those of `peers.peer_stats` (same level, leave-one-out, all hospitals when the level
is small), over hospitals that also have a previous period. Only the peer median is used: the
binomial noise term of the robust z belongs to rates, not to growth.

With one period in the data (one year of settled results and flag_period = "year") there is no
previous period and the screen returns nothing.

Evidence: the period's cases with RW above the previous period's CMI, heaviest first — the cases
that lift the CMI, where a reviewer starts checking the coding.
"""

from __future__ import annotations

import polars as pl

from engine.supervision.flags import empty_flags, evidence_ids, hospital_flag
from engine.supervision.peers import peer_stats
from engine.supervision.thresholds import SupervisionThresholds


def cmi_growth(hospital_ind: pl.DataFrame, th: SupervisionThresholds) -> pl.DataFrame:
    """Per (period, hospital_id) with a previous period: prev_period, cmi, prev_cmi, growth,
    peer_growth (leave-one-out peer median), n_peers, peer_scope, excess = growth − peer_growth.

    `hospital_ind` are hospital indicators of one period kind (period, hospital_id,
    hospital_level, n_grouped, cmi).
    """
    h = (hospital_ind.filter(pl.col("cmi").is_not_null() & (pl.col("period") != "unknown"))
         .select("period", "hospital_id", "hospital_level", pl.col("n_grouped").alias("n"),
                 "cmi")
         .sort("hospital_id", "period"))
    h = h.with_columns(pl.col(c).shift(1).over("hospital_id").alias(f"prev_{c}")
                       for c in ("period", "n", "cmi"))
    h = h.filter(pl.col("prev_cmi").is_not_null() & (pl.col("prev_cmi") > 0)).with_columns(
        (pl.col("cmi") / pl.col("prev_cmi") - 1).alias("growth"))
    both = h.filter((pl.col("n") >= th.min_hospital_cases)
                    & (pl.col("prev_n") >= th.min_hospital_cases))
    stats = peer_stats(both.select("period", "hospital_id", "hospital_level",
                                   pl.col("n"), pl.col("growth").alias("value")), th)
    return (both.join(stats.select("period", "hospital_id", "n_peers", "peer_scope",
                                   pl.col("peer_median").alias("peer_growth")),
                      on=["period", "hospital_id"], how="left")
            .with_columns((pl.col("growth") - pl.col("peer_growth")).alias("excess")))


def cmi_drift_flags(frame: pl.DataFrame, hospital_ind: pl.DataFrame,
                    th: SupervisionThresholds) -> pl.DataFrame:
    """Hospital flags on CMI growth well above its own previous period and its peers'."""
    growth = cmi_growth(hospital_ind, th)
    found = growth.filter((pl.col("growth") >= th.cmi_drift_min_growth)
                          & (pl.col("excess") >= th.cmi_drift_min_excess))
    if found.is_empty():
        return empty_flags()
    found = found.with_columns(
        pl.col("growth").alias("value"),
        (pl.col("peer_growth") + th.cmi_drift_min_excess)
        .clip(lower_bound=th.cmi_drift_min_growth).alias("threshold"),
        pl.col("peer_growth").alias("peer_value"),
        pl.struct("prev_period", "prev_cmi", "cmi", "n", "prev_n", "n_peers", "peer_scope",
                  "peer_growth").struct.json_encode().alias("detail"))
    heavy = (frame.filter((pl.col("status") == "ok") & pl.col("weight").is_not_null())
             .with_columns(pl.col(th.flag_period).alias("period"))
             .join(found.select("period", "hospital_id", "prev_cmi"),
                   on=["period", "hospital_id"])
             .filter(pl.col("weight") > pl.col("prev_cmi")))
    ev = evidence_ids(heavy, found, th.flag_period, pl.lit(True), pl.col("weight"),
                      th.max_evidence)
    found = found.join(ev, on=["period", "hospital_id"], how="left")
    message = pl.format("CMI 由 {}（{}）升至 {}，增长 {}%；同级对照医院中位增长 {}%",
                        pl.col("prev_cmi").round(3), pl.col("prev_period"), pl.col("cmi").round(3),
                        (pl.col("growth") * 100).round(1), (pl.col("peer_growth") * 100).round(1))
    return hospital_flag(found, "cmi_drift", message)
