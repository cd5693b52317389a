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

import lazy_loader as _lazy

# The public names and their modules are listed in __init__.pyi (also read by type checkers).
__getattr__, __dir__, __all__ = _lazy.attach_stub(__name__, __file__)
