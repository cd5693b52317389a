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
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from semlab.errors import FileFormatError, ParameterError

__all__ = ["Predictor", "load_predictor", "prepare_image"]


def prepare_image(
    image: Any,
    *,
    pixel_size: float | None = None,
    metadata: dict[str, Any] | None = None,
    equalize_method: str = "clahe",
    target_pixel_size: float | None = None,
    crop: bool = True,
) -> np.ndarray:
    """Crop the data bar, equalize and resample one micrograph as for training.

    Parameters
    ----------
    image : (M, N) ndarray or Micrograph
        A Micrograph brings its own pixel size and metadata.  An image already cropped by
        a workspace (``metadata["crop_box"]`` set) is not cropped again.
    pixel_size : float, optional
        µm per pixel (for arrays).
    metadata : dict, optional
        For arrays: may give ``databar_row``.
    equalize_method : str
        ``clahe``, ``global`` or ``none`` (:func:`semlab.preprocess.equalize`).
    target_pixel_size : float, optional
        µm per pixel of the training images; the image is resampled to it when its own
        pixel size is known.
    crop : bool, default True
        Remove a data bar (metadata row, else detected).

    Returns
    -------
    (M', N') ndarray of float32
        Values in [0, 1].
    """
    from semlab.preprocess import equalize, locate_databar, resample

    if hasattr(image, "image") and hasattr(image, "pixel_size"):
        pixel_size = image.pixel_size if pixel_size is None else pixel_size
        metadata = dict(image.metadata or {})
        image = image.image
    a = np.asarray(image)
    if a.ndim == 3 and a.shape[-1] in (3, 4):
        a = a[..., :3].mean(axis=-1)
    if a.ndim != 2:
        raise ParameterError(f"image of shape {a.shape} is not a grey 2-D image")
    metadata = metadata or {}
    if crop and metadata.get("crop_box") is None:
        row, _ = locate_databar(a, metadata)
        if row is not None:
            a = a[:row]
    a = equalize(a, method=equalize_method)
    if (
        target_pixel_size is not None
        and pixel_size is not None
        and not np.isclose(pixel_size, target_pixel_size)
    ):
        a = resample(a, pixel_size, target_pixel_size)
    return np.clip(a, 0.0, 1.0).astype(np.float32)


def image_patches(
    image: np.ndarray, *, n: int, size: int, seed: int, image_hash: str | None = None, name: str = "image"
) -> np.ndarray:
    """``n`` random ``size``-pixel patches (uniform boxes, no flips) of a prepared image.

    Positions are seeded by ``seed`` and the image: its workspace hash when known (then the
    boxes are those of :func:`semlab.features.embed_workspace`), else a checksum of its
    pixels.  Images smaller than ``size`` are padded by reflection.
    """
    from semlab.preprocess import sample_patches

    if image.shape[0] < size or image.shape[1] < size:
        pr, pc = max(0, size - image.shape[0]), max(0, size - image.shape[1])
        image = np.pad(image, ((0, pr), (0, pc)), mode="reflect" if min(image.shape) > 1 else "edge")
    if image_hash:
        key = int(str(image_hash)[:16], 16)
    else:
        key = zlib.crc32(np.ascontiguousarray(image).tobytes())
    rng = np.random.default_rng([int(seed), key])
    return sample_patches(image, int(n), int(size), rng=rng, flips=False, rotations=False, normalize=False)


def _get(cfg: dict[str, Any], *keys: str, default: Any = None) -> Any:
    for k in keys:
        if cfg.get(k) is not None:
            return cfg[k]
    return default


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
                    seed=int(_get(run.get("feature_config") or {}, "backbone_seed", default=0)),
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

    def patches(self, images: Sequence[Any]) -> list[np.ndarray]:
        """The patches each image is predicted from: ``(n, size, size)`` float32 in [0, 1] each."""
        pre = self.preprocessing
        out = []
        for k, im in enumerate(images):
            prepared = prepare_image(
                im,
                equalize_method=str(_get(pre, "equalize", "equalize_method", default="clahe")),
                target_pixel_size=_get(pre, "target_pixel_size_um", "pixel_size_um", "target_pixel_size"),
            )
            out.append(
                image_patches(
                    prepared,
                    n=int(_get(pre, "patches_per_image", "n_patches", default=16)),
                    size=int(_get(pre, "patch_size", "patch_size_px", default=224)),
                    seed=int(_get(pre, "seed", default=0)),
                    name=f"image {k}",
                    image_hash=(getattr(im, "metadata", None) or {}).get("hash"),
                )
            )
        return out

    def predict(
        self,
        images: Sequence[Any],
        *,
        names: Sequence[str] | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> Any:
        """Predict each image's class (or value) from the mean over its patches.

        Parameters
        ----------
        images : list of Micrograph or (M, N) ndarray
            Micrographs carry their pixel size (resampled to the training pixel size) and
            data-bar row; arrays are used at their own scale.
        names : list of str, optional
            Default: each Micrograph's file name, else ``image 0`` ….
        progress : callable, optional
            ``progress(done, total)`` after each image.

        Returns
        -------
        pandas.DataFrame
            One row per image: ``image``, ``prediction`` (class label, or value in the
            target's unit), ``confidence`` (mean probability of the predicted class; NaN
            for regression), ``n_patches``, then ``p_<class>`` columns (classification).
        """
        import pandas as pd

        images = list(images)
        if names is None:
            names = [
                Path(str(getattr(im, "source", None))).name if getattr(im, "source", None) else f"image {k}"
                for k, im in enumerate(images)
            ]
        if len(names) != len(images):
            raise ParameterError(f"{len(names)} names for {len(images)} images; give one name per image")
        rows = []
        for k, im in enumerate(images):
            patches = self.patches([im])[0]
            prob = self._predict_patches(patches)
            mean = prob.mean(axis=0)
            if self.task == "classify":
                assert self.classes is not None
                c = int(np.argmax(mean))
                row = {
                    "image": names[k],
                    "prediction": self.classes[c],
                    "confidence": float(mean[c]),
                    "n_patches": int(len(patches)),
                }
                row.update({f"p_{name}": float(mean[i]) for i, name in enumerate(self.classes)})
            else:
                row = {
                    "image": names[k],
                    "prediction": float(mean),
                    "confidence": float("nan"),
                    "n_patches": int(len(patches)),
                }
            rows.append(row)
            if progress is not None:
                progress(k + 1, len(images))
        return pd.DataFrame(rows)

    def _predict_patches(self, patches: np.ndarray) -> np.ndarray:
        """Probabilities (n, C) or values (n,) of prepared patches."""
        if self.kind == "finetuned":
            from semlab.learn.finetune import predict_patches

            return predict_patches(self._model, patches, self.preprocessing)
        from semlab.features import extract_features
        from semlab.learn.train import _predict_module

        feats = extract_features(patches, backbone=self._backbone(), device="cpu")
        return _predict_module(self._model, feats, self.task)


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
