"""Request and response bodies (separate classes), with the examples shown in the OpenAPI."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    field_validator,
)

from engine.ingest.coerce import DATE_COMPACT, DATE_PARTS, INSURANCE_WORDS, SEX_WORDS

CODES_MAX = 100


def _iso_text(value: object) -> object:
    """Dates come as text (JSON has no date type) in the spellings case files accept
    (engine.ingest.coerce: 2025-03-09, 2025/3/9, 2025.03.09, 2025年3月9日, 20250309, with an
    optional time); numbers are not dates."""
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        raise ValueError("a date must be text, e.g. 2025-03-09")  # noqa: TRY004 - pydantic
    text = value.strip()
    match = re.match(DATE_PARTS, text) or re.match(DATE_COMPACT, text)
    if match is None:
        return value  # pydantic says why it is not a date
    y, m, d = match.groups()
    return f"{y}-{int(m):02d}-{int(d):02d}"


def _word(words: dict[str, Any]) -> Any:
    """Text spellings case files accept (男/女, 职工/居民 …) mapped as files map them."""
    def read(value: object) -> object:
        if isinstance(value, str):  # exactly the spellings the OpenAPI lists
            return words.get(value, value)
        return value
    return read


def _money_text(value: object) -> object:
    """Money as files write it: "48,210.35" reads as 48210.35 (thousands separators)."""
    if isinstance(value, str):
        return value.strip().replace(",", "")
    return value


IsoDate = Annotated[date, BeforeValidator(_iso_text)]
# The spellings files accept, also shown in the OpenAPI (read to 1/2 and employee/resident).
StrictSex = Annotated[int, Strict(), Field(ge=-1000, le=1000)]
SexWord = Literal[tuple(SEX_WORDS)]  # type: ignore[misc]
InsuranceWord = Literal[tuple(INSURANCE_WORDS)]  # type: ignore[misc]

CASE_EXAMPLE: dict[str, Any] = {
    "case_id": "ZY2024000123", "hospital_id": "H0001", "insurance_type": "employee", "sex": 1,
    "age": 67, "los": 9, "discharge_way": 1, "diagnoses": ["I21.001", "I10.x00", "E11.900"],
    "procedures": ["36.0700", "88.5700"], "total_cost": "48210.35", "fund_paid": "33747.25",
}


class CaseIn(BaseModel):
    """One inpatient case (contracts §1). Lists may also be `|`-separated strings."""

    model_config = ConfigDict(extra="ignore", json_schema_extra={"examples": [CASE_EXAMPLE]})

    case_id: str = Field(min_length=1, max_length=64)
    hospital_id: str | None = Field(None, max_length=64)
    insurance_type: Annotated[InsuranceWord | None,  # type: ignore[valid-type]
                              BeforeValidator(_word(INSURANCE_WORDS))] = None
    sex: Annotated[StrictSex | SexWord | None,  # type: ignore[valid-type]
                   BeforeValidator(_word(SEX_WORDS))] = Field(
        None, description="1 male, 2 female (男/女/male/female accepted); else invalid")
    age: int | None = Field(None, strict=True, ge=0, le=150)
    age_days: int | None = Field(None, strict=True, ge=0, le=60000)
    birth_weight: int | None = Field(None, strict=True, ge=0, le=10000, description="grams")
    dept: str | None = Field(None, max_length=32)
    admit_date: IsoDate | None = None
    discharge_date: IsoDate | None = None
    los: int | None = Field(None, strict=True, ge=0, le=100000)
    discharge_way: int | None = Field(None, strict=True, ge=0, le=99)
    diagnoses: list[str] | str = Field(max_length=CODES_MAX * 33,
                                       description="ICD-10 codes, principal first")
    procedures: list[str] | str = Field(default_factory=list, max_length=CODES_MAX * 33)
    icu_hours: float | None = Field(None, strict=True, ge=0, le=1e6, allow_inf_nan=False)
    patient_id: str | None = Field(None, max_length=64)
    total_cost: Decimal | None = Field(None, ge=0, le=Decimal("1e10"), decimal_places=2)
    fund_paid: Decimal | None = Field(None, ge=0, le=Decimal("1e10"), decimal_places=2)
    other_fund_paid: Decimal | None = Field(None, ge=0, le=Decimal("1e10"), decimal_places=2)
    patient_paid: Decimal | None = Field(None, ge=0, le=Decimal("1e10"), decimal_places=2)
    tcm_treatment: bool | None = Field(None, strict=True, description="DIP: treated with TCM methods")
    day_surgery: bool | None = Field(None, strict=True, description="DIP: day surgery")

    _money = field_validator("total_cost", "fund_paid", "other_fund_paid", "patient_paid",
                             mode="before")(_money_text)


class DrgGroupIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"case": CASE_EXAMPLE, "ruleset": "chs_drg_11"}]})

    case: CaseIn
    ruleset: str | None = Field(None, max_length=64, description="default: the service's")
    translate_codes: bool = Field(False, strict=True, description="map codes through the ruleset's code maps")


class DipGroupIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"case": CASE_EXAMPLE, "catalog": "2024"}]})

    case: CaseIn
    catalog: str | None = Field(None, max_length=64,
                                description="catalogue version; default: the newest loaded")


class EstimateIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"case": CASE_EXAMPLE, "policy": "fuzhou_drg_2025"}]})

    case: CaseIn
    policy: str = Field(min_length=1, max_length=64,
                        description="policy name (engine/policies); its published weights apply")


class StepOut(BaseModel):
    stage: str
    subject: str
    held: bool
    codes: list[str]
    zh: str
    en: str


class DrgGroupOut(BaseModel):
    """Contracts §2 for one case, plus the decision trace."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "case_id": "ZY2024000123", "status": "ok", "mdc": "MDCF", "adrg": "FM1",
        "drg": "FM19", "drg_name": "经皮心脏介入治疗", "error_code": None,
        "error_message": None, "warnings": [], "ruleset": "chs_drg_11",
        "steps": [{"stage": "validate", "subject": "ok", "held": True, "codes": [],
                   "zh": "基本信息校验通过", "en": "demographics and codes valid"}]}]})

    case_id: str | None
    status: Literal["ok", "ambiguous", "ungroupable", "invalid"]
    mdc: str | None
    adrg: str | None
    drg: str | None
    drg_name: str | None
    error_code: str | None
    error_message: str | None
    warnings: list[str]
    ruleset: str
    steps: list[StepOut]


class DipCandidateOut(BaseModel):
    dip_code: str
    dip_type: str
    principal_dx: str | None
    procedures: str | None
    score: float | None
    matched: bool
    why: str


class DipGroupOut(BaseModel):
    """DIP grouping (contracts §2, DIP) for one case, plus the trace."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "case_id": "ZY2024000123", "status": "ok", "error_code": None, "error_message": None,
        "dip_code": "I21.0:36.07", "dip_type": "core", "dip_name": "急性前壁透壁性心肌梗死",
        "dip_score": 1850.1234, "treatment_class": "surgical", "tumour_level": "none",
        "severity_level": "mild", "cci_level": "1", "age_band": "elderly",
        "aux_dimension": "age", "aux_coef": 1.05, "adjusted_score": 1942.6296,
        "catalog": "2024", "principal_dx": "I21.001", "subcategory": "I21.0",
        "category": "I21", "procedure_classes": [{"code": "36.0700", "class": "surgical"}],
        "candidates": [], "steps": ["主要诊断 / principal diagnosis: I21.001"]}]})

    case_id: str | None
    status: Literal["ok", "ungroupable", "invalid"]
    error_code: str | None
    error_message: str | None
    dip_code: str | None
    dip_type: str | None
    dip_name: str | None
    dip_score: float | None
    treatment_class: str | None
    tumour_level: str | None
    severity_level: str | None
    cci_level: str | None
    age_band: str | None
    aux_dimension: str | None
    aux_coef: float | None
    adjusted_score: float | None
    catalog: str
    principal_dx: str | None
    subcategory: str | None
    category: str | None
    procedure_classes: list[dict[str, Any]]
    candidates: list[DipCandidateOut]
    steps: list[str]


Money = str  # Decimal yuan as a string, exact to the fen ("1234.56")


class EstimateOut(BaseModel):
    """Settlement of one case under the policy (engine.settle_case result columns)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "case_id": "ZY2024000123", "hospital_id": "H0001", "fund_pool": "employee",
        "method": "drg", "status": "ok", "group_code": "FM19", "group_name": "经皮心脏介入治疗",
        "group_type": "drg", "weight": "2.3514", "institution_coef": "1.0000",
        "avg_cost": "41250.00", "cost_ratio": "1.1687", "case_type": "normal",
        "review_outcome": None, "review_over_quota": False, "review_recommended": False,
        "patient_over_standard": False, "points": "2.3514", "point_value": "17500.0000",
        "fixed_amount": "0.00", "payment_standard": "41149.50", "total_cost": "48210.35",
        "fund_paid": "33747.25", "other_fund_paid": "0.00", "patient_paid": "14463.10",
        "fund_payable": "26686.40", "deduction": "0.00", "los": 9,
        "discharge_date": "2025-03-09", "error_code": None, "error_message": None,
        "policy": "fuzhou_drg_2025", "policy_version": "2025.1-illustrative",
        "weights_version": "demo-fuzhou-2025", "grouping": {"status": "ok", "drg": "FM19"}}]})

    case_id: str | None
    hospital_id: str | None
    fund_pool: str | None
    method: str
    status: str | None
    group_code: str | None
    group_name: str | None
    group_type: str | None
    weight: Money | None
    institution_coef: Money | None
    avg_cost: Money | None
    cost_ratio: Money | None
    case_type: str | None
    review_outcome: str | None
    review_over_quota: bool | None
    review_recommended: bool | None
    patient_over_standard: bool | None
    points: Money | None
    point_value: Money | None
    fixed_amount: Money | None
    payment_standard: Money | None
    total_cost: Money | None
    fund_paid: Money | None
    other_fund_paid: Money | None
    patient_paid: Money | None
    fund_payable: Money | None
    deduction: Money | None
    los: int | None
    discharge_date: str | None
    error_code: str | None
    error_message: str | None
    policy: str
    policy_version: str
    weights_version: str
    grouping: dict[str, Any] = Field(description="the grouping row (DRG or DIP) behind it")


class JobOut(BaseModel):
    """A batch job: state, progress and counts by status."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "job_id": "j_3f9c2a1b7d4e", "kind": "drg", "params": {"ruleset": "chs_drg_11"},
        "state": "done", "hospital_id": "H0001", "filename": "cases.parquet",
        "rows_total": 120000, "rows_done": 120000,
        "counts": {"ok": 119020, "ambiguous": 310, "ungroupable": 120, "invalid": 550},
        "error": None, "attempts": 1, "created_at": "2024-07-01T08:00:00Z",
        "started_at": "2024-07-01T08:00:01Z", "finished_at": "2024-07-01T08:00:03Z",
        "results_url": "/v1/batches/j_3f9c2a1b7d4e/results"}]})

    job_id: str
    kind: Literal["drg", "dip"]
    params: dict[str, str]
    state: Literal["accepted", "running", "done", "failed"]
    hospital_id: str | None
    filename: str
    rows_total: int | None
    rows_done: int
    counts: dict[str, int] | None
    error: str | None
    attempts: int = Field(0, description="starts of the job (a job interrupted by a service "
                                         "stop runs again up to DRGDIP_JOB_MAX_ATTEMPTS times)")
    # RFC 3339 with zone (UTC)
    created_at: AwareDatetime
    started_at: AwareDatetime | None
    finished_at: AwareDatetime | None
    results_url: str | None


class JobListOut(BaseModel):
    jobs: list[JobOut]


class RowsOut(BaseModel):
    """Rows of a store table, as returned by the store (column names per the README)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "table": "drg_weights", "total": 1, "limit": 100, "offset": 0,
        "rows": [{"version": "2024", "drg": "FM19", "rw": 2.3514}]}]})

    table: str
    total: int
    limit: int
    offset: int
    rows: list[dict[str, Any]]


class KeyCreateIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"role": "hospital", "hospital_id": "H0001", "label": "HIS of H0001"}]})

    role: Literal["hospital", "analyst", "admin"]
    hospital_id: str | None = Field(None, min_length=1, max_length=64)
    label: str | None = Field(None, max_length=200)


class PublishIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"why": "2024 年度权重经专家论证后发布 / 2024 weights after expert review"}]})

    why: str = Field(min_length=1, max_length=500, description="reason, kept in the audit log")


class KeyCreatedOut(BaseModel):
    key_id: str
    role: str
    hospital_id: str | None
    key: str = Field(description="the full key; shown once")


class HealthOut(BaseModel):
    status: Literal["ok"]


class ReadyOut(BaseModel):
    status: Literal["ready", "starting"]
    rulesets: list[str]
    dip_catalogs: list[str]
    jobs_queued: int
    jobs_running: int = 0
    jobs_workers: int = 0  # worker processes configured (0: jobs not run by this service)
    jobs_workers_up: int = 0  # of which alive and ready


class ErrorOut(BaseModel):
    """The one error shape of the service."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "code": "VALIDATION_ERROR",
        "message": "请求字段无效 / invalid request field: Field required",
        "field": "body.case.diagnoses"}]})

    code: str
    message: str = Field(description="中文 / English")
    field: str | None = Field(description="request path of the offending value")


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorOut, "description": text}
    for status, text in ((400, "request body cannot be parsed"),
                         (401, "missing or invalid API key"), (403, "outside the key's role"),
                         (413, "body too large"), (422, "invalid request field"),
                         (500, "internal error (logged; the answer says no more)"),
                         (503, "starting, or the store is locked by another process"))
}
