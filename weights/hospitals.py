"""Hospitals (定点医疗机构) and their institution coefficients (医疗机构系数) with effective dates.

`hospital_master` holds one row per hospital; `hospital_coefficients` the coefficient history,
each row valid on `[effective_from, effective_to)` (open-ended when `effective_to` is null).
Setting a coefficient from a date closes the interval in force on that date; a later, already
scheduled change stays and bounds the new row. The view `hospitals` shows today's coefficient;
settlement asks `coefficients_on(con, date)` for the first day of its period
(`engine.pipeline.load_hospitals`), and its run summary names a change inside the period.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import duckdb
import polars as pl

from weights.audit import current_user, record
from weights.errors import WeightTableError
from weights.store import first_row, query, transaction

LEVELS = ("3", "2", "1", "community")
LEVEL_ALIASES = {"三级": "3", "二级": "2", "一级": "1", "社区": "community", "基层": "community",
                 "3": "3", "2": "2", "1": "1", "community": "community"}
MASTER_COLUMNS = ("hospital_id", "name", "level", "type", "region")


def normalise_level(value: object) -> str | None:
    """'三级'/'3' → '3', '社区'/'基层' → 'community'; None when not a known level."""
    text = "" if value is None else str(value).strip()
    text = text.removesuffix(".0")
    for alias, level in LEVEL_ALIASES.items():
        if text == alias or (alias[0] in "三二一" and text.startswith(alias)):
            return level
    return None


def coefficient_value(value: object) -> Decimal:
    """A positive coefficient, 4 dp at most, as Decimal; WeightTableError otherwise."""
    try:
        coef = Decimal(str(value).strip())
    except (InvalidOperation, ValueError) as exc:
        raise WeightTableError(f"coefficient={value!r} is not a number") from exc
    if not coef.is_finite() or coef <= 0:
        raise WeightTableError(f"coefficient={value!r}; must be > 0")
    if coef != coef.quantize(Decimal("0.0001")):
        raise WeightTableError(f"coefficient={value!r}; at most 4 decimal places")
    return coef


def upsert_hospitals(con: duckdb.DuckDBPyConnection, rows: pl.DataFrame, *, who: str = "",
                     why: str = "") -> int:
    """Insert or update hospitals (hospital_id, name, level, type, region); returns the count."""
    who = who or current_user()
    if "hospital_id" not in rows.columns:
        raise WeightTableError("hospital rows need a hospital_id column")
    frame = rows.select([(pl.col(c).cast(pl.String) if c in rows.columns
                          else pl.lit(None, pl.String)).alias(c) for c in MASTER_COLUMNS])
    bad = frame.filter(pl.col("level").is_not_null()
                       & ~pl.col("level").is_in(list(LEVELS)))["level"].to_list()
    if bad:
        raise WeightTableError(f"hospital level(s) {sorted(set(bad))[:5]}; accepted: "
                               f"{', '.join(LEVELS)}")
    if frame["hospital_id"].is_null().any() or frame["hospital_id"].is_duplicated().any():
        raise WeightTableError("hospital_id must be present and unique")
    with transaction(con):
        staged = frame  # noqa: F841 - read by DuckDB through the name
        con.execute("DELETE FROM hospital_master WHERE hospital_id IN "
                    "(SELECT hospital_id FROM staged)")
        con.execute(f"INSERT INTO hospital_master ({', '.join(MASTER_COLUMNS)}, updated_at, "
                    f"updated_by) SELECT {', '.join(MASTER_COLUMNS)}, ?, ? FROM staged",
                    [datetime.now(), who])
        record(con, who=who, action="upsert", entity="hospital_master",
               entity_key=f"{frame.height} hospitals", why=why,
               detail={"hospital_ids": frame["hospital_id"].head(50).to_list()})
    return frame.height


def set_coefficient(con: duckdb.DuckDBPyConnection, hospital_id: str, coefficient: object,
                    effective_from: date, reason: str, *, who: str = "") -> dict[str, Any]:
    """Give `hospital_id` `coefficient` from `effective_from` on; `reason` is required."""
    coef = coefficient_value(coefficient)
    if not reason or not reason.strip():
        raise WeightTableError(f"a reason is required to change the coefficient of "
                               f"{hospital_id}")
    who = who or current_user()
    with transaction(con):
        return _set_coefficient(con, hospital_id, coef, effective_from, reason, who)


def _set_coefficient(con: duckdb.DuckDBPyConnection, hospital_id: str, coef: Decimal,
                     start: date, reason: str, who: str) -> dict[str, Any]:
    if first_row(con, "SELECT 1 FROM hospital_master WHERE hospital_id = ?",
                   [hospital_id]) is None:
        raise WeightTableError(f"unknown hospital_id={hospital_id!r}; add it first "
                               f"(drgdip weights import-hospitals)")
    old = first_row(con, "SELECT coefficient, effective_to FROM hospital_coefficients "
                      "WHERE hospital_id = ? AND effective_from = ?",
                      [hospital_id, start])
    if old is not None:
        con.execute("UPDATE hospital_coefficients SET coefficient = ?, reason = ?, set_at = ?, "
                    "set_by = ? WHERE hospital_id = ? AND effective_from = ?",
                    [coef, reason, datetime.now(), who, hospital_id, start])
        end = old[1]
    else:
        nxt = first_row(con, "SELECT min(effective_from) FROM hospital_coefficients "
                          "WHERE hospital_id = ? AND effective_from > ?",
                          [hospital_id, start])
        end = nxt[0] if nxt else None
        con.execute("UPDATE hospital_coefficients SET effective_to = ? WHERE hospital_id = ? "
                    "AND effective_from < ? AND (effective_to IS NULL OR effective_to > ?)",
                    [start, hospital_id, start, start])
        con.execute("INSERT INTO hospital_coefficients VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [hospital_id, coef, start, end, reason, datetime.now(), who])
    record(con, who=who, action="set_coefficient", entity="hospital_coefficients",
           entity_key=hospital_id, why=reason,
           detail={"coefficient": str(coef), "effective_from": start.isoformat(),
                   "effective_to": end.isoformat() if end else None,
                   "previous": str(old[0]) if old else None})
    return {"hospital_id": hospital_id, "coefficient": coef, "effective_from": start,
            "effective_to": end, "reason": reason}


def set_coefficients(con: duckdb.DuckDBPyConnection, rows: pl.DataFrame, *,
                     who: str = "") -> int:
    """Several coefficient changes (hospital_id, coefficient, effective_from, reason) in one
    transaction: all or none."""
    checked = [(r["hospital_id"], coefficient_value(r["coefficient"]), r["effective_from"],
                r["reason"]) for r in rows.iter_rows(named=True)]
    for hid, _, start, reason in checked:
        if start is None or not reason:
            raise WeightTableError(f"{hid}: a coefficient needs effective_from and a reason")
    who = who or current_user()
    with transaction(con):
        for hid, coef, start, reason in checked:
            _set_coefficient(con, hid, coef, start, reason, who)
    return len(checked)


def coefficients_on(con: duckdb.DuckDBPyConnection, on: date) -> pl.DataFrame:
    """Every hospital with the coefficient in force on `on` (null when none is set)."""
    return query(con, 
        "SELECT m.hospital_id, m.name, m.level, m.type, m.region, c.coefficient, "
        "c.effective_from, c.effective_to, c.reason FROM hospital_master m "
        "LEFT JOIN hospital_coefficients c ON c.hospital_id = m.hospital_id "
        "AND c.effective_from <= ? AND (c.effective_to IS NULL OR c.effective_to > ?) "
        "ORDER BY m.hospital_id", [on, on])


def coefficient_history(con: duckdb.DuckDBPyConnection, hospital_id: str) -> pl.DataFrame:
    return query(con, "SELECT * FROM hospital_coefficients WHERE hospital_id = ? "
                       "ORDER BY effective_from", [hospital_id])
