"""转院再入 (a stay split across hospitals) screening, payment-rules.md §5.

The split-admission screen looks inside one hospital; a stay can also be cut in two across
hospitals (two hospitals of one group, or a hospital that discharges early and a partner that
readmits). A case is flagged when the same patient was discharged from another hospital at most
`transfer_readmission_days` days before this admission and both stays share the DRG, the ADRG or
the 3-character principal diagnosis (`split_match`, strongest first), unless

- the return is planned: a principal diagnosis with a `planned_dx_prefixes` prefix, or
  `readmit_plan_31d` on either stay (as for split admissions);
- the first stay ended in a documented referral: its `discharge_way` is in
  `transfer_discharge_ways` (2 医嘱转院, 3 转社区/乡镇卫生院, contracts §1) — a transfer that
  was ordered and recorded is the referral system working, not a hidden split.

The previous stay is the patient's latest admission before this one in any hospital; when that
is in the same hospital it is the split-admission screen's business, not this one's.
"""

from __future__ import annotations

import polars as pl

from engine.supervision.flags import MATCH_NAMES, finish_flags
from engine.supervision.split_admission import KEY_COLUMN, MATCH_STRENGTH, planned_stay
from engine.supervision.thresholds import SupervisionThresholds


def transfer_readmissions(frame: pl.DataFrame, th: SupervisionThresholds) -> pl.DataFrame:
    """One row per flagged return stay: case_id, prev_case_id, prev_hospital_id, hospital_id,
    dept, month, year, gap_days, match (drg | adrg | dx3), score in (0, 1].

    score = strength(match) × (1 − gap_days / (N + 1)), as for split admissions.
    """
    cols = ["case_id", "hospital_id", "group_code", "adrg", "dx3", "discharge_date",
            "discharge_way", "readmit_plan_31d", "status"]
    f = (frame.filter(pl.col("patient_id").is_not_null() & pl.col("admit_date").is_not_null()
                      & pl.col("hospital_id").is_not_null())
         .with_columns(pl.col("principal_dx").str.slice(0, 3).alias("dx3"))
         .sort(["patient_id", "admit_date", "discharge_date", "case_id"]))
    # Sorted by patient: the row above is the previous stay when it is the same patient (a
    # plain shift and a mask; `shift().over(patient)` is ~50× slower with a group per patient).
    f = f.with_columns(
        (pl.col("patient_id") == pl.col("patient_id").shift(1)).fill_null(False)
        .alias("has_prev"),
        *(pl.col(c).shift(1).alias(f"prev_{c}") for c in cols))
    f = f.with_columns(
        (pl.col("admit_date") - pl.col("prev_discharge_date")).dt.total_days().alias("gap_days"))
    match = pl.lit(None, dtype=pl.String)
    for key in reversed(th.split_match):  # strongest key last so it wins
        col = KEY_COLUMN[key]
        same = (pl.col(col) == pl.col(f"prev_{col}")) & (pl.col(col) != "")
        if key != "dx3":
            same = same & (pl.col("status") == "ok") & (pl.col("prev_status") == "ok")
        match = pl.when(same).then(pl.lit(key)).otherwise(match)
    referred = pl.col("prev_discharge_way").is_in(list(th.transfer_discharge_ways))
    hits = f.with_columns(match.alias("match")).filter(
        pl.col("has_prev") & (pl.col("hospital_id") != pl.col("prev_hospital_id"))
        & pl.col("gap_days").is_between(0, th.transfer_readmission_days)
        & pl.col("match").is_not_null()
        & ~referred.fill_null(False)
        & ~planned_stay(th.planned_dx_prefixes)
        & ~pl.col("prev_readmit_plan_31d").fill_null(False)
        & ~pl.col("readmit_plan_31d").fill_null(False))
    strength = pl.col("match").replace_strict(MATCH_STRENGTH, return_dtype=pl.Float64)
    score = strength * (1 - pl.col("gap_days") / (th.transfer_readmission_days + 1))
    return hits.select("case_id", "prev_case_id", "prev_hospital_id", "hospital_id", "dept",
                       "month", "year", "gap_days", "match", score.clip(0.01, 1.0).alias("score")
                       ).rechunk()  # polars 2.1 panics in pl.format over shifted chunked strings


def transfer_readmission_flags(hits: pl.DataFrame, th: SupervisionThresholds) -> pl.DataFrame:
    """Case flags on the return stay; evidence [previous stay, this stay]."""
    match_zh = pl.col("match").replace_strict(MATCH_NAMES, return_dtype=pl.String)
    return finish_flags(hits.with_columns(
        pl.format("transfer_readmission:{}", pl.col("case_id")).alias("flag_id"),
        pl.lit("transfer_readmission").alias("kind"), pl.lit("case").alias("level"),
        pl.col("month").alias("period"),
        pl.col("gap_days").cast(pl.Float64).alias("value"),
        pl.lit(float(th.transfer_readmission_days)).alias("threshold"),
        pl.lit(None, dtype=pl.Float64).alias("peer_value"),
        pl.lit(2).alias("n_evidence"),
        pl.concat_list("prev_case_id", "case_id").alias("evidence_case_ids"),
        pl.struct("prev_case_id", "prev_hospital_id", "gap_days", "match")
        .struct.json_encode().alias("detail"),
        pl.format("同一患者从医院 {} 出院 {} 天后入住本院，{}相同，前次非转院离院（前次病例 {}）",
                  pl.col("prev_hospital_id"), pl.col("gap_days"), match_zh,
                  pl.col("prev_case_id")).alias("message")))
