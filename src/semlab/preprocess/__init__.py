"""Preprocessing of SEM micrographs: data-bar crop, equalization, resampling, patches, tiles.

The usual order is ``crop_databar`` → ``equalize`` → ``resample`` to a common pixel size →
``sample_patches`` (random crops for learning) or ``tile`` / ``untile`` (full coverage for
inference).  Everything here works on NumPy arrays; only NumPy is imported with the
package, scikit-image and SciPy inside the functions that use them.

>>> from semlab.preprocess import crop_databar, equalize, resample, sample_patches
"""

from semlab.preprocess.databar import crop_databar, find_databar, locate_databar
from semlab.preprocess.intensity import EQUALIZE_METHODS, equalize, rescale_unit, unit_range
from semlab.preprocess.patches import (
    TILE_BLENDS,
    TileGrid,
    resample,
    resample_shape,
    sample_patch_boxes,
    sample_patches,
    tile,
    untile,
)

__all__ = [
    "EQUALIZE_METHODS",
    "TILE_BLENDS",
    "TileGrid",
    "crop_databar",
    "equalize",
    "find_databar",
    "locate_databar",
    "rescale_unit",
    "resample",
    "resample_shape",
    "sample_patch_boxes",
    "sample_patches",
    "tile",
    "unit_range",
    "untile",
]
