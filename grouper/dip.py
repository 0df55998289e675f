"""Columnar DIP grouping (病种分值): principal diagnosis × procedure combination against a catalogue.

Per valid case, in one pass of joins (no Python per case):
1. candidate groups: day-surgery, TCM, core and basic rows whose `principal_dx` prefixes the
   principal diagnosis;
2. a candidate matches when every `+` term of its combination has one `/` alternative among the
   case's procedures (exact code, or a stem the code starts with where no candidate lists a
   longer code it fits); an empty combination (conservative group) matches
   only a case with no procedure; TCM groups need `tcm_treatment`, day-surgery groups
   `day_surgery` (and their combination);
3. the winner (`WINNER_SORT`): day-surgery, then TCM, then core/basic; the longest diagnosis
   prefix; the most terms (operations named); the mean cost closest to the case's total cost; the
   higher score; the code;
4. no match → the comprehensive group of 类目 × treatment class (most invasive procedure class),
   else the fallback group of the ICD-10 chapter × class (`CPnn`), else the catch-all (`KBBZ`);
5. auxiliary-catalogue levels and coefficient (`grouper.dip_aux`).

`DipCatalog` refuses catalogues with two groups or aux rows for one key; should one get here
anyway (built around the checks), every join still keeps one row per case and picks what the
per-case path (`grouper.dip_lookup`) picks: the lowest comprehensive code, the highest aux
coefficient, the last row of a repeated dip_code.
"""

from __future__ import annotations

import copy
from typing import Any

import polars as pl

from grouper.case_input import CaseTable, normalise_cases, to_frame
from grouper.dip_aux import aux_coefficients, aux_levels
from grouper.dip_catalog import DipCatalog
from grouper.dip_codes import (
    DX_PATTERN,
    FULL_PX_LENGTH,
    PX_PATTERN,
    category,
    dx_normalised,
    px_normalised,
)
from grouper.dip_errors import DipErrorCode, dip_error_message
from grouper.dip_fallback import chapter_expr
from grouper.dip_points import adjusted_score_expr
from grouper.dip_procedure_class import class_of_rank, load_procedure_classes, procedure_ranks
from grouper.errors import InputError
from grouper.ruleset import Ruleset, load_ruleset

OUTPUT_COLUMNS = ("case_id", "status", "error_code", "error_message", "dip_code", "dip_type",
                  "dip_name", "dip_score", "treatment_class", "tumour_level", "severity_level",
                  "cci_level", "age_band", "aux_dimension", "aux_coef", "adjusted_score")
FLAG_TRUE = ("1", "true", "t", "y", "yes", "是")


def _flag(frame: pl.DataFrame, col: str) -> pl.Expr:
    """Boolean flag from bool / 0-1 / text columns; missing or unreadable → False."""
    if col not in frame.columns:
        return pl.lit(False).alias(col)
    dtype = frame.schema[col]
    if dtype == pl.Boolean:
        return pl.col(col).fill_null(False)
    if dtype.is_numeric():
        return (pl.col(col) == 1).fill_null(False).alias(col)
    return (pl.col(col).cast(pl.String, strict=False).str.strip_chars().str.to_lowercase()
            .is_in(FLAG_TRUE).fill_null(False).alias(col))


def _int(frame: pl.DataFrame, col: str) -> pl.Expr:
    if col not in frame.columns:
        return pl.lit(None, pl.Int64).alias(col)
    return pl.col(col).cast(pl.Int64, strict=False).alias(col)


def _cost(frame: pl.DataFrame, col: str) -> pl.Expr:
    """The case's total cost (yuan) for the closest-mean-cost rule: numbers, or text as polars
    reads it after trimming; anything else, and non-finite values, missing. Grouping only
    compares it (no money is computed from it here)."""
    if col not in frame.columns:
        return pl.lit(None, pl.Float64).alias(col)
    dtype = frame.schema[col]
    if dtype.is_numeric():
        value = pl.col(col).cast(pl.Float64)
    elif dtype == pl.String:
        value = pl.col(col).str.strip_chars().cast(pl.Float64, strict=False)
    else:
        return pl.lit(None, pl.Float64).alias(col)
    return pl.when(value.is_finite()).then(value).alias(col)


def prepare_dip_cases(cases: CaseTable | list[dict[str, Any]]) -> pl.DataFrame:
    """Typed DIP input: `_row`, case_id, age, age_days, los, discharge_way, tcm_treatment,
    day_surgery, total_cost, diagnoses (normalised), procedures (normalised, recognised codes only), dx0, cat,
    error_code. Raises InputError without case_id/diagnoses."""
    frame = to_frame(cases)
    missing = [c for c in ("case_id", "diagnoses") if c not in frame.columns]
    if missing:
        raise InputError(f"missing required column(s): {', '.join(missing)}; "
                         f"got: {', '.join(frame.columns) or '(none)'}")
    extra = frame.with_columns(_int(frame, "discharge_way"), _flag(frame, "tcm_treatment"),
                               _flag(frame, "day_surgery"), _cost(frame, "total_cost")).select(
        "discharge_way", "tcm_treatment", "day_surgery", "total_cost")
    filler = [pl.lit(None, pl.Int64).alias(c) for c in ("sex", "age") if c not in frame.columns]
    typed = normalise_cases(frame.with_columns(filler) if filler else frame)
    typed = typed.with_columns(
        *extra.get_columns(),
        pl.col("diagnoses").list.eval(dx_normalised(pl.element())),
        pl.col("procedures").list.eval(px_normalised(pl.element()))
        .list.eval(pl.element().filter(pl.element().str.contains(PX_PATTERN))),
    ).with_columns(pl.col("diagnoses").list.first().fill_null("").alias("dx0"))
    return typed.with_columns(
        category(pl.col("dx0")).alias("cat"),
        pl.when(pl.col("diagnoses").list.len() == 0)
        .then(pl.lit(DipErrorCode.DIAGNOSIS_MISSING.value))
        .when(~pl.col("dx0").str.contains(DX_PATTERN))
        .then(pl.lit(DipErrorCode.PRINCIPAL_DX_MALFORMED.value))
        .otherwise(pl.lit(None, pl.String)).alias("error_code"),
    )


def explode_dx(valid: pl.DataFrame) -> pl.DataFrame:
    return (valid.select("_row", pl.col("diagnoses").alias("code"),
                         pl.int_ranges(pl.col("diagnoses").list.len(), dtype=pl.Int32)
                         .alias("pos"))
            .explode("code", "pos").drop_nulls("code"))


def explode_px(valid: pl.DataFrame) -> pl.DataFrame:
    return valid.select("_row", pl.col("procedures").alias("code")).explode("code").drop_nulls()


def treatment_ranks(valid: pl.DataFrame, px: pl.DataFrame, classes: str = "") -> pl.DataFrame:
    """(_row, class_rank): the most invasive class of the case's procedures, 0 = conservative
    (`classes`: the catalogue's operation-class table, "" = the shipped one)."""
    ranks = procedure_ranks(px, load_procedure_classes(classes)).group_by("_row").agg(
        pl.col("rank").max().alias("class_rank"))
    return valid.select("_row").join(ranks, on="_row", how="left").with_columns(
        pl.col("class_rank").fill_null(0).cast(pl.Int8))


def candidates(valid: pl.DataFrame, px: pl.DataFrame, catalog: DipCatalog) -> pl.DataFrame:
    """One row per (case, candidate group) with `n_terms`, `satisfied` and `matched`.

    A case's procedure P counts for a catalogue code C when P is C (exact), or C is a stem
    (shorter than a full `NN.NNNN` code) that P starts with; of the codes the case's candidate
    groups of one kind list, P counts only for the longest it fits (so `39.9500x007` never
    counts as `39.9500`, and counts as the stem `39.95` only where no candidate lists a longer
    code it fits)."""
    keys = [valid.filter(pl.col("dx0").str.len_chars() >= n)
            .select("_row", pl.col("dx0").str.slice(0, n).alias("principal_dx"))
            for n in catalog.dx_lengths]
    if not keys:
        return pl.DataFrame(schema={"_row": pl.UInt32, "dip_code": pl.String})
    cand = (pl.concat(keys).join(catalog.matchable, on="principal_dx")
            .join(valid.select("_row", "tcm_treatment", "day_surgery", "class_rank",
                               "total_cost"), on="_row"))
    length = pl.col("px").str.len_chars()
    parts = [px.select("_row", pl.col("code").alias("px"),
                       pl.col("code").str.slice(0, n).alias("code"), pl.lit(n).alias("klen"))
             .filter((length == n) | ((length > n) & (n < FULL_PX_LENGTH)))
             for n in catalog.term_lengths]
    if parts:
        hits = (pl.concat(parts).unique().join(catalog.terms, on="code")
                .join(cand.select("_row", "dip_code", "precedence"), on=["_row", "dip_code"])
                .filter(pl.col("klen") == pl.col("klen").max().over("_row", "px", "precedence"))
                .group_by("_row", "dip_code")
                .agg(pl.col("term_idx").n_unique().cast(pl.Int32).alias("satisfied")))
        cand = cand.join(hits, on=["_row", "dip_code"], how="left")
    else:
        cand = cand.with_columns(pl.lit(None, pl.Int32).alias("satisfied"))
    combo_holds = pl.when(pl.col("n_terms") == 0).then(pl.col("class_rank") == 0).otherwise(
        pl.col("satisfied").fill_null(0) == pl.col("n_terms"))
    return cand.with_columns(
        pl.col("satisfied").fill_null(0),
        pl.when(pl.col("dip_type") == "tcm").then(pl.col("tcm_treatment"))
        .when(pl.col("dip_type") == "day_surgery").then(pl.col("day_surgery") & combo_holds)
        .otherwise(combo_holds).alias("matched"),
        (pl.col("mean_cost") - pl.col("total_cost")).abs().alias("cost_gap"))


# The winner among matched groups: day-surgery, TCM, then core/basic; the longest (most exact)
# diagnosis; the most of the case's operations named; the mean cost closest to the case's total
# cost; the higher score; the code (only when all of those tie). The per-case path sorts by
# the same keys (grouper.dip_explain.winner_key).
WINNER_SORT = ("precedence", "dx_len", "n_terms", "cost_gap", "score", "dip_code")
WINNER_DESCENDING = (False, True, True, False, True, False)


def assign(valid: pl.DataFrame, px: pl.DataFrame, catalog: DipCatalog) -> pl.DataFrame:
    """(_row, dip_code) for every valid case that fits a group: a matched group, else the
    comprehensive group of 类目 × treatment class, else the fallback group of the chapter ×
    treatment class, else the catch-all fallback group."""
    cand = candidates(valid, px, catalog)
    if "matched" in cand.columns:
        best = (cand.filter("matched")
                .sort(list(WINNER_SORT), descending=list(WINNER_DESCENDING), nulls_last=True)
                .unique("_row", keep="first").select("_row", "dip_code"))
    else:
        best = pl.DataFrame(schema={"_row": pl.UInt32, "dip_code": pl.String})
    comprehensive = catalog.comprehensive.sort("dip_code").unique(
        ["category", "treatment_class"], keep="first", maintain_order=True)
    rest = valid.join(best, on="_row", how="anti").select(
        "_row", "cat", class_of_rank(pl.col("class_rank")).alias("treatment_class"))
    by_category = (rest.join(comprehensive, left_on=["cat", "treatment_class"],
                             right_on=["category", "treatment_class"])
                   .select("_row", "dip_code"))
    rest = rest.join(by_category, on="_row", how="anti")
    fallback = catalog.fallback.sort("dip_code").unique(["chapter", "treatment_class"],
                                                        keep="first", maintain_order=True)
    by_chapter = (rest.with_columns(chapter_expr(pl.col("cat")).alias("chapter"))
                  .join(fallback.filter(pl.col("chapter") != ""),
                        on=["chapter", "treatment_class"]).select("_row", "dip_code"))
    catch_all = fallback.filter(pl.col("chapter") == "")["dip_code"]
    parts = [best, by_category, by_chapter]
    if catch_all.len():
        parts.append(rest.join(by_chapter, on="_row", how="anti")
                     .select("_row", pl.lit(catch_all[0]).alias("dip_code")))
    return pl.concat(parts)


def ignored_expr(code: pl.Expr, ignored: tuple[str, ...]) -> pl.Expr:
    """`grouper.dip_catalog.is_ignored` as an expression."""
    full = [i for i in ignored if len(i) >= FULL_PX_LENGTH]
    stems = [i for i in ignored if len(i) < FULL_PX_LENGTH]
    hit = code.is_in(full) if full else pl.lit(False)
    for stem in stems:
        hit = hit | code.str.starts_with(stem)
    return hit


def _one_aux_row_per_key(catalog: DipCatalog) -> DipCatalog:
    """The catalogue itself, or (aux rows repeating a key: only around the checks) a shallow
    copy whose aux keeps the highest coefficient of each key, as the per-case lookups do."""
    keys = ["dip_code", "dimension", "level"]
    if not catalog.aux.select(pl.struct(keys).is_duplicated().any()).item():
        return catalog
    view = copy.copy(catalog)
    view.aux = catalog.aux.group_by(keys, maintain_order=True).agg(pl.col("coef").max())
    return view


def resolve_ruleset(catalog: DipCatalog) -> Ruleset:
    return load_ruleset(catalog.ruleset)


def group_dip(cases: CaseTable | list[dict[str, Any]], catalog: DipCatalog) -> pl.DataFrame:
    """DIP-group cases (contracts §1) against a catalogue; one row per input row, in order.

    >>> group_dip(pl.DataFrame({"case_id": ["1"], "diagnoses": [["K80.100"]],
    ...     "procedures": [["51.2300"]]}), catalog)["dip_code"].to_list()  # doctest: +SKIP
    ['K801001']
    """
    typed = prepare_dip_cases(cases)
    if catalog.ignored_procedures:
        typed = typed.with_columns(pl.col("procedures").list.eval(
            pl.element().filter(~ignored_expr(pl.element(), catalog.ignored_procedures))))
    valid = typed.filter(pl.col("error_code").is_null())
    px = explode_px(valid)
    valid = valid.join(treatment_ranks(valid, px, catalog.procedure_classes), on="_row")
    assigned = assign(valid, px, catalog).join(
        catalog.groups.select("dip_code", "dip_type", pl.col("name").alias("dip_name"),
                              pl.col("score").alias("dip_score"))
        .unique("dip_code", keep="last", maintain_order=True), on="dip_code")
    levels = aux_levels(valid, explode_dx(valid), px, resolve_ruleset(catalog), catalog)
    coefs = aux_coefficients(levels, assigned, _one_aux_row_per_key(catalog))
    out = (typed.select("_row", "case_id", "error_code")
           .join(valid.select("_row", class_of_rank(pl.col("class_rank"))
                              .alias("treatment_class")), on="_row", how="left",
                 maintain_order="left")
           .join(assigned, on="_row", how="left", maintain_order="left")
           .join(levels, on="_row", how="left", maintain_order="left")
           .join(coefs, on="_row", how="left", maintain_order="left"))
    grouped = pl.col("dip_code").is_not_null()
    out = out.with_columns(
        pl.when(pl.col("error_code").is_not_null()).then(pl.lit("invalid"))
        .when(grouped).then(pl.lit("ok")).otherwise(pl.lit("ungroupable")).alias("status"),
        pl.when(pl.col("error_code").is_null() & ~grouped)
        .then(pl.lit(DipErrorCode.NO_DIP_GROUP.value))
        .otherwise(pl.col("error_code")).alias("error_code"),
        pl.when(grouped).then(pl.col("aux_coef").fill_null(1.0)).alias("aux_coef"),
    ).with_columns(
        dip_error_message().alias("error_message"),
        adjusted_score_expr(pl.col("dip_score"), pl.col("aux_coef")).alias("adjusted_score"),
    )
    return out.sort("_row").select(OUTPUT_COLUMNS)
