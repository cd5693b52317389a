"""The demo's feature step: embed the demo workspace with the offline EfficientNet-Lite0."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from semlab.features.table import FeatureTable

if TYPE_CHECKING:
    from semlab.dataset import Workspace

__all__ = ["DEMO_BACKBONE", "demo_step"]

#: The demo's backbone (weights from the offline package, no network needed).
DEMO_BACKBONE = "efficientnet_lite0"


def demo_step(
    workspace: Workspace | str | os.PathLike,
    *,
    quick: bool,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> FeatureTable:
    """Embed the demo workspace: EfficientNet-Lite0 (offline weights), cached.

    Patches are 224 px (or the largest side every image holds, if smaller), 4 per image
    with ``quick`` and 8 otherwise, on the CPU or GPU (``device="auto"``).

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
    from semlab.features.embed import embed_workspace, max_patch_size

    size = min(224, max_patch_size(workspace))
    return embed_workspace(
        workspace,
        backbone=DEMO_BACKBONE,
        pretrained=True,
        patch_size=size,
        patches_per_image=4 if quick else 8,
        seed=seed,
        progress=progress,
    )
