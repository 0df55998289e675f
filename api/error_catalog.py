"""Every error code the service answers with, one documented example each.

The OpenAPI shows, under each operation's error status, an example for each code that operation
can answer with (`where`: a regex over `METHOD /path` of the operations; None = every operation
that documents the status). Codes any path can answer with (an unknown path, a wrong method) are
listed in the service description. `tests/api/test_error_examples.py` checks that every code the
code raises is here, with its status, and that real answers carry a documented code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ErrorDoc:
    status: int
    code: str
    summary: str  # English, for the examples list
    message: str  # an example message as the service writes it (Chinese / English)
    field: str | None = None
    where: str | None = None  # regex over "METHOD /path"; None: wherever the status is documented
    any_path: bool = False  # answered for any path: listed in the description, not per operation


BATCH_UPLOAD = r"^POST /v1/batches$"
STORE = r"^(GET|POST) /(v1/|readyz)"

ERRORS: tuple[ErrorDoc, ...] = (
    ErrorDoc(400, "BAD_REQUEST", "body is not JSON",
             "请求体不是有效的 JSON / the request body is not valid JSON: expected value at "
             "line 1 column 1", "body"),
    ErrorDoc(400, "BAD_INPUT", "unusable input",
             "输入无法使用 / unusable input: hospital 'NOPE' is not in the hospital master; load "
             "it first (`drgdip weights hospitals import FILE`) / 医院不在医院目录中", None,
             r"^POST /v1/(batches|keys)$"),
    ErrorDoc(401, "UNAUTHENTICATED", "missing or unknown key",
             "缺少 X-API-Key / missing X-API-Key header", "header.X-API-Key"),
    ErrorDoc(403, "FORBIDDEN", "outside the key's role or hospital",
             "不能读取其他医院的数据 / a hospital key reads only its own hospital",
             "path.hospital_id"),
    ErrorDoc(404, "NOT_FOUND", "no such resource (for this key)",
             "批处理任务 / batch job 不存在 / 批处理任务 / batch job not found", "path.job_id"),
    ErrorDoc(405, "METHOD_NOT_ALLOWED", "method not allowed on the path",
             "不支持的请求方法 / method not allowed", any_path=True),
    ErrorDoc(409, "CONFLICT", "state conflict", "状态冲突 / conflict", any_path=True),
    ErrorDoc(409, "JOB_NOT_DONE", "job not finished",
             "任务尚未完成 / job is running, not done", "path.job_id",
             r"^GET /v1/batches/\{job_id\}/results$"),
    ErrorDoc(409, "NOT_PUBLISHABLE", "version cannot be published",
             "无法发布 / cannot publish: version v1 is already published", "path.version",
             r"/publish$"),
    ErrorDoc(413, "TOO_LARGE", "body too large",
             "请求体超过 65536 字节 / request body exceeds 65536 bytes", "body"),
    ErrorDoc(415, "UNSUPPORTED_MEDIA_TYPE", "unsupported content type",
             "不支持的内容类型 / unsupported media type", any_path=True),
    ErrorDoc(415, "UNSUPPORTED_FILE", "unsupported file type",
             "不支持的文件类型 / unsupported file type '.txt'; use .parquet, .csv, .jsonl, "
             ".xlsx", "body.file", BATCH_UPLOAD),
    ErrorDoc(422, "VALIDATION_ERROR", "invalid request field",
             "请求字段无效 / invalid request field: Input should be 1, 2, 9, '男', '女' …",
             "body.case.sex"),
    ErrorDoc(422, "UNKNOWN_RULESET", "unknown ruleset",
             "未知的分组方案 / unknown ruleset 'chs_drg_99'; available: chs_drg_11, chs_drg_20",
             "body.ruleset", r"^POST /v1/(drg/group|batches)$"),
    ErrorDoc(422, "NO_DISCHARGE_DATE", "ruleset auto without a usable discharge date",
             "ruleset auto 需要出院日期 / ruleset auto needs a discharge_date within a ruleset's "
             "effective dates", "body.case.discharge_date", r"^POST /v1/drg/group$"),
    ErrorDoc(422, "UNKNOWN_CATALOG", "unknown DIP catalogue",
             "未知的 DIP 目录 / unknown DIP catalogue 'x'; available: dip-2025",
             "body.catalog", r"^POST /v1/(dip/group|batches)$"),
    ErrorDoc(422, "POLICY_UNAVAILABLE", "policy cannot be estimated",
             "该政策无法测算 / policy 'chaozhou_dip_2025' cannot be used: no published DIP "
             "catalogue; usable: fuzhou_drg_2025", "body.policy", r"^POST /v1/estimate$"),
    ErrorDoc(422, "UNKNOWN_HOSPITAL", "hospital not in the store",
             "医疗机构不在库中 / hospital 'H9999' is not in the store's hospitals",
             "body.case.hospital_id", r"^POST /v1/estimate$"),
    ErrorDoc(422, "POLICY_MISMATCH", "policy does not fit the case's data",
             "政策与数据不符 / hospital H0001 has no level for the policy's rates",
             "body.case.hospital_id", r"^POST /v1/estimate$"),
    ErrorDoc(422, "BAD_KEY_REQUEST", "key parameters invalid",
             "密钥参数无效 / hospital 'NOPE' is not in the hospital master",
             "body.hospital_id", r"^POST /v1/keys$"),
    ErrorDoc(500, "INTERNAL_ERROR", "internal error (logged)",
             "服务器内部错误 / internal server error"),
    ErrorDoc(500, "HTTP_ERROR", "any other HTTP status", "(the status's own text)",
             any_path=True),
    ErrorDoc(503, "UNAVAILABLE", "service unavailable", "服务暂不可用 / service unavailable",
             any_path=True),
    ErrorDoc(503, "STARTING", "service starting", "服务正在启动 / service is starting"),
    ErrorDoc(503, "STORE_BUSY", "store locked by another process",
             "数据库被其他进程占用 / store is locked by another process; retry later",
             where=STORE),
    ErrorDoc(503, "STORE_UNAVAILABLE", "store cannot be opened",
             "数据库不可用 / store cannot be opened", where=STORE),
    ErrorDoc(503, "NO_DIP_CATALOG", "no DIP catalogue loaded",
             "未加载 DIP 病种目录 / no DIP catalogue is loaded", "body.catalog",
             r"^POST /v1/(dip/group|batches)$"),
    ErrorDoc(503, "JOBS_DOWN", "batch job workers down",
             "批处理任务进程未就绪 / 1 of 2 batch job worker(s) down or (re)starting; 0 job(s) "
             "waiting", where=r"^GET /readyz$"),
)
BY_CODE = {e.code: e for e in ERRORS}
assert len(BY_CODE) == len(ERRORS), "an error code is listed twice"


def example(e: ErrorDoc) -> dict[str, Any]:
    return {"summary": f"{e.code}: {e.summary}",
            "value": {"code": e.code, "message": e.message, "field": e.field}}


def add_error_examples(spec: dict[str, Any]) -> dict[str, Any]:
    """Put, under each operation's error statuses, the examples of the codes it can answer."""
    for path, item in spec.get("paths", {}).items():
        for method, op in item.items():
            name = f"{method.upper()} {path}"
            for status, response in op.get("responses", {}).items():
                if not status.isdigit() or int(status) < 400:
                    continue
                docs = [e for e in ERRORS if e.status == int(status) and not e.any_path
                        and (e.where is None or re.search(e.where, name))]
                if docs:
                    media = response.setdefault("content", {}).setdefault("application/json", {})
                    media["examples"] = {e.code: example(e) for e in docs}
    return spec


def codes_table() -> str:
    """The description's table of every code (markdown)."""
    lines = ["| HTTP | code | 示例 / example |", "|---|---|---|"]
    lines += [f"| {e.status} | `{e.code}` | {e.message} |"
              for e in sorted(ERRORS, key=lambda e: (e.status, e.code))]
    return "\n".join(lines)
