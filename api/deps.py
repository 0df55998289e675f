"""FastAPI dependencies: the service state and the caller's key, by role.

They are `async` so that they run on the event loop rather than in the thread pool: each is a
dict lookup and a sha256 (an unknown key id reloads the keys at most every few seconds).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader

from api.auth import Principal, Role, require_role
from api.errors import ApiError
from api.state import ServiceState

api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False,
                              description="API key made by `drgdip keys create`")


async def service(request: Request) -> ServiceState:
    state: ServiceState | None = getattr(request.app.state, "service", None)
    if state is None or not state.ready:
        raise ApiError(503, "STARTING", "服务正在启动 / service is starting")
    return state


State = Annotated[ServiceState, Depends(service)]


async def principal(request: Request, state: State,
                    key: Annotated[str | None, Security(api_key_header)]) -> Principal:
    found = state.keys.check(key)
    request.state.key_id, request.state.role = found.key_id, found.role.value  # api.logs
    return found


async def admin(p: Annotated[Principal, Depends(principal)]) -> Principal:
    return require_role(p, Role.ADMIN)


async def bureau(p: Annotated[Principal, Depends(principal)]) -> Principal:
    return require_role(p, Role.ANALYST, Role.ADMIN)


AnyKey = Annotated[Principal, Depends(principal)]
AdminKey = Annotated[Principal, Depends(admin)]
BureauKey = Annotated[Principal, Depends(bureau)]
