"""The analyses an upload can ask for, and the background worker that runs them.

Each job runs in a thread pool off the web server's event loop; its state lives in the
catalog (:mod:`semlab.serve._store`), so a restarted server re-queues what was interrupted.
Result files go under ``<workspace>/serve/`` and are named by image hash (content-addressed:
the same image uploaded twice reuses its segmentation).
"""

from __future__ import annotations

import logging
import threading
import time
import warnings
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from semlab.errors import SemlabError, WorkspaceError
from semlab.serve._store import Store

log = logging.getLogger("semlab.serve")

#: Label values that count as pore space for the descriptors.
PORE_LABELS = (1, 2)
#: How many neighbours on the map an image page shows.
N_NEIGHBOURS = 6


def find_model(workspace_path: Path, model: str | Path | None) -> Path | None:
    """The trained run folder to predict with: ``model`` if given, else the newest
    ``<workspace>/runs/*/`` holding a ``config.json`` (what ``semlab train`` writes), else ``None``."""
    if model is not None:
        p = Path(model)
        if not p.is_dir():
            raise WorkspaceError(f"--model {model}: no such run folder; give the folder `semlab train` wrote")
        return p.resolve()
    runs = workspace_path / "runs"
    if not runs.is_dir():
        return None
    found = [p for p in runs.iterdir() if p.is_dir() and (p / "config.json").is_file()]
    return max(found, key=lambda p: (p / "config.json").stat().st_mtime).resolve() if found else None


class Analyses:
    """Runs one task on one stored image; holds the loaded predictor.

    Parameters
    ----------
    workspace : semlab.dataset.Workspace
    model : path, optional
        Trained run folder for ``predict`` (default: the newest under ``<workspace>/runs/``).
    segment_method : str
        Method for :func:`semlab.segment.segment_image` (default ``"hybrid"``).
    """

    def __init__(
        self,
        workspace: Any,
        store: Store,
        *,
        model: str | Path | None = None,
        segment_method: str = "hybrid",
        max_pixels: int = 100_000_000,
    ) -> None:
        self.ws = workspace
        self.max_pixels = int(max_pixels)
        self.store = store
        self.dir = Path(workspace.path) / "serve"
        self.model = find_model(Path(workspace.path), model)
        self.segment_method = segment_method
        self._predictor: Any = None
        self._cache: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _refresh_model(self) -> Path | None:
        """Look for a run trained since the server started (only when none was found or given)."""
        self.model = find_model(Path(self.ws.path), None)
        return self.model

    def read(self, image_hash: str, *, crop: bool = True) -> Any:
        from semlab.serve import _images

        return _images.read(self.ws, self.store, image_hash, crop=crop)

    # -- what can run ----------------------------------------------------------------------

    def capabilities(self) -> dict[str, dict[str, Any]]:
        """For each task: ``available`` and, when not, ``reason`` (what to do)."""
        out: dict[str, dict[str, Any]] = {
            "segment": {"available": True, "method": self.segment_method},
            "quantify": {"available": True, "phase": "pore (labels 1, 2)"},
        }
        if self.model is None and self._refresh_model() is None:
            out["predict"] = {
                "available": False,
                "reason": f"no trained model in this workspace; run `semlab embed {self.ws.path}` and "
                f"`semlab train {self.ws.path} --target COLUMN`, or start the server with --model RUN_DIR",
            }
        else:
            out["predict"] = {"available": True, "model": str(self.model)}
        if not (self._map_folder() / "config.json").is_file():
            out["map"] = {
                "available": False,
                "reason": f"no map in this workspace; run `semlab embed {self.ws.path}` and `semlab map {self.ws.path}`",
            }
        else:
            out["map"] = {"available": True}
        return out

    # -- running ---------------------------------------------------------------------------

    def run(self, task: str, image_hash: str) -> tuple[dict[str, Any], str | None]:
        """(result dict, relative path of a result file or ``None``)."""
        caps = self.capabilities()
        if task in caps and not caps[task]["available"]:
            raise WorkspaceError(caps[task]["reason"])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # colour→grey notes, NaN descriptors: results say so
            if task == "segment":
                return self.segment(image_hash)
            if task == "quantify":
                return self.quantify(image_hash), None
            if task == "predict":
                return self.predict(image_hash), None
            if task == "map":
                return self.place(image_hash), None
        raise WorkspaceError(f"unknown task {task!r}")

    def _labels(self, image_hash: str) -> tuple[Any, np.ndarray, Path]:
        """(micrograph without data bar, labels, overlay path); segments once per image and method."""
        from PIL import Image

        from semlab._util import atomic_path
        from semlab.segment import save_overlay, segment_image

        m = self.read(image_hash, crop=True)
        name = f"{image_hash}-{self.segment_method}"
        labels_path = self.dir / "labels" / f"{name}.png"
        overlay = self.dir / "overlays" / f"{name}.png"
        labels = None
        if labels_path.is_file():
            with Image.open(labels_path) as im:
                labels = np.asarray(im)
            if labels.shape != m.image.shape:
                labels = None
        if labels is None:
            labels = segment_image(m.image, method=self.segment_method)
            labels_path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(labels_path) as tmp:
                Image.fromarray(labels.astype(np.uint8)).save(tmp, format="PNG")
        if not overlay.is_file():
            overlay.parent.mkdir(parents=True, exist_ok=True)
            save_overlay(overlay, m.image, labels)
        return m, labels, overlay

    def _class_names(self) -> dict[int, str]:
        """Label value → class name of the segment method (:func:`semlab.segment.method_classes`), once."""
        from semlab.segment import method_classes

        if "class_names" not in self._cache:
            self._cache["class_names"] = method_classes(self.segment_method)
        return self._cache["class_names"]

    def segment(self, image_hash: str) -> tuple[dict[str, Any], str]:
        from semlab.segment import phase_fractions

        _, labels, overlay = self._labels(image_hash)
        names = self._class_names()
        present = {int(v): names.get(int(v), f"label_{int(v)}") for v in np.unique(labels)}
        fractions = phase_fractions(labels, present)
        result = {
            "method": self.segment_method,
            "shape": list(labels.shape),
            "fractions": fractions,
            "pore_fraction": float(np.isin(labels, PORE_LABELS).mean()),
        }
        return result, overlay.relative_to(self.ws.path).as_posix()

    def quantify(self, image_hash: str) -> dict[str, Any]:
        from semlab.quantify import describe_2d

        m, labels, _ = self._labels(image_hash)
        d = describe_2d(labels, pixel_size=m.pixel_size, phase=PORE_LABELS)
        return {"segment_method": self.segment_method, "descriptors": d.to_dict()}

    def _get_predictor(self) -> Any:
        with self._lock:
            if self._predictor is None:
                from semlab.learn import load_predictor

                assert self.model is not None, "run() checks capabilities(): predict needs a model"
                self._predictor = load_predictor(self.model)
            return self._predictor

    def predict(self, image_hash: str) -> dict[str, Any]:
        predictor = self._get_predictor()
        m = self.read(image_hash, crop=False)
        with self._lock:  # one model, one forward pass at a time
            table = predictor.predict([m], names=[m.metadata.get("original_name") or image_hash[:12]])
        row = table.iloc[0].to_dict()
        probabilities = {k[2:]: float(v) for k, v in row.items() if str(k).startswith("p_")}
        prediction = row.get("prediction")
        if isinstance(prediction, np.generic):
            prediction = prediction.item()
        confidence = row.get("confidence")
        return {
            "task": getattr(predictor, "task", None),
            "target": getattr(predictor, "target", None),
            "prediction": prediction if isinstance(prediction, str) else float(prediction),
            "confidence": None if confidence is None or not np.isfinite(confidence) else float(confidence),
            "probabilities": probabilities,
            "model": str(self.model),
        }

    def _map_folder(self) -> Path:
        return Path(self.ws.path) / "maps" / "latest"

    def _feature_backbone(self, table: Any) -> Any:
        """The backbone the stored features were computed with (weights checked by hash)."""
        from semlab.features import create_backbone

        key = ("backbone", table.backbone, table.weights_sha256)
        if self._cache.get("backbone_key") != key:
            label = str(table.weights or "")
            if label.startswith("file "):
                bb = create_backbone(table.backbone, weights=label[5:])
            elif label.startswith("random"):
                seed = int((table.config or {}).get("backbone_seed", 0) or 0)
                bb = create_backbone(table.backbone, pretrained=False, seed=seed)
            else:
                bb = create_backbone(table.backbone, pretrained=True)
            if table.weights_sha256 and bb.weights_sha256 and bb.weights_sha256 != table.weights_sha256:
                raise WorkspaceError(
                    f"the {table.backbone} weights found now ({bb.weights}) differ from those of the map's features; "
                    "run `semlab embed` and `semlab map` again"
                )
            self._cache.update(backbone_key=key, backbone=bb)
        return self._cache["backbone"]

    def place(self, image_hash: str) -> dict[str, Any]:
        """The image on the workspace's latest map, and its nearest study images there.

        The image gets the features the map's images got (same backbone and weights, data
        bar cut, equalization, resampling to the features' pixel size, patches seeded by
        the image hash, mean over patches) and :func:`semlab.maps.place_on_map` places
        them.  Neighbours are the map's images nearest in map coordinates.
        """
        import json

        from semlab.features import extract_features, load_features
        from semlab.maps import place_on_map
        from semlab.preprocess import Preparation, prepare_patches

        folder = self._map_folder()
        cfg = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        table = load_features(self.ws, backbone=cfg.get("backbone"))
        fc = dict(table.config or {})
        pooled = None
        known = table.index["image_hash"].astype(str).to_numpy()
        if image_hash in set(known):  # a study image: its stored features
            pooled = np.asarray(table.features[known == image_hash], dtype=np.float32).mean(axis=0)
        else:
            m = self.read(image_hash, crop=True)
            patches, _ = prepare_patches(m, Preparation.from_dict(fc), key=image_hash)
            with self._lock:
                bb = self._feature_backbone(table)
                feats = extract_features(patches, backbone=bb, device="cpu")
            pooled = np.asarray(feats, dtype=np.float32).mean(axis=0)
        xy = np.asarray(place_on_map(self.ws, pooled[None, :]), dtype=float)[0]
        hashes, coords = _map_coords(folder)
        keep = [i for i, h in enumerate(hashes) if h != image_hash]
        dist = np.hypot(*(coords[keep] - xy).T) if keep else np.zeros(0)
        info = self.ws.table().set_index("hash")
        neighbours = []
        for k in np.argsort(dist, kind="stable")[:N_NEIGHBOURS]:
            h = hashes[keep[k]]
            row = {
                c: v
                for c, v in (info.loc[h].to_dict() if h in info.index else {}).items()
                if c != "stored_path"
            }
            neighbours.append(
                {
                    "image_hash": h,
                    "distance": float(dist[k]),
                    "x": float(coords[keep[k], 0]),
                    "y": float(coords[keep[k], 1]),
                    **row,
                }
            )
        return {
            "x": float(xy[0]),
            "y": float(xy[1]),
            "backbone": table.backbone,
            "weights": table.weights,
            "method": cfg.get("method"),
            "neighbours": neighbours,
        }


def _map_coords(folder: Path) -> tuple[list[str], np.ndarray]:
    """(image hashes, (n, 2) coordinates) of the saved map's points (``coords.csv``)."""
    import csv

    path = folder / "coords.csv"
    if not path.is_file():
        raise WorkspaceError(f"{folder}: the map has no coords.csv; build the map again with `semlab map`")
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return [r["image_hash"] for r in rows], np.array([[float(r["x"]), float(r["y"])] for r in rows]).reshape(
        -1, 2
    )


class Runner:
    """Background worker: a thread pool that runs queued jobs and records their outcome."""

    def __init__(self, store: Store, analyses: Analyses, *, workers: int = 1) -> None:
        self.store = store
        self.analyses = analyses
        self._pool = ThreadPoolExecutor(max_workers=max(1, int(workers)), thread_name_prefix="semlab-serve")
        self._pending: set[Future] = set()
        self._lock = threading.Lock()

    def submit(self, job_ids: list[int]) -> None:
        for job_id in job_ids:
            fut = self._pool.submit(self._run, int(job_id))
            with self._lock:
                self._pending.add(fut)
            fut.add_done_callback(self._forget)

    def _forget(self, fut: Future) -> None:
        with self._lock:
            self._pending.discard(fut)

    def _run(self, job_id: int) -> None:
        row = self.store.start(job_id)
        if row is None:
            return
        try:
            result, artifact = self.analyses.run(row["task"], row["image_hash"])
        except SemlabError as exc:
            self.store.finish(job_id, error=str(exc))
        except Exception as exc:  # a bug or a library failure: keep serving, say what happened
            log.exception("job %s (%s) failed", job_id, row["task"])
            self.store.finish(job_id, error=f"{row['task']} failed: {type(exc).__name__}: {exc}")
        else:
            self.store.finish(job_id, result=result, artifact=artifact)

    def busy(self) -> int:
        with self._lock:
            return len(self._pending)

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """Block until no job is pending (tests, benchmarks); ``False`` on timeout."""
        end = time.monotonic() + timeout
        while self.busy():
            if time.monotonic() > end:
                return False
            time.sleep(0.05)
        return True

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
