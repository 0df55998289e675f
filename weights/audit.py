"""The audit log: every change to the store's reference tables (who, when, what, why).

Writers call `record()` inside the same transaction as the change, so a change and its log
row commit together or not at all.
"""

from __future__ import annotations

import getpass
import json
from datetime import datetime
from typing import Any

import duckdb
import polars as pl

from weights.store import query


def current_user() -> str:
    """The operating-system user, the default `who` of CLI changes."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def record(con: duckdb.DuckDBPyConnection, *, who: str, action: str, entity: str,
           entity_key: str, why: str, detail: dict[str, Any] | None = None) -> None:
    """Append one audit row (no commit: the caller's transaction decides)."""
    con.execute(
        "INSERT INTO audit_log (changed_at, who, action, entity, entity_key, why, detail) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        [datetime.now(), who or current_user(), action, entity, entity_key, why or "",
         json.dumps(detail, ensure_ascii=False, default=str) if detail else None])


def audit_log(con: duckdb.DuckDBPyConnection, *, entity: str | None = None,
              entity_key: str | None = None, limit: int | None = None) -> pl.DataFrame:
    """Audit rows, newest first, optionally for one entity (table) and key."""
    where, args = [], []
    if entity is not None:
        where.append("entity = ?")
        args.append(entity)
    if entity_key is not None:
        where.append("entity_key = ?")
        args.append(entity_key)
    sql = "SELECT id, changed_at, who, action, entity, entity_key, why, detail FROM audit_log"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY id DESC"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return query(con, sql, args)
