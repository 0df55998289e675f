"""Dict/set lookups of a compiled ruleset, for the per-case path (explain, group_one).

Built once per ruleset from the same compiled frames the batch grouper joins against.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import polars as pl

from grouper import atoms as A
from grouper import drg_params as P
from grouper.ruleset import Ruleset


@dataclass(frozen=True)
class RuleEntry:
    rule_id: int
    adrg: str
    variant: int
    mdc: str
    atoms: tuple[str, ...]
    params: dict[str, Any]
    px_alts: tuple[int, ...]
    if_no_drg: str
    fallback_drg: str
    name: str
    lists: dict[str, frozenset[str]]
    not_entered: bool = False
    is_qy: bool = False
    # the compiled masks of the batch path (ruleset.py): code atoms, negative code atoms and
    # feature atoms; `explain` uses them to skip a rule the case's hits cannot satisfy
    need_code: int = 0
    need_not: int = 0
    need_feat: int = 0


@dataclass(frozen=True)
class DrgEntry:
    drg: str
    adrg: str
    order: int
    atoms: tuple[str, ...]
    params: dict[str, Any]
    name: str
    lists: dict[str, frozenset[str]]


@dataclass(frozen=True)
class CaseLookups:
    mdcs: tuple[dict[str, Any], ...]
    mdc_dx: dict[str, frozenset[str]]
    mdc_entry_px: dict[str, frozenset[str]]
    or_codes: frozenset[str]
    trauma: dict[str, str]
    mcc: dict[str, str]
    cc: dict[str, str]
    exclusion: dict[str, frozenset[str]]
    rules_by_mdc: dict[str, tuple[RuleEntry, ...]]
    drgs_by_adrg: dict[str, tuple[DrgEntry, ...]]
    dx_names: dict[str, str]
    px_names: dict[str, str]
    known_dx: frozenset[str]
    known_px: frozenset[str]
    sex_of_dx: dict[str, int]
    dx_map: dict[str, str]
    px_map: dict[str, str]
    mdc_prefixes: dict[str, tuple[str, ...]] = None  # type: ignore[assignment]
    # code -> ((rule_id, bits), ...): the batch path's hit tables for a code in the principal
    # position / a later position, diagnoses and procedures apart
    rule_hits: tuple[dict[str, tuple[tuple[int, int], ...]], ...] = ()
    rules: tuple[RuleEntry, ...] = ()  # by rule_id
    # per MDC, the rules without code atoms (tried whatever the codes): those tried when the
    # MDC is entered, and those tried when it is not; and the MDCs with not-entered rules
    codeless_entered: dict[str, tuple[RuleEntry, ...]] = None  # type: ignore[assignment]
    codeless_not_entered: dict[str, tuple[RuleEntry, ...]] = None  # type: ignore[assignment]
    has_not_entered: frozenset[str] = frozenset()
    # MDCs whose entry needs a listed principal diagnosis (`principal_dx` in the rule_kind)
    needs_principal: frozenset[str] = frozenset()
    # (feature bits, age in years if some rule without code atoms names it, else None,
    # not-entered section?) -> the MDCs with a rule without code atoms in that section that a
    # case with those facts may satisfy
    codeless_mdcs: dict[tuple[int, int | None, bool], frozenset[str]] = None  # type: ignore[assignment]
    codeless_ages: frozenset[int] = frozenset()
    # (MDC, entered?, feature bits) -> its rules without code atoms whose feature atoms those
    # bits satisfy (the `codeless_entered` / `codeless_not_entered` rules, filtered once)
    codeless_by_feat: dict[tuple[str, bool, int], tuple[RuleEntry, ...]] = None  # type: ignore[assignment]


def _lists(frame: pl.DataFrame, key_cols: list[str]) -> dict[tuple[Any, ...], dict[str, set[str]]]:
    out: dict[tuple[Any, ...], dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for row in frame.iter_rows(named=True):
        out[tuple(row[k] for k in key_cols)][row["list"]].add(row["code"])
    return out


def _frozen(lists: dict[str, set[str]] | None) -> dict[str, frozenset[str]]:
    return {k: frozenset(v) for k, v in (lists or {}).items()}


def _hits_by_code(rs: Ruleset, table: pl.DataFrame) -> dict[str, tuple[tuple[int, int], ...]]:
    out: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for code, rule_id, bits in table.join(rs.code_ids, on="cid").select(
            "code", "rule_id", "bits").iter_rows():
        out[code].append((rule_id, bits))
    return {k: tuple(v) for k, v in out.items()}


def _codeless_ages(rules: dict[str, list[RuleEntry]]) -> set[int]:
    return {r.params["age_years"] for v in rules.values() for r in v
            if not r.need_code and "age_years" in r.params}


def _codeless_by_feat(rules: dict[str, list[RuleEntry]]
                      ) -> dict[tuple[str, bool, int], tuple[RuleEntry, ...]]:
    out = {}
    for mdc, v in rules.items():
        for entered in (False, True):
            codeless = [r for r in v if not r.need_code and r.not_entered != entered]
            for fbits in range(1 << len(A.FEATURE_BITS)):
                fit = tuple(r for r in codeless if (fbits & r.need_feat) == r.need_feat)
                if fit:
                    out[mdc, entered, fbits] = fit
    return out


def _codeless_mdcs(rules: dict[str, list[RuleEntry]]
                   ) -> dict[tuple[int, int | None, bool], frozenset[str]]:
    codeless = [r for v in rules.values() for r in v if not r.need_code]
    return {(fbits, age, section): frozenset(
        r.mdc for r in codeless if (fbits & r.need_feat) == r.need_feat
        and r.params.get("age_years", age) == age and r.not_entered == section)
        for fbits in range(1 << len(A.FEATURE_BITS)) for age in (*_codeless_ages(rules), None)
        for section in (False, True)}


@lru_cache(maxsize=16)
def _build(rs: Ruleset) -> CaseLookups:
    t = rs.tables
    mdcs = tuple(rs.mdc.sort("eval_order").iter_rows(named=True))
    for m in mdcs:
        m["atoms"] = tuple(a for a in m["rule_kind"].split("+") if a)
    mdc_dx: dict[str, set[str]] = defaultdict(set)
    for m, code in t["mdc_principal_dx"].iter_rows():
        mdc_dx[m].add(code)
    entry_px: dict[str, set[str]] = defaultdict(set)
    for m, code in t["mdc_entry_px"].iter_rows():
        entry_px[m].add(code)
    exclusion: dict[str, set[str]] = defaultdict(set)
    for code, table in t["cc_exclusion"].iter_rows():
        exclusion[code].add(table)
    adrg_lists = _lists(t["adrg_codes"], ["adrg", "variant"])
    rules: dict[str, list[RuleEntry]] = defaultdict(list)
    alt_cols = [c for c in rs.rules.columns if c.startswith("px_alt")]
    for r in rs.rules.sort("rule_id").iter_rows(named=True):
        rules[r["mdc"]].append(RuleEntry(
            rule_id=r["rule_id"], adrg=r["adrg"], variant=r["variant"], mdc=r["mdc"],
            atoms=tuple(r["atoms"]),
            params={k: r[k] for k in P.columns("adrg") if r[k] is not None},
            px_alts=tuple(r[c] for c in alt_cols if r[c] is not None),
            if_no_drg=r["if_no_drg"], fallback_drg=r["fallback_drg"], name=r["name"] or "",
            lists=_frozen(adrg_lists.get((r["adrg"], r["variant"]))),
            not_entered=bool(r["not_entered"]), is_qy=bool(r["is_qy"]),
            need_code=r["need_code"], need_not=r["need_not"], need_feat=r["need_feat"],
        ))
    drg_lists = _lists(t["drg_codes"], ["drg"])
    drgs: dict[str, list[DrgEntry]] = defaultdict(list)
    for d in rs.drgs.sort("adrg", "order_in_adrg").iter_rows(named=True):
        drgs[d["adrg"]].append(DrgEntry(
            drg=d["drg"], adrg=d["adrg"], order=d["order_in_adrg"], atoms=tuple(d["atoms"]),
            params={k: d[k] for k in P.columns("drg") if d[k] is not None},
            name=d["name"] or "", lists=_frozen(drg_lists.get((d["drg"],))),
        ))
    rule_hits = tuple(_hits_by_code(rs, table)
                      for table in (rs.rule_dx0, rs.rule_dxn, rs.rule_px0, rs.rule_pxn))
    return CaseLookups(
        rule_hits=rule_hits,
        rules=tuple(sorted((r for v in rules.values() for r in v), key=lambda r: r.rule_id)),
        codeless_entered={m: tuple(r for r in v if not r.not_entered and not r.need_code)
                          for m, v in rules.items()},
        codeless_not_entered={m: tuple(r for r in v if r.not_entered and not r.need_code)
                              for m, v in rules.items()},
        has_not_entered=frozenset(m for m, v in rules.items() if any(r.not_entered for r in v)),
        codeless_mdcs=_codeless_mdcs(rules),
        codeless_by_feat=_codeless_by_feat(rules),
        codeless_ages=frozenset(_codeless_ages(rules)),
        needs_principal=frozenset(m["mdc"] for m in mdcs if "principal_dx" in m["atoms"]),
        mdcs=mdcs,
        mdc_dx={k: frozenset(v) for k, v in mdc_dx.items()},
        mdc_entry_px={k: frozenset(v) for k, v in entry_px.items()},
        or_codes=frozenset(rs.or_codes.to_list()),
        trauma=dict(t["trauma_region_dx"].iter_rows()),
        mcc=dict(t["mcc"].iter_rows()), cc=dict(t["cc"].iter_rows()),
        exclusion={k: frozenset(v) for k, v in exclusion.items()},
        rules_by_mdc={k: tuple(v) for k, v in rules.items()},
        drgs_by_adrg={k: tuple(v) for k, v in drgs.items()},
        dx_names=dict(t["icd10"].iter_rows()), px_names=dict(t["icd9cm3"].iter_rows()),
        known_dx=frozenset(rs.known_dx.to_list()), known_px=frozenset(rs.known_px.to_list()),
        sex_of_dx=dict(rs.sex_specific_dx.iter_rows()),
        dx_map=dict(t["dx_code_map"].iter_rows()), px_map=dict(t["px_code_map"].iter_rows()),
        mdc_prefixes={m: tuple(t["mdc_dx_prefix"].filter(pl.col("mdc") == m)["prefix"])
                      for m in t["mdc_dx_prefix"]["mdc"].unique().to_list()},
    )


def lookups(rs: Ruleset) -> CaseLookups:
    """The per-case lookups of a ruleset (built on first use, then cached)."""
    return _build(rs)
