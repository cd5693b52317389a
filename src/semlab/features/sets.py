"""Named feature sets: what a patch is described by before a head learns from it.

=============  ==============================================================================
``final``      pooled final-layer embedding of the backbone (1280 for EfficientNet-Lite0)
``multiscale`` per feature stage of the backbone (timm ``feature_info``; Lite0: 5 stages of 16,
               24, 40, 112, 320 channels): spatial mean and std per channel and the Gram matrix
               (upper triangle) of the map projected on 16 fixed orthonormal channel directions;
               concatenated over stages (1704 for Lite0)
``texture``    classical, no CNN: LBP histograms, GLCM properties, Gabor energies (134)
``nuisance``   acquisition only, no CNN: grey-value statistics of the unequalized patch,
               sharpness, image size and pixel size (16) — for the shortcut check
=============  ==============================================================================

Features are not standardised here: the heads standardise them on each training fold.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from semlab.errors import ParameterError

if TYPE_CHECKING:
    from semlab.dataset import Workspace
    from semlab.features.backbones import Backbone
    from semlab.features.table import FeatureTable
    from semlab.preprocess import Preparation

__all__ = [
    "CNN_FEATURE_SETS",
    "DEFAULT_FEATURE_SET",
    "FEATURE_SETS",
    "FEATURE_SET_HELP",
    "feature_set_config",
    "feature_table",
    "feature_width",
    "patch_features",
]

#: Names of the feature sets, in the order the comparisons report them.
FEATURE_SETS = ("final", "multiscale", "texture", "nuisance")
#: Feature sets computed by a backbone (one forward pass gives both).
CNN_FEATURE_SETS = ("final", "multiscale")
#: The feature set :func:`feature_table` (and ``semlab train``) use when none is named: the best
#: on average over the synthetic series and the two real labelled SEM sets in
#: benchmarks/results/learn.json (grouped-CV image accuracy or R², same patches, splits and
#: logistic/ridge head, 3 fold deals; mean 0.641 against 0.635 for "texture" and 0.38 for
#: "final", mean rank 1.7 against 2.3 and 2.0; no set is best on every data set).
#: :func:`embed_workspace` and ``semlab embed`` default to "final" (as before); the same
#: forward pass caches "multiscale" too.
DEFAULT_FEATURE_SET = "multiscale"

#: One line per feature set, for help texts.
FEATURE_SET_HELP = {
    "final": "pooled final-layer embedding of the backbone (1280 features for efficientnet_lite0)",
    "multiscale": "mean, std and Gram statistics of each intermediate stage of the backbone, "
    "concatenated (1704 for efficientnet_lite0)",
    "texture": "classical texture, no CNN: LBP histograms, GLCM properties, Gabor energies (134)",
    "nuisance": "acquisition only, no CNN: grey-value statistics of the unequalized patch, sharpness, "
    "image size, pixel size (16); for the shortcut check",
}


def check_feature_set(feature_set: str | None) -> str:
    """The feature set's name (None: :data:`DEFAULT_FEATURE_SET`), or ParameterError."""
    if feature_set is None:
        return DEFAULT_FEATURE_SET
    if feature_set not in FEATURE_SETS:
        raise ParameterError(f"feature_set={feature_set!r} is not one of {', '.join(FEATURE_SETS)}")
    return str(feature_set)


def feature_set_config(feature_set: str) -> dict[str, Any]:
    """How a feature set is computed (recorded in :attr:`FeatureTable.config` as ``feature_config``)."""
    from semlab.features.extract import GRAM_CHANNELS, GRAM_SEED
    from semlab.features.texture import NUISANCE_NAMES, TEXTURE_CONFIG

    feature_set = check_feature_set(feature_set)
    if feature_set == "final":
        return {"pooling": "the backbone's own global pooling before its classifier"}
    if feature_set == "multiscale":
        return {
            "stages": "timm feature_info (one per reduction)",
            "statistics": "per channel spatial mean and std; Gram matrix upper triangle of the "
            "centred map projected on k = min(C, gram_channels) orthonormal directions",
            "gram_channels": GRAM_CHANNELS,
            "projection_seed": GRAM_SEED,
        }
    if feature_set == "texture":
        return dict(TEXTURE_CONFIG)
    return {"names": list(NUISANCE_NAMES), "equalize": "none (the patch's own grey values)"}


def feature_width(feature_set: str, backbone: Backbone | None = None) -> int:
    """Features per patch of a feature set (the CNN sets need the backbone)."""
    from semlab.features.extract import multiscale_width, stage_channels
    from semlab.features.texture import nuisance_width, texture_width

    feature_set = check_feature_set(feature_set)
    if feature_set == "texture":
        return texture_width()
    if feature_set == "nuisance":
        return nuisance_width()
    if backbone is None:
        raise ParameterError(f"feature_set={feature_set!r} needs a backbone to know its width")
    if feature_set == "final":
        return int(backbone.num_features)
    return multiscale_width(stage_channels(backbone))


def patch_features(
    patches: Any,
    *,
    feature_set: str,
    backbone: str | Backbone | None = None,
    pretrained: bool = True,
    weights: str | os.PathLike | None = None,
    batch_size: int = 32,
    device: str = "auto",
    precision: str = "fp32",
    image_shape: tuple[int, int] | None = None,
    pixel_size: float | None = None,
) -> np.ndarray:
    """Features of a feature set for grey patches: the same computation as :func:`embed_workspace`.

    Parameters
    ----------
    patches : (n, H, W) ndarray or list of 2-D arrays
        Grey patches in [0, 1], prepared by the run's recipe (for ``"nuisance"``: without
        equalization, ``Preparation(equalize="none")``).
    feature_set : {"final", "multiscale", "texture", "nuisance"}
        See :data:`FEATURE_SETS`; a run records the one it was trained on.
    backbone, pretrained, weights, batch_size, device, precision
        The backbone (default ``"efficientnet_lite0"``) and how it runs
        (:func:`extract_features`); unused by ``"texture"`` and ``"nuisance"``.
    image_shape : (int, int), optional
        ``"nuisance"`` only: height, width (px) of the image the patches come from.
    pixel_size : float, optional
        ``"nuisance"`` only: its pixel size, µm.

    Returns
    -------
    (n, d) ndarray of float32
        ``d`` = :func:`feature_width`.
    """
    from semlab.features.extract import _as_unit_patches, _run, get_backbone, resolve_precision
    from semlab.features.texture import nuisance_features, texture_features
    from semlab.training import resolve_device

    feature_set = check_feature_set(feature_set)
    a = _as_unit_patches(patches)
    if feature_set == "texture":
        return texture_features(a)
    if feature_set == "nuisance":
        return nuisance_features(a, image_shape=image_shape, pixel_size=pixel_size)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ParameterError(f"batch_size={batch_size!r} must be an integer >= 1")
    bb = get_backbone(backbone or "efficientnet_lite0", pretrained=pretrained, weights=weights)
    dev = resolve_device(device)
    out = _run(bb, a, batch_size, dev, None, resolve_precision(precision, dev), sets=(feature_set,))
    return out[feature_set]


def _earlier_settings(ws: Workspace) -> tuple[Any, Preparation | None, bool, str | None]:
    """(backbone name, recipe, pretrained, weights file) of the workspace's latest embedding."""
    from semlab.errors import WorkspaceError
    from semlab.features.embed import load_features
    from semlab.preprocess import Preparation

    try:
        t = load_features(ws)
    except WorkspaceError:
        return None, None, True, None
    recipe = Preparation.from_dict(t.config)
    if t.config.get("feature_set") == "nuisance":
        recipe = Preparation.from_dict({**t.config, "equalize": t.config.get("recipe_equalize", "clahe")})
    weights = t.weights[5:] if t.weights.startswith("file ") else None
    name = t.config.get("backbone_name", t.backbone)
    return (None if name == "none" else name), recipe, "backbone_seed" not in t.config, weights


def feature_table(
    workspace: Workspace | str | os.PathLike,
    feature_set: str | None = None,
    *,
    backbone: str | Backbone | None = None,
    preparation: Preparation | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> FeatureTable:
    """The workspace's features of one feature set, embedded where missing (cached per image).

    Parameters
    ----------
    workspace : Workspace or path
    feature_set : str, optional
        One of :data:`FEATURE_SETS`; default :data:`DEFAULT_FEATURE_SET`.
    backbone : str or Backbone, optional
        Default: the backbone of the workspace's latest embedding (with its weights: pretrained,
        file or seeded random), else ``"efficientnet_lite0"``.
    preparation : Preparation, optional
        Default: the recipe of the workspace's latest embedding (so that every feature set of
        a comparison describes the same patches), else ``Preparation()``.
    progress : callable, optional
        ``progress(done, total)`` in images.

    Returns
    -------
    FeatureTable
        As :func:`embed_workspace` returns it; ``config["feature_set"]`` names the set and
        ``config["feature_config"]`` says how it was computed.
    """
    from semlab.features.embed import _open, embed_workspace

    ws = _open(workspace)
    name, recipe, pretrained, weights = _earlier_settings(ws)
    if backbone is None:
        backbone = name or "efficientnet_lite0"
    elif not isinstance(backbone, str) or backbone != name:  # another model: its own weights
        pretrained, weights = True, None
    return embed_workspace(
        ws,
        backbone=backbone,
        pretrained=pretrained,
        weights=weights,
        preparation=preparation if preparation is not None else recipe,
        feature_set=check_feature_set(feature_set),
        progress=progress,
    )
