"""Published and supervision indicators per region, hospital and department, per period.

payment-rules.md §6 (医保数据工作组): groups covered, total weight, CMI = Σ RW / n, cost index
Σ_g n_{h,g}(c̄_{h,g}/C̄_g) / Σ_g n_{h,g} and time index (same with mean LOS) against the region's
means of the same period, low-risk and medium-low-risk mortality, grouping/QY/0000 rates, high and
low outlier shares, out-of-scope self-pay and patient shares; §5 additions: MCC/CC share and its
O/E against peers, split-admission and low-standard-admission rates. Periods are the discharge
month (`period_kind` month, "2025-03") and year ("2025").
"""

from __future__ import annotations

import polars as pl

from engine.supervision.thresholds import SupervisionThresholds
from engine.supervision.upcoding import SEVERE, upcoding_oe

SCOPES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("region", ()), ("hospital", ("hospital_id",)), ("dept", ("hospital_id", "dept")))
PERIOD_KINDS = ("month", "year")

INDICATOR_COLUMNS = (
    "scope", "period_kind", "period", "hospital_id", "dept", "hospital_level",
    "n_cases", "n_grouped", "grouping_rate", "qy_rate", "ungroupable_rate", "invalid_rate",
    "n_groups", "total_weight", "cmi", "cost_index", "time_index", "mean_cost", "mean_los",
    "deaths", "mortality", "low_risk_cases", "low_risk_deaths", "low_risk_mortality",
    "medium_low_risk_cases", "medium_low_risk_deaths", "medium_low_risk_mortality",
    "n_high_outlier", "high_outlier_rate", "n_low_outlier", "low_outlier_rate",
    "n_split_cases", "mcc_cc_share", "severe_observed", "severe_expected", "upcoding_oe",
    "n_split_admission", "split_admission_rate", "n_low_standard", "low_standard_rate",
    "self_pay_share", "patient_share",
)

_OK = pl.col("status") == "ok"


def _ratio(num: pl.Expr, den: pl.Expr) -> pl.Expr:
    return pl.when(den > 0).then(num.cast(pl.Float64) / den).otherwise(None)


def _efficiency(frame: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """cost_index and time_index per (period, keys…) against the region of the same period."""
    ok = frame.filter(_OK & pl.col("group_code").is_not_null())
    region = ok.group_by("period", "group_code").agg(
        pl.col("total_cost").mean().alias("_C"), pl.col("los").mean().alias("_T"))
    own = ok.group_by("period", *keys, "group_code").agg(
        pl.len().alias("_n"), pl.col("total_cost").mean().alias("_c"),
        pl.col("los").mean().alias("_t"))
    own = own.join(region, on=["period", "group_code"])
    return own.group_by("period", *keys).agg(
        _ratio((pl.col("_n") * pl.col("_c") / pl.col("_C")).sum(),
               pl.col("_n").filter(pl.col("_C") > 0).sum()).alias("cost_index"),
        _ratio((pl.col("_n") * pl.col("_t") / pl.col("_T")).sum(),
               pl.col("_n").filter(pl.col("_T") > 0).sum()).alias("time_index"))


def _aggregate(frame: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    ok = _OK
    weighted = ok & pl.col("weight").is_not_null()
    death = pl.col("discharge_way") == 5
    low = ok & (pl.col("risk_level") == 1)
    mid_low = ok & (pl.col("risk_level") == 2)
    split = ok & pl.col("severity_split")
    n = pl.len()
    n_ok = ok.sum()
    return frame.group_by("period", *keys).agg(
        pl.col("hospital_level").first().alias("hospital_level"),
        n.alias("n_cases"),
        n_ok.alias("n_grouped"),
        _ratio(n_ok, n).alias("grouping_rate"),
        _ratio((pl.col("status") == "ambiguous").sum(), n).alias("qy_rate"),
        _ratio((pl.col("status") == "ungroupable").sum(), n).alias("ungroupable_rate"),
        _ratio((pl.col("status") == "invalid").sum(), n).alias("invalid_rate"),
        pl.col("group_code").filter(ok).n_unique().alias("n_groups"),
        pl.col("weight").filter(weighted).sum().alias("total_weight"),
        pl.col("weight").filter(weighted).mean().alias("cmi"),
        pl.col("total_cost").filter(ok).mean().alias("mean_cost"),
        pl.col("los").filter(ok).mean().alias("mean_los"),
        death.sum().alias("deaths"),
        _ratio(death.sum(), n).alias("mortality"),
        low.sum().alias("low_risk_cases"),
        (low & death).sum().alias("low_risk_deaths"),
        _ratio((low & death).sum(), low.sum()).alias("low_risk_mortality"),
        mid_low.sum().alias("medium_low_risk_cases"),
        (mid_low & death).sum().alias("medium_low_risk_deaths"),
        _ratio((mid_low & death).sum(), mid_low.sum()).alias("medium_low_risk_mortality"),
        (ok & (pl.col("case_type") == "high_outlier")).sum().alias("n_high_outlier"),
        _ratio((ok & (pl.col("case_type") == "high_outlier")).sum(), n_ok)
        .alias("high_outlier_rate"),
        (ok & (pl.col("case_type") == "low_outlier")).sum().alias("n_low_outlier"),
        _ratio((ok & (pl.col("case_type") == "low_outlier")).sum(), n_ok)
        .alias("low_outlier_rate"),
        _ratio((split & pl.col("severity").is_in(SEVERE)).sum(), split.sum())
        .alias("mcc_cc_share"),
        pl.col("is_split_admission").sum().alias("n_split_admission"),
        _ratio(pl.col("is_split_admission").sum(), n).alias("split_admission_rate"),
        pl.col("is_low_standard").sum().alias("n_low_standard"),
        _ratio(pl.col("is_low_standard").sum(), n).alias("low_standard_rate"),
        _ratio(pl.col("self_pay_out_of_scope").sum(), pl.col("total_cost").sum())
        .alias("self_pay_share"),
        _ratio(pl.col("patient_paid").sum(), pl.col("total_cost").sum()).alias("patient_share"),
    )


def compute_indicators(frame: pl.DataFrame, risk: pl.DataFrame, split_ids: pl.Series,
                       low_standard_ids: pl.Series, th: SupervisionThresholds) -> pl.DataFrame:
    """All indicators (`INDICATOR_COLUMNS`), one row per scope × period × hospital × dept.

    `risk` is `mortality.risk_levels(frame)`; `split_ids` / `low_standard_ids` are the case ids
    flagged by the case screens.
    """
    f = frame.join(risk.select("group_code", "risk_level"), on="group_code", how="left",
                   maintain_order="left").with_columns(
        pl.col("case_id").is_in(split_ids.implode()).alias("is_split_admission"),
        pl.col("case_id").is_in(low_standard_ids.implode()).alias("is_low_standard"))
    parts = []
    for kind in PERIOD_KINDS:
        fp = f.with_columns(pl.col(kind).alias("period"))
        for scope, key_t in SCOPES:
            keys = list(key_t)
            agg = _aggregate(fp, keys).join(_efficiency(fp, keys), on=["period", *keys],
                                            how="left")
            if keys:
                oe = upcoding_oe(f, kind, keys, th).drop("peer_scope")
            else:
                oe = (fp.filter(_OK & pl.col("severity_split")).group_by("period")
                      .agg(pl.len().alias("n_split_cases"),
                           pl.col("severity").is_in(SEVERE).sum().cast(pl.Float64)
                           .alias("severe_observed"))
                      .with_columns(pl.col("severe_observed").alias("severe_expected"),
                                    pl.lit(1.0).alias("upcoding_oe")))
            agg = agg.join(oe, on=["period", *keys], how="left")
            if scope == "region":
                agg = agg.with_columns(pl.lit(None, dtype=pl.String).alias("hospital_id"),
                                       pl.lit(None, dtype=pl.String).alias("hospital_level"))
            if scope != "dept":
                agg = agg.with_columns(pl.lit(None, dtype=pl.String).alias("dept"))
            parts.append(agg.with_columns(pl.lit(scope).alias("scope"),
                                          pl.lit(kind).alias("period_kind"))
                         .select(_cast_columns()))
    return pl.concat(parts).sort("scope", "period_kind", "period", "hospital_id", "dept",
                                 nulls_last=False)


_INT_COLUMNS = ("n_cases", "n_grouped", "n_groups", "deaths", "low_risk_cases", "low_risk_deaths",
                "medium_low_risk_cases", "medium_low_risk_deaths", "n_high_outlier",
                "n_low_outlier", "n_split_cases", "n_split_admission", "n_low_standard")
_STR_COLUMNS = ("scope", "period_kind", "period", "hospital_id", "dept", "hospital_level")


def _cast_columns() -> list[pl.Expr]:
    out = []
    for col in INDICATOR_COLUMNS:
        dtype = (pl.String if col in _STR_COLUMNS
                 else pl.Int64 if col in _INT_COLUMNS else pl.Float64)
        out.append(pl.col(col).cast(dtype))
    return out
