"""Structured logs of the service: one JSON line per request and per job state change.

Lines go to stderr (`drgdip serve`), one JSON object each: `ts` (RFC 3339, UTC), `level`,
`event` (`request`, `job`, or the logger's message for other records) and the event's fields.
What a line never holds: a patient identifier or any case field (bodies and query strings are
not logged), an API key (only its public `key_id`; a `ddk_…` secret in any text is masked), or a
server path (absolute paths become their file name) — `scrub` is applied to every text.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import traceback
from datetime import UTC, datetime
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

LOGGER = "drgdip.api"
log = logging.getLogger(LOGGER)
events = logging.getLogger(LOGGER + ".events")

# an absolute POSIX or Windows path (a run of path characters after a separator); the
# service's own URLs (/v1/…, /docs) are not server paths
_PATH = re.compile(r"(?<![\w.:/])(?:[A-Za-z]:\\|/(?!v1/|docs|redoc|openapi))(?:[^\s'\"<>|:,;()\[\]{}]+[/\\])+"
                   r"([^\s'\"<>|:,;()\[\]{}/\\]*)")
URL_FIELDS = frozenset({"path", "route"})
_CODE = re.compile(rb'\{"code":\s*"([A-Z][A-Z_]+)"')
_KEY = re.compile(r"\bddk_([0-9a-f]+)_[0-9A-Za-z]+")


def scrub(text: str) -> str:
    """The text without server paths (each becomes its file name) and without key secrets."""
    return _KEY.sub(r"ddk_\1_…", _PATH.sub(lambda m: m.group(1) or "…", text))


class JsonFormatter(logging.Formatter):
    """One JSON object a line; the record's `fields` (extra) are merged in, scrubbed."""

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = getattr(record, "fields", None) or {}
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname.lower(), "logger": record.name,
            "event": fields.get("event") or scrub(record.getMessage())}
        for k, v in fields.items():
            if k != "event":  # the request path and route are URLs, not server paths
                line[k] = scrub(v) if isinstance(v, str) and k not in URL_FIELDS else v
        if record.exc_info and record.exc_info[0] is not None:
            line["error"] = scrub(f"{record.exc_info[0].__name__}: {record.exc_info[1]}")
            line["trace"] = scrub("".join(traceback.format_exception(*record.exc_info))[-4000:])
        return json.dumps(line, ensure_ascii=False, default=str)


def configure(level: str | int = "INFO", stream: Any = None) -> logging.Handler:
    """Send the service's records (`drgdip.*`) as JSON lines to stderr; idempotent."""
    root = logging.getLogger("drgdip")
    for h in root.handlers:
        if getattr(h, "drgdip_json", False):
            return h
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.drgdip_json = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    root.propagate = False
    return handler


def event(name: str, level: int = logging.INFO, **fields: Any) -> None:
    events.log(level, name, extra={"fields": {"event": name, **fields}})


def job_event(job_id: str, state: str, **fields: Any) -> None:
    """A job's state change: accepted, running, done, failed, interrupted (queued again)."""
    level = logging.WARNING if state == "failed" else logging.INFO
    event("job", level, job_id=job_id, state=state, **fields)


class RequestLog:
    """ASGI middleware: one `request` line per HTTP request, after the answer is sent.

    Fields: method, path (no query string), route (its template), status, ms, bytes, key_id
    (set by the key check; never the secret), client address, and for an error answer its
    `code` (the error shape's code, read from the answer's first bytes)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status, size, head = 500, 0, b""

        async def sending(message: Message) -> None:
            nonlocal status, size, head
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                chunk = message.get("body", b"")
                if status >= 400 and not size:
                    head = chunk[:200]
                size += len(chunk)
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = scope.get("route")
            state = scope.get("state") or {}
            client = scope.get("client")
            code = _CODE.match(head)
            event("request", logging.WARNING if status >= 500 else logging.INFO,
                  method=scope["method"], path=scope["path"],
                  route=getattr(route, "path", None), status=status,
                  ms=round((time.perf_counter() - start) * 1000, 2), bytes=size,
                  key_id=state.get("key_id"), role=state.get("role"),
                  client=client[0] if client else None,
                  **({"code": code.group(1).decode()} if code else {}))


def uvicorn_log_config(level: str = "info") -> dict[str, Any]:
    """`drgdip serve`'s logging: the service's and uvicorn's own records as JSON lines."""
    lvl = level.upper()
    one = {"handlers": ["json"], "level": lvl, "propagate": False}
    return {"version": 1, "disable_existing_loggers": False,
            "formatters": {"json": {"()": f"{__name__}.JsonFormatter"}},
            "handlers": {"json": {"class": "logging.StreamHandler", "formatter": "json",
                                  "stream": "ext://sys.stderr"}},
            "loggers": {"uvicorn": one, "uvicorn.access": one, LOGGER.split(".")[0]: one}}
