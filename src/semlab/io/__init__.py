"""Reading SEM files with their vendor metadata (pixel size in µm).

>>> from semlab.io import read_micrograph, read_volume, write_micrograph
"""

from semlab.io.files import list_images
from semlab.io.micrograph import Micrograph, Volume
from semlab.io.readers import IMAGE_SUFFIXES, read_micrograph, read_volume, write_micrograph

__all__ = [
    "IMAGE_SUFFIXES",
    "Micrograph",
    "Volume",
    "list_images",
    "read_micrograph",
    "read_volume",
    "write_micrograph",
]
