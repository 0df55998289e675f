"""Batch jobs: upload a case file, follow the job, fetch the results (streamed)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import FileResponse, StreamingResponse

from api.auth import Principal, Role
from api.deps import AnyKey, State
from api.errors import ApiError, not_found
from api.jobs import BATCH_KINDS, csv_chunks, user_words
from api.models import ERROR_RESPONSES, ErrorOut, JobListOut, JobOut
from api.uploads import start_job, upload_name

router = APIRouter(prefix="/v1/batches", tags=["batches"], responses=ERROR_RESPONSES)


def job_out(job: dict) -> JobOut:
    url = f"/v1/batches/{job['job_id']}/results" if job["state"] == "done" else None
    out = JobOut(**{k: job[k] for k in JobOut.model_fields if k in job}, results_url=url)
    if out.error:  # also a job recorded before errors were scrubbed: no server path
        out.error = user_words(out.error, job)
    return out


def visible_job(state: State, principal: Principal, job_id: str) -> dict:
    """The job, or 404 — also for another hospital's job (its existence is not disclosed)."""
    job = state.runner.get(job_id) if state.runner else None
    if (job is None or job["kind"] not in BATCH_KINDS  # simulations: /v1/simulations
            or not principal.may_see_hospital(job["hospital_id"])):
        raise not_found("批处理任务 / batch job", "path.job_id")
    return job


@router.post("", status_code=202, response_model=JobOut, summary="upload a batch of cases",
             description="上传病例文件（Parquet/CSV/JSONL/Excel），返回任务编号 / upload a case "
                         "file (contracts §1); the job runs in the background.",
             responses={415: {"model": ErrorOut, "description": "unsupported file type"}})
async def create_batch(
    request: Request, state: State, principal: AnyKey,
    file: Annotated[UploadFile, File(description="cases: .parquet, .csv, .jsonl or .xlsx")],
    kind: Annotated[Literal["drg", "dip"], Form()] = "drg",
    ruleset: Annotated[str | None, Form(max_length=64)] = None,
    catalog: Annotated[str | None, Form(max_length=64)] = None,
    translate_codes: Annotated[bool, Form()] = False,
) -> JobOut:
    name, suffix = upload_name(file)
    if kind == "dip":
        params = {"catalog": state.catalog(catalog, "body.catalog")[0]}
    else:
        auto = (ruleset or state.settings.default_ruleset) == "auto"
        params = {"ruleset": "auto" if auto else state.ruleset(ruleset, "body.ruleset").name,
                  "translate_codes": "true" if translate_codes else "false"}
    job_id = await start_job(state, principal, request, file, name, suffix, kind, params,
                             "jobs", {"kind": kind, **params})
    assert state.runner is not None
    job = state.runner.get(job_id)
    assert job is not None
    return job_out(job)


@router.get("", response_model=JobListOut, summary="list batch jobs",
            description="本机构（医院密钥）或全部任务 / the key's hospital's jobs, or all jobs "
                        "for analyst and admin keys.")
def list_batches(state: State, principal: AnyKey,
                 limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                 offset: Annotated[int, Query(ge=0, le=10**9)] = 0) -> JobListOut:
    assert state.runner is not None
    hospital = principal.hospital_id if principal.role == Role.HOSPITAL else None
    return JobListOut(jobs=[job_out(j) for j in state.runner.list(hospital, limit=limit,
                                                                   offset=offset)])


@router.get("/{job_id}", response_model=JobOut, summary="state of a batch job",
            responses={404: {"model": ErrorOut, "description": "no such job (for this key)"}})
def get_batch(job_id: str, state: State, principal: AnyKey) -> JobOut:
    return job_out(visible_job(state, principal, job_id))


@router.get("/{job_id}/results", summary="results of a batch job (streamed)",
            description="Parquet（默认）或 CSV / contracts §2 rows as Parquet (default) or CSV.",
            responses={200: {"content": {"application/vnd.apache.parquet": {},
                                         "text/csv": {}},
                             "description": "one row per input case"},
                       404: {"model": ErrorOut, "description": "no such job (for this key)"},
                       409: {"model": ErrorOut, "description": "job not finished"}})
def batch_results(job_id: str, state: State, principal: AnyKey,
                  format: Annotated[Literal["parquet", "csv"], Query()] = "parquet"):
    job = visible_job(state, principal, job_id)
    if job["state"] != "done" or not job["result_path"]:
        raise ApiError(409, "JOB_NOT_DONE", f"任务尚未完成 / job is {job['state']}, not done",
                       "path.job_id")
    path = Path(job["result_path"])
    if format == "csv":
        return StreamingResponse(csv_chunks(path), media_type="text/csv", headers={
            "Content-Disposition": f'attachment; filename="{job_id}.csv"'})
    return FileResponse(path, media_type="application/vnd.apache.parquet",
                        filename=f"{job_id}.parquet")
