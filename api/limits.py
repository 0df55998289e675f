"""Request size limits as a plain ASGI middleware (cheap on the per-case path).

A declared Content-Length above the limit is refused at once; a chunked body is counted as it
arrives and refused when it passes the limit. Uploads (`/v1/batches`, `/v1/simulations`) have their own, larger limit.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

UPLOAD_PREFIXES = ("/v1/batches", "/v1/simulations")  # file uploads


class TooLarge(HTTPException):
    """Raised while the body is read; FastAPI passes HTTPExceptions through to the handlers."""

    def __init__(self) -> None:
        super().__init__(413)


def _answer(limit: int) -> bytes:
    return json.dumps({"code": "TOO_LARGE",
                       "message": f"请求体超过 {limit} 字节 / request body exceeds {limit} bytes",
                       "field": "body"}, ensure_ascii=False).encode()


class BodyLimit:
    def __init__(self, app: ASGIApp, *, max_body: int, max_upload: int) -> None:
        self.app, self.max_body, self.max_upload = app, max_body, max_upload

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        limit = self.max_upload if scope["path"].startswith(UPLOAD_PREFIXES) else self.max_body
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = limit + 1
                if declared > limit:
                    await self._refuse(send, limit)
                    return
        seen = 0
        started = False

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise TooLarge
            return message

        async def tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, tracked)
        except TooLarge:
            if not started:
                await self._refuse(send, limit)

    @staticmethod
    async def _refuse(send: Send, limit: int) -> None:
        payload = _answer(limit)
        headers: list[Any] = [(b"content-type", b"application/json"),
                              (b"content-length", str(len(payload)).encode())]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": payload})
