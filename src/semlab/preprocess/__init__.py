"""Preprocessing of SEM micrographs: data-bar crop, equalization, resampling, patches, tiles.

The usual order is ``crop_databar`` → ``equalize`` → ``resample`` to a common pixel size →
``sample_patches`` (random crops for learning) or ``tile`` / ``untile`` (full coverage for
inference).  A :class:`Preparation` recipe names these steps once; :func:`prepare_image` and
:func:`prepare_patches` apply it, and every trained artifact stores its recipe.  Everything
here works on NumPy arrays.  Names load on first use (``lazy_loader``, listed in
``__init__.pyi``); scikit-image and SciPy are imported inside the functions that use them.

>>> from semlab.preprocess import crop_databar, equalize, resample, sample_patches
"""

import lazy_loader as _lazy

# The public names and their modules are listed in __init__.pyi (also read by type checkers).
__getattr__, __dir__, __all__ = _lazy.attach_stub(__name__, __file__)
