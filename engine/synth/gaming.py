"""Seeded gaming for supervision to find, recorded so detection can be scored.

Case level: `split_admission` (a stay split in two: the same patient re-admitted to the same
hospital with the same problem 1–15 days after discharge, not planned) and
`low_standard_admission` (LOS 1–2, no procedure, cost far below the group). Hospital level:
`high_mcc_hospital` (MCC coded far more often) and `low_cost_outlier_hospital` (many low-cost
outliers). The hospital flags are drawn in `hospitals.make_hospitals`.
"""

from __future__ import annotations

import numpy as np
import polars as pl

SEEDED_SCHEMA = {"kind": pl.String, "case_id": pl.String, "hospital_id": pl.String,
                 "related_case_id": pl.String}
KINDS = ("split_admission", "low_standard_admission", "high_mcc_hospital",
         "low_cost_outlier_hospital")


def hospital_seeds(hospitals: pl.DataFrame) -> pl.DataFrame:
    return pl.concat([
        hospitals.filter(pl.col(flag)).select(
            pl.lit(kind).alias("kind"), pl.lit(None, pl.String).alias("case_id"),
            "hospital_id", pl.lit(None, pl.String).alias("related_case_id"))
        for flag, kind in (("_high_mcc", "high_mcc_hospital"),
                           ("_low_cost", "low_cost_outlier_hospital"))])


def choose(eligible: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k distinct indexes among the true positions of `eligible` (fewer if not enough)."""
    pos = np.flatnonzero(eligible)
    k = min(k, len(pos))
    return np.sort(rng.choice(pos, size=k, replace=False)) if k else pos[:0]
