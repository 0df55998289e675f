"""One JSON error shape for every failure: `{code, message, field}`.

`message` is Chinese and English (`中文 / English`), `field` the request path of the offending value
(`body.case.sex`, `query.limit`, `header.X-API-Key`) or null.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from api.logs import scrub
from grouper.errors import DrgDipError

log = logging.getLogger("drgdip.api")

STATUS_CODES: dict[int, tuple[str, str]] = {
    400: ("BAD_REQUEST", "请求无效 / bad request"),
    401: ("UNAUTHENTICATED", "缺少或无效的 API 密钥 / missing or invalid API key"),
    403: ("FORBIDDEN", "无权访问 / not allowed for this key"),
    404: ("NOT_FOUND", "资源不存在 / not found"),
    405: ("METHOD_NOT_ALLOWED", "不支持的请求方法 / method not allowed"),
    409: ("CONFLICT", "状态冲突 / conflict"),
    413: ("TOO_LARGE", "请求体过大 / request body too large"),
    415: ("UNSUPPORTED_MEDIA_TYPE", "不支持的内容类型 / unsupported media type"),
    422: ("VALIDATION_ERROR", "请求字段无效 / invalid request field"),
    503: ("UNAVAILABLE", "服务暂不可用 / service unavailable"),
}


class ApiError(Exception):
    """An error answer: HTTP status, stable code, bilingual message, field path."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field


def unauthenticated(message: str = STATUS_CODES[401][1]) -> ApiError:
    return ApiError(401, "UNAUTHENTICATED", message, "header.X-API-Key")


def forbidden(message: str = STATUS_CODES[403][1], field: str | None = None) -> ApiError:
    return ApiError(403, "FORBIDDEN", message, field)


def not_found(what: str, field: str | None = None) -> ApiError:
    return ApiError(404, "NOT_FOUND", f"{what} 不存在 / {what} not found", field)


def body(status: int, code: str, message: str, field: str | None,
         headers: Mapping[str, str] | None = None) -> JSONResponse:
    if status == 401:
        headers = {**(headers or {}), "WWW-Authenticate": "ApiKey"}
    # no server path or key secret in any answer (a file name stays; issue 13)
    return JSONResponse({"code": code, "message": scrub(message), "field": field},
                        status_code=status, headers=headers)


# pydantic names the member of a union that failed (`constrained-int`, `literal['男',…]`, `str`);
# the field path the client knows stops before it.
_UNION_MEMBER = re.compile(r"^(constrained-|function-|literal\[|list\[|(int|str|float|bool|"
                           r"decimal|date|none)$)")


def _field(loc: Sequence[Any]) -> str:
    parts = []
    for part in loc:
        if isinstance(part, str) and _UNION_MEMBER.match(part):
            break
        parts.append(str(part))
    return ".".join(parts)


async def _api_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return body(exc.status, exc.code, exc.message, exc.field)


async def _validation(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    first = errors[0] if errors else {"loc": (), "msg": "invalid"}
    if first.get("type") == "json_invalid":  # docs/api.md: an unparsable body is 400
        return body(400, "BAD_REQUEST", f"请求体不是有效的 JSON / the request body is not valid "
                    f"JSON: {first.get('ctx', {}).get('error', first.get('msg'))}", "body")
    msg = f"请求字段无效 / invalid request field: {first.get('msg', 'invalid')}"
    if len(errors) > 1:
        msg += f" (+{len(errors) - 1} more)"
    return body(422, "VALIDATION_ERROR", msg, _field(first.get("loc", ())) or None)


def allowed_methods(request: Request) -> str:
    """Every method any route of the path accepts (FastAPI keeps one route per method)."""
    methods: set[str] = set()
    for route in request.app.routes:
        match, _ = route.matches(request.scope)
        if match != Match.NONE:
            methods |= set(getattr(route, "methods", None) or ())
    if "GET" in methods:
        methods.add("HEAD")
    return ", ".join(sorted(methods))


async def _http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 405:
        exc.headers = {**(exc.headers or {}), "Allow": allowed_methods(request)}
    code, message = STATUS_CODES.get(exc.status_code, ("HTTP_ERROR", str(exc.detail)))
    if exc.status_code == 400:  # FastAPI: the body could not be read or decoded
        message = f"请求体无法解析 / the request body cannot be parsed: {exc.detail}"
    return body(exc.status_code, code, message, "body" if exc.status_code in (400, 413) else None,
                exc.headers)


async def _config(_: Request, exc: Exception) -> JSONResponse:
    # configuration-family errors reached by a request (e.g. unusable upload): the client's input
    return body(400, "BAD_INPUT", f"输入无法使用 / unusable input: {exc}", None)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return body(500, "INTERNAL_ERROR", "服务器内部错误 / internal server error", None)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(DrgDipError, _config)
    app.add_exception_handler(Exception, _unexpected)
