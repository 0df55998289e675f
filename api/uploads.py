"""An uploaded case file becoming a job: the file type checked, the upload streamed into the
job's folder, the job created and audited (`POST /v1/batches`, `POST /v1/simulations`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request, UploadFile

from api import audit
from api.auth import Principal, Role
from api.errors import ApiError
from api.jobs import INPUT_SUFFIXES, new_job_id
from api.state import ServiceState

UPLOAD_CHUNK = 1 << 20


def upload_name(file: UploadFile) -> tuple[str, str]:
    """(file name as uploaded, its lower-case suffix); 415 for a type ingestion cannot read."""
    name = Path(file.filename or "").name
    suffix = Path(name).suffix.lower()
    if suffix not in INPUT_SUFFIXES:
        raise ApiError(415, "UNSUPPORTED_FILE",
                       f"不支持的文件类型 / unsupported file type {suffix or '(none)'!r}; use "
                       f"{', '.join(INPUT_SUFFIXES)}", "body.file")
    return name, suffix


async def start_job(state: ServiceState, principal: Principal, request: Request,
                    file: UploadFile, name: str, suffix: str, kind: str, params: dict[str, Any],
                    entity: str, detail: dict[str, Any]) -> str:
    """Stream the upload into a new job's folder, create the job, audit it; the job id."""
    assert state.runner is not None
    job_id = new_job_id()
    folder = state.runner.root / job_id
    folder.mkdir(parents=True)
    input_path = folder / f"input{suffix}"
    with input_path.open("wb") as out:
        while chunk := await file.read(UPLOAD_CHUNK):
            out.write(chunk)
    hospital = principal.hospital_id if principal.role == Role.HOSPITAL else None
    state.runner.create(kind=kind, params=params, key_id=principal.key_id,
                        hospital_id=hospital, filename=name, input_path=input_path,
                        job_id=job_id)
    audit.record(state.store, principal, request, "create", entity, job_id,
                 {**detail, "filename": name})
    return job_id
