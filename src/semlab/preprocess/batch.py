"""Patches of many micrograph files under one recipe (what ``semlab patches`` writes)."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from semlab.errors import ParameterError
from semlab.preprocess.recipe import Preparation, prepare_image, prepare_patches

__all__ = ["PatchSet", "patches_from_files"]


@dataclass(frozen=True, eq=False)
class PatchSet:
    """Patches of several files, with where each came from.

    Attributes
    ----------
    patches : (N, s, s) ndarray of float32
        Grey values in [0, 1].
    image_index : (N,) ndarray of int32
        Index into ``files`` of each patch.
    boxes : (N, 4) ndarray of int64
        ``(row, col, height, width)`` in pixels of the prepared (cropped, resampled) image.
    files : list of str
    pixel_size_um : (n_files,) ndarray of float64
        µm per pixel of each prepared image (NaN when unknown).
    recipe : Preparation
    """

    patches: np.ndarray
    image_index: np.ndarray
    boxes: np.ndarray
    files: list[str]
    pixel_size_um: np.ndarray
    recipe: Preparation

    def save(self, path: str | os.PathLike) -> Path:
        """Write ``path`` (.npz: the arrays, files, pixel sizes, seed, recipe JSON) and a .csv
        beside it (one patch per line); both atomically.  Returns the .csv path."""
        import json

        from semlab._util import atomic_path, atomic_write_text

        path = Path(path)
        if path.suffix.lower() != ".npz":
            raise ParameterError(f"{path} must end with .npz")
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez_compressed(
                fh,
                patches=self.patches,
                image_index=self.image_index,
                boxes=self.boxes,
                files=np.array(self.files),
                pixel_size_um=self.pixel_size_um,
                seed=np.int64(self.recipe.seed),
                recipe=np.array(json.dumps(self.recipe.to_dict())),
            )
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["patch", "image_index", "file", "row", "col", "height", "width", "pixel_size_um"])
        for k, (img, (r, c, h, w)) in enumerate(
            zip(self.image_index.tolist(), self.boxes.tolist(), strict=True)
        ):
            px = self.pixel_size_um[img]
            writer.writerow([k, img, self.files[img], r, c, h, w, "" if np.isnan(px) else f"{px:.6g}"])
        csv_path = path.with_suffix(".csv")
        atomic_write_text(csv_path, buffer.getvalue())
        return csv_path


def patches_from_files(
    paths: Sequence[str | os.PathLike],
    recipe: Preparation,
    *,
    pixel_size: float | None = None,
    page: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> PatchSet:
    """Read micrograph files and cut each into patches under ``recipe``.

    Parameters
    ----------
    paths : sequence of path
        SEM image files (TIFF, PNG, JPEG, BMP).
    recipe : Preparation
        How each image is prepared and cut (:func:`prepare_patches`); the random boxes of
        a file depend on the recipe's seed and the file's pixels only.
    pixel_size : float, optional
        µm per pixel for every file, overriding their metadata.
    page : int, default 0
        Page of multipage TIFFs.
    progress : callable, optional
        ``progress(done, total)`` in files.

    Returns
    -------
    PatchSet

    Raises
    ------
    ParameterError
        A file without a pixel size when the recipe resamples to one, or one too small
        for a patch (named in the message).
    """
    from semlab.io import read_micrograph

    out_patches, out_boxes, index, files, sizes = [], [], [], [], []
    for i, path in enumerate(paths):
        m = read_micrograph(path, pixel_size=pixel_size, page=page)
        name = str(path)
        if recipe.pixel_size is not None and m.pixel_size is None:
            raise ParameterError(
                f"{path}: pixel size unknown, cannot resample to {recipe.pixel_size:g} µm per pixel; "
                "pass --pixel-size UM (pixel_size=)"
            )
        prepared = prepare_image(m, recipe, name=name)
        p, boxes = prepare_patches(prepared, recipe, name=name)
        out_patches.append(p)
        out_boxes.append(boxes)
        index.append(np.full(len(p), i, dtype=np.int32))
        files.append(name)
        sizes.append(np.nan if prepared.pixel_size is None else float(prepared.pixel_size))
        if progress is not None:
            progress(i + 1, len(paths))
    if not files:
        raise ParameterError("no image files given")
    return PatchSet(
        np.concatenate(out_patches),
        np.concatenate(index),
        np.concatenate(out_boxes),
        files,
        np.array(sizes, dtype=np.float64),
        recipe,
    )
