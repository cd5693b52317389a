# Public API of semlab.learn: read by type checkers, and at import time by
# ``lazy_loader.attach_stub`` in ``__init__.py``, which loads each name from its module on
# first use.  Add a public name here (import + ``__all__``); tests/test_public_api.py
# checks that every name resolves and that ``__all__`` matches the imports.

from .domain import DomainModel, fit_domain, load_domain
from .finetune import FINETUNE_TRAINING, FinetuneConfig, finetune, finetune_folder, finetune_workspace
from .heads import FinetunedConfig, LinearHeadConfig, MLPHeadConfig
from .metrics import (
    aggregate_by_image,
    apply_temperature,
    calibration_report,
    classification_metrics,
    expected_calibration_error,
    fit_temperature,
    grouped_bootstrap_interval,
    regression_metrics,
    wilson_interval,
)
from .predict import Predictor, load_predictor
from .run import RunResult, choose_task, train_workspace, write_run
from .shortcut import SHORTCUT_MESSAGE, shortcut_verdict
from .splits import SPLIT_SCHEMES, Split, make_splits
from .train import MODELS, TASKS, FittedHead, HeadConfig, TrainResult, fit_head, train_head

__all__ = [
    "DomainModel",
    "SHORTCUT_MESSAGE",
    "apply_temperature",
    "calibration_report",
    "expected_calibration_error",
    "fit_domain",
    "fit_temperature",
    "load_domain",
    "shortcut_verdict",
    "FINETUNE_TRAINING",
    "FinetuneConfig",
    "FinetunedConfig",
    "FittedHead",
    "HeadConfig",
    "LinearHeadConfig",
    "MLPHeadConfig",
    "MODELS",
    "Predictor",
    "RunResult",
    "SPLIT_SCHEMES",
    "Split",
    "TASKS",
    "TrainResult",
    "aggregate_by_image",
    "choose_task",
    "classification_metrics",
    "finetune",
    "finetune_folder",
    "finetune_workspace",
    "fit_head",
    "grouped_bootstrap_interval",
    "load_predictor",
    "make_splits",
    "regression_metrics",
    "train_head",
    "train_workspace",
    "wilson_interval",
    "write_run",
]
