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


def _pca_umap(tmp_path):
    pytest.importorskip("umap")
    rng = np.random.default_rng(3)
    x = np.concatenate([rng.normal(0, 1, (25, 40)), rng.normal(4, 1, (25, 40))]).astype(np.float32)
    coords, model = fit_embedding(x, method="umap", seed=0, pca_dims=5)
    save_embedding(tmp_path / "m", model, hashes=[f"h{i}" for i in range(len(x))], coords=coords)
    return x, coords, model


def test_a_pca_umap_map_stores_the_projected_features_not_the_raw_ones(tmp_path):
    x, coords, model = _pca_umap(tmp_path)
    with np.load(tmp_path / "m" / "embedding.npz") as z:
        assert "train_features" not in z.files
        assert z["train_projected"].shape == (50, 5) and z["umap_pca_components"].shape == (5, 40)
    again = load_embedding(tmp_path / "m")
    assert again.n_features == 40
    new = x[:6] + 0.05
    np.testing.assert_allclose(again.transform(new), model.transform(new), atol=1e-4)


def test_a_map_that_cannot_be_refitted_places_by_neighbours_after_the_projection(tmp_path):
    import json

    from semlab._util import file_sha256

    x, coords, _ = _pca_umap(tmp_path)
    f = tmp_path / "m" / "embedding.npz"
    with np.load(f) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["train_coords"] = arrays["train_coords"] + 100.0  # no refit reproduces these
    with open(f, "wb") as fh:
        np.savez(fh, **arrays)
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    cfg["model_sha256"] = file_sha256(f)
    (tmp_path / "m" / "config.json").write_text(json.dumps(cfg))
    with pytest.warns(UserWarning, match="nearest neighbours"):
        again = load_embedding(tmp_path / "m")
    placed = again.transform(x[:3])  # a training point lands on (about) its own saved place
    np.testing.assert_allclose(placed, coords[:3] + 100.0, atol=0.5)


def test_place_on_map_loads_a_saved_map_once_until_it_changes(tmp_path, monkeypatch):
    from semlab.maps import mapdata

    x, coords, model = _pca_umap(tmp_path / "ws" / mapdata.MAPS_DIR)
    (tmp_path / "ws" / mapdata.MAPS_DIR / "m").rename(tmp_path / "ws" / mapdata.MAPS_DIR / "latest")
    calls = []
    real = mapdata.load_embedding
    monkeypatch.setattr(mapdata, "load_embedding", lambda folder: calls.append(folder) or real(folder))
    first = mapdata.place_on_map(tmp_path / "ws", x[:2])
    again = mapdata.place_on_map(tmp_path / "ws", x[:2])
    assert len(calls) == 1
    np.testing.assert_allclose(first, again)
    np.testing.assert_allclose(first, model.transform(x[:2]), atol=1e-4)
    coords1, model1 = fit_embedding(x, method="umap", seed=1, pca_dims=5)  # the map is rebuilt
    save_embedding(tmp_path / "ws" / mapdata.MAPS_DIR / "latest", model1, hashes=[f"h{i}" for i in range(50)],
                   coords=coords1)  # fmt: skip
    np.testing.assert_allclose(
        mapdata.place_on_map(tmp_path / "ws", x[:2]), model1.transform(x[:2]), atol=1e-4
    )
    assert len(calls) == 2
