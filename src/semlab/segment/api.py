"""One entry point for every segmentation method: :func:`segment_image`, :func:`segment_stack`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from semlab.errors import ParameterError
from semlab.segment._common import image_2d

__all__ = ["CLASSIC_METHODS", "method_classes", "phase_fractions", "segment_image", "segment_stack"]

#: Methods that need no trained model.
CLASSIC_METHODS = ("otsu", "derivative", "hybrid")
_THRESHOLD_CLASSES = {0: "solid", 1: "pore"}


def _resolve(method: Any) -> Any:
    """A classic method name, or a loaded Segmenter."""
    from semlab.segment.infer import Segmenter, load_segmenter

    if isinstance(method, Segmenter):
        return method
    if isinstance(method, str) and method in CLASSIC_METHODS:
        return method
    if isinstance(method, (str, os.PathLike)):
        p = Path(method)
        if p.exists():
            return load_segmenter(p)
        raise ParameterError(
            f"method={str(method)!r} is neither one of {', '.join(CLASSIC_METHODS)} nor an existing model folder"
        )
    raise ParameterError(f"method={method!r} must be one of {', '.join(CLASSIC_METHODS)}, a model folder or a Segmenter")


def method_classes(method: Any) -> dict[int, str]:
    """Label value → class name of the labels a method writes."""
    from semlab.segment.hybrid import HYBRID_CLASSES

    m = _resolve(method)
    if isinstance(m, str):
        return dict(HYBRID_CLASSES) if m == "hybrid" else dict(_THRESHOLD_CLASSES)
    return dict(zip(m.classes, m.class_names, strict=True))


def phase_fractions(labels: Any, classes: Mapping[int, str]) -> dict[str, float]:
    """Area (2-D) or volume (3-D) fraction of every class of a label image.

    Parameters
    ----------
    labels : (M, N) or (P, M, N) ndarray of int
        Label image or stack.
    classes : mapping of int to str
        Label value → class name, e.g. :func:`method_classes` of the method that wrote
        ``labels``.

    Returns
    -------
    dict of str to float
        Class name → fraction of all pixels (dimensionless, in [0, 1]), in ``classes`` order.
        Values not in ``classes`` count in the total only.

    Examples
    --------
    >>> import numpy as np
    >>> phase_fractions(np.array([[0, 1], [1, 2]]), {0: "solid", 1: "pore", 2: "shine_through"})
    {'solid': 0.25, 'pore': 0.5, 'shine_through': 0.25}
    """
    lab = np.asarray(labels)
    if lab.size == 0:
        raise ParameterError(f"labels have shape {lab.shape}; give a non-empty label image")
    return {str(name): float(np.count_nonzero(lab == value)) / lab.size for value, name in classes.items()}


def segment_image(image: np.ndarray, *, method: Any = "hybrid", **options: Any) -> np.ndarray:
    """Segment a 2-D micrograph.

    Parameters
    ----------
    image : (M, N) ndarray
        Grey image, data bar removed.
    method : "otsu", "derivative", "hybrid", a model folder or a Segmenter, default "hybrid"
        ``"otsu"`` / ``"derivative"``: 0 = solid, 1 = pore; ``"hybrid"``: 0 = solid,
        1 = pore, 2 = shine-through pore (:func:`hybrid_annotation`); a trained segmenter
        writes its own class values.
    **options
        Passed to :func:`otsu_threshold`, :func:`derivative_threshold`,
        :func:`hybrid_annotation` or :meth:`Segmenter.predict` (``tile_size``, ``overlap``,
        ``device`` …).  The thresholds denoise by default (Gaussian ``sigma`` = 1 px before,
        regions below ``min_size`` = 16 px merged after); ``denoise=False`` thresholds the
        raw pixels.

    Returns
    -------
    (M, N) ndarray of uint8 (int32 for models with label values above 255)

    Examples
    --------
    >>> from semlab.data import render_sintered_film
    >>> from semlab.segment import segment_image
    >>> m = render_sintered_film(4, shape=(128, 128), rng=0)
    >>> labels = segment_image(m.content, method="hybrid")
    >>> labels.shape, sorted(set(labels.ravel().tolist())) <= [0, 1, 2]
    ((113, 128), True)
    """
    from semlab.segment.hybrid import hybrid_annotation
    from semlab.segment.threshold import threshold_image

    image_2d(image, "segment_image")
    m = _resolve(method)
    if m == "hybrid":
        return hybrid_annotation(image, **options).labels
    if isinstance(m, str):
        return threshold_image(image, method=m, **options).labels
    return m.predict(image, **options)


def segment_stack(volume: np.ndarray, *, method: Any = "hybrid", **options: Any) -> np.ndarray:
    """Segment a (P, M, N) stack slice by slice with :func:`segment_image`.

    A model folder is loaded once.  Thresholds are computed per slice.

    Returns
    -------
    (P, M, N) ndarray of labels
    """
    v = np.asarray(volume)
    if v.ndim != 3 or v.size == 0:
        raise ParameterError(f"volume has shape {v.shape}; segment_stack takes a non-empty (P, M, N) stack")
    m = _resolve(method)
    return np.stack([segment_image(s, method=m, **options) for s in v])
