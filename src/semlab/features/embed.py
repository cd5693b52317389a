"""Embedding a workspace: patches of every image through a backbone, cached on disk.

Layout inside a workspace::

    <ws>/features/
        latest.json                      which embedding is the latest, overall and per backbone
        <backbone>-<key>/                one embedding: backbone + weights hash + preprocessing config
            embedding.json               backbone, weights source and SHA-256, config, counts
            images/<hash>-px<µm>.npz     per-image cache: features (k, d) float32, boxes (k, 4)
            images/runtimes.json         the runtimes that computed those (torch, openvino, onnxruntime)
            table.npz                    the feature table of the workspace's images (features + index)
            index.csv                    its index (image_hash, patch, row, col, size_px)

``<key>`` is a hash of the backbone name, the weights' SHA-256 and the preprocessing
config, and the per-image files are named by the image's SHA-256 and the pixel size it was
prepared from: an image is embedded once per (image, pixel size, preprocessing, backbone,
weights).  Every file is written atomically.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import numbers
import os
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from semlab._util import atomic_path, file_sha256, write_json
from semlab.errors import FileFormatError, MissingFileError, ParameterError, WorkspaceError
from semlab.features.table import FeatureTable

if TYPE_CHECKING:
    from semlab.dataset import Workspace
    from semlab.features.backbones import Backbone
    from semlab.preprocess import Preparation

__all__ = [
    "FEATURES_DIR",
    "embed_workspace",
    "load_features",
    "max_patch_size",
    "target_pixel_size",
    "workspace_preparation",
]

# The scale policy (which pixel size a workspace is embedded at, what fits) lives in
# semlab.features.scale; re-exported here for callers of the old names.
from semlab.features.scale import (  # noqa: E402
    _check_fits,
    image_cache_name,
    max_patch_size,
    target_pixel_size,
    workspace_preparation,
)

#: Folder of a workspace that holds the embeddings.
FEATURES_DIR = "features"
_LATEST = "latest.json"
_META = "embedding.json"
_TABLE = "table.npz"
#: In an embedding's images/ folder: the runtimes that computed its images (a JSON list).
_RUNTIMES = "runtimes.json"
_FORMAT = "semlab-features"
_FORMAT_VERSION = 1
#: Patches held in memory before they are pushed through the backbone and written.
_CHUNK_PATCHES = 64


def _open(workspace: Workspace | str | os.PathLike) -> Workspace:
    from semlab.dataset import Workspace

    return workspace if isinstance(workspace, Workspace) else Workspace.open(workspace)


def _int(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ParameterError(f"{name}={value!r} must be an integer >= {minimum}")
    return int(value)


def _weights_identity(
    name: str, pretrained: bool, weights: str | os.PathLike | None
) -> tuple[str, str | None] | None:
    """(weights label, SHA-256) known without building the model, or None."""
    from semlab.features.backbones import lite0_package_file

    if weights is not None:
        p = Path(weights)
        file = p / "model.pt" if p.is_dir() else p
        return (f"file {file}", file_sha256(file)) if file.is_file() else None
    if pretrained and name == "efficientnet_lite0":
        found = lite0_package_file()
        if found is not None:
            from semlab.features.backbones import LITE0_PACKAGE

            return f"offline package {LITE0_PACKAGE} {found[1]}", file_sha256(found[0])
    return None


def _name_data_config(name: str) -> dict[str, Any] | None:
    """A timm model's data config from its pretrained config, without building it."""
    try:
        import timm
        from timm.data import resolve_data_config

        pcfg = timm.models.get_pretrained_cfg(name)
        if pcfg is None:
            return None
        cfg = resolve_data_config({}, pretrained_cfg=pcfg.to_dict())
    except Exception:  # pragma: no cover - unusual timm entries
        return None
    from semlab.features.backbones import _plain_data_config

    return _plain_data_config(cfg)


def _key(backbone: str, weights_sha256: str | None, config: dict[str, Any]) -> str:
    blob = json.dumps(
        {"backbone": backbone, "weights_sha256": weights_sha256, "config": config}, sort_keys=True
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _image_patches(ws: Workspace, rec: Any, recipe: Any) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """(patches (k, s, s) float32 in [0, 1], boxes (k, 4), image shape and pixel size) of one image."""
    from semlab.preprocess import prepare_patches

    m = ws.read(rec.hash, crop=recipe.crop_databar)
    p, boxes = prepare_patches(m, recipe, key=rec.hash, pixel_size=rec.pixel_size_um, name=rec.original_name)
    shape = tuple(np.shape(getattr(m, "image", m))[:2])
    return p, boxes, {"image_shape": shape, "pixel_size": rec.pixel_size_um}


def _chunk_features(job: _Job, bb: Any, chunk: list[tuple[Any, np.ndarray, np.ndarray, dict]]) -> dict:
    """``{feature set: (n, d)}`` of a chunk's patches: the job's set (and its CNN sibling)."""
    from semlab.features import extract
    from semlab.features.texture import nuisance_features, texture_features

    patches = np.concatenate([p for _, p, _, _ in chunk])
    if job.feature_set == "texture":
        return {"texture": texture_features(patches)}
    if job.feature_set == "nuisance":
        rows = [
            nuisance_features(p, image_shape=a["image_shape"], pixel_size=a["pixel_size"])
            for _, p, _, a in chunk
        ]
        return {"nuisance": np.concatenate(rows)}
    sets = (job.feature_set, *job.siblings)
    how: dict[str, Any] = {"sets": sets, "runtime": job.runtime, "info": job.info}
    return extract._run(bb, patches, job.batch_size, job.device, None, job.precision, **how)


def _save_npz(path: Path, **arrays: np.ndarray) -> None:
    named: dict[str, Any] = arrays  # np.savez's stub would also match a key named allow_pickle
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **named)


def _load_image_cache(path: Path, n: int, d: int | None) -> tuple[np.ndarray, np.ndarray] | None:
    try:
        with np.load(path) as z:
            feats, boxes = z["features"], z["boxes"]
    except Exception:
        return None  # damaged: recompute
    if (
        feats.ndim != 2
        or feats.shape[0] != n
        or boxes.shape != (n, 4)
        or (d is not None and feats.shape[1] != d)
    ):
        return None
    return feats.astype(np.float32, copy=False), boxes.astype(np.int64, copy=False)


def embed_workspace(
    workspace: Workspace | str | os.PathLike,
    *,
    backbone: str | Backbone = "efficientnet_lite0",
    pretrained: bool = True,
    weights: str | os.PathLike | None = None,
    preparation: Preparation | None = None,
    batch_size: int = 32,
    device: str = "auto",
    precision: str = "fp32",
    progress: Callable[[int, int], None] | None = None,
    feature_set: str = "final",
    engine: Any = None,
    address: str | None = None,
) -> FeatureTable:
    """Features of patches of every image in a workspace, cached.

    Each image is prepared by the recipe (:func:`semlab.preprocess.prepare_patches`): data
    bar cropped, equalized (CLAHE by default), resampled to the recipe's pixel size — by
    default the workspace's coarsest (images of unknown size are used as they are) — and
    cut into ``patches_per_image`` random ``patch_size`` boxes (positions seeded by the
    recipe's seed and the image, so adding images does not move the patches of the
    others).  The patches go through the backbone in batches (:func:`extract_features`).
    The recipe is stored in the embedding's config and in every run trained on it.

    Parameters
    ----------
    workspace : Workspace or path
    backbone : str or Backbone, default "efficientnet_lite0"
        timm model name or a ready :class:`Backbone`.
    pretrained, weights
        How the backbone gets its weights (:func:`create_backbone`).
    preparation : Preparation, optional
        Default ``Preparation()``: CLAHE, 16 random patches of 224 px per image, seed 0.
        Its ``pixel_size`` left at None means the workspace's coarsest pixel size.
    batch_size : int, default 32
    device : {"auto", "cpu", "cuda"}, default "auto"
    precision : {"fp32", "auto", "bf16"}, default "fp32"
        See :func:`extract_features`; the precision used is part of the cache key.
    progress : callable, optional
        ``progress(done, total)`` in images (cached images count as done at once).
    feature_set : {"final", "multiscale", "texture", "nuisance"}, default "final"
        What describes a patch (:data:`~semlab.features.FEATURE_SETS`; :func:`feature_table`
        defaults to :data:`DEFAULT_FEATURE_SET`).  Part of the cache key; the set and how it
        is computed are in the table's ``config`` (``feature_set``, ``feature_config``).
        The CNN sets come from one forward pass (embedding one caches the other too);
        ``"nuisance"`` patches are cut at the same places, not equalized.
        The CNN runs with the runtime of the enclosing :func:`~semlab.features.runtime.use_runtime`
        block (``"auto"`` outside one; :func:`extract_features` ``runtime=``); the table's ``cache``
        and ``embedding.json`` (``runtimes``) say which ran.
    engine, address
        ``"local"`` (default, or the engine of a :func:`semlab.scale.use_engine` block) or
        ``"ray"`` and a cluster address (``"auto"``, ``"ray://host:port"``; default a local
        Ray instance): missing images computed on a Ray actor pool, cached here; same cache.

    Returns
    -------
    FeatureTable
        One row per patch, images in the workspace's order; ``cache`` tells how many images
        were ``computed`` and how many came from the cache (``cached``), and the folder.

    Raises
    ------
    WorkspaceError
        No such workspace, or no images in it.
    ParameterError
        Bad options; an image smaller than the patch size after cropping and resampling,
        or too far from the recipe's pixel size; unknown backbone; no pretrained weights.
    semlab.scale.ItemsFailed
        Ray engine only: some images failed (named); the others were computed and cached.
    """
    from semlab.features.extract import resolve_precision
    from semlab.features.sets import CNN_FEATURE_SETS, check_feature_set, feature_width
    from semlab.scale import current_engine
    from semlab.training import resolve_device

    eng = current_engine(engine, address)
    ws = _open(workspace)
    fset = check_feature_set(feature_set)
    batch_size = _int(batch_size, "batch_size", 1)
    cnn = fset in CNN_FEATURE_SETS
    if cnn:
        _check_backbone(backbone, weights)
    records, recipe = _check_fits(ws, preparation)

    dev = resolve_device(device)
    precision = resolve_precision(precision, dev)
    bb, name, label, sha, configs = _setup(backbone, pretrained, weights, recipe, precision, fset)
    config = configs[fset]
    folders = {
        s: ws.path / FEATURES_DIR / _folder_name(name, s, _key(name, sha, c)) for s, c in configs.items()
    }
    folder, key = folders[fset], folders[fset].name.rsplit("-", 1)[1]
    siblings = {s: f / "images" for s, f in folders.items() if s != fset}
    job = _Job(
        ws, folder / "images", recipe, batch_size, dev, precision, progress, len(records), fset, siblings
    )
    job.img_dir.mkdir(parents=True, exist_ok=True)

    width = None if cnn and bb is None else feature_width(fset, bb)
    results: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    todo = []
    for rec in records:
        hit = _load_image_cache(job.img_dir / image_cache_name(rec), recipe.patches_per_image, width)
        if hit is None:
            todo.append(rec)
        else:
            results[rec.hash] = hit
    if progress is not None:
        progress(len(records) - len(todo), len(records))
    computed_patches = _compute_missing(job, (bb, name, pretrained, weights, sha, config), todo, results, eng)

    table = _assemble(records, results, name, label, sha, config)
    _write_embedding(folder, table, key, job.info.get("runtime"))
    _set_latest(ws, name, folder.name, fset)
    cache = _cache_info(len(records), len(todo), computed_patches, folder, job.info.get("runtime"))
    return FeatureTable(table.features, table.index, name, label, sha, config, cache)


def _cache_info(n: int, n_new: int, computed_patches: int, folder: Path, runtime: str | None) -> dict:
    """The table's ``cache``: images computed and cached, patches computed, folder, runtime."""
    return {
        "computed": n_new,
        "cached": n - n_new,
        "computed_patches": computed_patches,
        "path": str(folder),
        "runtime": runtime,
    }


def _compute_missing(job: _Job, model: tuple, todo: list[Any], results: dict[str, Any], eng: Any) -> int:
    """Compute the images not cached, here or on Ray; the patches computed."""
    from semlab.features.sets import CNN_FEATURE_SETS

    bb, name, pretrained, weights, sha, config = model
    if not todo:
        return 0
    if bb is None and job.feature_set in CNN_FEATURE_SETS and eng.kind == "local":
        bb = _build(name, pretrained, weights, sha, config)
    if job.feature_set in CNN_FEATURE_SETS:
        from semlab.features.extract import choose_runtime
        from semlab.features.runtime import current_runtime

        n, sets = len(todo) * job.recipe.patches_per_image, (job.feature_set, *job.siblings)
        job = replace(job, runtime=choose_runtime(current_runtime(), bb, job.device, job.precision, n, sets))
    try:
        if eng.kind == "ray":  # the workers build the model and run the runtime chosen here
            return _compute_ray(job, (bb or name, pretrained, weights), todo, results, eng)
        return _compute(job, bb, todo, results)
    finally:
        for d in (job.img_dir, *job.siblings.values()):  # the runtime that computed these images
            if d.is_dir():
                write_json(d / _RUNTIMES, _runtimes(d.parent, job.info.get("runtime")))


def _build(name: str, pretrained: bool, weights: Any, sha: str | None, config: dict[str, Any]) -> Backbone:
    """The backbone whose identity :func:`_identity` found cheaply, built now that images need it."""
    from semlab.features.extract import get_backbone

    bb = get_backbone(name, pretrained=pretrained, weights=weights)
    if bb.weights_sha256 != sha or list(bb.data_config["input_size"]) != config["input_size"]:
        raise WorkspaceError(  # pragma: no cover - guards the cheap identity above
            f"{name}: the weights or data config changed while embedding; run again"
        )
    return bb


def _setup(
    backbone: Any, pretrained: bool, weights: Any, recipe: Any, precision: str, fset: str
) -> tuple[Backbone | None, str, str, str | None, dict[str, dict[str, Any]]]:
    """(model if built, name, weights label, weights SHA-256, config of each set computed together)."""
    from semlab.features.backbones import Backbone
    from semlab.features.sets import CNN_FEATURE_SETS

    if fset not in CNN_FEATURE_SETS:
        return None, "none", f"none ({fset} statistics, no CNN)", None, {fset: _plain_config(recipe, fset)}
    bb, name, label, sha, data_config = _identity(backbone, pretrained, weights)
    seeded = not isinstance(backbone, Backbone) and not pretrained and weights is None
    configs = {s: _cnn_config(recipe, data_config, precision, s, seeded) for s in CNN_FEATURE_SETS}
    return bb, name, label, sha, configs


def _folder_name(name: str, feature_set: str, key: str) -> str:
    """``<backbone>-<key>`` (final features, as before), ``<backbone>-multiscale-<key>``, ``<set>-<key>``."""
    if feature_set == "final":
        return f"{name}-{key}"
    return f"{name}-{feature_set}-{key}" if name != "none" else f"{feature_set}-{key}"


def _cnn_config(
    recipe: Any, data_config: dict[str, Any], precision: str, fset: str, seeded: bool
) -> dict[str, Any]:
    from semlab.features.sets import feature_set_config

    config = {
        **recipe.to_dict(),
        "resample_order": 1,
        "input_size": list(data_config["input_size"]),
        "mean": list(data_config["mean"]),
        "std": list(data_config["std"]),
        "interpolation": data_config["interpolation"],
        "resize": "whole patch to input_size (antialiased when shrinking); grey replicated to 3 channels",
        "precision": precision,
        "feature_set": fset,
        "feature_config": feature_set_config(fset),
    }
    if seeded:
        config["backbone_seed"] = 0  # random weights built by name: create_backbone's default seed
    return config


def _plain_config(recipe: Any, fset: str) -> dict[str, Any]:
    from semlab.features.sets import feature_set_config

    config = {
        **recipe.to_dict(),
        "resample_order": 1,
        "feature_set": fset,
        "feature_config": feature_set_config(fset),
    }
    if fset == "nuisance":  # the patches keep their own grey values
        config.update(equalize="none", recipe_equalize=recipe.equalize)
    return config


def _check_backbone(backbone: Any, weights: Any) -> None:
    from semlab.features.backbones import Backbone, _ensure_registered

    if not isinstance(backbone, Backbone):
        _ensure_registered(backbone)
        if weights is not None and not Path(weights).exists():
            raise MissingFileError(
                f"{weights}: no such weights file; check the path given with --weights / weights="
            )


def _identity(
    backbone: Any, pretrained: bool, weights: Any
) -> tuple[Backbone | None, str, str, str | None, dict[str, Any]]:
    """(model if built, name, weights label, weights SHA-256, data config), cheaply when possible."""
    from semlab.features.backbones import Backbone

    if isinstance(backbone, Backbone):
        return backbone, backbone.name, backbone.weights, backbone.weights_sha256, dict(backbone.data_config)
    ident = _weights_identity(backbone, pretrained, weights)
    data_config = _name_data_config(backbone) if ident is not None else None
    if ident is None or data_config is None:
        from semlab.features.extract import get_backbone

        bb = get_backbone(backbone, pretrained=pretrained, weights=weights)
        return bb, backbone, bb.weights, bb.weights_sha256, dict(bb.data_config)
    return None, backbone, ident[0], ident[1], data_config


@dataclass(frozen=True)
class _Job:
    """What computing one embedding's missing images needs."""

    ws: Any
    img_dir: Path
    recipe: Any
    batch_size: int
    device: Any
    precision: str
    progress: Callable[[int, int], None] | None
    n_total: int
    feature_set: str = "final"
    #: Per-image cache folders of the other CNN set, filled from the same forward pass.
    siblings: dict[str, Path] = field(default_factory=dict)
    #: Resolved runtime of the CNN (``"torch"``, ``"openvino"``, ``"onnxruntime"``).
    runtime: str = "torch"
    #: Filled by the extraction: ``{"runtime": label}`` of what ran.
    info: dict[str, Any] = field(default_factory=dict)


def _compute(
    job: _Job, bb: Backbone | None, todo: list[Any], results: dict[str, tuple[np.ndarray, np.ndarray]]
) -> int:
    """Embed the images in ``todo`` in chunks, caching each; returns the patches computed."""
    done, computed = job.n_total - len(todo), 0
    chunk: list[tuple[Any, np.ndarray, np.ndarray, dict[str, Any]]] = []

    def flush() -> None:
        nonlocal done, computed
        feats = _chunk_features(job, bb, chunk)
        start = 0
        for rec, p, boxes, _ in chunk:
            stop = start + len(p)
            _store_image(job, rec, {s: f[start:stop] for s, f in feats.items()}, boxes, results)
            start = stop
            done += 1
            computed += len(p)
            if job.progress is not None:
                job.progress(done, job.n_total)
        chunk.clear()

    recipe = job.recipe if job.feature_set != "nuisance" else replace(job.recipe, equalize="none")
    ahead = -(-max(_CHUNK_PATCHES, job.batch_size) // max(1, recipe.patches_per_image)) + 1
    for rec, (p, boxes, about) in _prefetched(job.ws, todo, recipe, ahead):
        chunk.append((rec, p, boxes, about))
        if sum(len(c[1]) for c in chunk) >= max(_CHUNK_PATCHES, job.batch_size):
            flush()
    if chunk:
        flush()
    return computed


def _prefetched(ws: Any, todo: list[Any], recipe: Any, ahead: int) -> Iterator[tuple[Any, tuple]]:
    """``(record, (patches, boxes, about))`` of each image in order; the next ``ahead`` images are
    read, prepared and cut in a background thread while the caller runs the model."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="semlab-embed-read") as pool:
        pending: deque = deque()
        it = iter(todo)
        try:
            for rec in itertools.islice(it, ahead):
                pending.append((rec, pool.submit(_image_patches, ws, rec, recipe)))
            while pending:
                rec, fut = pending.popleft()
                nxt = next(it, None)
                if nxt is not None:
                    pending.append((nxt, pool.submit(_image_patches, ws, nxt, recipe)))
                yield rec, fut.result()
        finally:
            for _, fut in pending:
                fut.cancel()


def _store_image(
    job: _Job, rec: Any, feats: dict[str, np.ndarray], boxes: np.ndarray, results: dict[str, Any]
) -> None:
    """Cache one image's features (and its sibling set's) and keep them in ``results``."""
    f = feats[job.feature_set]
    _save_npz(job.img_dir / image_cache_name(rec), features=f, boxes=boxes)
    for s, d in job.siblings.items():
        d.mkdir(parents=True, exist_ok=True)
        _save_npz(d / image_cache_name(rec), features=feats[s], boxes=boxes)
    results[rec.hash] = (f, boxes)


def _ray_setup(ws_path: str, job: dict[str, Any], model: tuple[Any, bool, Any]) -> tuple[_Job, Any]:
    """A Ray worker's state: the workspace (read only) and the backbone, built once."""
    from semlab.dataset import Workspace
    from semlab.features.sets import CNN_FEATURE_SETS
    from semlab.preprocess import Preparation
    from semlab.training import resolve_device

    backbone, pretrained, weights = model
    bb = backbone
    if isinstance(backbone, str) and job["feature_set"] in CNN_FEATURE_SETS:
        from semlab.features.extract import get_backbone

        bb = get_backbone(backbone, pretrained=pretrained, weights=weights)
    recipe = Preparation.from_dict(job["recipe"])
    if job["feature_set"] == "nuisance":
        recipe = replace(recipe, equalize="none")
    dev = resolve_device(job["device"])
    siblings = {s: Path() for s in job["siblings"]}
    return _Job(Workspace.open(ws_path), Path(), recipe, job["batch_size"], dev, job["precision"], None, 0,
                job["feature_set"], siblings, job["runtime"]), bb  # fmt: skip


def _ray_work(state: tuple[_Job, Any], items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Features of a batch of images on a Ray worker: ``{set: (k, d), "boxes": (k, 4)}`` each."""
    from types import SimpleNamespace

    job, bb = state
    chunk = [(None, *_image_patches(job.ws, SimpleNamespace(**it["rec"]), job.recipe)) for it in items]
    feats = _chunk_features(job, bb, chunk)
    out, start = [], 0
    for _, p, boxes, _ in chunk:
        stop = start + len(p)
        out.append({"boxes": boxes, "runtime": job.info.get("runtime"),
                    **{s: np.asarray(f[start:stop]) for s, f in feats.items()}})  # fmt: skip
        start = stop
    return out


def _compute_ray(
    job: _Job, model: tuple[Any, bool, Any], todo: list[Any], results: dict[str, Any], eng: Any
) -> int:
    """Embed ``todo`` on Ray (:func:`semlab.scale.run_batches`), caching each image here as it arrives."""
    from semlab.scale import ItemsFailed, run_batches

    recs = {rec.hash: rec for rec in todo}
    spec = {"recipe": job.recipe.to_dict(), "batch_size": job.batch_size, "device": str(job.device),
            "precision": job.precision, "feature_set": job.feature_set, "siblings": sorted(job.siblings),
            "runtime": job.runtime}  # fmt: skip
    items = [
        {"name": rec.original_name, "rec": {"hash": rec.hash, "pixel_size_um": rec.pixel_size_um,
                                            "original_name": rec.original_name}}
        for rec in todo
    ]  # fmt: skip
    done0, computed = job.n_total - len(todo), 0

    def on_result(item: Any, res: dict[str, np.ndarray]) -> None:
        nonlocal computed
        boxes, ran = res.pop("boxes"), res.pop("runtime")
        if ran:  # what the workers ran (their fast session, or torch after a fallback)
            job.info.setdefault("runtime", ran)
        _store_image(job, recs[item["rec"]["hash"]], res, boxes, results)
        computed += len(boxes)

    def progress(done: int, total: int) -> None:
        if job.progress is not None:
            job.progress(done0 + done, job.n_total)

    if eng.gpus_per_worker is None:  # GPUs for the workers only when the model runs on CUDA
        eng = replace(eng, gpus_per_worker=1.0 if str(job.device).startswith("cuda") else 0.0)
    report = run_batches(items, _ray_work, on_result=on_result, setup=_ray_setup,
                         setup_args=(str(job.ws.path), spec, model), engine=eng, progress=progress)  # fmt: skip
    if report.failed:
        raise ItemsFailed(report.failed, report.n_done)
    return computed


def _write_embedding(folder: Path, table: FeatureTable, key: str, runtime: str | None = None) -> None:
    """The embedding's table.npz, index.csv and embedding.json, each atomically.

    ``runtimes`` in embedding.json lists every runtime that computed images of this folder.
    """
    meta = {
        "format": _FORMAT,
        "format_version": _FORMAT_VERSION,
        "backbone": table.backbone,
        "weights": table.weights,
        "weights_sha256": table.weights_sha256,
        "num_features": table.n_features,
        "config": table.config,
        "key": key,
        "n_images": int(table.index["image_hash"].nunique()),
        "n_patches": len(table),
        "updated": datetime.now(UTC).isoformat(timespec="seconds"),
        "runtimes": _runtimes(folder, runtime),
    }
    _save_npz(
        folder / _TABLE,
        features=table.features,
        image_hash=table.index["image_hash"].to_numpy(dtype="U64"),
        patch=table.index["patch"].to_numpy(),
        row=table.index["row"].to_numpy(),
        col=table.index["col"].to_numpy(),
        size_px=table.index["size_px"].to_numpy(),
    )
    with atomic_path(folder / "index.csv") as tmp:
        table.index.to_csv(tmp, index=False)
    write_json(folder / _META, meta)


def _runtimes(folder: Path, runtime: str | None) -> list[str]:
    """The runtimes that computed the images of an embedding folder, with ``runtime`` added."""
    try:
        old = json.loads((folder / "images" / _RUNTIMES).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        old = []
    return sorted({str(r) for r in old if r} | ({runtime} if runtime else set()))


def _assemble(
    records: list[Any],
    results: dict[str, tuple[np.ndarray, np.ndarray]],
    name: str,
    label: str,
    sha: str | None,
    config: dict[str, Any],
) -> FeatureTable:
    import pandas as pd

    feats = np.concatenate([results[r.hash][0] for r in records]).astype(np.float32, copy=False)
    boxes = np.concatenate([results[r.hash][1] for r in records])
    k = config["patches_per_image"]
    index = pd.DataFrame(
        {
            "image_hash": pd.Series(np.repeat([r.hash for r in records], k), dtype="str"),
            "patch": np.tile(np.arange(k, dtype=np.int64), len(records)),
            "row": boxes[:, 0].astype(np.int64),
            "col": boxes[:, 1].astype(np.int64),
            "size_px": boxes[:, 2].astype(np.int64),
        }
    )
    return FeatureTable(feats, index, name, label, sha, config)


def _latest_path(ws: Workspace) -> Path:
    return ws.path / FEATURES_DIR / _LATEST


def _read_latest(ws: Workspace) -> dict[str, Any]:
    path = _latest_path(ws)
    if not path.is_file():
        return {"latest": None, "by_backbone": {}}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise WorkspaceError(
            f"{path}: cannot be read ({exc}); delete it and run `semlab embed` again"
        ) from None
    data.setdefault("by_backbone", {})
    return data


def _set_latest(ws: Workspace, name: str, folder: str, feature_set: str = "final") -> None:
    """Record the embedding: latest per set and per (set, backbone); ``latest`` overall and per
    backbone unless it is the nuisance set (a diagnostic, never what a model is trained on by default)."""
    data = _read_latest(ws)
    by_set = data.setdefault("by_set", {})
    by_set[feature_set] = folder
    by_set[f"{feature_set}/{name}"] = folder
    if feature_set != "nuisance":
        data["latest"] = folder
        if name != "none":
            data["by_backbone"][name] = folder
    write_json(_latest_path(ws), data)


def _folder_of_set(ws: Workspace, latest: dict[str, Any], feature_set: str, backbone: str | None) -> str:
    from semlab.features.sets import CNN_FEATURE_SETS, check_feature_set

    fset = check_feature_set(feature_set)
    by_set = latest.get("by_set", {})
    if backbone is None or fset not in CNN_FEATURE_SETS:
        found = by_set.get(fset)
    else:
        found = by_set.get(f"{fset}/{backbone}")
    if not found:
        bb = f" --backbone {backbone}" if backbone and fset in CNN_FEATURE_SETS else ""
        raise WorkspaceError(
            f"{ws.path}: no {fset!r} features yet; run `semlab embed {ws.path} --features {fset}{bb}`"
        )
    return str(found)


def load_features(
    workspace: Workspace | str | os.PathLike, *, backbone: str | None = None, feature_set: str | None = None
) -> FeatureTable:
    """The feature table stored in a workspace by :func:`embed_workspace`.

    Parameters
    ----------
    workspace : Workspace or path
    backbone : str, optional
        The latest embedding of this backbone; default: the latest embedding of any.
    feature_set : str, optional
        The latest embedding of this feature set (with ``backbone``: of both; the backbone is
        ignored for ``"texture"`` and ``"nuisance"``); default: any set but ``"nuisance"``.

    Returns
    -------
    FeatureTable
        As :func:`embed_workspace` returned it (``cache`` names the folder).

    Raises
    ------
    WorkspaceError
        No features yet (or none for ``backbone``); a damaged feature folder.
    """
    ws = _open(workspace)
    latest = _read_latest(ws)
    folder_name: Any
    if feature_set is not None:
        folder_name = _folder_of_set(ws, latest, feature_set, backbone)
    elif backbone is None:
        folder_name = latest.get("latest")
        if not folder_name:
            raise WorkspaceError(f"{ws.path}: no features yet; run `semlab embed {ws.path} --backbone NAME`")
    else:
        folder_name = latest["by_backbone"].get(backbone)
        if not folder_name:
            have = ", ".join(sorted(latest["by_backbone"])) or "none"
            raise WorkspaceError(
                f"{ws.path}: no features for backbone {backbone!r} yet (have: {have}); "
                f"run `semlab embed {ws.path} --backbone {backbone}`"
            )
    folder = ws.path / FEATURES_DIR / str(folder_name)
    meta_path, table_path = folder / _META, folder / _TABLE
    if not meta_path.is_file() or not table_path.is_file():
        raise WorkspaceError(f"{folder}: feature files are missing; run `semlab embed {ws.path}` again")
    import pandas as pd

    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        with np.load(table_path) as z:
            arrays = {k: z[k] for k in z.files}
    except Exception as exc:
        raise FileFormatError(
            f"{folder}: feature files cannot be read ({exc}); run `semlab embed` again"
        ) from None
    index = pd.DataFrame(
        {
            "image_hash": pd.Series(arrays["image_hash"].astype(str), dtype="str"),
            "patch": arrays["patch"].astype(np.int64),
            "row": arrays["row"].astype(np.int64),
            "col": arrays["col"].astype(np.int64),
            "size_px": arrays["size_px"].astype(np.int64),
        }
    )
    return FeatureTable(
        arrays["features"],
        index,
        meta["backbone"],
        meta["weights"],
        meta.get("weights_sha256"),
        meta["config"],
        {"path": str(folder), "updated": meta.get("updated")},
    )
