"""The feature table: one row of backbone features per patch (or per image), with its index."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from semlab.errors import ParameterError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["INDEX_COLUMNS", "FeatureTable"]

#: Columns of :attr:`FeatureTable.index`, in order.
INDEX_COLUMNS = ("image_hash", "patch", "row", "col", "size_px")


@dataclass(frozen=True, eq=False)
class FeatureTable:
    """Backbone features of patches, keyed by image and patch.

    Attributes
    ----------
    features : (n, d) ndarray of float32
        One row per patch (or per image after :meth:`per_image`); ``d`` is the backbone's
        feature width (e.g. 1280 for ``efficientnet_lite0``).  Unitless activations.
    index : pandas.DataFrame
        ``n`` rows, columns ``image_hash`` (str, SHA-256 of the image file), ``patch``
        (int, patch number within its image; -1 for an image-level row), ``row``, ``col``
        (int, top-left corner of the patch box in pixels of the cropped, resampled image;
        -1 if n/a) and ``size_px`` (int, box side in those pixels; -1 if n/a).
    backbone : str
        timm model name, e.g. ``"efficientnet_lite0"``.
    weights : str
        Where the weights came from, for people (e.g. ``"file /x.pth"``,
        ``"random init (pretrained=False)"``).
    weights_sha256 : str or None
        SHA-256 (hex) of the weights file, or of the state dict when there is no file.
    config : dict
        Preprocessing and extraction settings (patch size in px, patches per image, seed,
        equalization, target pixel size in µm, model input size, mean, std, ...).
    cache : dict
        How the table was made (not part of its identity): ``computed`` and ``cached``
        image counts and the cache folder, when it came from :func:`embed_workspace`.
    """

    features: np.ndarray
    index: pd.DataFrame
    backbone: str
    weights: str
    weights_sha256: str | None
    config: dict[str, Any]
    cache: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        feats = np.asarray(self.features)
        if feats.ndim != 2:
            raise ParameterError(f"features have shape {feats.shape}; give an (n, d) array")
        if feats.dtype != np.float32:
            feats = feats.astype(np.float32)
        object.__setattr__(self, "features", feats)
        missing = [c for c in INDEX_COLUMNS if c not in self.index.columns]
        if missing:
            raise ParameterError(
                f"index lacks column(s) {', '.join(missing)}; it needs {', '.join(INDEX_COLUMNS)}"
            )
        if len(self.index) != feats.shape[0]:
            raise ParameterError(
                f"index has {len(self.index)} rows but features have {feats.shape[0]}; they must match"
            )

    def __len__(self) -> int:
        return int(self.features.shape[0])

    @property
    def n_features(self) -> int:
        """Feature width ``d``."""
        return int(self.features.shape[1])

    @property
    def image_hashes(self) -> list[str]:
        """Distinct image hashes in order of first appearance."""
        return list(dict.fromkeys(self.index["image_hash"].tolist()))

    def per_image(self) -> FeatureTable:
        """Mean of the patch features of each image (one row per image, ``patch = -1``).

        Images keep the order of their first appearance; ``row``, ``col`` and ``size_px``
        are -1.  A table that is already per image is returned as it is.
        """
        import pandas as pd

        if len(self) and (self.index["patch"].to_numpy() == -1).all() and self.index["image_hash"].is_unique:
            return self
        codes, uniques = pd.factorize(self.index["image_hash"], sort=False)
        k = len(uniques)
        sums = np.zeros((k, self.n_features), dtype=np.float64)
        np.add.at(sums, codes, self.features)
        counts = np.bincount(codes, minlength=k).astype(np.float64)
        means = (sums / np.maximum(counts, 1.0)[:, None]).astype(np.float32)
        index = pd.DataFrame(
            {
                "image_hash": pd.Series(list(uniques), dtype="str"),
                "patch": np.full(k, -1, dtype=np.int64),
                "row": np.full(k, -1, dtype=np.int64),
                "col": np.full(k, -1, dtype=np.int64),
                "size_px": np.full(k, -1, dtype=np.int64),
            }
        )
        return FeatureTable(
            means,
            index,
            self.backbone,
            self.weights,
            self.weights_sha256,
            dict(self.config),
            dict(self.cache),
        )

    def select(self, image_hashes: list[str]) -> FeatureTable:
        """The rows of the given images, in the order given (hashes not in the table are skipped)."""
        import pandas as pd

        order = {h: i for i, h in enumerate(image_hashes)}
        pos = self.index["image_hash"].map(order)
        keep = np.flatnonzero(pos.notna().to_numpy())
        keep = keep[np.argsort(pos.to_numpy()[keep], kind="stable")]
        index = self.index.iloc[keep].reset_index(drop=True)
        index["image_hash"] = pd.Series(index["image_hash"], dtype="str")
        return FeatureTable(
            self.features[keep], index, self.backbone, self.weights, self.weights_sha256, dict(self.config)
        )

    def to_frame(self) -> pd.DataFrame:
        """The index columns followed by ``f0`` … ``f{d-1}`` (float32)."""
        import pandas as pd

        feats = pd.DataFrame(self.features, columns=[f"f{i}" for i in range(self.n_features)])
        return pd.concat([self.index.reset_index(drop=True), feats], axis=1)

    def to_dict(self) -> dict[str, Any]:
        """Shape and provenance (no feature values), JSON-compatible."""
        return {
            "n_rows": len(self),
            "n_features": self.n_features,
            "n_images": len(self.image_hashes),
            "backbone": self.backbone,
            "weights": self.weights,
            "weights_sha256": self.weights_sha256,
            "config": dict(self.config),
            "cache": dict(self.cache),
        }
