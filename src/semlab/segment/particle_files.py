"""Per-particle tables, size distributions and overlays of files (what ``semlab particles`` does).

Each input is a label/mask file or a micrograph:

* a **label file** (a semlab label TIFF with its ``<stem>_labels.json`` sidecar, a binary mask
  0/1 or 0/255, or an instance map): the particles are the measured phase named by the
  sidecar, else every non-zero pixel; the sidecar's no-data value (data bar) is not particle;
* a **micrograph**: segmented first by :func:`semlab.segment.segment_labelled` (``method``,
  ``foreground``), its measured phase being the particles and its data-bar rows no data.

``input_kind="auto"`` takes a file as labels when it has a sidecar or at most
:data:`MAX_MASK_VALUES` distinct values; instance maps with more ids need ``"labels"``.

Every file keeps its own pixel size (``pixel_size`` is used only for files without one), so
files in µm and in pixels are never mixed: their tables and histograms are written apart.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from semlab.errors import ParameterError

__all__ = ["INPUT_KINDS", "MAX_MASK_VALUES", "particle_files"]

#: Values of ``input_kind``.
INPUT_KINDS = ("auto", "labels", "image")

#: A file with at most this many distinct values (and no sidecar) is read as a mask by ``"auto"``.
MAX_MASK_VALUES = 8


def _read(path: Path, kind: str, px_default: float | None, method: Any, foreground: str) -> dict[str, Any]:
    """Particle mask, no-data mask, grey image, pixel size and phase name of one file."""
    import warnings

    import semlab.segment as S
    from semlab.io import read_micrograph

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = read_micrograph(path)
    if (m.metadata.get("pages") or 1) > 1 or m.image.ndim != 2:
        raise ParameterError(f"{path}: a stack or colour array; particles takes 2-D images or label files")
    px = m.pixel_size if m.pixel_size is not None else px_default
    arr = np.asarray(m.image)
    side = S.sidecar_path(path) if hasattr(S, "sidecar_path") else path.with_name(f"{path.stem}_labels.json")
    as_labels = kind == "labels" or (
        kind == "auto"
        and (side.is_file() or (arr.dtype.kind in "iub" and len(np.unique(arr)) <= MAX_MASK_VALUES))
    )
    if as_labels:
        if arr.dtype.kind not in "iub":
            raise ParameterError(f"{path}: grey values are not integers; give a label file or --input image")
        if side.is_file() and hasattr(S, "read_labels"):
            lf = S.read_labels(path)
            nd = arr == lf.no_data if lf.no_data is not None else np.zeros(arr.shape, bool)
            mask = np.isin(arr, list(lf.measured_labels)) & ~nd
            return {"mask": mask, "no_data": nd, "image": None, "pixel_size": px, "phase": lf.measured_phase,
                    "source": "labels"}  # fmt: skip
        return {"mask": arr != 0, "no_data": np.zeros(arr.shape, bool), "image": None, "pixel_size": px,
                "phase": "non-zero labels", "source": "labels"}  # fmt: skip
    seg = S.segment_labelled(arr, method=method, foreground=foreground, pixel_size=px, metadata=m.metadata)
    for w in seg.warnings:
        warnings.warn(f"{path.name}: {w}", stacklevel=3)
    nd = seg.labels == seg.no_data
    mask = np.isin(seg.labels, list(seg.measured_labels)) & ~nd
    return {"mask": mask, "no_data": nd, "image": arr, "pixel_size": px, "phase": seg.measured_phase,
            "source": f"image segmented by {method}"}  # fmt: skip


def _split_kwargs(options: Mapping[str, Any], px: float | None, name: str) -> dict[str, Any]:
    kw = dict(options)
    if px is None and kw.get("min_area") is not None:
        if kw.get("min_area_px") is None:
            raise ParameterError(
                f"{name}: no pixel size for min_area (µm²); give --pixel-size for such files or --min-area-px"
            )
        kw.pop("min_area")
    elif px is not None and kw.get("min_area") is not None:
        kw.pop("min_area_px", None)
    return kw


def _unit(px: float | None) -> str:
    return "um" if px is not None else "px"


def particle_files(
    inputs: str | os.PathLike | Iterable[str | os.PathLike],
    out: str | os.PathLike,
    *,
    input_kind: str = "auto",
    method: Any = "otsu",
    foreground: str = "auto",
    pixel_size: float | None = None,
    split_options: Mapping[str, Any] | None = None,
    overlay: bool = True,
    progress: Any = None,
):
    """Split the particles of files, measure them and write tables, plots and a summary.

    Parameters
    ----------
    inputs : path or iterable of paths
        Label/mask files, micrographs, or folders of them (``*_overlay.*`` skipped).
    out : path-like
        Output folder (created).
    input_kind : {"auto", "labels", "image"}
        How to read the files (module docstring).
    method : str, default "otsu"
        Segmentation of micrographs (:func:`semlab.segment.segment_labelled`).
    foreground : {"auto", "bright", "dark"}
        The particle phase of micrographs.
    pixel_size : float, optional
        µm per pixel for files without a calibration (calibrated files keep theirs).
    split_options : mapping, optional
        Keywords of :func:`split_particles` (``min_area`` µm², ``min_area_px``,
        ``split_ratio``, ``sigma``, ``fill_holes``).  ``min_area`` applies to calibrated
        files, ``min_area_px`` to the others (or to all when ``min_area`` is not given).
    overlay : bool, default True
        Write ``<stem>_particles_overlay.png`` per file.
    progress : callable, optional
        ``progress(done, total)`` after each file.

    Returns
    -------
    pandas.DataFrame
        One row per file: ``file``, ``unit``, ``pixel_size_um``, ``phase``, ``n_particles``,
        ``n_edge``, ``median_equivalent_diameter``, the log-normal fit (``lognormal_median``,
        ``lognormal_geometric_sd``, ``lognormal_n``, ``lognormal_ks``; edge particles left
        out), and ``table`` (the CSV written).

    Notes
    -----
    Writes ``<stem>_particles.csv`` and ``<stem>_sizes.png`` per file,
    ``particles_um.csv`` / ``particles_px.csv`` (all files of that unit, with a ``file``
    column), ``size_distribution_um.png`` / ``size_distribution_px.png`` (pooled per unit)
    and ``particles_summary.json``.
    """
    import pandas as pd

    from semlab._util import atomic_write_text, write_json
    from semlab.io import list_images
    from semlab.segment.particles import (
        particle_table,
        plot_size_distribution,
        save_particle_overlay,
        split_particles,
    )

    if input_kind not in INPUT_KINDS:
        raise ParameterError(f"input_kind={input_kind!r} must be one of {', '.join(INPUT_KINDS)}")
    files = list_images(inputs)
    if not files:
        raise ParameterError(f"{inputs}: no image or label files found; give files or folders of them")
    stems = [f.stem for f in files]
    dup = sorted({s for s in stems if stems.count(s) > 1})
    if dup:
        raise ParameterError(
            f"two inputs share the name {dup[0]!r}; rename one (outputs are named by file stem)"
        )
    dest = Path(out)
    dest.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    tables: dict[str, list[Any]] = {"um": [], "px": []}
    for k, path in enumerate(files):
        d = _read(path, input_kind, pixel_size, method, foreground)
        px = d["pixel_size"]
        inst = split_particles(d["mask"], pixel_size=px, **_split_kwargs(split_options or {}, px, path.name))
        table = particle_table(inst, pixel_size=px, image=d["image"], no_data_mask=d["no_data"])
        csv = dest / f"{path.stem}_particles.csv"
        atomic_write_text(csv, table.to_csv(index=False))
        fit = plot_size_distribution(
            table, dest / f"{path.stem}_sizes.png", title=f"{path.name}: {d['phase']}"
        )
        if overlay:
            grey = d["image"] if d["image"] is not None else d["mask"] * 0.6 + d["no_data"] * 0.25
            save_particle_overlay(grey, inst, dest / f"{path.stem}_particles_overlay.png", pixel_size=px,
                                  edge=table.loc[table["edge"], "label"].tolist(), no_data_mask=d["no_data"])  # fmt: skip
        u = _unit(px)
        tables[u].append(table.assign(file=path.name))
        rows.append(_summary_row(path, d, table, fit, csv))
        if progress is not None:
            progress(k + 1, len(files))
    for u, parts in tables.items():
        if parts:
            allt = pd.concat(parts, ignore_index=True)
            allt = allt[["file", *[c for c in allt.columns if c != "file"]]]
            atomic_write_text(dest / f"particles_{u}.csv", allt.to_csv(index=False))
            plot_size_distribution(allt, dest / f"size_distribution_{u}.png",
                                   title=f"{len(parts)} file(s) in {'µm' if u == 'um' else 'pixels'}")  # fmt: skip
    summary = pd.DataFrame(rows)
    write_json(dest / "particles_summary.json", {"split_options": dict(split_options or {}), "files": rows})
    return summary


def _summary_row(path: Path, d: dict[str, Any], table: Any, fit: Any, csv: Path) -> dict[str, Any]:
    px = d["pixel_size"]
    col = f"equivalent_diameter_{_unit(px)}"
    return {
        "file": str(path),
        "source": d["source"],
        "phase": d["phase"],
        "unit": "µm" if px is not None else "px",
        "pixel_size_um": px,
        "n_particles": int(len(table)),
        "n_edge": int(table["edge"].sum()),
        "median_equivalent_diameter": float(np.median(table[col])) if len(table) else None,
        "lognormal_median": fit.median,
        "lognormal_geometric_sd": fit.geometric_sd,
        "lognormal_n": fit.n,
        "lognormal_ks": fit.ks_statistic,
        "table": str(csv),
    }
