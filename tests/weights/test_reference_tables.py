"""Hospitals with dated coefficients, rates / point values, budgets, audit log; schema."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import polars as pl
import pytest

from weights import (
    StoreError,
    WeightTableError,
    audit_log,
    coefficient_history,
    coefficients_on,
    get_budget,
    get_rate,
    open_store,
    set_budget,
    set_coefficient,
    set_rate,
    upsert_hospitals,
)
from weights.schema import MIGRATIONS


@pytest.fixture
def con(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    c = open_store(tmp_path / "store.duckdb")
    upsert_hospitals(c, pl.DataFrame({"hospital_id": ["H1", "H2"], "name": ["人民医院", "中医院"],
                                      "level": ["3", "2"], "type": ["general", "tcm"]}),
                     who="tester", why="registry")
    return c


def test_coefficient_intervals(con: duckdb.DuckDBPyConnection) -> None:
    set_coefficient(con, "H2", "0.85", date(2024, 1, 1), "年度核定", who="tester")
    set_coefficient(con, "H2", "0.88", date(2024, 7, 1), "中医院系数上调", who="tester")
    set_coefficient(con, "H2", "0.86", date(2024, 4, 1), "季度调整", who="tester")  # in between
    hist = coefficient_history(con, "H2")
    assert hist.select("coefficient", "effective_from", "effective_to").rows() == [
        (Decimal("0.8500"), date(2024, 1, 1), date(2024, 4, 1)),
        (Decimal("0.8600"), date(2024, 4, 1), date(2024, 7, 1)),
        (Decimal("0.8800"), date(2024, 7, 1), None)]
    on = {d: dict(coefficients_on(con, d).select("hospital_id", "coefficient").iter_rows())
          for d in (date(2023, 12, 31), date(2024, 3, 31), date(2024, 4, 1), date(2025, 1, 1))}
    assert on[date(2023, 12, 31)]["H2"] is None
    assert on[date(2024, 3, 31)]["H2"] == Decimal("0.85")
    assert on[date(2024, 4, 1)]["H2"] == Decimal("0.86")
    assert on[date(2025, 1, 1)]["H2"] == Decimal("0.88")
    log = audit_log(con, entity="hospital_coefficients", entity_key="H2")
    assert log["why"].to_list() == ["季度调整", "中医院系数上调", "年度核定"]
    assert set(log["who"]) == {"tester"}


@pytest.mark.parametrize(("hospital", "coef", "reason", "message"), [
    ("H1", "0", "x", "must be > 0"),
    ("H1", "abc", "x", "not a number"),
    ("H1", "0.88888", "x", "4 decimal places"),
    ("H1", "0.9", " ", "reason is required"),
    ("H9", "0.9", "x", "unknown hospital_id='H9'"),
])
def test_coefficient_refusals(con: duckdb.DuckDBPyConnection, hospital: str, coef: str,
                              reason: str, message: str) -> None:
    with pytest.raises(WeightTableError, match=message):
        set_coefficient(con, hospital, coef, date(2024, 1, 1), reason)


def test_rates_and_budgets(con: duckdb.DuckDBPyConnection) -> None:
    key = {"region": "foshan", "year": 2024, "scheme": "drg"}
    set_rate(con, **key, fund_pool="employee", period="year", kind="base_rate",
             value="15000.1234", why="annual")
    set_rate(con, **key, fund_pool="employee", period="2024-03", kind="base_rate",
             value="14800", level="3", why="March, tertiary")
    rate = {"fund_pool": "employee", "kind": "base_rate", **key}
    assert get_rate(con, **rate, period="2024-03", level="3") == Decimal(14800)
    assert get_rate(con, **rate, period="2024-03", level="2") == Decimal("15000.1234")
    assert get_rate(con, **rate, period="2024-05", level="3") == Decimal("15000.1234")
    with pytest.raises(WeightTableError, match="no base_rate"):
        get_rate(con, **{**rate, "fund_pool": "resident"}, period="year")
    set_budget(con, **key, fund_pool="resident", period="year", amount="60000000.01",
               risk_reserve_rate="0.05")
    b = get_budget(con, **key, fund_pool="resident")
    assert b["amount"] == Decimal("60000000.01") and b["risk_reserve_rate"] == Decimal("0.05")
    actions = audit_log(con)["action"].to_list()
    assert actions.count("set_rate") == 2 and actions.count("set_budget") == 1


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"fund_pool": "civil"}, "fund_pool='civil'"),
    ({"period": "2023-05"}, "period='2023-05'"),
    ({"period": "2024-13"}, "period='2024-13'"),
    ({"scheme": "ffs"}, "scheme='ffs'"),
    ({"amount": "1.001"}, "at most 2 decimal places"),
    ({"amount": "-5"}, "must be >= 0"),
])
def test_budget_refusals(con: duckdb.DuckDBPyConnection, kwargs: dict, message: str) -> None:
    args = {"region": "r", "fund_pool": "employee", "year": 2024, "period": "year",
            "scheme": "dip", "amount": "100", **kwargs}
    with pytest.raises(WeightTableError, match=message):
        set_budget(con, **args)


def test_schema_is_migrated_once_and_read_only_open(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    with pytest.raises(StoreError, match="store not found"):
        open_store(path, read_only=True)
    open_store(path).close()
    con = open_store(path)  # second read-write open: nothing re-applied
    applied = [r[0] for r in con.execute("SELECT number FROM schema_migrations "
                                         "ORDER BY number").fetchall()]
    assert applied == sorted(m.number for m in MIGRATIONS)
    tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables"
                                        ).fetchall()}
    assert {"weight_versions", "drg_weights", "dip_catalog", "hospitals", "rates",
            "fund_budgets", "audit_log"} <= tables
    con.close()
    ro = open_store(path, read_only=True)
    with pytest.raises(duckdb.Error):
        ro.execute("DELETE FROM audit_log")
