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

import lazy_loader as _lazy

# The public names and their modules are listed in __init__.pyi (also read by type checkers).
__getattr__, __dir__, __all__ = _lazy.attach_stub(__name__, __file__)
