"""Load, validate and compile a DRG ruleset into lookup frames for the columnar grouper.

`load_ruleset(name)` reads the tables of `grouper/rulesets/<name>/`, checks them (unique keys,
known atoms, every referenced MDC/ADRG/DRG exists, numeric parameters) and stops with a one-line
`RulesetError` naming file, row and value. The compiled form is what the batch grouper joins
against and what `explain` turns into dict lookups: one copy of every rule.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

import polars as pl

from grouper import atoms as A
from grouper import drg_params as P
from grouper.errors import RulesetError
from grouper.ruleset_files import (
    RULESET_ROOT,
    TABLE_COLUMNS,
    Manifest,
    read_manifest,
    read_table,
)

MDC_BITS = {"always": 0, "principal_dx": 1, "any_dx": 2, "principal_px_is_or": 4,
            "principal_px_is_or_or_listed": 8, "multi_trauma": 16,
            "principal_dx_or_dx_prefix": 32}
SECTIONS = frozenset({"surgical", "medical", "qy", "not_entered"})
NO_DRG_ORDER = 1023  # order of the `adrg_code` fallback inside an ADRG rule
KEY_STRIDE = 1024
IF_NO_DRG = frozenset({"adrg_code", "next_rule"})
QY = "QY"

_INT_COLUMNS: dict[str, tuple[str, ...]] = {
    "mdc": ("eval_order", "sex", "age_years", "min_trauma_regions"),
    "adrg": ("variant", "order_in_mdc", *P.columns("adrg", int)),
    "adrg_codes": ("variant",),
    "drg": ("order_in_adrg", *P.columns("drg", int)),
}
_FLOAT_COLUMNS: dict[str, tuple[str, ...]] = {"drg": P.columns("drg", float)}
_UNIQUE_KEYS: dict[str, tuple[str, ...]] = {
    "mdc": ("mdc",), "adrg": ("adrg", "variant"), "drg": ("drg",),
    "mcc": ("dx_code",), "cc": ("dx_code",), "or_procedures": ("px_code",),
    "trauma_region_dx": ("dx_code",), "mdc_principal_dx": ("mdc", "dx_code"),
    "cc_exclusion": ("principal_dx_code", "exclusion_table"),
    "adrg_codes": ("adrg", "variant", "list", "code"), "drg_codes": ("drg", "list", "code"),
    "dx_code_map": ("from_code",), "px_code_map": ("from_code",),
}


def _fail(table: str, row: int | None, msg: str) -> RulesetError:
    where = f"{table}.csv" + (f" row {row + 2}" if row is not None else "")  # +2: header, 1-based
    return RulesetError(f"{where}: {msg}")


def _first_bad(frame: pl.DataFrame, mask: pl.Expr) -> tuple[int, dict[str, Any]] | None:
    bad = frame.with_row_index("_i").filter(mask)
    if bad.height == 0:
        return None
    row = bad.row(0, named=True)
    return int(row.pop("_i")), row


def _cast_numbers(table: str, frame: pl.DataFrame) -> pl.DataFrame:
    for kind, cols in ((pl.Int64, _INT_COLUMNS.get(table, ())),
                       (pl.Float64, _FLOAT_COLUMNS.get(table, ()))):
        for col in cols:
            cast = pl.col(col).cast(kind, strict=False)
            hit = _first_bad(frame, pl.col(col).is_not_null() & cast.is_null())
            if hit:
                raise _fail(table, hit[0], f"{col}={hit[1][col]!r} is not a number")
            frame = frame.with_columns(cast)
    return frame


def _check_unique(table: str, frame: pl.DataFrame) -> None:
    keys = list(_UNIQUE_KEYS.get(table, ()))
    if not keys:
        return
    hit = _first_bad(frame, pl.struct(keys).is_duplicated())
    if hit:
        raise _fail(table, hit[0], "duplicate key " + ", ".join(f"{k}={hit[1][k]!r}" for k in keys))


def _check_in(table: str, frame: pl.DataFrame, col: str, allowed: pl.Series, what: str) -> None:
    hit = _first_bad(frame, ~pl.col(col).is_in(allowed.implode()))
    if hit:
        raise _fail(table, hit[0], f"{col}={hit[1][col]!r} is not a known {what}")


def _check_atoms(table: str, frame: pl.DataFrame, col: str, known: frozenset[str]) -> None:
    for i, expr in enumerate(frame[col].to_list()):
        atoms = A.split_atoms(expr or "")
        if not atoms:
            raise _fail(table, i, f"{col} is empty")
        for atom in atoms:
            if atom not in known:
                raise _fail(table, i, f"{col}={expr!r}: unknown atom {atom!r}; "
                                      f"known: {', '.join(sorted(known))}")


def _mask_of(atoms: list[str]) -> int:
    mask = 0
    for atom in atoms:
        mask |= A.CODE_ATOMS.get(atom, 0)
    return mask


def _neg_mask_of(atoms: list[str]) -> int:
    mask = 0
    for atom in atoms:
        mask |= A.NEG_CODE_ATOMS.get(atom, 0)
    return mask


def is_qy(code: str) -> bool:
    """An ambiguity row (its code ends in QY)."""
    return code.endswith(QY)


def _lookups(codes: pl.DataFrame, owners: pl.DataFrame, owner: str, kind: str) -> tuple[
        pl.DataFrame, pl.DataFrame]:
    """(code, owner, bits) lookups for the principal position and for later positions.

    `codes` has (owner, list, code); `owners` has (owner, atoms: list[str]). Only hits that can
    satisfy an atom the owner actually uses are kept, which keeps the joins small.
    """
    table = A.DX_LIST_BITS if kind == "dx" else A.PX_LIST_BITS
    rows0: list[tuple[str, int, int]] = []
    rowsn: list[tuple[str, int, int]] = []
    atoms_of = dict(zip(owners[owner].to_list(), owners["atoms"].to_list(), strict=True))
    lists = A.DX_LISTS if kind == "dx" else A.PX_LISTS
    for oid, lst, code in codes.filter(pl.col("list").is_in(list(lists))).iter_rows():
        used = atoms_of.get(oid, [])
        b0 = bn = 0
        for (l_name, atom), (bits0, bitsn) in table.items():
            if l_name == lst and atom in used:
                b0 |= bits0
                bn |= bitsn
        if kind == "px" and lst.startswith("px_g") and "px_groups" in used:
            b0 |= A.px_group_bit(lst)
            bn |= A.px_group_bit(lst)
        if b0:
            rows0.append((code, oid, b0))
        if bn:
            rowsn.append((code, oid, bn))
    schema = {"code": pl.String, owner: pl.Int64, "bits": pl.Int64}

    def frame(rows: list[tuple[str, int, int]]) -> pl.DataFrame:
        f = pl.DataFrame(rows, schema=schema, orient="row")
        return f.group_by("code", owner).agg(pl.col("bits").bitwise_or()).sort("code", owner)

    return frame(rows0), frame(rowsn)


# Lookups of the batch grouper keyed by code number (`Ruleset.code_ids`), not by code text.
_CODE_LOOKUPS = ("mdc_dx0_i", "mdc_dxn_i", "mdc_px_listed_i", "cc_mcc_i", "cc_exclusion_i",
                 "trauma_i", "rule_dx0", "rule_dxn", "rule_px0", "rule_pxn", "drg_dx0",
                 "drg_dxn", "drg_px0", "drg_pxn")


@dataclass(eq=False)  # identity hash: one loaded ruleset is one object
class Ruleset:
    """A loaded, validated and compiled ruleset. Immutable after load; safe to share."""

    name: str
    manifest: Manifest
    tables: dict[str, pl.DataFrame]
    mdc: pl.DataFrame = field(init=False)
    rules: pl.DataFrame = field(init=False)
    drgs: pl.DataFrame = field(init=False)
    outcomes: pl.DataFrame = field(init=False)

    def __post_init__(self) -> None:
        self._validate()
        self._compile()

    # -- validation -------------------------------------------------------------------------
    def _validate(self) -> None:
        t = self.tables
        for name in TABLE_COLUMNS:
            t[name] = _cast_numbers(name, t[name])
            _check_unique(name, t[name])
        mdc, adrg, drg = t["mdc"], t["adrg"], t["drg"]
        _check_atoms("mdc", mdc, "rule_kind", A.MDC_ATOMS)
        _check_atoms("adrg", adrg, "rule_kind", A.RULE_ATOMS)
        _check_atoms("drg", drg, "condition", A.RULE_ATOMS)
        hit = _first_bad(mdc, pl.col("eval_order").is_null() | pl.col("eval_order").is_duplicated())
        if hit:
            raise _fail("mdc", hit[0], f"eval_order={hit[1]['eval_order']!r} missing or repeated")
        hit = _first_bad(mdc, ~pl.col("ambiguity_check").is_in(["yes", "no"]))
        if hit:
            raise _fail("mdc", hit[0], f"ambiguity_check={hit[1]['ambiguity_check']!r}; "
                                       "accepted: yes, no")
        for i, (kind, mtr) in enumerate(mdc.select("rule_kind", "min_trauma_regions").iter_rows()):
            if "multi_trauma" in kind and mtr is None:
                raise _fail("mdc", i, "multi_trauma needs min_trauma_regions")
        _check_in("mdc_principal_dx", t["mdc_principal_dx"], "mdc", mdc["mdc"], "MDC")
        _check_in("mdc_entry_px", t["mdc_entry_px"], "mdc", mdc["mdc"], "MDC")
        _check_in("adrg", adrg, "mdc", mdc["mdc"], "MDC")
        _check_in("adrg", adrg, "section", pl.Series(sorted(SECTIONS)), "section")
        qy_row = pl.col("adrg").str.ends_with(QY)
        hit = _first_bad(adrg, ~qy_row & ~pl.col("if_no_drg").is_in(sorted(IF_NO_DRG)))
        if hit:
            raise _fail("adrg", hit[0], f"if_no_drg={hit[1]['if_no_drg']!r} is not a known "
                                        "if_no_drg value")
        hit = _first_bad(adrg, qy_row & pl.col("if_no_drg").is_not_null()
                         & (pl.col("if_no_drg") != "adrg_code"))
        if hit:
            raise _fail("adrg", hit[0], f"if_no_drg={hit[1]['if_no_drg']!r}: an ambiguity row "
                                        "(xQY) ends grouping; leave it empty")
        hit = _first_bad(t["mdc_dx_prefix"], pl.col("prefix").is_null())
        if hit:
            raise _fail("mdc_dx_prefix", hit[0], "prefix is empty")
        _check_in("mdc_dx_prefix", t["mdc_dx_prefix"], "mdc", mdc["mdc"], "MDC")
        hit = _first_bad(adrg, pl.struct("mdc", "order_in_mdc").is_duplicated()
                         | pl.col("order_in_mdc").is_null())
        if hit:
            raise _fail("adrg", hit[0], f"order_in_mdc={hit[1]['order_in_mdc']!r} missing or "
                                        f"repeated in {hit[1]['mdc']}")
        for i, (kind, expr) in enumerate(adrg.select("rule_kind", "px_group_expr").iter_rows()):
            if "px_groups" in A.split_atoms(kind):
                try:
                    A.parse_px_group_expr(expr or "")
                except ValueError as exc:
                    raise _fail("adrg", i, f"px_group_expr={expr!r}: {exc}") from exc
        keys = adrg.select(pl.concat_str("adrg", pl.col("variant").cast(pl.String),
                                         separator="/"))
        codes_key = t["adrg_codes"].select(
            pl.concat_str("adrg", pl.col("variant").cast(pl.String), separator="/")
            .alias("adrg/variant"))
        _check_in("adrg_codes", codes_key, "adrg/variant", keys.to_series(), "ADRG rule")
        _check_in("adrg_codes", t["adrg_codes"], "list",
                  pl.Series(sorted(A.DX_LISTS | A.PX_LISTS)), "code list")
        _check_in("drg", drg, "adrg", adrg["adrg"], "ADRG")
        hit = _first_bad(drg, pl.col("adrg").str.ends_with(QY))
        if hit:
            raise _fail("drg", hit[0], f"adrg={hit[1]['adrg']!r}: an ambiguity row has no DRGs")
        hit = _first_bad(drg, pl.struct("adrg", "order_in_adrg").is_duplicated()
                         | pl.col("order_in_adrg").is_null()
                         | (pl.col("order_in_adrg") >= NO_DRG_ORDER))
        if hit:
            raise _fail("drg", hit[0], f"order_in_adrg={hit[1]['order_in_adrg']!r} missing, "
                                       f"repeated or too large in {hit[1]['adrg']}")
        _check_in("drg_codes", t["drg_codes"], "drg", drg["drg"], "DRG")
        _check_in("drg_codes", t["drg_codes"], "list", pl.Series(["dx", "dx1", "px", "px1", "px2"]),
                  "code list")
        without_drg = adrg.join(drg, on="adrg", how="anti")
        hit = _first_bad(without_drg, pl.col("if_no_drg") == "next_rule")
        if hit:
            raise _fail("adrg", None, f"ADRG {hit[1]['adrg']!r} has no DRG and next_rule")
        for table in ("mcc", "cc", "cc_exclusion"):
            hit = _first_bad(t[table], pl.col("exclusion_table").is_null())
            if hit:
                raise _fail(table, hit[0], "exclusion_table is empty")

    # -- compilation ------------------------------------------------------------------------
    def _compile(self) -> None:
        t = self.tables
        mdc = t["mdc"].with_columns(
            pl.col("rule_kind").map_elements(
                lambda k: sum(MDC_BITS[a] for a in A.split_atoms(k)), return_dtype=pl.Int64
            ).alias("need"),
            pl.col("mdc").str.slice(3).alias("letter"),
        ).sort("eval_order").with_row_index("mdc_rank")
        self.mdc = mdc

        adrg = t["adrg"].join(mdc.select("mdc", "mdc_rank", "letter", "ambiguity_check"), on="mdc")
        # The QY ambiguity point: a synthetic rule after the MDC's last surgical rule, reached
        # only when no surgical rule matched, holding when the case has an OR procedure.
        qy_rows = []
        explicit = set(adrg.filter(pl.col("section") == "qy")["mdc"].to_list())
        for m, letter in adrg.filter(pl.col("ambiguity_check") == "yes").select(
                "mdc", "letter").unique().iter_rows():
            if m in explicit:  # the ruleset states its ambiguity rows itself
                continue
            surgical = adrg.filter((pl.col("mdc") == m) & (pl.col("section") == "surgical"))
            pos = (surgical["order_in_mdc"].max() or 0) + 0.5
            qy_rows.append({"adrg": QY, "variant": 1, "mdc": m, "order": pos,
                            "rule_kind": "has_or_px", "if_no_drg": "adrg_code",
                            "name": "歧义病案", "fallback_drg": f"{letter}{QY}"})
        rules = adrg.with_columns(
            pl.col("order_in_mdc").cast(pl.Float64).alias("order"),
            pl.col("adrg").alias("fallback_drg"),
            pl.when(pl.col("adrg").str.ends_with(QY)).then(pl.lit("adrg_code"))
            .otherwise(pl.col("if_no_drg")).alias("if_no_drg"))
        if qy_rows:
            rules = pl.concat([rules, pl.DataFrame(qy_rows).join(
                mdc.select("mdc", "mdc_rank"), on="mdc")], how="diagonal_relaxed")
        rules = rules.sort("mdc_rank", "order").with_row_index("rule_id").with_columns(
            pl.col("rule_id").cast(pl.Int64),
            pl.col("rule_kind").map_elements(A.split_atoms, return_dtype=pl.List(pl.String))
            .alias("atoms"),
        )
        rules = rules.with_columns(
            pl.col("atoms").map_elements(_mask_of, return_dtype=pl.Int64).alias("need_code"),
            pl.col("atoms").map_elements(_neg_mask_of, return_dtype=pl.Int64).alias("need_not"),
            (pl.col("section").fill_null("") == "not_entered").alias("not_entered"),
            pl.col("adrg").str.ends_with(QY).alias("is_qy"),
            *_feature_flags("atoms"),
            *_px_group_alts(rules),
        )
        self.rules = rules
        codes = t["adrg_codes"].join(rules.select("adrg", "variant", "rule_id"),
                                     on=["adrg", "variant"]).select("rule_id", "list", "code")
        owners = rules.select("rule_id", "atoms")
        self.rule_dx0, self.rule_dxn = _lookups(codes, owners, "rule_id", "dx")
        self.rule_px0, self.rule_pxn = _lookups(codes, owners, "rule_id", "px")

        drgs = t["drg"].sort("adrg", "order_in_adrg").with_row_index("drg_id").with_columns(
            pl.col("drg_id").cast(pl.Int64),
            pl.col("condition").map_elements(A.split_atoms, return_dtype=pl.List(pl.String))
            .alias("atoms"),
        )
        drgs = drgs.with_columns(
            pl.col("atoms").map_elements(_mask_of, return_dtype=pl.Int64).alias("need_code"),
            *_feature_flags("atoms"),
        )
        self.drgs = drgs
        dcodes = t["drg_codes"].join(drgs.select("drg", "drg_id"), on="drg").select(
            "drg_id", "list", "code")
        downers = drgs.select("drg_id", "atoms")
        self.drg_dx0, self.drg_dxn = _lookups(dcodes, downers, "drg_id", "dx")
        self.drg_px0, self.drg_pxn = _lookups(dcodes, downers, "drg_id", "px")

        # Every possible outcome: (rule, DRG) pairs and the ADRG-code fallbacks.
        pairs = rules.select("rule_id", "mdc", "adrg", "if_no_drg", "fallback_drg").join(
            drgs.select("adrg", "drg", "order_in_adrg", pl.col("name").alias("drg_name")),
            on="adrg", how="inner")
        ok_pairs = pairs.select(
            (pl.col("rule_id") * KEY_STRIDE + pl.col("order_in_adrg")).alias("key"),
            "mdc", "adrg", "drg", "drg_name")
        # an ambiguity row's result: mdc from the first letter of its code, adrg QY, drg the code
        fallback = rules.filter(pl.col("if_no_drg") == "adrg_code").select(
            (pl.col("rule_id") * KEY_STRIDE + NO_DRG_ORDER).alias("key"),
            pl.when("is_qy").then(pl.concat_str(pl.lit("MDC"), pl.col("fallback_drg").str.head(1)))
            .otherwise(pl.col("mdc")).alias("mdc"),
            pl.when("is_qy").then(pl.lit(QY)).otherwise(pl.col("adrg")).alias("adrg"),
            pl.col("fallback_drg").alias("drg"), pl.col("name").alias("drg_name"))
        self.outcomes = pl.concat([ok_pairs, fallback]).with_columns(
            pl.when(pl.col("adrg") == QY).then(pl.lit("ambiguous")).otherwise(pl.lit("ok"))
            .alias("status")).sort("key")

        # MDC entry lookups
        pdx = t["mdc_principal_dx"].join(mdc.select("mdc", "need"), on="mdc")
        self.mdc_dx0 = pdx.filter((pl.col("need") & 35) > 0).select(
            pl.col("dx_code").alias("code"), "mdc", (pl.col("need") & 35).alias("bits"))
        # (mdc_rank, prefix): diagnosis-code prefixes that open an MDC (any position)
        self.mdc_prefixes = t["mdc_dx_prefix"].join(
            mdc.select("mdc", pl.col("mdc_rank").cast(pl.Int64)), on="mdc").select(
            "mdc_rank", "prefix")
        self.mdc_dxn = pdx.filter((pl.col("need") & 2) > 0).select(
            pl.col("dx_code").alias("code"), "mdc", pl.lit(2, pl.Int64).alias("bits"))
        self.mdc_px_listed = t["mdc_entry_px"].select(pl.col("px_code").alias("code"), "mdc")
        self.or_codes = t["or_procedures"]["px_code"].unique()
        self.trauma = t["trauma_region_dx"].rename({"dx_code": "code"})
        self.mcc = t["mcc"].rename({"dx_code": "code"})
        self.cc = t["cc"].rename({"dx_code": "code"})
        self.cc_exclusion = t["cc_exclusion"].rename({"principal_dx_code": "code"})
        # Integer forms for the batch joins (tables and regions compare as text: factorise).
        tables = pl.concat([self.mcc["exclusion_table"], self.cc["exclusion_table"],
                            self.cc_exclusion["exclusion_table"]]).unique().sort()
        table_id = pl.DataFrame({"exclusion_table": tables,
                                 "table_id": pl.int_range(tables.len(), eager=True)})
        self.mcc_i = self.mcc.join(table_id, on="exclusion_table").select("code", "table_id")
        self.cc_i = self.cc.join(table_id, on="exclusion_table").select("code", "table_id")
        self.cc_mcc_i = pl.concat([self.mcc_i.with_columns(pl.lit(True).alias("is_mcc")),
                                   self.cc_i.with_columns(pl.lit(False).alias("is_mcc"))])
        self.cc_exclusion_i = self.cc_exclusion.join(table_id, on="exclusion_table").select(
            "code", "table_id")
        self.trauma_i = self.trauma.with_columns(
            pl.col("region").rank("dense").cast(pl.Int64).alias("region_id")).select(
            "code", "region_id")
        rank = mdc.select("mdc", pl.col("mdc_rank").cast(pl.Int64))
        self.mdc_dx0_i = self.mdc_dx0.join(rank, on="mdc").select("code", "mdc_rank", "bits")
        self.mdc_dxn_i = self.mdc_dxn.join(rank, on="mdc").select("code", "mdc_rank", "bits")
        self.mdc_px_listed_i = self.mdc_px_listed.join(rank, on="mdc").select("code", "mdc_rank")
        self.rule_drgs = rules.select("rule_id", "adrg").join(
            drgs.select("adrg", "drg_id"), on="adrg").select("rule_id", "drg_id").sort(
            "rule_id", "drg_id")
        self.drg_names = dict(self.outcomes.select("drg", "drg_name").unique("drg").iter_rows())
        self._intern_codes()

    def _intern_codes(self) -> None:
        """Number every code the batch lookups name, and key those lookups by the number.

        The batch grouper maps each exploded code to its number once (`code_ids`, an inner
        join: a code no lookup names can match nothing) and then joins on integers.
        """
        codes = pl.concat([getattr(self, n)["code"] for n in _CODE_LOOKUPS]
                          + [self.or_codes]).unique().sort()
        self.code_ids = pl.DataFrame({"code": codes,
                                      "cid": pl.int_range(codes.len(), eager=True,
                                                          dtype=pl.Int32)})
        for name in _CODE_LOOKUPS:
            table = getattr(self, name)
            setattr(self, name, table.join(self.code_ids, on="code").select(
                "cid", *[c for c in table.columns if c != "code"]))
        self.or_cids = self.code_ids.filter(pl.col("code").is_in(self.or_codes.implode()))["cid"]

    # -- dictionaries for warnings and display ----------------------------------------------
    @cached_property
    def known_dx(self) -> pl.Series:
        t = self.tables
        return pl.concat([t["icd10"]["code"], t["mdc_principal_dx"]["dx_code"],
                          t["adrg_codes"].filter(pl.col("list").is_in(["dx", "dx1"]))["code"],
                          t["mcc"]["dx_code"], t["cc"]["dx_code"]]).unique()

    @cached_property
    def known_px(self) -> pl.Series:
        t = self.tables
        return pl.concat([t["icd9cm3"]["code"], t["or_procedures"]["px_code"],
                          t["adrg_codes"].filter(~pl.col("list").is_in(["dx", "dx1"]))["code"]]
                         ).unique()

    @cached_property
    def sex_specific_dx(self) -> pl.DataFrame:
        """(code, sex) for principal diagnoses of MDCs that admit only one sex."""
        sexed = self.mdc.filter(pl.col("sex").is_not_null()).select(
            "mdc", pl.col("sex").alias("mdc_sex"))
        return self.tables["mdc_principal_dx"].join(sexed, on="mdc").select(
            pl.col("dx_code").alias("code"), "mdc_sex").unique("code", keep="first")

    def summary(self) -> dict[str, Any]:
        m = self.manifest
        return {"name": m.name, "title": m.title, "version": m.version, "base": m.base or "",
                "source": m.source, "effective_from": m.effective_from,
                "effective_to": m.effective_to, "mdc": self.mdc.height,
                "adrg": self.tables["adrg"].filter(~pl.col("adrg").str.ends_with(QY))["adrg"]
                .n_unique(), "drg": self.drgs.height}


def _feature_flags(col: str) -> list[pl.Expr]:
    flags = [pl.col(col).list.contains(atom).alias(f"need_{atom}") for atom in A.FEATURE_ATOMS]
    need_feat = pl.col(col).map_elements(
        lambda atoms: sum(A.FEATURE_BITS.get(a, 0) for a in set(atoms)), return_dtype=pl.Int64)
    return [*flags, need_feat.alias("need_feat")]


def _px_group_alts(rules: pl.DataFrame) -> list[pl.Expr]:
    exprs = [e if "px_groups" in a else None
             for a, e in zip(rules["atoms"].to_list(), rules["px_group_expr"].to_list(),
                             strict=True)]
    alts = [A.parse_px_group_expr(e) if e else [] for e in exprs]
    width = max((len(a) for a in alts), default=0)
    return [pl.Series(f"px_alt{i}", [a[i] if i < len(a) else None for a in alts],
                      dtype=pl.Int64).alias(f"px_alt{i}") for i in range(max(width, 1))]


_LOAD_LOCK = threading.Lock()


@lru_cache(maxsize=16)
def _load(name: str, root: Path) -> Ruleset:
    manifest = read_manifest(name, root)
    tables = {table: read_table(manifest, table) for table in TABLE_COLUMNS}
    return Ruleset(name=name, manifest=manifest, tables=tables)


def resolve_ruleset(ruleset: str | Ruleset) -> Ruleset:
    """A loaded ruleset given either itself or its name."""
    return ruleset if isinstance(ruleset, Ruleset) else load_ruleset(ruleset)


def load_ruleset(name: str, *, root: Path = RULESET_ROOT) -> Ruleset:
    """The named ruleset, loaded and validated once per process (thread-safe)."""
    with _LOAD_LOCK:
        return _load(name, root)
