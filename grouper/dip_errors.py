"""DIP per-case error codes (data) and the DIP catalogue exception (configuration)."""

from __future__ import annotations

from enum import StrEnum

import polars as pl

from grouper.errors import ERROR_MESSAGES, DrgDipError, ErrorCode


class DipCatalogError(DrgDipError):
    """A DIP catalogue is malformed or cannot be built (names the row, column and value).

    `code` is the stable `DipCatalogCode` when the problem has one."""

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


class DipCatalogCode(StrEnum):
    """Stable codes of catalogue rows that would make grouping ambiguous. Never renumber;
    add new codes at the end."""

    DUPLICATE_CODE = "C401"
    DUPLICATE_MATCH = "C402"
    DUPLICATE_COMPREHENSIVE = "C403"
    DUPLICATE_AUX = "C404"


DIP_CATALOG_MESSAGES: dict[str, str] = {
    DipCatalogCode.DUPLICATE_CODE.value: "病种编码重复 / duplicate dip_code",
    DipCatalogCode.DUPLICATE_MATCH.value: (
        "病种重复：同类病种的主要诊断与手术操作组合相同 / duplicate group: same kind "
        "(core/basic, tcm or day_surgery), principal diagnosis and procedure combination"),
    DipCatalogCode.DUPLICATE_COMPREHENSIVE.value: (
        "综合病种重复：类目与治疗方式相同 / duplicate comprehensive group: same category "
        "(类目) and treatment class"),
    DipCatalogCode.DUPLICATE_AUX.value: (
        "辅助目录重复：病种、维度与等级相同 / duplicate auxiliary row: same dip_code, "
        "dimension and level"),
}


def duplicate_reason(code: DipCatalogCode, first_row: int) -> str:
    """`C402 病种重复… / duplicate group…; duplicate of row 2` (rows as the caller numbers
    them: catalogue rows from 1, file lines after the header)."""
    return f"{code.value} {DIP_CATALOG_MESSAGES[code.value]}; duplicate of row {first_row}"


class DipErrorCode(StrEnum):
    """Stable per-case DIP codes. Never renumber; add new codes at the end."""

    DIAGNOSIS_MISSING = ErrorCode.DIAGNOSIS_MISSING.value  # shared with DRG: E105
    PRINCIPAL_DX_MALFORMED = "E401"
    NO_DIP_GROUP = "E402"


DIP_ERROR_MESSAGES: dict[str, str] = {
    DipErrorCode.DIAGNOSIS_MISSING.value: ERROR_MESSAGES[ErrorCode.DIAGNOSIS_MISSING],
    DipErrorCode.PRINCIPAL_DX_MALFORMED.value: (
        "主要诊断编码不是 ICD-10 编码 / principal diagnosis is not an ICD-10 code"),
    DipErrorCode.NO_DIP_GROUP.value: (
        "无法入组：目录中没有匹配的核心病种或综合病种 / "
        "ungroupable: no core or comprehensive group of the catalogue fits"),
}


def dip_error_message() -> pl.Expr:
    return pl.col("error_code").replace_strict(DIP_ERROR_MESSAGES, default=None,
                                               return_dtype=pl.String)
