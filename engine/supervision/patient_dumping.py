"""推诿重症 (patient dumping), payment-rules.md §5.

Under a fixed price per group the costly patients lose money, and a hospital can shed them:
refer them on, or talk them into leaving. Claims show this as heavy cases that leave without
being treated to the end. The screen uses

    value_h = heavy cases with discharge_way in `dumping_discharge_ways`
              (2 医嘱转院, 4 非医嘱离院) / heavy grouped cases of h,

heavy = MCC severity or RW ≥ `dumping_min_weight` (§5: "high-RW (≥ 2)"), against leave-one-out
same-level peers (`flags.peer_outliers`: above P90, robust z ≥ `min_robust_z`, and at least
`dumping_margin` above the peer median).

Why this formulation and not "share of MCC / high-RW cases far below peers": a low share of
severe cases is as much the hospital's catchment, specialty or coding (an under-coding hospital
looks the same) as its admission policy, and the cases that were turned away are not in its
claims, so such a flag has no evidence to show. Heavy cases leaving by transfer or against
advice are in the claims, are an action of the hospital, and are the evidence. Comparing
within the hospital's level keeps a primary hospital's ordinary referrals upward from being
read as dumping.
"""

from __future__ import annotations

import polars as pl

from engine.supervision.flags import (
    empty_flags,
    evidence_ids,
    hospital_flag,
    peer_message,
    peer_outliers,
)
from engine.supervision.thresholds import SupervisionThresholds


def heavy_case(th: SupervisionThresholds) -> pl.Expr:
    return ((pl.col("status") == "ok")
            & ((pl.col("severity") == "mcc")
               | (pl.col("weight") >= th.dumping_min_weight).fill_null(False)))


def left_early(th: SupervisionThresholds) -> pl.Expr:
    return pl.col("discharge_way").is_in(list(th.dumping_discharge_ways)).fill_null(False)


def dumping_rates(frame: pl.DataFrame, th: SupervisionThresholds) -> pl.DataFrame:
    """Per (period of flag_period, hospital_id): hospital_level, n heavy cases, n_left, value."""
    return (frame.filter(heavy_case(th))
            .group_by(pl.col(th.flag_period).alias("period"), "hospital_id")
            .agg(pl.col("hospital_level").first(), pl.len().alias("n"),
                 left_early(th).sum().alias("n_left"),
                 left_early(th).mean().alias("value")))


def patient_dumping_flags(frame: pl.DataFrame, th: SupervisionThresholds) -> pl.DataFrame:
    found = peer_outliers(dumping_rates(frame, th), th, th.dumping_margin)
    if found.is_empty():
        return empty_flags()
    ev = evidence_ids(frame, found, th.flag_period, heavy_case(th) & left_early(th),
                      pl.col("weight"), th.max_evidence)
    found = found.join(ev, on=["period", "hospital_id"], how="left")
    return hospital_flag(found, "patient_dumping",
                         peer_message("重症（MCC 或高权重）病例转院及非医嘱离院占比", th))
