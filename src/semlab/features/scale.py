"""The scale policy of embedding: the pixel size a workspace's images are prepared at, and
which patch sizes fit every image (:func:`workspace_preparation`, :func:`max_patch_size`)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from semlab.errors import ParameterError, WorkspaceError

if TYPE_CHECKING:
    from semlab.dataset import Workspace

__all__ = ["max_patch_size", "target_pixel_size", "workspace_preparation"]


def _open(workspace: Workspace | str | os.PathLike) -> Workspace:
    from semlab.dataset import Workspace

    return workspace if isinstance(workspace, Workspace) else Workspace.open(workspace)


def target_pixel_size(records: list[Any]) -> float | None:
    """The coarsest known pixel size (µm per pixel) among image records, or None."""
    from semlab.preprocess import common_pixel_size

    return common_pixel_size(r.pixel_size_um for r in records)


def workspace_preparation(records: list[Any], preparation: Any = None) -> Any:
    """The recipe a workspace's images are embedded with: ``preparation`` (default
    :class:`~semlab.preprocess.Preparation`) with its pixel size set to the workspace's
    coarsest when the recipe leaves it open."""
    from semlab.preprocess import Preparation

    recipe = Preparation() if preparation is None else preparation
    if not isinstance(recipe, Preparation):
        raise ParameterError(f"preparation={preparation!r} must be a semlab.preprocess.Preparation")
    if recipe.pixel_size is None:
        target = target_pixel_size(records)
        if target is not None:
            recipe = recipe.replace(pixel_size=target)
    return recipe


def _prepared_shape(rec: Any, recipe: Any) -> tuple[int, int]:
    from semlab.preprocess import prepared_shape

    r0, r1, c0, c1 = rec.crop_box
    return prepared_shape((r1 - r0, c1 - c0), recipe, pixel_size=rec.pixel_size_um, name=rec.original_name)


def max_patch_size(workspace: Workspace | str | os.PathLike, preparation: Any = None) -> int:
    """The largest patch side (pixels) that fits every image after cropping and resampling."""
    ws = _open(workspace)
    records = list(ws.images())
    if not records:
        raise WorkspaceError(
            f"{ws.path}: workspace holds no images; add some with `semlab add {ws.path} IMAGES`"
        )
    recipe = workspace_preparation(records, preparation)
    return int(min(min(_prepared_shape(r, recipe)) for r in records))


def _check_fits(ws: Workspace, preparation: Any) -> tuple[list[Any], Any]:
    """(image records, recipe): every image holds a patch after preparation (else a one-line error
    giving the largest patch size that fits)."""
    records = list(ws.images())
    if not records:
        raise WorkspaceError(
            f"{ws.path}: workspace holds no images; add some with `semlab add {ws.path} IMAGES`"
        )
    recipe = workspace_preparation(records, preparation)
    if recipe.sampling != "random" or recipe.flips or recipe.rotations:
        raise ParameterError(
            "embed_workspace takes a preparation with sampling='random' and no flips or rotations "
            "(features are cached per image and patch)"
        )
    for rec in records:
        shape = _prepared_shape(rec, recipe)
        if min(shape) < recipe.patch_size:
            raise ParameterError(
                f"image {rec.original_name!r} is {shape[0]}×{shape[1]} px without its data bar and at "
                f"{recipe.pixel_size or rec.pixel_size_um or 'its own'} µm/px, smaller than patch_size "
                f"{recipe.patch_size}; use a patch size of at most {max_patch_size(ws, recipe)}"
            )
    return records, recipe
