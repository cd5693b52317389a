"""What the web app can analyse with: trained prediction runs and segmentation methods.

Runs are the folders ``semlab train`` writes under ``<workspace>/runs/`` (a ``config.json``
of kind ``head``; segmenters, kind ``segmenter``, are segmentation methods instead).  Their
description is read from ``config.json`` and ``metrics.json`` without loading a model, so
listing is cheap; the page shows it so that nobody predicts with a run they did not choose.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from semlab.errors import WorkspaceError

#: Foreground (phase of interest) choices of a segmentation.
FOREGROUNDS = ("auto", "bright", "dark")
#: Prefix of a trained segmenter in a ``method`` value (``model:NAME``).
MODEL_PREFIX = "model:"


def _json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _cv_score(metrics: dict[str, Any], task: str | None) -> dict[str, Any] | None:
    """The grouped-CV image-level score of a run: accuracy (classification) or R² (regression),
    with its 95 % interval when ``metrics.json`` has one."""
    image = metrics.get("image") or {}
    u = metrics.get("uncertainty") or {}
    interval = u.get("wilson_95") or u.get("bootstrap_95")
    for key, label in (
        ("accuracy", "image accuracy"),
        ("balanced_accuracy", "balanced accuracy"),
        ("r2", "R²"),
    ):
        value = image.get(key)
        if isinstance(value, int | float):
            out: dict[str, Any] = {"metric": key, "label": f"{label} (grouped CV)", "value": float(value)}
            if isinstance(interval, list | tuple) and len(interval) == 2:
                out["interval_95"] = [float(v) for v in interval]
            return out
    return None


def run_info(path: Path) -> dict[str, Any]:
    """Description of one trained run folder (name, target, task, model, date, CV score …)."""
    cfg = _json(path / "config.json")
    run = (cfg.get("extra") or {}).get("run") or {}
    metrics = _json(path / "metrics.json")
    task = run.get("task") or metrics.get("task")
    return {
        "name": path.name,
        "path": str(path),
        "kind": cfg.get("kind"),
        "target": run.get("target") or metrics.get("target"),
        "task": task,
        "model": run.get("model") or metrics.get("model"),
        "classes": run.get("classes"),
        "created": cfg.get("created"),
        "backbone": run.get("backbone"),
        "feature_set": run.get("feature_set") or run.get("features"),
        "n_images": run.get("n_images"),
        "cv": _cv_score(metrics, task),
        "warnings": list(metrics.get("warnings") or [])[:5],
        "shortcut_warning": (metrics.get("shortcut") or {}).get("message")
        if metrics.get("shortcut")
        else None,
        "domain_threshold": (run.get("domain") or {}).get("threshold"),
    }


def _run_folders(workspace_path: Path, kind: str) -> list[Path]:
    out = []
    for sub in ("runs", "segmenters"):
        folder = workspace_path / sub
        if folder.is_dir():
            for p in folder.iterdir():
                if p.is_dir() and (p / "config.json").is_file():
                    found = _json(p / "config.json").get("kind")
                    if (found == "segmenter") == (kind == "segmenter"):
                        out.append(p.resolve())
    return out


def list_runs(workspace_path: Path, *, extra: Path | None = None) -> list[dict[str, Any]]:
    """Trained prediction runs of a workspace (plus ``extra``, the server's ``--model``), newest first."""
    folders = _run_folders(workspace_path, "head")
    if extra is not None and extra.resolve() not in folders:
        folders.append(extra.resolve())
    infos = [run_info(p) for p in folders]
    by_time = {
        str(p): (p / "config.json").stat().st_mtime if (p / "config.json").is_file() else 0.0 for p in folders
    }
    infos.sort(key=lambda d: (d["created"] or "", by_time.get(d["path"], 0.0)), reverse=True)
    names = [d["name"] for d in infos]
    for d in infos:  # two runs of one name (a --model outside runs/): tell them apart
        if names.count(d["name"]) > 1:
            d["name"] = d["path"]
    return infos


def list_segmenters(workspace_path: Path) -> list[dict[str, Any]]:
    """Trained segmenters under ``<workspace>/runs`` or ``<workspace>/segmenters``: ``method`` value and folder."""
    out = []
    for p in sorted(_run_folders(workspace_path, "segmenter")):
        cfg = _json(p / "config.json")
        out.append({"method": MODEL_PREFIX + p.name, "path": str(p), "created": cfg.get("created")})
    return out


def resolve_run(runs: list[dict[str, Any]], name: str | None, default: Path | None) -> Path | None:
    """The run folder for a chosen name (``None``: the default run)."""
    if not name:
        return default
    for d in runs:
        if name in (d["name"], d["path"]):
            return Path(d["path"])
    known = ", ".join(d["name"] for d in runs) or "none"
    raise WorkspaceError(f"model {name!r}: no such trained run in this workspace; choose one of: {known}")
