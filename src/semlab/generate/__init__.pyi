# Public API of semlab.generate: read by type checkers, and at import time by
# ``lazy_loader.attach_stub`` in ``__init__.py``, which loads each name from its module on
# first use.  Add a public name here (import + ``__all__``); tests/test_public_api.py
# checks that every name resolves and that ``__all__`` matches the imports.

from .conditioning import (
    Condition,
    ConditionSpec,
    fit_conditions,
    parse_condition_args,
    parse_condition_values,
)
from .evaluate import EvaluationReport, evaluate_generator, evaluate_on_workspace, patch_descriptors
from .masks import (
    MaskComparison,
    MaskSet,
    evaluate_mask_generator,
    load_mask_set,
    mask_particles,
    sample_masks,
    train_mask_generator,
)
from .models import ACWGANConfig, DDPMConfig
from .train import (
    GENERATOR_MODELS,
    ConditionalGenerator,
    GeneratorConfig,
    GeneratorTrainResult,
    load_generator,
    save_grid,
    train_from_workspace,
    train_generator,
    workspace_patches,
)

__all__ = [
    "ACWGANConfig",
    "Condition",
    "ConditionSpec",
    "ConditionalGenerator",
    "GeneratorConfig",
    "DDPMConfig",
    "EvaluationReport",
    "GENERATOR_MODELS",
    "GeneratorTrainResult",
    "MaskComparison",
    "MaskSet",
    "evaluate_generator",
    "evaluate_mask_generator",
    "evaluate_on_workspace",
    "fit_conditions",
    "load_generator",
    "load_mask_set",
    "mask_particles",
    "parse_condition_args",
    "parse_condition_values",
    "patch_descriptors",
    "sample_masks",
    "save_grid",
    "train_from_workspace",
    "train_generator",
    "train_mask_generator",
    "workspace_patches",
]
