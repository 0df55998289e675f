"""`create_app(settings)`: the FastAPI application of the DRG/DIP service."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api.docs_pages import install_docs
from api.error_catalog import add_error_examples, codes_table
from api.errors import install_error_handlers
from api.limits import BodyLimit
from api.logs import RequestLog
from api.routers import batches, estimate, grouping, health, keys, publish, reads
from api.settings import ApiSettings
from api.state import ServiceState

DESCRIPTION = """
DRG/DIP 分组与支付引擎 HTTP 服务 / the HTTP service of the DRG/DIP payment engine.

* Per case (事中控制, at discharge): DRG and DIP grouping with the decision trace.
* Batches: upload a case file, follow the job, download results as Parquet or CSV.
* Reads: weight versions, hospital period and clearing results, indicators.

Every `/v1` call needs an API key in the `X-API-Key` header (`drgdip keys create`). A hospital
key sees only its own hospital; analyst keys read everything; admin keys also manage keys.
Every error has one shape: `{code, message, field}`, the message in Chinese and English.
Each operation shows an example of every code it can answer with; all codes:

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

    app = FastAPI(title="drgdip", version="1", description=DESCRIPTION + codes_table(),
                  lifespan=lifespan,
                  docs_url=None, redoc_url=None,  # api.docs_pages: offline assets
                  openapi_tags=[
                      {"name": "per case", "description": "单病例分组 / one case at a time"},
                      {"name": "batches", "description": "批量任务 / batch jobs"},
                      {"name": "reads", "description": "库内结果查询 / results in the store"},
                      {"name": "admin", "description": "管理 / administration"},
                      {"name": "health", "description": "探针 / probes"}])
    install_error_handlers(app)
    install_docs(app)
    base_openapi = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:  # built once, then FastAPI serves the cached schema
            add_error_examples(base_openapi())
        return app.openapi_schema or {}

    app.openapi = openapi  # type: ignore[method-assign]
    app.add_middleware(BodyLimit, max_body=settings.max_body_bytes,
                       max_upload=settings.max_upload_bytes)
    app.add_middleware(RequestLog)  # outermost: a line for every answer, 413s included
    for r in (health.router, grouping.router, estimate.router, batches.router, reads.router, publish.router,
              keys.router):
        app.include_router(r)
    return app
