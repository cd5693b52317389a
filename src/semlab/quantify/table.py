"""Descriptor tables: one row per image (or volume), joined with the study's descriptor table."""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from semlab.errors import FileFormatError, ParameterError, TableError
from semlab.quantify._common import QuantifyWarning, as_labels, neighbourhood

__all__ = ["LABEL_SUFFIXES", "descriptor_table", "load_labels"]

#: File suffixes :func:`load_labels` reads.
LABEL_SUFFIXES = (".tif", ".tiff", ".png", ".bmp", ".npy")


def load_labels(
    path: str | os.PathLike,
    *,
    three_d: bool = False,
    threshold: str | float | None = None,
    pixel_size: float | tuple[float, ...] | None = None,
) -> tuple[np.ndarray, Any]:
    """Read a label image or volume (TIFF, PNG, BMP or NPY), thresholding grey input on request.

    Parameters
    ----------
    path : str or Path
        Image file; with ``three_d``, a multipage TIFF, a folder of slices or a 3-D ``.npy``.
    three_d : bool
        Read a volume.
    threshold : {"otsu"} or float, optional
        For grey input: phase 1 is where the value is above the threshold (Otsu's, or the
        number given), 0 elsewhere.  ``None``: the file must hold labels.
    pixel_size : float or tuple of float, optional
        µm per pixel (voxel); overrides the file's calibration.

    Returns
    -------
    labels : ndarray
        (M, N) or (P, M, N) labels.
    pixel_size : float, tuple of float or None
        From the argument, else the file's metadata (``None`` when unknown: results in pixels).
    """
    from semlab.io import read_micrograph, read_volume

    p = Path(path)
    if p.suffix.lower() == ".npy":
        if not p.exists():
            from semlab.errors import MissingFileError

            raise MissingFileError(f"{p}: no such file; check the path")
        try:
            arr = np.load(p, allow_pickle=False)
        except Exception as exc:
            raise FileFormatError(f"{p}: cannot read as a NumPy array ({exc})") from None
        px = pixel_size
        want = 3 if three_d else 2
        if arr.ndim != want:
            raise FileFormatError(
                f"{p}: array has shape {arr.shape}; expected {want}-D{' (pass --3d for volumes)' if arr.ndim == 3 else ''}"
            )
    elif three_d:
        vol = read_volume(p, voxel_size=pixel_size)
        arr, px = vol.data, vol.voxel_size
    else:
        if isinstance(pixel_size, tuple):
            raise ParameterError(
                f"pixel_size={pixel_size!r}: a 2-D image takes one number of µm per pixel; "
                "give a float, or three_d=True for a volume"
            )
        m = read_micrograph(p, pixel_size=pixel_size)
        arr, px = m.image, m.pixel_size
    if threshold is not None:
        arr = _threshold(arr, threshold, str(p))
    return arr, px


def _threshold(arr: np.ndarray, threshold: str | float, source: str) -> np.ndarray:
    data = np.asarray(arr, dtype=np.float64)
    if isinstance(threshold, str):
        if threshold.lower() != "otsu":
            try:
                t = float(threshold)
            except ValueError:
                raise ParameterError(f"threshold={threshold!r} must be 'otsu' or a number") from None
        else:
            from skimage.filters import threshold_otsu

            if data.min() == data.max():
                raise ParameterError(f"{source}: the image is constant; Otsu's threshold is undefined")
            t = float(threshold_otsu(data))
    else:
        t = float(threshold)
    return (data > t).astype(np.uint8)


def _read_table(table: Any):
    import pandas as pd

    if isinstance(table, pd.DataFrame):
        return table.copy()
    from semlab.dataset import read_table

    return read_table(Path(table)).reset_index(drop=True)


def _join(df, table):
    """Left-join ``table`` on the image file name (its ``image`` or ``labels`` column)."""
    import pandas as pd

    if "image" not in table.columns:
        raise TableError("the descriptor table has no 'image' column; add one naming each image file")
    keys: dict[str, Any] = {}  # file name or stem → row label of the table
    for col in ("image", "labels"):
        if col not in table.columns:
            continue
        for i, v in table[col].items():
            if isinstance(v, str) and v:
                keys.setdefault(Path(v).name, i)
                keys.setdefault(Path(v).stem, i)
    rows = []
    for name in df["image"]:
        i = keys.get(Path(name).name, keys.get(Path(name).stem))
        rows.append(i)
    n_missing = sum(i is None for i in rows)
    if n_missing == len(rows) and len(rows):
        raise TableError(
            "no image matches a row of the descriptor table (matched on file name); "
            "check its 'image' column against the files quantified"
        )
    if n_missing:
        warnings.warn(f"{n_missing} image(s) have no row in the descriptor table; their table columns are empty",
                      QuantifyWarning, stacklevel=3)  # fmt: skip
    extra = [c for c in table.columns if c not in ("image", "labels", "path") and c not in df.columns]
    joined = pd.DataFrame(
        [table.loc[i, extra].to_dict() if i is not None else {} for i in rows], columns=extra, index=df.index
    )
    for c in extra:  # keep numeric dtypes where the table had them
        if c in table and pd.api.types.is_numeric_dtype(table[c]):
            joined[c] = pd.to_numeric(joined[c], errors="coerce")
    front = ["image"] + [c for c in ("sample",) if c in joined.columns]
    out = pd.concat([df[["image"]], joined, df.drop(columns=["image"])], axis=1)
    return out[front + [c for c in out.columns if c not in front]]


def _load_sources(
    sources: Any, names: Sequence[str] | None, pixel_size: Any, *, three_d: bool, threshold: Any
) -> tuple[list[tuple[str, str | None, np.ndarray]], list[Any]]:
    """``(name, source file or None, labels)`` per source and each one's pixel size (see descriptor_table)."""
    if isinstance(sources, (str, os.PathLike, np.ndarray)):
        sources = [sources]
    if len(sources) == 0:
        raise ParameterError("sources is empty; pass at least one label image")
    if names is not None and len(names) != len(sources):
        raise ParameterError(
            f"names has {len(names)} entries for {len(sources)} sources; give one per source"
        )
    arrays: list[tuple[str, str | None, np.ndarray]] = []
    sizes: list[Any] = []
    for k, src in enumerate(sources):
        if isinstance(src, (str, os.PathLike)):
            arr, px = load_labels(src, three_d=three_d, threshold=threshold, pixel_size=pixel_size)
            name, source = Path(src).name, str(src)
        else:
            arr = np.asarray(src)
            arr = _threshold(arr, threshold, f"sources[{k}]") if threshold is not None else arr
            px, name, source = pixel_size, f"image_{k}", None
        if names is not None:
            name = names[k]
        arrays.append((name, source, arr))
        sizes.append(px)
    known = [s is not None for s in sizes]
    if any(known) and not all(known):
        missing = [a[0] for a, k in zip(arrays, known, strict=True) if not k]
        raise ParameterError(
            f"pixel size unknown for {', '.join(missing[:3])}{' …' if len(missing) > 3 else ''} but known for others; "
            "pass pixel_size (--pixel-size) so all lengths share one unit"
        )
    return arrays, sizes


def _describe(
    name: str, arr: np.ndarray, px: Any, phase: Any, *, three_d: bool, connectivity: int = 8
) -> dict[str, Any]:
    """The 2-D or 3-D descriptors of one label image as a flat dict (messages name ``name``)."""
    from semlab.quantify.threed import describe_3d
    from semlab.quantify.twod import describe_2d

    try:
        if three_d:
            d = describe_3d(arr, pixel_size=px, phase=phase).to_dict()
        else:
            d = describe_2d(arr, pixel_size=px, phase=phase, connectivity=connectivity).to_dict()
    except ParameterError as exc:
        raise type(exc)(f"{name}: {exc}") from None
    if not np.isscalar(d["phase"]):
        d["phase"] = ",".join(str(v) for v in d["phase"])
    for key in ("voxel_size_um",):
        if key in d and d[key] is not None:
            d[key] = float(np.mean(d[key])) if len(set(d[key])) == 1 else ",".join(map(str, d[key]))
    return d


def descriptor_table(
    sources: Sequence[Any],
    *,
    names: Sequence[str] | None = None,
    pixel_size: float | tuple[float, ...] | None = None,
    phase: int | Sequence[int] = 1,
    three_d: bool = False,
    threshold: str | float | None = None,
    table: Any = None,
    topology: bool = False,
    pi_resolution: int = 10,
    connectivity: int = 8,
):
    """Quantify a series of label images (or volumes) into one table, one row per image.

    Parameters
    ----------
    sources : sequence of path or ndarray
        Label images/volumes, as files (:func:`load_labels`) or arrays.
    names : sequence of str, optional
        Row names (``image`` column); default the file names, or ``image_0`` … for arrays.
    pixel_size : float or tuple of float, optional
        µm per pixel (voxel) for all images; default each file's calibration.  Images
        must either all have a pixel size or none (then every length is in pixels).
    phase : int or sequence of int
        The phase described (e.g. 1 = pore in semlab.segment labels).
    three_d : bool
        Sources are volumes: :func:`~semlab.quantify.describe_3d` instead of
        :func:`~semlab.quantify.describe_2d`.
    threshold : {"otsu"} or float, optional
        Threshold grey input into phase 1 (above) and 0.
    table : path or pandas.DataFrame, optional
        Descriptor table (``image``, ``sample``, process and property columns; read with
        :func:`semlab.dataset.read_table`).  Rows are matched on the image's file name
        (or stem) against its ``image`` (and ``labels``) column, and its columns joined.
    topology : bool
        Add persistence features of the phase (signed-distance filtration, see
        :func:`~semlab.quantify.persistence_diagram`): bar counts and total persistence of
        H0 and H1, and the H1 persistence image (``pi_resolution`` squared pixels on ranges
        shared by all images; ``pi_h1_p{i}_b{j}``).
    pi_resolution : int
        Persistence-image resolution per axis.
    connectivity : {8, 4}, default 8
        2-D particles: pixels sharing an edge (4) or an edge or a corner (8) are one
        particle (``n_particles`` and the particle statistics).  Stored in the
        ``connectivity`` column of 2-D tables; volumes do not use it.

    Returns
    -------
    pandas.DataFrame
        ``image``, the table's ``sample`` and other columns (when given), ``source``, then
        the descriptors with unit-suffixed names (``specific_perimeter_per_um`` …; 2-D
        tables also ``connectivity``, 4 or 8).  ``df.attrs["length_unit"]`` is ``"µm"`` or ``"px"``.
    """
    import pandas as pd

    neighbourhood(connectivity)
    arrays, sizes = _load_sources(sources, names, pixel_size, three_d=three_d, threshold=threshold)
    known = [s is not None for s in sizes]
    rows: list[dict[str, Any]] = []
    diagrams: list[Any] = []
    for (name, source, arr), px in zip(arrays, sizes, strict=True):
        d = _describe(name, arr, px, phase, three_d=three_d, connectivity=connectivity)
        row = {"image": name, "source": source, **d}
        if topology:
            from semlab.quantify.topology import persistence_diagram

            lab = as_labels(arr, ndim=(2, 3))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", QuantifyWarning)
                dg = persistence_diagram(lab, phase=phase, pixel_size=px)
            diagrams.append(dg)
            s = "px" if px is None else "um"
            for dim in (0, 1):
                sel = dg[(dg["dim"] == dim) & np.isfinite(dg["persistence"])]
                row[f"n_bars_h{dim}"] = len(sel)
                row[f"total_persistence_h{dim}_{s}"] = float(sel["persistence"].sum())
        rows.append(row)
    df = pd.DataFrame(rows)
    if topology:
        from semlab.quantify.topology import common_ranges, persistence_image

        br, pr = common_ranges(diagrams, dim=1)
        feats = [persistence_image(dg, dim=1, birth_range=br, persistence_range=pr,
                                   resolution=pi_resolution).to_dict() for dg in diagrams]  # fmt: skip
        df = pd.concat([df, pd.DataFrame(feats, index=df.index)], axis=1)
        df.attrs["pi_birth_range"] = br
        df.attrs["pi_persistence_range"] = pr
    if table is not None:
        df = _join(df, _read_table(table))
    df.attrs["length_unit"] = "px" if not any(known) else "µm"
    return df
