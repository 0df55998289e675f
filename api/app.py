"""`create_app(settings)`: the FastAPI application of the DRG/DIP service."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api.errors import install_error_handlers
from api.limits import BodyLimit
from api.routers import batches, estimate, grouping, health, keys, publish, reads, simulations
from api.settings import ApiSettings
from api.state import ServiceState

DESCRIPTION = """
DRG/DIP 分组与支付引擎 HTTP 服务 / the HTTP service of the DRG/DIP payment engine.

* Per case (事中控制, at discharge): DRG and DIP grouping with the decision trace.
* Batches: upload a case file, follow the job, download results as Parquet or CSV.
* Reads: weight versions, hospital period and clearing results, indicators.
* Simulations (测算): what next year's weights or parameters would pay, as jobs.

Every `/v1` call needs an API key in the `X-API-Key` header (`drgdip keys create`). A hospital
key sees only its own hospital; analyst keys read everything; admin keys also manage keys.
Every error has one shape: `{code, message, field}`, the message in Chinese and English.
"""


def create_app(settings: ApiSettings | None = None) -> FastAPI:
    settings = settings or ApiSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.service = ServiceState.start(settings)
        try:
            yield
        finally:
            app.state.service.stop()

    app = FastAPI(title="drgdip", version="1", description=DESCRIPTION, lifespan=lifespan,
                  openapi_tags=[
                      {"name": "per case", "description": "单病例分组 / one case at a time"},
                      {"name": "batches", "description": "批量任务 / batch jobs"},
                      {"name": "simulations", "description": "测算 / what-if simulations"},
                      {"name": "reads", "description": "库内结果查询 / results in the store"},
                      {"name": "admin", "description": "管理 / administration"},
                      {"name": "health", "description": "探针 / probes"}])
    install_error_handlers(app)
    app.add_middleware(BodyLimit, max_body=settings.max_body_bytes,
                       max_upload=settings.max_upload_bytes)
    for r in (health.router, grouping.router, estimate.router, batches.router, reads.router, publish.router,
              keys.router, simulations.router):
        app.include_router(r)
    return app
