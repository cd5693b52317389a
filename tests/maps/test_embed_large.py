"""UMAP's large-map path: PCA before UMAP and a subsample fit with ``transform`` for the rest."""

from __future__ import annotations

import numpy as np
import pytest

from semlab.errors import ParameterError
from semlab.maps import fit_embedding


def _clusters(n: int, dim: int = 80, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    label = rng.integers(0, 3, n)
    centres = rng.normal(0, 8, (3, dim))
    return (centres[label] + rng.normal(size=(n, dim))).astype(np.float32), label


@pytest.mark.slow
def test_subsample_fit_places_the_rest_with_their_clusters_and_is_seeded():
    x, label = _clusters(300)
    coords, model = fit_embedding(x, method="umap", seed=3, fit_sample=120, pca_dims=10)
    again, _ = fit_embedding(x, method="umap", seed=3, fit_sample=120, pca_dims=10)
    np.testing.assert_array_equal(coords, again)
    assert model.params["fit_sample"] == 120 and model.params["pca_dims"] == 10
    assert model.estimator.projection.components.shape == (10, 80)
    # Every point (fitted or transformed) is nearer its own cluster's centre on the map than any other's.
    centres = np.array([coords[label == k].mean(axis=0) for k in range(3)])
    nearest = np.argmin(((coords[:, None, :] - centres[None]) ** 2).sum(-1), axis=1)
    assert (nearest == label).mean() > 0.98
    # New points land in their own cluster.
    placed = model.transform(x[:20])
    near = np.argmin(((placed[:, None, :] - centres[None]) ** 2).sum(-1), axis=1)
    assert (near == label[:20]).all()


@pytest.mark.parametrize("kw", [{"fit_sample": -1}, {"pca_dims": "many"}])
def test_bad_large_map_parameters(kw):
    with pytest.raises(ParameterError, match=next(iter(kw))):
        fit_embedding(np.ones((20, 4)), method="umap", **kw)


def test_a_saved_pca_umap_map_reloads_exactly(tmp_path):
    """The saved parameters carry pca_dims/fit_sample, so the reload refits the same pipeline (no
    nearest-neighbour fallback warning) and places new points identically."""
    import warnings

    from semlab.maps import load_embedding, save_embedding

    pytest.importorskip("umap")
    x, _ = _clusters(40, dim=12, seed=1)
    coords, model = fit_embedding(x, method="umap", seed=0, pca_dims=4)
    save_embedding(tmp_path / "m", model, hashes=[f"h{i}" for i in range(len(x))], coords=coords)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = load_embedding(tmp_path / "m")
    assert again.params["pca_dims"] == 4 and again.estimator is not None
    new = x[:5] + 0.1
    np.testing.assert_allclose(again.transform(new), model.transform(new), atol=1e-4)
