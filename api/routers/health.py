"""`/healthz` (the process answers) and `/readyz` (lookups loaded, store reachable)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from api.errors import ApiError
from api.models import ErrorOut, HealthOut, ReadyOut

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=HealthOut, summary="liveness")
def healthz() -> HealthOut:
    return HealthOut(status="ok")


@router.get("/readyz", response_model=ReadyOut, summary="readiness",
            responses={503: {"model": ErrorOut, "description": "not ready"}})
def readyz(request: Request) -> ReadyOut:
    state = getattr(request.app.state, "service", None)
    if state is None or not state.ready:
        raise ApiError(503, "STARTING", "服务正在启动 / service is starting")
    state.store.tables()  # the store answers (503 when locked past the retry time)
    return ReadyOut(status="ready", rulesets=sorted(state.rulesets),
                    dip_catalogs=sorted(state.catalogs),
                    jobs_queued=state.runner.queued() if state.runner else 0)
