"""Plots of descriptor distributions (matplotlib, imported when a function is called).

Each function draws on a new :class:`matplotlib.figure.Figure` (no pyplot state, so it works
headless) or on ``ax``, saves to ``path`` when given and returns the path, else the figure.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from semlab.errors import ParameterError

__all__ = ["plot_curvature_density", "plot_persistence_image", "plot_size_histogram"]


def _figure(ax):
    from matplotlib.figure import Figure

    if ax is not None:
        return ax.figure, ax
    fig = Figure(figsize=(5, 4), layout="constrained")
    return fig, fig.add_subplot()


def _finish(fig, path):
    if path is None:
        return fig
    from semlab._util import atomic_path

    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip(".") or "png", dpi=120)
    return path


def plot_size_histogram(
    table,
    *,
    column: str | None = None,
    bins: int = 30,
    log: bool = True,
    ax: Any = None,
    path: str | os.PathLike | None = None,
):
    """Histogram of particle sizes from :func:`~semlab.quantify.region_table`.

    Parameters
    ----------
    table : pandas.DataFrame
        Region table(s); particles touching the border are left out.
    column : str, optional
        Column to plot (default ``equivalent_diameter_um`` or ``_px``).
    bins : int
    log : bool
        Logarithmic bins (sizes are usually log-normal).
    ax : matplotlib Axes, optional
    path : path, optional
        Save the figure there (format from the suffix).
    """
    if column is None:
        column = next((c for c in table.columns if c.startswith("equivalent_diameter_")), None)
    if column is None or column not in table.columns:
        raise ParameterError(f"column={column!r} is not in the table; pass a region_table column")
    sel = table[~table["touches_border"]] if "touches_border" in table else table
    v = sel[column].to_numpy(dtype=float)
    v = v[np.isfinite(v) & (v > 0)]
    fig, ax = _figure(ax)
    if len(v):
        edges = np.geomspace(v.min(), v.max() * 1.0001, bins + 1) if log and v.max() > v.min() else bins
        ax.hist(v, bins=edges, color="0.35")
        if log:
            from matplotlib.ticker import FormatStrFormatter, MaxNLocator, NullFormatter

            ax.set_xscale("log")
            ax.xaxis.set_major_formatter(FormatStrFormatter("%g"))  # 0.5, 1, 2 rather than 5×10⁻¹
            ax.xaxis.set_minor_formatter(NullFormatter())
            if v.max() / v.min() < 10:  # under a decade: evenly spaced round ticks
                ax.xaxis.set_major_locator(MaxNLocator(nbins=6))
    from semlab._plot import axis_label

    ax.set_xlabel(axis_label(column) + (", log scale" if log else ""))
    ax.set_ylabel("particles (not touching the border)")
    from matplotlib.ticker import MaxNLocator

    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(f"n = {len(v)}")
    return _finish(fig, path)


def plot_curvature_density(
    curvature, *, bins: int = 60, ax: Any = None, path: str | os.PathLike | None = None
):
    """Area-weighted joint density of mean (H) and Gaussian (K) curvature.

    Parameters
    ----------
    curvature : SurfaceCurvature
        From :func:`~semlab.quantify.surface_curvature`.
    """
    dens, he, ke = curvature.joint_density(bins=bins)
    fig, ax = _figure(ax)
    floor = dens[dens > 0].min() / 10 if (dens > 0).any() else 1e-12
    im = ax.pcolormesh(he, ke, np.log10(dens.T + floor), cmap="viridis")
    fig.colorbar(im, ax=ax, label="log10 density")
    u = curvature.length_unit
    ax.axhline(0, color="w", lw=0.6)
    ax.axvline(0, color="w", lw=0.6)
    ax.set_xlabel(f"mean curvature H ({u}⁻¹)")
    ax.set_ylabel(f"Gaussian curvature K ({u}⁻²)")
    return _finish(fig, path)


def plot_persistence_image(
    image,
    *,
    birth_range: tuple[float, float] | None = None,
    persistence_range: tuple[float, float] | None = None,
    unit: str | None = None,
    title: str = "",
    ax: Any = None,
    path: str | os.PathLike | None = None,
):
    """Show a persistence image (or the mean of several on one grid) with birth and
    persistence axes in the filtration's unit and a colour bar.

    Parameters
    ----------
    image : PersistenceImage, sequence of PersistenceImage, or (R_p, R_b) ndarray
        Several images are averaged (they must share ranges).
    birth_range, persistence_range : (float, float), optional
        Extent for an ndarray input.
    unit : str, optional
        Unit of the filtration values (``"µm"`` for a signed-distance filtration with a known
        pixel size, ``"px"`` without, ``"grey value"``); the axis titles say "filtration
        value" when it is not given.
    title : str
        Title (default: "H1 persistence image", "mean of n" for several).
    """
    from semlab.quantify.topology import PersistenceImage

    if isinstance(image, PersistenceImage):
        image = [image]
    n_images = len(image) if isinstance(image, (list, tuple)) else 1
    dim = getattr(image[0], "dim", None) if isinstance(image, (list, tuple)) and image else None
    if isinstance(image, (list, tuple)):
        first = image[0]
        arr = np.mean([im.image for im in image], axis=0)
        birth_range = (first.birth_edges[0], first.birth_edges[-1])
        persistence_range = (first.persistence_edges[0], first.persistence_edges[-1])
    else:
        arr = np.asarray(image, dtype=float)
    br = birth_range or (0.0, float(arr.shape[1]))
    pr = persistence_range or (0.0, float(arr.shape[0]))
    fig, ax = _figure(ax)
    im = ax.imshow(arr, origin="lower", extent=(br[0], br[1], pr[0], pr[1]), aspect="auto", cmap="magma")
    fig.colorbar(im, ax=ax, label="weighted density" + (" (mean)" if n_images > 1 else ""))
    u = unit or "filtration value"
    ax.set_xlabel(f"birth ({u})")
    ax.set_ylabel(f"persistence ({u})")
    ax.set_title(
        title
        or (
            (f"H{dim} " if dim is not None else "")
            + "persistence image"
            + (f", mean of {n_images}" if n_images > 1 else "")
        )
    )
    return _finish(fig, path)
