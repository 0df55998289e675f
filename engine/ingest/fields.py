"""The case fields ingestion knows (contracts §1, payment-rules §1): kind and header aliases.

Header matching ignores case, surrounding blanks, a BOM and full-width parentheses, so
`年龄（天）` and `年龄(天)` are the same header.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# kind: str | int | float | date | money | bool | sex | insurance | discharge_way | codes


@dataclass(frozen=True)
class Field:
    name: str
    kind: str
    aliases: tuple[str, ...] = ()


# The 结算清单 cost categories (payment-rules §1), column `cost_<category>`.
COST_CATEGORIES: dict[str, str] = {
    "bed": "床位费", "consultation": "诊察费", "examination": "检查费", "lab": "化验费",
    "treatment": "治疗费", "surgery": "手术费", "nursing": "护理费", "materials": "卫生材料费",
    "western_drug": "西药费", "herbal": "中药饮片费", "patent_tcm": "中成药费",
    "general_service": "一般诊疗费", "registration": "挂号费", "other": "其他费",
}

FIELDS: tuple[Field, ...] = (
    Field("case_id", "str", ("结算清单号", "病案号", "住院号", "清单流水号")),
    Field("hospital_id", "str", ("定点医疗机构编码", "医疗机构编码", "机构编码")),
    Field("insurance_type", "insurance", ("险种类型", "医保类型", "险种")),
    Field("patient_id", "str", ("患者编号", "患者ID", "人员编号", "个人编码")),
    Field("sex", "sex", ("性别",)),
    Field("age", "int", ("年龄", "年龄(岁)")),
    Field("age_days", "int", ("年龄(天)", "年龄不足1周岁的年龄(天)", "不足1周岁年龄(天)")),
    Field("birth_weight", "int", ("新生儿出生体重(克)", "新生儿出生体重", "出生体重(克)")),
    Field("dept", "str", ("科室", "出院科别", "科室编码")),
    Field("admit_date", "date", ("入院日期", "入院时间")),
    Field("discharge_date", "date", ("出院日期", "出院时间")),
    Field("los", "int", ("实际住院天数", "住院天数")),
    Field("discharge_way", "discharge_way", ("离院方式",)),
    Field("admission_route", "str", ("入院途径",)),
    Field("insured_region", "str", ("参保地", "参保地区划")),
    Field("diagnoses", "codes", ("诊断编码",)),
    Field("procedures", "codes", ("手术及操作编码", "手术操作编码")),
    Field("icu_hours", "float", ("重症监护时长(小时)", "重症监护小时数")),
    Field("vent_hours", "float", ("呼吸机使用时长(小时)",)),
    Field("total_cost", "money", ("医疗总费用", "住院总费用", "总费用")),
    Field("fund_paid", "money", ("统筹基金支付",)),
    Field("other_fund_paid", "money", ("其他基金支付",)),
    Field("patient_paid", "money", ("个人负担", "个人支付", "个人负担金额")),
    Field("self_pay_out_of_scope", "money", ("全自费", "全自费金额")),
    Field("tcm_treatment", "bool", ("中医治疗", "是否中医治疗")),
    Field("day_surgery", "bool", ("日间手术", "是否日间手术")),
    Field("readmit_plan_31d", "bool", ("出院31天内再住院计划",)),
    *(Field(f"cost_{k}", "money", (v,)) for k, v in COST_CATEGORIES.items()),
)
BY_NAME: dict[str, Field] = {f.name: f for f in FIELDS}
REQUIRED: tuple[str, ...] = ("case_id", "sex", "age", "diagnoses")
COST_COLUMNS: tuple[str, ...] = tuple(f"cost_{k}" for k in COST_CATEGORIES)

# One column per code: principal, then numbered others (wide layout of hospital exports).
WIDE_PATTERNS: dict[str, tuple[tuple[str, ...], re.Pattern[str]]] = {
    "diagnoses": (("主要诊断编码", "主诊断编码", "principal_dx"),
                  re.compile(r"^(?:其他诊断编码|次要诊断编码|secondary_dx_?)(\d+)$")),
    "procedures": (("主要手术及操作编码", "主要手术操作编码", "principal_px"),
                   re.compile(r"^(?:其他手术及操作编码|其他手术操作编码|secondary_px_?)(\d+)$")),
}


def header_key(name: str) -> str:
    """The comparable form of a header: no BOM/blanks, half-width parentheses, lower case."""
    return (name.replace("\ufeff", "").strip().replace("（", "(").replace("）", ")")
            .replace(" ", "").lower())


ALIASES: dict[str, str] = {
    header_key(alias): f.name for f in FIELDS for alias in (f.name, *f.aliases)}
