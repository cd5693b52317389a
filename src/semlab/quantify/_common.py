"""Shared input checks for :mod:`semlab.quantify`: label images, phases, pixel sizes, units."""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from semlab.errors import ParameterError

#: Label images with more distinct values than this are taken for grey images.
MAX_PHASES = 32

Phase = int | Sequence[int]

#: Particle connectivities of 2-D label images: 4 (pixels sharing an edge are one particle)
#: or 8 (sharing an edge or a corner).  8 is the default of every quantify function.
CONNECTIVITIES = (4, 8)


class QuantifyWarning(UserWarning):
    """A descriptor is undefined for this input (e.g. one phase only) and is reported as NaN."""


def warn(message: str) -> None:
    """Issue a :class:`QuantifyWarning` pointing at the caller of the public function."""
    warnings.warn(message, QuantifyWarning, stacklevel=3)


def as_labels(labels: Any, *, ndim: int | tuple[int, ...], name: str = "labels") -> np.ndarray:
    """Check that ``labels`` is an integer phase-label array of the expected dimension.

    Boolean arrays become ``uint8`` (``True`` = 1); float arrays with integral values are
    accepted.  Grey images (non-integral values, or more than :data:`MAX_PHASES` distinct
    values) raise :class:`~semlab.errors.ParameterError`.
    """
    arr = np.asarray(labels)
    dims = (ndim,) if isinstance(ndim, int) else ndim
    if arr.ndim not in dims:
        want = " or ".join(f"{d}-D" for d in dims)
        raise ParameterError(f"{name} has shape {arr.shape}; expected a {want} label array")
    if arr.size == 0:
        raise ParameterError(f"{name} is empty (shape {arr.shape}); pass a non-empty label array")
    if arr.dtype == bool:
        return arr.view(np.uint8)
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
            raise ParameterError(
                f"{name} holds non-integer values (dtype {arr.dtype}); it looks like a grey image — "
                "segment it first (e.g. an Otsu threshold, `semlab quantify --threshold otsu`) and pass phase labels"
            )
        arr = arr.astype(np.int64)
    elif arr.dtype.kind not in "iu":
        raise ParameterError(f"{name} has dtype {arr.dtype}; pass an integer or boolean label array")
    n = _n_distinct(arr, MAX_PHASES + 1)
    if n > MAX_PHASES:
        raise ParameterError(
            f"{name} has more than {MAX_PHASES} distinct values; it looks like a grey image, not phase labels — "
            "threshold it first (e.g. `semlab quantify --threshold otsu`)"
        )
    return arr


def neighbourhood(connectivity: Any, *, name: str = "connectivity") -> np.ndarray:
    """3×3 structuring element of 4- or 8-connectivity (for ``scipy.ndimage.label``).

    Raises :class:`~semlab.errors.ParameterError` for any other value.
    """
    if isinstance(connectivity, bool) or not isinstance(connectivity, int | np.integer) or connectivity not in CONNECTIVITIES:
        raise ParameterError(
            f"{name}={connectivity!r} must be 4 (pixels sharing an edge) or 8 (an edge or a corner)"
        )
    if connectivity == 8:
        return np.ones((3, 3), bool)
    return np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], bool)


def _n_distinct(arr: np.ndarray, stop: int) -> int:
    if arr.dtype in (np.uint8, np.int8, np.uint16, np.bool_):
        counts = np.bincount(arr.ravel().astype(np.int64) - int(arr.min()))
        return int(np.count_nonzero(counts))
    return len(np.unique(arr))


def phase_key(phase: Phase) -> int | tuple[int, ...]:
    """``phase`` as results record it: the label value, or a tuple of label values."""
    if isinstance(phase, Iterable):
        return tuple(int(v) for v in phase)
    return int(phase)


def phase_mask(labels: np.ndarray, phase: Phase, *, name: str = "labels") -> np.ndarray:
    """Boolean mask of ``phase`` (a label value, or several whose union is the phase).

    A phase absent from an image that holds several values is an error; an image that
    holds a single value gives an empty or full mask with a :class:`QuantifyWarning`.
    """
    values: list[Any] = [phase] if np.isscalar(phase) else list(phase)  # type: ignore[arg-type]
    if not values:
        raise ParameterError("phase is empty; pass a label value such as phase=1")
    try:
        values = [int(v) for v in values]
    except (TypeError, ValueError):
        raise ParameterError(f"phase={phase!r} must be an integer label value (or a list of them)") from None
    mask = np.isin(labels, values) if len(values) > 1 else labels == values[0]
    if mask.any() and not mask.all():  # the phase and something else: nothing to check
        return mask
    present = np.unique(labels) if labels.size < 50_000_000 else None
    if present is not None and len(present) == 1:
        warn(
            f"{name} holds a single value ({present[0]}); phase={phase!r} fills "
            f"{'all' if mask.any() else 'none'} of it — interface descriptors are 0 and size/shape ones NaN"
        )
    elif not mask.any():
        shown = ", ".join(str(v) for v in (present[:8] if present is not None else []))
        raise ParameterError(
            f"phase={phase!r} is not in {name} (values {shown}); pass one of the label values"
        )
    return mask


def spacing(pixel_size: Any, ndim: int, *, name: str = "pixel_size") -> tuple[float, ...] | None:
    """Per-axis pixel size in µm, or ``None`` when unknown (results then in pixels)."""
    if pixel_size is None:
        return None
    if isinstance(pixel_size, str) or not isinstance(pixel_size, Iterable):  # one number for every axis
        sizes = (pixel_size,) * ndim
    else:
        sizes = tuple(pixel_size)
        if len(sizes) != ndim:
            raise ParameterError(
                f"{name}={pixel_size!r} has {len(sizes)} values for a {ndim}-D array; pass one number or {ndim}"
            )
    out = []
    for s in sizes:
        try:
            v = float(s)
        except (TypeError, ValueError):
            raise ParameterError(
                f"{name}={pixel_size!r} is not a number; give the size in µm per pixel"
            ) from None
        if not math.isfinite(v) or v <= 0:
            raise ParameterError(f"{name}={pixel_size!r} must be positive µm per pixel (or None for pixels)")
        out.append(v)
    return tuple(out)


def isotropic(pixel_size: Any, ndim: int, *, what: str) -> float | None:
    """Single pixel size in µm for estimators that need square pixels; ``None`` if unknown."""
    sp = spacing(pixel_size, ndim)
    if sp is None:
        return None
    if max(sp) - min(sp) > 1e-6 * max(sp):
        raise ParameterError(
            f"pixel_size={pixel_size!r} is anisotropic; {what} needs square pixels — "
            "resample the image to one pixel size first (or pass a single number)"
        )
    return sp[0]


def unit(pixel_size: Any) -> str:
    """``"µm"`` when the pixel size is known, else ``"px"``."""
    return "px" if pixel_size is None else "µm"


def suffix(pixel_size: Any) -> str:
    """Column-name unit suffix: ``"um"`` or ``"px"``."""
    return "px" if pixel_size is None else "um"
