"""Prediction with a trained run: ``load_predictor(run_dir).predict(images)``.

The same code serves ``semlab predict``, the web app and Python.  A run folder from
``semlab train`` (a feature head) or ``semlab finetune`` (a fine-tuned classifier) records
its preprocessing in ``config.json``; new images go through exactly that: data-bar crop
(when the image still has one), equalization, resampling to the training pixel size (when
the image's pixel size is known), patches, backbone, head, and the mean of the patch
probabilities (or values) per image.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from semlab.errors import FileFormatError, ParameterError

__all__ = ["Predictor", "load_predictor"]


def _image_name(image: Any, k: int) -> str:
    """A Micrograph's original file name (workspace images), else its file's name, else ``image k``."""
    if isinstance(image, (str, os.PathLike)):
        return Path(image).name
    original = (getattr(image, "metadata", None) or {}).get("original_name")
    source = getattr(image, "source", None)
    return str(original or (Path(str(source)).name if source else f"image {k}"))


def _recipe(preprocessing: dict[str, Any]) -> Any:
    """The run's :class:`~semlab.preprocess.Preparation` (also from runs written before it existed)."""
    from semlab.preprocess import Preparation

    return Preparation.from_dict(preprocessing)


@dataclass(frozen=True, eq=False)
class Predictor:
    """A trained model ready for new images (see :func:`load_predictor`).

    Attributes
    ----------
    task : str
        ``classify`` or ``regress``.
    target : str
        The descriptor predicted, e.g. ``burst_count``.
    classes : list of str or None
        Class labels (classification).
    backbone : str
        timm name of the backbone.
    path : Path
        The run folder.
    kind : str
        ``"head"`` (features + head) or ``"finetuned"``.
    config : dict
        The run's ``config.json``.
    """

    task: str
    target: str
    classes: list[str] | None
    backbone: str
    path: Path
    kind: str
    config: dict[str, Any] = field(repr=False)
    _model: Any = field(repr=False)
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def preprocessing(self) -> dict[str, Any]:
        """The preprocessing recorded at training (equalization, pixel size, patch size, …)."""
        return dict(self.config.get("preprocessing") or {})

    def _backbone(self) -> Any:
        if "backbone" not in self._cache:
            from semlab.features import create_backbone

            run = self.config["extra"]["run"]
            label = str(run.get("weights") or "")
            if label.startswith("file "):
                bb = create_backbone(self.backbone, weights=label[5:])
            elif label.startswith("random"):
                bb = create_backbone(
                    self.backbone,
                    pretrained=False,
                    seed=int((run.get("feature_config") or {}).get("backbone_seed") or 0),
                )
            else:
                bb = create_backbone(self.backbone, pretrained=True)
            expected = run.get("weights_sha256")
            if expected and bb.weights_sha256 and bb.weights_sha256 != expected:
                raise FileFormatError(
                    f"{self.path}: the {self.backbone} weights found now ({bb.weights}) differ from those used in "
                    "training; supply the training weights"
                )
            self._cache["backbone"] = bb
        return self._cache["backbone"]

    @property
    def preparation(self) -> Any:
        """The :class:`~semlab.preprocess.Preparation` recipe of training, applied to new images."""
        return _recipe(self.preprocessing)

    def patches(self, images: Sequence[Any], *, names: Sequence[str] | None = None) -> list[np.ndarray]:
        """The patches each image is predicted from: ``(n, size, size)`` float32 in [0, 1] each.

        Raises
        ------
        ParameterError
            An image too far from the training pixel size or smaller than a patch, in one
            line naming the image.
        """
        from semlab.preprocess import prepare_patches

        recipe = self.preparation
        labels: list[str | None] = list(names) if names is not None else [None] * len(images)
        return [prepare_patches(im, recipe, name=n)[0] for im, n in zip(images, labels, strict=True)]

    def predict(
        self,
        images: Sequence[Any],
        *,
        names: Sequence[str] | None = None,
        progress: Callable[[int, int], None] | None = None,
        pixel_size: float | None = None,
        engine: Any = None,
        address: str | None = None,
    ) -> Any:
        """Predict each image's class (or value) from the mean over its patches.

        Parameters
        ----------
        images : list of Micrograph, (M, N) ndarray or path
            Micrographs carry their pixel size (resampled to the training pixel size) and
            data-bar row; arrays are used at their own scale; paths are read
            (:func:`semlab.io.read_micrograph`).
        names : list of str, optional
            Default: each Micrograph's file name, else ``image 0`` ….
        progress : callable, optional
            ``progress(done, total)`` after each image.
        pixel_size : float, optional
            µm per pixel of the images given as paths, overriding their files.
        engine : {"local", "ray"} or semlab.scale.Engine, optional
            Default ``"local"`` (or the engine of an enclosing :func:`semlab.scale.use_engine`).
            ``"ray"``: images given as paths are read and predicted on a Ray actor pool (the
            run loaded once per worker); the same rows come back in order.  An image that fails
            is named in a :class:`semlab.scale.ItemsFailed` (its ``result``: the other rows).
        address : str, optional
            Ray cluster to join (``"auto"``, ``"ray://host:port"``); default a local Ray instance.

        Returns
        -------
        pandas.DataFrame
            One row per image: ``image``, ``prediction`` (class label, or value in the
            target's unit), ``confidence`` (probability of the predicted class; NaN for
            regression), ``n_patches``, then ``p_<class>`` columns (classification: the mean
            patch probabilities, temperature-scaled by :attr:`temperature`), then
            ``domain_score`` (distance of the image's mean feature to its nearest training
            images, unitless), ``domain_threshold`` (the run's threshold), ``in_domain``
            (``domain_score <= domain_threshold``; ``None`` and NaN scores for runs without a
            domain model, e.g. fine-tuned ones), ``quality_flags`` (``;``-joined among
            ``blank``, ``saturated``, ``out_of_focus`` from
            :func:`semlab.preprocess.image_quality`; empty when fine) and
            ``quality_messages``.  Out-of-domain and flagged images still get a prediction:
            read it as an extrapolation.
        """
        import pandas as pd

        from semlab.scale import current_engine

        eng = current_engine(engine, address)
        images = list(images)
        if names is None:
            names = [_image_name(im, k) for k, im in enumerate(images)]
        if len(names) != len(images):
            raise ParameterError(f"{len(names)} names for {len(images)} images; give one name per image")
        if eng.kind == "ray":
            return self._predict_ray(images, names, progress, pixel_size, eng)
        images = [_read(im, pixel_size) for im in images]
        for k, im in enumerate(images):
            check_input(im, names[k])
        rows = []
        for k, im in enumerate(images):
            rows.append(self._predict_one(im, names[k]))
            if progress is not None:
                progress(k + 1, len(images))
        return pd.DataFrame(rows)

    def _predict_one(self, image: Any, name: str) -> dict[str, Any]:
        patches = self.patches([image], names=[name])[0]
        prob, feats = self._predict_patches(patches)
        row = self._row(name, prob, feats)
        row.update(_quality(image))
        return row

    def _predict_ray(
        self, images: list[Any], names: Sequence[str], progress: Any, pixel_size: float | None, eng: Any
    ) -> Any:
        """:meth:`predict` on a Ray actor pool: images given as paths, read by the workers."""
        import pandas as pd

        from semlab.scale import ItemsFailed, run_batches

        if not all(isinstance(im, (str, os.PathLike)) for im in images):
            raise ParameterError(
                "engine='ray' predicts images given as file paths (read by the workers); pass paths, "
                "not arrays or Micrographs"
            )
        items = [{"k": k, "name": str(n), "path": str(im), "pixel_size": pixel_size}
                 for k, (im, n) in enumerate(zip(images, names, strict=True))]  # fmt: skip
        found: dict[int, dict[str, Any]] = {}
        report = run_batches(items, _ray_predict, on_result=lambda it, row: found.__setitem__(it["k"], row),
                             setup=load_predictor, setup_args=(str(self.path),), engine=eng, progress=progress)  # fmt: skip
        table = pd.DataFrame([found[k] for k in sorted(found)])
        if report.failed:
            raise ItemsFailed(report.failed, report.n_done, table)
        return table

    def _row(self, name: str, prob: np.ndarray, feats: np.ndarray | None) -> dict[str, Any]:
        """One image's row: prediction, calibrated confidence and probabilities, domain score."""
        mean = prob.mean(axis=0)
        n = int(prob.shape[0])
        if self.task == "classify":
            assert self.classes is not None
            from semlab.learn.metrics import apply_temperature

            cal = apply_temperature(mean[None, :], self.temperature)[0]
            c = int(np.argmax(cal))
            row: dict[str, Any] = {
                "image": name,
                "prediction": self.classes[c],
                "confidence": float(cal[c]),
                "n_patches": n,
            }
            row.update({f"p_{label}": float(cal[i]) for i, label in enumerate(self.classes)})
        else:
            row = {"image": name, "prediction": float(mean), "confidence": float("nan"), "n_patches": n}
        dom = self.domain
        score = (
            float(dom.score(feats.mean(axis=0)[None, :])[0])
            if dom is not None and feats is not None
            else None
        )
        row["domain_score"] = float("nan") if score is None else score
        row["domain_threshold"] = float("nan") if dom is None else float(dom.threshold)
        row["in_domain"] = None if score is None else bool(score <= dom.threshold)
        return row

    def _predict_patches(self, patches: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Probabilities (n, C) or values (n,) of prepared patches, and their features (None for a
        fine-tuned model)."""
        if self.kind == "finetuned":
            from semlab.learn.finetune import predict_patches

            return predict_patches(self._model, patches, self.preprocessing), None
        from semlab.learn.train import _predict_module

        feats = self.features(patches)
        return _predict_module(self._model, feats, self.task), feats

    @property
    def feature_set(self) -> str:
        """The feature set the head was trained on (``"final"`` for runs before feature sets)."""
        return str(self._run.get("feature_set") or "final")

    @property
    def _run(self) -> dict[str, Any]:
        return dict((self.config.get("extra") or {}).get("run") or {})

    def features(self, patches: np.ndarray) -> np.ndarray:
        """The run's features ``(n, d)`` of prepared patches (feature-head runs)."""
        if self.feature_set != "final":
            from semlab import features as F

            bb = None if self.feature_set == "texture" else self._backbone()
            kw = {} if bb is None else {"backbone": bb, "device": "cpu"}
            return np.asarray(
                F.patch_features(patches, feature_set=self.feature_set, **kw),
                dtype=np.float32,
            )
        from semlab.features import extract_features

        return extract_features(patches, backbone=self._backbone(), device="cpu")

    @property
    def temperature(self) -> float:
        """Temperature applied to the image probabilities (fitted out of fold; 1.0 when the run has none)."""
        cal = self._run.get("calibration") or {}
        return float(cal.get("temperature") or 1.0)

    @property
    def domain(self) -> Any:
        """The run's :class:`~semlab.learn.domain.DomainModel`, or None (fine-tuned or older runs)."""
        if "domain" not in self._cache:
            from semlab.learn.domain import load_domain

            self._cache["domain"] = load_domain(self.path) if self.kind == "head" else None
        return self._cache["domain"]

    def info(self) -> dict[str, Any]:
        """Which model this is, for people and the web page (JSON-ready).

        Keys: ``name`` (run folder name), ``path``, ``kind``, ``target``, ``task``,
        ``classes``, ``model`` (head), ``created`` (UTC, ISO 8601), ``feature_set``,
        ``backbone``, ``cv_metric`` (``accuracy`` or ``r2``, image level, held out),
        ``cv_score``, ``cv_interval`` (95 %), ``temperature``, ``domain_threshold``,
        ``shortcut_warning`` (the training's shortcut message or None).
        """
        return run_info(self.path, self.config)


#: Pixel sizes (µm) an SEM image can have: 0.01 nm to 1 mm per pixel.
PIXEL_SIZE_RANGE_UM = (1e-5, 1e3)
#: Smallest image side (pixels) a prediction is made from.
MIN_IMAGE_SIDE = 8


def _read(image: Any, pixel_size: float | None) -> Any:
    """A path read as a Micrograph (``pixel_size`` overriding its file's); anything else as it is."""
    if not isinstance(image, (str, os.PathLike)):
        return image
    import warnings

    from semlab.io import read_micrograph

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # colour → grey notes
        return read_micrograph(image, pixel_size=pixel_size)


def _ray_predict(predictor: Predictor, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows of a batch of image files, on a Ray worker holding the loaded run."""
    rows = []
    for it in items:
        m = _read(it["path"], it["pixel_size"])
        check_input(m, it["name"])
        rows.append(predictor._predict_one(m, it["name"]))
    return rows


def check_input(image: Any, name: str) -> None:
    """Refuse, in one line, an image too small to predict from or with an impossible pixel size.

    Raises
    ------
    ParameterError
        A side under :data:`MIN_IMAGE_SIDE` pixels, or a pixel size outside
        :data:`PIXEL_SIZE_RANGE_UM` (µm).
    """
    arr = np.asarray(getattr(image, "image", image))
    if arr.ndim != 2 or min(arr.shape) < MIN_IMAGE_SIDE:
        raise ParameterError(
            f"{name}: image of shape {arr.shape} is too small to predict from; give an image of at least "
            f"{MIN_IMAGE_SIDE}×{MIN_IMAGE_SIDE} px (a 2-D micrograph)"
        )
    px = getattr(image, "pixel_size", None)
    lo, hi = PIXEL_SIZE_RANGE_UM
    if px is not None and not lo <= float(px) <= hi:
        raise ParameterError(
            f"{name}: pixel size {float(px):g} µm is outside what an SEM image can have ({lo:g}–{hi:g} µm per "
            "pixel); check --pixel-size (it is in µm per pixel) or the file's calibration"
        )


def _quality(image: Any) -> dict[str, Any]:
    """``quality_flags`` (``;``-joined among blank, saturated, out_of_focus; "" when fine) and
    ``quality_messages`` of an image before prediction (its data bar cut off when known)."""
    from semlab.preprocess.quality import image_quality

    data = getattr(image, "image", image)
    arr = np.asarray(data)
    row = (getattr(image, "metadata", None) or {}).get("databar_row")
    if isinstance(row, (int, np.integer)) and 1 <= int(row) < arr.shape[0]:
        arr = arr[: int(row)]
    try:
        q = image_quality(arr)
    except ParameterError as exc:
        return {"quality_flags": "unreadable", "quality_messages": str(exc)}
    return {"quality_flags": ";".join(q.flags), "quality_messages": " | ".join(q.messages)}


def run_info(path: str | os.PathLike, config: dict[str, Any]) -> dict[str, Any]:
    """:meth:`Predictor.info` of a run folder and its ``config.json`` (metrics read from ``metrics.json``)."""
    import json

    path = Path(path)
    run = dict((config.get("extra") or {}).get("run") or {})
    metrics: dict[str, Any] = {}
    if (path / "metrics.json").is_file():
        try:
            metrics = json.loads((path / "metrics.json").read_text())
        except (OSError, ValueError):
            metrics = {}
    u = metrics.get("uncertainty") or {}
    image = metrics.get("image") or {}
    metric = "accuracy" if run.get("task") == "classify" else "r2"
    interval = u.get("wilson_95") or u.get("bootstrap_95")
    return {
        "name": path.name,
        "path": str(path),
        "kind": config.get("kind"),
        "target": run.get("target"),
        "task": run.get("task"),
        "classes": run.get("classes"),
        "model": run.get("model"),
        "created": config.get("created"),
        "feature_set": run.get("feature_set") or ("final" if config.get("kind") == "head" else None),
        "backbone": run.get("backbone"),
        "cv_metric": metric,
        "cv_score": image.get(metric),
        "cv_interval": interval,
        "cv_folds": run.get("folds"),
        "split": run.get("split"),
        "temperature": (run.get("calibration") or {}).get("temperature"),
        "domain_threshold": (run.get("domain") or {}).get("threshold"),
        "shortcut_warning": (metrics.get("shortcut") or {}).get("message"),
    }


def load_predictor(run_dir: str | os.PathLike) -> Predictor:
    """Load a run folder written by ``semlab train`` / :func:`train_workspace` or ``semlab finetune``.

    Raises
    ------
    MissingFileError, FileFormatError
        No such folder, or not a semlab run (no ``config.json`` of a head or fine-tuned model).
    """
    from semlab.registry import load_artifact, read_artifact_config

    meta = read_artifact_config(run_dir)
    if meta["kind"] not in ("head", "finetuned") or "run" not in (meta.get("extra") or {}):
        raise FileFormatError(
            f"{run_dir}: holds a {meta['kind']} ({meta['name']}), not a run of `semlab train` or `semlab finetune`"
        )
    art = load_artifact(run_dir)
    run = meta["extra"]["run"]
    return Predictor(
        task=run["task"],
        target=run["target"],
        classes=run.get("classes"),
        backbone=run["backbone"],
        path=art.path,
        kind=meta["kind"],
        config=meta,
        _model=art.model,
    )
