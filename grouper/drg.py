"""Columnar CHS-DRG grouping: MDC → ADRG → DRG as joins over exploded code tables.

The sequential procedure of the ruleset README (MDCs in order, ADRG rules in order, DRGs in
order, fall-through) is equivalent to taking, per case, the smallest key
`rule_id * 1024 + order_in_adrg` over all (ADRG rule, DRG) pairs whose MDC entry, rule and DRG
condition hold, where `rule_id` numbers the rules by (MDC eval order, order in MDC) and an
`adrg_code` rule that holds adds its fallback key `rule_id * 1024 + 1023`. So every rule is
evaluated for the cases its code lists hit, in bulk, and no Python code runs per case.
"""

from __future__ import annotations

import polars as pl

from grouper import atoms as A
from grouper.case_input import CaseTable, normalise_cases
from grouper.checks import warnings_column
from grouper.errors import ErrorCode
from grouper.ruleset import KEY_STRIDE, NO_DRG_ORDER, Ruleset, load_ruleset
from grouper.translate import translate_codes as _translate
from grouper.validate import error_message, validation_error

OUTPUT_COLUMNS = ("case_id", "status", "mdc", "adrg", "drg", "drg_name", "error_code",
                  "error_message", "warnings")


def resolve(ruleset: str | Ruleset) -> Ruleset:
    return ruleset if isinstance(ruleset, Ruleset) else load_ruleset(ruleset)


def explode_codes(cases: pl.DataFrame, col: str) -> pl.DataFrame:
    """(_row, pos, code): one row per code, pos 0 = principal."""
    return (cases.select("_row", pl.col(col).alias("code"),
                         pl.int_ranges(pl.col(col).list.len(), dtype=pl.Int32).alias("pos"))
            .explode("code", "pos").drop_nulls("code"))


def _features(valid: pl.DataFrame, dx: pl.DataFrame, px: pl.DataFrame, rs: Ruleset
              ) -> pl.DataFrame:
    """Per-case facts the non-code atoms and parameter columns look at."""
    or_px = px.filter(pl.col("code").is_in(rs.or_codes.implode()))
    px0_or = or_px.filter(pl.col("pos") == 0)["_row"]
    has_or = or_px["_row"].unique()
    sec = dx.filter(pl.col("pos") > 0)
    excluded = dx.filter(pl.col("pos") == 0).join(rs.cc_exclusion, on="code").select(
        "_row", "exclusion_table")

    def counted(table: pl.DataFrame) -> pl.Series:
        return (sec.join(table, on="code")
                .join(excluded, on=["_row", "exclusion_table"], how="anti")["_row"].unique())

    return valid.select(
        "_row", "sex", "age", "age_days", "birth_weight", "los",
        pl.col("icu_hours").fill_null(0.0),  # ruleset README: missing ICU hours count as 0
        pl.col("_row").is_in(px0_or.implode()).alias("px0_is_or"),
        pl.col("_row").is_in(has_or.implode()).alias("has_or_px"),
        pl.col("_row").is_in(counted(rs.mcc).implode()).alias("has_mcc"),
        pl.col("_row").is_in(counted(rs.cc).implode()).alias("has_cc"),
    ).with_columns(
        (~pl.col("has_or_px")).alias("no_or_px"),
        (pl.col("has_mcc") | pl.col("has_cc")).alias("has_cc_or_mcc"),
    )


def _mdc_entries(features: pl.DataFrame, dx: pl.DataFrame, px: pl.DataFrame, rs: Ruleset
                 ) -> pl.DataFrame:
    """(_row, mdc) for every MDC whose entry rule holds."""
    mdc = rs.mdc
    parts = [dx.filter(pl.col("pos") == 0).join(rs.mdc_dx0, on="code").select(
        "_row", "mdc", "bits")]
    if rs.mdc_dxn.height:
        parts.append(dx.filter(pl.col("pos") > 0).join(rs.mdc_dxn, on="code").select(
            "_row", "mdc", "bits"))
    px0_or = features.filter("px0_is_or").select("_row")
    for bit in (4, 8):
        names = mdc.filter((pl.col("need") & bit) > 0).select("mdc")
        if names.height:
            parts.append(px0_or.join(names, how="cross").with_columns(
                pl.lit(bit, pl.Int64).alias("bits")))
    listed = mdc.filter((pl.col("need") & 8) > 0).select("mdc")
    if listed.height and rs.mdc_px_listed.height:
        parts.append(px.filter(pl.col("pos") == 0).join(rs.mdc_px_listed, on="code").join(
            listed, on="mdc").select("_row", "mdc", pl.lit(8, pl.Int64).alias("bits")))
    trauma_mdcs = mdc.filter((pl.col("need") & 16) > 0).select("mdc", "min_trauma_regions")
    if trauma_mdcs.height:
        regions = (dx.join(rs.trauma, on="code").group_by("_row")
                   .agg(pl.col("region").n_unique().alias("n_regions")))
        parts.append(regions.join(trauma_mdcs, how="cross")
                     .filter(pl.col("n_regions") >= pl.col("min_trauma_regions"))
                     .select("_row", "mdc", pl.lit(16, pl.Int64).alias("bits")))
    hits = pl.concat(parts).group_by("_row", "mdc").agg(pl.col("bits").bitwise_or())
    return (hits.join(mdc.select("mdc", "need", pl.col("sex").alias("mdc_sex"), "age_years"),
                      on="mdc")
            .join(features.select("_row", "sex", "age"), on="_row")
            .filter(((pl.col("bits") & pl.col("need")) == pl.col("need"))
                    & (pl.col("mdc_sex").is_null() | (pl.col("sex") == pl.col("mdc_sex")))
                    & (pl.col("age_years").is_null() | (pl.col("age") == pl.col("age_years"))))
            .select("_row", "mdc"))


def _code_hits(dx: pl.DataFrame, px: pl.DataFrame, lookups: tuple[pl.DataFrame, ...],
               owner: str) -> pl.DataFrame:
    """(_row, owner, bits): which code atoms of which rules the case's codes satisfy."""
    dx0_l, dxn_l, px0_l, pxn_l = lookups
    parts = []
    for codes, pos0, table in ((dx, True, dx0_l), (dx, False, dxn_l), (px, True, px0_l),
                               (px, False, pxn_l)):
        if table.height == 0:
            continue
        side = codes.filter(pl.col("pos") == 0) if pos0 else codes.filter(pl.col("pos") > 0)
        parts.append(side.join(table, on="code").select("_row", owner, "bits"))
    if not parts:
        return pl.DataFrame(schema={"_row": pl.UInt32, owner: pl.Int64, "bits": pl.Int64})
    return pl.concat(parts).group_by("_row", owner).agg(pl.col("bits").bitwise_or())


def _atoms_hold() -> pl.Expr:
    """Feature atoms of a rule/DRG row joined with case features (code atoms separately)."""
    def need(atom: str) -> pl.Expr:
        return pl.col(f"need_{atom}")

    return (~need("never")
            & (~need("principal_px_is_or") | pl.col("px0_is_or"))
            & (~need("no_or_px") | pl.col("no_or_px"))
            & (~need("mcc") | pl.col("has_mcc"))
            & (~need("cc") | pl.col("has_cc"))
            & (~need("cc_or_mcc") | pl.col("has_cc_or_mcc"))
            & (~need("has_or_px") | pl.col("has_or_px")))


def _param(col: str, test: pl.Expr) -> pl.Expr:
    return pl.col(col).is_null() | test.fill_null(False)


def _adrg_params() -> pl.Expr:
    bw = pl.col("birth_weight")
    return (_param("age_days_max", pl.col("age_days") <= pl.col("age_days_max"))
            & _param("weight_min_g", (bw != 0) & (bw >= pl.col("weight_min_g")))
            & _param("weight_max_g", (bw != 0) & (bw < pl.col("weight_max_g"))))


def _drg_params() -> pl.Expr:
    icu = pl.col("icu_hours")
    return (_param("age_lt", pl.col("age") < pl.col("age_lt"))
            & _param("los_gt", pl.col("los") > pl.col("los_gt"))
            & _param("icu_hours_gt", icu > pl.col("icu_hours_gt"))
            & _param("icu_hours_ge", icu >= pl.col("icu_hours_ge"))
            & _param("icu_hours_le", icu <= pl.col("icu_hours_le"))
            & _param("age_days_max", pl.col("age_days") <= pl.col("age_days_max")))


def _px_groups_hold(rs: Ruleset) -> pl.Expr:
    groups = pl.col("bits") // (1 << A.PX_GROUP_SHIFT)
    alts = [c for c in rs.rules.columns if c.startswith("px_alt")]
    ok = pl.lit(False)
    for alt in alts:
        ok = ok | (pl.col(alt).is_not_null() & ((groups & pl.col(alt)) == pl.col(alt)))
    return ~pl.col("need_px_groups") | ok.fill_null(False)


def best_keys(valid: pl.DataFrame, rs: Ruleset) -> tuple[pl.DataFrame, pl.Series]:
    """(_row, key) of the winning outcome per grouped case, and the rows that entered an MDC."""
    dx = explode_codes(valid, "diagnoses")
    px = explode_codes(valid, "procedures")
    features = _features(valid, dx, px, rs)
    entries = _mdc_entries(features, dx, px, rs)

    rule_cols = ["rule_id", "mdc", "adrg", "if_no_drg", "age_days_max", "weight_min_g",
                 "weight_max_g", *[c for c in rs.rules.columns
                                   if c.startswith(("need_", "px_alt"))]]
    rules = rs.rules.select(rule_cols)
    coded = (_code_hits(dx, px, (rs.rule_dx0, rs.rule_dxn, rs.rule_px0, rs.rule_pxn), "rule_id")
             .join(rules.filter((pl.col("need_code") > 0) | pl.col("need_px_groups")),
                   on="rule_id")
             .filter((pl.col("bits") & pl.col("need_code")) == pl.col("need_code")))
    codeless = entries.join(
        rules.filter((pl.col("need_code") == 0) & ~pl.col("need_px_groups")), on="mdc"
    ).with_columns(pl.lit(0, pl.Int64).alias("bits"))
    candidates = pl.concat([coded.join(entries, on=["_row", "mdc"], how="semi"),
                            codeless.select(coded.columns)])
    held = (candidates.join(features, on="_row")
            .filter(_atoms_hold() & _adrg_params() & _px_groups_hold(rs))
            .select("_row", "rule_id", "adrg", "if_no_drg"))

    drg_cols = ["drg_id", "adrg", "order_in_adrg", "age_lt", "los_gt",
                "icu_hours_gt", "icu_hours_ge", "icu_hours_le", "age_days_max",
                *[c for c in rs.drgs.columns if c.startswith("need_")]]
    pairs = held.join(rs.drgs.select(drg_cols), on="adrg")
    drg_lookups = (rs.drg_dx0, rs.drg_dxn, rs.drg_px0, rs.drg_pxn)
    if any(t.height for t in drg_lookups):
        pairs = pairs.join(_code_hits(dx, px, drg_lookups, "drg_id"), on=["_row", "drg_id"],
                           how="left").with_columns(pl.col("bits").fill_null(0))
    else:
        pairs = pairs.with_columns(pl.lit(0, pl.Int64).alias("bits"))
    chosen = (pairs.join(features, on="_row")
              .filter(((pl.col("bits") & pl.col("need_code")) == pl.col("need_code"))
                      & _atoms_hold() & _drg_params())
              .select("_row", (pl.col("rule_id") * KEY_STRIDE + pl.col("order_in_adrg"))
                      .alias("key")))
    fallback = held.filter(pl.col("if_no_drg") == "adrg_code").select(
        "_row", (pl.col("rule_id") * KEY_STRIDE + NO_DRG_ORDER).alias("key"))
    best = pl.concat([chosen, fallback]).group_by("_row").agg(pl.col("key").min())
    return best, entries["_row"].unique()


def group_drg(cases: CaseTable, ruleset: str | Ruleset = "chs_drg_11", *,
              translate_codes: bool = False) -> pl.DataFrame:
    """Group cases (contracts §1) with a DRG ruleset; one output row per input row, in order.

    >>> group_drg(pl.DataFrame({"case_id": ["1"], "sex": [1], "age": [60],
    ...     "diagnoses": [["I63.900"]], "procedures": [[]]}))["drg"].to_list()  # doctest: +SKIP
    ['BR25']
    """
    rs = resolve(ruleset)
    cases_n = normalise_cases(cases)
    warnings = cases_n.select(warnings_column(cases_n, rs))["warnings"]  # codes as given
    cases_n = cases_n.with_columns(validation_error().alias("error_code"))
    if translate_codes:
        cases_n = _translate(cases_n, rs)
    valid = cases_n.filter(pl.col("error_code").is_null())
    best, entered = best_keys(valid, rs)
    out = (cases_n.select("_row", "case_id", "error_code")
           .join(best, on="_row", how="left", maintain_order="left")
           .join(rs.outcomes, on="key", how="left", maintain_order="left"))
    grouped = pl.col("key").is_not_null()
    out = out.with_columns(
        pl.when(pl.col("error_code").is_not_null()).then(pl.lit("invalid"))
        .when(grouped).then(pl.col("status"))
        .otherwise(pl.lit("ungroupable")).alias("status"),
        pl.when(pl.col("error_code").is_not_null()).then(pl.col("error_code"))
        .when(grouped).then(pl.lit(None, pl.String))
        .when(pl.col("_row").is_in(entered.implode())).then(pl.lit(ErrorCode.NO_ADRG.value))
        .otherwise(pl.lit(ErrorCode.NO_MDC.value)).alias("error_code"),
    ).with_columns(error_message().alias("error_message"))
    return out.with_columns(warnings).select(OUTPUT_COLUMNS)
