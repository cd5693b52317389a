"""``/api/jobs``: one job, retrying a failed one, a segment job's overlay."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import FileResponse

from semlab.serve._routes_common import ServeState, state

router = APIRouter(prefix="/api/jobs")


@router.get("/{job_id}", summary="One job: status, error, result")
def get_job(job_id: int, st: ServeState = Depends(state)) -> dict[str, Any]:
    job = st.store.job(job_id)
    if job is None:
        raise HTTPException(404, f"no job {job_id}")
    return job


@router.post("/{job_id}/retry", summary="Queue a failed job again")
def retry_job(job_id: int, st: ServeState = Depends(state)) -> dict[str, Any]:
    job = st.store.job(job_id)
    if job is None:
        raise HTTPException(404, f"no job {job_id}")
    if not st.store.retry(job_id):
        raise HTTPException(409, f"job {job_id} is {job['status']}; only failed jobs can be retried")
    st.runner.submit([job_id])
    return st.store.job(job_id)


@router.get("/{job_id}/overlay.png", summary="Segmentation overlay (image | labels)")
def job_overlay(job_id: int, download: bool = False, st: ServeState = Depends(state)) -> FileResponse:
    job = st.store.job(job_id)
    if job is None or not job.get("artifact"):
        raise HTTPException(404, f"job {job_id} has no overlay (only finished segment jobs have one)")
    path = (st.workspace.path / job["artifact"]).resolve()
    if not path.is_relative_to(st.serve_dir.resolve()) or not path.is_file():
        raise HTTPException(404, f"overlay of job {job_id} is missing; retry the job")
    name = f"{Path(job['artifact']).stem[:16]}-overlay.png"
    return FileResponse(path, media_type="image/png", filename=name if download else None)
