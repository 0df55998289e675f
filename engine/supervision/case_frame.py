"""The supervision case frame: one row per case with everything the screens read.

Built either from raw inputs (a case table of contracts §1, the grouping output of
`grouper.group_drg` and a DRG weight table) or from settled `case_results` joined to their cases.
Columns (`CASE_COLUMNS`): identity (case_id, patient_id, hospital_id, hospital_level, dept),
time (admit_date, discharge_date, month, year, los), outcome (discharge_way, readmit_plan_31d),
coding (principal_dx, n_secondary_dx, n_procedures, has_or_procedure), grouping (status, group_code, adrg, severity,
severity_split, weight), cost (total_cost, self_pay_out_of_scope, patient_paid as floats: they only
enter ratios here), cost_ratio r and case_type (normal | high_outlier | low_outlier | other).
"""

from __future__ import annotations

import polars as pl

from engine.supervision.thresholds import DEFAULT_THRESHOLDS, SupervisionThresholds
from grouper import Ruleset, load_ruleset

CASE_COLUMNS = (
    "case_id", "patient_id", "hospital_id", "hospital_level", "dept", "admit_date",
    "discharge_date", "month", "year", "los", "discharge_way", "readmit_plan_31d", "principal_dx",
    "n_secondary_dx", "n_procedures", "has_or_procedure", "status", "group_code", "adrg", "severity", "severity_split", "weight",
    "total_cost", "self_pay_out_of_scope", "patient_paid", "cost_ratio", "case_type",
)
OUTLIER_TYPES = ("high_outlier", "low_outlier")
DEATH = 5


def severity_table(ruleset: Ruleset) -> pl.DataFrame:
    """drg → severity (`mcc`, `cc`, `none`) and whether its ADRG is split by severity.

    Read from the ruleset's DRG conditions: a condition naming `mcc` (alone) is the MCC tier,
    one naming `cc` (`cc`, `cc_or_mcc`) the CC tier, the rest of a split ADRG has none.
    """
    drg = ruleset.tables["drg"].select("drg", "adrg", pl.col("condition").fill_null(""))
    parts = pl.col("condition").str.split("+")
    sev = (pl.when(parts.list.contains("mcc")).then(pl.lit("mcc"))
           .when(parts.list.contains("cc") | parts.list.contains("cc_or_mcc")).then(pl.lit("cc"))
           .otherwise(pl.lit("none")))
    drg = drg.with_columns(sev.alias("severity"))
    split = drg.group_by("adrg").agg((pl.col("severity") != "none").any().alias("severity_split"))
    return drg.join(split, on="adrg").select("drg", "severity", "severity_split")


def _date(frame: pl.DataFrame, col: str) -> pl.Expr:
    if col not in frame.columns:
        return pl.lit(None, dtype=pl.Date).alias(col)
    dtype = frame.schema[col]
    if dtype == pl.String:
        return pl.col(col).str.to_date(strict=False).alias(col)
    if dtype == pl.Datetime:
        return pl.col(col).dt.date().alias(col)
    return pl.col(col).cast(pl.Date, strict=False).alias(col)


def _opt(frame: pl.DataFrame, col: str, dtype: pl.DataType | type[pl.DataType]) -> pl.Expr:
    if col not in frame.columns:
        return pl.lit(None, dtype=dtype).alias(col)
    return pl.col(col).cast(dtype, strict=False).alias(col)


def _codes(frame: pl.DataFrame, col: str) -> pl.Expr:
    if col not in frame.columns:
        return pl.lit([], dtype=pl.List(pl.String)).alias(col)
    if frame.schema[col] == pl.String:
        return pl.col(col).fill_null("").str.split("|").alias(col)
    return pl.col(col).cast(pl.List(pl.String)).fill_null([]).alias(col)


def _level_aliases() -> dict[str, str]:
    # Imported here: engine.policy imports this package for its [supervision] section.
    from engine.policy import LEVEL_ALIASES
    return LEVEL_ALIASES


def _levels(hospitals: pl.DataFrame | None) -> pl.DataFrame | None:
    if hospitals is None:
        return None
    col = "level" if "level" in hospitals.columns else "hospital_level"
    return hospitals.select(
        pl.col("hospital_id").cast(pl.String),
        pl.col(col).cast(pl.String).replace(_level_aliases()).alias("_level"))


def with_cost_ratio(frame: pl.DataFrame, thresholds: SupervisionThresholds) -> pl.DataFrame:
    """Add r (`cost_ratio`) = total cost / expected mean cost of the case's group.

    `ratio_basis = "region"`: the region's mean cost of the group. `"level"`: the group's mean
    among hospitals of the case's level when the level has `min_group_cases_for_level_mean`
    cases of the group, else the region's group mean × the level's cost factor (Σ cost / Σ region
    group mean over the level's cases: "cost ratio of level L on the same groups", §3.5).
    """
    grouped = (pl.col("status") == "ok") & pl.col("group_code").is_not_null()
    f = frame.with_columns(
        pl.col("total_cost").filter(grouped).mean().over("group_code").alias("_region"))
    if thresholds.ratio_basis == "region":
        f = f.with_columns(pl.col("_region").alias("_expected"))
    else:
        level_keys = ["group_code", "hospital_level"]
        f = f.with_columns(
            pl.col("total_cost").filter(grouped).count().over(level_keys).alias("_n_level"),
            pl.col("total_cost").filter(grouped).mean().over(level_keys).alias("_level"),
            (pl.col("total_cost").filter(grouped).sum().over("hospital_level")
             / pl.col("_region").filter(grouped & pl.col("total_cost").is_not_null()).sum()
             .over("hospital_level")).alias("_factor"))
        f = f.with_columns(
            pl.when(pl.col("_n_level") >= thresholds.min_group_cases_for_level_mean)
            .then(pl.col("_level")).otherwise(pl.col("_region") * pl.col("_factor"))
            .alias("_expected"))
    ratio = (pl.when(grouped & (pl.col("_expected") > 0))
             .then(pl.col("total_cost") / pl.col("_expected")).otherwise(None))
    return f.with_columns(ratio.alias("cost_ratio")).drop(
        [c for c in ("_region", "_n_level", "_level", "_factor", "_expected") if c in f.columns])


def supervision_frame(cases: pl.DataFrame, grouped: pl.DataFrame, weights: pl.DataFrame | None,
                      *, hospitals: pl.DataFrame | None = None,
                      ruleset: str | Ruleset = "chs_drg_11",
                      thresholds: SupervisionThresholds = DEFAULT_THRESHOLDS) -> pl.DataFrame:
    """The case frame from a case table, its DRG grouping (same row order) and weights (drg, rw).

    `hospitals` (hospital_id, level) gives each hospital's level (三级/二级/一级/基层 or 3/2/1/
    community); without it a `hospital_level` column of the cases is used. A `case_type` column
    (settled case type) is kept; otherwise the type follows from r and k_low/k_high.

    >>> supervision_frame(cases, group_drg(cases), weights)  # doctest: +SKIP
    """
    rs = load_ruleset(ruleset) if isinstance(ruleset, str) else ruleset
    if grouped.height != cases.height:
        raise ValueError(f"grouping has {grouped.height} rows for {cases.height} cases")
    g = grouped.select(
        pl.col("status"),
        pl.col("drg").alias("group_code"),
        pl.col("adrg"),
    )
    cost = pl.Float64
    base = cases.select(
        pl.col("case_id").cast(pl.String),
        _opt(cases, "patient_id", pl.String),
        _opt(cases, "hospital_id", pl.String),
        _opt(cases, "hospital_level", pl.String),
        _opt(cases, "dept", pl.String),
        _date(cases, "admit_date"), _date(cases, "discharge_date"),
        _opt(cases, "los", pl.Int64), _opt(cases, "discharge_way", pl.Int64),
        _opt(cases, "readmit_plan_31d", pl.Boolean),
        _codes(cases, "diagnoses"), _codes(cases, "procedures"),
        _opt(cases, "total_cost", cost), _opt(cases, "self_pay_out_of_scope", cost),
        _opt(cases, "patient_paid", cost),
        *([pl.col("case_type").cast(pl.String)] if "case_type" in cases.columns else []),
    ).hstack(g)
    levels = _levels(hospitals)
    if levels is not None:
        base = (base.join(levels, on="hospital_id", how="left", maintain_order="left")
                .with_columns(pl.coalesce("_level", "hospital_level").alias("hospital_level"))
                .drop("_level"))
    base = base.with_columns(pl.col("hospital_level").replace(_level_aliases()).fill_null("unknown"))
    or_px = rs.tables["or_procedures"]["px_code"].unique()
    base = base.with_columns(
        pl.col("diagnoses").list.first().fill_null("").alias("principal_dx"),
        (pl.col("diagnoses").list.len() - 1).clip(lower_bound=0).alias("n_secondary_dx"),
        pl.col("procedures").list.len().alias("n_procedures"),
        pl.col("procedures").list.eval(pl.element().is_in(or_px.implode())).list.any()
        .fill_null(False).alias("has_or_procedure"),
        pl.col("los").fill_null(
            (pl.col("discharge_date") - pl.col("admit_date")).dt.total_days().clip(lower_bound=1)),
    ).drop("diagnoses", "procedures")
    if weights is not None:
        w = weights.select(pl.col("drg").alias("group_code"), pl.col("rw").cast(pl.Float64)
                           .alias("weight")).unique("group_code")
        base = base.join(w, on="group_code", how="left", maintain_order="left")
    else:
        base = base.with_columns(pl.lit(None, dtype=pl.Float64).alias("weight"))
    sev = severity_table(rs).rename({"drg": "group_code"})
    base = base.join(sev, on="group_code", how="left", maintain_order="left")
    return finish_frame(base, thresholds)


def finish_frame(base: pl.DataFrame, thresholds: SupervisionThresholds) -> pl.DataFrame:
    """Add month/year, r and case_type to a frame that has the identity, grouping and costs."""
    base = base.with_columns(
        pl.col("severity_split").fill_null(False),
        pl.col("readmit_plan_31d").fill_null(False),
        pl.col("discharge_date").dt.strftime("%Y-%m").fill_null("unknown").alias("month"),
        pl.col("discharge_date").dt.year().cast(pl.String).fill_null("unknown").alias("year"),
    )
    base = with_cost_ratio(base, thresholds)
    computed = (pl.when(pl.col("cost_ratio").is_null()).then(pl.lit("other"))
                .when(pl.col("cost_ratio") > thresholds.k_high).then(pl.lit("high_outlier"))
                .when(pl.col("cost_ratio") < thresholds.k_low).then(pl.lit("low_outlier"))
                .otherwise(pl.lit("normal")))
    if "case_type" in base.columns:
        computed = pl.coalesce(pl.col("case_type"), computed)
    return base.with_columns(computed.alias("case_type")).select(CASE_COLUMNS)


def frame_from_case_results(case_results: pl.DataFrame, cases: pl.DataFrame, *,
                            hospitals: pl.DataFrame | None = None,
                            ruleset: str | Ruleset = "chs_drg_11",
                            thresholds: SupervisionThresholds = DEFAULT_THRESHOLDS
                            ) -> pl.DataFrame:
    """The case frame from settled `case_results` (contracts §5) and the cases they settled.

    Grouping, weight, cost ratio and case type come from the settlement; patient, dates,
    department, discharge way, codes and self-pay from the case table (joined on case_id).
    DRG results carry the ADRG and severity of their group from the ruleset.
    """
    rs = load_ruleset(ruleset) if isinstance(ruleset, str) else ruleset
    settled = case_results.select(
        pl.col("case_id").cast(pl.String), pl.col("status"),
        pl.col("group_code"),
        pl.col("weight").cast(pl.Float64),
        pl.col("cost_ratio").cast(pl.Float64).alias("_settled_ratio"),
        pl.col("case_type").replace({"high_outlier": "high_outlier", "low_outlier": "low_outlier",
                                     "normal": "normal"}),
    ).unique("case_id", keep="last")
    raw = cases.drop([c for c in ("status", "group_code", "weight", "case_type", "adrg")
                      if c in cases.columns])
    joined = settled.join(raw, on="case_id", how="left", maintain_order="left")
    drg = rs.tables["drg"].select(pl.col("drg").alias("group_code"), "adrg")
    joined = joined.join(drg, on="group_code", how="left", maintain_order="left")
    grouped = joined.select("status", pl.col("group_code").alias("drg"), "adrg")
    frame = supervision_frame(joined.drop("status", "adrg"), grouped,
                              joined.select(pl.col("group_code").alias("drg"),
                                            pl.col("weight").alias("rw")).drop_nulls(),
                              hospitals=hospitals, ruleset=rs, thresholds=thresholds)
    # The settled r (against the settlement's mean cost) wins over the screen's own estimate.
    return frame.with_columns(pl.coalesce(joined["_settled_ratio"], pl.col("cost_ratio"))
                              .alias("cost_ratio"))
