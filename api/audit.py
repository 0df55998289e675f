"""Every write through the service leaves one row in the store's `audit` table."""

from __future__ import annotations

from datetime import datetime

from fastapi import Request

from api.auth import Principal
from api.store_access import Store


def record(store: Store, principal: Principal | None, request: Request, action: str,
           target: str | None, status: int, detail: str | None = None) -> None:
    store.execute("INSERT INTO audit VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [
        datetime.now(), principal.key_id if principal else None,
        principal.role.value if principal else None,
        principal.hospital_id if principal else None, request.method, request.url.path,
        action, target, status, detail])
