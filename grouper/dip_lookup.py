"""Dict/set lookups of a DIP catalogue, for the per-case path (explain_dip, group_dip_one).

Built once per catalogue from the same compiled frames the columnar `group_dip` joins against
(`DipCatalog.matchable`, `.terms`, `.comprehensive`, `.aux`), the shipped procedure classes and
auxiliary rules, and the ruleset's MCC/CC/exclusion tables: one copy of every rule.
"""

from __future__ import annotations

import threading
import weakref
from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from grouper.dip_aux import aux_rules
from grouper.dip_catalog import ALL_GROUPS, DipCatalog
from grouper.dip_procedure_class import load_procedure_classes
from grouper.ruleset import Ruleset, load_ruleset

AUX_SOURCES = ("secondary_dx", "any_dx", "procedure")


@dataclass(frozen=True)
class DipEntry:
    """A matchable (day-surgery, TCM, core, basic) group with its combination as sets."""

    dip_code: str
    dip_type: str
    principal_dx: str
    procedures: str
    score: float
    mean_cost: float | None
    terms: tuple[frozenset[str], ...]  # one set of `/` alternatives per `+` term
    codes: frozenset[str]  # every code the combination lists
    n_alts: int
    # the case-independent head of the batch winner order (grouper.dip.WINNER_SORT):
    # precedence, longest dx prefix, most terms
    order: tuple[int, int, int]


@dataclass(frozen=True)
class AuxPrefixes:
    """Auxiliary rules of one source: code prefix → ((dimension, rank), ...)."""

    by_prefix: dict[str, tuple[tuple[str, int], ...]]
    lengths: tuple[int, ...]


@dataclass(frozen=True)
class DipLookups:
    by_dx: dict[str, tuple[DipEntry, ...]]
    dx_lengths: tuple[int, ...]
    term_lengths: tuple[int, ...]
    comprehensive: dict[tuple[str, str], str]
    fallback: dict[tuple[str, str], str]  # (CPnn chapter, treatment class) → dip_code
    catch_all: str | None  # the fallback group without chapter (KBBZ)
    groups: dict[str, tuple[str, str | None, float]]  # dip_code → (dip_type, name, score)
    own_coef: dict[tuple[str, str, str], float]
    region_coef: dict[tuple[str, str], float]
    aux_combine: str
    severity_min_los: int
    ignored_procedures: tuple[str, ...]
    px_rank: dict[str, int]
    aux: dict[str, AuxPrefixes]
    level_of_rank: dict[str, dict[int, str]]
    mcc: dict[str, frozenset[str]]
    cc: dict[str, frozenset[str]]
    exclusion: dict[str, frozenset[str]]


def _sets(rows: Any) -> dict[str, frozenset[str]]:
    """code → non-null tables (a null table never matches, as in the batch joins)."""
    out: dict[str, set[str]] = defaultdict(set)
    for code, table in rows:
        if table is not None:
            out[code].add(table)
    return {k: frozenset(v) for k, v in out.items()}


def _coefs(rows: list[dict[str, Any]], key: tuple[str, ...]) -> dict[Any, float]:
    """Coefficient per key; of duplicate rows the highest (what aux_combine=max would take)."""
    out: dict[Any, float] = {}
    for r in rows:
        k = tuple(r[c] for c in key)
        out[k] = max(out.get(k, r["coef"]), r["coef"])
    return out


@lru_cache(maxsize=1)
def _aux_prefixes() -> tuple[dict[str, AuxPrefixes], dict[str, dict[int, str]]]:
    rules = aux_rules()
    by_source: dict[str, dict[str, list[tuple[str, int]]]] = {s: defaultdict(list)
                                                              for s in AUX_SOURCES}
    level_of_rank: dict[str, dict[int, str]] = defaultdict(dict)
    for r in rules.iter_rows(named=True):
        by_source.setdefault(r["source"], defaultdict(list))[r["code_prefix"]].append(
            (r["dimension"], r["rank"]))
        level_of_rank[r["dimension"]][r["rank"]] = r["level"]
    aux = {s: AuxPrefixes({p: tuple(v) for p, v in d.items()},
                          tuple(sorted({len(p) for p in d})))
           for s, d in by_source.items()}
    return aux, dict(level_of_rank)


def _procedure_ranks(path: str = "") -> dict[str, int]:
    return dict(load_procedure_classes(path).select("code", "rank").iter_rows())


@lru_cache(maxsize=16)
def _cci_tables(rs: Ruleset) -> tuple[dict[str, frozenset[str]], ...]:
    """(mcc, cc, exclusion) of a ruleset, shared by every catalogue on it."""
    return (_sets(rs.mcc.select("code", "exclusion_table").iter_rows()),
            _sets(rs.cc.select("code", "exclusion_table").iter_rows()),
            _sets(rs.cc_exclusion.select("code", "exclusion_table").iter_rows()))


def build_dip_lookups(catalog: DipCatalog) -> DipLookups:
    """The per-case lookups of one catalogue (use `dip_lookups` for the cached ones)."""
    terms: dict[str, dict[int, set[str]]] = defaultdict(lambda: defaultdict(set))
    for code, idx, alt in catalog.terms.select("dip_code", "term_idx", "code").iter_rows():
        terms[code][idx].add(alt)
    info = {r["dip_code"]: r for r in catalog.groups.iter_rows(named=True)}
    by_dx: dict[str, list[DipEntry]] = defaultdict(list)
    for m in catalog.matchable.iter_rows(named=True):
        code = m["dip_code"]
        entry_terms = tuple(frozenset(t) for _, t in sorted(terms[code].items()))
        by_dx[m["principal_dx"]].append(DipEntry(
            dip_code=code, dip_type=m["dip_type"], principal_dx=m["principal_dx"],
            procedures=info[code]["procedures"], score=m["score"], mean_cost=m["mean_cost"],
            terms=entry_terms, codes=frozenset().union(*entry_terms), n_alts=m["n_alts"],
            order=(m["precedence"], -m["dx_len"], -m["n_terms"])))
    comprehensive: dict[tuple[str, str], str] = {}
    for cat, tclass, code in catalog.comprehensive.sort("dip_code").iter_rows():
        comprehensive.setdefault((cat, tclass), code)
    fallback: dict[tuple[str, str], str] = {}
    catch_all: str | None = None
    for chapter, tclass, code in catalog.fallback.sort("dip_code").iter_rows():
        if chapter:
            fallback.setdefault((chapter, tclass), code)
        elif catch_all is None:
            catch_all = code
    aux_rows = catalog.aux.to_dicts()
    aux, level_of_rank = _aux_prefixes()
    mcc, cc, exclusion = _cci_tables(load_ruleset(catalog.ruleset))
    return DipLookups(
        by_dx={k: tuple(v) for k, v in by_dx.items()},
        dx_lengths=catalog.dx_lengths, term_lengths=catalog.term_lengths,
        comprehensive=comprehensive, fallback=fallback, catch_all=catch_all,
        groups={k: (r["dip_type"], r["name"], r["score"]) for k, r in info.items()},
        own_coef=_coefs([r for r in aux_rows if r["dip_code"] != ALL_GROUPS],
                        ("dip_code", "dimension", "level")),
        region_coef=_coefs([r for r in aux_rows if r["dip_code"] == ALL_GROUPS],
                           ("dimension", "level")),
        aux_combine=catalog.aux_combine, severity_min_los=catalog.severity_min_los,
        ignored_procedures=catalog.ignored_procedures,
        px_rank=_procedure_ranks(catalog.procedure_classes), aux=aux, level_of_rank=level_of_rank,
        mcc=mcc, cc=cc, exclusion=exclusion,
    )


_CACHE: dict[int, tuple[weakref.ref[DipCatalog], DipLookups]] = {}
_LOCK = threading.Lock()


def dip_lookups(catalog: DipCatalog) -> DipLookups:
    """The per-case lookups of a catalogue: built on first use, then kept while the catalogue
    object lives (a catalogue is not changed after creation). Thread-safe."""
    with _LOCK:
        hit = _CACHE.get(id(catalog))
        if hit is not None and hit[0]() is catalog:
            return hit[1]
        built = build_dip_lookups(catalog)
        key = id(catalog)
        _CACHE[key] = (weakref.ref(catalog, lambda _: _CACHE.pop(key, None)), built)
        return built
