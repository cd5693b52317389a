"""Hand-made per-image features (grey histogram + radial spectrum) without a CNN."""

from __future__ import annotations

import numpy as np
import pytest

from semlab.errors import WorkspaceError
from semlab.features import INTENSITY_FEATURES, intensity_features


def test_intensity_features_one_zscored_row_per_image(small_ws):
    table = intensity_features(small_ws, bins=16, spectrum_bins=8)
    n = len(small_ws)
    assert table.features.shape == (n, 16 + 8 + 2) and table.features.dtype == np.float32
    assert table.backbone == INTENSITY_FEATURES and table.weights_sha256 is None
    assert (table.index["patch"] == -1).all()
    assert list(table.index["image_hash"]) == list(small_ws.table()["hash"])
    # z-scored over the images: every varying column has mean 0 and standard deviation 1
    x = table.features.astype(np.float64)
    np.testing.assert_allclose(x.mean(axis=0), 0.0, atol=1e-5)
    varying = x.std(axis=0) > 0
    assert varying.sum() > 20
    np.testing.assert_allclose(x[:, varying].std(axis=0), 1.0, atol=1e-5)
    assert table.config["pixel_size"] == pytest.approx(small_ws.table()["pixel_size_um"].max())
    # reproducible, and a path works as well as a Workspace
    np.testing.assert_array_equal(intensity_features(small_ws.path, bins=16, spectrum_bins=8).features, x.astype(np.float32))


def test_intensity_features_follow_porosity(small_ws):
    """Pores are dark: the dark end of the histogram rises with porosity, and images of one
    burst count are each other's nearest neighbours (measured: 8 of 8 images)."""
    from scipy.stats import spearmanr

    table = intensity_features(small_ws)  # 32 histogram bins first
    rows = small_ws.table().set_index("hash").loc[table.index["image_hash"]]
    dark = table.features[:, 1:8].sum(axis=1)
    assert spearmanr(dark, rows["porosity"]).statistic > 0.8  # measured 1.0
    x = table.features.astype(np.float64)
    dist = ((x[:, None] - x[None]) ** 2).sum(axis=-1)
    np.fill_diagonal(dist, np.inf)
    burst = rows["burst_count"].to_numpy()
    assert (burst[dist.argmin(axis=1)] == burst).sum() >= 6  # chance: about 1 of 8


def test_intensity_features_of_an_empty_workspace_say_what_to_do(tmp_path):
    from semlab.dataset import Workspace

    ws = Workspace.init(tmp_path / "empty")
    with pytest.raises(WorkspaceError, match="no images; add some with `semlab add"):
        intensity_features(ws)
