"""Readmission merge (payment-rules.md §2.5): same patient, same hospital, same group,
readmitted within `merge_days` of the previous discharge → the later episode gets 0 points,
unless its principal diagnosis is planned care (Z51.* chemo/radiotherapy, dialysis …).

Only episodes inside one settlement batch are compared; an episode whose predecessor was settled
in an earlier period is not merged here (the supervision indicators find those).
"""

from __future__ import annotations

import polars as pl

from engine.policy import Policy


def merged_readmissions(frame: pl.DataFrame, policy: Policy) -> pl.Series:
    """Boolean per row of `frame` (columns _row, patient_id, hospital_id, group_code,
    admit_date, discharge_date, dx0): True for an episode merged into the previous one."""
    rule = policy.readmission
    needed = ("patient_id", "admit_date", "discharge_date")
    if not rule.merge or any(c not in frame.columns for c in needed):
        return pl.Series("readmission_merged", [False] * frame.height, dtype=pl.Boolean)
    planned = pl.lit(False)
    for prefix in rule.planned_dx_prefixes:
        planned = planned | pl.col("dx0").str.starts_with(prefix.upper())
    keys = ["patient_id", "hospital_id", "group_code"]
    ordered = (frame.select("_row", *keys, pl.col("admit_date").cast(pl.Date, strict=False),
                            pl.col("discharge_date").cast(pl.Date, strict=False), "dx0")
               .filter(pl.all_horizontal(pl.col(*keys, "admit_date").is_not_null()))
               .sort([*keys, "admit_date", "_row"]))
    # Sorted by the keys, the previous row is the previous episode of the same key when the
    # keys repeat (a shift instead of a window: one pass over the sorted frame).
    same = pl.all_horizontal([pl.col(k) == pl.col(k).shift(1) for k in keys])
    gap = (pl.col("admit_date") - pl.col("discharge_date").shift(1)).dt.total_days()
    hits = ordered.with_columns(
        (same & (gap >= 0) & (gap <= rule.merge_days) & ~planned.fill_null(False))
        .fill_null(False).alias("readmission_merged")).select("_row", "readmission_merged")
    out = frame.select("_row").join(hits, on="_row", how="left", maintain_order="left")
    return out["readmission_merged"].fill_null(False)
