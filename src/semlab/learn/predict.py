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
            names = [_image_name(im, k) for k, im in enumerate(images)]
        if len(names) != len(images):
            raise ParameterError(f"{len(names)} names for {len(images)} images; give one name per image")
        rows = []
        for k, im in enumerate(images):
            patches = self.patches([im], names=[names[k]])[0]
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
