"""分解住院 (split admission) screening, payment-rules.md §5.

A case is flagged when the same patient was discharged from the same hospital at most
`split_admission_days` days before this admission and both stays share the DRG, the ADRG or the
3-character principal diagnosis (the keys of `split_match`, strongest first), unless the stay is
planned: a principal diagnosis with a planned prefix (Z51 chemo/radiotherapy, Z49 dialysis …) or
a readmission plan (首页 "出院31天内再住院计划") recorded on either stay — systems put it on the
discharge that plans the return or on the return itself.
"""

from __future__ import annotations

import polars as pl

from engine.supervision.thresholds import SupervisionThresholds

# How strongly each shared key points to one stay cut in two (score factor).
MATCH_STRENGTH = {"drg": 1.0, "adrg": 0.9, "dx3": 0.75}
KEY_COLUMN = {"drg": "group_code", "adrg": "adrg", "dx3": "dx3"}


def planned_stay(prefixes: tuple[str, ...]) -> pl.Expr:
    if not prefixes:
        return pl.lit(False)
    return pl.any_horizontal(pl.col("principal_dx").str.starts_with(p) for p in prefixes)


def split_admissions(frame: pl.DataFrame, th: SupervisionThresholds) -> pl.DataFrame:
    """One row per flagged readmission: case_id, prev_case_id, hospital_id, dept, month, year,
    gap_days, match (drg | adrg | dx3), score in (0, 1].

    score = strength(match) × (1 − gap_days / (N + 1)): a same-DRG return the next day scores
    highest.
    """
    keys = ["patient_id", "hospital_id"]
    cols = ["case_id", "group_code", "adrg", "dx3", "discharge_date", "readmit_plan_31d"]
    f = (frame.filter(pl.col("patient_id").is_not_null() & pl.col("admit_date").is_not_null()
                      & pl.col("hospital_id").is_not_null())
         .with_columns(pl.col("principal_dx").str.slice(0, 3).alias("dx3"))
         .sort([*keys, "admit_date", "discharge_date", "case_id"]))
    # Sorted by the keys: the row above is the previous stay when the keys match (a plain shift
    # and a `has_prev` mask are much faster than `shift().over(keys)` with a group per patient).
    f = f.with_columns(
        pl.all_horizontal(pl.col(k) == pl.col(k).shift(1) for k in keys).fill_null(False)
        .alias("has_prev"),
        *(pl.col(c).shift(1).alias(f"prev_{c}") for c in cols))
    f = f.with_columns((pl.col("admit_date") - pl.col("prev_discharge_date")).dt.total_days()
                       .alias("gap_days"))
    match = pl.lit(None, dtype=pl.String)
    for key in reversed(th.split_match):  # strongest key last so it wins
        col = KEY_COLUMN[key]
        same = (pl.col(col) == pl.col(f"prev_{col}")) & (pl.col(col) != "")
        if key != "dx3":
            same = same & (pl.col("status") == "ok")
        match = pl.when(same).then(pl.lit(key)).otherwise(match)
    f = f.with_columns(match.alias("match"))
    hits = f.filter(pl.col("has_prev") & pl.col("gap_days").is_between(0, th.split_admission_days)
                    & pl.col("match").is_not_null()
                    & ~planned_stay(th.planned_dx_prefixes)
                    & ~pl.col("prev_readmit_plan_31d").fill_null(False)
                    & ~pl.col("readmit_plan_31d").fill_null(False))
    strength = pl.col("match").replace_strict(MATCH_STRENGTH, return_dtype=pl.Float64)
    score = strength * (1 - pl.col("gap_days") / (th.split_admission_days + 1))
    # rechunk: polars 2.1 panics in pl.format over string columns shifted across chunks
    return hits.select("case_id", "prev_case_id", "hospital_id", "dept", "month", "year",
                       "gap_days", "match", score.alias("score")).rechunk()
