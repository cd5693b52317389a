"""Preprocessing of SEM micrographs: data-bar crop, equalization, resampling, patches, tiles.

The usual order is ``crop_databar`` → ``equalize`` → ``resample`` to a common pixel size →
``sample_patches`` (random crops for learning) or ``tile`` / ``untile`` (full coverage for
inference).  A :class:`Preparation` recipe names these steps once; :func:`prepare_image` and
:func:`prepare_patches` apply it, and every trained artifact stores its recipe.  Everything here works on NumPy arrays; only NumPy is imported with the
package, scikit-image and SciPy inside the functions that use them.

>>> from semlab.preprocess import crop_databar, equalize, resample, sample_patches
"""

from semlab.preprocess.batch import PatchSet, patches_from_files
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
from semlab.preprocess.recipe import (
    Preparation,
    PreparedImage,
    common_pixel_size,
    prepare_image,
    prepare_patches,
    prepared_shape,
)

__all__ = [
    "EQUALIZE_METHODS",
    "PatchSet",
    "Preparation",
    "PreparedImage",
    "TILE_BLENDS",
    "TileGrid",
    "common_pixel_size",
    "crop_databar",
    "equalize",
    "find_databar",
    "locate_databar",
    "patches_from_files",
    "prepare_image",
    "prepare_patches",
    "prepared_shape",
    "rescale_unit",
    "resample",
    "resample_shape",
    "sample_patch_boxes",
    "sample_patches",
    "tile",
    "unit_range",
    "untile",
]
