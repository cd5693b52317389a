# Public API of semlab.io: read by type checkers, and at import time by
# ``lazy_loader.attach_stub`` in ``__init__.py``, which loads each name from its module on
# first use.  Add a public name here (import + ``__all__``); tests/test_public_api.py
# checks that every name resolves and that ``__all__`` matches the imports.

from .databar import find_databar, locate_databar
from .files import list_images
from .limits import DEFAULT_MAX_DECODED_BYTES, check_decoded_size, max_decoded_bytes
from .micrograph import Micrograph, Volume
from .readers import IMAGE_SUFFIXES, read_micrograph, read_volume, write_micrograph
from .scalebar import ScaleBar, read_scale_bar

__all__ = [
    "DEFAULT_MAX_DECODED_BYTES",
    "IMAGE_SUFFIXES",
    "Micrograph",
    "ScaleBar",
    "Volume",
    "check_decoded_size",
    "find_databar",
    "list_images",
    "locate_databar",
    "max_decoded_bytes",
    "read_micrograph",
    "read_scale_bar",
    "read_volume",
    "write_micrograph",
]
