"""CNN features of micrograph patches: timm backbones, batched extraction, a cache per workspace.

>>> from semlab.features import create_backbone, extract_features, embed_workspace, load_features
>>> table = embed_workspace("my-study", backbone="efficientnet_lite0")  # doctest: +SKIP
>>> table.per_image().features.shape  # doctest: +SKIP
(24, 1280)

Backbones are timm models by name (:data:`BACKBONES` lists the papers' choices with their
feature widths; any timm name works), registered in :mod:`semlab.registry` as kind
``"backbone"``.  Weights come from an explicit file, the offline EfficientNet-Lite0 package,
or timm's hub cache, and the source used is always reported.  Extraction is batched, on a
copy of the model with batch norms folded, channels-last, in exact fp32 by default, or in
bf16 where the CPU/GPU computes it natively (``precision="auto"``, faster, features within
cosine 0.999 of fp32; features then differ between machines).  Importing this package
loads neither torch nor timm; they are imported on first use.
Without torch at all, :func:`intensity_features` gives hand-made per-image features (grey-value
histogram and radial power spectrum), e.g. for a map.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from semlab.features.table import INDEX_COLUMNS, FeatureTable

if TYPE_CHECKING:
    from semlab.features.backbones import (
        BACKBONES,
        Backbone,
        BackboneConfig,
        available_backbones,
        create_backbone,
    )
    from semlab.features.embed import embed_workspace, load_features, max_patch_size
    from semlab.features.extract import extract_features
    from semlab.features.intensity import INTENSITY_FEATURES, intensity_features

__all__ = [
    "BACKBONES",
    "INDEX_COLUMNS",
    "INTENSITY_FEATURES",
    "Backbone",
    "BackboneConfig",
    "FeatureTable",
    "available_backbones",
    "create_backbone",
    "embed_workspace",
    "extract_features",
    "intensity_features",
    "load_features",
    "max_patch_size",
]

_LAZY = {
    "BACKBONES": "semlab.features.backbones",
    "Backbone": "semlab.features.backbones",
    "BackboneConfig": "semlab.features.backbones",
    "available_backbones": "semlab.features.backbones",
    "create_backbone": "semlab.features.backbones",
    "embed_workspace": "semlab.features.embed",
    "load_features": "semlab.features.embed",
    "max_patch_size": "semlab.features.embed",
    "extract_features": "semlab.features.extract",
    "INTENSITY_FEATURES": "semlab.features.intensity",
    "intensity_features": "semlab.features.intensity",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'semlab.features' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
