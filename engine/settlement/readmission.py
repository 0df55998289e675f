"""Readmission merge (payment-rules §2.5): same patient, same hospital, same group,
readmitted within `merge_days` of the previous discharge → the later episode gets 0 points,
unless its principal diagnosis is planned care (Z51.* chemo/radiotherapy, dialysis …).

Episodes are the run's grouped (`ok`), valid cases plus, when given, the first episodes found in
the year's earlier runs (`earlier`: patient_id, hospital_id, group_code, admit_date,
discharge_date; `engine.settlement.readmission_history`). Per (patient, hospital, group) the episodes are
ordered by admission — at the same admission date an earlier run's episode comes first, then
input order — and an episode is merged when it is admitted 0…merge_days days after the
discharge of the episode before it. Only the run's own rows get a flag; the earlier runs' rows
are never re-priced.
"""

from __future__ import annotations

import polars as pl

from engine.policy import Policy

KEYS = ("patient_id", "hospital_id", "group_code")
EPISODE_COLUMNS = (*KEYS, "admit_date", "discharge_date")
EPISODE_SCHEMA = {"patient_id": pl.String, "hospital_id": pl.String, "group_code": pl.String,
                  "admit_date": pl.Date, "discharge_date": pl.Date}


def _episodes(frame: pl.DataFrame, planned: pl.Expr, start: int) -> pl.DataFrame:
    return frame.select(
        pl.col("_row").cast(pl.Int64), *(pl.col(k).cast(pl.String) for k in KEYS),
        pl.col("admit_date").cast(pl.Date, strict=False),
        pl.col("discharge_date").cast(pl.Date, strict=False),
        planned.fill_null(False).alias("_planned"),
        (pl.col("_row").cast(pl.Int64) + start).alias("_seq"))


def merged_readmissions(frame: pl.DataFrame, policy: Policy,
                        earlier: pl.DataFrame | None = None) -> pl.Series:
    """Boolean per row of `frame` (columns _row, patient_id, hospital_id, group_code — null
    for a case that is no episode —, admit_date, discharge_date, dx0): True for an episode
    merged into the previous one. `earlier` (EPISODE_COLUMNS) are first episodes settled in
    the year's earlier runs."""
    rule = policy.readmission
    needed = ("patient_id", "admit_date", "discharge_date")
    if not rule.merge or any(c not in frame.columns for c in needed):
        return pl.Series("readmission_merged", [False] * frame.height, dtype=pl.Boolean)
    planned = pl.lit(False)
    for prefix in rule.planned_dx_prefixes:
        planned = planned | pl.col("dx0").str.starts_with(prefix.upper())
    before = earlier.height if earlier is not None else 0
    parts = [_episodes(frame, planned, before)]
    if earlier is not None and before:  # in the given order, before the run's own rows
        first = earlier.select(EPISODE_COLUMNS).with_row_index("_row")
        parts.insert(0, _episodes(first, pl.lit(False), 0)
                     .with_columns(pl.lit(None, pl.Int64).alias("_row")))
    keys = list(KEYS)
    ordered = (pl.concat(parts)
               .filter(pl.all_horizontal(pl.col(*keys, "admit_date").is_not_null()))
               .sort([*keys, "admit_date", "_seq"]))
    # Sorted by the keys, the previous row is the previous episode of the same key when the
    # keys repeat (a shift instead of a window: one pass over the sorted frame).
    same = pl.all_horizontal([pl.col(k) == pl.col(k).shift(1) for k in keys])
    gap = (pl.col("admit_date") - pl.col("discharge_date").shift(1)).dt.total_days()
    hits = (ordered.with_columns(
        (same & (gap >= 0) & (gap <= rule.merge_days) & ~pl.col("_planned"))
        .fill_null(False).alias("readmission_merged"))
        .filter(pl.col("_row").is_not_null()).select("_row", "readmission_merged"))
    out = frame.select(pl.col("_row").cast(pl.Int64)).join(hits, on="_row", how="left",
                                                            maintain_order="left")
    return out["readmission_merged"].fill_null(False)
