"""Reading SEM files with their vendor metadata (pixel size in µm).

>>> from semlab.io import read_micrograph, read_volume, write_micrograph
"""

from semlab.io.databar import find_databar, locate_databar
from semlab.io.files import list_images
from semlab.io.micrograph import Micrograph, Volume
from semlab.io.readers import IMAGE_SUFFIXES, read_micrograph, read_volume, write_micrograph

__all__ = [
    "IMAGE_SUFFIXES",
    "Micrograph",
    "Volume",
    "find_databar",
    "list_images",
    "locate_databar",
    "read_micrograph",
    "read_volume",
    "write_micrograph",
]
