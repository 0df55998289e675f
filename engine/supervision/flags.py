"""Supervision flags: every flag names its kind, its evidence (case ids) and a score in (0, 1].

Case flags (one per case): `split_admission` (分解住院), `low_standard_admission` (低标入院),
`low_risk_death` (低风险组死亡). Hospital flags (one per hospital and flag period), each against
leave-one-out peers (`engine.supervision.peers`): `upcoding` (编码高套, MCC/CC O/E),
`under_service` (服务不足, low-outlier share), `over_treatment` (医疗过度, high-outlier share),
`cost_shifting` (费用转嫁, out-of-scope self-pay share). Hospital scores are 1 − threshold/value:
0 at the threshold, towards 1 as the value runs away from it.

Screens with their own modules build their flags there with the helpers below:
`transfer_readmission` (转院再入), `bed_blocking` (挂床住院, case and hospital), `cmi_drift`
(CMI 异常增长), `patient_dumping` (推诿重症).
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from engine.supervision.peers import peer_stats
from engine.supervision.thresholds import SupervisionThresholds
from engine.supervision.upcoding import SEVERE, adrg_expected, upcoding_oe

FLAG_COLUMNS = ("flag_id", "kind", "level", "hospital_id", "dept", "period", "case_id", "score",
                "value", "threshold", "peer_value", "n_evidence", "evidence_case_ids", "detail",
                "message")
FLAG_SCHEMA: dict[str, pl.DataType | type[pl.DataType]] = {
    "flag_id": pl.String, "kind": pl.String, "level": pl.String, "hospital_id": pl.String,
    "dept": pl.String, "period": pl.String, "case_id": pl.String, "score": pl.Float64,
    "value": pl.Float64, "threshold": pl.Float64, "peer_value": pl.Float64,
    "n_evidence": pl.Int64, "evidence_case_ids": pl.List(pl.String), "detail": pl.String,
    "message": pl.String,
}
KIND_NAMES = {
    "split_admission": "分解住院", "low_standard_admission": "低标入院",
    "low_risk_death": "低风险组死亡", "upcoding": "编码高套", "under_service": "服务不足",
    "over_treatment": "医疗过度", "cost_shifting": "费用转嫁",
    "transfer_readmission": "转院再入", "bed_blocking": "挂床住院", "cmi_drift": "CMI 异常增长",
    "patient_dumping": "推诿重症",
}
MATCH_NAMES = {"drg": "DRG 组", "adrg": "ADRG", "dx3": "主要诊断类目"}


@dataclass(frozen=True)
class RateFlag:
    """A hospital flag on one indicator compared with peers; evidence are the cases behind it."""

    kind: str
    indicator: str
    label: str  # Chinese name of the indicator, for the message
    evidence: pl.Expr  # which of the hospital's cases are evidence
    rank: pl.Expr  # evidence order, strongest first (sorted descending)
    margin_field: str | None = None  # threshold field: value − peer median must exceed it


RATE_FLAGS = (
    RateFlag("under_service", "low_outlier_rate", "费用超低病例占比",
             (pl.col("status") == "ok") & (pl.col("case_type") == "low_outlier"),
             -pl.col("cost_ratio")),
    RateFlag("over_treatment", "high_outlier_rate", "费用超高病例占比",
             (pl.col("status") == "ok") & (pl.col("case_type") == "high_outlier"),
             pl.col("cost_ratio")),
    RateFlag("cost_shifting", "self_pay_share", "全自费费用占比",
             pl.col("self_pay_out_of_scope") > 0,
             pl.col("self_pay_out_of_scope") / pl.col("total_cost"),
             margin_field="cost_shift_margin"),
)


def empty_flags() -> pl.DataFrame:
    return pl.DataFrame(schema=FLAG_SCHEMA)


def finish_flags(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.select(pl.col(c).cast(t) for c, t in FLAG_SCHEMA.items())


def split_admission_flags(hits: pl.DataFrame, th: SupervisionThresholds) -> pl.DataFrame:
    match_zh = pl.col("match").replace_strict(MATCH_NAMES, return_dtype=pl.String)
    return finish_flags(hits.with_columns(
        pl.format("split_admission:{}", pl.col("case_id")).alias("flag_id"),
        pl.lit("split_admission").alias("kind"), pl.lit("case").alias("level"),
        pl.col("month").alias("period"),
        pl.col("gap_days").cast(pl.Float64).alias("value"),
        pl.lit(float(th.split_admission_days)).alias("threshold"),
        pl.lit(None, dtype=pl.Float64).alias("peer_value"),
        pl.lit(2).alias("n_evidence"),
        pl.concat_list("prev_case_id", "case_id").alias("evidence_case_ids"),
        pl.struct("prev_case_id", "gap_days", "match").struct.json_encode().alias("detail"),
        pl.format("同一患者出院 {} 天后再次入住同一医院，{}相同（前次病例 {}）",
                  pl.col("gap_days"), match_zh, pl.col("prev_case_id")).alias("message")))


def low_standard_flags(hits: pl.DataFrame, th: SupervisionThresholds) -> pl.DataFrame:
    pct = (pl.col("cost_ratio") * 100).round(0).cast(pl.Int64)
    message = (pl.when(pl.col("reason") == "short_cheap")
               .then(pl.format("住院 {} 天，费用为组均费用的 {}%，无手术室操作", pl.col("los"), pct))
               .otherwise(pl.lit("主要诊断属于可门诊治疗病种")))
    return finish_flags(hits.with_columns(
        pl.format("low_standard_admission:{}", pl.col("case_id")).alias("flag_id"),
        pl.lit("low_standard_admission").alias("kind"), pl.lit("case").alias("level"),
        pl.col("month").alias("period"),
        pl.col("cost_ratio").alias("value"),
        pl.lit(th.low_standard_max_ratio).alias("threshold"),
        pl.lit(None, dtype=pl.Float64).alias("peer_value"),
        pl.lit(1).alias("n_evidence"),
        pl.concat_list("case_id").alias("evidence_case_ids"),
        pl.struct("los", "cost_ratio", "reason").struct.json_encode().alias("detail"),
        message.alias("message")))


def low_risk_death_flags(frame: pl.DataFrame, risk: pl.DataFrame,
                         th: SupervisionThresholds) -> pl.DataFrame:
    deaths = (frame.filter((pl.col("status") == "ok") & (pl.col("discharge_way") == 5))
              .join(risk.select("group_code", "risk_level", "mortality"), on="group_code")
              .filter(pl.col("risk_level").is_in(list(th.flag_death_risk_levels))))
    return finish_flags(deaths.with_columns(
        pl.format("low_risk_death:{}", pl.col("case_id")).alias("flag_id"),
        pl.lit("low_risk_death").alias("kind"), pl.lit("case").alias("level"),
        pl.col("month").alias("period"),
        (1 - pl.col("mortality")).alias("score"),
        pl.col("mortality").alias("value"),
        pl.lit(None, dtype=pl.Float64).alias("threshold"),
        pl.lit(None, dtype=pl.Float64).alias("peer_value"),
        pl.lit(1).alias("n_evidence"),
        pl.concat_list("case_id").alias("evidence_case_ids"),
        pl.struct("group_code", "risk_level", "mortality").struct.json_encode().alias("detail"),
        pl.format("低风险组 {} 病例死亡（该组区域死亡率 {}‰）", pl.col("group_code"),
                  (pl.col("mortality") * 1000).round(2)).alias("message")))


def evidence_ids(frame: pl.DataFrame, hospitals: pl.DataFrame, period_col: str,
                 where: pl.Expr, rank: pl.Expr, limit: int) -> pl.DataFrame:
    """Per (period, hospital_id): n_evidence and the `limit` strongest case ids."""
    cases = (frame.filter(where).with_columns(pl.col(period_col).alias("period"), rank.alias("_r"))
             .join(hospitals.select("period", "hospital_id"), on=["period", "hospital_id"]))
    return (cases.sort("_r", descending=True, nulls_last=True)
            .group_by("period", "hospital_id")
            .agg(pl.len().alias("n_evidence"),
                 pl.col("case_id").head(limit).alias("evidence_case_ids")))


def hospital_flag(found: pl.DataFrame, kind: str, message: pl.Expr) -> pl.DataFrame:
    score = pl.when(pl.col("value") > 0).then(1 - pl.col("threshold") / pl.col("value"))
    return finish_flags(found.with_columns(
        pl.format("{}:{}:{}", pl.lit(kind), pl.col("hospital_id"), pl.col("period"))
        .alias("flag_id"),
        pl.lit(kind).alias("kind"), pl.lit("hospital").alias("level"),
        pl.lit(None, dtype=pl.String).alias("dept"),
        pl.lit(None, dtype=pl.String).alias("case_id"),
        score.clip(0.01, 1.0).alias("score"),
        pl.col("n_evidence").fill_null(0),
        pl.col("evidence_case_ids").fill_null([]),
        message.alias("message")))


def peer_outliers(values: pl.DataFrame, th: SupervisionThresholds,
                  margin: float = 0.0) -> pl.DataFrame:
    """Hospitals whose rate is high against leave-one-out peers (`peers.peer_stats`).

    `values`: period, hospital_id, hospital_level, n, value. Kept: n ≥ min_hospital_cases,
    value > peer P(peer_percentile), robust z ≥ min_robust_z and value − peer median > margin;
    adds threshold (the larger of P90 and median + margin), peer_value (median) and detail.
    """
    stats = peer_stats(values, th)
    found = stats.filter((pl.col("n") >= th.min_hospital_cases)
                         & (pl.col("value") > pl.col("peer_pct"))
                         & (pl.col("robust_z") >= th.min_robust_z)
                         & (pl.col("value") - pl.col("peer_median") > margin))
    return found.with_columns(
        pl.max_horizontal("peer_pct", pl.col("peer_median") + margin).alias("threshold"),
        pl.col("peer_median").alias("peer_value"),
        pl.struct("n", "n_peers", "peer_scope", "peer_pct", "peer_median", "robust_z")
        .struct.json_encode().alias("detail"))


def peer_message(label: str, th: SupervisionThresholds) -> pl.Expr:
    """「<label>为 x%，同级对照医院 P90 为 y%，中位数 z%」 for a `peer_outliers` row."""
    return pl.format(
        "{}为 {}%，同级对照医院 P{} 为 {}%，中位数 {}%", pl.lit(label),
        (pl.col("value") * 100).round(2), pl.lit(round(th.peer_percentile * 100)),
        (pl.col("peer_pct") * 100).round(2), (pl.col("peer_median") * 100).round(2))


def rate_flags(frame: pl.DataFrame, hospital_ind: pl.DataFrame,
               th: SupervisionThresholds) -> pl.DataFrame:
    """Hospital flags of `RATE_FLAGS` from hospital indicators of the flag period."""
    out = []
    for spec in RATE_FLAGS:
        values = hospital_ind.select("period", "hospital_id", "hospital_level",
                                     pl.col("n_cases").alias("n"),
                                     pl.col(spec.indicator).alias("value"))
        margin = getattr(th, spec.margin_field) if spec.margin_field else 0.0
        found = peer_outliers(values, th, margin)
        if found.is_empty():
            continue
        ev = evidence_ids(frame, found, th.flag_period, spec.evidence, spec.rank,
                          th.max_evidence)
        found = found.join(ev, on=["period", "hospital_id"], how="left")
        out.append(hospital_flag(found, spec.kind, peer_message(spec.label, th)))
    return pl.concat(out) if out else empty_flags()


def upcoding_flags(frame: pl.DataFrame, th: SupervisionThresholds) -> pl.DataFrame:
    """Hospitals whose MCC/CC O/E exceeds `upcoding_oe` with enough expected cases."""
    period = th.flag_period
    oe = upcoding_oe(frame, period, ["hospital_id"], th)
    z = ((pl.col("severe_observed") - pl.col("severe_expected"))
         / pl.col("severe_expected").sqrt())
    found = oe.filter((pl.col("upcoding_oe") > th.upcoding_oe)
                      & (pl.col("severe_expected") >= th.upcoding_min_expected)
                      & (z >= th.upcoding_min_z))
    if found.is_empty():
        return empty_flags()
    per = adrg_expected(frame, period, ["hospital_id"], th).filter(pl.col("excess") > 0)
    cases = (frame.filter((pl.col("status") == "ok") & pl.col("severity").is_in(SEVERE))
             .with_columns(pl.col(period).alias("period"))
             .join(per.select("period", "hospital_id", "adrg", "excess"),
                   on=["period", "hospital_id", "adrg"])
             .join(found.select("period", "hospital_id"), on=["period", "hospital_id"]))
    ev = (cases.sort(["excess", "weight"], descending=True, nulls_last=True)
          .group_by("period", "hospital_id")
          .agg(pl.len().alias("n_evidence"),
               pl.col("case_id").head(th.max_evidence).alias("evidence_case_ids")))
    found = found.join(ev, on=["period", "hospital_id"], how="left").with_columns(
        pl.col("upcoding_oe").alias("value"), pl.lit(th.upcoding_oe).alias("threshold"),
        pl.lit(1.0).alias("peer_value"),
        pl.struct("n_split_cases", "severe_observed", "severe_expected", "peer_scope")
        .struct.json_encode().alias("detail"))
    message = pl.format("MCC/CC 病例 {} 例，按同级医院构成期望 {} 例，O/E = {}",
                        pl.col("severe_observed").cast(pl.Int64),
                        pl.col("severe_expected").round(1), pl.col("upcoding_oe").round(2))
    return hospital_flag(found, "upcoding", message)
