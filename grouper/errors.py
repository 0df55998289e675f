"""Error codes for per-case problems (data) and the exception family for bad configuration.

Bad cases are data: every case comes out with `status`, `error_code` and `error_message`.
Bad configuration or arguments raise a `DrgDipError` subclass with a one-line reason.
"""

from __future__ import annotations

from enum import StrEnum


class DrgDipError(Exception):
    """Base of every configuration/argument error raised by the project.

    `exit_code` is the CLI's exit status for it (README "Exit codes"): 2 usage or configuration,
    3 an unusable input file, 4 refused by policy or by the store's state; 1 is left for internal
    errors (a bug), 0 for success.
    """

    exit_code: int = 2


class RulesetError(DrgDipError):
    """A ruleset is unknown or one of its tables is malformed."""


class InputError(DrgDipError):
    """A case file or frame is unusable as a whole (missing file, missing required column …)."""

    exit_code = 3


class RefusedError(DrgDipError):
    """The request is well formed but refused by policy or state (held share over the limit,
    a year with missing months, weights built for another ruleset, a store that does not exist)."""

    exit_code = 4


class ErrorCode(StrEnum):
    """Stable per-case error codes (grouping). Never renumber; add new codes at the end."""

    SEX_INVALID = "E101"
    AGE_INVALID = "E102"
    AGE_DAYS_MISSING = "E103"
    BIRTH_WEIGHT_MISSING = "E104"
    DIAGNOSIS_MISSING = "E105"
    DX_UNMAPPED = "E106"
    PX_UNMAPPED = "E107"
    NO_MDC = "E301"
    NO_ADRG = "E302"
    DISCHARGE_DATE_MISSING = "E108"  # --ruleset auto: no (readable) discharge date


ERROR_MESSAGES: dict[ErrorCode, str] = {
    ErrorCode.SEX_INVALID: "性别缺失或不是 1/2 / sex missing or not 1 (male) / 2 (female)",
    ErrorCode.AGE_INVALID: "年龄缺失或不是数字 / age missing or not a number",
    ErrorCode.AGE_DAYS_MISSING: "年龄为 0 时缺少年龄(天) / age is 0 but age_days is missing",
    ErrorCode.BIRTH_WEIGHT_MISSING: (
        "新生儿(≤28天)缺少出生体重 / newborn (age_days <= 28) without birth_weight"
    ),
    ErrorCode.DIAGNOSIS_MISSING: "缺少诊断编码 / no diagnosis code",
    ErrorCode.DX_UNMAPPED: "诊断编码无法映射 / diagnosis code cannot be mapped",
    ErrorCode.PX_UNMAPPED: "手术操作编码无法映射 / procedure code cannot be mapped",
    ErrorCode.DISCHARGE_DATE_MISSING: (
        "缺少出院日期或不在任何分组方案生效期内，无法按日期选择分组方案 / no usable discharge_date: "
        "--ruleset auto cannot pick the ruleset in force"
    ),
    ErrorCode.NO_MDC: "无法入组：不符合任何 MDC 的入组条件 / ungroupable (0000): fits no MDC",
    ErrorCode.NO_ADRG: (
        "无法入组：进入 MDC 但未匹配任何 ADRG / ungroupable (0000): an MDC fitted but no ADRG"
    ),
}


class WarningCode(StrEnum):
    """Checks beyond the scheme. They never change status, mdc, adrg or drg."""

    DX_UNKNOWN = "W101"
    PX_UNKNOWN = "W102"
    SEX_DX_CONFLICT = "W103"
    NEWBORN_DX_NOT_NEWBORN = "W104"
    PRINCIPAL_DX_REPEATED = "W105"
    DUPLICATE_DX = "W106"
    DUPLICATE_PX = "W107"
    BLANK_CODE = "W108"
    AGE_IMPLAUSIBLE = "W109"
    BIRTH_WEIGHT_IMPLAUSIBLE = "W110"
    ASTERISK_PRINCIPAL_DX = "W111"
    LOS_INVALID = "W112"


WARNING_MESSAGES: dict[WarningCode, str] = {
    WarningCode.DX_UNKNOWN: "诊断编码不在字典中 / diagnosis code not in the ICD-10 dictionary",
    WarningCode.PX_UNKNOWN: "手术操作编码不在字典中 / procedure code not in the ICD-9-CM-3 dictionary",
    WarningCode.SEX_DX_CONFLICT: "性别与主要诊断冲突 / principal diagnosis conflicts with sex",
    WarningCode.NEWBORN_DX_NOT_NEWBORN: (
        "非新生儿使用围产期(P)诊断 / perinatal (P) diagnosis on a patient older than 28 days"
    ),
    WarningCode.PRINCIPAL_DX_REPEATED: "主要诊断在其他诊断中重复 / principal diagnosis repeated",
    WarningCode.DUPLICATE_DX: "其他诊断重复 / a secondary diagnosis is repeated",
    WarningCode.DUPLICATE_PX: "手术操作编码重复 / a procedure code is repeated",
    WarningCode.BLANK_CODE: "存在空编码 / a blank code in the diagnosis or procedure list",
    WarningCode.AGE_IMPLAUSIBLE: "年龄不合理 / implausible age (negative or over 130)",
    WarningCode.BIRTH_WEIGHT_IMPLAUSIBLE: (
        "出生体重不合理 / implausible birth weight (outside 100–10000 g)"
    ),
    WarningCode.ASTERISK_PRINCIPAL_DX: (
        "星号编码作主要诊断 / a manifestation (asterisk) code is the principal diagnosis"
    ),
    WarningCode.LOS_INVALID: "住院天数为负 / negative length of stay",
}
