"""Grey-value scaling and histogram equalization (global and CLAHE)."""

from __future__ import annotations

import numbers

import numpy as np

from semlab.errors import ParameterError

__all__ = ["EQUALIZE_METHODS", "equalize", "rescale_unit", "unit_range"]

#: Methods :func:`equalize` accepts.
EQUALIZE_METHODS = ("global", "clahe", "none")
_RESCALE_MODES = ("auto", "dtype", "minmax")


def _as_2d(image: np.ndarray, func: str) -> np.ndarray:
    a = np.asarray(image)
    if a.ndim != 2:
        raise ParameterError(f"image has shape {a.shape}; {func} takes a 2-D grey image")
    if not (np.issubdtype(a.dtype, np.number) or a.dtype == bool) or np.issubdtype(
        a.dtype, np.complexfloating
    ):
        raise ParameterError(f"image dtype {a.dtype} is not a real number type; give a grey image")
    if a.size == 0:
        raise ParameterError(f"image has shape {a.shape}; give a non-empty image")
    return a


def unit_range(image: np.ndarray, *, mode: str = "auto") -> tuple[float, float]:
    """The grey values ``(lo, hi)`` that :func:`rescale_unit` maps to 0 and 1.

    Parameters
    ----------
    image : ndarray
        Any real-valued array.
    mode : {"auto", "dtype", "minmax"}
        See :func:`rescale_unit`.

    Returns
    -------
    (float, float)
        ``lo < hi``, except for a constant image under min–max, where ``lo == hi``.
    """
    if mode not in _RESCALE_MODES:
        raise ParameterError(f"mode={mode!r} is not one of {', '.join(map(repr, _RESCALE_MODES))}")
    a = np.asarray(image)
    kind = a.dtype.kind
    if mode == "auto":
        mode = "dtype" if kind in "ub" else "minmax"
    if mode == "dtype":
        if kind == "b":
            return 0.0, 1.0
        if kind in "ui":
            info = np.iinfo(a.dtype)
            return (0.0, float(info.max)) if kind == "u" else (float(info.min), float(info.max))
        return 0.0, 1.0  # floats: assumed to be in [0, 1] already
    if a.size == 0:
        return 0.0, 0.0
    if kind in "fc":
        finite = a[np.isfinite(a)]
        if finite.size == 0:
            return 0.0, 0.0
        return float(finite.min()), float(finite.max())
    return float(a.min()), float(a.max())


def rescale_unit(image: np.ndarray, *, mode: str = "auto") -> np.ndarray:
    """Scale grey values to [0, 1] as float32.

    Parameters
    ----------
    image : ndarray
        Any shape, any real dtype.
    mode : {"auto", "dtype", "minmax"}, default "auto"
        ``"dtype"`` divides by the dtype's range (uint8 by 255, uint16 by 65535; floats
        are taken to be in [0, 1] already and clipped); ``"minmax"`` maps the image's
        own minimum to 0 and maximum to 1 (NaN and inf ignored; a constant image gives
        zeros); ``"auto"`` uses ``"dtype"`` for unsigned integers and booleans, so that
        brightness stays comparable between images, and ``"minmax"`` otherwise.

    Returns
    -------
    ndarray of float32
        Same shape, values in [0, 1] (NaN stays NaN).

    Examples
    --------
    >>> import numpy as np
    >>> from semlab.preprocess import rescale_unit
    >>> rescale_unit(np.array([0, 51, 255], dtype=np.uint8)).tolist()
    [0.0, 0.20000000298023224, 1.0]
    >>> rescale_unit(np.array([2.0, 3.0, 4.0])).tolist()
    [0.0, 0.5, 1.0]
    """
    a = np.asarray(image)
    lo, hi = unit_range(a, mode=mode)
    out = a.astype(np.float64)
    if hi > lo:
        out = (out - lo) / (hi - lo)
    else:
        out = np.where(np.isnan(out), np.nan, 0.0)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def equalize(
    image: np.ndarray,
    *,
    method: str = "clahe",
    clip_limit: float = 0.01,
    kernel_size: int | tuple[int, int] | None = None,
    nbins: int = 256,
) -> np.ndarray:
    """Equalize the grey-value histogram of a micrograph.

    Parameters
    ----------
    image : (M, N) ndarray
        Grey image: uint8, uint16, other integers, bool or float (any range).
    method : {"global", "clahe", "none"}, default "clahe"
        ``"global"``: histogram equalization over the whole image
        (:func:`skimage.exposure.equalize_hist`); each integer grey level is its own bin
        (8- and 16-bit images), float images use ``nbins`` bins.  The mapping is monotone: brighter input pixels
        never become darker than dimmer ones.  ``"clahe"``: contrast-limited adaptive
        equalization (:func:`skimage.exposure.equalize_adapthist`) on the min–max scaled
        image, which evens out slow brightness changes across the field.  ``"none"``: only
        :func:`rescale_unit` (dtype range for unsigned integers, min–max otherwise).
    clip_limit : float, default 0.01
        CLAHE clip limit in (0, 1]; higher gives more contrast.
    kernel_size : int or (int, int), optional
        CLAHE context region in pixels (rows, columns); default 1/8 of the image.
    nbins : int, default 256
        Histogram bins for CLAHE and for global equalization of float images.

    Returns
    -------
    (M, N) ndarray of float32
        Values in [0, 1].

    Raises
    ------
    ParameterError
        Unknown ``method`` or invalid ``clip_limit``, ``kernel_size``, ``nbins``.

    Examples
    --------
    >>> import numpy as np
    >>> from semlab.preprocess import equalize
    >>> image = np.random.default_rng(0).gamma(2.0, 10.0, size=(64, 64)).astype(np.uint16)
    >>> out = equalize(image, method="clahe")
    >>> out.dtype, float(out.min()) >= 0.0, float(out.max()) <= 1.0
    (dtype('float32'), True, True)
    """
    if method not in EQUALIZE_METHODS:
        raise ParameterError(f"method={method!r} is not one of {', '.join(map(repr, EQUALIZE_METHODS))}")
    a = _as_2d(image, "equalize")
    if isinstance(nbins, bool) or not isinstance(nbins, numbers.Integral) or nbins < 2:
        raise ParameterError(f"nbins={nbins!r} must be an integer >= 2")
    if method == "none":
        return rescale_unit(a)
    if a.dtype == bool:
        a = a.astype(np.uint8)

    if method == "global":
        from skimage.exposure import equalize_hist

        if a.dtype.kind == "f":
            finite = np.isfinite(a)
            if not finite.all():
                mask = finite
                a = np.where(finite, a, np.nanmin(a[finite]) if finite.any() else 0.0)
                out = equalize_hist(a, nbins=nbins, mask=mask)
            else:
                out = equalize_hist(a, nbins=nbins)
        else:
            lo, hi = int(a.min()), int(a.max())
            if lo == hi:
                return np.zeros(a.shape, dtype=np.float32)
            # One bin per integer level, unless the levels span more than 16 bits.
            out = equalize_hist(a) if hi - lo <= 65535 else equalize_hist(a.astype(np.float64), nbins=nbins)
        return np.clip(out, 0.0, 1.0).astype(np.float32)

    # CLAHE
    try:
        clip = float(clip_limit)
    except (TypeError, ValueError):
        raise ParameterError(f"clip_limit={clip_limit!r} must be a number in (0, 1]") from None
    if not 0 < clip <= 1:
        raise ParameterError(f"clip_limit={clip_limit!r} must be in (0, 1]; 0.01 is a common choice")
    if kernel_size is not None:
        sizes = (kernel_size,) * 2 if isinstance(kernel_size, numbers.Number) else tuple(kernel_size)
        if len(sizes) != 2 or not all(
            isinstance(k, numbers.Integral) and not isinstance(k, bool) and k >= 1 for k in sizes
        ):
            raise ParameterError(
                f"kernel_size={kernel_size!r} must be a positive integer or (rows, columns) in pixels"
            )
        kernel_size = (int(sizes[0]), int(sizes[1]))
    from skimage.exposure import equalize_adapthist

    unit = rescale_unit(a, mode="minmax").astype(np.float64)
    unit = np.nan_to_num(unit, nan=0.0)
    if unit.max() == unit.min():
        return np.zeros(a.shape, dtype=np.float32)
    out = equalize_adapthist(unit, kernel_size=kernel_size, clip_limit=clip, nbins=nbins)
    return np.clip(out, 0.0, 1.0).astype(np.float32)
