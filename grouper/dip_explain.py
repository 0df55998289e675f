"""Per-case DIP grouping with a trace: `explain_dip(case, catalog)` and `group_dip_one`.

Follows `grouper.dip.group_dip` step by step in plain Python, on dict/set lookups of the same
compiled catalogue (`grouper.dip_lookup`): well under a millisecond per case, for the HTTP
service and `drgdip explain --method dip`. The explanation lists every candidate group with why it
did or did not match. `tests/grouper/test_dip_case_path.py` checks that both give `group_dip`'s
answer column for column. Stateless: safe to call from many threads at once.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

import polars as pl

from grouper.dip import OUTPUT_COLUMNS
from grouper.dip_aux_levels import (
    CCI_POINTS,
    DISCHARGE_DEATH,
    FIXED_SCORE_TYPES,
    SEVERITY_DEATH,
    age_band,
    cci_level,
    is_malignant,
)
from grouper.dip_case_input import DipCase, prepare_dip_one
from grouper.dip_catalog import AUX_DIMENSIONS, AUX_REFERENCE, DipCatalog, is_ignored
from grouper.dip_codes import FULL_PX_LENGTH
from grouper.dip_errors import DIP_ERROR_MESSAGES, DipErrorCode
from grouper.dip_fallback import chapter_of
from grouper.dip_lookup import DipEntry, DipLookups, dip_lookups
from grouper.dip_points import adjusted_score
from grouper.dip_procedure_class import CLASS_RANK, CLASSES, DIAGNOSTIC_PREFIXES

_FLOATS = ("dip_score", "aux_coef", "adjusted_score")
# `group_dip`'s output types, for a one-row frame of `group_dip_one` results
RESULT_SCHEMA: dict[str, Any] = {c: pl.Float64 if c in _FLOATS else pl.String
                                 for c in OUTPUT_COLUMNS}


@dataclass
class DipExplanation:
    case_id: str | None
    result: dict[str, Any]
    principal_dx: str | None
    subcategory: str | None
    category: str | None
    procedure_classes: list[dict[str, Any]]
    treatment_class: str | None
    candidates: list[dict[str, Any]] = field(default_factory=list)
    steps: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Candidate:
    entry: DipEntry
    satisfied: int
    matched: bool


def procedure_rank(code: str, lk: DipLookups) -> int:
    """`procedure_ranks`: the table, then the 7-character base code, then the chapter rules."""
    rank = lk.px_rank.get(code)
    if rank is None:
        rank = lk.px_rank.get(code[:7])
    if rank is None:
        diagnostic = 87 <= int(code[:2]) <= 91 or code.startswith(DIAGNOSTIC_PREFIXES)
        rank = CLASS_RANK["diagnostic" if diagnostic else "therapeutic"]
    return rank


def _counted_codes(c: DipCase, entries: list[DipEntry], lk: DipLookups) -> dict[int, set[str]]:
    """Per kind precedence, the catalogue codes the case's procedures count for
    (`grouper.dip.candidates`): each procedure P for the longest code the candidate groups of
    that kind list that P is (exact) or starts with as a stem (shorter than `NN.NNNN`)."""
    listed: dict[int, set[str]] = {}
    for e in entries:
        listed.setdefault(e.order[0], set()).update(e.codes)
    counted: dict[int, set[str]] = {p: set() for p in listed}
    for p in c.procedures:
        keys = [p[:n] for n in lk.term_lengths
                if len(p) == n or (len(p) > n and n < FULL_PX_LENGTH)]
        for precedence, codes in listed.items():
            best = max((k for k in keys if k in codes), key=len, default=None)
            if best is not None:
                counted[precedence].add(best)
    return counted


def candidates(c: DipCase, class_rank: int, lk: DipLookups) -> list[Candidate]:
    """`grouper.dip.candidates`: groups whose principal_dx prefixes the principal diagnosis."""
    entries: list[DipEntry] = []
    for n in lk.dx_lengths:
        if len(c.dx0) < n:
            break
        entries.extend(lk.by_dx.get(c.dx0[:n], ()))
    counted = _counted_codes(c, entries, lk)
    out = []
    for e in entries:
        present = counted.get(e.order[0], set())
        satisfied = sum(1 for alts in e.terms if not alts.isdisjoint(present))
        holds = class_rank == 0 if not e.terms else satisfied == len(e.terms)
        if e.dip_type == "tcm":
            matched = c.tcm_treatment
        elif e.dip_type == "day_surgery":
            matched = c.day_surgery and holds
        else:
            matched = holds
        out.append(Candidate(e, satisfied, matched))
    return out


def winner_key(e: DipEntry, total_cost: float | None) -> tuple[Any, ...]:
    """`grouper.dip.WINNER_SORT` for one matched group: precedence, longest diagnosis, most
    operations named, mean cost closest to the case's total cost (unknown last), higher score,
    code."""
    gap = (None if e.mean_cost is None or total_cost is None
           else abs(e.mean_cost - total_cost))
    return (*e.order, gap is None, 0.0 if gap is None else gap, -e.score, e.dip_code)


def fallback_code(c: DipCase, tclass: str, lk: DipLookups) -> str | None:
    """`grouper.dip.assign` after the matched groups: 类目 × class, chapter × class, catch-all."""
    code = lk.comprehensive.get((c.cat, tclass))
    if code is None:
        chapter = chapter_of(c.cat)
        code = lk.fallback.get((chapter, tclass)) if chapter is not None else None
    return code if code is not None else lk.catch_all


def _hits(codes: Any, source: str, lk: DipLookups, best: dict[str, int]) -> None:
    rules = lk.aux[source]
    for code in codes:
        for n in rules.lengths:
            for dim, rank in rules.by_prefix.get(code[:n], ()):
                if rank > best.get(dim, -1):
                    best[dim] = rank


def _cci_points(dx: tuple[str, ...], lk: DipLookups) -> int:
    excluded = lk.exclusion.get(dx[0], frozenset())
    secondary = set(dx[1:])
    mcc = {code for code in secondary if not lk.mcc.get(code, frozenset()) <= excluded}
    cc = {code for code in secondary - mcc if not lk.cc.get(code, frozenset()) <= excluded}
    return CCI_POINTS["mcc"] * len(mcc) + CCI_POINTS["cc"] * len(cc)


def aux_levels(c: DipCase, lk: DipLookups) -> dict[str, str]:
    """`grouper.dip_aux.aux_levels` for one valid case: tumour, severity, cci, age."""
    best: dict[str, int] = {}
    _hits(c.diagnoses[1:], "secondary_dx", lk, best)
    _hits(c.diagnoses, "any_dx", lk, best)
    _hits(c.procedures, "procedure", lk, best)
    tumour = (lk.level_of_rank["tumour"][best["tumour"]]
              if "tumour" in best and is_malignant(c.dx0) else AUX_REFERENCE["tumour"])
    if c.discharge_way == DISCHARGE_DEATH:
        severity = SEVERITY_DEATH
    elif (c.los or 0) >= lk.severity_min_los and "severity" in best:
        severity = lk.level_of_rank["severity"][best["severity"]]
    else:
        severity = AUX_REFERENCE["severity"]
    return {"tumour": tumour, "severity": severity,
            "cci": cci_level(_cci_points(c.diagnoses, lk)), "age": age_band(c.age, c.age_days)}


def aux_coefficient(levels: dict[str, str], dip_code: str, dip_type: str,
                    lk: DipLookups) -> tuple[str | None, float]:
    """`grouper.dip_aux.aux_coefficients` for one grouped case: (dimension, coefficient)."""
    if dip_type in FIXED_SCORE_TYPES:
        return None, 1.0
    found: list[tuple[float, int, str]] = []
    for priority, dim in enumerate(AUX_DIMENSIONS):
        level = levels[dim]
        if level == AUX_REFERENCE[dim]:
            continue
        coef = lk.own_coef.get((dip_code, dim, level))
        if coef is None:
            coef = lk.region_coef.get((dim, level))
        if coef is not None:
            found.append((coef, priority, dim))
    if not found:
        return None, 1.0
    coef, _, dim = (max(found, key=lambda f: (f[0], -f[1])) if lk.aux_combine == "max"
                    else found[0])
    return dim, coef


@dataclass(frozen=True)
class _Decision:
    case: DipCase
    result: dict[str, Any]
    class_rank: int = 0
    ranks: tuple[int, ...] = ()
    cands: tuple[Candidate, ...] = ()


def _decide(case: dict[str, Any], lk: DipLookups) -> _Decision:
    c = prepare_dip_one(case)
    if lk.ignored_procedures:
        c = replace(c, procedures=tuple(p for p in c.procedures
                                        if not is_ignored(p, lk.ignored_procedures)))
    out: dict[str, Any] = {
        "case_id": c.case_id, "status": "invalid", "error_code": c.error_code,
        "error_message": None, "dip_code": None, "dip_type": None, "dip_name": None,
        "dip_score": None, "treatment_class": None, "tumour_level": None,
        "severity_level": None, "cci_level": None, "age_band": None, "aux_dimension": None,
        "aux_coef": None, "adjusted_score": None}
    if c.error_code is not None:
        out["error_message"] = DIP_ERROR_MESSAGES[c.error_code]
        return _Decision(c, out)
    ranks = tuple(procedure_rank(p, lk) for p in c.procedures)
    class_rank = max(ranks, default=0)
    cands = candidates(c, class_rank, lk)
    matched = [x.entry for x in cands if x.matched]
    code = (min(matched, key=lambda e: winner_key(e, c.total_cost)).dip_code if matched
            else fallback_code(c, CLASSES[class_rank], lk))
    levels = aux_levels(c, lk)
    out.update(treatment_class=CLASSES[class_rank], tumour_level=levels["tumour"],
               severity_level=levels["severity"], cci_level=levels["cci"],
               age_band=levels["age"])
    if code is None:
        out.update(status="ungroupable", error_code=DipErrorCode.NO_DIP_GROUP.value,
                   error_message=DIP_ERROR_MESSAGES[DipErrorCode.NO_DIP_GROUP.value])
    else:
        dip_type, name, score = lk.groups[code]
        dim, coef = aux_coefficient(levels, code, dip_type, lk)
        out.update(status="ok", dip_code=code, dip_type=dip_type, dip_name=name,
                   dip_score=score, aux_dimension=dim, aux_coef=coef,
                   adjusted_score=adjusted_score(score, coef))
    return _Decision(c, out, class_rank, ranks, tuple(cands))


def group_dip_one(case: dict[str, Any], catalog: DipCatalog | DipLookups) -> dict[str, Any]:
    """Group one case (a dict of contracts §1 fields): the columns of `group_dip`, as a dict.

    Raises InputError without case_id or diagnoses, like `group_dip`."""
    lk = catalog if isinstance(catalog, DipLookups) else dip_lookups(catalog)
    return _decide(case, lk).result


def _why(x: Candidate, c: DipCase) -> str:
    e = x.entry
    if x.matched:
        return "匹配 / matched"
    if e.dip_type == "tcm":
        return "非中医治疗病例 / case not flagged tcm_treatment"
    if e.dip_type == "day_surgery" and not c.day_surgery:
        return "非日间手术病例 / case not flagged day_surgery"
    if not e.terms:
        return "保守治疗病种，但病例有手术操作 / conservative group, but the case has procedures"
    return (f"手术操作组合未满足 {x.satisfied}/{len(e.terms)} / "
            f"procedure combination: {x.satisfied} of {len(e.terms)} terms present")


def explain_dip(case: dict[str, Any], catalog: DipCatalog | DipLookups) -> DipExplanation:
    """Trace of the DIP grouping of one case (a dict of contracts §1 fields)."""
    lk = catalog if isinstance(catalog, DipLookups) else dip_lookups(catalog)
    d = _decide(case, lk)
    c, result = d.case, d.result
    steps = [f"主要诊断 / principal diagnosis: {c.dx0 or '-'}"]
    if result["status"] == "invalid":
        steps.append(f"无效病例 / invalid: {result['error_code']} {result['error_message']}")
        return DipExplanation(c.case_id, result, c.dx0 or None, None, None, [], None, [], steps)
    classes = [{"code": p, "class": CLASSES[r]} for p, r in zip(c.procedures, d.ranks,
                                                                  strict=True)]
    listed = [{"dip_code": x.entry.dip_code, "dip_type": x.entry.dip_type,
               "principal_dx": x.entry.principal_dx, "procedures": x.entry.procedures,
               "score": x.entry.score, "matched": x.matched, "why": _why(x, c)}
              for x in sorted(d.cands, key=lambda x: winner_key(x.entry, c.total_cost))]
    sub = c.dx0[:5] if len(c.dx0) >= 5 else c.dx0[:3]  # grouper.dip_codes.subcategory
    tclass = CLASSES[d.class_rank]
    n_matched = sum(x.matched for x in d.cands)
    steps.append(f"亚目 {sub} / 类目 {c.cat}; 治疗方式 / treatment class: {tclass}")
    steps.append(f"候选病种 {len(listed)} 个, 匹配 {n_matched} 个 / "
                 f"{len(listed)} candidate groups, {n_matched} matched")
    if result["status"] == "ok":
        how = ("综合病种 (类目 × 治疗方式) / comprehensive group (category × treatment class)"
               if result["dip_type"] == "comprehensive" else
               "兜底病种 (章 × 治疗方式，或空白病种) / fallback group (chapter × treatment class, "
               "or the catch-all)" if result["dip_type"] == "fallback" else
               "优先级最高、最具体的匹配 / highest-precedence, most specific match")
        steps.append(f"入组 / group: {result['dip_code']} ({result['dip_type']}), "
                     f"分值 / score {result['dip_score']}: {how}")
        steps.append(f"辅助目录 / auxiliary catalogue: tumour={result['tumour_level']}, "
                     f"severity={result['severity_level']}, cci={result['cci_level']}, "
                     f"age={result['age_band']} → {result['aux_dimension'] or '-'} "
                     f"× {result['aux_coef']} = {result['adjusted_score']}")
    else:
        steps.append(f"未入组 / ungroupable: {result['error_code']} {result['error_message']}")
    return DipExplanation(c.case_id, result, c.dx0, sub, c.cat, classes, tclass, listed, steps)
