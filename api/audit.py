"""Every write through the service leaves one row in the store's `audit_log`."""

from __future__ import annotations

from fastapi import Request

from api.auth import Principal
from api.store_access import Store
from weights.audit import record as record_change


def who(principal: Principal) -> str:
    """The audit `who` of a key: `key:<key_id>` (role and hospital go into the detail)."""
    return f"key:{principal.key_id}"


def record(store: Store, principal: Principal, request: Request, action: str, entity: str,
           entity_key: str, detail: dict[str, object] | None = None) -> None:
    with store.connect() as con:
        record_change(con, who=who(principal), action=action, entity=entity,
                      entity_key=entity_key, why=f"{request.method} {request.url.path}",
                      detail={"role": principal.role.value, "hospital": principal.hospital_id,
                              **(detail or {})})
