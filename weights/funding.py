"""Base rates (费率), point values (点值) and fund budgets (总额预算) per
(region, fund_pool employee|resident, year, period).

`period` is `year` for an annual figure or `YYYY-MM` for a month (payment-rules §1: period =
month of settlement). Lookups of a month fall back to the annual figure, and a level-specific
rate (§2.3 differential rates) to the all-levels one (`level = ''`). Values are Decimal:
rates and point values 4 dp, budgets 2 dp (fen).
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import duckdb
import polars as pl

from weights.audit import current_user, record
from weights.errors import WeightTableError
from weights.store import first_row, query, transaction

FUND_POOLS = ("employee", "resident")
SCHEMES = ("drg", "dip")
RATE_KINDS = ("base_rate", "point_value", "pv_budget", "pv_settle")
ANNUAL = "year"


def _check_key(fund_pool: str, year: int, period: str, scheme: str) -> None:
    if fund_pool not in FUND_POOLS:
        raise WeightTableError(f"fund_pool={fund_pool!r}; accepted: {', '.join(FUND_POOLS)}")
    if scheme not in SCHEMES:
        raise WeightTableError(f"scheme={scheme!r}; accepted: {', '.join(SCHEMES)}")
    if period != ANNUAL and not re.fullmatch(rf"{int(year):04d}-(0[1-9]|1[0-2])", period):
        raise WeightTableError(f"period={period!r}; accepted: {ANNUAL!r} or "
                               f"'{int(year):04d}-MM' (a month of {year})")


def _decimal(value: object, places: int, what: str, *, positive: bool) -> Decimal:
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError) as exc:
        raise WeightTableError(f"{what}={value!r} is not a number") from exc
    if not number.is_finite() or number < 0 or (positive and number == 0):
        raise WeightTableError(f"{what}={value!r}; must be {'> 0' if positive else '>= 0'}")
    quantum = Decimal(1).scaleb(-places)
    if number != number.quantize(quantum):
        raise WeightTableError(f"{what}={value!r}; at most {places} decimal places")
    return number


def set_rate(con: duckdb.DuckDBPyConnection, *, region: str, fund_pool: str, year: int,
             period: str, scheme: str, kind: str, value: object, level: str = "",
             source: str = "", who: str = "", why: str = "") -> Decimal:
    """Store a base rate or point value (replacing the same key); returns it as Decimal."""
    _check_key(fund_pool, year, period, scheme)
    if kind not in RATE_KINDS:
        raise WeightTableError(f"kind={kind!r}; accepted: {', '.join(RATE_KINDS)}")
    amount = _decimal(value, 4, kind, positive=True)
    who = who or current_user()
    key = [region, fund_pool, int(year), period, scheme, kind, level]
    with transaction(con):
        old = first_row(con, "SELECT value FROM rates WHERE region = ? AND fund_pool = ? AND "
                          "year = ? AND period = ? AND scheme = ? AND kind = ? AND level = ?",
                          key)
        con.execute("DELETE FROM rates WHERE region = ? AND fund_pool = ? AND year = ? AND "
                    "period = ? AND scheme = ? AND kind = ? AND level = ?", key)
        con.execute("INSERT INTO rates VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [*key, amount, source, datetime.now(), who])
        record(con, who=who, action="set_rate", entity="rates",
               entity_key="/".join(str(k) for k in key), why=why,
               detail={"value": str(amount), "previous": str(old[0]) if old else None})
    return amount


def get_rate(con: duckdb.DuckDBPyConnection, *, region: str, fund_pool: str, year: int,
             period: str, scheme: str, kind: str, level: str = "") -> Decimal:
    """The rate for the key; a month falls back to the annual value, a level to ''."""
    _check_key(fund_pool, year, period, scheme)
    row = first_row(con, 
        "SELECT value FROM rates WHERE region = ? AND fund_pool = ? AND year = ? AND "
        "scheme = ? AND kind = ? AND period IN (?, ?) AND level IN (?, '') "
        "ORDER BY (period = ?) DESC, (level = ?) DESC LIMIT 1",
        [region, fund_pool, int(year), scheme, kind, period, ANNUAL, level, period,
         level])
    if row is None:
        raise WeightTableError(f"no {kind} for region={region}, fund_pool={fund_pool}, "
                               f"year={year}, period={period}, scheme={scheme}"
                               + (f", level={level}" if level else ""))
    return Decimal(row[0])


def rates(con: duckdb.DuckDBPyConnection, *, region: str | None = None,
          year: int | None = None) -> pl.DataFrame:
    return _select(con, "rates", region, year)


def set_budget(con: duckdb.DuckDBPyConnection, *, region: str, fund_pool: str, year: int,
               period: str, scheme: str, amount: object,
               risk_reserve_rate: object | None = None, note: str = "", who: str = "",
               why: str = "") -> Decimal:
    """Store a fund budget (yuan, to the fen), replacing the same key."""
    _check_key(fund_pool, year, period, scheme)
    money = _decimal(amount, 2, "amount", positive=False)
    reserve = (None if risk_reserve_rate is None
               else _decimal(risk_reserve_rate, 4, "risk_reserve_rate", positive=False))
    if reserve is not None and reserve >= 1:
        raise WeightTableError(f"risk_reserve_rate={risk_reserve_rate!r}; must be < 1")
    who = who or current_user()
    key = [region, fund_pool, int(year), period, scheme]
    with transaction(con):
        old = first_row(con, "SELECT amount FROM fund_budgets WHERE region = ? AND fund_pool = ? "
                          "AND year = ? AND period = ? AND scheme = ?", key)
        con.execute("DELETE FROM fund_budgets WHERE region = ? AND fund_pool = ? AND year = ? "
                    "AND period = ? AND scheme = ?", key)
        con.execute("INSERT INTO fund_budgets VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [*key, money, reserve, note, datetime.now(), who])
        record(con, who=who, action="set_budget", entity="fund_budgets",
               entity_key="/".join(str(k) for k in key), why=why,
               detail={"amount": str(money), "risk_reserve_rate": str(reserve),
                       "previous": str(old[0]) if old else None})
    return money


def get_budget(con: duckdb.DuckDBPyConnection, *, region: str, fund_pool: str, year: int,
               period: str = ANNUAL, scheme: str) -> dict[str, Any]:
    """{amount: Decimal, risk_reserve_rate: Decimal | None, note} for the exact key."""
    _check_key(fund_pool, year, period, scheme)
    row = first_row(con, "SELECT amount, risk_reserve_rate, note FROM fund_budgets WHERE "
                      "region = ? AND fund_pool = ? AND year = ? AND period = ? AND scheme = ?",
                      [region, fund_pool, int(year), period, scheme])
    if row is None:
        raise WeightTableError(f"no fund budget for region={region}, fund_pool={fund_pool}, "
                               f"year={year}, period={period}, scheme={scheme}")
    return {"amount": Decimal(row[0]),
            "risk_reserve_rate": None if row[1] is None else Decimal(row[1]), "note": row[2]}


def budgets(con: duckdb.DuckDBPyConnection, *, region: str | None = None,
            year: int | None = None) -> pl.DataFrame:
    return _select(con, "fund_budgets", region, year)


def _select(con: duckdb.DuckDBPyConnection, table: str, region: str | None,
            year: int | None) -> pl.DataFrame:
    where, args = [], []
    if region is not None:
        where.append("region = ?")
        args.append(region)
    if year is not None:
        where.append("year = ?")
        args.append(int(year))
    sql = f"SELECT * FROM {table}" + (" WHERE " + " AND ".join(where) if where else "")
    return query(con, sql + " ORDER BY region, fund_pool, year, period", args)
