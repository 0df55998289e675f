"""Key management for admins: `POST /v1/keys` (audited)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from api import audit
from api.auth import ApiKeyError, create_key
from api.deps import AdminKey, State
from api.errors import ApiError
from api.models import ERROR_RESPONSES, KeyCreatedOut, KeyCreateIn

router = APIRouter(prefix="/v1/keys", tags=["admin"], responses=ERROR_RESPONSES)


@router.post("", status_code=201, response_model=KeyCreatedOut, summary="create an API key",
             description="管理员创建密钥（仅显示一次）/ admins create a key; it is shown once.")
def create(body: KeyCreateIn, request: Request, state: State, p: AdminKey) -> KeyCreatedOut:
    try:
        with state.store.connect() as con:
            key = create_key(con, body.role, body.hospital_id, body.label)
    except ApiKeyError as exc:
        raise ApiError(422, "BAD_KEY_REQUEST", f"密钥参数无效 / {exc}", "body.hospital_id") from exc
    key_id = key.split("_")[1]
    state.store.refresh(force=True)
    state.keys.reload()
    audit.record(state.store, p, request, "create", "api_keys", key_id,
                 {"new_role": body.role, "new_hospital": body.hospital_id})
    return KeyCreatedOut(key_id=key_id, role=body.role, hospital_id=body.hospital_id, key=key)
