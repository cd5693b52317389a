"""The scale policy of embedding: the pixel size a workspace's images are prepared at, and
which patch sizes fit every image (:func:`workspace_preparation`, :func:`max_patch_size`).

A recipe that leaves ``pixel_size`` (and ``field_of_view``) open is given the workspace's
**median** known pixel size: a study that mixes magnifications keeps most of its images
within ``max_rescale`` (8×) of the target, and one far-off image does not drag every other
image to its scale (the coarsest pixel size, used before, shrank the shared Zeiss 0.012
µm/px files 280× to a few pixels once an FEI 3.37 µm/px file joined them).  Images further
than ``max_rescale`` from the target follow the recipe's ``scale_policy`` (default
``"native"``: tiled at their own resolution, with a warning naming the file); images of
unknown pixel size are used at their own scale and recorded as such
(:func:`image_scales`).  Give ``field_of_view`` (µm per patch side) or ``pixel_size`` to fix
the study's scale instead.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from semlab.errors import ParameterError, WorkspaceError

if TYPE_CHECKING:
    from semlab.dataset import Workspace

__all__ = ["image_cache_name", "image_scales", "max_patch_size", "target_pixel_size", "workspace_preparation"]


def _open(workspace: Workspace | str | os.PathLike) -> Workspace:
    from semlab.dataset import Workspace

    return workspace if isinstance(workspace, Workspace) else Workspace.open(workspace)


def target_pixel_size(records: list[Any]) -> float | None:
    """The median known pixel size (µm per pixel) among image records, or None."""
    from semlab.preprocess import common_pixel_size

    return common_pixel_size((r.pixel_size_um for r in records), rule="median")


def workspace_preparation(records: list[Any], preparation: Any = None) -> Any:
    """The recipe a workspace's images are embedded with: ``preparation`` (default
    :class:`~semlab.preprocess.Preparation`) with its pixel size set to the workspace's
    median known pixel size when the recipe leaves it open."""
    from semlab.preprocess import Preparation

    recipe = Preparation() if preparation is None else preparation
    if not isinstance(recipe, Preparation):
        raise ParameterError(f"preparation={preparation!r} must be a semlab.preprocess.Preparation")
    if recipe.pixel_size is None:
        target = target_pixel_size(records)
        if target is not None:
            recipe = recipe.replace(pixel_size=target)
    return recipe


def image_scales(records: list[Any], recipe: Any) -> list[dict[str, Any]]:
    """How each image's scale is set under ``recipe``, one dict per record.

    Keys: ``image_hash``, ``original_name``, ``source_pixel_size_um`` (NaN when unknown),
    ``pixel_size_source`` (``"unknown"`` when no pixel size), ``pixel_size_um`` (of the
    prepared patches; NaN when unknown) and ``scale`` (one of
    :data:`~semlab.preprocess.SCALE_STATES`: ``"target"``, ``"native"``, ``"unknown"``,
    ``"own"``).  Raises the one-line error of ``scale_policy="refuse"``.
    """
    from semlab.preprocess import scale_state

    out = []
    for rec in records:
        px = rec.pixel_size_um
        state = scale_state(recipe, px, rec.original_name)
        prepared = recipe.pixel_size if state == "target" else (px / recipe.scale if px else None)
        out.append(
            {
                "image_hash": rec.hash,
                "original_name": rec.original_name,
                "source_pixel_size_um": float("nan") if px is None else float(px),
                "pixel_size_source": rec.pixel_size_source or ("unknown" if px is None else None),
                "pixel_size_um": float("nan") if prepared is None else float(prepared),
                "scale": state,
            }
        )
    return out


def image_cache_name(rec: Any) -> str:
    """File name of an image's cached patch features: its hash and the pixel size it was
    prepared from (``<hash>-px<µm>.npz``, ``<hash>-px-unknown.npz``), so a changed pixel size
    (``semlab set-pixel-size``) never reuses features cut at the old scale."""
    px = rec.pixel_size_um
    return f"{rec.hash}-px{'-unknown' if px is None else f'{float(px):.6g}'}.npz"


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
    for rec, scale in zip(records, image_scales(records, recipe), strict=True):
        shape = _prepared_shape(rec, recipe)
        if min(shape) < recipe.patch_size:
            at = "its own scale" if scale["scale"] != "target" else f"{recipe.pixel_size:.4g} µm/px"
            raise ParameterError(
                f"image {rec.original_name!r} is {shape[0]}×{shape[1]} px without its data bar and at "
                f"{at}, smaller than patch_size {recipe.patch_size}; use a patch size of at most "
                f"{max_patch_size(ws, recipe)}"
            )
    return records, recipe
