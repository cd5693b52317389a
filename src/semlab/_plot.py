"""The shared plotting layer: axis titles from unit-suffixed column names, colour keys, scale
bars, condition labels on image grids, train and validation curves, PNG saving.

matplotlib is imported inside the functions (``import semlab`` stays light); everything draws
on :class:`matplotlib.figure.Figure` objects (no pyplot state, headless).

Examples
--------
>>> from semlab._plot import axis_label, split_unit
>>> axis_label("equivalent_diameter_um")
'equivalent diameter (µm)'
>>> axis_label("specific_perimeter_per_um")
'specific perimeter (µm⁻¹)'
>>> split_unit("anneal_temperature_c")
('anneal temperature', '°C')
>>> axis_label("porosity")
'porosity'
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "UNIT_SUFFIXES",
    "add_colorbar",
    "add_scale_bar",
    "axis_label",
    "image_grid",
    "label_points",
    "loss_curves",
    "new_figure",
    "save_figure",
    "split_unit",
]

#: Column-name suffixes and the unit they stand for, longest first (``_per_um2`` before ``_um2``).
UNIT_SUFFIXES: tuple[tuple[str, str], ...] = (
    ("_MS_per_m", "MS/m"),  # suffixes with capitals match with their case (MS is mega-siemens)
    ("_S_per_m", "S/m"),
    ("_per_m", "m⁻¹"),
    ("_per_um3", "µm⁻³"),
    ("_per_um2", "µm⁻²"),
    ("_per_um", "µm⁻¹"),
    ("_per_px", "px⁻¹"),
    ("_um3", "µm³"),
    ("_um2", "µm²"),
    ("_um", "µm"),
    ("_nm", "nm"),
    ("_mm", "mm"),
    ("_px2", "px²"),
    ("_px", "px"),
    ("_g_cm3", "g/cm³"),
    ("_mpa", "MPa"),
    ("_gpa", "GPa"),
    ("_ev", "eV"),
    ("_deg", "°"),
    ("_degc", "°C"),
    ("_c", "°C"),
    ("_kv", "kV"),
    ("_pct", "%"),
    ("_percent", "%"),
    ("_s", "s"),
)


def split_unit(name: str) -> tuple[str, str | None]:
    """A column name as (readable quantity, unit or ``None``), from its unit suffix.

    Parameters
    ----------
    name : str
        A column name such as ``area_um2`` or ``mean_curvature_per_um``.

    Returns
    -------
    (str, str or None)
        The name without the suffix, underscores as spaces, and the unit (``None`` when the
        name has no known suffix, e.g. ``porosity``).
    """
    text = str(name)
    low = text.lower()
    for suffix, unit in sorted(UNIT_SUFFIXES, key=lambda s: -len(s[0])):
        hit = text.endswith(suffix) if suffix != suffix.lower() else low.endswith(suffix)
        if hit and len(low) > len(suffix):
            return text[: -len(suffix)].replace("_", " ").strip(), unit
    return text.replace("_", " ").strip(), None


def axis_label(name: str, unit: str | None = None) -> str:
    """An axis title ``"quantity (unit)"`` for a column name (unit from its suffix unless given)."""
    quantity, found = split_unit(name)
    unit = unit if unit is not None else found
    return f"{quantity} ({unit})" if unit else quantity


def new_figure(size: tuple[float, float] = (5.0, 4.0), *, rows: int = 1, cols: int = 1) -> tuple[Any, Any]:
    """A constrained-layout Figure and its axes (one Axes, or a 2-D array for several)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=rows * cols == 1)
    return fig, axes


def save_figure(fig: Any, path: str | os.PathLike, *, dpi: int = 120) -> Path:
    """Save ``fig`` atomically (format from the suffix, PNG by default) and return the path."""
    from semlab._util import atomic_path

    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip(".") or "png", dpi=dpi, bbox_inches="tight")
    return path


def add_colorbar(fig: Any, mappable: Any, ax: Any, *, label: str, unit: str | None = None) -> Any:
    """A colour bar beside ``ax`` labelled ``label (unit)`` (unit from the label's suffix if any)."""
    cb = fig.colorbar(mappable, ax=ax)
    cb.set_label(axis_label(label, unit) if unit is not None or "_" in label else label)
    return cb


def _nice_length(target: float) -> float:
    """The largest 1, 2 or 5 × 10^k not above ``target`` (> 0)."""
    k = math.floor(math.log10(target))
    for m in (5.0, 2.0, 1.0):
        if m * 10**k <= target:
            return m * 10**k
    return 10.0 ** (k - 1) * 5


def add_scale_bar(ax: Any, pixel_size: float | None, width_px: int, *, fraction: float = 0.25) -> str | None:
    """Draw a scale bar (white bar with a black outline, bottom right) on an image axes.

    Parameters
    ----------
    ax : matplotlib Axes
        Shows an image in pixel coordinates (``imshow`` without ``extent``).
    pixel_size : float or None
        µm per pixel; ``None`` (unknown) draws nothing.
    width_px : int
        Image width in pixels.
    fraction : float, default 0.25
        Longest bar as a fraction of the width (the bar is the nicest 1/2/5 length below it).

    Returns
    -------
    str or None
        The bar's label (e.g. ``"5 µm"``), or ``None`` when no bar was drawn.
    """
    if pixel_size is None or not np.isfinite(pixel_size) or pixel_size <= 0 or width_px <= 0:
        return None
    import matplotlib.patheffects as pe

    length_um = _nice_length(fraction * width_px * float(pixel_size))
    length_px = length_um / float(pixel_size)
    label = f"{length_um * 1000:g} nm" if length_um < 1 else f"{length_um:g} µm"
    x1, x0 = ax.get_xlim()[1], ax.get_xlim()[0]
    y_bottom = max(ax.get_ylim())
    height = abs(ax.get_ylim()[0] - ax.get_ylim()[1])
    right = max(x0, x1) - 0.04 * width_px
    y = y_bottom - 0.06 * height
    stroke = [pe.withStroke(linewidth=4, foreground="black")]
    ax.plot(
        [right - length_px, right], [y, y], color="white", lw=2.5, solid_capstyle="butt", path_effects=stroke
    )
    ax.text(
        right - length_px / 2,
        y - 0.035 * height,
        label,
        color="white",
        ha="center",
        va="bottom",
        fontsize=7,
        path_effects=[pe.withStroke(linewidth=2, foreground="black")],
    )
    return label


def image_grid(
    images: Sequence[np.ndarray],
    *,
    columns: int,
    row_labels: Sequence[str] | None = None,
    col_labels: Sequence[str] | None = None,
    pixel_size: float | None = None,
    title: str = "",
    tile_inches: float = 1.3,
    cmap: str = "gray",
    value_range: tuple[float, float] | None = None,
) -> Any:
    """A Figure of images on a grid with condition labels per row and/or column and scale bars.

    Parameters
    ----------
    images : sequence of 2-D arrays
        Filled row by row.
    columns : int
        Images per row.
    row_labels, col_labels : sequence of str, optional
        Written left of each row and above each column.
    pixel_size : float, optional
        µm per pixel of the images: a scale bar on the first image of each row.
    title : str
    tile_inches : float
        Size of one tile.
    cmap : str
        Colour map of grey images.
    value_range : (float, float), optional
        Grey values shown as black and white (default: each image's own range).

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure

    n = len(images)
    cols = max(1, int(columns))
    rows = max(1, math.ceil(n / cols))
    fig = Figure(figsize=(tile_inches * cols + 0.9, tile_inches * rows + 0.5), layout="constrained")
    axes = np.atleast_2d(fig.subplots(rows, cols, squeeze=False))
    for k, ax in enumerate(axes.ravel()):
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_visible(False)
        if k >= n:
            continue
        img = np.asarray(images[k])
        lo, hi = value_range if value_range is not None else (None, None)
        ax.imshow(img, cmap=cmap if img.ndim == 2 else None, interpolation="nearest", vmin=lo, vmax=hi)
        if pixel_size is not None and k % cols == 0:
            add_scale_bar(ax, pixel_size, img.shape[1])
    if row_labels is not None:
        for r, label in enumerate(row_labels[:rows]):
            axes[r, 0].set_ylabel(str(label), fontsize=8, rotation=0, ha="right", va="center", labelpad=6)
    if col_labels is not None:
        for c, label in enumerate(col_labels[:cols]):
            axes[0, c].set_title(str(label), fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def label_points(
    ax: Any, x: Sequence[float], y: Sequence[float], labels: Sequence[str], *, fontsize: int = 7
) -> int:
    """Write point labels without overlaps: each label is offset from its point, and a label whose
    box would overlap one already written is left out.

    Returns
    -------
    int
        Number of labels written.
    """
    fig = ax.figure
    if not hasattr(fig.canvas, "get_renderer"):  # a bare Figure: give it an Agg canvas
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        FigureCanvasAgg(fig)
    fig.canvas.draw()  # lay the figure out first, so that text boxes are where they will be saved
    renderer = fig.canvas.get_renderer()
    placed: list[Any] = []
    offsets = ((4, 4), (4, -10), (-4, 4), (-4, -10), (8, 12), (8, -18))
    written = 0
    for xi, yi, text in zip(x, y, labels, strict=True):
        if not (np.isfinite(xi) and np.isfinite(yi)):
            continue
        for dx, dy in offsets:
            t = ax.annotate(
                str(text),
                (xi, yi),
                xytext=(dx, dy),
                textcoords="offset points",
                fontsize=fontsize,
                ha="left" if dx > 0 else "right",
            )
            box = t.get_window_extent(renderer).expanded(1.05, 1.1)
            if not any(box.overlaps(b) for b in placed):
                placed.append(box)
                written += 1
                break
            t.remove()
    return written


def loss_curves(
    ax: Any,
    histories: Sequence[Sequence[dict[str, Any]]],
    *,
    names: Sequence[str] | None = None,
    x_key: str = "epoch",
    train_key: str = "train_loss",
    val_key: str = "val_loss",
) -> tuple[int, int]:
    """Training (solid) and validation (dashed, markers) loss of each run, one colour per run.

    Returns
    -------
    (int, int)
        Number of training and validation curves drawn.
    """
    n_train = n_val = 0
    for k, hist in enumerate(histories):
        if not hist:
            continue
        name = names[k] if names is not None else f"fold {k}"
        color = f"C{k % 10}"
        train = [(h[x_key], h[train_key]) for h in hist if h.get(train_key) is not None]
        if train:
            ax.plot(*zip(*train, strict=True), color=color, lw=1.2, label=f"{name} training")
            n_train += 1
        val = [(h[x_key], h[val_key]) for h in hist if h.get(val_key) is not None]
        if val:
            ax.plot(*zip(*val, strict=True), "o--", color=color, ms=4, lw=1, label=f"{name} validation")
            n_val += 1
    ax.set_xlabel(x_key.replace("_", " "))
    ax.set_ylabel("loss")
    if n_train or n_val:
        ax.legend(fontsize=7)
    return n_train, n_val
