"""Embeddings: shapes, determinism with a seed, method choices, tiny inputs, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from semlab.errors import ParameterError
from semlab.maps import EmbeddingModel, embed, fit_embedding, pool_features


def _blobs(n_per: int = 20, d: int = 12, seed: int = 0, sep: float = 10.0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(2 * n_per, d))
    y = np.repeat([0, 1], n_per)
    x[y == 1] += sep / np.sqrt(d)
    return x.astype(np.float32), y


def _separated(coords: np.ndarray, y: np.ndarray) -> bool:
    """Every point is nearer its own cluster's centre than the other's."""
    c0, c1 = coords[y == 0].mean(0), coords[y == 1].mean(0)
    d0 = np.linalg.norm(coords - c0, axis=1)
    d1 = np.linalg.norm(coords - c1, axis=1)
    return bool(np.all((d0 < d1) == (y == 0)))


def test_pca_recovers_the_direction_of_largest_variance():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 6))
    x[:, 3] *= 10.0  # dominant axis
    x[:, 1] *= 4.0  # second
    c = embed(x, method="pca", seed=0)
    assert c.shape == (200, 2) and c.dtype == np.float32
    assert abs(np.corrcoef(c[:, 0], x[:, 3])[0, 1]) > 0.99
    assert abs(np.corrcoef(c[:, 1], x[:, 1])[0, 1]) > 0.95
    np.testing.assert_array_equal(c, embed(x, method="pca", seed=0))


@pytest.mark.slow
def test_umap_same_seed_same_coordinates_and_clusters_apart():
    x, y = _blobs()
    a = embed(x, method="umap", seed=3, n_neighbors=10, min_dist=0.2)
    b = embed(x, method="umap", seed=3, n_neighbors=10, min_dist=0.2)
    assert a.shape == (40, 2)
    np.testing.assert_array_equal(a, b)
    assert _separated(a, y)
    # UMAP parameters are passed through: fewer neighbours and another spread give another map.
    c, model = fit_embedding(x, method="umap", seed=3, n_neighbors=5, min_dist=0.8)
    assert model.method == "umap" and model.params["n_neighbors"] == 5 and model.params["min_dist"] == 0.8
    assert model.params["metric"] == "euclidean"
    assert not np.allclose(a, c)


def test_umap_with_fewer_points_than_neighbours_reduces_them():
    x, y = _blobs(n_per=4)
    with pytest.warns(UserWarning, match="n_neighbors=15"):
        c, model = fit_embedding(x, method="umap", seed=0)
    assert c.shape == (8, 2) and np.isfinite(c).all()
    assert model.method == "umap" and model.params["n_neighbors"] == 7


def test_tiny_inputs_fall_back_to_pca_with_a_warning():
    x = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [3.0, 1.0, 0.0]])
    with pytest.warns(UserWarning, match="PCA instead"):
        c, model = fit_embedding(x, method="umap")
    assert model.method == "pca" and model.requested == "umap"
    # PCA keeps distances of 3 points in a plane exactly.
    d_in = np.linalg.norm(x[:, None] - x[None], axis=-1)
    d_out = np.linalg.norm(c[:, None] - c[None], axis=-1)
    np.testing.assert_allclose(d_out, d_in, atol=1e-5)
    one = embed(x[:1], method="pca")
    assert one.shape == (1, 2)
    two = embed(x[:2], method="pca")
    assert np.linalg.norm(two[0] - two[1]) == pytest.approx(np.linalg.norm(x[0] - x[1]), rel=1e-6)


def test_tsne_is_deterministic_and_separates_clusters():
    x, y = _blobs(n_per=15)
    a = embed(x, method="tsne", seed=1, perplexity=8, max_iter=500)
    b = embed(x, method="tsne", seed=1, perplexity=8, max_iter=500)
    np.testing.assert_array_equal(a, b)
    assert _separated(a, y)


def test_models_place_their_own_training_points_where_they_are():
    x, _ = _blobs(n_per=10)
    c, model = fit_embedding(x, method="pca")
    assert isinstance(model, EmbeddingModel)
    np.testing.assert_allclose(model.transform(x), c, atol=1e-4)
    c, model = fit_embedding(x, method="tsne", seed=0, perplexity=5, max_iter=300)
    np.testing.assert_allclose(model.transform(x[3]), c[3:4], atol=1e-5)
    with pytest.raises(ParameterError, match="same backbone"):
        model.transform(np.zeros((1, 5)))


@pytest.mark.parametrize(
    ("features", "kwargs", "match"),
    [
        (np.zeros((5, 3)), {"method": "mds"}, "one of umap, pca, tsne"),
        (np.zeros(5), {"method": "pca"}, r"\(n, d\)"),
        (np.zeros((0, 3)), {"method": "pca"}, "no rows"),
        (np.array([[1.0, np.nan], [0.0, 1.0]]), {"method": "pca"}, "row 0 holds NaN"),
        (np.zeros((20, 3)), {"method": "umap", "n_neighbors": 1}, "n_neighbors=1"),
        (np.zeros((20, 3)), {"method": "pca", "seed": "x"}, "seed"),
    ],
)
def test_bad_input_gives_one_line_errors(features, kwargs, match):
    with pytest.raises(ParameterError, match=match) as info:
        embed(features, **kwargs)
    assert "\n" not in str(info.value)


def test_pool_features_means_per_group_in_order_of_appearance():
    x = np.arange(12, dtype=np.float32).reshape(6, 2)
    pooled, keys = pool_features(x, ["b", "a", "b", "c", "a", "b"])
    assert keys == ["b", "a", "c"]
    np.testing.assert_allclose(
        pooled, [[(0 + 4 + 10) / 3, (1 + 5 + 11) / 3], [(2 + 8) / 2, (3 + 9) / 2], [6, 7]]
    )
