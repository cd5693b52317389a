"""Heads and training on CNN features, sample-grouped splits, metrics, plots, fine-tuning, prediction.

>>> from semlab.learn import train_head, train_workspace, load_predictor  # doctest: +SKIP

* :func:`train_head` — arrays in (features, targets, sample ids), a head fitted with a
  sample-grouped split (or K folds), patch- and image-level metrics out;
  :func:`fit_head` fits one model (``mlp``, ``logreg``, ``svm``, ``pca-logreg``).
* :func:`make_splits` — train/validation/test grouped by sample; ``scheme="patch"`` is the
  leaky split of the paper, labelled as such.
* :func:`classification_metrics`, :func:`regression_metrics`, :func:`aggregate_by_image`.
* :func:`train_workspace` — ``semlab train``: a workspace's stored features → run folder.
* :func:`finetune`, :func:`finetune_workspace`, :func:`finetune_folder` — ``semlab finetune``.
* :func:`load_predictor` → :class:`Predictor` — ``semlab predict``.

Nothing heavy (torch, scikit-learn, matplotlib) is imported with the package.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "MODELS": "semlab.learn.train",
    "TASKS": "semlab.learn.train",
    "FittedHead": "semlab.learn.train",
    "TrainResult": "semlab.learn.train",
    "fit_head": "semlab.learn.train",
    "train_head": "semlab.learn.train",
    "SPLIT_SCHEMES": "semlab.learn.splits",
    "Split": "semlab.learn.splits",
    "make_splits": "semlab.learn.splits",
    "aggregate_by_image": "semlab.learn.metrics",
    "classification_metrics": "semlab.learn.metrics",
    "regression_metrics": "semlab.learn.metrics",
    "RunResult": "semlab.learn.run",
    "choose_task": "semlab.learn.run",
    "train_workspace": "semlab.learn.run",
    "write_run": "semlab.learn.run",
    "Predictor": "semlab.learn.predict",
    "load_predictor": "semlab.learn.predict",
    "prepare_image": "semlab.learn.predict",
    "finetune": "semlab.learn.finetune",
    "finetune_folder": "semlab.learn.finetune",
    "finetune_workspace": "semlab.learn.finetune",
    "MLPHeadConfig": "semlab.learn.heads",
    "LinearHeadConfig": "semlab.learn.heads",
    "FinetunedConfig": "semlab.learn.heads",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'semlab.learn' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
