"""Fixtures of the learn tests: separable synthetic features and a small sintering series with real features."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


def blobs(
    n_samples: int = 12,
    n_classes: int = 3,
    images: int = 2,
    patches: int = 8,
    d: int = 32,
    sep: float = 3.0,
    seed: int = 0,
):
    """Separable features: class c has its mean shifted by ``sep`` along axis c; each sample has a small offset.

    Returns (x (n, d), y (n,), groups (n,), image ids (n,)).
    """
    rng = np.random.default_rng(seed)
    x, y, g, im = [], [], [], []
    for s in range(n_samples):
        c = s % n_classes
        centre = np.zeros(d)
        centre[c] = sep
        offset = rng.normal(0, 0.3, d)
        for i in range(images):
            for _ in range(patches):
                x.append(centre + offset + rng.normal(0, 1, d))
                y.append(c)
                g.append(f"s{s:02d}")
                im.append(f"s{s:02d}_{i}")
    return np.asarray(x, np.float32), np.asarray(y), np.asarray(g), np.asarray(im)


@pytest.fixture(scope="session")
def make_blobs():
    """The :func:`blobs` generator, for tests that need other sizes."""
    return blobs


@pytest.fixture(scope="session")
def separable():
    return blobs(sep=4.0)


@pytest.fixture(scope="session")
def series_ws(tmp_path_factory) -> Path:
    """A workspace of the quick synthetic sintering series (4 burst counts × 2 samples × 2 images, 256 px)
    embedded with the offline EfficientNet-Lite0 (4 patches of 224 px per image)."""
    from semlab.data import sintering_series
    from semlab.dataset import Workspace
    from semlab.features import embed_workspace, max_patch_size
    from semlab.preprocess import Preparation

    root = tmp_path_factory.mktemp("learn-series")
    series = root / "series"
    sintering_series(series, shape=(256, 256), samples_per_level=2, images_per_sample=2, seed=0)
    ws = Workspace.init(root / "ws")
    ws.add(table=series / "descriptors.csv", images_dir=series)
    embed_workspace(
        ws,
        backbone="efficientnet_lite0",
        preparation=Preparation(patch_size=min(224, max_patch_size(ws)), patches_per_image=4, seed=0),
    )
    return ws.path
