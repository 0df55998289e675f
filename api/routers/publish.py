"""Admin writes to the weights: `POST /v1/weights/versions/{version}/publish` (audited)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request

from api import audit
from api.deps import AdminKey, State
from api.errors import ApiError, not_found
from api.models import ERROR_RESPONSES, ErrorOut, PublishIn, RowsOut
from weights.errors import WeightTableError
from weights.versions import publish

router = APIRouter(prefix="/v1/weights", tags=["admin"], responses=ERROR_RESPONSES)


@router.post("/versions/{version}/publish", response_model=RowsOut,
             summary="publish a weight version",
             description="发布权重/分值版本（原版本同时停用）/ publish a draft DRG weight or DIP "
                         "score version; the version it supersedes is retired. Admins only.",
             responses={404: {"model": ErrorOut, "description": "no such version"},
                        409: {"model": ErrorOut, "description": "not publishable"}})
def publish_version(body: PublishIn, request: Request, state: State, p: AdminKey,
                    version: Annotated[str, Path(min_length=1, max_length=64)]) -> RowsOut:
    state.store.refresh()  # a version saved moments ago by `drgdip weights …`
    if not state.store.query("SELECT version FROM weight_versions WHERE version = ?", [version]):
        raise not_found("权重版本 / weight version", "path.version")
    try:
        with state.store.connect() as con:
            info = publish(con, version, who=audit.who(p), why=body.why)
    except WeightTableError as exc:
        raise ApiError(409, "NOT_PUBLISHABLE", f"无法发布 / cannot publish: {exc}",
                       "path.version") from exc
    state.store.refresh(force=True)  # reads (and the catalogues below) see the new version
    state.load_published_catalogs()
    state.load_estimator()
    return RowsOut(table="weight_versions", total=1, limit=1, offset=0, rows=[info])
