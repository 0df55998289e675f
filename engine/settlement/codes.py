"""Stable per-case settlement codes (data, never exceptions). Never renumber; append."""

from __future__ import annotations

from enum import StrEnum


class SettleCode(StrEnum):
    HOSPITAL_MISSING = "S101"
    HOSPITAL_UNKNOWN = "S102"
    FUND_POOL_UNKNOWN = "S103"
    COST_MISSING = "S104"
    PAYMENT_PARTS_MISSING = "S105"
    FUND_POOL_NOT_IN_POLICY = "S106"


MESSAGES: dict[str, str] = {
    SettleCode.HOSPITAL_MISSING: "缺少定点医疗机构编码 / hospital_id missing",
    SettleCode.HOSPITAL_UNKNOWN: "医疗机构不在机构表中 / hospital_id not in the hospital table",
    SettleCode.FUND_POOL_UNKNOWN: (
        "险种类型无法识别 / insurance_type is not employee (职工) or resident (居民)"),
    SettleCode.COST_MISSING: "医疗总费用缺失或为负 / total_cost missing or negative",
    SettleCode.PAYMENT_PARTS_MISSING: (
        "统筹基金/其他基金/个人负担缺失或为负 / fund_paid, other_fund_paid or patient_paid "
        "missing or negative"),
    SettleCode.FUND_POOL_NOT_IN_POLICY: (
        "政策未配置该险种基金 / the policy has no fund pool for this insurance_type"),
}


