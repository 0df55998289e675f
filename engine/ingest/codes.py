"""Stable per-row ingestion problem codes (data, never exceptions). Never renumber; append."""

from __future__ import annotations

from enum import StrEnum


class IngestCode(StrEnum):
    REQUIRED_MISSING = "I101"
    NOT_A_NUMBER = "I102"
    BAD_DATE = "I103"
    NEGATIVE_COST = "I104"
    DISCHARGE_BEFORE_ADMISSION = "I105"
    PAYMENT_PARTS_MISMATCH = "I106"
    DUPLICATE_CASE_ID = "I107"
    BAD_CATEGORY = "I108"
    OUT_OF_RANGE = "I109"
    COST_BREAKDOWN_MISMATCH = "I110"
    WRONG_CELL_TYPE = "I111"
    MALFORMED_LINE = "I112"


MESSAGES: dict[IngestCode, str] = {
    IngestCode.REQUIRED_MISSING: "必填字段缺失 / required field missing",
    IngestCode.NOT_A_NUMBER: "不是有效数字 / not a valid number",
    IngestCode.BAD_DATE: "日期无法解析 / not a valid date",
    IngestCode.NEGATIVE_COST: "费用为负数 / negative cost",
    IngestCode.DISCHARGE_BEFORE_ADMISSION: "出院日期早于入院日期 / discharge before admission",
    IngestCode.PAYMENT_PARTS_MISMATCH: (
        "统筹基金+其他基金+个人负担≠医疗总费用 / fund_paid + other_fund_paid + patient_paid "
        "differs from total_cost by more than 0.01"),
    IngestCode.DUPLICATE_CASE_ID: "结算清单号重复 / case_id repeated in the file",
    IngestCode.BAD_CATEGORY: "取值不在允许范围 / value not among the accepted codes",
    IngestCode.OUT_OF_RANGE: "数值超出合理范围 / value out of range",
    IngestCode.COST_BREAKDOWN_MISMATCH: (
        "费用分类合计≠医疗总费用 / cost breakdown does not sum to total_cost (±0.01 per item)"),
    IngestCode.WRONG_CELL_TYPE: (
        "单元格类型错误（应为单个值或编码列表） / wrong cell type (a list or object where one "
        "value is expected, or a nested list of codes)"),
    IngestCode.MALFORMED_LINE: (
        "CSV 行格式错误，该行未读取 / malformed CSV line, not read (wrong number of fields or a "
        "stray quote)"),
}
