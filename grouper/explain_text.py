"""Plain Chinese and English for the conditions of a ruleset (used by `grouper.explain`).

Each rule atom and parameter of the ruleset README gets a phrase for what it requires, and a
failed one also says what the case has and which codes would satisfy it — so the trace a coder
reads never shows an atom name (`principal_px_is_or`) or a parameter key (`age_days_max`).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any, Protocol

from grouper.drg_params import PARAMS as DRG_PARAMS

# atom -> (Chinese, English, the list of the rule it looks in, which codes of the case it reads)
ATOMS: dict[str, tuple[str, str, str | None, str]] = {
    "always": ("无附加条件", "no further condition", None, ""),
    "never": ("此规则不适用", "this rule never applies", None, ""),
    "principal_dx": ("主诊断在本组主诊断表中", "the principal diagnosis in the group's list",
                     "dx", "principal_dx"),
    "any_dx": ("任一诊断在本组诊断表中", "any diagnosis in the group's list", "dx", "dx"),
    "secondary_dx": ("其他诊断中有本组其他诊断表的编码",
                     "a secondary diagnosis in the group's secondary list", "dx1", "secondary_dx"),
    "principal_px": ("主要手术在本组手术表中", "the principal procedure in the group's list",
                     "px", "principal_px"),
    "any_px": ("任一手术/操作在本组手术表中", "any procedure in the group's list", "px", "px"),
    "any_px1": ("另有手术/操作在本组第二手术表中",
                "a procedure in the group's second procedure list", "px1", "px"),
    "any_px2": ("另有手术/操作在本组第三手术表中",
                "a procedure in the group's third procedure list", "px2", "px"),
    "secondary_px": ("其他手术中有本组手术表的编码",
                     "a secondary procedure in the group's list", "px", "secondary_px"),
    "principal_px_is_or": ("主要手术为手术室手术", ("the principal procedure is an "
                           "operating-room procedure"), None, "principal_px"),
    "principal_px_is_or_or_listed": ("主要手术为手术室手术或本 MDC 列出的操作",
                                     ("the principal procedure is an operating-room procedure "
                                     "or one the MDC lists"), None, "principal_px"),
    "principal_dx_not_dx2": ("主诊断不在本组排除诊断表中",
                             "the principal diagnosis not in the group's excluded list", "dx2",
                             "principal_dx"),
    "principal_dx_or_dx_prefix": ("主诊断在本 MDC 诊断表中，或任一诊断属于本 MDC 的诊断类目",
                                  ("the principal diagnosis in the MDC's list, or any diagnosis "
                                  "in one of its categories"), None, "dx"),
    "multi_trauma": ("多发严重创伤（至少两个不同部位）",
                     "multiple significant trauma (two or more body regions)", None, "dx"),
    "no_or_px": ("无手术室手术", "no operating-room procedure", None, "or_px"),
    "has_or_px": ("有手术室手术", "an operating-room procedure", None, "or_px"),
    "mcc": ("伴严重并发症或合并症（MCC）", "a major complication or comorbidity (MCC)", None,
            "mcc"),
    "cc": ("伴一般并发症或合并症（CC）", "a complication or comorbidity (CC)", None, "cc"),
    "cc_or_mcc": ("伴并发症或合并症（CC 或 MCC）", "a complication or comorbidity (CC or MCC)",
                  None, "cc_mcc"),
    "px_groups": ("手术/操作覆盖本组要求的手术组合",
                  "procedures covering one of the group's required combinations", None, "px"),
}

# parameter -> (Chinese, English) templates of what it requires, and the case's fact it reads;
# written once in `grouper.drg_params.PARAMS` (an ADRG's and a DRG's `age_days_max` read alike)
PARAMS: dict[str, tuple[str, str, str]] = {p.column: (p.zh, p.en, p.fact) for p in DRG_PARAMS}
_FACT_UNITS = {"age_days": ("天", " days"), "age": ("岁", " years"), "birth_weight": ("克", " g"),
               "los": ("天", " days"), "icu_hours": ("小时", " ICU hours")}
EXAMPLES = 3


class CaseFacts(Protocol):
    dx: list[str]
    px: list[str]
    or_px: list[str]
    mcc: list[str]
    cc: list[str]
    sex: Any
    age: Any
    age_days: Any
    bw: Any
    los: Any
    icu: float


_CODES = {"principal_dx": lambda c: c.dx[:1], "dx": lambda c: c.dx,
          "secondary_dx": lambda c: c.dx[1:], "principal_px": lambda c: c.px[:1],
          "px": lambda c: c.px, "secondary_px": lambda c: c.px[1:], "or_px": lambda c: c.or_px,
          "mcc": lambda c: c.mcc, "cc": lambda c: c.cc, "cc_mcc": lambda c: c.mcc + c.cc,
          "": lambda c: []}
_FACTS = {"age_days": "age_days", "age": "age", "birth_weight": "bw", "los": "los",
          "icu_hours": "icu"}


def _codes(c: CaseFacts, which: str) -> list[str]:
    return _CODES[which](c)


def _value(c: CaseFacts, fact: str) -> Any:
    return getattr(c, _FACTS[fact])


@lru_cache(maxsize=4096)
def _sorted(listed: frozenset[str]) -> tuple[str, ...]:
    return tuple(sorted(listed))


def examples(listed: frozenset[str], near: Sequence[str]) -> list[str]:
    """A few codes of the list, those of the case's own category (first 3 characters) first."""
    codes = _sorted(listed)
    stems = {x[:3] for x in near}
    return ([x for x in codes if x[:3] in stems] + [x for x in codes if x[:3] not in stems]
            )[:EXAMPLES]


def condition(atoms: tuple[str, ...], params: dict[str, Any]) -> tuple[str, str]:
    """What a rule requires, as a phrase (`主诊断在本组主诊断表中，且伴 MCC`)."""
    return _condition(atoms, tuple(params.items()))


@lru_cache(maxsize=8192)
def _condition(atoms: tuple[str, ...], items: tuple[tuple[str, Any], ...]) -> tuple[str, str]:
    params = dict(items)
    zh = [ATOMS[a][0] for a in atoms if a != "always"]
    en = [ATOMS[a][1] for a in atoms if a != "always"]
    zh += [PARAMS[k][0].format(v=v) for k, v in params.items()]
    en += [PARAMS[k][1].format(v=v) for k, v in params.items()]
    if not zh:
        return ATOMS["always"][0], ATOMS["always"][1]
    return "，且".join(zh), " and ".join(en)


def unmet(failed: str, c: CaseFacts, lists: dict[str, frozenset[str]]) -> tuple[str, str]:
    """One failed condition (an atom, or `key=value` of a parameter): what it needs, what the
    case has, and codes that would satisfy it."""
    if "=" in failed:
        key, raw = failed.split("=", 1)
        zh_need, en_need, fact = PARAMS[key]
        have = _value(c, fact)
        zu, eu = _FACT_UNITS[fact]
        zh_has = "未填写" if have is None else f"{have}{zu}"
        en_has = "not given" if have is None else f"{have}{eu}"
        return (f"需要{zh_need.format(v=raw)}（本例：{zh_has}）",
                f"needs {en_need.format(v=raw)} (this case: {en_has})")
    zh_need, en_need, list_name, which = ATOMS[failed]
    have = _codes(c, which)
    if failed in ("no_or_px", "principal_dx_not_dx2"):  # a condition that must NOT hold
        hit = [x for x in have if list_name is None or x in lists.get(list_name, ())]
        return (f"需要{zh_need}（本例有：{', '.join(hit) or '无'}）",
                f"needs {en_need} (this case has: {', '.join(hit) or 'none'})")
    zh = f"需要{zh_need}（本例：{', '.join(have) or '无'}"
    en = f"needs {en_need} (this case: {', '.join(have) or 'none'}"
    listed = lists.get(list_name) if list_name else None
    if listed:
        ex = examples(listed, have)
        zh += f"；表中共 {len(listed)} 个编码，如 {', '.join(ex)}"
        plural = "s" if len(listed) != 1 else ""
        en += f"; the list has {len(listed)} code{plural}, e.g. {', '.join(ex)}"
    return zh + "）", en + ")"


def mdc_entry(m: dict[str, Any]) -> tuple[str, str]:
    """The entry condition of an MDC in words (sex and age conditions included)."""
    zh, en = condition(m["atoms"], {})
    if m.get("sex") is not None:
        zh += f"，且性别为{'男' if m['sex'] == 1 else '女'}"
        en += f" and sex {'male' if m['sex'] == 1 else 'female'}"
    if m.get("age_years") is not None:
        zh += f"，且年龄为 {m['age_years']} 岁"
        en += f" and age {m['age_years']} years"
    return zh, en


def split_message(message: str) -> tuple[str, str]:
    """`中文 / English` -> (中文, English)."""
    zh, sep, en = message.partition(" / ")
    return (zh, en) if sep else (message, message)


def _shared(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def _extra_needs(m: dict[str, Any], c: CaseFacts) -> tuple[str, str]:
    """What an MDC needs besides its diagnosis list that the case lacks (sex, age, trauma)."""
    zh, en = "", ""
    if m.get("sex") is not None and m["sex"] != c.sex:  # e.g. MDCN, female patients only
        zh += f"（限{'男' if m['sex'] == 1 else '女'}性）"
        en += f", {'male' if m['sex'] == 1 else 'female'} patients only"
    if m.get("age_years") is not None and m["age_years"] != c.age:
        zh += f"（限 {m['age_years']} 岁）"
        en += f", age {m['age_years']} only"
    for atom in m["atoms"]:
        if atom not in ("always", "principal_dx", "any_dx", "principal_dx_or_dx_prefix"):
            zh += f"（另需{ATOMS[atom][0]}）"
            en += f", also needs {ATOMS[atom][1]}"
    return zh, en


def no_mdc(c: CaseFacts, mdcs: Sequence[dict[str, Any]],
           mdc_dx: dict[str, frozenset[str]]) -> tuple[str, str]:
    """Why a case fits no MDC (E301): the MDC its principal diagnosis belongs to and what else
    that MDC needs, or codes of the diagnosis's own category that an MDC lists (what the coder
    may have meant)."""
    principal = c.dx[0] if c.dx else ""
    own = [m for m in mdcs if principal in mdc_dx.get(m["mdc"], frozenset())]
    if own:
        parts = [(m["mdc"], *_extra_needs(m, c)) for m in own]
        sex = {1: "男性", 2: "女性"}.get(c.sex, "性别未知")
        return ("主诊断 " + principal + " 属于 " + "；".join(f"{m}{z}" for m, z, _ in parts)
                + f"，本例不满足（{sex}，{c.age} 岁）",
                f"the principal diagnosis {principal} belongs to "
                + "; ".join(f"{m} ({e.lstrip(', ')})" for m, _, e in parts)
                + f", which this case does not meet "
                f"({ {1: 'male', 2: 'female'}.get(c.sex, 'sex unknown') }, age {c.age})")
    zh = f"主诊断 {principal} 不在任何 MDC 的主诊断表中"
    en = f"the principal diagnosis {principal} is in no MDC's list"
    if any("principal_px_is_or" in m["atoms"] for m in mdcs):
        px = c.px[0] if c.px else None
        zh += f"，主要手术（本例：{px or '无'}）也不是手术室手术"
        en += f", and the principal procedure ({px or 'none'}) is not an operating-room one"
    near = []
    for m in mdcs:
        same = [x for x in _sorted(mdc_dx.get(m["mdc"], frozenset())) if x[:3] == principal[:3]]
        same.sort(key=lambda x: -_shared(x, principal))  # the closest spelling first (stable)
        if same:
            near.append((m["mdc"], same[:EXAMPLES], *_extra_needs(m, c)))
        if len(near) == 2:
            break
    if near:
        zh += "；同类目的 " + "；".join(f"{', '.join(x)} 属于 {m}{z}" for m, x, z, _ in near)
        en += "; codes of its category that fit: " + "; ".join(
            f"{', '.join(x)} ({m}{e})" for m, x, _, e in near)
    else:
        zh += f"；{principal[:3]} 类目无编码属于任何 MDC"
        en += f"; no code of category {principal[:3]} fits an MDC"
    return zh, en
