"""One entry point for every segmentation method: :func:`segment_image`, :func:`segment_stack`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from semlab.errors import ParameterError
from semlab.segment._common import image_2d
from semlab.segment.phases import NO_DATA, ForegroundChoice

__all__ = [
    "CLASSIC_METHODS",
    "Segmentation",
    "method_classes",
    "phase_fractions",
    "segment_image",
    "segment_labelled",
    "segment_stack",
]

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
    raise ParameterError(
        f"method={method!r} must be one of {', '.join(CLASSIC_METHODS)}, a model folder or a Segmenter"
    )


def method_classes(method: Any) -> dict[int, str]:
    """Label value → class name of the labels a method writes through :func:`segment_image`
    with its default ``foreground="dark"`` (thresholds 0 = solid, 1 = pore); for named phases
    (any foreground, ``phase_name``) use :attr:`Segmentation.classes` of :func:`segment_labelled`."""
    from semlab.segment.hybrid import HYBRID_CLASSES

    m = _resolve(method)
    if isinstance(m, str):
        return dict(HYBRID_CLASSES) if m == "hybrid" else dict(_THRESHOLD_CLASSES)
    return dict(zip(m.classes, m.class_names, strict=True))


def phase_fractions(
    labels: Any, classes: Mapping[int, str], *, no_data: int | None = NO_DATA
) -> dict[str, float]:
    """Area (2-D) or volume (3-D) fraction of every class of a label image.

    Parameters
    ----------
    labels : (M, N) or (P, M, N) ndarray of int
        Label image or stack.
    classes : mapping of int to str
        Label value → class name, e.g. :func:`method_classes` of the method that wrote
        ``labels``.
    no_data : int or None, default NO_DATA (255)
        Label value of pixels without data (data-bar rows), left out of the total unless it
        is one of ``classes``; ``None`` counts every pixel.

    Returns
    -------
    dict of str to float
        Class name → fraction of the pixels with data (dimensionless, in [0, 1]), in
        ``classes`` order.  Other values not in ``classes`` count in the total only.  NaN
        for every class when no pixel has data.

    Examples
    --------
    >>> import numpy as np
    >>> phase_fractions(np.array([[0, 1], [1, 2]]), {0: "solid", 1: "pore", 2: "shine_through"})
    {'solid': 0.25, 'pore': 0.5, 'shine_through': 0.25}
    """
    lab = np.asarray(labels)
    if lab.size == 0:
        raise ParameterError(f"labels have shape {lab.shape}; give a non-empty label image")
    total = lab.size
    if no_data is not None and int(no_data) not in classes:
        total -= int(np.count_nonzero(lab == int(no_data)))
    if total == 0:
        return {str(name): float("nan") for name in classes.values()}
    return {str(name): float(np.count_nonzero(lab == value)) / total for value, name in classes.items()}


def segment_image(
    image: np.ndarray, *, method: Any = "hybrid", foreground: str = "dark", **options: Any
) -> np.ndarray:
    """Segment a 2-D micrograph.

    Parameters
    ----------
    image : (M, N) ndarray
        Grey image, data bar removed.
    method : "otsu", "derivative", "hybrid", a model folder or a Segmenter, default "hybrid"
        ``"otsu"`` / ``"derivative"``: 0 = solid, 1 = pore; ``"hybrid"``: 0 = solid,
        1 = pore, 2 = shine-through pore (:func:`hybrid_annotation`); a trained segmenter
        writes its own class values.
    foreground : {"dark", "bright", "auto"}, default "dark"
        Thresholds and hybrid: the phase labelled 1 (hybrid: 1 and 2); ``"auto"`` chooses
        by :func:`auto_foreground`.  Trained segmenters ignore it.  For named classes, the
        data bar kept as "no data" and warnings, use :func:`segment_labelled` (default "auto").
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
        return hybrid_annotation(image, foreground=foreground, **options).labels
    if isinstance(m, str):
        return threshold_image(image, method=m, foreground=foreground, **options).labels
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


@dataclass(frozen=True, eq=False)
class Segmentation:
    """A label image with its class names, the phase measured, and what to be wary of.

    Attributes
    ----------
    labels : (M, N) ndarray of uint8 (uint16 where needed)
        Labels with the input's shape; data-bar rows hold ``no_data``.
    classes : dict of int to str
        Label value → class name (``no_data`` not included).
    foreground : ForegroundChoice or None
        The phase of interest and the rule that chose it (``None`` for trained segmenters,
        which write their own classes).
    measured_phase : str
        Name of the phase whose fractions and descriptors are reported by default.
    measured_labels : tuple of int
        Its label values (the hybrid: 1 and 2, pore and shine-through pore).
    warnings : tuple of str
        One line each (blank or near-constant image, a phase covering the whole image …).
    no_data : int
        Label value of the pixels without data (:data:`NO_DATA` = 255 unless that is a class).
    databar_row : int or None
        First data-bar row (labels below it are ``no_data``), ``None`` when nothing was cut.
    method : str
        The method's name (model folder or ``"model"`` for a Segmenter).
    pixel_size : float or None
        µm per pixel, ``None`` when unknown.
    """

    labels: np.ndarray
    classes: dict[int, str]
    foreground: ForegroundChoice | None
    measured_phase: str
    measured_labels: tuple[int, ...]
    warnings: tuple[str, ...] = ()
    no_data: int = NO_DATA
    databar_row: int | None = None
    method: str = "hybrid"
    pixel_size: float | None = None

    def fractions(self) -> dict[str, float]:
        """Class name → area fraction of the pixels with data (:func:`phase_fractions`)."""
        return phase_fractions(self.labels, self.classes, no_data=self.no_data)

    @property
    def measured_fraction(self) -> float:
        """Area fraction of the measured phase (its label values together), pixels with data only."""
        data = self.labels != self.no_data
        n = int(data.sum())
        return float(np.isin(self.labels[data], self.measured_labels).sum()) / n if n else float("nan")

    def to_metadata(self) -> dict[str, Any]:
        """JSON-compatible description (what :func:`write_labels` stores beside the labels)."""
        return {
            "kind": "labels",
            "method": self.method,
            "classes": {str(k): v for k, v in self.classes.items()},
            "measured_phase": self.measured_phase,
            "measured_labels": list(self.measured_labels),
            "foreground": None if self.foreground is None else self.foreground.to_dict(),
            "no_data": int(self.no_data),
            "databar_row": self.databar_row,
            "pixel_size_um": self.pixel_size,
            "shape": list(self.labels.shape),
            "warnings": list(self.warnings),
        }


def _phase_classes(
    method: Any, fg: str | None, phase_name: str | None
) -> tuple[dict[int, str], tuple[int, ...]]:
    """Class names and measured label values of a method's labels."""
    from semlab.segment.hybrid import HYBRID_CLASSES

    if isinstance(method, str):
        if method == "hybrid" and fg == "dark" and phase_name is None:
            return dict(HYBRID_CLASSES), (1, 2)
        name = phase_name or f"{fg} phase"
        if method == "hybrid":
            return {0: "background", 1: name, 2: f"{name} (shine-through part)"}, (1, 2)
        return {0: "background", 1: name}, (1,)
    classes = dict(zip(method.classes, method.class_names, strict=True))
    values = sorted(classes)
    measured = tuple(values[1:]) if len(values) > 1 else tuple(values)
    if phase_name is not None and len(measured) == 1:
        classes[measured[0]] = phase_name
    return classes, measured


def _measured_name(classes: dict[int, str], measured: tuple[int, ...]) -> str:
    """The measured phase's name: its classes joined by " + ", or the first class's name when
    the others are its parts (a named hybrid phase and its shine-through part)."""
    names = [classes[v] for v in measured]
    return names[0] if all(n.startswith(names[0]) for n in names) else " + ".join(names)


def blank_warning(image: np.ndarray) -> str | None:
    """One line when ``image`` is blank or near-constant, else ``None``.

    Uses :func:`semlab.preprocess.image_quality` (its ``"blank"`` flag), then a check of the
    grey range: all pixels equal, or 98 % of them within 4 grey levels and 2 % of the image's
    largest value (noise around one level).
    """
    from semlab.preprocess import image_quality

    q = image_quality(image)
    if "blank" in q.flags:
        msg = [m for m in q.messages if "blank" in m]
        return (msg[0] if msg else "image is blank") + ": the segmentation means nothing"
    a = np.asarray(image, dtype=np.float64)
    a = a[np.isfinite(a)]
    if a.size == 0:
        return "image holds no finite grey values: nothing to segment"
    lo, hi = np.percentile(a, [1, 99])
    full = float(a.max() - a.min())
    if full == 0:
        return f"image is blank (every pixel {a.min():g}): the segmentation means nothing"
    if hi - lo < 0.02 * max(abs(float(a.max())), 1.0) and hi - lo < 4:
        return f"image is near-constant (98 % of pixels within {hi - lo:g} grey levels): the segmentation is noise"
    return None


def _databar_row(a: np.ndarray, crop_databar: Any, metadata: Mapping[str, Any] | None) -> int | None:
    if crop_databar is False or crop_databar is None:
        return None
    if crop_databar is True:
        from semlab.io import locate_databar

        row, _ = locate_databar(a, dict(metadata or {}))
    else:
        row = int(crop_databar)
    if row is None or not 0 < row < a.shape[0]:
        return None
    return int(row)


def segment_labelled(
    image: np.ndarray,
    *,
    method: Any = "hybrid",
    foreground: str = "auto",
    phase_name: str | None = None,
    pixel_size: float | None = None,
    crop_databar: bool | int = True,
    metadata: Mapping[str, Any] | None = None,
    **options: Any,
) -> Segmentation:
    """Segment a 2-D micrograph into named classes, keeping the input's shape.

    Parameters
    ----------
    image : (M, N) ndarray
        Grey micrograph as read (data bar included or not).
    method : "otsu", "derivative", "hybrid", a model folder or a Segmenter, default "hybrid"
        As :func:`segment_image`.
    foreground : {"auto", "bright", "dark"}, default "auto"
        The phase of interest, labelled 1 (hybrid: 1 and 2).  ``"auto"`` chooses by
        :func:`auto_foreground` (rule ``"border"``: the phase under-represented on the image
        border and less often cut by it).  Trained segmenters ignore it.
    phase_name : str, optional
        Name of the phase of interest, e.g. ``"particle"``; default ``"bright phase"`` /
        ``"dark phase"`` (hybrid with a dark foreground: ``"pore"``).
    pixel_size : float, optional
        µm per pixel; thresholds use it for ``sigma_um`` / ``min_size_um2``.
    crop_databar : bool or int, default True
        Segment only the rows above the data bar (``True``: from ``metadata`` or detected;
        an int: that first bar row; ``False``: the whole image).  The rows below are
        ``no_data`` in the labels, which keep the input's shape.
    metadata : mapping, optional
        ``Micrograph.metadata`` (a vendor's data-bar row wins over detection).
    **options
        Options of the method (:func:`segment_image`).

    Returns
    -------
    Segmentation

    Examples
    --------
    >>> import numpy as np
    >>> from semlab.segment import segment_labelled
    >>> image = np.full((64, 64), 30.0)
    >>> image[16:48, 16:48] = 200.0                    # a bright square of 25 % of the image
    >>> image += np.random.default_rng(0).normal(0, 20, image.shape)
    >>> seg = segment_labelled(image, method="otsu", phase_name="particle", crop_databar=False)
    >>> seg.classes, seg.foreground.foreground, round(seg.measured_fraction, 3)
    ({0: 'background', 1: 'particle'}, 'bright', 0.25)
    """
    from semlab.segment.phases import check_foreground, resolve_foreground
    from semlab.segment.threshold import THRESHOLD_METHODS

    a = image_2d(image, "segment_labelled")
    check_foreground(foreground)
    row = _databar_row(a, crop_databar, metadata)
    work = a if row is None else a[:row]
    warn: list[str] = []
    blank = blank_warning(work)
    if blank:
        warn.append(blank)
    m = _resolve(method)
    choice = None
    if isinstance(m, str):
        choice = resolve_foreground(work, foreground)
        if m in THRESHOLD_METHODS and pixel_size is not None and "pixel_size" not in options:
            options = {**options, "pixel_size": pixel_size}
        lab = segment_image(work, method=m, foreground=choice.foreground, **options)
    else:
        lab = segment_image(work, method=m, **options)
    classes, measured = _phase_classes(m, None if choice is None else choice.foreground, phase_name)
    no_data = NO_DATA if NO_DATA not in classes else 65535
    dtype: Any = np.uint8 if no_data <= 255 and (lab.size == 0 or int(lab.max()) <= 255) else np.uint16
    if lab.dtype.kind in "iu" and lab.size and int(lab.max()) > 65535:
        dtype = lab.dtype
    labels = np.full(a.shape, no_data, dtype=dtype)
    labels[: work.shape[0]] = lab
    seg = Segmentation(
        labels=labels, classes=classes, foreground=choice, measured_phase=_measured_name(classes, measured),
        measured_labels=measured, no_data=no_data, databar_row=row,
        method=str(method) if isinstance(method, (str, os.PathLike)) else "model", pixel_size=pixel_size,
    )  # fmt: skip
    if choice is not None and choice.uncertain and choice.rule != "constant":
        warn.append(
            f"automatic phase choice is uncertain (rule {choice.rule}, margin {choice.margin:+.2f}, "
            f"|margin| < 0.1): check the overlay, or pass foreground='bright' or 'dark'"
        )
    frac = seg.measured_fraction
    if not blank and (frac == 0.0 or frac == 1.0):
        warn.append(
            f"the {seg.measured_phase} covers {frac:.0%} of the image: check the image and --foreground"
        )
    return replace(seg, warnings=tuple(warn))
