"""What-if simulations (测算) as jobs: upload the cases with a baseline and scenarios, follow the
job, read the comparison tables (sim_hospital, sim_group, …) page by page.

The job runs `drgdip simulate`'s own code (`engine.simulate`) in a worker process against a
read-only snapshot of the store; the service stores the result in the sim tables under the
job id. A hospital key simulates its own hospital's cases only (a file with other hospitals'
cases fails with one line), pays with published weight versions only, cannot solve the region's
budget-neutral value, and sees only its own simulations; analyst and admin keys see all.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi import Path as FPath
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from api.auth import Principal, Role
from api.deps import AnyKey, State
from api.errors import ApiError, forbidden, not_found
from api.jobs import SIMULATION
from api.models import ERROR_RESPONSES, ErrorOut, RowsOut
from api.routers.reads import Limit, Offset, table_rows
from api.uploads import start_job, upload_name
from grouper.errors import DrgDipError

router = APIRouter(prefix="/v1/simulations", tags=["simulations"], responses=ERROR_RESPONSES)
MAX_SCENARIOS = 10
MAX_SWEEP_POINTS = 25
# URL word -> (sim table, order, has hospital rows)
TABLES: dict[str, tuple[str, tuple[str, ...], bool]] = {
    "hospitals": ("sim_hospital", ("scenario", "hospital_id"), True),
    "groups": ("sim_group", ("scenario", "group_code"), False),
    "causes": ("sim_cause", ("scenario", "cause"), False),
    "sweep": ("sim_sweep", ("point",), False),
    "solutions": ("sim_solution", ("scenario", "fund_pool"), False),
    "cases": ("sim_case", ("scenario", "case_id"), True),
}


class SimulationOut(BaseModel):
    """A simulation job: state, what it compares, and when done its summary and tables."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "job_id": "j_5c1e9a0b2d3f4a6b", "sim_id": "j_5c1e9a0b2d3f4a6b", "state": "done",
        "params": {"baseline": "fuzhou_drg_2025", "scenarios": [],
                   "sets": ["outliers.k_low=0.35"], "ruleset": None, "sweeps": [],
                   "solve": False},
        "hospital_id": None, "filename": "cases_2025.parquet", "rows_total": 120000,
        "rows_done": 120000, "counts": {"cases": 120000, "scenarios": 1, "sweep_points": 0,
                                        "settlements": 2, "groupings": 1},
        "error": None, "attempts": 1, "created_at": "2026-12-01T08:00:00Z",
        "started_at": "2026-12-01T08:00:01Z", "finished_at": "2026-12-01T08:00:09Z",
        "summary": {"scenarios": {"s1": {"fund_payable": "81234567.89",
                                         "change": "-51234.10"}}, "groupings": 1},
        "results": {"hospitals": "/v1/simulations/j_5c1e9a0b2d3f4a6b/hospitals"}}]})

    job_id: str
    sim_id: str = Field(description="the simulation's id in the sim tables (= job_id)")
    state: Literal["accepted", "running", "done", "failed"]
    params: dict[str, Any]
    hospital_id: str | None
    filename: str
    rows_total: int | None
    rows_done: int
    counts: dict[str, int] | None
    error: str | None
    attempts: int = 0
    created_at: AwareDatetime
    started_at: AwareDatetime | None
    finished_at: AwareDatetime | None
    summary: dict[str, Any] | None = Field(
        None, description="per scenario: fund payable before/after, change, hospitals gaining "
                          "and losing > 5 %, outlier share; budget-neutral solutions (done only)")
    results: dict[str, str] | None = Field(None, description="table reads (done only)")


class SimulationListOut(BaseModel):
    simulations: list[SimulationOut]


def simulation_out(state: State, job: dict[str, Any], *, summary: bool = False
                   ) -> SimulationOut:
    done = job["state"] == "done"
    found = None
    if done and summary:
        rows = state.store.query("SELECT summary FROM sim_runs WHERE sim_id = ?",
                                 [job["job_id"]])
        found = json.loads(rows[0]["summary"]) if rows else None
    results = ({word: f"/v1/simulations/{job['job_id']}/{word}" for word in TABLES}
               if done else None)
    fields = {k: job[k] for k in SimulationOut.model_fields if k in job}
    return SimulationOut(**fields, sim_id=job["job_id"], summary=found, results=results)


def visible_simulation(state: State, principal: Principal, job_id: str) -> dict[str, Any]:
    """The simulation job, or 404 — also for another hospital's (its existence is not told)."""
    job = state.runner.get(job_id) if state.runner else None
    if (job is None or job["kind"] != SIMULATION
            or not principal.may_see_hospital(job["hospital_id"])):
        raise not_found("测算任务 / simulation", "path.sim_id")
    return job


def _published(state: State, version: str) -> bool:
    rows = state.store.query("SELECT status FROM weight_versions WHERE version = ?", [version])
    return bool(rows) and rows[0]["status"] == "published"


def check_request(state: State, principal: Principal, params: dict[str, Any]) -> None:
    """Everything the job would refuse, refused now: shipped policy names only (no server
    files), known rulesets, a bounded number of settlements, the hospital key's limits, and
    the scenarios validated as `drgdip simulate` validates them."""
    from engine.policy import PolicyError, shipped_policies
    from engine.simulate.scenario import plan

    shipped = set(shipped_policies())
    specs = [("body.baseline", params["baseline"])] + [
        ("body.scenario", s) for s in params["scenarios"]]
    hospital = principal.role == Role.HOSPITAL
    for field, spec in specs:
        name, _, version = spec.partition("@")
        if name not in shipped:
            raise ApiError(422, "UNKNOWN_POLICY",
                           f"未知的政策 / unknown policy {name!r}; shipped: "
                           f"{', '.join(sorted(shipped))}", field)
        if version and hospital and not _published(state, version):
            raise forbidden(f"医院密钥只能使用已发布的权重版本 / a hospital key pays with published "
                            f"weight versions only; {version!r} is not published", field)
    if params["ruleset"] and params["ruleset"] not in state.rulesets:
        raise ApiError(422, "UNKNOWN_RULESET",
                       f"未知的分组方案 / unknown ruleset {params['ruleset']!r}; available: "
                       f"{', '.join(sorted(state.rulesets))}", "body.ruleset")
    if hospital and params["solve"]:
        raise forbidden("预算平衡求解需要全地区病例 / budget-neutral solving is over the whole "
                        "region's cases: it needs an analyst or admin key", "body.solve")
    try:  # PolicyError / ScenarioError (DrgDipError); odd values may raise the others
        p = plan(params["baseline"], params["scenarios"], params["sets"], params["ruleset"],
                 params["sweeps"], params["solve"])
    except (PolicyError, DrgDipError, ValueError, TypeError, KeyError) as exc:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ApiError(422, "BAD_SCENARIO", f"情景无效 / invalid scenario: {text}",
                       "body.set") from exc
    if len(p.scenarios) > MAX_SCENARIOS or len(p.sweep) > MAX_SWEEP_POINTS:
        raise ApiError(422, "TOO_MANY_SETTLEMENTS",
                       f"情景过多 / at most {MAX_SCENARIOS} scenarios and {MAX_SWEEP_POINTS} "
                       f"sweep points per simulation (got {len(p.scenarios)} and "
                       f"{len(p.sweep)})", "body.sweep")


@router.post("", status_code=202, response_model=SimulationOut,
             summary="start a what-if simulation (测算)",
             description="上传病例文件与基线、情景 / upload a case file with a baseline policy and "
                         "scenarios (the options of `drgdip simulate`); the job settles the "
                         "cases under each and stores the comparison in the sim tables. A "
                         "hospital key simulates only its own hospital's cases.",
             responses={415: {"model": ErrorOut, "description": "unsupported file type"}})
async def create_simulation(
    request: Request, state: State, principal: AnyKey,
    file: Annotated[UploadFile, File(description="cases: .parquet, .csv, .jsonl or .xlsx")],
    baseline: Annotated[str, Form(min_length=1, max_length=128,
                                  description="POLICY[@WEIGHTS] paid today")],
    scenario: Annotated[list[str], Form(description="POLICY[@WEIGHTS] to compare "
                                                    "(repeat the field)")] = [],  # noqa: B006
    sets: Annotated[list[str], Form(alias="set", description="section.key=value override of "
                                    "every scenario, e.g. outliers.k_high=2.5")] = [],  # noqa: B006
    ruleset: Annotated[str | None, Form(max_length=64)] = None,
    sweep: Annotated[list[str], Form(description="key=v1,v2,… (one or two)")] = [],  # noqa: B006
    solve: Annotated[bool, Form(description="budget-neutral base rate / point value "
                                            "(analyst and admin keys)")] = False,
    case_rows: Annotated[Literal["changed", "all", "none"], Form(
        description="which cases get a row in the cases table: those whose payment changes "
                    "(default), all, none")] = "changed",
) -> SimulationOut:
    name, suffix = upload_name(file)
    params: dict[str, Any] = {"baseline": baseline, "scenarios": list(scenario),
                              "sets": list(sets), "ruleset": ruleset or None,
                              "sweeps": list(sweep), "solve": bool(solve),
                              "case_rows": case_rows}
    check_request(state, principal, params)
    job_id = await start_job(state, principal, request, file, name, suffix, SIMULATION, params,
                             "simulations", params)
    assert state.runner is not None
    job = state.runner.get(job_id)
    assert job is not None
    return simulation_out(state, job)


@router.get("", response_model=SimulationListOut, summary="list simulations",
            description="本机构（医院密钥）或全部测算 / the key's hospital's simulations, or all "
                        "for analyst and admin keys.")
def list_simulations(state: State, principal: AnyKey,
                     limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                     offset: Annotated[int, Query(ge=0, le=10**9)] = 0) -> SimulationListOut:
    assert state.runner is not None
    hospital = principal.hospital_id if principal.role == Role.HOSPITAL else None
    jobs = state.runner.list(hospital, limit=limit, offset=offset, kinds=(SIMULATION,))
    return SimulationListOut(simulations=[simulation_out(state, j) for j in jobs])


@router.get("/{sim_id}", response_model=SimulationOut, summary="state and summary of a simulation",
            responses={404: {"model": ErrorOut, "description": "no such simulation (for this "
                                                               "key)"}})
def get_simulation(sim_id: str, state: State, principal: AnyKey) -> SimulationOut:
    return simulation_out(state, visible_simulation(state, principal, sim_id), summary=True)


@router.get("/{sim_id}/{table}", response_model=RowsOut, summary="rows of a simulation's table",
            description="table: hospitals (sim_hospital), groups (sim_group), causes "
                        "(sim_cause), sweep (sim_sweep), solutions (sim_solution), cases "
                        "(sim_case); optionally one scenario. 医院密钥只读本院 / a hospital key "
                        "reads its own hospital's rows only.",
            responses={404: {"model": ErrorOut, "description": "no such simulation (for this key)"},
                       409: {"model": ErrorOut, "description": "simulation not finished"}})
def simulation_rows(sim_id: str, state: State, principal: AnyKey,
                    table: Annotated[Literal["hospitals", "groups", "causes", "sweep",
                                             "solutions", "cases"], FPath()],
                    scenario: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
                    limit: Limit = 1000, offset: Offset = 0) -> RowsOut:
    job = visible_simulation(state, principal, sim_id)
    if job["state"] != "done":
        raise ApiError(409, "JOB_NOT_DONE", f"测算尚未完成 / simulation is {job['state']}, "
                       f"not done", "path.sim_id")
    name, order, per_hospital = TABLES[table]
    where: dict[str, Any] = {"sim_id": sim_id, "scenario": scenario}
    if per_hospital and principal.role == Role.HOSPITAL:
        where["hospital_id"] = principal.hospital_id
    return table_rows(state.store, name, where, limit, offset, order)
