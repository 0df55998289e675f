"""`POST /v1/estimate`: expected payment of one case under a policy (in-memory lookups only)."""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Response

from api.auth import Role
from api.deps import AnyKey, State
from api.errors import ApiError, forbidden
from api.models import ERROR_RESPONSES, EstimateIn, EstimateOut
from api.routers.grouping import JsonBytes, case_dict
from engine.settlement.estimate import EstimateError

router = APIRouter(prefix="/v1", tags=["per case"], responses=ERROR_RESPONSES)


@router.post("/estimate", response_model=EstimateOut, summary="payment estimate of one case",
             description="病例 + 医院 → 分组、权重/分值、支付标准、高低倍率、预计基金支付 / "
                         "group, weight or score, payment standard, outlier status and the "
                         "fund's expected payable under the policy's published weights. "
                         "A hospital key estimates only for its own hospital (default).")
async def estimate(body: EstimateIn, state: State, p: AnyKey) -> Response:
    # in-memory lookups and `settle_one` (~0.4 ms): run on the loop like the grouping routes
    case = case_dict(body.case)
    if p.role == Role.HOSPITAL:
        if case.get("hospital_id") in (None, ""):
            case["hospital_id"] = p.hospital_id
        elif case["hospital_id"] != p.hospital_id:
            raise forbidden("只能测算本院病例 / a hospital key estimates only its own cases",
                            "body.case.hospital_id")
    try:
        answer = state.estimator.estimate(case, body.policy)
    except EstimateError as exc:
        raise ApiError(exc.status, exc.code, exc.message, exc.field) from exc
    return JsonBytes(orjson.dumps(answer))
