"""FeatureTable: per-image means, selection, frames, validation (no torch needed)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from semlab.errors import ParameterError
from semlab.features import FeatureTable


def _table() -> FeatureTable:
    feats = np.arange(12, dtype=np.float64).reshape(6, 2)  # converted to float32
    index = pd.DataFrame(
        {
            "image_hash": ["b", "b", "a", "a", "a", "c"],
            "patch": [0, 1, 0, 1, 2, 0],
            "row": [0, 5, 1, 2, 3, 4],
            "col": [0, 0, 0, 0, 0, 0],
            "size_px": [8] * 6,
        }
    )
    return FeatureTable(feats, index, "x", "random init (pretrained=False)", None, {"patch_size": 8})


def test_per_image_means_keep_first_appearance_order():
    t = _table()
    assert t.features.dtype == np.float32 and t.n_features == 2 and len(t) == 6
    per = t.per_image()
    assert per.index["image_hash"].tolist() == ["b", "a", "c"] == t.image_hashes
    np.testing.assert_allclose(per.features, [[1, 2], [6, 7], [10, 11]])
    assert (per.index[["patch", "row", "col", "size_px"]].to_numpy() == -1).all()
    assert per.per_image() is per and per.config == t.config


def test_select_and_frame():
    t = _table()
    s = t.select(["c", "b", "zz"])
    assert s.index["image_hash"].tolist() == ["c", "b", "b"]
    np.testing.assert_array_equal(s.features, [[10, 11], [0, 1], [2, 3]])
    frame = t.to_frame()
    assert list(frame.columns) == ["image_hash", "patch", "row", "col", "size_px", "f0", "f1"]
    assert frame["f1"].tolist() == [1, 3, 5, 7, 9, 11]
    d = t.to_dict()
    assert d["n_rows"] == 6 and d["n_images"] == 3 and d["n_features"] == 2


def test_validation():
    t = _table()
    with pytest.raises(ParameterError, match="match"):
        FeatureTable(t.features[:3], t.index, "x", "w", None, {})
    with pytest.raises(ParameterError, match="size_px"):
        FeatureTable(t.features, t.index.drop(columns="size_px"), "x", "w", None, {})
    with pytest.raises(ParameterError, match=r"\(n, d\)"):
        FeatureTable(t.features[0], t.index.iloc[:1], "x", "w", None, {})
