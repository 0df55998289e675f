"""Columnar CHS-DRG grouping: MDC → ADRG → DRG as joins over exploded code tables.

The sequential procedure of the ruleset README (MDCs in order, ADRG rules in order, DRGs in
order, fall-through) is equivalent to taking, per case, the smallest key
`rule_id * 1024 + order_in_adrg` over all (ADRG rule, DRG) pairs whose MDC entry, rule and DRG
condition hold, where `rule_id` numbers the rules by (MDC eval order, order in MDC) and an
`adrg_code` rule that holds adds its fallback key `rule_id * 1024 + 1023`. So every rule is
evaluated for the cases its code lists hit, in bulk, and no Python code runs per case.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import polars as pl

from grouper import atoms as A
from grouper.case_input import CaseTable, explode_codes, normalise_cases
from grouper.checks import warnings_column
from grouper.errors import ErrorCode
from grouper.ruleset import KEY_STRIDE, NO_DRG_ORDER, Ruleset, resolve_ruleset
from grouper.translate import translate_codes as _translate
from grouper.validate import error_message, validation_error

OUTPUT_COLUMNS = ("case_id", "status", "mdc", "adrg", "drg", "drg_name", "error_code",
                  "error_message", "warnings")


ROW_MDC = 32  # key = _row * ROW_MDC + mdc_rank (at most 32 MDCs)
ROW_RULE = 1 << 12  # key = _row * ROW_RULE + rule_id
ROW_DRG = 1 << 13  # key = _row * ROW_DRG + drg_id


def or_by_key(frame: pl.DataFrame) -> pl.DataFrame:
    """(k, bits) -> one row per k with the bitwise OR of its bits.

    A stable numpy argsort plus `np.bitwise_or.reduceat` (polars' group-by bitwise_or and its
    frame sort are both slower here: the keys arrive in long ascending runs).
    """
    if frame.height == 0:
        return frame
    k = frame["k"].to_numpy()
    order = np.argsort(k, kind="stable")
    k = k[order]
    starts = np.flatnonzero(np.concatenate(([True], k[1:] != k[:-1])))
    bits = np.bitwise_or.reduceat(frame["bits"].to_numpy()[order], starts)
    return pl.DataFrame({"k": k[starts], "bits": bits})


def _min_key_per_row(frame: pl.DataFrame) -> pl.DataFrame:
    """(_row, key) -> the smallest key of each row (one sort of a combined integer)."""
    if frame.height == 0:
        return pl.DataFrame(schema={"_row": pl.UInt32, "key": pl.Int64})
    combined = np.sort((frame["_row"].cast(pl.Int64) * (1 << 32) + frame["key"]).to_numpy())
    rows = combined >> 32
    first = np.flatnonzero(np.concatenate(([True], rows[1:] != rows[:-1])))
    return pl.DataFrame({"_row": rows[first].astype(np.uint32),
                         "key": combined[first] & ((1 << 32) - 1)})


def _flag(n: int, rows: pl.Series) -> pl.Series:
    """Boolean Series of length n, True at the given row numbers."""
    arr = np.zeros(n, dtype=bool)
    arr[rows.to_numpy()] = True
    return pl.Series(arr)


class Codes(NamedTuple):
    """The exploded (_row, cid, pos) codes of the valid cases, split once by position."""

    dx: pl.DataFrame
    dx0: pl.DataFrame  # principal diagnosis
    dxn: pl.DataFrame  # secondary diagnoses
    px0: pl.DataFrame  # principal procedure
    pxn: pl.DataFrame  # other procedures

    @classmethod
    def split(cls, dx: pl.DataFrame, px: pl.DataFrame) -> Codes:
        d0 = pl.Series(dx["pos"].to_numpy() == 0)
        p0 = pl.Series(px["pos"].to_numpy() == 0)
        return cls(dx, dx.filter(d0), dx.filter(~d0), px.filter(p0), px.filter(~p0))


def _features(cases: pl.DataFrame, c: Codes, rs: Ruleset) -> pl.DataFrame:
    """Per-case facts (row i = `_row` i) that non-code atoms and parameter columns look at."""
    n = cases.height
    or_ids = rs.or_cids.implode()
    or_px0 = c.px0.filter(pl.col("cid").is_in(or_ids))
    or_rows = pl.concat([or_px0["_row"], c.pxn.filter(pl.col("cid").is_in(or_ids))["_row"]])
    sec = c.dxn
    excluded = (c.dx0.join(rs.cc_exclusion_i, on="cid")
                .select((pl.col("_row").cast(pl.Int64) * 4096 + pl.col("table_id")).alias("k")))

    # MCC and CC lists are disjoint: one join gives both, `is_mcc` tells which
    hits = sec.join(rs.cc_mcc_i, on="cid").select(
        "_row", "is_mcc", (pl.col("_row").cast(pl.Int64) * 4096 + pl.col("table_id")).alias("k"))
    counted = hits.filter(~pl.col("k").is_in(excluded["k"].implode()))
    has_mcc = _flag(n, counted.filter("is_mcc")["_row"]).to_numpy()
    has_cc = _flag(n, counted.filter(~pl.col("is_mcc"))["_row"]).to_numpy()
    has_or = _flag(n, or_rows).to_numpy()
    px0_or = _flag(n, or_px0["_row"]).to_numpy()
    fb = A.FEATURE_BITS
    fbits = (px0_or * fb["principal_px_is_or"] + (~has_or) * fb["no_or_px"]
             + has_mcc * fb["mcc"] + has_cc * fb["cc"] + (has_mcc | has_cc) * fb["cc_or_mcc"]
             + has_or * fb["has_or_px"]).astype(np.int64)
    return cases.select(
        "sex", "age", "age_days", "birth_weight", "los",
        pl.col("icu_hours").fill_null(0.0),  # ruleset README: missing ICU hours count as 0
    ).with_columns(pl.Series("fbits", fbits), pl.Series("px0_is_or", px0_or))


def _mdc_entries(features: pl.DataFrame, c: Codes, rs: Ruleset, valid_rows: pl.Series,
                 prefix_hits: pl.DataFrame | None) -> pl.DataFrame:
    """(_row, mdc_rank) for every MDC whose entry rule holds."""
    mdc = rs.mdc
    parts = [c.dx0.join(rs.mdc_dx0_i, on="cid").select(
        "_row", "mdc_rank", "bits")]
    always = mdc.filter(pl.col("need") == 0).select(pl.col("mdc_rank").cast(pl.Int64))
    if always.height:  # `always`: every valid case enters (sex/age columns still apply)
        parts.append(pl.DataFrame({"_row": valid_rows}).join(always, how="cross")
                     .with_columns(pl.lit(0, pl.Int64).alias("bits")))
    if prefix_hits is not None and prefix_hits.height:
        parts.append(prefix_hits.select("_row", "mdc_rank", pl.lit(32, pl.Int64).alias("bits")))
    if rs.mdc_dxn_i.height:
        parts.append(c.dxn.join(rs.mdc_dxn_i, on="cid").select(
            "_row", "mdc_rank", "bits"))
    px0_or = pl.DataFrame({"_row": pl.arg_where(features["px0_is_or"], eager=True)
                           .cast(pl.UInt32)})
    for bit in (4, 8):
        ranks = mdc.filter((pl.col("need") & bit) > 0).select(
            pl.col("mdc_rank").cast(pl.Int64))
        if ranks.height:
            parts.append(px0_or.join(ranks, how="cross").with_columns(
                pl.lit(bit, pl.Int64).alias("bits")))
    if rs.mdc_px_listed_i.height:
        parts.append(c.px0.join(rs.mdc_px_listed_i, on="cid")
                     .select("_row", "mdc_rank", pl.lit(8, pl.Int64).alias("bits")))
    trauma = mdc.filter((pl.col("need") & 16) > 0).select(
        pl.col("mdc_rank").cast(pl.Int64), "min_trauma_regions")
    if trauma.height:
        regions = (c.dx.join(rs.trauma_i, on="cid").group_by("_row")
                   .agg(pl.col("region_id").n_unique().alias("n_regions")))
        parts.append(regions.join(trauma, how="cross")
                     .filter(pl.col("n_regions") >= pl.col("min_trauma_regions"))
                     .select("_row", "mdc_rank", pl.lit(16, pl.Int64).alias("bits")))
    hits = or_by_key(pl.concat([
        p.select((pl.col("_row").cast(pl.Int64) * ROW_MDC + pl.col("mdc_rank")).alias("k"),
                 pl.col("bits").cast(pl.Int64)) for p in parts]))
    row = (hits["k"] // ROW_MDC)
    rank = (hits["k"] % ROW_MDC)
    m = mdc.select("need", "sex", "age_years")[rank]
    f = features.select("sex", "age")[row]
    keep = (((hits["bits"] & m["need"]) == m["need"])
            & (m["sex"].is_null() | (f["sex"] == m["sex"])).fill_null(False)
            & (m["age_years"].is_null() | (f["age"] == m["age_years"])).fill_null(False))
    return pl.DataFrame({"_row": row.filter(keep), "mdc_rank": rank.filter(keep)})


def _code_hits(c: Codes, lookups: tuple[pl.DataFrame, ...],
               owner: str, stride: int) -> pl.DataFrame:
    """(_row, owner, bits): which code atoms of which rules the case's codes satisfy."""
    dx0_l, dxn_l, px0_l, pxn_l = lookups
    parts = []
    for side, table in ((c.dx0, dx0_l), (c.dxn, dxn_l), (c.px0, px0_l), (c.pxn, pxn_l)):
        if table.height == 0:
            continue
        parts.append(side.join(table, on="cid").select(
            (pl.col("_row").cast(pl.Int64) * stride + pl.col(owner)).alias("k"), "bits"))
    if not parts:
        return pl.DataFrame(schema={"_row": pl.Int64, owner: pl.Int64, "bits": pl.Int64})
    agg = or_by_key(pl.concat(parts))
    return agg.select((pl.col("k") // stride).alias("_row"), (pl.col("k") % stride).alias(owner),
                      "bits")


def _atoms_hold() -> pl.Expr:
    """Feature atoms of a rule/DRG row against the case's feature bits (code atoms apart)."""
    return (pl.col("fbits") & pl.col("need_feat")) == pl.col("need_feat")


def _param(col: str, test: pl.Expr) -> pl.Expr:
    return pl.col(col).is_null() | test.fill_null(False)


def _adrg_params() -> pl.Expr:
    bw = pl.col("birth_weight")
    return (_param("age_days_max", pl.col("age_days") <= pl.col("age_days_max"))
            & _param("age_days_min", pl.col("age_days") >= pl.col("age_days_min"))
            & _param("rule_age_years", pl.col("age") == pl.col("rule_age_years"))
            & _param("weight_min_g", (bw != 0) & (bw >= pl.col("weight_min_g")))
            & _param("weight_max_g", (bw != 0) & (bw < pl.col("weight_max_g"))))


def _drg_params() -> pl.Expr:
    icu = pl.col("icu_hours")
    return (_param("age_lt", pl.col("age") < pl.col("age_lt"))
            & _param("los_gt", pl.col("los") > pl.col("los_gt"))
            & _param("icu_hours_gt", icu > pl.col("icu_hours_gt"))
            & _param("icu_hours_ge", icu >= pl.col("icu_hours_ge"))
            & _param("icu_hours_le", icu <= pl.col("icu_hours_le"))
            & _param("drg_age_days_max", pl.col("age_days") <= pl.col("drg_age_days_max")))


def _px_groups_hold(rs: Ruleset) -> pl.Expr:
    groups = pl.col("bits") // (1 << A.PX_GROUP_SHIFT)
    alts = [c for c in rs.rules.columns if c.startswith("px_alt")]
    ok = pl.lit(False)
    for alt in alts:
        ok = ok | (pl.col(alt).is_not_null() & ((groups & pl.col(alt)) == pl.col(alt)))
    return ~pl.col("need_px_groups") | ok.fill_null(False)


def _with(frame: pl.DataFrame, attrs: pl.DataFrame, idx: str) -> pl.DataFrame:
    """Attach the rows of `attrs` (indexed 0..k-1) selected by column `idx` (a gather)."""
    return frame.hstack(attrs[frame[idx]])


def prefix_entries(dx_raw: pl.DataFrame, rs: Ruleset) -> pl.DataFrame | None:
    """(_row, mdc_rank) where some diagnosis code (as given, any position) starts with one of
    an MDC's prefixes (`mdc_dx_prefix.csv`); None when the ruleset has no prefixes."""
    if rs.mdc_prefixes.height == 0:
        return None
    parts = [dx_raw.filter(pl.col("code").str.starts_with(prefix)).select(
        "_row", pl.lit(rank, pl.Int64).alias("mdc_rank"))
        for rank, prefix in rs.mdc_prefixes.iter_rows()]
    return pl.concat(parts).unique(maintain_order=True)


def best_keys(dx: pl.DataFrame, px: pl.DataFrame, rs: Ruleset, n: int,
              features_of: pl.DataFrame, valid_rows: pl.Series | None = None,
              prefix_hits: pl.DataFrame | None = None) -> tuple[pl.DataFrame, pl.Series]:
    """(_row, key) of the winning outcome per grouped case, and the rows that entered an MDC.

    `dx`/`px` are the exploded codes of the valid cases; `features_of` holds the demographic
    columns of all n rows (row i = `_row` i); `valid_rows` the rows that passed validation
    (default: all); `prefix_hits` the `prefix_entries` of the valid rows.
    """
    if valid_rows is None:
        valid_rows = pl.int_range(n, dtype=pl.UInt32, eager=True)
    codes = Codes.split(dx, px)
    features = _features(features_of, codes, rs)
    entries = _mdc_entries(features, codes, rs, valid_rows, prefix_hits)
    entry_keys = (entries["_row"] * ROW_MDC + entries["mdc_rank"]).implode()
    # A rule is considered when its MDC was entered, a `not_entered` rule only when it was not.
    considered = (pl.col("_row") * ROW_MDC + pl.col("mdc_rank")).is_in(entry_keys) \
        != pl.col("not_entered")

    rule_attrs = rs.rules.select(
        pl.col("mdc_rank").cast(pl.Int64), "need_code", "need_not", "need_feat",
        "need_px_groups", "not_entered", "age_days_max", "weight_min_g", "weight_max_g",
        "age_days_min", pl.col("age_years").alias("rule_age_years"), "if_no_drg",
        *[c for c in rs.rules.columns if c.startswith("px_alt")])
    all_hits = _code_hits(codes, (rs.rule_dx0, rs.rule_dxn, rs.rule_px0, rs.rule_pxn),
                          "rule_id", ROW_RULE)
    # cheap filter first (code atoms and MDC entry), then attach the other rule attributes
    coded = _with(all_hits, rule_attrs.select("mdc_rank", "need_code", "need_not",
                                              "need_px_groups", "not_entered"),
                  "rule_id").filter(
        ((pl.col("need_code") > 0) | pl.col("need_px_groups"))
        & ((pl.col("bits") & pl.col("need_code")) == pl.col("need_code"))
        & ((pl.col("bits") & pl.col("need_not")) == 0)
        & considered
    ).select("_row", "rule_id", "bits")
    coded = _with(coded, rule_attrs, "rule_id")
    codeless_rules = rs.rules.filter((pl.col("need_code") == 0) & ~pl.col("need_px_groups")
                                     ).select(pl.col("mdc_rank").cast(pl.Int64), "rule_id",
                                              "need_not", "not_entered")
    entered_part = entries.join(codeless_rules.filter(~pl.col("not_entered")), on="mdc_rank")
    outside = codeless_rules.filter("not_entered")
    if outside.height:  # not-entered rules without code atoms: every valid case not entered
        ages = rs.rules.filter("not_entered")["age_years"]
        rows = pl.DataFrame({"_row": valid_rows.cast(pl.Int64)})
        if ages.null_count() == 0:  # cheap pre-filter: those rules all fix the age in years
            age = features_of["age"].to_numpy()[valid_rows.to_numpy()]
            rows = rows.filter(pl.Series(np.isin(age, ages.to_numpy())))
        rest = rows.join(outside, how="cross").filter(considered)
        entered_part = pl.concat([entered_part, rest.select(entered_part.columns)])
    codeless = entered_part.select("_row", "rule_id", "need_not")
    if codeless.filter(pl.col("need_not") > 0).height:  # negative code atoms need the hits
        codeless = codeless.join(all_hits.with_columns(pl.col("_row").cast(pl.Int64)),
                                 on=["_row", "rule_id"], how="left").with_columns(
            pl.col("bits").fill_null(0)).filter((pl.col("bits") & pl.col("need_not")) == 0)
    else:
        codeless = codeless.with_columns(pl.lit(0, pl.Int64).alias("bits"))
    codeless = _with(codeless.select("_row", "rule_id", "bits"), rule_attrs, "rule_id")
    candidates = pl.concat([coded, codeless.select(coded.columns)])
    held = (_with(candidates, features.select("fbits", "age", "age_days", "birth_weight"),
                  "_row")
            .filter(_atoms_hold() & _adrg_params() & _px_groups_hold(rs))
            .select("_row", "rule_id", "if_no_drg"))

    drg_attrs = rs.drgs.select(
        "order_in_adrg", "need_code", "need_feat", "age_lt", "los_gt", "icu_hours_gt",
        "icu_hours_ge", "icu_hours_le", pl.col("age_days_max").alias("drg_age_days_max"))
    # A held `adrg_code` rule always yields an outcome, so later rules of that case cannot win:
    # only rules up to the first such rule need their DRGs evaluated.
    fallback = held.filter(pl.col("if_no_drg") == "adrg_code").select(
        "_row", (pl.col("rule_id") * KEY_STRIDE + NO_DRG_ORDER).alias("key"))
    first = _min_key_per_row(fallback)
    cut = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
    cut[first["_row"].to_numpy()] = first["key"].to_numpy() // KEY_STRIDE
    held = held.filter(pl.Series(held["rule_id"].to_numpy()
                                 <= cut[held["_row"].to_numpy().astype(np.int64)]))
    pairs = held.select("_row", "rule_id").join(rs.rule_drgs, on="rule_id")
    drg_lookups = (rs.drg_dx0, rs.drg_dxn, rs.drg_px0, rs.drg_pxn)
    if any(t.height for t in drg_lookups):
        hits = _code_hits(codes, drg_lookups, "drg_id", ROW_DRG)
        pairs = pairs.join(hits, on=["_row", "drg_id"], how="left").with_columns(
            pl.col("bits").fill_null(0))
    else:
        pairs = pairs.with_columns(pl.lit(0, pl.Int64).alias("bits"))
    pairs = _with(_with(pairs, drg_attrs, "drg_id"),
                  features.select("fbits", "age", "age_days", "los", "icu_hours"), "_row")
    chosen = pairs.filter(((pl.col("bits") & pl.col("need_code")) == pl.col("need_code"))
                          & _atoms_hold() & _drg_params()).select(
        "_row", (pl.col("rule_id") * KEY_STRIDE + pl.col("order_in_adrg")).alias("key"))
    best = _min_key_per_row(pl.concat([chosen.with_columns(pl.col("_row").cast(pl.UInt32)),
                                       first]))
    return best, entries["_row"].unique().cast(pl.UInt32)


def group_drg(cases: CaseTable, ruleset: str | Ruleset = "chs_drg_11", *,
              translate_codes: bool = False) -> pl.DataFrame:
    """Group cases (contracts §1) with a DRG ruleset; one output row per input row, in order.

    >>> group_drg(pl.DataFrame({"case_id": ["1"], "sex": [1], "age": [60],
    ...     "diagnoses": [["I63.900"]], "procedures": [[]]}))["drg"].to_list()  # doctest: +SKIP
    ['BR25']
    """
    rs = resolve_ruleset(ruleset)
    cases_n = normalise_cases(cases)
    dx, px = explode_codes(cases_n, "diagnoses"), explode_codes(cases_n, "procedures")
    warnings = warnings_column(cases_n, rs, dx, px)  # on the codes as given
    cases_n = cases_n.with_columns(validation_error().alias("error_code"))
    if translate_codes:
        cases_n = _translate(cases_n, rs)
        dx, px = explode_codes(cases_n, "diagnoses"), explode_codes(cases_n, "procedures")
    valid = cases_n["error_code"].is_null().to_numpy()
    dx = dx.filter(pl.Series(valid[dx["_row"].to_numpy()]))
    px = px.filter(pl.Series(valid[px["_row"].to_numpy()]))
    dx = dx.join(rs.code_ids, on="code").select("_row", "cid", "pos")
    px = px.join(rs.code_ids, on="code").select("_row", "cid", "pos")
    n = cases_n.height
    valid_rows = pl.Series(np.flatnonzero(valid).astype(np.uint32))
    prefix_hits = None
    if rs.mdc_prefixes.height:
        raw = explode_codes(cases_n, "diagnoses")
        prefix_hits = prefix_entries(raw.filter(pl.Series(valid[raw["_row"].to_numpy()])), rs)
    best, entered = best_keys(dx, px, rs, n, cases_n, valid_rows, prefix_hits)
    # outcome row per case by gather; the extra last row of `padded` is all-null (no group)
    padded = pl.concat([rs.outcomes.drop("key"),
                        pl.DataFrame(schema=rs.outcomes.drop("key").schema, data=[[None]] * 5)])
    idx = np.full(n, rs.outcomes.height, dtype=np.int64)
    idx[best["_row"].to_numpy()] = np.searchsorted(rs.outcomes["key"].to_numpy(),
                                                   best["key"].to_numpy())
    grouped_arr = idx < rs.outcomes.height
    out = cases_n.select("case_id", "error_code").hstack(padded[pl.Series(idx)]).with_columns(
        pl.Series("_grouped", grouped_arr), _flag(n, entered).alias("_entered"))
    invalid = pl.col("error_code").is_not_null()
    out = out.with_columns(
        pl.when(invalid).then(pl.lit("invalid"))
        .when("_grouped").then(pl.col("status"))
        .otherwise(pl.lit("ungroupable")).alias("status"),
        pl.when(invalid).then(pl.col("error_code"))
        .when("_grouped").then(pl.lit(None, pl.String))
        .when("_entered").then(pl.lit(ErrorCode.NO_ADRG.value))
        .otherwise(pl.lit(ErrorCode.NO_MDC.value)).alias("error_code"),
    ).with_columns(error_message().alias("error_message"), warnings)
    return out.select(OUTPUT_COLUMNS)
