"""A saved map embedding holds arrays only: it reloads exactly and a planted pickle is never run."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from semlab.errors import WorkspaceError
from semlab.maps import fit_embedding, load_embedding, save_embedding


class _Bomb:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


@pytest.mark.parametrize("method", ["pca", "umap"])
def test_reload_places_new_points_like_the_fitted_model(tmp_path, method):
    if method == "umap":
        pytest.importorskip("umap")
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0, 1, (20, 6)), rng.normal(5, 1, (20, 6))]).astype(np.float32)
    coords, model = fit_embedding(x, method=method, seed=0)
    save_embedding(tmp_path / "m", model, hashes=[f"h{i}" for i in range(len(x))], coords=coords)
    assert not list((tmp_path / "m").glob("*.pkl"))
    again = load_embedding(tmp_path / "m")
    new = rng.normal(2.5, 1, (5, 6)).astype(np.float32)
    np.testing.assert_allclose(again.transform(new), model.transform(new), atol=1e-4)
    assert again.method == model.method and again.seed == 0


def test_a_planted_pickle_is_never_loaded(tmp_path):
    marker = tmp_path / "ran"
    folder = tmp_path / "latest"
    folder.mkdir()
    (folder / "embedding.pkl").write_bytes(pickle.dumps(_Bomb(marker)))
    (folder / "config.json").write_text('{"method": "pca", "seed": 0, "model_sha256": "x"}')
    with pytest.raises(WorkspaceError, match="build the map"):
        load_embedding(folder)
    # a file named like ours that holds a pickled object array is refused, not unpickled
    np.save(folder / "x.npy", np.array([_Bomb(marker)], dtype=object), allow_pickle=True)
    (folder / "x.npy").rename(folder / "embedding.npz")
    from semlab._util import file_sha256

    sha = file_sha256(folder / "embedding.npz")
    (folder / "config.json").write_text(f'{{"method": "pca", "seed": 0, "model_sha256": "{sha}"}}')
    with pytest.raises(WorkspaceError):
        load_embedding(folder)
    assert not marker.exists()
