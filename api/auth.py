"""API keys: creation, salted hashes in the store, an in-memory key table, role checks.

A key reads `ddk_<key_id>_<secret>`. The store keeps key_id, a per-key random salt and
sha256(salt || secret); the secret itself is shown once, at creation. Checking a key is a dict
lookup and one sha256 (no disk I/O); an unknown key_id reloads the table from the store at most
once per `key_refresh_seconds`, so keys made by `drgdip keys create` work without a restart.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import duckdb

from api.errors import ApiError, forbidden, unauthenticated
from grouper.errors import DrgDipError, RefusedError

log = logging.getLogger("drgdip.api")
PREFIX = "ddk"


class Role(StrEnum):
    HOSPITAL = "hospital"  # its own hospital's batches and results
    ANALYST = "analyst"    # reads everything
    ADMIN = "admin"        # everything, and publishes / manages keys


class ApiKeyError(DrgDipError):
    """Bad arguments to key creation."""


@dataclass(frozen=True)
class Principal:
    key_id: str
    role: Role
    hospital_id: str | None

    def may_see_hospital(self, hospital_id: str | None) -> bool:
        """Analysts and admins see every hospital; a hospital key only its own."""
        return self.role != Role.HOSPITAL or (hospital_id is not None
                                              and hospital_id == self.hospital_id)


@dataclass(frozen=True)
class StoredKey:
    principal: Principal
    salt: bytes
    secret_hash: bytes


def _hash(salt: bytes, secret: str) -> bytes:
    return hashlib.sha256(salt + secret.encode()).digest()


def create_key(con: duckdb.DuckDBPyConnection, role: str, hospital_id: str | None = None,
               label: str | None = None) -> str:
    """Insert a new key and return it in full (the only time the secret exists in clear)."""
    try:
        r = Role(role)
    except ValueError:
        raise ApiKeyError(f"role={role!r}; accepted: {', '.join(x.value for x in Role)}") from None
    if r == Role.HOSPITAL and not hospital_id:
        raise ApiKeyError("role=hospital needs --hospital ID")
    if r != Role.HOSPITAL and hospital_id:
        raise ApiKeyError(f"--hospital is only for role=hospital, not role={r.value}")
    if r == Role.HOSPITAL and not con.execute(
            "SELECT count(*) FROM hospital_master WHERE hospital_id = ?",
            [hospital_id]).fetchone()[0]:  # type: ignore[index]
        raise RefusedError(f"hospital {hospital_id!r} is not in the hospital master; load it "
                           f"first (`drgdip weights hospitals import FILE`) / 医院不在医院目录中")
    key_id, secret, salt = secrets.token_hex(6), secrets.token_hex(24), secrets.token_bytes(16)
    con.execute("INSERT INTO api_keys VALUES (?, ?, ?, ?, ?, ?, ?, NULL)",
                [key_id, salt.hex(), _hash(salt, secret).hex(), r.value, hospital_id, label,
                 datetime.now()])
    return f"{PREFIX}_{key_id}_{secret}"


def read_keys(con: duckdb.DuckDBPyConnection) -> dict[str, StoredKey]:
    rows = con.execute("SELECT key_id, salt, secret_hash, role, hospital_id FROM api_keys "
                       "WHERE revoked_at IS NULL").fetchall()
    return {k: StoredKey(Principal(k, Role(role), hosp), bytes.fromhex(salt), bytes.fromhex(h))
            for k, salt, h, role, hosp in rows}


class KeyTable:
    """The keys in memory; `check(header)` → Principal or 401."""

    def __init__(self, load: Callable[[], dict[str, StoredKey]], refresh_seconds: float) -> None:
        self._load = load
        self._refresh_seconds = refresh_seconds
        self._keys: dict[str, StoredKey] = {}
        self._loaded_at = float("-inf")
        self._lock = threading.Lock()

    def refresh_forever(self, stop: threading.Event, every: float = 30.0) -> None:
        """Reload periodically (revocations take effect) until `stop` is set; for a thread."""
        while not stop.wait(every):
            try:
                self.reload()
            except (ApiError, DrgDipError, duckdb.Error) as exc:
                # store busy: keep the keys we have, try again at the next interval
                log.warning("key reload failed: %s", exc)

    def reload(self) -> None:
        keys = self._load()
        with self._lock:
            self._keys, self._loaded_at = keys, time.monotonic()

    def _find(self, key_id: str) -> StoredKey | None:
        found = self._keys.get(key_id)
        if found is None and time.monotonic() - self._loaded_at > self._refresh_seconds:
            self.reload()
            found = self._keys.get(key_id)
        return found

    def check(self, header: str | None) -> Principal:
        if not header:
            raise unauthenticated("缺少 X-API-Key / missing X-API-Key header")
        parts = header.split("_")
        if len(parts) != 3 or parts[0] != PREFIX:
            raise unauthenticated("API 密钥格式无效 / malformed API key")
        found = self._find(parts[1])
        if found is None or not hmac.compare_digest(_hash(found.salt, parts[2]),
                                                    found.secret_hash):
            raise unauthenticated("API 密钥无效或已吊销 / unknown or revoked API key")
        return found.principal


def require_role(principal: Principal, *roles: Role) -> Principal:
    if principal.role not in roles:
        raise forbidden(f"此操作需要角色 {'/'.join(roles)} / this needs role "
                        f"{' or '.join(roles)}; the key has role {principal.role.value}",
                        "header.X-API-Key")
    return principal
