"""2-D embeddings of feature vectors: UMAP, PCA and t-SNE, seeded, with a saved model for new points.

scikit-learn and umap-learn are imported inside the functions (umap-learn imports numba, whose
first call compiles for several seconds).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from semlab.errors import ParameterError

#: Embedding methods :func:`embed` knows.
METHODS = ("umap", "pca", "tsne")

#: UMAP defaults (umap-learn's own): neighbours, minimum distance in the embedding, input metric.
UMAP_DEFAULTS = {"n_neighbors": 15, "min_dist": 0.1, "metric": "euclidean"}
#: Metric names umap-learn accepts for numeric features (``umap.distances.named_distances``).
UMAP_METRICS = frozenset(
    "braycurtis canberra chebyshev correlation cosine dice euclidean hamming haversine hellinger jaccard "
    "kulsinski l1 l2 linf linfinity linfty ll_dirichlet mahalanobis manhattan matching minkowski "
    "rogerstanimoto russellrao seuclidean sokalmichener sokalsneath standardised_euclidean symmetric_kl "
    "taxicab yule".split()
)

_MIN_UMAP_POINTS = 5  # below this UMAP's graph is meaningless: PCA instead

#: UMAP first reduces features longer than this to this many principal components (``pca_dims``;
#: 0 keeps them).  Measured on 1280-d CNN-like features (``benchmarks/results/maps.json``,
#: ``embedding_benchmark``): at 20 000 points the same CPU time (35 s) and trustworthiness
#: (0.988) as UMAP on the raw features, with a 25x smaller input for the neighbour search.
UMAP_PCA_DIMS = 50
#: With more points than this, UMAP fits its graph on a seeded subsample of this many and places
#: the others with ``transform`` (``fit_sample``; 0 always fits all).  Measured at 100 000 points:
#: the full fit took 79 CPU-s with trustworthiness 0.988 and cluster purity 1.00, a 10 000-point
#: subsample + transform 48 CPU-s with 0.981 and 0.97, so maps up to 100 000 points are fitted
#: whole and only larger ones are subsampled (their cost then stays near the 100 000-point fit's).
UMAP_FIT_SAMPLE = 100_000


@dataclass(frozen=True, eq=False)
class EmbeddingModel:
    """A fitted 2-D embedding that places new feature vectors on the same map.

    Attributes
    ----------
    method : str
        The method actually used (``"umap"``, ``"pca"`` or ``"tsne"``); it differs from the
        one asked for when too few points forced PCA.
    requested : str
        The method asked for.
    params : dict
        The parameters used (after adjustments such as a reduced ``n_neighbors``).
    seed : int
        Seed of the fit.
    n_features : int
        Length of the feature vectors it was fitted on.
    estimator : object
        PCA or UMAP estimator with ``transform``; ``None`` for t-SNE and tiny inputs.
    train_features, train_coords : ndarray
        (n, d) and (n, 2) float32: the fit's inputs and outputs (t-SNE places new points by
        distance-weighted k nearest neighbours among them).  A UMAP-after-PCA map reloaded by
        :func:`restore_embedding` holds the projected features (n, ``pca_dims``) here.
    """

    method: str
    requested: str
    params: dict[str, Any]
    seed: int
    n_features: int
    estimator: Any = field(repr=False)
    train_features: np.ndarray = field(repr=False)
    train_coords: np.ndarray = field(repr=False)

    def transform(self, features: np.ndarray) -> np.ndarray:
        """Coordinates of new feature vectors on this map.

        Parameters
        ----------
        features : (k, d) array_like
            Feature vectors of the same length as the fitted ones (one vector: shape (d,)).

        Returns
        -------
        (k, 2) ndarray of float32
            Map coordinates (unitless, in the frame of the fitted map).
        """
        x = _check_features(features, what="features", allow_1d=True)
        if x.shape[1] != self.n_features:
            raise ParameterError(
                f"features have {x.shape[1]} columns but the map was fitted on {self.n_features}; "
                "use features of the same backbone"
            )
        if self.estimator is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out = self.estimator.transform(x)
            return np.asarray(out, dtype=np.float32)[:, :2]
        return _knn_place(self.train_features, self.train_coords, x)

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible description (no arrays)."""
        return {
            "method": self.method,
            "requested": self.requested,
            "params": dict(self.params),
            "seed": self.seed,
            "n_features": self.n_features,
            "n_points": int(self.train_coords.shape[0]),
        }


def _check_features(features: Any, *, what: str = "features", allow_1d: bool = False) -> np.ndarray:
    try:
        x = np.asarray(features, dtype=np.float32)
    except (TypeError, ValueError):
        raise ParameterError(f"{what} must be a numeric (n, d) array") from None
    if allow_1d and x.ndim == 1:
        x = x[None]
    if x.ndim != 2:
        raise ParameterError(f"{what} has shape {x.shape}; give an (n, d) array, one row per image or patch")
    if x.shape[0] == 0:
        raise ParameterError(f"{what} has no rows; there is nothing to place on a map")
    if x.shape[1] == 0:
        raise ParameterError(f"{what} has no columns; give at least one feature per row")
    if not np.isfinite(x).all():
        bad = int(np.flatnonzero(~np.isfinite(x).all(axis=1))[0])
        raise ParameterError(f"{what} row {bad} holds NaN or infinity; recompute or drop that row")
    return x


def _knn_place(train_x: np.ndarray, train_y: np.ndarray, x: np.ndarray, k: int = 5) -> np.ndarray:
    """Inverse-distance weighted mean of the k nearest training points' coordinates."""
    k = max(1, min(k, train_x.shape[0]))
    d2 = ((x[:, None, :] - train_x[None, :, :]) ** 2).sum(-1)
    idx = np.argsort(d2, axis=1, kind="stable")[:, :k]
    dist = np.sqrt(np.take_along_axis(d2, idx, axis=1))
    w = 1.0 / np.maximum(dist, 1e-12)
    exact = dist < 1e-9
    w = np.where(exact.any(axis=1, keepdims=True), exact.astype(np.float64), w)
    w /= w.sum(axis=1, keepdims=True)
    return (w[:, :, None] * train_y[idx]).sum(axis=1).astype(np.float32)


def _tiny(x: np.ndarray) -> np.ndarray:
    """Coordinates for fewer than 3 points: the first principal axis, or the origin."""
    n = x.shape[0]
    out = np.zeros((n, 2), np.float32)
    if n == 2:
        d = float(np.linalg.norm(x[1] - x[0]))
        out[0, 0], out[1, 0] = -d / 2, d / 2
    return out


def fit_embedding(
    features: np.ndarray, *, method: str = "umap", seed: int = 0, **params: Any
) -> tuple[np.ndarray, EmbeddingModel]:
    """Fit a 2-D embedding; return the coordinates and the model that places new points.

    Same arguments as :func:`embed`.

    Returns
    -------
    coords : (n, 2) ndarray of float32
        Map coordinates (unitless).
    model : EmbeddingModel
        ``model.transform(new_features)`` places new points; saved without pickles by
        :func:`embedding_arrays` and :func:`restore_embedding`.
    """
    x = _check_features(features)
    if method not in METHODS:
        raise ParameterError(f"method={method!r} is not one of {', '.join(METHODS)}")
    try:
        seed = int(seed)
    except (TypeError, ValueError):
        raise ParameterError(f"seed={seed!r} must be an integer") from None
    n = x.shape[0]
    used = method
    params = dict(params)
    pca_dims = _nonnegative_int(params.pop("pca_dims", UMAP_PCA_DIMS), "pca_dims")
    fit_sample = _nonnegative_int(params.pop("fit_sample", UMAP_FIT_SAMPLE), "fit_sample")
    if method == "umap":
        unknown_ok = {**UMAP_DEFAULTS, **params}
        n_neighbors = int(unknown_ok["n_neighbors"])
        if n_neighbors < 2:
            raise ParameterError(f"n_neighbors={n_neighbors} must be at least 2")
        metric = unknown_ok["metric"]
        if not callable(metric) and metric not in UMAP_METRICS:
            raise ParameterError(
                f"metric={metric!r} is not a UMAP metric; use one of euclidean, cosine, correlation, "
                "manhattan, chebyshev, … (umap-learn's named distances)"
            )
        if n < _MIN_UMAP_POINTS:
            warnings.warn(
                f"UMAP needs at least {_MIN_UMAP_POINTS} points, got {n}; using PCA instead", stacklevel=2
            )
            used, params = "pca", {}
        else:
            if n_neighbors >= n:
                warnings.warn(
                    f"n_neighbors={n_neighbors} is not below the number of points ({n}); using {n - 1}",
                    stacklevel=2,
                )
                unknown_ok["n_neighbors"] = n - 1
            params = unknown_ok
    if method == "tsne" and n < 4:
        warnings.warn(f"t-SNE needs at least 4 points, got {n}; using PCA instead", stacklevel=2)
        used, params = "pca", {}

    estimator: Any = None
    if n < 3:
        coords = _tiny(x)
    elif used == "pca":
        from sklearn.decomposition import PCA

        k = min(2, n, x.shape[1])
        try:
            estimator = PCA(n_components=k, random_state=seed, **params)
        except TypeError as exc:
            raise ParameterError(f"PCA parameter error: {exc}") from None
        estimator.fit(x)
        estimator = _LinearMap.from_pca(estimator)
        coords = estimator.transform(x)
    elif used == "tsne":
        from sklearn.manifold import TSNE

        p = {"perplexity": min(30.0, (n - 1) / 3.0), "init": "pca", **params}
        if p["perplexity"] >= n:
            raise ParameterError(f"perplexity={p['perplexity']} must be below the number of points ({n})")
        params = p
        try:
            est = TSNE(n_components=2, random_state=seed, **p)
        except TypeError as exc:
            raise ParameterError(f"t-SNE parameter error: {exc}") from None
        coords = est.fit_transform(x).astype(np.float32)
    else:
        coords, estimator, p = _fit_umap(x, seed, params, pca_dims=pca_dims, fit_sample=fit_sample)
        params = {k: v for k, v in p.items() if k != "n_jobs"}
        params.update(pca_dims=pca_dims, fit_sample=fit_sample)
    model = EmbeddingModel(
        method=used,
        requested=method,
        params={
            k: (v if isinstance(v, int | float | str | bool) or v is None else str(v))
            for k, v in params.items()
        },
        seed=seed,
        n_features=x.shape[1],
        estimator=estimator,
        train_features=x,
        train_coords=coords,
    )
    return coords, model


def _nonnegative_int(value: Any, name: str) -> int:
    try:
        v = int(value)
    except (TypeError, ValueError):
        raise ParameterError(f"{name}={value!r} must be a whole number (0 turns it off)") from None
    if v < 0:
        raise ParameterError(f"{name}={v} must be 0 or more (0 turns it off)")
    return v


class _Projection:
    """Principal components as plain arrays: ``(x - mean) @ components.T`` (k columns)."""

    def __init__(self, components: np.ndarray, mean: np.ndarray) -> None:
        self.components = np.asarray(components, np.float32)
        self.mean = np.asarray(mean, np.float32)

    def transform(self, x: np.ndarray) -> np.ndarray:
        return ((np.asarray(x, np.float32) - self.mean) @ self.components.T).astype(np.float32)


class _UmapPipeline:
    """Optional PCA projection, then a fitted umap-learn model; ``transform`` places new points."""

    def __init__(self, projection: _Projection | None, umap_model: Any) -> None:
        self.projection = projection
        self.umap = umap_model

    def transform(self, x: np.ndarray) -> np.ndarray:
        z = self.projection.transform(x) if self.projection is not None else x
        return np.asarray(self.umap.transform(z), np.float32)


def _fit_umap(
    x: np.ndarray, seed: int, params: dict[str, Any], *, pca_dims: int, fit_sample: int
) -> tuple[np.ndarray, _UmapPipeline, dict[str, Any]]:
    """UMAP of ``x``: PCA to ``pca_dims`` first when the features are longer, and with more than
    ``fit_sample`` points the graph is fitted on a seeded subsample and the rest are placed with
    ``transform`` (the measured default for large maps; see :data:`UMAP_FIT_SAMPLE`)."""
    import umap
    from sklearn.decomposition import PCA

    n = x.shape[0]
    p = dict(params)
    p.setdefault("n_jobs", 1)  # a seed makes umap-learn single-threaded anyway
    if n <= 10:
        p.setdefault("init", "random")  # spectral initialisation fails on tiny graphs
    try:
        model = umap.UMAP(n_components=2, random_state=seed, **p)
    except TypeError as exc:
        raise ParameterError(f"UMAP parameter error: {exc}") from None
    sub = np.arange(n)
    if fit_sample and n > fit_sample:
        sub = np.sort(np.random.default_rng(seed).choice(n, fit_sample, replace=False))
    projection = None
    if pca_dims and x.shape[1] > pca_dims and sub.size > pca_dims:
        pca = PCA(n_components=pca_dims, random_state=seed).fit(x[sub])
        projection = _Projection(pca.components_, pca.mean_)
    z = projection.transform(x) if projection is not None else x
    coords = np.empty((n, 2), np.float32)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*n_jobs.*")
        warnings.filterwarnings("ignore", message=".*force_all_finite.*")
        warnings.filterwarnings("ignore", category=FutureWarning)
        try:
            coords[sub] = np.asarray(model.fit_transform(z[sub]), dtype=np.float32)
            if sub.size < n:
                rest = np.setdiff1d(np.arange(n), sub)
                coords[rest] = np.asarray(model.transform(z[rest]), dtype=np.float32)
        except (ValueError, TypeError) as exc:
            msg = str(exc).strip().splitlines()[0][:150] if str(exc).strip() else type(exc).__name__
            raise ParameterError(
                f"UMAP failed on these features ({msg}); check --metric and --n-neighbors"
            ) from None
    return coords, _UmapPipeline(projection, model), p


class _LinearMap:
    """A fitted PCA as plain arrays: ``(x - mean) @ components.T / scale``, padded to 2 columns."""

    def __init__(self, components: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> None:
        self.components = np.asarray(components, np.float64)
        self.mean = np.asarray(mean, np.float64)
        self.scale = np.asarray(scale, np.float64)

    @classmethod
    def from_pca(cls, pca: Any) -> _LinearMap:
        scale = (
            np.sqrt(pca.explained_variance_) if getattr(pca, "whiten", False) else np.ones(pca.n_components_)
        )
        return cls(pca.components_, pca.mean_, scale)

    def transform(self, x: np.ndarray) -> np.ndarray:
        y = (np.asarray(x, np.float64) - self.mean) @ self.components.T / self.scale
        return np.pad(y, ((0, 0), (0, 2 - y.shape[1]))).astype(np.float32)

    def arrays(self) -> dict[str, np.ndarray]:
        return {"pca_components": self.components, "pca_mean": self.mean, "pca_scale": self.scale}


def embedding_arrays(model: EmbeddingModel) -> dict[str, np.ndarray]:
    """The arrays that, with ``model.to_dict()``, describe a fitted embedding (no pickles).

    A UMAP fitted after a PCA keeps the PCA and the *projected* training features (n × k,
    k = ``pca_dims``), which is all its refit needs: 20 MB instead of 512 MB for 100 000
    images of 1280 features at k = 50.
    """
    out = {"train_coords": model.train_coords}
    est = model.estimator
    if isinstance(est, _UmapPipeline) and est.projection is not None:
        out.update(
            umap_pca_components=est.projection.components,
            umap_pca_mean=est.projection.mean,
            train_projected=est.projection.transform(model.train_features),
        )
        return out
    out["train_features"] = model.train_features
    if isinstance(est, _LinearMap):
        out.update(est.arrays())
    return out


def restore_embedding(config: dict[str, Any], arrays: dict[str, np.ndarray]) -> EmbeddingModel:
    """An :class:`EmbeddingModel` from :func:`embedding_arrays` and ``to_dict()`` output.

    PCA comes back exactly from its arrays; UMAP is refitted on the saved training features
    with the saved seed and parameters (deterministic) and checked against the saved
    coordinates; if they differ (another umap-learn version), new points are placed by
    distance-weighted nearest neighbours instead, with a warning.
    """
    coords = np.asarray(arrays["train_coords"], np.float32)
    method, params, seed = str(config["method"]), dict(config.get("params") or {}), int(config["seed"])
    projection = None
    if "train_projected" in arrays:  # a UMAP after a PCA: refit on the projected features
        projection = _Projection(arrays["umap_pca_components"], arrays["umap_pca_mean"])
        x = np.asarray(arrays["train_projected"], np.float32)
    else:
        x = np.asarray(arrays["train_features"], np.float32)
    estimator: Any = None
    if "pca_components" in arrays:
        estimator = _LinearMap(arrays["pca_components"], arrays["pca_mean"], arrays["pca_scale"])
    elif method == "umap" and x.shape[0] >= 3:
        # Maps saved before PCA and subsampling existed were fitted on all raw features.
        params.setdefault("pca_dims", 0)
        params.setdefault("fit_sample", 0)
        # the same seeded subsample and graph as the original fit (its PCA is already applied)
        refit_params = {**params, "pca_dims": 0} if projection is not None else params
        refit, model = fit_embedding(x, method="umap", seed=seed, **refit_params)
        if np.allclose(refit, coords, atol=1e-3):
            estimator = _UmapPipeline(projection, model.estimator.umap)
        else:
            warnings.warn(
                "the saved UMAP map could not be refitted exactly (another umap-learn version?); new "
                "images are placed by their nearest neighbours on the map",
                stacklevel=2,
            )
            if projection is not None:
                estimator = _NearestPlacement(projection, x, coords)
    return EmbeddingModel(
        method=method,
        requested=str(config.get("requested", method)),
        params=params,
        seed=seed,
        n_features=int(config["n_features"]) if "n_features" in config else int(x.shape[1]),
        estimator=estimator,
        train_features=x,
        train_coords=coords,
    )


class _NearestPlacement:
    """New points placed by their nearest training points after the saved PCA projection."""

    def __init__(self, projection: _Projection, projected: np.ndarray, coords: np.ndarray) -> None:
        self.projection, self.projected, self.coords = projection, projected, coords

    def transform(self, x: np.ndarray) -> np.ndarray:
        return _knn_place(self.projected, self.coords, self.projection.transform(x))


def embed(features: np.ndarray, *, method: str = "umap", seed: int = 0, **params: Any) -> np.ndarray:
    """Place feature vectors on a 2-D map so that similar ones sit together.

    Parameters
    ----------
    features : (n, d) array_like
        One feature vector per image (or per patch).  Pool patch features per image first
        (:func:`pool_features`) for a map of images.
    method : {"umap", "pca", "tsne"}, default "umap"
        UMAP (umap-learn), principal components (scikit-learn) or t-SNE (scikit-learn).
    seed : int, default 0
        Seed of every random step: the same features and seed give the same coordinates.
    **params
        Passed to the method.  UMAP: ``n_neighbors`` (default 15), ``min_dist`` (0.1),
        ``metric`` ("euclidean"; e.g. "cosine"), ``pca_dims`` (default
        :data:`UMAP_PCA_DIMS`: longer features are first reduced to this many principal
        components; 0 keeps them), ``fit_sample`` (default :data:`UMAP_FIT_SAMPLE`: with more
        points UMAP is fitted on a seeded subsample of this size and places the others with
        ``transform``; 0 fits all) and any other ``umap.UMAP`` argument; t-SNE:
        ``perplexity`` (default min(30, (n − 1)/3)) and other ``sklearn.manifold.TSNE``
        arguments; PCA: ``sklearn.decomposition.PCA`` arguments.

    Returns
    -------
    (n, 2) ndarray of float32
        Map coordinates (unitless; only distances between points mean something).

    Notes
    -----
    With fewer points than ``n_neighbors`` UMAP uses ``n - 1`` neighbours, with fewer than 5
    points it falls back to PCA (both with a warning).  umap-learn's first call in a process
    compiles numba code, which takes several seconds.

    Examples
    --------
    >>> import numpy as np
    >>> from semlab.maps import embed
    >>> x = np.random.default_rng(0).normal(size=(50, 8))
    >>> embed(x, method="pca").shape
    (50, 2)
    """
    coords, _ = fit_embedding(features, method=method, seed=seed, **params)
    return coords


def pool_features(features: np.ndarray, groups: Any) -> tuple[np.ndarray, list[Any]]:
    """Mean feature vector per group (e.g. per image hash), groups in order of first appearance.

    Parameters
    ----------
    features : (n, d) array_like
        One row per patch.
    groups : (n,) sequence
        Group key of each row (image hash).

    Returns
    -------
    pooled : (g, d) ndarray of float32
        Mean of each group's rows.
    keys : list
        The group keys, in order of first appearance.
    """
    x = _check_features(features)
    keys_arr = list(groups)
    if len(keys_arr) != x.shape[0]:
        raise ParameterError(
            f"groups has {len(keys_arr)} entries but features {x.shape[0]} rows; give one per row"
        )
    order: dict[Any, int] = {}
    codes = np.empty(len(keys_arr), np.int64)
    for i, k in enumerate(keys_arr):
        codes[i] = order.setdefault(k, len(order))
    sums = np.zeros((len(order), x.shape[1]), np.float64)
    np.add.at(sums, codes, x)
    counts = np.bincount(codes, minlength=len(order)).astype(np.float64)
    return (sums / counts[:, None]).astype(np.float32), list(order)
