"""Columnar CHS-DRG grouping: MDC → ADRG → DRG as joins over exploded code tables.

The sequential procedure of the ruleset README (MDCs in order, ADRG rules in order, DRGs in
order, fall-through) is equivalent to taking, per case, the smallest key
`rule_id * 1024 + order_in_adrg` over all (ADRG rule, DRG) pairs whose MDC entry, rule and DRG
condition hold, where `rule_id` numbers the rules by (MDC eval order, order in MDC) and an
`adrg_code` rule that holds adds its fallback key `rule_id * 1024 + 1023`. So every rule is
evaluated for the cases its code lists hit, in bulk, and no Python code runs per case.
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

import numpy as np
import polars as pl

from grouper import atoms as A
from grouper import drg_params as P
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


def _or_into(mask: np.ndarray, rows: np.ndarray, ranks: np.ndarray | int) -> None:
    """Set bit `rank` of `mask[row]` for every (row, rank) pair (repeated rows allowed)."""
    bits = np.left_shift(np.uint32(1), np.asarray(ranks, dtype=np.uint32))
    np.bitwise_or.at(mask, rows.astype(np.int64), bits)


def _mdc_entries(features: pl.DataFrame, c: Codes, rs: Ruleset, valid: np.ndarray,
                 prefix_hits: pl.DataFrame | None) -> np.ndarray:
    """Per row, the MDCs whose entry rule holds, as a bit mask over `mdc_rank` (uint32).

    Each MDC atom is one bit mask per row (which MDCs it holds for); an MDC is entered when all
    the atoms of its rule_kind hold and its sex/age columns fit. `always` needs no atom, so an
    `always` MDC is entered by every valid row without a row per case being built.
    """
    n = features.height
    mdc = rs.mdc
    have: dict[int, np.ndarray] = {}

    def add(bit: int, rows: pl.Series | np.ndarray, ranks: pl.Series | np.ndarray | int) -> None:
        mask = have.setdefault(bit, np.zeros(n, dtype=np.uint32))
        rows = rows.to_numpy() if isinstance(rows, pl.Series) else rows
        ranks = ranks.to_numpy() if isinstance(ranks, pl.Series) else ranks
        _or_into(mask, rows, ranks)

    # principal diagnosis: bits 1 (principal_dx), 2 (any_dx), 32 (principal_dx_or_dx_prefix)
    dx0 = c.dx0.join(rs.mdc_dx0_i, on="cid").select("_row", "mdc_rank", "bits")
    for bit in (1, 2, 32):
        part = dx0.filter((pl.col("bits") & bit) > 0)
        add(bit, part["_row"], part["mdc_rank"])
    if prefix_hits is not None and prefix_hits.height:
        add(32, prefix_hits["_row"], prefix_hits["mdc_rank"])
    if rs.mdc_dxn_i.height:
        part = c.dxn.join(rs.mdc_dxn_i, on="cid")
        add(2, part["_row"], part["mdc_rank"])
    px0_or = np.flatnonzero(features["px0_is_or"].to_numpy())
    for bit in (4, 8):
        for rank in mdc.filter((pl.col("need") & bit) > 0)["mdc_rank"].to_list():
            add(bit, px0_or, rank)
    if rs.mdc_px_listed_i.height:
        part = c.px0.join(rs.mdc_px_listed_i, on="cid")
        add(8, part["_row"], part["mdc_rank"])
    trauma = mdc.filter((pl.col("need") & 16) > 0).select("mdc_rank", "min_trauma_regions")
    if trauma.height:
        regions = (c.dx.join(rs.trauma_i, on="cid").group_by("_row")
                   .agg(pl.col("region_id").n_unique().alias("n_regions")))
        for rank, least in trauma.iter_rows():
            add(16, regions.filter(pl.col("n_regions") >= least)["_row"], rank)

    everything = np.uint32((1 << mdc.height) - 1)
    entered = np.where(valid, everything, np.uint32(0)).astype(np.uint32)
    need = mdc["need"].to_numpy()
    for bit in (1, 2, 4, 8, 16, 32):
        needing = np.uint32(sum(1 << r for r in np.flatnonzero(need & bit)))
        if needing:
            entered &= have.get(bit, np.zeros(n, dtype=np.uint32)) | ~needing
    for col, case_col in (("sex", "sex"), ("age_years", "age")):
        for v in mdc[col].drop_nulls().unique().to_list():
            ranks = np.uint32(sum(1 << r for r in np.flatnonzero(
                (mdc[col] == v).fill_null(False).to_numpy())))
            fits = (features[case_col] == v).fill_null(False).to_numpy()
            entered &= np.where(fits, everything, ~ranks)
    return entered


class _HitTable(NamedTuple):
    """A (cid, owner, bits) lookup as sorted numpy columns: the entries of code number `cid`
    are `owner[start[cid]:start[cid + 1]]` (and `bits` alike)."""

    start: np.ndarray
    owner: np.ndarray
    bits: np.ndarray


@lru_cache(maxsize=64)
def _hit_table(rs: Ruleset, name: str) -> _HitTable:
    table = getattr(rs, name)
    owner = "rule_id" if name.startswith("rule_") else "drg_id"
    t = table.sort("cid", owner)
    counts = np.bincount(t["cid"].to_numpy().astype(np.int64), minlength=rs.code_ids.height)
    return _HitTable(np.concatenate(([0], np.cumsum(counts))).astype(np.int64),
                     t[owner].to_numpy().astype(np.int64), t["bits"].to_numpy().astype(np.int64))


def _code_hits(c: Codes, rs: Ruleset, names: tuple[str, ...], stride: int
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, owners, bits), sorted by (row, owner), one entry per pair: which code atoms of
    which rules (DRGs) the case's codes satisfy. `names` are the ruleset's lookups for the
    principal diagnosis, later diagnoses, principal procedure, later procedures."""
    keys, bits = [], []
    for side, name in zip((c.dx0, c.dxn, c.px0, c.pxn), names, strict=True):
        table = _hit_table(rs, name)
        if table.owner.size == 0 or side.height == 0:
            continue
        cid = side["cid"].to_numpy().astype(np.int64)
        first, count = table.start[cid], table.start[cid + 1] - table.start[cid]
        total = int(count.sum())
        if total == 0:
            continue
        rows = np.repeat(side["_row"].to_numpy().astype(np.int64), count)
        at = np.repeat(first - (np.cumsum(count) - count), count) + np.arange(total)
        keys.append(rows * stride + table.owner[at])
        bits.append(table.bits[at])
    if not keys:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    k = np.concatenate(keys)
    order = np.argsort(k, kind="stable")
    k = k[order]
    starts = np.flatnonzero(np.concatenate(([True], k[1:] != k[:-1])))
    b = np.bitwise_or.reduceat(np.concatenate(bits)[order], starts)
    k = k[starts]
    return k // stride, k % stride, b


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


class _RuleArrays(NamedTuple):
    """Per rule / per DRG numpy columns (index = rule_id / drg_id) for the filters of
    `best_keys`; built once per ruleset."""

    rank: np.ndarray  # MDC rank of the rule
    not_entered: np.ndarray
    coded: np.ndarray  # the rule has code atoms (or procedure groups)
    need_code: np.ndarray
    need_not: np.ndarray
    need_feat: np.ndarray
    special: np.ndarray  # parameter columns or procedure groups: checked as expressions
    fallback: np.ndarray  # if_no_drg = adrg_code
    drg_start: np.ndarray  # the rule's DRGs are drg_of[drg_start[r]:drg_start[r + 1]]
    drg_of: np.ndarray
    drg_order: np.ndarray  # by drg_id
    drg_need_code: np.ndarray
    drg_need_feat: np.ndarray
    drg_special: np.ndarray


_RULE_PARAMS = P.columns("adrg")
_DRG_PARAMS = P.columns("drg")


@lru_cache(maxsize=16)
def _rule_arrays(rs: Ruleset) -> _RuleArrays:
    r, d = rs.rules, rs.drgs
    assert r["rule_id"].to_list() == list(range(r.height))
    assert d["drg_id"].to_list() == list(range(d.height))
    special = r.select(pl.any_horizontal(*[pl.col(c).is_not_null() for c in _RULE_PARAMS],
                                         pl.col("need_px_groups"))).to_series()
    drg_special = d.select(pl.any_horizontal(
        *[pl.col(c).is_not_null() for c in _DRG_PARAMS])).to_series()
    counts = np.bincount(rs.rule_drgs["rule_id"].to_numpy(), minlength=r.height)
    return _RuleArrays(
        rank=r["mdc_rank"].to_numpy().astype(np.uint32),
        not_entered=r["not_entered"].to_numpy(),
        coded=((r["need_code"] > 0) | r["need_px_groups"]).to_numpy(),
        need_code=r["need_code"].to_numpy(), need_not=r["need_not"].to_numpy(),
        need_feat=r["need_feat"].to_numpy(), special=special.to_numpy(),
        fallback=(r["if_no_drg"] == "adrg_code").fill_null(False).to_numpy(),
        drg_start=np.concatenate(([0], np.cumsum(counts))),
        drg_of=rs.rule_drgs["drg_id"].to_numpy(),
        drg_order=d["order_in_adrg"].to_numpy(), drg_need_code=d["need_code"].to_numpy(),
        drg_need_feat=d["need_feat"].to_numpy(), drg_special=drg_special.to_numpy())


def _considered(entered: np.ndarray, rows: np.ndarray, rule_ids: np.ndarray,
                ra: _RuleArrays) -> np.ndarray:
    """Whether each (row, rule) pair is tried: the rule's MDC was entered, or, for a
    `not_entered` rule, was not (ruleset README, step 2)."""
    inside = ((entered[rows] >> ra.rank[rule_ids]) & 1).astype(bool)
    return inside != ra.not_entered[rule_ids]


def _bits_of(hits: tuple[np.ndarray, np.ndarray, np.ndarray], rows: np.ndarray,
             owners: np.ndarray, stride: int) -> np.ndarray:
    """The hit bits of each (row, owner) pair, 0 where the case's codes hit none of its lists."""
    h_rows, h_owners, h_bits = hits
    out = np.zeros(rows.size, dtype=np.int64)
    if h_rows.size == 0 or rows.size == 0:
        return out
    h_key = h_rows * stride + h_owners  # ascending: `_code_hits` returns its keys sorted
    key = rows * stride + owners
    pos = np.minimum(np.searchsorted(h_key, key), h_key.size - 1)
    found = h_key[pos] == key
    out[found] = h_bits[pos[found]]
    return out


def _codeless_candidates(rs: Ruleset, ra: _RuleArrays, fbits: np.ndarray, age: pl.Series,
                         entered: np.ndarray, valid: np.ndarray,
                         hits: tuple[np.ndarray, np.ndarray, np.ndarray]
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, rule_ids, bits) for the rules without code atoms that a row may satisfy.

    Such a rule is a candidate for every row that considers it (`_considered`); rows whose
    feature bits (e.g. an OR principal procedure) or age in years already fail it are left
    out here, so the few `always`-like rules do not make a row per case and rule.
    """
    subsets: dict[tuple[int, int | None], tuple[np.ndarray, np.ndarray]] = {}
    rows_parts, rule_parts = [], []
    for rule_id, age_years in rs.rules.filter(~pl.Series(ra.coded)).select(
            "rule_id", "age_years").iter_rows():
        need_feat = int(ra.need_feat[rule_id])
        key = (need_feat, age_years)
        if key not in subsets:
            ok = valid & ((fbits & need_feat) == need_feat)
            if age_years is not None:
                ok &= (age == age_years).fill_null(False).to_numpy()
            rows = np.flatnonzero(ok)
            subsets[key] = (rows, entered[rows])
        rows, ent = subsets[key]
        inside = ((ent >> ra.rank[rule_id]) & 1).astype(bool)
        chosen = rows[inside != ra.not_entered[rule_id]]
        rows_parts.append(chosen)
        rule_parts.append(np.full(chosen.size, rule_id, dtype=np.int64))
    rows = np.concatenate([np.zeros(0, np.int64), *rows_parts]).astype(np.int64)
    rule_ids = np.concatenate([np.zeros(0, np.int64), *rule_parts])
    bits = np.zeros(rows.size, dtype=np.int64)
    negative = np.flatnonzero(ra.need_not[rule_ids] > 0)
    if negative.size:  # negative code atoms need the case's hits on the rule's lists
        bits[negative] = _bits_of(hits, rows[negative], rule_ids[negative], ROW_RULE)
        keep = (bits & ra.need_not[rule_ids]) == 0
        rows, rule_ids, bits = rows[keep], rule_ids[keep], bits[keep]
    return rows, rule_ids, bits


def _special_hold(frame: pl.DataFrame, attrs: pl.DataFrame, idx: str, features: pl.DataFrame,
                  test: pl.Expr) -> np.ndarray:
    """Evaluate `test` (parameter columns, procedure groups) on the few rows that need it."""
    if frame.height == 0:
        return np.zeros(0, dtype=bool)
    full = _with(_with(frame, attrs, idx), features, "_row")
    return full.select(test.fill_null(False)).to_series().to_numpy()


def _min_key(rows: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The smallest key of each row (rows, keys) -> (distinct rows, their smallest key)."""
    combined = np.sort(rows.astype(np.int64) * (1 << 32) + keys)
    r = combined >> 32
    first = np.flatnonzero(np.concatenate(([True], r[1:] != r[:-1]))) if r.size else r
    return r[first], combined[first] & ((1 << 32) - 1)


def best_keys(dx: pl.DataFrame, px: pl.DataFrame, rs: Ruleset, n: int,
              features_of: pl.DataFrame, valid_rows: pl.Series | None = None,
              prefix_hits: pl.DataFrame | None = None) -> tuple[pl.DataFrame, pl.Series]:
    """(_row, key) of the winning outcome per grouped case, and the rows that entered an MDC.

    `dx`/`px` are the exploded codes of the valid cases; `features_of` holds the demographic
    columns of all n rows (row i = `_row` i); `valid_rows` the rows that passed validation
    (default: all); `prefix_hits` the `prefix_entries` of the valid rows.
    The filters run on numpy columns gathered by rule / DRG number; the rare rules and DRGs
    with parameter columns or procedure groups are checked as polars expressions.
    """
    if valid_rows is None:
        valid_rows = pl.int_range(n, dtype=pl.UInt32, eager=True)
    valid = np.zeros(n, dtype=bool)
    valid[valid_rows.to_numpy()] = True
    ra = _rule_arrays(rs)
    codes = Codes.split(dx, px)
    features = _features(features_of, codes, rs)
    fbits = features["fbits"].to_numpy()
    entered = _mdc_entries(features, codes, rs, valid, prefix_hits)

    # ADRG rules: code atoms from the hits, then MDC entry, then feature atoms
    hits = _code_hits(codes, rs, ("rule_dx0", "rule_dxn", "rule_px0", "rule_pxn"), ROW_RULE)
    rows, rids, bits = hits
    need = ra.need_code[rids]
    keep = ra.coded[rids] & ((bits & need) == need) & ((bits & ra.need_not[rids]) == 0)
    rows, rids, bits = rows[keep], rids[keep], bits[keep]
    keep = _considered(entered, rows, rids, ra)
    c_rows, c_rids, c_bits = _codeless_candidates(rs, ra, fbits, features["age"], entered,
                                                  valid, hits)
    rows = np.concatenate([rows[keep], c_rows])
    rids = np.concatenate([rids[keep], c_rids])
    bits = np.concatenate([bits[keep], c_bits])
    feat = ra.need_feat[rids]
    held = (fbits[rows] & feat) == feat
    special = np.flatnonzero(held & ra.special[rids])
    if special.size:
        rule_attrs = rs.rules.select(
            *_RULE_PARAMS, "need_px_groups",
            *[c for c in rs.rules.columns if c.startswith("px_alt")])
        held[special] = _special_hold(
            pl.DataFrame({"_row": rows[special], "rule_id": rids[special],
                          "bits": bits[special]}), rule_attrs, "rule_id",
            features.select(P.facts("adrg")),
            P.batch_condition("adrg") & _px_groups_hold(rs))
    rows, rids = rows[held], rids[held]

    # A held `adrg_code` rule always yields an outcome, so later rules of that case cannot win:
    # only rules up to the first such rule need their DRGs evaluated.
    fb = ra.fallback[rids]
    first_rows, first_keys = _min_key(rows[fb], rids[fb] * KEY_STRIDE + NO_DRG_ORDER)
    cut = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
    cut[first_rows] = first_keys // KEY_STRIDE
    keep = rids <= cut[rows]
    rows, rids = rows[keep], rids[keep]

    # (row, rule, DRG) pairs: each held rule with each of its DRGs
    count = ra.drg_start[rids + 1] - ra.drg_start[rids]
    p_rows, p_rids = np.repeat(rows, count), np.repeat(rids, count)
    within = np.arange(p_rows.size) - np.repeat(np.cumsum(count) - count, count)
    p_drg = ra.drg_of[ra.drg_start[p_rids] + within]
    d_feat = ra.drg_need_feat[p_drg]
    chosen = (fbits[p_rows] & d_feat) == d_feat
    drg_lookups = ("drg_dx0", "drg_dxn", "drg_px0", "drg_pxn")
    d_need = ra.drg_need_code[p_drg]
    if any(getattr(rs, t).height for t in drg_lookups):
        p_bits = _bits_of(_code_hits(codes, rs, drg_lookups, ROW_DRG), p_rows, p_drg, ROW_DRG)
        chosen &= (p_bits & d_need) == d_need
    else:
        chosen &= d_need == 0
    special = np.flatnonzero(chosen & ra.drg_special[p_drg])
    if special.size:
        chosen[special] = _special_hold(
            pl.DataFrame({"_row": p_rows[special], "drg_id": p_drg[special]}),
            rs.drgs.select(_DRG_PARAMS), "drg_id", features.select(P.facts("drg")),
            P.batch_condition("drg"))
    keys = np.concatenate([p_rids[chosen] * KEY_STRIDE + ra.drg_order[p_drg[chosen]],
                           first_keys])
    best_rows, best = _min_key(np.concatenate([p_rows[chosen], first_rows]), keys)
    return (pl.DataFrame({"_row": best_rows.astype(np.uint32), "key": best}),
            pl.Series(np.flatnonzero(entered).astype(np.uint32)))


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
    raw_dx = dx = dx.filter(pl.Series(valid[dx["_row"].to_numpy()]))  # the codes as given
    px = px.filter(pl.Series(valid[px["_row"].to_numpy()]))
    dx = dx.join(rs.code_ids, on="code").select("_row", "cid", "pos")
    px = px.join(rs.code_ids, on="code").select("_row", "cid", "pos")
    n = cases_n.height
    valid_rows = pl.Series(np.flatnonzero(valid).astype(np.uint32))
    prefix_hits = prefix_entries(raw_dx, rs)  # None without prefixes
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
