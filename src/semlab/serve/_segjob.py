"""Segmentation for the web app: the method and phase chosen per upload, named results.

An upload chooses a ``method`` (``otsu``, ``derivative``, ``hybrid`` or a trained segmenter
``model:NAME``), the phase of interest (``foreground``: ``auto``, ``bright``, ``dark``) and
optionally a name for that phase.  The result says which phase was measured, by name, and
how ``auto`` chose it.  Labels have the upload's full shape; the data-bar rows hold
:data:`NO_DATA` (ignored by fractions and descriptors).

When :func:`semlab.segment.segment_labelled` exists it does the work (its automatic rule,
its warnings); otherwise the classic functions run here with a simple rule for ``auto``:
the minority of the dark (pore) and bright (solid) phases.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from semlab.errors import ParameterError
from semlab.serve._models import FOREGROUNDS, MODEL_PREFIX

#: Label value of pixels that are not micrograph (the data bar).
NO_DATA = 255


@dataclass(frozen=True)
class SegmentOptions:
    """What an upload asked of segmentation.

    Attributes
    ----------
    method : str
        ``otsu``, ``derivative``, ``hybrid`` or ``model:NAME`` (a trained segmenter).
    foreground : {"auto", "bright", "dark"}
        The phase of interest.
    phase : str, optional
        A name for the measured phase (``"particles"``); default the class names.
    """

    method: str = "hybrid"
    foreground: str = "auto"
    phase: str | None = None

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None, *, default_method: str) -> SegmentOptions:
        d = d or {}
        phase = str(d.get("phase") or "").strip() or None
        return cls(method=str(d.get("method") or default_method), foreground=str(d.get("foreground") or "auto"),
                   phase=phase)  # fmt: skip

    def key(self) -> str:
        """Short stable name of these options (result files are named by image hash and key)."""
        text = json.dumps([self.method, self.foreground, self.phase], ensure_ascii=False)
        return hashlib.sha256(text.encode()).hexdigest()[:10]

    def check(self, methods: list[str]) -> None:
        if self.method not in methods:
            raise ParameterError(f"method: unknown {self.method!r}; choose from {', '.join(methods)}")
        if self.foreground not in FOREGROUNDS:
            raise ParameterError(
                f"foreground: unknown {self.foreground!r}; choose from {', '.join(FOREGROUNDS)}"
            )
        if self.phase is not None and len(self.phase) > 60:
            raise ParameterError("phase: a name of at most 60 characters, e.g. 'particles'")


@dataclass(frozen=True)
class WebSegmentation:
    """A segmentation as the page shows it.

    Attributes
    ----------
    labels : (M, N) ndarray of uint8
        The upload's shape; :data:`NO_DATA` in the data-bar rows.
    classes : dict of int to str
        Label value → class name.
    measured : tuple of int
        Label values of the measured phase.
    phase : str
        Its name.
    foreground : dict
        ``requested``, ``chosen`` (``bright``/``dark``/``model``), ``rule``, ``detail``.
    warnings : list of str
    legend : list of (str, (r, g, b))
        Colour key of the overlay.
    engine : str
        ``segment_labelled`` (the library's) or ``classic`` (the web app's fallback).
    runtime : str or None
        What ran a trained segmenter's network (e.g. ``"openvino 2026.4.1 fp32 (ONNX)"``);
        None for the classic methods.
    """

    labels: np.ndarray
    classes: dict[int, str]
    measured: tuple[int, ...]
    phase: str
    foreground: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    legend: list[tuple[str, tuple[int, int, int]]] = field(default_factory=list)
    engine: str = "classic"
    runtime: str | None = None

    def info(self) -> dict[str, Any]:
        """Everything but the pixels (JSON-ready)."""
        return {
            "classes": {str(k): v for k, v in self.classes.items()},
            "measured": list(self.measured),
            "phase": self.phase,
            "foreground": self.foreground,
            "warnings": list(self.warnings),
            "legend": [{"name": n, "rgb": list(c)} for n, c in self.legend],
            "engine": self.engine,
            "runtime": self.runtime,
            "no_data": NO_DATA,
        }

    @classmethod
    def from_info(cls, labels: np.ndarray, d: dict[str, Any]) -> WebSegmentation:
        return cls(
            labels=labels, classes={int(k): str(v) for k, v in d["classes"].items()},
            measured=tuple(int(v) for v in d["measured"]), phase=str(d["phase"]), foreground=dict(d["foreground"]),
            warnings=list(d.get("warnings") or []), engine=str(d.get("engine", "classic")),
            runtime=d.get("runtime"),
            legend=[(str(e["name"]), tuple(int(c) for c in e["rgb"])) for e in d.get("legend") or []],  # type: ignore[misc]
        )  # fmt: skip

    def micrograph_labels(self) -> np.ndarray:
        """The labels without the data-bar rows (rows holding only :data:`NO_DATA` at the bottom)."""
        lab = self.labels
        rows = np.flatnonzero(~np.all(lab == NO_DATA, axis=1))
        return lab[: rows[-1] + 1] if rows.size else lab[:0]

    def fractions(self) -> dict[str, float]:
        """Class name → area fraction of the micrograph (data bar left out)."""
        lab = self.labels[self.labels != NO_DATA]
        n = max(lab.size, 1)
        return {name: float(np.count_nonzero(lab == v)) / n for v, name in self.classes.items()}

    def phase_fraction(self) -> float:
        lab = self.labels[self.labels != NO_DATA]
        return float(np.isin(lab, self.measured).mean()) if lab.size else float("nan")


def _palette_legend(labels: np.ndarray, classes: dict[int, str]) -> list[tuple[str, tuple[int, int, int]]]:
    """The colours :func:`semlab.segment.save_overlay` gives the label values present (sorted)."""
    from semlab.segment import overlay

    palette = np.asarray(overlay._PALETTE)  # the overlay's own colours, so the key matches the picture
    values = [int(v) for v in np.unique(labels) if v != NO_DATA]
    return [
        (classes.get(v, f"label {v}"), tuple(int(c) for c in palette[i % len(palette)]))  # type: ignore[misc]
        for i, v in enumerate(values)
    ]


def _blank_warning(image: np.ndarray) -> list[str]:
    a = np.asarray(image, dtype=np.float64)
    finite = a[np.isfinite(a)]
    if finite.size == 0 or float(finite.max() - finite.min()) == 0.0:
        return ["the image is blank (one grey value): no phase can be told apart, the fractions mean nothing"]
    lo, hi = np.percentile(finite, [1, 99])
    if hi - lo <= 1e-3 * max(abs(float(finite.max())), 1.0):
        return ["the image is nearly constant: the phases found are noise, the fractions mean nothing"]
    return []


def classic(image: np.ndarray, bar: int | None, opts: SegmentOptions, method: Any) -> WebSegmentation:
    """Fallback: today's :func:`semlab.segment.segment_image` with the phase chosen here."""
    from semlab.segment import method_classes, segment_image

    micro = image[:bar] if bar else image
    lab = np.asarray(segment_image(micro, method=method)).astype(np.uint8)
    classes = method_classes(method)
    warn = _blank_warning(micro)
    if opts.method.startswith(MODEL_PREFIX):  # a trained model knows its classes; no polarity to choose
        measured = [v for v in classes if v != 0] or list(classes)
        fg = {"requested": opts.foreground, "chosen": "model", "rule": "the model's non-background classes",
              "detail": f"{opts.method} writes {', '.join(classes.values())}"}  # fmt: skip
    else:
        dark = [v for v, n in classes.items() if "pore" in n or "shine" in n]  # thresholds: pores are dark
        bright = [v for v in classes if v not in dark]
        dark_share = float(np.isin(lab, dark).mean()) if lab.size else 0.0
        chosen, rule, detail = (
            opts.foreground,
            "chosen on the upload form",
            f"dark phase {dark_share:.0%} of the micrograph",
        )
        if opts.foreground == "auto":
            chosen = "dark" if dark_share <= 0.5 else "bright"
            rule = "minority phase (the smaller of the dark and bright phases)"
        measured = dark if chosen == "dark" else bright
        fg = {"requested": opts.foreground, "chosen": chosen, "rule": rule, "detail": detail}
    names = [classes[v] for v in measured]
    phase = opts.phase or " + ".join(names)
    if opts.phase and len(measured) == 1:
        classes = {**classes, measured[0]: opts.phase}
    full = np.full(np.shape(image), NO_DATA, dtype=np.uint8)
    full[: lab.shape[0]] = lab
    return WebSegmentation(
        labels=full, classes=dict(classes), measured=tuple(measured), phase=phase, foreground=fg, warnings=warn,
        legend=_palette_legend(lab, classes),
    )  # fmt: skip


def library(
    image: np.ndarray, bar: int | None, opts: SegmentOptions, method: Any, pixel_size: float | None
) -> WebSegmentation:
    """With :func:`semlab.segment.segment_labelled` (named phases, input-shaped labels, its rule for ``auto``)."""
    import semlab.segment as S

    seg = S.segment_labelled(
        image, method=method, foreground=opts.foreground, phase_name=opts.phase, pixel_size=pixel_size,
        crop_databar=int(bar) if bar else True,
    )  # fmt: skip
    labels = np.asarray(seg.labels)
    classes = {int(k): str(v) for k, v in dict(seg.classes).items()}
    choice = seg.foreground
    if choice is None:  # a trained segmenter writes its own classes
        fg = {"requested": opts.foreground, "chosen": "model", "rule": "the model's classes", "detail": ""}
    else:
        fg = {"requested": opts.foreground, "chosen": str(choice.foreground), "rule": str(choice.rule),
              "detail": str(choice.detail)}  # fmt: skip
    measured = tuple(int(v) for v in seg.measured_labels) or tuple(
        _measured_values(seg.measured_phase, classes)
    )
    no_data = int(seg.no_data)
    legend = [
        (str(n), tuple(int(c) for c in rgb)) for n, rgb in S.legend_entries(labels, classes, no_data=no_data)
    ]
    out = labels if no_data == NO_DATA else np.where(labels == no_data, NO_DATA, labels)
    return WebSegmentation(
        labels=out.astype(np.uint8), classes=classes, measured=measured,
        phase=str(seg.measured_phase or " + ".join(classes[v] for v in measured)),
        foreground=fg, warnings=[str(w) for w in seg.warnings],
        legend=legend,  # type: ignore[arg-type]
        engine="segment_labelled", runtime=getattr(method, "last_runtime", None),
    )  # fmt: skip


def engine() -> str:
    """Which segmentation the web app uses with this semlab: ``segment_labelled`` or ``classic``."""
    import semlab.segment as S

    return "segment_labelled" if hasattr(S, "segment_labelled") else "classic"


def _measured_values(measured: Any, classes: dict[int, str]) -> list[int]:
    """Label values of the measured phase from a name, a value or several."""
    if measured is None:
        return [v for v in classes if v != 0]
    items = list(measured) if isinstance(measured, list | tuple | set | frozenset) else [measured]
    out = []
    for item in items:
        if isinstance(item, str):
            out += [v for v, n in classes.items() if n == item]
        else:
            out.append(int(item))
    return out or [v for v in classes if v != 0]


def segment(
    image: np.ndarray, bar: int | None, opts: SegmentOptions, method: Any, pixel_size: float | None
) -> WebSegmentation:
    """The segmentation of an upload: the library's when it names phases, else :func:`classic`."""
    if engine() == "segment_labelled":
        return library(image, bar, opts, method, pixel_size)
    return classic(image, bar, opts, method)


def save(seg: WebSegmentation, labels_path: Path) -> None:
    """Labels as a TIFF whose description (and a ``.json`` sidecar) holds the class names."""
    import tifffile

    from semlab._util import atomic_path, write_json

    info = seg.info()
    labels_path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(labels_path) as tmp:
        tifffile.imwrite(tmp, seg.labels, description=json.dumps({"semlab_labels": info}, ensure_ascii=True),
                         metadata=None, compression="zlib")  # fmt: skip
    write_json(labels_path.with_suffix(".json"), info)


def load(labels_path: Path, shape: tuple[int, ...]) -> WebSegmentation | None:
    """A saved segmentation, or ``None`` when missing or of another shape."""
    import tifffile

    sidecar = labels_path.with_suffix(".json")
    if not (labels_path.is_file() and sidecar.is_file()):
        return None
    try:
        labels = tifffile.imread(labels_path)
        info = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if labels.shape != tuple(shape) or info.get("engine") != engine():
        return None  # another image size, or segmented before this semlab named its phases
    return WebSegmentation.from_info(np.asarray(labels), info)


def with_key(rgb: np.ndarray, legend: list[tuple[str, tuple[int, int, int]]], phase: str) -> np.ndarray:
    """``rgb`` with a colour key strip below: a swatch and the class name of each colour, the
    measured phase marked (entries wrap onto more lines on narrow images)."""
    from PIL import Image, ImageDraw

    from semlab.serve._routes_common import label_font

    w = rgb.shape[1]
    size = max(10, min(18, w // 40))
    font = label_font(size)
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    items = [(f"{n} (measured)" if n == phase or n in phase.split(" + ") else n, c) for n, c in legend]
    pad, line_h = 4, size + 6
    lines: list[list[tuple[str, tuple[int, int, int], float]]] = [[]]
    x = pad
    for text, colour in items:
        width = size + 4 + probe.textlength(text, font=font) + 3 * pad
        if lines[-1] and x + width > w:
            lines.append([])
            x = pad
        lines[-1].append((text, colour, x))
        x += width
    strip = Image.new("RGB", (w, len(lines) * line_h + pad), (255, 255, 255))
    draw = ImageDraw.Draw(strip)
    for i, line in enumerate(lines):
        y = pad + i * line_h
        for text, colour, x0 in line:
            draw.rectangle((x0, y, x0 + size, y + size), fill=tuple(colour), outline=(0, 0, 0))
            draw.text((x0 + size + 4, y - 1), text, fill=(0, 0, 0), font=font)
    return np.concatenate([rgb, np.asarray(strip)], axis=0)


def write_overlay(
    path: Path, image: np.ndarray, seg: WebSegmentation, pixel_size: float | None = None
) -> None:
    """The overlay PNG (micrograph | labels) with its colour key.

    The library's :func:`semlab.segment.save_overlay` when it takes the class names (it then
    draws the key, the no-data rows and a scale bar with ``pixel_size``, µm per pixel); else
    the panels of the micrograph without its data bar with a key strip added here.
    """
    import inspect

    from PIL import Image

    import semlab.segment as S
    from semlab._util import atomic_path

    path.parent.mkdir(parents=True, exist_ok=True)
    if seg.engine == "segment_labelled" and "classes" in inspect.signature(S.save_overlay).parameters:
        S.save_overlay(path, image, seg.labels, classes=seg.classes, pixel_size=pixel_size, no_data=NO_DATA)
        return
    lab = seg.micrograph_labels()
    rgb = with_key(S.overlay_panels(image[: lab.shape[0]], lab), seg.legend, seg.phase)
    with atomic_path(path) as tmp:
        Image.fromarray(rgb).save(tmp, format="PNG")
