"""The preparation recipe: one description of how a micrograph becomes model input.

Every stage that feeds images to a model (features, learn, fine-tuning, generate, the map,
the web app) prepares them with a :class:`Preparation` and :func:`prepare_image` /
:func:`prepare_patches`, and every trained artifact stores the recipe it was trained with
(``Preparation.to_dict()``), so prediction applies exactly what training did::

    data-bar crop → equalize (→ grey values in [0, 1]) → resample to the recipe's pixel size
    (or by its scale factor) → random patches or a grid of tiles

A recipe is frozen and plain data: ``Preparation.from_dict(recipe.to_dict()) == recipe``.

Scale policy
------------
When both the recipe and the image know their pixel size (µm per pixel), the image is
resampled to the recipe's pixel size when the two differ by at most ``max_rescale``
(default 8×) per axis.  Further off, ``scale_policy`` decides:

* ``"native"`` (default): the image is tiled at its own resolution (times ``scale``), a
  :class:`~semlab.errors.ScaleWarning` names the file and both scales, and the prepared image
  records it (``PreparedImage.scale == "native"``, ``pixel_size`` = its own).  Its patches
  cover a different field of view than the others'; nothing is resampled into a giant array.
  This default lets a study that mixes magnifications 300× apart (the shared FEI 3.37 µm/px
  and Zeiss 0.012 µm/px files) be embedded, trained on and predicted.
* ``"refuse"``: a one-line :class:`~semlab.errors.ParameterError` naming the image and both
  scales (the behaviour of recipes before ``scale_policy`` existed).
* ``"resample"``: resampled whatever the ratio (a result over 256 megapixels is refused).

An image whose pixel size is unknown is used at its own scale (times ``scale``), and the
prepared image says so (``PreparedImage.pixel_size is None``, ``scale == "unknown"``).
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from semlab.errors import ParameterError

__all__ = [
    "PREPARATION_VERSION",
    "SCALE_POLICIES",
    "SCALE_STATES",
    "Preparation",
    "PreparedImage",
    "common_pixel_size",
    "prepare_image",
    "prepared_shape",
    "prepare_patches",
    "scale_state",
]

#: Version of the serialised recipe (``Preparation.to_dict()["version"]``).
PREPARATION_VERSION = 1
#: How patches are cut: random boxes (learning) or a grid of non-overlapping tiles.
SAMPLINGS = ("random", "grid")
#: What happens to an image whose pixel size is more than ``max_rescale`` from the recipe's.
SCALE_POLICIES = ("native", "refuse", "resample")
#: ``PreparedImage.scale``: resampled to the recipe's pixel size; kept at its own resolution
#: under ``scale_policy="native"``; pixel size unknown; recipe without a pixel size.
SCALE_STATES = ("target", "native", "unknown", "own")
#: Largest prepared image, in pixels, that preparation will create (about 1 GiB of float32).
MAX_PREPARED_PIXELS = 256_000_000

# Keys of recipes stored by semlab before the recipe existed, mapped to the fields.
_LEGACY_KEYS = {
    "equalize_method": "equalize",
    "target_pixel_size_um": "pixel_size",
    "target_pixel_size": "pixel_size",
    "pixel_size_um": "pixel_size",
    "n_patches": "patches_per_image",
    "patch_size_px": "patch_size",
}


@dataclass(frozen=True)
class Preparation:
    """How a micrograph is turned into model input; saved with every trained artifact.

    Attributes
    ----------
    crop_databar : bool, default True
        Remove the data bar (the metadata's row, else the detected one).  Images read
        from a workspace are already cropped and are not cropped again.
    equalize : {"clahe", "global", "none"}, default "clahe"
        :func:`semlab.preprocess.equalize`; ``"none"`` only scales grey values to [0, 1].
    pixel_size : float or None, default None
        Pixel size of the prepared images, µm per pixel.  ``None``: every image keeps its
        own scale.
    field_of_view : float or None, default None
        Side of a patch in µm: sets ``pixel_size = field_of_view / patch_size`` (giving
        both requires them to agree).  A study of mixed magnifications is best described
        by the physical field its patches cover.
    scale : float, default 1.0
        Resampling factor for images that are not resampled to ``pixel_size`` (because
        the recipe or the image has no pixel size): 0.5 halves each side.
    max_rescale : float, default 8.0
        Largest ratio (either way) between an image's pixel size and ``pixel_size`` that is
        resampled; an image further off is handled by ``scale_policy``.
    scale_policy : {"native", "refuse", "resample"}, default "native"
        For an image more than ``max_rescale`` from ``pixel_size``: tile it at its native
        resolution with a :class:`~semlab.errors.ScaleWarning`, refuse it with a one-line
        error, or resample it anyway (see the module docstring).  Recipes saved before this
        field existed load with the default.
    patch_size : int, default 224
        Side of the patches (or tiles) in prepared pixels.
    patches_per_image : int, default 16
        Random patches per image (``sampling="random"``).
    sampling : {"random", "grid"}, default "random"
        ``"random"``: ``patches_per_image`` uniform boxes, seeded by ``seed`` and the image
        (its workspace hash, else a checksum of its pixels), so adding images never moves
        another image's patches.  ``"grid"``: every non-overlapping ``patch_size`` tile.
    seed : int, default 0
    flips, rotations : bool, default False
        Random flips and 90° turns of random patches (augmentation for training).
    free_rotation : bool, default False
        Also rotate random patches by any angle (:func:`sample_patches`).
    """

    crop_databar: bool = True
    equalize: str = "clahe"
    pixel_size: float | None = None
    field_of_view: float | None = None
    scale: float = 1.0
    max_rescale: float = 8.0
    scale_policy: str = "native"
    patch_size: int = 224
    patches_per_image: int = 16
    sampling: str = "random"
    seed: int = 0
    flips: bool = False
    rotations: bool = False
    free_rotation: bool = False

    def __post_init__(self) -> None:
        from semlab.preprocess.intensity import EQUALIZE_METHODS

        if self.equalize not in EQUALIZE_METHODS:
            raise ParameterError(f"equalize={self.equalize!r} is not one of {', '.join(EQUALIZE_METHODS)}")
        if self.sampling not in SAMPLINGS:
            raise ParameterError(f"sampling={self.sampling!r} is not one of {', '.join(SAMPLINGS)}")
        if self.scale_policy not in SCALE_POLICIES:
            raise ParameterError(
                f"scale_policy={self.scale_policy!r} is not one of {', '.join(SCALE_POLICIES)}"
            )
        if self.pixel_size is not None:
            object.__setattr__(self, "pixel_size", _positive_float(self.pixel_size, "pixel_size"))
        object.__setattr__(self, "scale", _positive_float(self.scale, "scale"))
        object.__setattr__(self, "max_rescale", _positive_float(self.max_rescale, "max_rescale"))
        if self.max_rescale < 1:
            raise ParameterError(f"max_rescale={self.max_rescale!r} must be >= 1 (a ratio of pixel sizes)")
        for name, minimum in (("patch_size", 1), ("patches_per_image", 1), ("seed", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
                raise ParameterError(f"{name}={value!r} must be an integer >= {minimum}")
            object.__setattr__(self, name, int(value))
        for name in ("crop_databar", "flips", "rotations", "free_rotation"):
            object.__setattr__(self, name, bool(getattr(self, name)))
        if self.field_of_view is not None:
            fov = _positive_float(self.field_of_view, "field_of_view")
            object.__setattr__(self, "field_of_view", fov)
            px = fov / int(self.patch_size)
            if self.pixel_size is not None and not math.isclose(self.pixel_size, px, rel_tol=1e-6):
                raise ParameterError(
                    f"field_of_view={fov:g} µm over patch_size={self.patch_size} px is {px:.4g} µm per pixel, "
                    f"not pixel_size={self.pixel_size:g}; give one of the two"
                )
            object.__setattr__(self, "pixel_size", px)

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible form, with ``version``; :meth:`from_dict` reads it back."""
        return {"version": PREPARATION_VERSION, **dataclasses.asdict(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Preparation:
        """A recipe from :meth:`to_dict` output, or from an older run's ``preprocessing`` dict.

        Unknown keys (e.g. a backbone's mean/std stored beside the recipe) are ignored;
        older key names (``equalize_method``, ``target_pixel_size_um`` …) are understood.
        A stored recipe without ``scale_policy`` (written before it existed) gets
        ``"refuse"``, the behaviour it was trained and evaluated with.
        """
        data = dict(data or {})
        version = data.get("version", PREPARATION_VERSION)
        if isinstance(version, int) and version > PREPARATION_VERSION:
            raise ParameterError(
                f"the preparation recipe has version {version}, newer than this semlab's "
                f"{PREPARATION_VERSION}; upgrade semlab"
            )
        fields = {f.name for f in dataclasses.fields(cls)}
        values: dict[str, Any] = {}
        values = {k: v for k, v in data.items() if k in fields}
        for old, name in _LEGACY_KEYS.items():  # older runs; the current names win
            if name not in values and data.get(old) is not None:
                values[name] = data[old]
        if data and "scale_policy" not in data:
            values["scale_policy"] = "refuse"  # recipes saved before scale_policy refused far scales
        if values.get("sampling") not in (None, *SAMPLINGS):
            del values["sampling"]  # a description written by semlab 0.1 (always random boxes)
        return cls(**{k: v for k, v in values.items() if v is not None})

    def replace(self, **changes: Any) -> Preparation:
        """A copy with some fields changed (validated)."""
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True, eq=False)
class PreparedImage:
    """A micrograph after :func:`prepare_image`.

    Attributes
    ----------
    image : (M, N) ndarray of float32
        Grey values in [0, 1].
    pixel_size : float or None
        µm per pixel of ``image`` (achieved along the columns), None when unknown.
    source_pixel_size : float or None
        µm per pixel of the input.
    databar_row : int or None
        The row the data bar was cut at (None: nothing cut).
    scale : {"target", "native", "unknown", "own"}, default "target"
        How the scale was set (:data:`SCALE_STATES`): resampled to the recipe's pixel size;
        kept at native resolution because it is more than ``max_rescale`` from it
        (``scale_policy="native"``); pixel size unknown (used at its own scale); the recipe
        has no pixel size.
    """

    image: np.ndarray
    pixel_size: float | None
    source_pixel_size: float | None
    databar_row: int | None
    scale: str = "target"


def common_pixel_size(pixel_sizes: Any, *, rule: str = "coarsest") -> float | None:
    """The pixel size (µm per pixel) a study's images are prepared at.

    Parameters
    ----------
    pixel_sizes : iterable of float or None
        The images' pixel sizes; unknown (None, NaN) ones are ignored.
    rule : {"coarsest", "median"}, default "coarsest"
        ``"coarsest"`` never upsamples an image (each is shrunk to the coarsest scale);
        ``"median"`` resamples half the images up and half down.

    Returns
    -------
    float or None
        None when no pixel size is known.

    Examples
    --------
    >>> from semlab.preprocess import common_pixel_size
    >>> common_pixel_size([0.01, None, 0.02])
    0.02
    """
    known = [float(p) for p in pixel_sizes if p is not None and math.isfinite(float(p)) and float(p) > 0]
    if not known:
        return None
    if rule == "coarsest":
        return max(known)
    if rule == "median":
        return float(np.median(known))
    raise ParameterError(f"rule={rule!r} is not one of coarsest, median")


def _positive_float(value: Any, name: str) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise ParameterError(f"{name}={value!r} must be a positive number") from None
    if not math.isfinite(out) or out <= 0:
        raise ParameterError(f"{name}={value!r} must be a positive finite number")
    return out


def _unpack(image: Any, pixel_size: float | None, metadata: dict[str, Any] | None, name: str | None):
    """(array, pixel size, metadata, name) of a Micrograph or an array."""
    if hasattr(image, "image") and hasattr(image, "pixel_size"):
        pixel_size = image.pixel_size if pixel_size is None else pixel_size
        metadata = {**(image.metadata or {}), **(metadata or {})}
        if name is None:
            src = getattr(image, "source", None)
            src_name = src.name if src is not None and hasattr(src, "name") else src or ""
            name = str(metadata.get("original_name") or src_name)
        image = image.image
    a = np.asarray(image)
    if a.ndim == 3 and a.shape[-1] in (3, 4):
        a = a[..., :3].astype(np.float64).mean(axis=-1)
    if a.ndim != 2 or a.size == 0:
        raise ParameterError(f"{name or 'image'}: shape {a.shape} is not a grey 2-D image")
    return a, pixel_size, dict(metadata or {}), name or "image"


def _scale_gap(recipe: Preparation, px: float, name: str) -> str:
    assert recipe.pixel_size is not None
    ratio = px / recipe.pixel_size
    return (
        f"{name}: pixel size {px:.4g} µm is {max(ratio, 1 / ratio):.3g}× "
        f"{'coarser' if ratio > 1 else 'finer'} than the recipe's {recipe.pixel_size:.4g} µm "
        f"(at most {recipe.max_rescale:g}× is resampled)"
    )


def scale_state(recipe: Preparation, pixel_size: float | None, name: str = "image") -> str:
    """How :func:`prepare_image` sets the scale of an image of ``pixel_size`` µm (or None).

    Returns one of :data:`SCALE_STATES`; raises the one-line
    :class:`~semlab.errors.ParameterError` of ``scale_policy="refuse"`` for an image more
    than ``max_rescale`` from the recipe's pixel size.
    """
    if pixel_size is None or not math.isfinite(float(pixel_size)):
        return "unknown"
    if recipe.pixel_size is None:
        return "own"
    ratio = float(pixel_size) / recipe.pixel_size
    if recipe.scale_policy == "resample" or 1 / recipe.max_rescale <= ratio <= recipe.max_rescale:
        return "target"
    if recipe.scale_policy == "refuse":
        raise ParameterError(
            _scale_gap(recipe, float(pixel_size), name)
            + "; use a model or study of a similar magnification, check the image's pixel size, "
            "or prepare with scale_policy='native'"
        )
    return "native"


def _resample_pair(recipe: Preparation, pixel_size: float | None, name: str) -> tuple[float, float]:
    """(from, to) pixel sizes for :func:`resample` under the recipe's scale policy."""
    if scale_state(recipe, pixel_size, name) == "target":
        assert pixel_size is not None and recipe.pixel_size is not None
        return float(pixel_size), recipe.pixel_size
    return 1.0, 1.0 / recipe.scale


def _warn_scale(state: str, recipe: Preparation, px: float | None, name: str) -> None:
    """One-line :class:`~semlab.errors.ScaleWarning` for a native or unknown-scale image."""
    import warnings

    from semlab.errors import ScaleWarning

    if state == "native":
        assert px is not None
        message = (
            _scale_gap(recipe, float(px), name)
            + "; tiled at its native resolution, so its patches cover a different field of view "
            "(scale_policy='native')"
        )
    elif state == "unknown" and recipe.pixel_size is not None:
        message = (
            f"{name}: pixel size unknown; used at its own scale, not the recipe's "
            f"{recipe.pixel_size:.4g} µm (set it with `semlab set-pixel-size` or pixel_size=)"
        )
    else:
        return
    warnings.warn(message, ScaleWarning, stacklevel=3)


def prepared_shape(
    shape: tuple[int, int], recipe: Preparation, *, pixel_size: float | None = None, name: str = "image"
) -> tuple[int, int]:
    """Shape (rows, columns) an image of ``shape`` (data bar already cut) gets under the recipe.

    Checks the scale policy without touching pixels: raises the same one-line
    :class:`~semlab.errors.ParameterError` as :func:`prepare_image` for an image whose
    pixel size is too far from the recipe's.
    """
    from semlab.preprocess.patches import resample_shape

    src, dst = _resample_pair(recipe, pixel_size, name)
    return (int(shape[0]), int(shape[1])) if src == dst else resample_shape(shape, src, dst)


def prepare_image(
    image: Any,
    recipe: Preparation,
    *,
    pixel_size: float | None = None,
    metadata: dict[str, Any] | None = None,
    name: str | None = None,
) -> PreparedImage:
    """Crop, equalize and resample one micrograph as the recipe says.

    Parameters
    ----------
    image : Micrograph or (M, N) ndarray
        A Micrograph brings its pixel size and metadata (an RGB array is averaged to grey).
        An image whose ``metadata["crop_box"]`` is set (read from a workspace) is not
        cropped again.
    recipe : Preparation
    pixel_size : float, optional
        µm per pixel of ``image`` (wins over the Micrograph's).
    metadata : dict, optional
        May give ``databar_row``.
    name : str, optional
        Used in error messages; default: the file name.

    Returns
    -------
    PreparedImage

    Raises
    ------
    ParameterError
        Not a 2-D image; a pixel size too far from the recipe's; a result that would exceed
        256 megapixels.
    """
    from semlab.preprocess.databar import locate_databar
    from semlab.preprocess.intensity import equalize
    from semlab.preprocess.patches import resample

    a, px, meta, label = _unpack(image, pixel_size, metadata, name)
    row = None
    if recipe.crop_databar and meta.get("crop_box") is None:
        row, _ = locate_databar(a, meta)
        if row is not None:
            a = a[:row]
    shape = prepared_shape(a.shape, recipe, pixel_size=px, name=label)
    src, dst = _resample_pair(recipe, px, label)
    state = scale_state(recipe, px, label)
    _warn_scale(state, recipe, px, label)
    out = equalize(a, method=recipe.equalize)
    if src != dst:
        if shape[0] * shape[1] > MAX_PREPARED_PIXELS:
            raise ParameterError(
                f"{label}: resampling {a.shape[1]}×{a.shape[0]} px to {shape[1]}×{shape[0]} px is too large; "
                "use a recipe pixel size or scale closer to the image's"
            )
        out = resample(out, src, dst)
    if px is None:
        out_px = None
    elif state == "target":
        out_px = recipe.pixel_size
    else:  # achieved along the columns
        out_px = a.shape[1] * float(px) / out.shape[1]
    out = np.clip(out, 0.0, 1.0).astype(np.float32, copy=False)
    return PreparedImage(out, out_px, None if px is None else float(px), row, state)


def _patch_rng(recipe: Preparation, image: np.ndarray, key: str | int | None) -> np.random.Generator:
    """Seeded by the recipe's seed and the image (hash, key or pixel checksum)."""
    if isinstance(key, str):
        try:
            k = int(key[:16], 16)
        except ValueError:
            k = zlib.crc32(key.encode())
    elif key is None:
        k = zlib.crc32(np.ascontiguousarray(image).tobytes())
    else:
        k = int(key)
    return np.random.default_rng([recipe.seed, k])


def prepare_patches(
    image: Any,
    recipe: Preparation,
    *,
    key: str | int | None = None,
    pixel_size: float | None = None,
    metadata: dict[str, Any] | None = None,
    name: str | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Patches (or tiles) of one micrograph under the recipe.

    Parameters
    ----------
    image : Micrograph, PreparedImage or (M, N) ndarray
        A :class:`PreparedImage` is used as it is; anything else goes through
        :func:`prepare_image` first.
    recipe : Preparation
    key : str or int, optional
        Seeds the random boxes together with ``recipe.seed``: a workspace image's SHA-256
        (the default for Micrographs read from a workspace, ``metadata["hash"]``), else a
        checksum of the prepared pixels.
    pixel_size, metadata, name
        As :func:`prepare_image`.

    Returns
    -------
    patches : (k, s, s) ndarray of float32
        Grey values in [0, 1]; ``s = recipe.patch_size``.
    boxes : (k, 4) ndarray of int64
        ``(row, col, height, width)`` in prepared pixels.

    Raises
    ------
    ParameterError
        The prepared image is smaller than the patch size (the message gives both), or as
        :func:`prepare_image`.
    """
    from semlab.preprocess.patches import sample_patches

    if isinstance(image, PreparedImage):
        prepared, label = image, name or "image"
    else:
        _, _, meta, label = _unpack(image, pixel_size, metadata, name)
        if key is None:
            key = meta.get("hash")
        prepared = prepare_image(image, recipe, pixel_size=pixel_size, metadata=metadata, name=label)
    a, size = prepared.image, recipe.patch_size
    if min(a.shape) < size:
        raise ParameterError(
            f"{label}: {a.shape[0]}×{a.shape[1]} px after preparation, smaller than the patch size {size}; "
            f"use a patch size of at most {min(a.shape)} or an image of a larger field of view"
        )
    if recipe.sampling == "grid":
        starts = [
            (r, c)
            for r in range(0, a.shape[0] - size + 1, size)
            for c in range(0, a.shape[1] - size + 1, size)
        ]
        boxes = np.array([(r, c, size, size) for r, c in starts], dtype=np.int64)
        patches = np.stack([a[r : r + size, c : c + size] for r, c in starts]).astype(np.float32, copy=False)
        return patches, boxes
    patches, boxes = sample_patches(
        a,
        recipe.patches_per_image,
        size,
        rng=_patch_rng(recipe, a, key),
        flips=recipe.flips,
        rotations=recipe.rotations,
        free_rotation=recipe.free_rotation,
        normalize=False,
        return_boxes=True,
    )
    return patches, boxes
