"""Reading SEM files with their vendor metadata (pixel size in µm).

>>> from semlab.io import read_micrograph, read_volume, write_micrograph
"""

import lazy_loader as _lazy

# The public names and their modules are listed in __init__.pyi (also read by type checkers).
__getattr__, __dir__, __all__ = _lazy.attach_stub(__name__, __file__)
