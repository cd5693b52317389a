"""Synthetic microstructures with ground truth, for demos, tests and benchmarks.

>>> from semlab.data import render_sintered_film, sintering_series
"""

import lazy_loader as _lazy

# The public names and their modules are listed in __init__.pyi (also read by type checkers).
__getattr__, __dir__, __all__ = _lazy.attach_stub(__name__, __file__)
