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
    jobs = state.runner.health() if state.runner else {"workers": 0, "workers_up": 0,
                                                        "queued": 0, "running": 0}
    if jobs["workers_up"] < jobs["workers"]:
        raise ApiError(503, "JOBS_DOWN",
                       f"批处理任务进程未就绪 / {jobs['workers'] - jobs['workers_up']} of "
                       f"{jobs['workers']} batch job worker(s) down or (re)starting; "
                       f"{jobs['queued']} job(s) waiting")
    return ReadyOut(status="ready", rulesets=sorted(state.rulesets),
                    dip_catalogs=sorted(state.catalogs), jobs_queued=jobs["queued"],
                    jobs_running=jobs["running"], jobs_workers=jobs["workers"],
                    jobs_workers_up=jobs["workers_up"])
