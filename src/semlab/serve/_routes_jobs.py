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


def _job_file(st: ServeState, job_id: int, task: str, rel: str | None, what: str) -> Path:
    """A result file of a finished job of ``task``, checked to lie under ``<workspace>/serve``."""
    job = st.store.job(job_id)
    if job is None or job["task"] != task or job["status"] != "done" or not rel:
        raise HTTPException(404, f"job {job_id} has no {what} (only finished {task} jobs have one)")
    path = (st.workspace.path / rel).resolve()
    if not path.is_relative_to(st.serve_dir.resolve()) or not path.is_file():
        raise HTTPException(404, f"{what} of job {job_id} is missing; retry the job")
    return path


def _stem(job: dict[str, Any] | None) -> str:
    return str((job or {}).get("image_hash", ""))[:16]


@router.get("/{job_id}/overlay.png", summary="Segmentation overlay (image | labels, colour key)")
def job_overlay(job_id: int, download: bool = False, st: ServeState = Depends(state)) -> FileResponse:
    job = st.store.job(job_id)
    path = _job_file(st, job_id, "segment", (job or {}).get("artifact"), "overlay")
    name = f"{_stem(job)}-overlay.png"
    return FileResponse(path, media_type="image/png", filename=name if download else None)


@router.get(
    "/{job_id}/labels.tif",
    summary="Label image of a segment job (TIFF of the upload's shape; class names in the description "
    "and the X-Semlab-Classes header; 255 = no data, the data bar)",
)
def job_labels(job_id: int, st: ServeState = Depends(state)) -> FileResponse:
    import json

    job = st.store.job(job_id)
    path = _job_file(
        st, job_id, "segment", ((job or {}).get("result") or {}).get("labels_file"), "label image"
    )
    classes = (job or {}).get("result", {}).get("classes") or {}
    return FileResponse(
        path, media_type="image/tiff", filename=f"{_stem(job)}-labels.tif",
        headers={"X-Semlab-Classes": json.dumps(classes, ensure_ascii=True)},
    )  # fmt: skip


@router.get("/{job_id}/particles.csv", summary="Per-particle table of a quantify job (one row per particle)")
def job_particles(job_id: int, st: ServeState = Depends(state)) -> FileResponse:
    job = st.store.job(job_id)
    path = _job_file(st, job_id, "quantify", (job or {}).get("artifact"), "particle table")
    return FileResponse(path, media_type="text/csv; charset=utf-8", filename=f"{_stem(job)}-particles.csv")
