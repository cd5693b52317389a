"""The map step of the demo, and simple image-statistics features for workspaces without CNN features."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from semlab.errors import WorkspaceError

#: Name of the features :func:`intensity_features` makes (shown as the map's backbone).
INTENSITY_FEATURES = "grey-histogram+spectrum"


def intensity_features(workspace: Any, *, bins: int = 32, spectrum_bins: int = 16) -> Any:
    """Hand-made per-image features: grey-value histogram and radial power spectrum, z-scored.

    A stand-in for CNN features (:mod:`semlab.features`) when none are stored: porosity
    shifts the histogram, pore size the spectrum.  Each image is cropped (data bar),
    scaled to [0, 1] and resampled to the workspace's coarsest pixel size first.

    Parameters
    ----------
    workspace : Workspace or path
    bins : int, default 32
        Histogram bins over [0, 1].
    spectrum_bins : int, default 16
        Radial frequency bins (log power, up to the Nyquist frequency).

    Returns
    -------
    FeatureTable
        One row per image (``patch = -1``), ``backbone = "grey-histogram+spectrum"``;
        features are z-scored over the workspace's images.
    """
    import pandas as pd

    from semlab.features.table import FeatureTable
    from semlab.maps.mapdata import _open_workspace
    from semlab.preprocess import resample, rescale_unit

    ws = _open_workspace(workspace)
    table = ws.table()
    if len(table) == 0:
        raise WorkspaceError(
            f"{ws.path}: the workspace has no images; add some with `semlab add {ws.path}` first"
        )
    sizes = table["pixel_size_um"].dropna()
    target = float(sizes.max()) if len(sizes) else None
    rows = []
    for h, px in zip(table["hash"], table["pixel_size_um"], strict=True):
        img = rescale_unit(ws.read(h, crop=True).image, mode="minmax")
        if target is not None and px == px and px is not None and abs(px - target) > 1e-9 * target:
            img = resample(img, float(px), target)
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
        rows.append(np.concatenate([hist, spec, [img.mean(), img.std()]]))
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
        {"bins": bins, "spectrum_bins": spectrum_bins, "target_pixel_size_um": target, "zscored": True},
    )


def demo_step(
    workspace: Any,
    *,
    out_dir: str | os.PathLike,
    seed: int = 0,
    quick: bool = False,
    method: str | None = None,
    color_by: str = "burst_count",
) -> Path:
    """Build the demo workspace's map coloured by burst count and write ``out_dir/map.html``.

    Uses the stored CNN features (``semlab embed``) when there are any, else
    :func:`intensity_features` (with a warning).

    Parameters
    ----------
    workspace : Workspace or path
        The demo workspace.
    out_dir : str or Path
        Folder of the demo's outputs; ``map.html`` is written there.
    seed : int, default 0
        Seed of the embedding.
    quick : bool, default False
        PCA instead of UMAP: UMAP's first call in a process compiles numba code (about
        15 s on one free core), PCA takes a fraction of a second.
    method : {"umap", "pca", "tsne"}, optional
        Embedding method; default ``"pca"`` with ``quick``, else ``"umap"``.
    color_by : str, default "burst_count"
        Column coloured at start.

    Returns
    -------
    Path
        The standalone HTML file (opens from disk, no server).
    """
    from semlab.maps.mapdata import _open_workspace, build_map
    from semlab.maps.page import export_html

    ws = _open_workspace(workspace)
    try:
        from semlab.features import load_features
    except ImportError:
        load_features = None
    features = None
    if load_features is not None:
        try:
            features = load_features(ws)
        except WorkspaceError:
            features = None
    if features is None:
        warnings.warn(
            "no CNN features in the demo workspace (`semlab embed`); the map uses grey-histogram + spectrum "
            "features",
            stacklevel=2,
        )
        features = intensity_features(ws)
    method = method or ("pca" if quick else "umap")
    data = build_map(ws, method=method, color_by=color_by, seed=seed, features=features)
    return export_html(data, Path(out_dir) / "map.html")
