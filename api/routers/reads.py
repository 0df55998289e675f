"""Reads of the store: weight versions and rows, hospital results, indicators, flags.

Tables are the store's (contracts §5); a table that does not exist yet reads as empty. A hospital
key reads only rows of its own hospital and only published weight versions.

Every answer is computed from one replica of the store (`Store.view`) and kept, as its JSON, in
that replica's cache under what determines it (the route, the filters after the key's scope,
the page): the next identical read is answered on the event loop from memory until the replica
is replaced (api.store_access). Access checks run before the cache is consulted.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path, Query, Response
from pydantic_core import to_jsonable_python
from starlette.concurrency import run_in_threadpool

from api.auth import Principal, Role
from api.deps import AnyKey, State
from api.errors import forbidden, not_found
from api.models import ERROR_RESPONSES, ErrorOut, RowsOut
from api.routers.grouping import JsonBytes
from api.store_access import Store, View
from engine.supervision.flags import KIND_NAMES

router = APIRouter(prefix="/v1", tags=["reads"], responses=ERROR_RESPONSES)

Limit = Annotated[int, Query(ge=1, le=10000)]
Offset = Annotated[int, Query(ge=0, le=10**9)]
HospitalId = Annotated[str, Path(min_length=1, max_length=64)]
# hospital results by kind: URL word -> store table
HOSPITAL_TABLES = {"period-results": "hospital_period_results",
                   "clearing-results": "clearing_results", "case-results": "case_results"}
PUBLISHED = "published"
Reader = Store | View  # a View pins one replica for the whole answer
_JSON = orjson.OPT_PASSTHROUGH_DATETIME  # datetimes as pydantic writes them (…Z for UTC)


def encode(out: RowsOut) -> bytes:
    """The JSON FastAPI would send for `out` as the response model (Decimal as a string,
    dates ISO 8601), written by orjson; a value orjson cannot take (an integer beyond 64 bits)
    goes the response model's way."""
    try:
        return orjson.dumps({"table": out.table, "total": out.total, "limit": out.limit,
                             "offset": out.offset, "rows": out.rows},
                            default=to_jsonable_python, option=_JSON)
    except (orjson.JSONEncodeError, TypeError):
        return json.dumps(out.model_dump(mode="json"), ensure_ascii=False, allow_nan=False,
                          separators=(",", ":")).encode()


async def answer(state: Any, key: Hashable, compute: Callable[[View], RowsOut]) -> Response:
    """The kept answer for `key`, else `compute` it on a pinned replica in the thread pool
    (queries never run on the event loop) and keep it."""
    body = state.store.cached(key)
    if body is None:
        body = await run_in_threadpool(state.store.answer, key, lambda v: encode(compute(v)))
    return JsonBytes(body)


def columns(store: Reader, table: str) -> list[str]:
    return store.columns(table)


def table_rows(store: Reader, table: str, where: dict[str, Any], limit: int, offset: int,
               order: tuple[str, ...] = ()) -> RowsOut:
    """Rows of `table` matching `where` (names checked against the table's columns)."""
    cols = columns(store, table)
    if not cols:
        return RowsOut(table=table, total=0, limit=limit, offset=offset, rows=[])
    wanted = {c: v for c, v in where.items() if v is not None}  # None: no filter
    conds = {c: v for c, v in wanted.items() if c in cols}
    if len(conds) < len(wanted):
        # a filter the table cannot apply (e.g. no hospital_id column): nothing is shown
        return RowsOut(table=table, total=0, limit=limit, offset=offset, rows=[])
    sql_where = " AND ".join(f'"{c}" = ?' for c in conds) or "TRUE"
    params = list(conds.values())
    order_by = ", ".join(f'"{c}"' for c in order if c in cols) or "1"
    count_sql = f'SELECT count(*) AS n FROM "{table}" WHERE {sql_where}'
    if isinstance(store, View):  # one count per replica for every page of the same rows
        total = store.remember(("count", count_sql, tuple(params)),
                               lambda: store.query(count_sql, params)[0]["n"])
    else:
        total = store.query(count_sql, params)[0]["n"]
    rows = store.query(f'SELECT * FROM "{table}" WHERE {sql_where} ORDER BY {order_by} '
                       f"LIMIT ? OFFSET ?", [*params, limit, offset])
    return RowsOut(table=table, total=total, limit=limit, offset=offset, rows=rows)


def scoped_hospital(p: Principal, hospital_id: str | None) -> str | None:
    """The hospital filter a key may use: a hospital key reads its own hospital (403 for
    another); other roles read what they ask for (None: every hospital)."""
    if p.role != Role.HOSPITAL:
        return hospital_id
    if hospital_id not in (None, p.hospital_id):
        raise forbidden("不能读取其他医院的数据 / a hospital key reads only its own hospital",
                        "query.hospital_id")
    return p.hospital_id


def status_filter(store: Reader, p: Principal) -> dict[str, Any]:
    """Hospitals see published versions only (when the table records a status)."""
    if p.role == Role.HOSPITAL and "status" in columns(store, "weight_versions"):
        return {"status": PUBLISHED}
    return {}


@router.get("/weights/versions", response_model=RowsOut, summary="weight versions",
            description="权重/分值版本 / DRG weight and DIP score versions (weight_versions).")
async def weight_versions(state: State, p: AnyKey, limit: Limit = 100,
                          offset: Offset = 0) -> Response:
    def compute(v: View) -> RowsOut:
        return table_rows(v, "weight_versions", status_filter(v, p), limit, offset, ("version",))

    return await answer(state, ("versions", p.role == Role.HOSPITAL, limit, offset), compute)


@router.get("/weights/versions/{version}/rows", response_model=RowsOut,
            summary="rows of a weight version",
            description="DRG 权重 (drg_weights) 或 DIP 目录 (dip_catalog) / the rows of one version.",
            responses={404: {"model": ErrorOut, "description": "no such version (for this key)"}})
async def weight_rows(state: State, p: AnyKey,
                      version: Annotated[str, Path(min_length=1, max_length=64)],
                      limit: Limit = 1000, offset: Offset = 0) -> Response:
    def compute(v: View) -> RowsOut:
        visible = table_rows(v, "weight_versions", {"version": version, **status_filter(v, p)},
                             1, 0)
        known = columns(v, "weight_versions")
        if known and visible.total == 0:
            raise not_found("权重版本 / weight version", "path.version")
        for table, order in (("drg_weights", ("drg",)), ("dip_catalog", ("dip_code",))):
            found = table_rows(v, table, {"version": version}, limit, offset, order)
            if found.total:
                return found
        raise not_found("权重版本 / weight version", "path.version")

    return await answer(state, ("weight-rows", version, p.role == Role.HOSPITAL, limit, offset),
                        compute)


@router.get("/hospitals/{hospital_id}/{kind}", response_model=RowsOut,
            summary="a hospital's period, clearing or case results",
            description="kind: period-results (hospital_period_results), clearing-results "
                        "(clearing_results), case-results (case_results). 医院密钥只能读取本院 "
                        "/ a hospital key reads only its own hospital.",
            responses={403: {"model": ErrorOut, "description": "another hospital"},
                       404: {"model": ErrorOut, "description": "unknown kind"}})
async def hospital_results(state: State, p: AnyKey, hospital_id: HospitalId,
                           kind: Annotated[str, Path(pattern="^(period|clearing|case)-results$")],
                           run_id: Annotated[str | None, Query(max_length=64)] = None,
                           limit: Limit = 1000, offset: Offset = 0) -> Response:
    if not p.may_see_hospital(hospital_id):
        raise forbidden("不能读取其他医院的数据 / a hospital key reads only its own hospital",
                        "path.hospital_id")
    table = HOSPITAL_TABLES[kind]
    where: dict[str, Any] = {"hospital_id": hospital_id}
    if run_id is not None:
        where["run_id"] = run_id
    return await answer(state, ("hospital", table, hospital_id, run_id, limit, offset),
                        lambda v: table_rows(v, table, where, limit, offset,
                                             ("year", "period", "run_id", "case_id")))


@router.get("/indicators", response_model=RowsOut, summary="supervision indicators",
            description="监管指标（CMI、费用/时间消耗指数、低风险组死亡率、高低倍率、MCC/CC 占比等），"
                        "默认最新一次监管结果；医院密钥只看本院 / indicators of the newest "
                        "supervision run unless run_id is given; hospital keys see their own rows.")
async def indicators(state: State, p: AnyKey,
                     hospital_id: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
                     run_id: Annotated[str | None, Query(min_length=1, max_length=128)] = None,
                     limit: Limit = 1000, offset: Offset = 0) -> Response:
    hospital_id = scoped_hospital(p, hospital_id)

    def compute(v: View) -> RowsOut:
        if "indicators" not in v.tables():
            return RowsOut(table="indicators", total=0, limit=limit, offset=offset, rows=[])
        run = run_id or newest_supervision_run(v)
        return table_rows(v, "indicators", {"run_id": run, "hospital_id": hospital_id},
                          limit, offset, ("scope", "period", "hospital_id", "dept"))

    return await answer(state, ("indicators", hospital_id, run_id, limit, offset), compute)


FLAG_FILTERS = ("run_id", "kind", "level", "period", "hospital_id")
WITHHELD = "证据含其他医院的病例，已隐去 / evidence from another hospital withheld"


def newest_supervision_run(store: Reader) -> str | None:
    rows = store.query("SELECT run_id FROM indicators GROUP BY run_id "
                       "ORDER BY max(computed_at) DESC, run_id DESC LIMIT 1")
    return rows[0]["run_id"] if rows else None


def own_cases(store: Reader, hospital_id: str, case_ids: set[str]) -> set[str]:
    """The ids among `case_ids` that are settled cases of `hospital_id`."""
    if not case_ids or "case_results" not in store.tables():
        return set()
    rows = store.query("SELECT DISTINCT case_id FROM case_results WHERE hospital_id = ? AND "
                       "case_id IN (SELECT unnest(?::VARCHAR[]))", [hospital_id, sorted(case_ids)])
    return {r["case_id"] for r in rows}


def withhold_foreign_evidence(store: Reader, hospital_id: str, rows: list[dict[str, Any]]
                              ) -> list[dict[str, Any]]:
    """A hospital key sees evidence of its own cases only: other hospitals' case ids are
    dropped, and a flag that had some loses its detail and gets a neutral message."""
    mine = own_cases(store, hospital_id,
                     {c for r in rows for c in (r["evidence_case_ids"] or [])})
    out = []
    for r in rows:
        evidence = list(r["evidence_case_ids"] or [])
        kept = [c for c in evidence if c in mine or c == r["case_id"]]
        if len(kept) < len(evidence):
            kind = KIND_NAMES.get(r["kind"], r["kind"])
            r = {**r, "evidence_case_ids": kept, "detail": None,
                 "message": f"{kind}：{WITHHELD}"}
        out.append(r)
    return out


@router.get("/flags", response_model=RowsOut, summary="supervision flags with evidence",
            description="监管疑点（分解住院、低标入院、高套等），按分值从高到低；默认最新一次监管结果。"
                        "医院密钥只看本院，且证据中其他医院的病例号被隐去 / supervision flags, "
                        "strongest first, of the newest supervision run unless run_id is given; "
                        "a hospital key sees its own flags, with other hospitals' evidence "
                        "withheld.",
            responses={403: {"model": ErrorOut, "description": "another hospital"}})
async def flags(state: State, p: AnyKey,
                run_id: Annotated[str | None, Query(min_length=1, max_length=128)] = None,
                kind: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
                level: Annotated[str | None, Query(pattern="^(case|hospital)$")] = None,
                period: Annotated[str | None, Query(min_length=4, max_length=16)] = None,
                hospital_id: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
                limit: Limit = 1000, offset: Offset = 0) -> Response:
    hospital_id = scoped_hospital(p, hospital_id)

    def compute(store: View) -> RowsOut:
        if "supervision_flags" not in store.tables():
            return RowsOut(table="supervision_flags", total=0, limit=limit, offset=offset,
                           rows=[])
        run = run_id or newest_supervision_run(store)
        values = dict(zip(FLAG_FILTERS, (run, kind, level, period, hospital_id), strict=True))
        conds = {c: v for c, v in values.items() if v is not None}
        where = " AND ".join(f"{c} = ?" for c in conds) or "TRUE"
        params = list(conds.values())
        total = store.query(f"SELECT count(*) AS n FROM supervision_flags WHERE {where}",
                            params)[0]["n"]
        rows = store.query(f"SELECT * FROM supervision_flags WHERE {where} "
                           f"ORDER BY score DESC, kind, flag_id LIMIT ? OFFSET ?",
                           [*params, limit, offset])
        if p.role == Role.HOSPITAL:
            rows = withhold_foreign_evidence(store, p.hospital_id or "", rows)
        return RowsOut(table="supervision_flags", total=total, limit=limit, offset=offset,
                       rows=rows)

    # a hospital key's answer withholds other hospitals' evidence: kept per hospital
    own = p.hospital_id if p.role == Role.HOSPITAL else None
    return await answer(state, ("flags", own, run_id, kind, level, period, hospital_id, limit,
                                offset), compute)
