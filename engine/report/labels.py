"""Chinese names of the report's columns and coded values, for the Excel workbook people open.

Headers are bilingual, `中文 (column)`: the Chinese for the reader, the column name to match the
CSV files, the store and docs/supervision.md. Coded values become their Chinese labels
(hospital level `3` → 三级, flag kind `split_admission` → 分解住院); numbers stay numbers.
Terms follow the glossary of docs/payment-rules.md §7.
"""

from __future__ import annotations

from engine.report.charts import LEVEL_NAMES
from engine.supervision.flags import KIND_NAMES

COLUMN_NAMES: dict[str, str] = {
    # identity
    "run_id": "运行编号", "scope": "范围", "period_kind": "周期类型", "period": "周期",
    "hospital_id": "医院编码", "hospital_name": "医院名称", "dept": "科室",
    "hospital_level": "医院级别", "computed_at": "计算时间",
    # indicators (docs/supervision.md)
    "n_cases": "病例数", "n_grouped": "入组病例数", "grouping_rate": "入组率",
    "qy_rate": "歧义组占比", "ungroupable_rate": "未入组占比", "invalid_rate": "无效病例占比",
    "n_groups": "病组数", "total_weight": "总权重", "cmi": "病例组合指数 CMI",
    "cost_index": "费用消耗指数", "time_index": "时间消耗指数", "mean_cost": "例均费用（元）",
    "mean_los": "平均住院日", "deaths": "死亡例数", "mortality": "死亡率",
    "low_risk_cases": "低风险组病例数", "low_risk_deaths": "低风险组死亡例数",
    "low_risk_mortality": "低风险组死亡率", "medium_low_risk_cases": "中低风险组病例数",
    "medium_low_risk_deaths": "中低风险组死亡例数",
    "medium_low_risk_mortality": "中低风险组死亡率", "n_high_outlier": "高倍率病例数",
    "high_outlier_rate": "高倍率占比", "n_low_outlier": "低倍率病例数",
    "low_outlier_rate": "低倍率占比", "n_split_cases": "分层 ADRG 病例数",
    "mcc_cc_share": "MCC/CC 占比", "severe_observed": "MCC/CC 实际例数",
    "severe_expected": "MCC/CC 期望例数", "upcoding_oe": "MCC/CC 实际/期望 (O/E)",
    "n_split_admission": "分解住院例数", "split_admission_rate": "分解住院率",
    "n_low_standard": "低标入院例数", "low_standard_rate": "低标入院率",
    "self_pay_share": "全自费占比", "patient_share": "个人负担占比",
    # flags
    "flag_id": "标记编号", "kind": "标记类型", "level": "标记层级", "case_id": "病例编号",
    "score": "可疑程度", "value": "指标值", "threshold": "阈值", "peer_value": "同级参照值",
    "n_evidence": "证据病例数", "evidence_case_ids": "证据病例", "detail": "详情",
    "message": "说明",
    # groups
    "group_code": "病组编码", "group_name": "病组名称", "n": "病例数",
    # clearing (docs/payment-rules.md §4)
    "payable": "应偿付总额（元）", "ffs_fund_amount": "统筹基金记账（按项目，元）",
    "surplus": "结余（元）", "overspend": "超支（元）", "surplus_retained": "结余留用（元）",
    "overspend_shared": "超支分担（元）", "final_payment": "清算支付（元）",
}

SCOPE_NAMES = {"region": "区域", "hospital": "医院", "dept": "科室"}
PERIOD_KIND_NAMES = {"year": "年度", "month": "月度"}
FLAG_LEVEL_NAMES = {"case": "病例", "hospital": "医院", "dept": "科室"}

VALUE_NAMES: dict[str, dict[str, str]] = {
    "hospital_level": LEVEL_NAMES, "scope": SCOPE_NAMES, "period_kind": PERIOD_KIND_NAMES,
    "kind": KIND_NAMES, "level": FLAG_LEVEL_NAMES,
}

SHEET_NAMES = {"indicators": "指标 indicators", "flags": "监管标记 flags",
               "groups": "病组 groups", "clearing": "清算 clearing"}

PERCENT_COLUMNS = frozenset({
    "grouping_rate", "qy_rate", "ungroupable_rate", "invalid_rate", "mortality",
    "low_risk_mortality", "medium_low_risk_mortality", "high_outlier_rate", "low_outlier_rate",
    "mcc_cc_share", "split_admission_rate", "low_standard_rate", "self_pay_share",
    "patient_share"})
NUMBER_FORMATS = {"cmi": "0.0000", "total_weight": "0.0000", "cost_index": "0.000",
                  "time_index": "0.000", "upcoding_oe": "0.000", "score": "0.00",
                  "mean_cost": "#,##0.00", "mean_los": "0.00"}
MONEY_FORMAT = "#,##0.00"


def header(column: str) -> str:
    """`入组率 (grouping_rate)`; a column without a Chinese name keeps its own name."""
    name = COLUMN_NAMES.get(column)
    return f"{name} ({column})" if name else column


def value_label(column: str, value: object) -> object:
    """The Chinese label of a coded value (unknown codes and other columns unchanged)."""
    names = VALUE_NAMES.get(column)
    if names is None or value is None:
        return value
    return names.get(str(value), value)


def number_format(column: str) -> str | None:
    if column in PERCENT_COLUMNS:
        return "0.00%"
    if column in NUMBER_FORMATS:
        return NUMBER_FORMATS[column]
    if COLUMN_NAMES.get(column, "").endswith("（元）"):
        return MONEY_FORMAT
    return None
