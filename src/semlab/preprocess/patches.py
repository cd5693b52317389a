"""Geometry: resampling to a common pixel size, random patches, and tiling with blending."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np

from semlab._util import check_pixel_size
from semlab.errors import ParameterError
from semlab.preprocess.intensity import unit_range

__all__ = [
    "TILE_BLENDS",
    "TileGrid",
    "resample",
    "resample_shape",
    "sample_patch_boxes",
    "sample_patches",
    "tile",
    "untile",
]

#: Blending modes :func:`untile` accepts.
TILE_BLENDS = ("mean", "linear", "cosine")


# --------------------------------------------------------------------------- helpers


def _positive_int(value: Any, name: str, *, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ParameterError(f"{name}={value!r} must be an integer >= {minimum}")
    return int(value)


def _rng(rng: Any) -> np.random.Generator:
    if rng is None or isinstance(rng, (numbers.Integral, np.random.Generator, np.random.SeedSequence)):
        if isinstance(rng, bool):
            raise ParameterError(f"rng={rng!r} must be an int seed or a numpy Generator")
        return np.random.default_rng(int(rng) if isinstance(rng, numbers.Integral) else rng)
    raise ParameterError(f"rng={rng!r} must be an int seed, a numpy Generator or None")


def _image_2d(image: np.ndarray, func: str) -> np.ndarray:
    a = np.asarray(image)
    if a.ndim != 2:
        raise ParameterError(f"image has shape {a.shape}; {func} takes a 2-D grey image")
    if a.size == 0:
        raise ParameterError(f"image has shape {a.shape}; give a non-empty image")
    return a


# --------------------------------------------------------------------------- resampling

_PIXEL_HINT = (
    "pass pixel_size=... in µm per pixel (read_micrograph(...).pixel_size, or --pixel-size on the CLI)"
)
_TARGET_HINT = "pass target=... as the wanted pixel size in µm per pixel"


def resample_shape(shape: tuple[int, int], pixel_size: float, target: float) -> tuple[int, int]:
    """Shape of an image of ``shape`` pixels at ``pixel_size`` µm once resampled to ``target`` µm.

    Parameters
    ----------
    shape : (int, int)
        Image shape in pixels (rows, columns).
    pixel_size : float
        Current pixel size in µm per pixel.
    target : float
        Wanted pixel size in µm per pixel.

    Returns
    -------
    (int, int)
        ``round(n * pixel_size / target)`` per axis, at least 1.  The pixel size actually
        achieved along an axis is ``n * pixel_size / n_out`` µm, which differs from
        ``target`` by at most half a pixel over the field of view.

    Examples
    --------
    >>> from semlab.preprocess import resample_shape
    >>> resample_shape((768, 1024), 2.0, 5.0)
    (307, 410)
    """
    px = check_pixel_size(pixel_size, "pixel_size", hint=_PIXEL_HINT)
    tg = check_pixel_size(target, "target", hint=_TARGET_HINT)
    if len(shape) < 2:
        raise ParameterError(f"shape={shape!r} must be (rows, columns)")
    factor = px / tg
    return tuple(max(1, int(round(int(n) * factor))) for n in shape[:2])  # type: ignore[return-value]


def resample(
    image: np.ndarray,
    pixel_size: float | None,
    target: float,
    *,
    order: int = 1,
    anti_aliasing: bool = True,
) -> np.ndarray:
    """Resample a micrograph to a common physical pixel size.

    Parameters
    ----------
    image : (M, N) ndarray
        Grey image, any real dtype.
    pixel_size : float
        Pixel size of ``image`` in µm per pixel.
    target : float
        Pixel size of the result in µm per pixel.
    order : int, default 1
        Spline order of the interpolation (0 nearest, 1 bilinear, 3 bicubic).
    anti_aliasing : bool, default True
        Gaussian-smooth before downsampling (``target > pixel_size``) so that fine
        texture does not alias; ignored when upsampling.

    Returns
    -------
    (M', N') ndarray
        Shape :func:`resample_shape` ``(image.shape, pixel_size, target)``.  Values keep
        the input's units (no rescaling: a uint8 image gives values in [0, 255]); the dtype
        is float64 for float64 input and float32 otherwise.

    Raises
    ------
    ParameterError
        ``pixel_size`` is None (unknown scale), non-positive or not a number; the same for
        ``target``; a bad ``order``.

    Examples
    --------
    >>> import numpy as np
    >>> from semlab.preprocess import resample
    >>> resample(np.ones((100, 60), dtype=np.uint8), 0.5, 1.0).shape
    (50, 30)
    """
    a = _image_2d(image, "resample")
    px = check_pixel_size(pixel_size, "pixel_size", hint=_PIXEL_HINT)
    out_shape = resample_shape(a.shape, px, target)  # validates the target
    order = _positive_int(order, "order", minimum=0)
    if order > 5:
        raise ParameterError(f"order={order} must be between 0 and 5 (spline order)")
    dtype = np.float64 if a.dtype == np.float64 else np.float32
    if out_shape == a.shape:
        return a.astype(dtype)
    from skimage.transform import resize

    src = a.astype(np.float64)
    out = resize(
        src,
        out_shape,
        order=order,
        mode="reflect",
        preserve_range=True,
        anti_aliasing=bool(anti_aliasing) and px < float(target),
    )
    return out.astype(dtype)


# --------------------------------------------------------------------------- random patches


def _rotation_window(size: int) -> int:
    """Side of the square window that holds a size×size patch rotated by any angle."""
    return int(math.ceil((size - 1) * math.sqrt(2.0))) + 3


def sample_patch_boxes(
    shape: tuple[int, int], n: int, size: int, *, rng: int | np.random.Generator | None = None
) -> np.ndarray:
    """Draw random square boxes that lie inside an image.

    Parameters
    ----------
    shape : (int, int)
        Image shape (rows, columns) in pixels.
    n : int
        Number of boxes; boxes may overlap.
    size : int
        Box side in pixels.
    rng : int, numpy.random.Generator or None
        Seed or generator; the same seed gives the same boxes.

    Returns
    -------
    (n, 4) ndarray of int64
        ``(row, col, height, width)`` of each box's top-left corner and size, in pixels,
        uniform over all positions with ``row + height <= shape[0]`` and
        ``col + width <= shape[1]``.

    Raises
    ------
    ParameterError
        The image is smaller than ``size``, or ``n``/``size`` are invalid.

    Examples
    --------
    >>> from semlab.preprocess import sample_patch_boxes
    >>> sample_patch_boxes((100, 80), 3, 32, rng=0).shape
    (3, 4)
    """
    if len(shape) < 2:
        raise ParameterError(f"shape={shape!r} must be (rows, columns)")
    rows, cols = int(shape[0]), int(shape[1])
    n = _positive_int(n, "n", minimum=0)
    size = _positive_int(size, "size")
    if rows < size or cols < size:
        raise ParameterError(
            f"image of shape {(rows, cols)} is smaller than the patch size {size}; "
            "use a smaller size or a larger (or upsampled) image"
        )
    gen = _rng(rng)
    r = gen.integers(0, rows - size + 1, size=n)
    c = gen.integers(0, cols - size + 1, size=n)
    boxes = np.empty((n, 4), dtype=np.int64)
    boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3] = r, c, size, size
    return boxes


def sample_patches(
    image: np.ndarray,
    n: int,
    size: int,
    *,
    rng: int | np.random.Generator | None = None,
    flips: bool = True,
    rotations: bool = True,
    free_rotation: bool = False,
    normalize: bool = True,
    return_boxes: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Random square crops of a micrograph with flip and rotation augmentation.

    This is the patch sampling of transfer-learning studies on SEM images (e.g. 40 random
    patches per micrograph, overlap allowed), which turns a few large micrographs into
    many CNN-sized inputs.

    Parameters
    ----------
    image : (M, N) ndarray
        Grey image, any real dtype; crop the data bar first (:func:`crop_databar`).
    n : int
        Number of patches.
    size : int
        Patch side in pixels.
    rng : int, numpy.random.Generator or None
        Seed or generator; the same image and seed give identical patches.
    flips : bool, default True
        Flip each patch left–right and up–down, each with probability 1/2.
    rotations : bool, default True
        Rotate each patch by a random multiple of 90°.
    free_rotation : bool, default False
        Also rotate by a uniform random angle in [0°, 360°) (bilinear).  The crop is then
        taken from a larger window (side ``ceil((size - 1) * sqrt(2)) + 3``) so the
        rotated patch has no empty corners; the image must hold that window.
    normalize : bool, default True
        Scale grey values to [0, 1] with constants of the whole image: by the dtype range
        for unsigned integers (uint8 / 255, uint16 / 65535) and by the image's min–max for
        floats and signed integers (see :func:`rescale_unit`).  Patches of one image stay
        comparable and brightness differences between regions survive.  Per-channel
        standardisation (ImageNet mean/std) is left to the feature backbone.  With
        ``False`` patches keep the input's grey values.
    return_boxes : bool, default False
        Also return the boxes the patches were cut from.

    Returns
    -------
    patches : (n, size, size) ndarray of float32
    boxes : (n, 4) ndarray of int64
        Only with ``return_boxes=True``: ``(row, col, height, width)`` of each crop window
        in ``image`` (for ``free_rotation`` the larger window; the patch is its rotated
        centre).  Boxes are drawn first from ``rng``, so ``sample_patch_boxes(image.shape,
        n, size, rng=seed)`` gives the same boxes as ``sample_patches(image, n, size,
        rng=seed)`` without ``free_rotation``.

    Raises
    ------
    ParameterError
        The image is smaller than the patch (or the rotation window), or bad ``n``,
        ``size`` or ``rng``.

    Examples
    --------
    >>> import numpy as np
    >>> from semlab.preprocess import sample_patches
    >>> image = np.random.default_rng(0).integers(0, 256, size=(300, 400)).astype(np.uint8)
    >>> patches = sample_patches(image, 40, 64, rng=0)
    >>> patches.shape, patches.dtype
    ((40, 64, 64), dtype('float32'))
    """
    a = _image_2d(image, "sample_patches")
    n = _positive_int(n, "n", minimum=0)
    size = _positive_int(size, "size")
    gen = _rng(rng)
    window = _rotation_window(size) if free_rotation else size
    if a.shape[0] < window or a.shape[1] < window:
        extra = f" (free_rotation needs a {window}×{window} window)" if free_rotation else ""
        raise ParameterError(
            f"image of shape {a.shape} is smaller than the patch size {size}{extra}; "
            "use a smaller size or a larger (or upsampled) image"
        )
    boxes = sample_patch_boxes(a.shape, n, window, rng=gen)
    angles = gen.uniform(0.0, 360.0, size=n) if free_rotation else None
    turns = gen.integers(0, 4, size=n) if rotations else None
    flip = gen.random((n, 2)) < 0.5 if flips else None

    if normalize:
        lo, hi = unit_range(a)
        scale = 1.0 / (hi - lo) if hi > lo else 0.0
    out = np.empty((n, size, size), dtype=np.float32)
    if free_rotation and n:
        from scipy.ndimage import map_coordinates

        offsets = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
        uu, vv = np.meshgrid(offsets, offsets, indexing="ij")
    for k, (r, c, h, w) in enumerate(boxes):
        crop = a[r : r + h, c : c + w]
        if free_rotation:
            theta = math.radians(float(angles[k]))  # type: ignore[index]
            cos, sin = math.cos(theta), math.sin(theta)
            centre = (h - 1) / 2.0
            coords = np.stack([centre + cos * uu - sin * vv, centre + sin * uu + cos * vv])
            patch = map_coordinates(crop.astype(np.float64), coords, order=1, mode="nearest")
        else:
            patch = crop.astype(np.float64)
        if turns is not None:
            patch = np.rot90(patch, int(turns[k]))
        if flip is not None:
            if flip[k, 0]:
                patch = patch[:, ::-1]
            if flip[k, 1]:
                patch = patch[::-1, :]
        if normalize:
            patch = np.clip((patch - lo) * scale, 0.0, 1.0)
        out[k] = patch
    return (out, boxes) if return_boxes else out


# --------------------------------------------------------------------------- tiling


@dataclass(frozen=True)
class TileGrid:
    """Where :func:`tile` cut its tiles, so :func:`untile` can put them back.

    Attributes
    ----------
    image_shape : (int, int)
        Shape of the tiled image (rows, columns) in pixels.
    size : int
        Tile side in pixels.
    overlap : int
        Requested overlap of neighbouring tiles in pixels; the last row and column of
        tiles are shifted to end at the image edge and may overlap more.
    positions : tuple of (int, int)
        Top-left (row, col) of each tile, row-major, in the same order as the tiles.
    """

    image_shape: tuple[int, int]
    size: int
    overlap: int
    positions: tuple[tuple[int, int], ...]

    @property
    def padded_shape(self) -> tuple[int, int]:
        """Shape after reflective padding of images smaller than a tile."""
        return (max(self.image_shape[0], self.size), max(self.image_shape[1], self.size))

    @property
    def n_tiles(self) -> int:
        """Number of tiles."""
        return len(self.positions)

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible fields."""
        return {
            "image_shape": list(self.image_shape),
            "size": self.size,
            "overlap": self.overlap,
            "positions": [list(p) for p in self.positions],
        }


def _starts(length: int, size: int, step: int) -> list[int]:
    if length <= size:
        return [0]
    starts = list(range(0, length - size, step))
    if starts[-1] != length - size:
        starts.append(length - size)
    return starts


def tile(image: np.ndarray, size: int, *, overlap: int = 0) -> tuple[np.ndarray, TileGrid]:
    """Cut an image into square tiles that cover it completely.

    Parameters
    ----------
    image : (M, N) or (M, N, ...) ndarray
        Image; trailing axes (channels) are carried along.
    size : int
        Tile side in pixels.
    overlap : int, default 0
        Overlap of neighbouring tiles in pixels, ``0 <= overlap < size``.  Tiles start
        every ``size - overlap`` pixels; the last tile of each row and column is shifted
        back to end at the image edge.  An image smaller than a tile is padded
        reflectively at the bottom and right.

    Returns
    -------
    tiles : (k, size, size, ...) ndarray
        Same dtype as ``image``.
    grid : TileGrid
        Positions for :func:`untile`.

    Examples
    --------
    >>> import numpy as np
    >>> from semlab.preprocess import tile, untile
    >>> image = np.arange(50 * 70, dtype=np.float32).reshape(50, 70)
    >>> tiles, grid = tile(image, 32, overlap=8)
    >>> tiles.shape
    (6, 32, 32)
    >>> bool(np.array_equal(untile(tiles, grid), image))
    True
    """
    a = np.asarray(image)
    if a.ndim < 2 or a.shape[0] == 0 or a.shape[1] == 0:
        raise ParameterError(f"image has shape {a.shape}; tile takes a non-empty (M, N[, ...]) image")
    size = _positive_int(size, "size")
    overlap = _positive_int(overlap, "overlap", minimum=0)
    if overlap >= size:
        raise ParameterError(f"overlap={overlap} must be smaller than size={size}")
    rows, cols = a.shape[:2]
    pad_r, pad_c = max(0, size - rows), max(0, size - cols)
    if pad_r or pad_c:
        a = _pad(a, [(0, pad_r), (0, pad_c)], rows, cols)
    step = size - overlap
    positions = tuple((r, c) for r in _starts(rows, size, step) for c in _starts(cols, size, step))
    tiles = np.stack([a[r : r + size, c : c + size] for r, c in positions])
    return tiles, TileGrid(image_shape=(rows, cols), size=size, overlap=overlap, positions=positions)


def _pad(a: np.ndarray, pad: list[tuple[int, int]], rows: int, cols: int) -> np.ndarray:
    """Reflect-pad, falling back to edge padding along axes of length 1."""
    out = a
    for axis, length in ((0, rows), (1, cols)):
        widths = [(0, 0)] * a.ndim
        widths[axis] = pad[axis]
        if pad[axis][1]:
            out = np.pad(out, widths, mode="reflect" if length > 1 else "edge")
    return out


def _ramp(size: int, overlap: int, blend: str) -> np.ndarray:
    """1-D tile weight: rises over ``overlap`` pixels at both ends, never zero."""
    if blend == "mean" or overlap == 0:
        return np.ones(size)
    i = np.arange(size, dtype=np.float64)
    d = np.minimum(i + 1, size - i)  # 1 at the edges
    t = np.minimum(d / (overlap + 1.0), 1.0)
    if blend == "cosine":
        t = 0.5 - 0.5 * np.cos(np.pi * t)
    return np.maximum(t, 1e-3)


def untile(tiles: np.ndarray, grid: TileGrid, *, blend: str = "linear") -> np.ndarray:
    """Reassemble tiles from :func:`tile` into an image, blending the overlaps.

    Parameters
    ----------
    tiles : (k, size, size, ...) ndarray
        Tiles in the order of ``grid.positions``, e.g. the output of a per-tile model;
        trailing axes (channels) are carried along.
    grid : TileGrid
        As returned by :func:`tile`.
    blend : {"linear", "mean", "cosine"}, default "linear"
        How overlapping tiles are averaged: ``"mean"`` with equal weights; ``"linear"``
        and ``"cosine"`` with weights that ramp down over ``grid.overlap`` pixels towards
        each tile edge, so tile seams do not show.  Where all tiles agree the result is
        exactly their value.

    Returns
    -------
    (M, N, ...) ndarray
        ``grid.image_shape`` plus trailing axes; float32 for integer, bool or float32
        tiles, float64 for float64 tiles.

    Raises
    ------
    ParameterError
        Unknown ``blend`` or tiles that do not match ``grid``.
    """
    if blend not in TILE_BLENDS:
        raise ParameterError(f"blend={blend!r} is not one of {', '.join(map(repr, TILE_BLENDS))}")
    if not isinstance(grid, TileGrid):
        raise ParameterError(f"grid must be the TileGrid returned by tile(), not {type(grid).__name__}")
    t = np.asarray(tiles)
    size = grid.size
    if t.ndim < 3 or t.shape[0] != grid.n_tiles or t.shape[1:3] != (size, size):
        raise ParameterError(
            f"tiles have shape {t.shape}; grid expects ({grid.n_tiles}, {size}, {size}, ...) in grid order"
        )
    out_dtype = np.float64 if t.dtype == np.float64 else np.float32
    extra = t.shape[3:]
    padded = grid.padded_shape + extra
    # ref: the value of the last tile at each pixel.  Blending the differences from it
    # keeps pixels where all tiles agree exactly equal to that value.
    ref = np.zeros(padded, dtype=np.float64)
    for k, (r, c) in enumerate(grid.positions):
        ref[r : r + size, c : c + size] = t[k]
    ramp = _ramp(size, grid.overlap, blend)
    weight2d = np.outer(ramp, ramp).reshape((size, size) + (1,) * len(extra))
    acc = np.zeros(padded, dtype=np.float64)
    wsum = np.zeros(grid.padded_shape + (1,) * len(extra), dtype=np.float64)
    for k, (r, c) in enumerate(grid.positions):
        acc[r : r + size, c : c + size] += weight2d * (t[k] - ref[r : r + size, c : c + size])
        wsum[r : r + size, c : c + size] += weight2d
    out = ref + acc / wsum
    rows, cols = grid.image_shape
    return out[:rows, :cols].astype(out_dtype)
