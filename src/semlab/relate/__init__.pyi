# Public API of semlab.relate: read by type checkers, and at import time by
# ``lazy_loader.attach_stub`` in ``__init__.py``, which loads each name from its module on
# first use.  Add a public name here (import + ``__all__``); tests/test_public_api.py
# checks that every name resolves and that ``__all__`` matches the imports.

from ._common import RelateWarning, Scores
from .explain import ShapValues, shap_values
from .fit import RelateFitOptions, RelationResult, fit_relation, search_features
from .formulas import FUNCTIONS, Formula, add_alpha, add_beta, apply_formulas, parse_formula
from .models import MODELS, PCAFeatures, RelationModel, pca_features
from .run import RelateConfig, RelateRun, load_model, predict_property, relate_table, save_run

__all__ = [
    "FUNCTIONS",
    "Formula",
    "MODELS",
    "PCAFeatures",
    "RelateConfig",
    "RelateFitOptions",
    "RelateRun",
    "RelateWarning",
    "RelationModel",
    "RelationResult",
    "Scores",
    "ShapValues",
    "add_alpha",
    "add_beta",
    "apply_formulas",
    "fit_relation",
    "load_model",
    "parse_formula",
    "pca_features",
    "predict_property",
    "relate_table",
    "save_run",
    "search_features",
    "shap_values",
]
