"""semlab: process-structure-property analysis of scanning-electron micrographs.

``import semlab`` is deliberately light: it imports no NumPy-heavy stage and none of
torch, timm, umap, scikit-learn, matplotlib or FastAPI.  Import the stage you need::

    from semlab.io import read_micrograph
    from semlab.preprocess import crop_databar, equalize, sample_patches
"""

__version__ = "0.1.0"

from semlab.errors import SemlabError  # noqa: E402  (light: no third-party imports)

__all__ = ["SemlabError", "__version__"]
