"""Reads of the store: weight versions and rows, hospital results, indicators.

Tables are the store's (contracts §5); a table that does not exist yet reads as empty. A hospital
key reads only rows of its own hospital and only published weight versions.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from api.auth import Principal, Role
from api.deps import AnyKey, State
from api.errors import forbidden, not_found
from api.models import ERROR_RESPONSES, ErrorOut, RowsOut
from api.store_access import Store

router = APIRouter(prefix="/v1", tags=["reads"], responses=ERROR_RESPONSES)

Limit = Annotated[int, Query(ge=1, le=10000)]
Offset = Annotated[int, Query(ge=0, le=10**9)]
HospitalId = Annotated[str, Path(min_length=1, max_length=64)]
# hospital results by kind: URL word -> store table
HOSPITAL_TABLES = {"period-results": "hospital_period_results",
                   "clearing-results": "clearing_results", "case-results": "case_results"}
INDICATOR_TABLES = ("indicators", "supervision_indicators", "indicator_results")
PUBLISHED = "published"


def columns(store: Store, table: str) -> list[str]:
    rows = store.query("SELECT column_name FROM information_schema.columns "
                       "WHERE table_schema = 'main' AND table_name = ? ORDER BY ordinal_position",
                       [table])
    return [r["column_name"] for r in rows]


def table_rows(store: Store, table: str, where: dict[str, Any], limit: int, offset: int,
               order: tuple[str, ...] = ()) -> RowsOut:
    """Rows of `table` matching `where` (names checked against the table's columns)."""
    cols = columns(store, table)
    if not cols:
        return RowsOut(table=table, total=0, limit=limit, offset=offset, rows=[])
    conds = {c: v for c, v in where.items() if c in cols}
    if len(conds) < len([c for c, v in where.items() if v is not None]):
        # a filter the table cannot apply (e.g. no hospital_id column): nothing is shown
        return RowsOut(table=table, total=0, limit=limit, offset=offset, rows=[])
    sql_where = " AND ".join(f'"{c}" = ?' for c in conds) or "TRUE"
    params = list(conds.values())
    order_by = ", ".join(f'"{c}"' for c in order if c in cols) or "1"
    total = store.query(f'SELECT count(*) AS n FROM "{table}" WHERE {sql_where}', params)[0]["n"]
    rows = store.query(f'SELECT * FROM "{table}" WHERE {sql_where} ORDER BY {order_by} '
                       f"LIMIT ? OFFSET ?", [*params, limit, offset])
    return RowsOut(table=table, total=total, limit=limit, offset=offset, rows=rows)


def status_filter(store: Store, p: Principal) -> dict[str, Any]:
    """Hospitals see published versions only (when the table records a status)."""
    if p.role == Role.HOSPITAL and "status" in columns(store, "weight_versions"):
        return {"status": PUBLISHED}
    return {}


@router.get("/weights/versions", response_model=RowsOut, summary="weight versions",
            description="权重/分值版本 / DRG weight and DIP score versions (weight_versions).")
def weight_versions(state: State, p: AnyKey, limit: Limit = 100, offset: Offset = 0) -> RowsOut:
    return table_rows(state.store, "weight_versions", status_filter(state.store, p), limit,
                      offset, ("version",))


@router.get("/weights/versions/{version}/rows", response_model=RowsOut,
            summary="rows of a weight version",
            description="DRG 权重 (drg_weights) 或 DIP 目录 (dip_catalog) / the rows of one version.",
            responses={404: {"model": ErrorOut, "description": "no such version (for this key)"}})
def weight_rows(state: State, p: AnyKey,
                version: Annotated[str, Path(min_length=1, max_length=64)],
                limit: Limit = 1000, offset: Offset = 0) -> RowsOut:
    visible = table_rows(state.store, "weight_versions",
                         {"version": version, **status_filter(state.store, p)}, 1, 0)
    known = columns(state.store, "weight_versions")
    if known and visible.total == 0:
        raise not_found("权重版本 / weight version", "path.version")
    for table, order in (("drg_weights", ("drg",)), ("dip_catalog", ("dip_code",))):
        found = table_rows(state.store, table, {"version": version}, limit, offset, order)
        if found.total:
            return found
    raise not_found("权重版本 / weight version", "path.version")


@router.get("/hospitals/{hospital_id}/{kind}", response_model=RowsOut,
            summary="a hospital's period, clearing or case results",
            description="kind: period-results (hospital_period_results), clearing-results "
                        "(clearing_results), case-results (case_results). 医院密钥只能读取本院 "
                        "/ a hospital key reads only its own hospital.",
            responses={403: {"model": ErrorOut, "description": "another hospital"},
                       404: {"model": ErrorOut, "description": "unknown kind"}})
def hospital_results(state: State, p: AnyKey, hospital_id: HospitalId,
                     kind: Annotated[str, Path(pattern="^(period|clearing|case)-results$")],
                     run_id: Annotated[str | None, Query(max_length=64)] = None,
                     limit: Limit = 1000, offset: Offset = 0) -> RowsOut:
    if not p.may_see_hospital(hospital_id):
        raise forbidden("不能读取其他医院的数据 / a hospital key reads only its own hospital",
                        "path.hospital_id")
    table = HOSPITAL_TABLES[kind]
    where: dict[str, Any] = {"hospital_id": hospital_id}
    if run_id is not None:
        where["run_id"] = run_id
    return table_rows(state.store, table, where, limit, offset,
                      ("year", "period", "run_id", "case_id"))


@router.get("/indicators", response_model=RowsOut, summary="supervision indicators",
            description="监管指标；医院密钥只看本院 / indicators; hospital keys see their own rows.")
def indicators(state: State, p: AnyKey,
               hospital_id: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
               limit: Limit = 1000, offset: Offset = 0) -> RowsOut:
    if p.role == Role.HOSPITAL:
        if hospital_id not in (None, p.hospital_id):
            raise forbidden("不能读取其他医院的数据 / a hospital key reads only its own "
                            "hospital", "query.hospital_id")
        hospital_id = p.hospital_id
    tables = state.store.tables()
    for table in INDICATOR_TABLES:
        if table in tables:
            return table_rows(state.store, table, {"hospital_id": hospital_id}, limit, offset,
                              ("hospital_id",))
    return RowsOut(table=INDICATOR_TABLES[0], total=0, limit=limit, offset=offset, rows=[])
