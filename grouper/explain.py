"""Per-case grouping with a decision trace: `explain(case, ruleset)` and `group_one`.

Follows the ruleset README step by step with dict lookups of the same compiled tables the batch
grouper uses. Stateless: safe to call from many threads at once.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from operator import attrgetter
from typing import Any

from grouper import atoms as A
from grouper.case_input import normalise_one
from grouper.checks import warnings_one
from grouper.drg_params import failed_params
from grouper.errors import ERROR_MESSAGES, ErrorCode
from grouper.explain_text import condition, mdc_entry, no_mdc, split_message, unmet
from grouper.lookup import CaseLookups, DrgEntry, RuleEntry, lookups
from grouper.ruleset import Ruleset, resolve_ruleset
from grouper.translate import translate_one
from grouper.validate import validation_error_one


@dataclass(frozen=True)
class Step:
    """One decision: `stage` (validate, mdc, adrg, mcc_cc, drg, result), what was tested,
    whether it held, the codes it held on, and a sentence in Chinese and in English."""

    stage: str
    subject: str
    held: bool
    codes: tuple[str, ...] = ()
    zh: str = ""
    en: str = ""


@dataclass
class Explanation:
    case_id: str | None
    ruleset: str
    status: str
    mdc: str | None = None
    adrg: str | None = None
    drg: str | None = None
    drg_name: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    warnings: list[str] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)

    def result(self) -> dict[str, Any]:
        """The grouping columns (contracts §2) of this case."""
        return {"case_id": self.case_id, "status": self.status, "mdc": self.mdc,
                "adrg": self.adrg, "drg": self.drg, "drg_name": self.drg_name,
                "error_code": self.error_code, "error_message": self.error_message,
                "warnings": list(self.warnings)}

    def to_dict(self) -> dict[str, Any]:
        d = self.result()
        d["ruleset"] = self.ruleset
        d["steps"] = [asdict(s) for s in self.steps]
        return d

    def render(self) -> str:
        """A readable bilingual trace for the terminal."""
        lines = [f"case {self.case_id} · ruleset {self.ruleset}"]
        for i, s in enumerate(self.steps, 1):
            mark = "✓" if s.held else "✗"
            codes = f"  [{', '.join(s.codes)}]" if s.codes else ""
            lines.append(f"{i:>3}. {mark} {s.stage:<8} {s.subject}{codes}")
            lines.append(f"       {s.zh}")
            lines.append(f"       {s.en}")
        lines.append(f"=> status={self.status} mdc={self.mdc or '-'} adrg={self.adrg or '-'} "
                     f"drg={self.drg or '-'} {self.drg_name or ''}".rstrip())
        if self.error_code:  # its message is the last step's, printed once above
            lines.append(f"   error {self.error_code}")
        if self.warnings:
            lines.append(f"   warnings: {', '.join(self.warnings)}")
        return "\n".join(lines)


_RULE_ID = attrgetter("rule_id")


class _Case:
    """A normalised case with the facts every rule looks at, computed once."""

    def __init__(self, case: dict[str, Any], lk: CaseLookups) -> None:
        self.raw = case
        self.dx: list[str] = list(case.get("diagnoses") or [])
        self.px: list[str] = list(case.get("procedures") or [])
        self.sex, self.age = case.get("sex"), case.get("age")
        self.age_days, self.bw = case.get("age_days"), case.get("birth_weight")
        self.los = case.get("los")
        icu = case.get("icu_hours")
        self.icu = 0.0 if icu is None else icu  # ruleset README: missing ICU hours count as 0
        # the facts the parameter columns read (`grouper.drg_params`), by their batch names
        self.facts = {"age": self.age, "age_days": self.age_days, "birth_weight": self.bw,
                      "los": self.los, "icu_hours": self.icu}
        self.or_px = [c for c in self.px if c in lk.or_codes]
        principal = self.dx[0] if self.dx else None
        self.excluded_tables = lk.exclusion.get(principal, frozenset()) if principal else frozenset()
        self.mcc: list[str] = []
        self.cc: list[str] = []
        self.removed: list[str] = []
        for code in self.dx[1:]:
            for kind, table in (("MCC", lk.mcc.get(code)), ("CC", lk.cc.get(code))):
                if table is None:
                    continue
                if table in self.excluded_tables:
                    self.removed.append(f"{code}({kind}, table {table})")
                else:
                    (self.mcc if kind == "MCC" else self.cc).append(code)
        # The batch path's hit bits per rule and feature bits: a rule whose masks they miss
        # cannot hold, so `_may_hold` skips it before the atoms are evaluated one by one.
        self.rule_bits: dict[int, int] = {}
        dx0, dxn, px0, pxn = lk.rule_hits
        for codes, first, later in ((self.dx, dx0, dxn), (self.px, px0, pxn)):
            for i, code in enumerate(codes):
                for rule_id, bits in (later if i else first).get(code, ()):
                    self.rule_bits[rule_id] = self.rule_bits.get(rule_id, 0) | bits
        self.hit_rules: dict[str, list[RuleEntry]] = {}  # MDC -> rules its codes hit
        for rule_id in sorted(self.rule_bits):
            rule = lk.rules[rule_id]
            self.hit_rules.setdefault(rule.mdc, []).append(rule)
        fb = A.FEATURE_BITS
        self.fbits = ((fb["principal_px_is_or"] if self.px and self.px[0] in lk.or_codes else 0)
                      | (fb["has_or_px"] if self.or_px else fb["no_or_px"])
                      | (fb["mcc"] if self.mcc else 0) | (fb["cc"] if self.cc else 0)
                      | (fb["cc_or_mcc"] if self.mcc or self.cc else 0))

    def candidates(self, mdc: str, entered: bool, lk: CaseLookups) -> list[RuleEntry]:
        """The rules of an MDC that may hold, in their order: those the case's codes hit and
        those without code atoms, of the entered or the not-entered section."""
        hit = self.hit_rules.get(mdc)
        rules = [r for r in hit if r.not_entered != entered and self.may_hold(r)] if hit else []
        # rules without code atoms whose feature atoms hold (filtered once per ruleset); only
        # a negative code atom can still rule one out
        codeless = lk.codeless_by_feat.get((mdc, entered, self.fbits))
        if not codeless:
            return rules
        more = [r for r in codeless if not r.need_not or self.may_hold(r)]
        return sorted(rules + more, key=_RULE_ID) if rules and more else rules or more

    def may_hold(self, rule: RuleEntry) -> bool:
        """False when the rule's code, negative-code or feature masks rule it out."""
        bits = self.rule_bits.get(rule.rule_id, 0)
        return ((bits & rule.need_code) == rule.need_code and not bits & rule.need_not
                and (self.fbits & rule.need_feat) == rule.need_feat)


def _atom(atom: str, c: _Case, lists: dict[str, frozenset[str]], alts: tuple[int, ...]
          ) -> tuple[bool, list[str]]:
    """Whether one atom holds for the case, and the codes it holds on."""
    def in_list(codes: list[str], name: str) -> list[str]:
        lst = lists.get(name, frozenset())
        return [x for x in codes if x in lst]

    if atom == "always":
        return True, []
    if atom == "never":
        return False, []
    if atom == "principal_dx":
        hit = in_list(c.dx[:1], "dx")
    elif atom == "any_dx":
        hit = in_list(c.dx, "dx")
    elif atom == "secondary_dx":
        hit = in_list(c.dx[1:], "dx1")
    elif atom == "principal_px":
        hit = in_list(c.px[:1], "px")
    elif atom == "any_px":
        hit = in_list(c.px, "px")
    elif atom == "any_px1":
        hit = in_list(c.px, "px1")
    elif atom == "any_px2":
        hit = in_list(c.px, "px2")
    elif atom == "secondary_px":
        hit = in_list(c.px[1:], "px")
    elif atom == "principal_px_is_or":
        hit = c.px[:1] if c.px and c.px[0] in c.or_px else []
    elif atom == "principal_dx_not_dx2":
        return not in_list(c.dx[:1], "dx2"), []
    elif atom == "no_or_px":
        return not c.or_px, []
    elif atom == "has_or_px":
        return bool(c.or_px), c.or_px
    elif atom == "mcc":
        return bool(c.mcc), c.mcc
    elif atom == "cc":
        return bool(c.cc), c.cc
    elif atom == "cc_or_mcc":
        return bool(c.mcc or c.cc), c.mcc + c.cc
    elif atom == "px_groups":
        found = 0
        hits = []
        for n in range(1, A.MAX_PX_GROUPS + 1):
            got = in_list(c.px, f"px_g{n}")
            if got:
                found |= 1 << (n - 1)
                hits += got
        return any(found & alt == alt for alt in alts), hits
    else:  # pragma: no cover - the loader rejects unknown atoms
        raise ValueError(atom)
    return bool(hit), hit


def _params_hold(table: str, params: dict[str, Any], c: _Case) -> tuple[bool, list[str]]:
    if not params:
        return True, []
    failed = failed_params(table, params, c.facts)
    return not failed, failed


def _holds(entry: RuleEntry | DrgEntry, c: _Case) -> tuple[bool, list[str], list[str]]:
    """(holds, codes it held on, what failed)."""
    codes, failed = [], []
    alts = entry.px_alts if isinstance(entry, RuleEntry) else ()
    for atom in entry.atoms:
        ok, hit = _atom(atom, c, entry.lists, alts)
        codes += hit
        if not ok:
            failed.append(atom)
    p_ok, p_failed = _params_hold("adrg" if isinstance(entry, RuleEntry) else "drg",
                                  entry.params, c)
    return not failed and p_ok, codes, failed + p_failed


def _mdc_holds(m: dict[str, Any], c: _Case, lk: CaseLookups) -> tuple[bool, list[str]]:
    """Whether the MDC's entry rule holds, and the codes it holds on (stops at the first
    failed part: the codes of an entry that fails are not reported)."""
    if (m["sex"] is not None and c.sex != m["sex"]) or (
            m["age_years"] is not None and c.age != m["age_years"]):
        return False, []
    codes: list[str] = []
    listed = lk.mdc_dx.get(m["mdc"], frozenset())
    for atom in m["atoms"]:
        if atom == "always":
            continue
        if atom == "principal_dx_or_dx_prefix":
            prefixes = lk.mdc_prefixes.get(m["mdc"], ())
            hit = [x for x in c.dx[:1] if x in listed] or [
                x for x in c.dx if x.startswith(prefixes)]
        elif atom == "principal_dx":
            hit = [x for x in c.dx[:1] if x in listed]
        elif atom == "any_dx":
            hit = [x for x in c.dx if x in listed]
        elif atom == "principal_px_is_or":
            hit = c.px[:1] if c.px and c.px[0] in lk.or_codes else []
        elif atom == "principal_px_is_or_or_listed":
            extra = lk.mdc_entry_px.get(m["mdc"], frozenset())
            hit = c.px[:1] if c.px and (c.px[0] in lk.or_codes or c.px[0] in extra) else []
        elif atom == "multi_trauma":
            regions = {lk.trauma[x] for x in set(c.dx) if x in lk.trauma}
            hit = sorted(regions) if len(regions) >= m["min_trauma_regions"] else []
        else:  # pragma: no cover
            raise ValueError(atom)
        if not hit:
            return False, []
        codes += hit
    return True, codes


def explain(case: dict[str, Any], ruleset: str | Ruleset = "chs_drg_11", *,
            translate_codes: bool = False, normalised: bool = False) -> Explanation:
    """The ordered decisions that group one case (contracts §1 fields as a dict)."""
    return _decide(case, resolve_ruleset(ruleset), translate_codes, normalised, trace=True)


def _decide(case: dict[str, Any], rs: Ruleset, translate_codes: bool, normalised: bool, *,
            trace: bool) -> Explanation:
    """The one per-case procedure; `trace` adds the steps (`group_one` needs none)."""
    lk = lookups(rs)
    if not normalised:
        case = normalise_one(case)
    ex = Explanation(case_id=case.get("case_id"), ruleset=rs.name, status="ungroupable")
    ex.warnings = warnings_one(case, rs, lk)
    steps = ex.steps

    def finish(status: str, code: ErrorCode | None = None) -> Explanation:
        ex.status = status
        if code is not None:
            ex.error_code, ex.error_message = code.value, ERROR_MESSAGES[code]
        return ex

    err = validation_error_one(case)
    if err is None and translate_codes:
        case, err = translate_one(case, lk.dx_map, lk.px_map)
    if err is not None:
        if trace:
            zh, en = split_message(ERROR_MESSAGES[err])
            steps.append(Step("validate", err.value, False, (), f"校验不通过：{zh}",
                              f"validation failed: {en}"))
        return finish("invalid", err)
    c = _Case(case, lk)
    if trace:
        steps.append(Step("validate", "ok", True, (), "基本信息校验通过",
                          "demographics and codes valid"))
        steps.append(Step(
            "mcc_cc", "secondary diagnoses", bool(c.mcc or c.cc), tuple(c.mcc + c.cc),
            f"计入 MCC: {', '.join(c.mcc) or '无'}; CC: {', '.join(c.cc) or '无'}; "
            f"被主诊断排除表({', '.join(sorted(c.excluded_tables)) or '无'})排除: "
            f"{', '.join(c.removed) or '无'}",
            f"counted MCC: {', '.join(c.mcc) or 'none'}; CC: {', '.join(c.cc) or 'none'}; "
            f"removed by the principal's exclusion table(s) "
            f"{', '.join(sorted(c.excluded_tables)) or '-'}: {', '.join(c.removed) or 'none'}"))
    entered = False
    principal = c.dx[0]
    age_key = c.age if c.age in lk.codeless_ages else None
    codeless_in = lk.codeless_mdcs[c.fbits, age_key, False]
    codeless_out = lk.codeless_mdcs[c.fbits, age_key, True]
    # ADRGs of entered MDCs that did not hold: described (in words) only if the case ends
    # ungroupable, so the per-case path of a grouped case pays nothing for them
    not_held: list[tuple[int, list[tuple[RuleEntry, list[str]]]]] = []
    for m in lk.mdcs:
        mdc = m["mdc"]
        hit = mdc in c.hit_rules
        # the entry fails at once without a listed principal, or on the MDC's sex/age columns
        shut = ((mdc in lk.needs_principal and principal not in lk.mdc_dx.get(mdc, ()))
                or (m["sex"] is not None and c.sex != m["sex"])
                or (m["age_years"] is not None and c.age != m["age_years"]))
        if shut:
            if mdc not in lk.has_not_entered or (not hit and mdc not in codeless_out):
                continue  # not entered, and none of its not-entered rules can hold
            entry_ok, codes = False, list[str]()
        else:
            if not trace and entered and not hit and mdc not in codeless_in \
                    and mdc not in codeless_out:
                continue  # no rule of it can hold; whether it is entered changes nothing now
            entry_ok, codes = _mdc_holds(m, c, lk)
        if not entry_ok and mdc not in lk.has_not_entered:
            continue
        if trace:  # every rule of the section: explain describes those that fail
            rows = [r for r in lk.rules_by_mdc.get(mdc, ()) if r.not_entered != entry_ok]
        else:
            rows = c.candidates(mdc, entry_ok, lk)
        failed_here: list[tuple[RuleEntry, list[str]]] = []
        if entry_ok:
            entered = True
            if trace:
                zh, en = mdc_entry(m)
                steps.append(Step("mdc", m["mdc"], True, tuple(codes),
                                  f"进入 {m['mdc']} {m['name']}：{zh}",
                                  f"entered {m['mdc']}: {en}"))
        for rule in rows:
            ok, codes, failed = _holds(rule, c)
            if not ok:
                if trace and entry_ok and not rule.is_qy:
                    failed_here.append((rule, failed))
                continue
            label = f"{rule.adrg}" + (f" v{rule.variant}" if rule.variant != 1 else "")
            if trace:
                zh, en = condition(rule.atoms, rule.params)
                steps.append(Step("adrg", label, True, tuple(codes),
                                  f"匹配 ADRG {label} {rule.name}：{zh}",
                                  f"ADRG {label} ({rule.name}) holds: {en}"))
            for d in lk.drgs_by_adrg.get(rule.adrg, ()):
                ok, codes, failed = _holds(d, c)
                if ok:
                    if trace:
                        zh, en = condition(d.atoms, d.params)
                        steps.append(Step("drg", d.drg, True, tuple(codes),
                                          f"选择 {d.drg} {d.name}：{zh}",
                                          f"chose {d.drg} ({d.name}): {en}"))
                    ex.mdc, ex.adrg, ex.drg, ex.drg_name = m["mdc"], rule.adrg, d.drg, d.name
                    return finish("ok")
                if trace:
                    why = [unmet(f, c, d.lists) for f in failed]
                    steps.append(Step("drg", d.drg, False, (),
                                      f"{d.drg} {d.name} 不成立：{'；'.join(z for z, _ in why)}",
                                      f"{d.drg} ({d.name}) does not hold: "
                                      f"{'; '.join(e for _, e in why)}"))
            if rule.is_qy:
                fb = rule.fallback_drg
                ex.mdc, ex.adrg, ex.drg, ex.drg_name = f"MDC{fb[:1]}", "QY", fb, rule.name
                if trace:
                    where = ("未进入" if rule.not_entered else "") + m["mdc"]
                    steps.append(Step("result", fb, True, tuple(codes),
                                      f"歧义病案 {fb}：{where} 的歧义规则成立，病案需人工核查",
                                      f"ambiguous case {fb}: an ambiguity rule of {m['mdc']}"
                                      f"{' (not entered)' if rule.not_entered else ''} holds; "
                                      "the record needs review"))
                return finish("ambiguous")
            if rule.if_no_drg == "adrg_code":
                ex.mdc, ex.adrg, ex.drg = m["mdc"], rule.adrg, rule.fallback_drg
                ex.drg_name = rule.name
                status = "ambiguous" if rule.adrg == "QY" else "ok"
                if trace:
                    steps.append(Step("drg", rule.fallback_drg, True, (),
                                      f"无细分组条件成立，按 ADRG 编码 {rule.fallback_drg} 入组",
                                      f"no DRG condition held; grouped as {rule.fallback_drg}"))
                return finish(status)
            if trace:
                steps.append(Step("adrg", label, False, (),
                                  f"{label} 无细分组成立，视为未匹配，继续下一条规则",
                                  f"{label} yields no DRG (next_rule): trying the next rule"))
        if not entry_ok:  # only its not-entered rows were tried, none held
            continue
        if trace:
            not_held.append((len(steps), failed_here))
            steps.append(Step("mdc", m["mdc"], False, (),
                              f"{m['mdc']} 内无 ADRG 产生 DRG，继续下一个 MDC",
                              f"no ADRG of {m['mdc']} produced a DRG; continuing with the next "
                              "MDC"))
    code = ErrorCode.NO_ADRG if entered else ErrorCode.NO_MDC
    if trace:
        if not entered:
            zh, en = no_mdc(c, lk.mdcs, lk.mdc_dx)
            steps.append(Step("mdc", "-", False, (), zh, en))
        for at, failed_rules in reversed(not_held):  # each ADRG tried, once, before its end
            steps[at:at] = _adrgs_not_held(failed_rules, c)
        zh, en = split_message(ERROR_MESSAGES[code])
        steps.append(Step("result", "0000", False, (), zh, en))
    return finish("ungroupable", code)


def _adrgs_not_held(failed_rules: list[tuple[RuleEntry, list[str]]], c: _Case) -> list[Step]:
    """One step per ADRG tried: what each of its rules needs that the case lacks."""
    by_adrg: dict[str, list[tuple[RuleEntry, list[str]]]] = {}
    for rule, failed in failed_rules:
        by_adrg.setdefault(rule.adrg, []).append((rule, failed))
    out = []
    for adrg, variants in by_adrg.items():
        whys = [[unmet(f, c, rule.lists) for f in failed] for rule, failed in variants]
        zh = ["；".join(z for z, _ in why) for why in whys]
        en = ["; ".join(e for _, e in why) for why in whys]
        if len(variants) > 1:  # alternatives: any one rule of the ADRG would do
            zh = [f"（{i}）{t}" for i, t in enumerate(zh, 1)]
            en = [f"({i}) {t}" for i, t in enumerate(en, 1)]
        name = variants[0][0].name
        lead_zh = "满足其一即可：" if len(variants) > 1 else ""
        lead_en = "any one of: " if len(variants) > 1 else ""
        out.append(Step("adrg", adrg, False, (),
                        f"未入 ADRG {adrg} {name}：{lead_zh}{' '.join(zh)}",
                        f"not ADRG {adrg} ({name}): {lead_en}{' '.join(en)}"))
    return out


def group_one(case: dict[str, Any], ruleset: str | Ruleset = "chs_drg_11", *,
              translate_codes: bool = False, normalised: bool = False) -> dict[str, Any]:
    """Group one case (dict) on the per-case path; the same columns as `group_drg`.

    The same decisions as `explain`, without building the trace."""
    return _decide(case, resolve_ruleset(ruleset), translate_codes, normalised,
                   trace=False).result()
