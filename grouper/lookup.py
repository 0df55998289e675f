"""Dict/set lookups of a compiled ruleset, for the per-case path (explain, group_one).

Built once per ruleset from the same compiled frames the batch grouper joins against.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import polars as pl

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


def _lists(frame: pl.DataFrame, key_cols: list[str]) -> dict[tuple[Any, ...], dict[str, set[str]]]:
    out: dict[tuple[Any, ...], dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for row in frame.iter_rows(named=True):
        out[tuple(row[k] for k in key_cols)][row["list"]].add(row["code"])
    return out


def _frozen(lists: dict[str, set[str]] | None) -> dict[str, frozenset[str]]:
    return {k: frozenset(v) for k, v in (lists or {}).items()}


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
            params={k: r[k] for k in ("age_days_max", "weight_min_g", "weight_max_g",
                                      "age_days_min", "age_years") if r[k] is not None},
            px_alts=tuple(r[c] for c in alt_cols if r[c] is not None),
            if_no_drg=r["if_no_drg"], fallback_drg=r["fallback_drg"], name=r["name"] or "",
            lists=_frozen(adrg_lists.get((r["adrg"], r["variant"]))),
            not_entered=bool(r["not_entered"]), is_qy=bool(r["is_qy"]),
        ))
    drg_lists = _lists(t["drg_codes"], ["drg"])
    drgs: dict[str, list[DrgEntry]] = defaultdict(list)
    for d in rs.drgs.sort("adrg", "order_in_adrg").iter_rows(named=True):
        drgs[d["adrg"]].append(DrgEntry(
            drg=d["drg"], adrg=d["adrg"], order=d["order_in_adrg"], atoms=tuple(d["atoms"]),
            params={k: d[k] for k in ("age_lt", "los_gt", "icu_hours_gt", "icu_hours_ge",
                                      "icu_hours_le", "age_days_max") if d[k] is not None},
            name=d["name"] or "", lists=_frozen(drg_lists.get((d["drg"],))),
        ))
    return CaseLookups(
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
