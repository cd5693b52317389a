# Public API of semlab.features: read by type checkers, and at import time by
# ``lazy_loader.attach_stub`` in ``__init__.py``, which loads each name from its module on
# first use.  Add a public name here (import + ``__all__``); tests/test_public_api.py
# checks that every name resolves and that ``__all__`` matches the imports.

from .backbones import BACKBONES, Backbone, BackboneConfig, available_backbones, create_backbone
from .embed import embed_workspace, load_features, max_patch_size
from .extract import extract_features
from .intensity import INTENSITY_FEATURES, intensity_features
from .runtime import RUNTIMES, current_runtime, use_runtime
from .sets import (
    DEFAULT_FEATURE_SET,
    FEATURE_SET_HELP,
    FEATURE_SETS,
    feature_set_config,
    feature_table,
    feature_width,
    patch_features,
)
from .table import INDEX_COLUMNS, FeatureTable

__all__ = [
    "BACKBONES",
    "Backbone",
    "BackboneConfig",
    "DEFAULT_FEATURE_SET",
    "FEATURE_SETS",
    "FEATURE_SET_HELP",
    "FeatureTable",
    "INDEX_COLUMNS",
    "INTENSITY_FEATURES",
    "RUNTIMES",
    "available_backbones",
    "create_backbone",
    "current_runtime",
    "embed_workspace",
    "extract_features",
    "feature_set_config",
    "feature_table",
    "feature_width",
    "intensity_features",
    "load_features",
    "max_patch_size",
    "patch_features",
    "use_runtime",
]
