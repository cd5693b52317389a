"""The demo's feature step: embed the demo workspace with the offline EfficientNet-Lite0."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from semlab.dataset import Workspace
    from semlab.features import FeatureTable
    from semlab.preprocess import Preparation

#: The demo's backbone (weights from the offline package, no network needed).
DEMO_BACKBONE = "efficientnet_lite0"
#: The demo's feature set and patch recipe: the synthetic-series recipe that measured best in
#: ``benchmarks/results/learn.json`` (no equalization, 0.016 µm/px, 128-px patches, 8 per
#: image; multiscale EfficientNet-Lite0 features, image accuracy 0.61 with a logistic head).
DEMO_FEATURE_SET = "multiscale"
DEMO_RECIPE: dict[str, Any] = {
    "equalize": "none",
    "pixel_size": 0.016,
    "patch_size": 128,
    "patches_per_image": 8,
}


def demo_preparation(workspace: Workspace | str | os.PathLike, *, quick: bool, seed: int = 0) -> Preparation:
    """The demo's :class:`~semlab.preprocess.Preparation`: :data:`DEMO_RECIPE` (4 patches per
    image with ``quick``; a smaller patch where the quick series' images hold no 128-px one)."""
    from semlab.features import max_patch_size
    from semlab.preprocess import Preparation

    r = DEMO_RECIPE
    prep = Preparation(equalize=r["equalize"], pixel_size=r["pixel_size"], patch_size=32, seed=seed)
    size = min(r["patch_size"], max_patch_size(workspace, prep))
    return replace(prep, patch_size=size, patches_per_image=4 if quick else r["patches_per_image"])


def embed_demo_workspace(
    workspace: Workspace | str | os.PathLike,
    *,
    quick: bool,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> FeatureTable:
    """Embed the demo workspace: EfficientNet-Lite0 (offline weights), :data:`DEMO_FEATURE_SET`, cached.

    Patches as :func:`demo_preparation` (data bar cropped, no equalization, 0.016 µm/px,
    128 px, 8 per image; 4 with ``quick``), on the CPU or GPU (``device="auto"``).  The
    same forward pass caches the ``final`` set too.

    Parameters
    ----------
    workspace : Workspace or path
        The demo's workspace (``<out>/workspace``).
    quick : bool
        Fewer patches per image.
    seed : int, default 0
        Patch positions.
    progress : callable, optional
        ``progress(done, total)`` in images.

    Returns
    -------
    FeatureTable
        One row per patch; ``.per_image()`` gives one row per image.
    """
    from semlab.features import embed_workspace

    return embed_workspace(
        workspace,
        backbone=DEMO_BACKBONE,
        pretrained=True,
        preparation=demo_preparation(workspace, quick=quick, seed=seed),
        progress=progress,
        feature_set=DEMO_FEATURE_SET,
    )


def feature_summary(table: FeatureTable) -> tuple[dict[str, object], list[str]]:
    """What the demo reports of its features: a summary dict and the printed line."""
    summary = {
        "backbone": table.backbone,
        "weights": table.weights,
        "n_patches": int(table.features.shape[0]),
        "n_features": int(table.features.shape[1]),
        "patch_size": int(table.config.get("patch_size", 0)),
        "feature_set": str(table.config.get("feature_set", DEMO_FEATURE_SET)),
    }
    line = (
        f"features: {table.backbone} ({table.weights}), {summary['feature_set']} set, "
        f"{summary['n_features']} features × "
        f"{summary['n_patches']} patches of {summary['patch_size']} px, cached in the workspace"
    )
    return summary, [line]
