"""Structure-property relations: regression with leave-one-out CV, feature-subset search, engineered features, SHAP.

>>> from semlab.relate import fit_relation, search_features, shap_values, save_run

Fit and validate
    :func:`fit_relation` (linear, ridge or gbr; LOOCV or K-fold; held-out test table; PCA
    of CNN features) → :class:`RelationResult`; :func:`search_features` ranks every subset of
    up to k features by LOOCV R² with adjusted R², AICc and BIC.
Engineered features
    :func:`add_alpha` (Bruggeman α = −ln τ / ln D), :func:`add_beta` (β = M / (|G|·φ)),
    :func:`apply_formulas` (safe ``"name = expression"`` over columns).
Explain and plot
    :func:`shap_values` (exact for linear models), :mod:`semlab.relate.plots` (parity,
    residuals, SHAP bar and beeswarm; matplotlib imported when called).
Save and predict
    :func:`save_run` (run folder), :func:`load_model`, :func:`predict_property`.

Tiny tables are the rule in this field: fits warn (:class:`RelateWarning`, one line each)
when features exceed rows/3, when a coefficient's sign flips between CV folds and when
features are near-collinear.  scikit-learn, shap and matplotlib are imported only when used.
"""

import lazy_loader as _lazy

# The public names and their modules are listed in __init__.pyi (also read by type checkers).
__getattr__, __dir__, __all__ = _lazy.attach_stub(__name__, __file__)
