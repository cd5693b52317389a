"""Cropping the information bar that SEMs burn into the bottom of an image.

:func:`crop_databar` removes the bar found by :func:`semlab.io.find_databar` (or starting at a
given row).  Finding and locating the bar (:func:`find_databar`, :func:`locate_databar`)
live in :mod:`semlab.io.databar`, since the workspace records the bar at ingest; they are
exported here as well, as ``semlab.preprocess.find_databar`` and ``locate_databar``.
"""

from __future__ import annotations

import numpy as np

from semlab.errors import ParameterError
from semlab.io import find_databar, locate_databar

__all__ = ["crop_databar", "find_databar", "locate_databar"]


def crop_databar(image: np.ndarray, *, row: int | None = None) -> np.ndarray:
    """Remove the data bar at the bottom of an SEM image.

    Parameters
    ----------
    image : (M, N) ndarray
        Grey image, any dtype.
    row : int, optional
        First row of the bar (``1 <= row <= M``), e.g. ``metadata["databar_row"]`` from
        :func:`semlab.io.read_micrograph`.  When omitted, :func:`find_databar` looks for it.

    Returns
    -------
    (R, N) ndarray
        ``image[:row]``, a view of the input; the input itself when no bar is found.

    Examples
    --------
    >>> import numpy as np
    >>> from semlab.preprocess import crop_databar
    >>> crop_databar(np.zeros((10, 4)), row=8).shape
    (8, 4)
    """
    a = np.asarray(image)
    if a.ndim != 2:
        raise ParameterError(f"image has shape {a.shape}; crop_databar takes a 2-D grey image")
    if row is None:
        row = find_databar(a)
        return a if row is None else a[:row]
    if isinstance(row, bool) or not isinstance(row, (int, np.integer)):
        raise ParameterError(f"row={row!r} must be an integer row index (the first row of the bar)")
    if not 1 <= row <= a.shape[0]:
        raise ParameterError(
            f"row={row} is outside the image of {a.shape[0]} rows; give 1 <= row <= {a.shape[0]}"
        )
    return a[: int(row)]
