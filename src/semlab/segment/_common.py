"""Input checks shared by the segmentation modules (NumPy only)."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from semlab.errors import ParameterError


def image_2d(image: Any, func: str, name: str = "image") -> np.ndarray:
    """A non-empty, real-valued 2-D array, else ParameterError."""
    a = np.asarray(image)
    if a.ndim != 2:
        raise ParameterError(f"{name} has shape {a.shape}; {func} takes a 2-D grey image (use a stack function for 3-D)")
    if a.size == 0:
        raise ParameterError(f"{name} has shape {a.shape}; give a non-empty image")
    if not (np.issubdtype(a.dtype, np.number) or a.dtype == bool) or np.issubdtype(a.dtype, np.complexfloating):
        raise ParameterError(f"{name} dtype {a.dtype} is not a real number type; give a grey image")
    return a


def positive_int(value: Any, name: str, *, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ParameterError(f"{name}={value!r} must be an integer >= {minimum}")
    return int(value)


def positive_float(value: Any, name: str, *, allow_zero: bool = False) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ParameterError(f"{name}={value!r} is not a number") from None
    if not np.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        raise ParameterError(f"{name}={value!r} must be a {'non-negative' if allow_zero else 'positive'} number")
    return v


def finite_values(a: np.ndarray) -> np.ndarray:
    """The finite values of ``a`` as float64, flattened."""
    v = a.astype(np.float64, copy=False).ravel()
    if a.dtype.kind == "f":
        v = v[np.isfinite(v)]
    return v
