"""Auxiliary-catalogue (辅助目录) levels of each case and the coefficient they earn.

Levels per dimension (payment-rules §3.2), all columnar; the fixed rules (death code, malignant
range, CCI points and thresholds, age bands) are data in `grouper.dip_aux_levels`, shared with the
per-case path:
- `cci_level`: comorbidity–complication index from secondary diagnoses on the ruleset's MCC (2
  points) / CC (1 point) lists, minus those excluded by the principal diagnosis' exclusion table;
  0 points → "0", 1 → "1", 2–3 → "2", ≥ 4 → "3".
- `severity_level`: "death" (discharge_way 5); "severe"/"moderate" from `dip_data/aux_rules.csv`
  secondary diagnoses, only when los ≥ `severity_min_los`; else "mild".
- `tumour_level`: malignant principal diagnosis (C00–C97) with metastasis / radio- or chemotherapy
  per `aux_rules.csv`; else "none".
- `age_band`: neonate 0–28 d, infant 29 d–1 y, child 1–6, adolescent 7–17, elderly ≥ 65, else adult.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import polars as pl

from grouper.dip_aux_levels import (
    CCI_POINTS,
    DISCHARGE_DEATH,
    FIXED_SCORE_TYPES,
    SEVERITY_DEATH,
    age_band_expr,
    cci_level_expr,
    is_malignant_expr,
)
from grouper.dip_catalog import ALL_GROUPS, AUX_DIMENSIONS, AUX_REFERENCE, DipCatalog
from grouper.ruleset import Ruleset

LEVEL_COLUMNS = {"tumour": "tumour_level", "severity": "severity_level", "cci": "cci_level",
                 "age": "age_band"}


@lru_cache(maxsize=1)
def aux_rules() -> pl.DataFrame:
    """(dimension, level, rank, source, code_prefix) from the shipped table."""
    raw = resources.files("grouper").joinpath("dip_data", "aux_rules.csv").read_bytes()
    return pl.read_csv(raw, infer_schema_length=0).with_columns(pl.col("rank").cast(pl.Int8))


def _prefix_hits(codes: pl.DataFrame, rules: pl.DataFrame) -> pl.DataFrame:
    """(_row, dimension, rank) where a code starts with a rule's prefix.

    Prefixes are matched on the distinct codes first (a few thousand), then joined back."""
    lengths = sorted(set(rules["code_prefix"].str.len_chars().to_list()))
    empty = pl.DataFrame(schema={"_row": pl.UInt32, "dimension": pl.String, "rank": pl.Int8})
    if not lengths or codes.height == 0:
        return empty
    vocab = codes.select(pl.col("code").unique())
    matched = pl.concat([vocab.with_columns(pl.col("code").str.slice(0, n).alias("p"))
                         .join(rules, left_on="p", right_on="code_prefix")
                         .select("code", "dimension", "rank") for n in lengths])
    if matched.height == 0:
        return empty
    return codes.join(matched, on="code").select("_row", "dimension", "rank")


def _cci_points(dx: pl.DataFrame, rs: Ruleset) -> pl.DataFrame:
    sec = dx.filter(pl.col("pos") > 0).select("_row", "code")
    excluded = dx.filter(pl.col("pos") == 0).join(rs.cc_exclusion, on="code").select(
        "_row", "exclusion_table")
    mcc = (sec.join(rs.mcc, on="code").unique(["_row", "code", "exclusion_table"])
           .join(excluded, on=["_row", "exclusion_table"], how="anti").select("_row", "code")
           .unique())
    cc = (sec.join(rs.cc, on="code").unique(["_row", "code", "exclusion_table"])
          .join(excluded, on=["_row", "exclusion_table"], how="anti")
          .join(mcc, on=["_row", "code"], how="anti").select("_row", "code").unique())
    return pl.concat([mcc.with_columns(pl.lit(CCI_POINTS["mcc"]).alias("pt")),
                      cc.with_columns(pl.lit(CCI_POINTS["cc"]).alias("pt"))]
                     ).group_by("_row").agg(pl.col("pt").sum().alias("cci_points"))


def aux_levels(valid: pl.DataFrame, dx: pl.DataFrame, px: pl.DataFrame, rs: Ruleset,
               catalog: DipCatalog) -> pl.DataFrame:
    """(_row, tumour_level, severity_level, cci_level, age_band) for valid cases.

    `valid` has _row, dx0, age, age_days, los, discharge_way; `dx` (_row, pos, code) and `px`
    (_row, code) are the exploded normalised codes."""
    rules = aux_rules()
    hits = pl.concat([
        _prefix_hits(dx.filter(pl.col("pos") > 0), rules.filter(pl.col("source") == "secondary_dx")),
        _prefix_hits(dx, rules.filter(pl.col("source") == "any_dx")),
        _prefix_hits(px, rules.filter(pl.col("source") == "procedure")),
    ])
    # within a dimension each level has its own rank, so the highest rank names the level
    best = hits.group_by("_row").agg(
        *(pl.col("rank").filter(pl.col("dimension") == dim).max().alias(dim)
          for dim in ("tumour", "severity")))
    best = best.with_columns(
        pl.col(dim).replace_strict(dict(rules.filter(pl.col("dimension") == dim)
                                        .select("rank", "level").unique().iter_rows()),
                                   default=None, return_dtype=pl.String)
        for dim in ("tumour", "severity"))
    long_stay = pl.col("los").fill_null(0) >= catalog.severity_min_los
    return (valid.select("_row", "dx0", "age", "age_days", "los", "discharge_way")
            .join(best.select("_row", "tumour", "severity"), on="_row", how="left")
            .join(_cci_points(dx, rs), on="_row", how="left")
            .select(
                "_row",
                pl.when(is_malignant_expr(pl.col("dx0")))
                .then(pl.col("tumour")).otherwise(None)
                .fill_null(AUX_REFERENCE["tumour"]).alias("tumour_level"),
                pl.when(pl.col("discharge_way") == DISCHARGE_DEATH).then(pl.lit(SEVERITY_DEATH))
                .when(long_stay).then(pl.col("severity"))
                .otherwise(None).fill_null(AUX_REFERENCE["severity"]).alias("severity_level"),
                cci_level_expr(pl.col("cci_points")).alias("cci_level"),
                age_band_expr(pl.col("age"), pl.col("age_days")).alias("age_band"),
            ))


def aux_coefficients(levels: pl.DataFrame, assigned: pl.DataFrame,
                     catalog: DipCatalog) -> pl.DataFrame:
    """(_row, aux_dimension, aux_coef) for assigned cases (_row, dip_code, dip_type).

    A group's own coefficient wins over the region-wide ("*") one; `aux_combine` = "max" takes the
    highest coefficient, "priority" the first adjusted dimension of `AUX_DIMENSIONS`. tcm and
    day-surgery groups carry fixed scores and get 1.0."""
    adjustable = assigned.filter(~pl.col("dip_type").is_in(FIXED_SCORE_TYPES))
    joined = levels.join(adjustable.select("_row", "dip_code"), on="_row")
    long = pl.concat([
        joined.filter(pl.col(col) != AUX_REFERENCE[dim]).select(
            "_row", "dip_code", pl.lit(dim).alias("dimension"), pl.col(col).alias("level"))
        for dim, col in LEVEL_COLUMNS.items()])
    own = catalog.aux.filter(pl.col("dip_code") != ALL_GROUPS).select(
        "dip_code", "dimension", "level", pl.col("coef").alias("own"))
    region = catalog.aux.filter(pl.col("dip_code") == ALL_GROUPS).select(
        "dimension", "level", pl.col("coef").alias("region"))
    priority = {dim: i for i, dim in enumerate(AUX_DIMENSIONS)}
    coefs = (long.join(own, on=["dip_code", "dimension", "level"], how="left")
             .join(region, on=["dimension", "level"], how="left")
             .with_columns(pl.coalesce("own", "region").alias("coef"),
                           pl.col("dimension").replace_strict(priority, return_dtype=pl.Int8)
                           .alias("priority"))
             .drop_nulls("coef"))
    if catalog.aux_combine == "max":
        coefs = coefs.sort(["coef", "priority"], descending=[True, False])
    else:
        coefs = coefs.sort("priority")
    return coefs.unique("_row", keep="first").select(
        "_row", pl.col("dimension").alias("aux_dimension"), pl.col("coef").alias("aux_coef"))
