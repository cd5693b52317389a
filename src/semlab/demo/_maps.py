"""The demo's map step: the demo workspace's map coloured by burst count, as one HTML file."""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any


def map_step(
    workspace: Any,
    *,
    out_dir: str | os.PathLike,
    seed: int = 0,
    quick: bool = False,
    method: str | None = None,
    color_by: str = "burst_count",
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Build the demo workspace's map coloured by burst count and write ``out_dir/map.html``.

    Uses the stored CNN features (``semlab embed``) when there are any, else
    :func:`semlab.features.intensity_features` (with a warning).

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
    progress : callable, optional
        ``progress(done, total)`` while thumbnails are made.

    Returns
    -------
    Path
        The standalone HTML file (opens from disk, no server).
    """
    from semlab.dataset import Workspace
    from semlab.errors import WorkspaceError
    from semlab.features import intensity_features, load_features
    from semlab.maps import build_map, export_html

    ws = workspace if isinstance(workspace, Workspace) else Workspace.open(workspace)
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
    data = build_map(ws, method=method, color_by=color_by, seed=seed, features=features, progress=progress)
    return export_html(data, Path(out_dir) / "map.html")
