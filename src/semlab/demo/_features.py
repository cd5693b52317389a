"""The demo's feature step: embed the demo workspace with the offline EfficientNet-Lite0."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from semlab.dataset import Workspace
    from semlab.features import FeatureTable

#: The demo's backbone (weights from the offline package, no network needed).
DEMO_BACKBONE = "efficientnet_lite0"


def embed_demo_workspace(
    workspace: Workspace | str | os.PathLike,
    *,
    quick: bool,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> FeatureTable:
    """Embed the demo workspace: EfficientNet-Lite0 (offline weights), cached.

    The default :class:`~semlab.preprocess.Preparation` (data bar cropped, CLAHE, the
    workspace's coarsest pixel size) with patches of 224 px (or the largest side every
    image holds, if smaller), 4 per image with ``quick`` and 8 otherwise, on the CPU or GPU
    (``device="auto"``).

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
    from semlab.features import embed_workspace, max_patch_size
    from semlab.preprocess import Preparation

    size = min(224, max_patch_size(workspace))
    return embed_workspace(
        workspace,
        backbone=DEMO_BACKBONE,
        pretrained=True,
        preparation=Preparation(patch_size=size, patches_per_image=4 if quick else 8, seed=seed),
        progress=progress,
    )


def feature_summary(table: FeatureTable) -> tuple[dict[str, object], list[str]]:
    """What the demo reports of its features: a summary dict and the printed line."""
    summary = {
        "backbone": table.backbone,
        "weights": table.weights,
        "n_patches": int(table.features.shape[0]),
        "n_features": int(table.features.shape[1]),
        "patch_size": int(table.config.get("patch_size", 0)),
    }
    line = (
        f"features: {table.backbone} ({table.weights}), {summary['n_features']} features × "
        f"{summary['n_patches']} patches of {summary['patch_size']} px, cached in the workspace"
    )
    return summary, [line]
