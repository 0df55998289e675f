"""`explain_dip`: the DIP decision for one case, step by step, in Chinese and English.

It runs the same columnar functions as `group_dip` on a one-row frame (one copy of every rule)
and also lists every candidate group with why it did or did not match.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import polars as pl

from grouper.dip import candidates, explode_px, group_dip, prepare_dip_cases, treatment_ranks
from grouper.dip_catalog import DipCatalog
from grouper.dip_codes import subcategory
from grouper.dip_procedure_class import CLASSES, load_procedure_classes, procedure_ranks


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


def _why(row: dict[str, Any]) -> str:
    if row["matched"]:
        return "匹配 / matched"
    if row["dip_type"] == "tcm":
        return "非中医治疗病例 / case not flagged tcm_treatment"
    if row["dip_type"] == "day_surgery" and not row["day_surgery"]:
        return "非日间手术病例 / case not flagged day_surgery"
    if row["n_terms"] == 0:
        return "保守治疗病种，但病例有手术操作 / conservative group, but the case has procedures"
    return (f"手术操作组合未满足 {row['satisfied']}/{row['n_terms']} / "
            f"procedure combination: {row['satisfied']} of {row['n_terms']} terms present")


def explain_dip(case: dict[str, Any], catalog: DipCatalog) -> DipExplanation:
    """Trace of the DIP grouping of one case (a dict of contracts §1 fields)."""
    frame = pl.DataFrame([case], infer_schema_length=None) if case else pl.DataFrame()
    result = group_dip(frame, catalog).row(0, named=True)
    typed = prepare_dip_cases(frame)
    row = typed.row(0, named=True)
    steps = [f"主要诊断 / principal diagnosis: {row['dx0'] or '-'}"]
    if result["status"] == "invalid":
        steps.append(f"无效病例 / invalid: {result['error_code']} {result['error_message']}")
        return DipExplanation(row["case_id"], result, row["dx0"] or None, None, None, [], None,
                              [], steps)
    px = explode_px(typed)
    classes = procedure_ranks(px, load_procedure_classes()).with_columns(
        pl.col("rank").replace_strict(dict(enumerate(CLASSES)), return_dtype=pl.String)
        .alias("class")).select("code", "class").to_dicts()
    typed = typed.join(treatment_ranks(typed, px), on="_row")
    cands = candidates(typed, px, catalog)
    listed = []
    if "matched" in cands.columns:
        cands = cands.join(catalog.groups.select("dip_code", "procedures", "score"),
                           on="dip_code").sort(
            ["precedence", "n_terms", "dx_len", "n_alts", "dip_code"],
            descending=[False, True, True, False, False])
        listed = [{"dip_code": c["dip_code"], "dip_type": c["dip_type"],
                   "principal_dx": c["principal_dx"], "procedures": c["procedures"],
                   "score": c["score"], "matched": c["matched"], "why": _why(c)}
                  for c in cands.to_dicts()]
    sub = typed.select(subcategory(pl.col("dx0"))).item()
    tclass = CLASSES[typed["class_rank"].item()]
    steps.append(f"亚目 {sub} / 类目 {row['cat']}; 治疗方式 / treatment class: {tclass}")
    steps.append(f"候选病种 {len(listed)} 个, 匹配 {sum(c['matched'] for c in listed)} 个 / "
                 f"{len(listed)} candidate groups, {sum(c['matched'] for c in listed)} matched")
    if result["status"] == "ok":
        how = ("综合病种 (类目 × 治疗方式) / comprehensive group (category × treatment class)"
               if result["dip_type"] == "comprehensive" else
               "优先级最高、最具体的匹配 / highest-precedence, most specific match")
        steps.append(f"入组 / group: {result['dip_code']} ({result['dip_type']}), "
                     f"分值 / score {result['dip_score']}: {how}")
        steps.append(f"辅助目录 / auxiliary catalogue: tumour={result['tumour_level']}, "
                     f"severity={result['severity_level']}, cci={result['cci_level']}, "
                     f"age={result['age_band']} → {result['aux_dimension'] or '-'} "
                     f"× {result['aux_coef']} = {result['adjusted_score']}")
    else:
        steps.append(f"未入组 / ungroupable: {result['error_code']} {result['error_message']}")
    return DipExplanation(row["case_id"], result, row["dx0"], sub, row["cat"], classes, tclass,
                          listed, steps)
