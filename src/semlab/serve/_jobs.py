"""The analyses an upload can ask for, and the background worker that runs them.

Each job runs in a thread pool off the web server's event loop; its state lives in the
catalog (:mod:`semlab.serve._store`), so a restarted server re-queues what was interrupted.
Result files go under ``<workspace>/serve/`` and are named by image hash (content-addressed:
the same image uploaded twice reuses its segmentation).
"""

from __future__ import annotations

import json
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

#: How many neighbours on the map an image page shows.
N_NEIGHBOURS = 6

#: The stages each task reports, in order (the page shows the stage and the fraction of all done).
STAGES = {
    "segment": ("reading the image", "segmenting", "drawing the overlay"),
    "quantify": ("reading the image", "segmenting", "drawing the overlay", "measuring", "particle table"),
    "predict": ("loading the model", "reading the image", "predicting"),
    "map": ("reading the map", "reading the image", "computing features", "placing on the map"),
}


def is_transient(exc: BaseException) -> bool:
    """Whether a job that raised ``exc`` may succeed when run again unchanged.

    Out of memory, operating-system and I/O failures, time-outs and a killed worker are transient;
    semlab's own errors (bad parameters, unreadable files, a workspace without a model) and other
    exceptions (a bug: same input, same failure) are not.
    """
    if isinstance(exc, SemlabError):
        return False
    if isinstance(exc, MemoryError | OSError | TimeoutError):
        return True
    text = f"{type(exc).__name__}: {exc}".lower()
    return any(k in text for k in ("out of memory", "timed out", "timeout", "brokenprocesspool", "worker"))


def find_model(workspace_path: Path, model: str | Path | None) -> Path | None:
    """The trained run folder to predict with: ``model`` if given, else the newest
    ``<workspace>/runs/*/`` holding a ``config.json`` (what ``semlab train`` writes), else ``None``."""
    from semlab.serve._models import list_runs

    if model is not None:
        p = Path(model)
        if not p.is_dir():
            raise WorkspaceError(f"--model {model}: no such run folder; give the folder `semlab train` wrote")
        return p.resolve()
    runs = list_runs(workspace_path)
    return Path(runs[0]["path"]) if runs else None


class Analyses:
    """Runs one task on one stored image with the options of its upload; holds loaded predictors.

    Parameters
    ----------
    workspace : semlab.dataset.Workspace
    model : path, optional
        Default trained run folder for ``predict`` (else the newest under ``<workspace>/runs/``);
        an upload may choose another run of the workspace.
    segment_method : str
        Default method of segment and quantify (``"hybrid"``); an upload may choose another.
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
        self.given_model = Path(model).resolve() if model is not None else None
        self.model = find_model(Path(workspace.path), model)
        self.segment_method = segment_method
        self._predictors: dict[Path, Any] = {}
        self._cache: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._local = threading.local()  # the running job's progress report (one job per worker thread)

    def _stage(self, stage: str, done: int = 0, total: int = 1) -> None:
        """Report that the job of this thread is at ``stage``, ``done`` of ``total`` through it."""
        report = getattr(self._local, "report", None)
        if report is not None:
            report(stage, int(done), int(total))

    def _progress(self, stage: str) -> Any:
        """A ``progress(done, total)`` callback for a library function, reported as ``stage``."""
        return lambda done, total: self._stage(stage, done, total)

    def _refresh_model(self) -> Path | None:
        """Look for a run trained since the server started (only when none was found or given)."""
        self.model = find_model(Path(self.ws.path), None)
        return self.model

    def read(self, image_hash: str, *, crop: bool = True) -> Any:
        from semlab.serve import _images

        return _images.read(self.ws, self.store, image_hash, crop=crop)

    # -- what can run ----------------------------------------------------------------------

    def runs(self) -> list[dict[str, Any]]:
        """Trained prediction runs, newest first (the server's ``--model`` among them)."""
        from semlab.serve._models import list_runs

        return list_runs(Path(self.ws.path), extra=self.given_model)

    def default_model(self) -> Path | None:
        """The run a prediction uses when the upload chose none."""
        if self.given_model is not None:
            return self.given_model
        return self._refresh_model()

    def methods(self) -> list[str]:
        """Segmentation methods an upload may choose: the classic ones, trained segmenters, the default."""
        from semlab.segment import CLASSIC_METHODS
        from semlab.serve._models import list_segmenters

        out = list(CLASSIC_METHODS) + [d["method"] for d in list_segmenters(Path(self.ws.path))]
        return out if self.segment_method in out else [*out, self.segment_method]

    def _method_object(self, method: str) -> Any:
        from semlab.segment import CLASSIC_METHODS
        from semlab.serve._models import MODEL_PREFIX, list_segmenters

        if method in CLASSIC_METHODS:
            return method
        if method.startswith(MODEL_PREFIX):
            for d in list_segmenters(Path(self.ws.path)):
                if d["method"] == method:
                    key = f"segmenter:{d['path']}"
                    if key not in self._cache:
                        from semlab.segment import load_segmenter

                        self._cache[key] = load_segmenter(d["path"])
                    return self._cache[key]
            raise WorkspaceError(f"method {method!r}: the segmenter folder is gone; choose another method")
        return method  # the server's own default (a model folder given to create_app)

    def check_options(self, options: dict[str, Any], tasks: list[str]) -> dict[str, Any]:
        """The options an upload stores: segment ``method``, ``foreground``, ``phase``; the
        prediction ``model`` (the default run's name when none was chosen, so results say which).

        Raises
        ------
        ParameterError, WorkspaceError
            An unknown method, foreground or model (one line naming the choices).
        """
        from semlab.serve._models import resolve_run
        from semlab.serve._segjob import SegmentOptions

        seg = SegmentOptions.from_dict(options, default_method=self.segment_method)
        seg.check(self.methods())
        out: dict[str, Any] = {"method": seg.method, "foreground": seg.foreground, "phase": seg.phase}
        if "predict" in tasks or options.get("model"):
            runs = self.runs()
            chosen = resolve_run(runs, options.get("model") or None, self.default_model())
            if chosen is not None:
                out["model"] = next((d["name"] for d in runs if d["path"] == str(chosen)), str(chosen))
        return out

    def capabilities(self) -> dict[str, dict[str, Any]]:
        """For each task: ``available`` and, when not, ``reason`` (what to do); the choices an upload has."""
        from semlab.serve._models import FOREGROUNDS

        out: dict[str, dict[str, Any]] = {
            "segment": {
                "available": True,
                "method": self.segment_method,
                "methods": self.methods(),
                "foregrounds": list(FOREGROUNDS),
            },  # fmt: skip
            "quantify": {"available": True, "phase": "the phase segment measured (chosen per upload)"},
        }
        runs = self.runs()
        default = self.default_model()
        if default is None:
            out["predict"] = {
                "available": False,
                "reason": f"no trained model in this workspace; run `semlab embed {self.ws.path}` and "
                f"`semlab train {self.ws.path} --target COLUMN`, or start the server with --model RUN_DIR",
            }
        else:
            name = next((d["name"] for d in runs if d["path"] == str(default)), str(default))
            out["predict"] = {"available": True, "model": str(default), "default": name, "models": runs}
        if not (self._map_folder() / "config.json").is_file():
            out["map"] = {
                "available": False,
                "reason": f"no map in this workspace; run `semlab embed {self.ws.path}` and `semlab map {self.ws.path}`",
            }
        else:
            out["map"] = {"available": True}
        return out

    # -- running ---------------------------------------------------------------------------

    def run(
        self,
        task: str,
        image_hash: str,
        options: dict[str, Any] | None = None,
        *,
        progress: Any = None,
    ) -> tuple[dict[str, Any], str | None]:
        """(result dict, relative path of a result file or ``None``) of one task with the upload's options.

        ``progress(stage, done, total)``, when given, is called as the job moves through its
        :data:`STAGES` (and through a stage's items, where the library reports them).
        """
        self._local.report = progress
        try:
            return self._run(task, image_hash, options)
        finally:
            self._local.report = None

    def _run(
        self, task: str, image_hash: str, options: dict[str, Any] | None
    ) -> tuple[dict[str, Any], str | None]:
        caps = self.capabilities()
        if task in caps and not caps[task]["available"]:
            raise WorkspaceError(caps[task]["reason"])
        options = dict(options or {})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # colour→grey notes, NaN descriptors: results say so
            if task == "segment":
                return self.segment(image_hash, options)
            if task == "quantify":
                return self.quantify(image_hash, options)
            if task == "predict":
                return self.predict(image_hash, options.get("model")), None
            if task == "map":
                return self.place(image_hash), None
        raise WorkspaceError(f"unknown task {task!r}")

    def _segmentation(self, image_hash: str, options: dict[str, Any]) -> tuple[Any, Any, Path, Path]:
        """(whole micrograph, :class:`WebSegmentation`, overlay path, labels path); segments once per
        image and options."""
        from semlab.serve import _segjob

        opts = _segjob.SegmentOptions.from_dict(options, default_method=self.segment_method)
        self._stage("reading the image")
        m = self.read(image_hash, crop=False)
        bar = m.metadata.get("databar_row")
        if bar is None and not self.store.image(image_hash):
            rec = self.ws.get(image_hash)
            bar = getattr(rec, "databar_row", None)
        name = f"{image_hash}-{opts.key()}"
        labels_path = self.dir / "labels" / f"{name}.tif"
        overlay = self.dir / "overlays" / f"{name}.png"
        self._stage("segmenting")
        seg = _segjob.load(labels_path, m.image.shape)
        if seg is None:
            seg = _segjob.segment(m.image, bar, opts, self._method_object(opts.method), m.pixel_size)
            _segjob.save(seg, labels_path)
        self._stage("drawing the overlay")
        if not overlay.is_file():
            _segjob.write_overlay(overlay, m.image, seg, m.pixel_size)
        return m, seg, overlay, labels_path

    def segment(self, image_hash: str, options: dict[str, Any]) -> tuple[dict[str, Any], str]:
        m, seg, overlay, labels_path = self._segmentation(image_hash, options)
        fractions = {k: v for k, v in seg.fractions().items() if v > 0 or k == seg.phase}
        result = {
            "method": options.get("method") or self.segment_method,
            "shape": list(seg.labels.shape),
            "fractions": fractions,
            "phase": seg.phase,
            "phase_fraction": seg.phase_fraction(),
            "measured_labels": list(seg.measured),
            "foreground": seg.foreground,
            "classes": {str(k): v for k, v in seg.classes.items()},
            "legend": [{"name": n, "rgb": list(c)} for n, c in seg.legend],
            "warnings": seg.warnings,
            "no_data": 255,
            "pixel_size_um": m.pixel_size,
            "labels_file": labels_path.relative_to(self.ws.path).as_posix(),
            "engine": seg.engine,
            "runtime": seg.runtime,
        }
        return result, overlay.relative_to(self.ws.path).as_posix()

    def quantify(self, image_hash: str, options: dict[str, Any]) -> tuple[dict[str, Any], str]:
        """Descriptors of the measured phase and the per-particle table (CSV, the job's file)."""
        from semlab.quantify import describe_2d
        from semlab.serve._particles import particle_csv

        m, seg, _, labels_path = self._segmentation(image_hash, options)
        self._stage("measuring")
        lab = seg.micrograph_labels()
        d = describe_2d(lab, pixel_size=m.pixel_size, phase=list(seg.measured))
        csv_path = labels_path.with_name(labels_path.stem + "-particles.csv")
        self._stage("particle table")
        particles = particle_csv(lab, seg.measured, m.pixel_size, csv_path)
        result = {
            "segment_method": options.get("method") or self.segment_method,
            "phase": seg.phase,
            "measured_labels": list(seg.measured),
            "descriptors": d.to_dict(),
            "particles": particles,
            "warnings": seg.warnings,
        }
        return result, csv_path.relative_to(self.ws.path).as_posix()

    def _get_predictor(self, model: Path) -> Any:
        with self._lock:
            if model not in self._predictors:
                from semlab.learn import load_predictor

                self._predictors[model] = load_predictor(model)
            return self._predictors[model]

    def _model_info(self, model: Path, predictor: Any) -> dict[str, Any]:
        """Name, target, date, feature set and CV score of the run (``Predictor.info()`` when it has one)."""
        from semlab.serve._models import run_info

        info = run_info(model)
        extra = predictor.info() if callable(getattr(predictor, "info", None)) else None
        if isinstance(extra, dict):
            info["library"] = extra
            for key in ("feature_set", "created", "target"):
                if not info.get(key) and extra.get(key):
                    info[key] = extra[key]
        names = {d["path"]: d["name"] for d in self.runs()}
        info["name"] = names.get(str(model), info["name"])
        return info

    def predict(self, image_hash: str, model_name: str | None = None) -> dict[str, Any]:
        """The chosen run's prediction with its in-domain score and the image's quality flags."""
        from semlab.serve import _images
        from semlab.serve._models import resolve_run

        model = resolve_run(self.runs(), model_name, self.default_model())
        if model is None:
            raise WorkspaceError("no trained model to predict with; run `semlab train` first")
        self._stage("loading the model")
        predictor = self._get_predictor(model)
        self._stage("reading the image")
        m = self.read(image_hash, crop=False)
        self._stage("predicting")
        names = [m.metadata.get("original_name") or image_hash[:12]]
        with self._lock:  # one model, one forward pass at a time
            if _takes_progress(predictor.predict):
                table = predictor.predict([m], names=names, progress=self._progress("predicting"))
            else:
                table = predictor.predict([m], names=names)
        row = table.iloc[0].to_dict()
        probabilities = {k[2:]: float(v) for k, v in row.items() if str(k).startswith("p_")}
        prediction = row.get("prediction")
        if isinstance(prediction, np.generic):
            prediction = prediction.item()
        confidence = row.get("confidence")
        if "quality_flags" in row:  # the predictor checked the image it predicted
            flags, messages = str(row["quality_flags"] or ""), str(row.get("quality_messages") or "")
            quality = {
                "flags": [f for f in flags.split(";") if f],
                "messages": [x for x in messages.split(" | ") if x],
            }
        else:
            crop = self.read(image_hash, crop=True)
            quality = _images.quality(crop.image, crop.pixel_size)
        return {
            "task": getattr(predictor, "task", None),
            "target": getattr(predictor, "target", None),
            "prediction": prediction if isinstance(prediction, str) else float(prediction),
            "confidence": _number(confidence),
            "probabilities": probabilities,
            "model": str(model),
            "model_info": self._model_info(model, predictor),
            "domain": _domain(row),
            "quality": quality,
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

        self._stage("reading the map")
        folder = self._map_folder()
        cfg = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        table = load_features(self.ws, backbone=cfg.get("backbone"))
        fc = dict(table.config or {})
        pooled = None
        known = table.index["image_hash"].astype(str).to_numpy()
        if image_hash in set(known):  # a study image: its stored features
            pooled = np.asarray(table.features[known == image_hash], dtype=np.float32).mean(axis=0)
        else:
            self._stage("reading the image")
            m = self.read(image_hash, crop=True)
            patches, _ = prepare_patches(m, Preparation.from_dict(fc), key=image_hash)
            self._stage("computing features", 0, len(patches))
            with self._lock:
                bb = self._feature_backbone(table)
                feats = extract_features(
                    patches, backbone=bb, device="cpu", progress=self._progress("computing features")
                )
            pooled = np.asarray(feats, dtype=np.float32).mean(axis=0)
        self._stage("placing on the map")
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


def _takes_progress(fn: Any) -> bool:
    """Whether a callable accepts a ``progress`` keyword (a predictor of an older semlab may not)."""
    import inspect

    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return "progress" in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def _number(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if np.isfinite(v) else None


def _domain(row: dict[str, Any]) -> dict[str, Any]:
    """The in-domain columns of a prediction row (``domain_score``, ``in_domain``, threshold, flags)."""
    out: dict[str, Any] = {"available": "in_domain" in row or "domain_score" in row}
    if "domain_score" in row:
        out["score"] = _number(row["domain_score"])
    for key in ("domain_threshold", "threshold"):
        if key in row:
            out["threshold"] = _number(row[key])
    if "in_domain" in row:
        v = row["in_domain"]
        out["in_domain"] = None if v is None or (isinstance(v, float) and not np.isfinite(v)) else bool(v)
    for key in ("quality_flags", "quality_messages", "warning", "warnings"):
        if (
            key in row
            and row[key] not in (None, "")
            and not (isinstance(row[key], float) and np.isnan(row[key]))
        ):
            out[key] = row[key] if isinstance(row[key], str | list) else str(row[key])
    return out


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
        task = row["task"]
        stages = STAGES.get(task, ())

        def report(stage: str, done: int, total: int) -> None:
            step = stages.index(stage) if stage in stages else 0
            within = min(max(done / total, 0.0), 1.0) if total > 0 else 0.0
            fraction = (step + within) / len(stages) if stages else within
            self.store.set_progress(
                job_id,
                {"stage": stage, "done": done, "total": total, "step": step + 1, "steps": len(stages),
                 "fraction": round(fraction, 4)},
            )  # fmt: skip

        try:
            options = json.loads(row["options_json"] or "{}") if "options_json" in row.keys() else {}
            result, artifact = self.analyses.run(task, row["image_hash"], options, progress=report)
        except SemlabError as exc:
            self.store.finish(job_id, error=str(exc), transient=False)
        except Exception as exc:  # a bug or a library failure: keep serving, say what happened
            log.exception("job %s (%s) failed", job_id, task)
            self.store.finish(
                job_id, error=f"{task} failed: {type(exc).__name__}: {exc}", transient=is_transient(exc)
            )
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
