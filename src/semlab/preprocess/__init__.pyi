# Public API of semlab.preprocess: read by type checkers, and at import time by
# ``lazy_loader.attach_stub`` in ``__init__.py``, which loads each name from its module on
# first use.  Add a public name here (import + ``__all__``); tests/test_public_api.py
# checks that every name resolves and that ``__all__`` matches the imports.

from .batch import PatchSet, patches_from_files
from .databar import crop_databar, find_databar, locate_databar
from .intensity import EQUALIZE_METHODS, equalize, rescale_unit, unit_range
from .patches import (
    TILE_BLENDS,
    TileGrid,
    resample,
    resample_shape,
    sample_patch_boxes,
    sample_patches,
    tile,
    untile,
)
from .quality import (
    BLANK_CONTRAST,
    BLUR_LIMIT,
    QUALITY_FLAGS,
    SATURATED_FRACTION,
    ImageQuality,
    image_quality,
)
from .recipe import (
    SCALE_POLICIES,
    SCALE_STATES,
    Preparation,
    PreparedImage,
    common_pixel_size,
    prepare_image,
    prepare_patches,
    prepared_shape,
    scale_state,
)

__all__ = [
    "BLANK_CONTRAST",
    "BLUR_LIMIT",
    "EQUALIZE_METHODS",
    "ImageQuality",
    "PatchSet",
    "Preparation",
    "PreparedImage",
    "QUALITY_FLAGS",
    "SATURATED_FRACTION",
    "SCALE_POLICIES",
    "SCALE_STATES",
    "TILE_BLENDS",
    "TileGrid",
    "common_pixel_size",
    "crop_databar",
    "equalize",
    "find_databar",
    "image_quality",
    "locate_databar",
    "patches_from_files",
    "prepare_image",
    "prepare_patches",
    "prepared_shape",
    "resample",
    "resample_shape",
    "rescale_unit",
    "sample_patch_boxes",
    "sample_patches",
    "scale_state",
    "tile",
    "unit_range",
    "untile",
]
