"""Conditional generation of micrographs (ACWGAN-GP, conditional DDPM), conditioning, evaluation with descriptors.

>>> from semlab.generate import train_generator, load_generator, evaluate_generator

Conditioning
    :func:`fit_conditions`, :class:`ConditionSpec`, :class:`Condition` — categorical
    columns, continuous columns binned into quantiles (low/mid/high) or used directly.
Models (registry kind ``"generator"``)
    ``"acwgan"`` (:class:`ACWGANConfig`) and ``"ddpm"`` (:class:`DDPMConfig`).
Training and sampling
    :func:`train_generator` (arrays + condition table), :func:`train_from_workspace`,
    :func:`workspace_patches`, :func:`load_generator` → :class:`ConditionalGenerator`
    with ``.sample(condition, n, seed=, guidance=)``, :func:`save_grid`.
Evaluation
    :func:`evaluate_generator`, :func:`evaluate_on_workspace`, :func:`patch_descriptors`.

Nothing heavy is imported until a name is used (torch only inside the models and training).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Condition": "conditioning",
    "ConditionSpec": "conditioning",
    "fit_conditions": "conditioning",
    "parse_condition_args": "conditioning",
    "parse_condition_values": "conditioning",
    "ACWGANConfig": "models",
    "DDPMConfig": "models",
    "GENERATOR_MODELS": "train",
    "ConditionalGenerator": "train",
    "TrainResult": "train",
    "load_generator": "train",
    "save_grid": "train",
    "train_generator": "train",
    "train_from_workspace": "train",
    "workspace_patches": "train",
    "EvaluationReport": "evaluate",
    "evaluate_generator": "evaluate",
    "evaluate_on_workspace": "evaluate",
    "patch_descriptors": "evaluate",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"semlab.generate.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'semlab.generate' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
