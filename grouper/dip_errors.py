"""DIP per-case error codes (data) and the DIP catalogue exception (configuration)."""

from __future__ import annotations

from enum import StrEnum

import polars as pl

from grouper.errors import ERROR_MESSAGES, DrgDipError, ErrorCode


class DipCatalogError(DrgDipError):
    """A DIP catalogue is malformed or cannot be built (names the row, column and value)."""


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
