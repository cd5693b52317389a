"""Hand-made per-image features without a CNN: grey-value histogram and radial power spectrum."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np

from semlab.errors import WorkspaceError
from semlab.features.table import FeatureTable

if TYPE_CHECKING:
    from semlab.dataset import Workspace

__all__ = ["INTENSITY_FEATURES", "intensity_features"]

#: Backbone name of the tables :func:`intensity_features` makes.
INTENSITY_FEATURES = "grey-histogram+spectrum"


def _image_statistics(img: np.ndarray, bins: int, spectrum_bins: int) -> np.ndarray:
    """Histogram over [0, 1] (fractions), log10 mean power per radial frequency bin, mean and std."""
    hist = np.histogram(img, bins=bins, range=(0.0, 1.0))[0].astype(np.float64)
    hist /= max(hist.sum(), 1.0)
    f = np.abs(np.fft.rfft2(img - img.mean())) ** 2
    fy = np.fft.fftfreq(img.shape[0])[:, None]
    fx = np.fft.rfftfreq(img.shape[1])[None, :]
    r = np.sqrt(fx**2 + fy**2)
    edges = np.linspace(0.0, 0.5, spectrum_bins + 1)
    which = np.clip(np.digitize(r, edges) - 1, 0, spectrum_bins - 1)
    power = np.bincount(which.ravel(), weights=f.ravel(), minlength=spectrum_bins)
    count = np.bincount(which.ravel(), minlength=spectrum_bins)
    spec = np.log10(power / np.maximum(count, 1) + 1e-12)
    return np.concatenate([hist, spec, [img.mean(), img.std()]])


def intensity_features(
    workspace: Workspace | str | os.PathLike, *, bins: int = 32, spectrum_bins: int = 16
) -> FeatureTable:
    """Hand-made per-image features: grey-value histogram and radial power spectrum, z-scored.

    A stand-in for CNN features (:func:`embed_workspace`) that needs neither torch nor
    timm, e.g. to map a workspace (:func:`semlab.maps.build_map` with ``features=``):
    porosity shifts the histogram, pore size the spectrum.  Each image is cropped (data
    bar), scaled to [0, 1] (min–max) and resampled to the workspace's coarsest pixel size
    first (images of unknown pixel size are used as they are).

    Parameters
    ----------
    workspace : Workspace or path
        A workspace with at least one image.
    bins : int, default 32
        Histogram bins over [0, 1].
    spectrum_bins : int, default 16
        Radial frequency bins (log10 mean power, up to the Nyquist frequency).

    Returns
    -------
    FeatureTable
        One row per image (``patch = -1``) with ``bins + spectrum_bins + 2`` features
        (histogram, spectrum, mean and standard deviation of the grey values), each
        z-scored over the workspace's images (unitless); ``backbone`` is
        :data:`INTENSITY_FEATURES`.

    Raises
    ------
    WorkspaceError
        The workspace has no images.

    Examples
    --------
    >>> from semlab.features import intensity_features
    >>> table = intensity_features("my-study")  # doctest: +SKIP
    >>> table.features.shape  # doctest: +SKIP
    (24, 50)
    """
    import pandas as pd

    from semlab.dataset import Workspace
    from semlab.preprocess import Preparation, common_pixel_size, prepare_image, rescale_unit

    ws = workspace if isinstance(workspace, Workspace) else Workspace.open(workspace)
    table = ws.table()
    if len(table) == 0:
        raise WorkspaceError(
            f"{ws.path}: the workspace has no images; add some with `semlab add {ws.path}` first"
        )
    target = common_pixel_size(table["pixel_size_um"])
    recipe = Preparation(equalize="none", pixel_size=target)
    rows = []
    for h in table["hash"]:
        prepared = prepare_image(ws.read(h, crop=True), recipe)
        rows.append(_image_statistics(rescale_unit(prepared.image, mode="minmax"), bins, spectrum_bins))
    x = np.asarray(rows)
    sd = x.std(axis=0)
    x = (x - x.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    k = len(rows)
    index = pd.DataFrame(
        {
            "image_hash": pd.Series(table["hash"].tolist(), dtype="str"),
            "patch": np.full(k, -1, np.int64),
            "row": np.full(k, -1, np.int64),
            "col": np.full(k, -1, np.int64),
            "size_px": np.full(k, -1, np.int64),
        }
    )
    return FeatureTable(
        x.astype(np.float32),
        index,
        INTENSITY_FEATURES,
        "none (hand-made image statistics)",
        None,
        {"bins": bins, "spectrum_bins": spectrum_bins, "zscored": True, **recipe.to_dict()},
    )
