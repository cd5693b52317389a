"""Segment files and folders, and score folders of label images: what ``semlab segment`` and
``semlab score-segmentation`` do, as library functions.

:func:`segment_files` writes, for every input, ``<out>/<name>.tif`` (labels with their pixel
size and class names), ``<out>/<name>_overlay.png`` and one ``<out>/phase_fractions.csv`` (a
row per image or stack slice); every write is atomic.  :func:`score_folders` pairs a truth
folder with a prediction folder by file name and pools the scores over all pixels.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from semlab.errors import ParameterError

__all__ = ["read_array", "score_folders", "segment_files", "write_labels"]

PathLike = str | os.PathLike


def read_array(
    path: PathLike, *, pixel_size: float | None = None, crop: bool = False
) -> tuple[np.ndarray, float | None]:
    """A file's grey image (2-D) or stack (3-D, multipage TIFF) and its pixel size.

    Parameters
    ----------
    path : str or Path
        Image, label image or multipage TIFF stack.
    pixel_size : float, optional
        µm per pixel, overriding the file's calibration.
    crop : bool, default False
        Cut the data bar of a 2-D image (metadata row, else detected in the pixels).

    Returns
    -------
    array : (M, N) or (P, M, N) ndarray
    pixel_size : float or None
        µm per pixel; ``None`` when unknown.
    """
    import warnings

    from semlab.io import locate_databar, read_micrograph, read_volume

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # colour → grey notes
        m = read_micrograph(path, pixel_size=pixel_size)
    if (m.metadata.get("pages") or 1) > 1:
        return read_volume(path).data, m.pixel_size
    if crop:
        row, _ = locate_databar(m.image, m.metadata)
        if row is not None:
            return m.image[:row], m.pixel_size
    return m.image, m.pixel_size


def write_labels(
    path: PathLike, labels: Any, *, pixel_size: float | None = None, metadata: Mapping[str, Any] | None = None
) -> Path:
    """Write a 2-D label image or a 3-D label stack as a TIFF (ImageJ calibration), atomically.

    Parameters
    ----------
    path : str or Path
        Destination ``.tif``.
    labels : (M, N) or (P, M, N) ndarray of int
        Stored as uint8, or uint16 when a value is above 255.
    pixel_size : float, optional
        µm per pixel (in-plane; also the slice spacing of stacks).
    metadata : mapping, optional
        JSON-compatible fields kept in the ImageJ ``Info`` block (e.g. ``classes``).

    Returns
    -------
    Path
    """
    import json

    from semlab._util import to_jsonable
    from semlab.io import write_micrograph

    labels = np.asarray(labels)
    if labels.ndim not in (2, 3):
        raise ParameterError(
            f"labels have shape {labels.shape}; write_labels takes a 2-D image or a 3-D stack"
        )
    if labels.dtype not in (np.uint8, np.uint16):
        labels = labels.astype(np.uint16 if labels.max() > 255 else np.uint8)
    meta = dict(metadata or {})
    if labels.ndim == 2:
        return write_micrograph(path, labels, pixel_size=pixel_size, metadata=meta)
    import tifffile

    from semlab._util import atomic_path

    kwargs: dict[str, Any] = {}
    ij: dict[str, Any] = {"Info": json.dumps(to_jsonable({"writer": "semlab", **meta})), "axes": "ZYX"}
    if pixel_size is not None:
        ij.update(unit="micron", spacing=pixel_size)
        kwargs["resolution"] = (1.0 / pixel_size, 1.0 / pixel_size)
    with atomic_path(path) as tmp:
        tifffile.imwrite(tmp, labels, imagej=True, metadata=ij, compression="zlib", **kwargs)
    return Path(path)


def _by_stem(files: list[Path], folder: Path) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for f in files:
        if f.stem in out:
            raise ParameterError(
                f"{folder}: {out[f.stem].name} and {f.name} share the name {f.stem!r}; rename one"
            )
        out[f.stem] = f
    return out


def _folder_by_stem(folder: PathLike, what: str) -> dict[str, Path]:
    from semlab.errors import MissingFileError
    from semlab.io import list_images

    p = Path(folder)
    if not p.exists():
        raise MissingFileError(f"{p}: no such folder; check {what}")
    if not p.is_dir():
        raise ParameterError(f"{what} {p} is a file; give a folder of images")
    return _by_stem(list_images(p, what=what), p)


def _read_input(path: Path, pixel_size: float | None, crop: bool) -> tuple[np.ndarray, float | None]:
    """A file (image or stack) or a folder read as one stack of slices."""
    if path.is_dir():
        from semlab.io import read_volume

        v = read_volume(path)
        return v.data, (pixel_size or (v.voxel_size[1] if v.voxel_size else None))
    return read_array(path, pixel_size=pixel_size, crop=crop)


def _fraction_rows(
    path: Path, labels: np.ndarray, px: float | None, method: str, classes: dict[int, str]
) -> list[dict]:
    """Rows of ``phase_fractions.csv`` for one input (one per slice of a stack), as written."""
    from semlab.segment.api import phase_fractions

    rows = []
    slices = labels if labels.ndim == 3 else labels[None]
    for k, sl in enumerate(slices):
        row: dict[str, Any] = {"file": str(path), "slice": k if labels.ndim == 3 else "", "method": method,
                               "pixel_size_um": "" if px is None else f"{px:.6g}", "n_pixels": int(sl.size)}  # fmt: skip
        for name, value in phase_fractions(sl, classes).items():
            row[f"fraction_{name}"] = f"{value:.6f}"
        rows.append(row)
    return rows


def _write_overlay(
    target: Path, data: np.ndarray, labels: np.ndarray, truth_file: Path | None, name: str
) -> None:
    """Overlay PNG of an image (middle slice of a stack), with a truth panel when given."""
    from semlab.segment.overlay import save_overlay

    mid = data.shape[0] // 2 if data.ndim == 3 else None
    img2 = data[mid] if mid is not None else data
    lab2 = labels[mid] if mid is not None else labels
    tru = None
    if truth_file is not None:
        t_arr, _ = read_array(truth_file)
        tru = t_arr[mid] if (mid is not None and t_arr.ndim == 3) else t_arr
        if tru.shape != lab2.shape:
            raise ParameterError(
                f"{truth_file}: truth has shape {tru.shape} but {name} {lab2.shape}; they must match"
            )
    save_overlay(target, img2, lab2, truth=tru)


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    from semlab._util import atomic_write_text

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[-1]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buffer.getvalue())


def segment_files(
    paths: PathLike | Iterable[PathLike],
    out_dir: PathLike,
    *,
    method: Any = "hybrid",
    options: Mapping[str, Any] | None = None,
    stack: bool = False,
    truth: PathLike | None = None,
    overlay: bool = True,
    pixel_size: float | None = None,
    crop: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> Any:
    """Segment image files, stacks or folders and write labels, overlays and phase fractions.

    This is ``semlab segment`` as a function: the same files, written atomically.

    Parameters
    ----------
    paths : path or iterable of paths
        Image files, multipage TIFF stacks, or folders (their images, see
        :func:`semlab.io.list_images`; with ``stack``, each folder is one 3-D stack of slices).
    out_dir : str or Path
        Output folder (created if missing).  Receives ``<name>.tif`` (labels, pixel size and
        class names kept), ``<name>_overlay.png`` (image | labels, or image | truth |
        prediction | errors with ``truth``; the middle slice of stacks) and
        ``phase_fractions.csv`` (one row per image or slice).
    method : "otsu", "derivative", "hybrid", a model folder or a Segmenter, default "hybrid"
        As :func:`segment_image`; a model folder is loaded once.
    options : mapping, optional
        Keyword options of the method (see :func:`segment_image`), e.g.
        ``{"segment_area": 50.0}`` for hybrid, ``{"sigma_um": 0.02}`` or
        ``{"denoise": False}`` for a threshold, ``{"tile_size": 256}`` for a model.  Thresholds
        get each file's pixel size as ``pixel_size`` (for ``sigma_um`` / ``min_size_um2``)
        unless ``options`` give one.
    stack : bool, default False
        Read each folder as one stack instead of separate images.
    truth : path, optional
        Folder of ground-truth label images named as the inputs: adds truth and error panels
        to the overlays.
    overlay : bool, default True
        Write the overlay PNGs.
    pixel_size : float, optional
        µm per pixel, overriding the files' calibration.
    crop : bool, default True
        Cut the data bar of 2-D images first (metadata row, else detected).
    progress : callable(done, total), optional
        Called with 0 before the first input and after each.

    Returns
    -------
    DataFrame
        One row per input: ``file``, ``labels_file``, ``overlay_file`` (or ``None``),
        ``shape``, ``method``, ``pixel_size_um`` (NaN when unknown), ``n_pixels`` and
        ``fraction_<class>`` (area or volume fraction, dimensionless, over the whole input).

    Examples
    --------
    >>> from semlab.segment import segment_files
    >>> table = segment_files(["images/"], "seg/", method="otsu")  # doctest: +SKIP
    >>> table[["file", "fraction_pore"]]  # doctest: +SKIP
    """
    import pandas as pd

    from semlab.io import list_images
    from semlab.segment.api import _resolve, method_classes, phase_fractions, segment_image
    from semlab.segment.threshold import THRESHOLD_METHODS

    inputs = list_images(paths, expand_folders=not stack)
    resolved = _resolve(method)
    method_name = str(method)
    classes = method_classes(resolved)
    opts = dict(options or {})
    truth_files = _folder_by_stem(truth, "truth") if truth is not None else {}
    stems = [p.stem for p in inputs]
    if len(set(stems)) != len(stems):
        raise ParameterError(
            "two inputs share a file name; their outputs would collide, segment them into different output folders"
        )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    table: list[dict[str, Any]] = []
    if progress is not None:
        progress(0, len(inputs))
    for i, path in enumerate(inputs):
        data, px = _read_input(path, pixel_size, crop)
        # thresholds take the file's pixel size, for options in µm (sigma_um, min_size_um2)
        kw = opts
        if isinstance(resolved, str) and resolved in THRESHOLD_METHODS and px and "pixel_size" not in opts:
            kw = {**opts, "pixel_size": px}
        if data.ndim == 3:
            labels = np.stack([segment_image(s, method=resolved, **kw) for s in data])
        else:
            labels = segment_image(data, method=resolved, **kw)
        target = out / f"{path.stem}.tif"
        meta = {"kind": "labels", "method": method_name, "source_file": str(path),
                "classes": {str(k): v for k, v in classes.items()}}  # fmt: skip
        write_labels(target, labels, pixel_size=px, metadata=meta)
        rows += _fraction_rows(path, labels, px, method_name, classes)
        overlay_file = None
        if overlay:
            overlay_file = out / f"{path.stem}_overlay.png"
            _write_overlay(overlay_file, data, labels, truth_files.get(path.stem), path.name)
        table.append({"file": str(path), "labels_file": str(target),
                      "overlay_file": None if overlay_file is None else str(overlay_file),
                      "shape": tuple(labels.shape), "method": method_name,
                      "pixel_size_um": np.nan if px is None else float(px), "n_pixels": int(labels.size),
                      **{f"fraction_{n}": v for n, v in phase_fractions(labels, classes).items()}})  # fmt: skip
        if progress is not None:
            progress(i + 1, len(inputs))
    _write_csv(out / "phase_fractions.csv", rows)
    return pd.DataFrame(table)


def _merge_map(merge: Mapping[int, int] | Iterable[str] | None) -> dict[int, int]:
    """``{from: to}`` from a mapping or strings like ``"2=1"``; each FROM value at most once."""
    if merge is None:
        return {}
    pairs = merge.items() if isinstance(merge, Mapping) else merge
    mapping: dict[int, int] = {}
    for m in pairs:
        try:
            a, b = (int(v) for v in (m if isinstance(m, tuple) else str(m).split("=")))
        except ValueError:
            raise ParameterError(f"merge {m!r} must look like FROM=TO, e.g. 2=1") from None
        if a in mapping:
            raise ParameterError(f"merge maps {a} twice ({a}={mapping[a]} and {a}={b}); give each FROM value once")
        mapping[a] = b
    return mapping


def _relabel(p: np.ndarray, mapping: dict[int, int]) -> np.ndarray:
    """``p`` with every value looked up in ``mapping`` at once (so ``{0: 1, 1: 0}`` swaps)."""
    if not mapping:
        return p
    values, inverse = np.unique(p, return_inverse=True)
    table = np.array([mapping.get(int(v), int(v)) for v in values], dtype=np.int64)
    return table[inverse].reshape(p.shape)


def score_folders(
    truth_dir: PathLike,
    pred_dir: PathLike,
    *,
    merge: Mapping[int, int] | Iterable[str] | None = None,
    binarize_truth: bool = False,
    out: PathLike | None = None,
) -> Any:
    """Score a folder of predicted label images against a folder of ground truths.

    This is ``semlab score-segmentation`` as a function.  Files are paired by name (the
    suffixes may differ; overlays ``*_overlay.*`` are skipped); every truth needs a
    prediction.  The classes scored are every value found in truths and predictions.

    Parameters
    ----------
    truth_dir, pred_dir : str or Path
        Folders of label images (2-D, or 3-D multipage TIFF stacks).
    merge : mapping or iterable of "FROM=TO", optional
        Relabel predictions before scoring, e.g. ``{2: 1}`` (shine-through → pore).  All
        pairs apply at once, through one lookup table: ``{0: 1, 1: 0}`` swaps classes 0
        and 1.  A FROM value given twice is a :class:`~semlab.errors.ParameterError`.
    binarize_truth : bool, default False
        Truth values > 0 become 1.
    out : path, optional
        Also write the table as CSV (atomically).

    Returns
    -------
    DataFrame
        One row per file (``file`` = name without suffix), then a row ``file="ALL"`` with the
        scores pooled over all pixels; columns of :meth:`SegmentationScores.to_dict`
        (``mean_iou``, ``mean_dice``, ``accuracy``, ``n_pixels``, ``iou_<class>`` …), then
        ``merge``: the class mapping applied to the predictions (``"0=1 1=0"``, ``""`` for
        none).  ``df.attrs["merge"]`` holds it as a dict.
    """
    import pandas as pd

    from semlab.segment.metrics import score_segmentation

    mapping = _merge_map(merge)
    tfiles = _folder_by_stem(truth_dir, "truth")
    pfiles = _folder_by_stem(pred_dir, "pred")
    missing = [s for s in tfiles if s not in pfiles]
    if missing:
        raise ParameterError(
            f"{pred_dir}: no prediction for {', '.join(tfiles[s].name for s in missing[:3])}; names must match"
        )
    pairs = []
    for stem in sorted(tfiles):
        t, _ = read_array(tfiles[stem])
        p, _ = read_array(pfiles[stem])
        if binarize_truth:
            t = (t > 0).astype(np.uint8)
        p = _relabel(p.astype(np.int64), mapping)
        if t.shape != p.shape:
            raise ParameterError(
                f"{pfiles[stem]}: prediction has shape {p.shape} but the truth {t.shape}; they must match"
            )
        pairs.append((stem, t, p))
    classes = np.unique(
        np.concatenate([np.union1d(np.unique(t), np.unique(p)) for _, t, p in pairs])
    ).tolist()
    used = " ".join(f"{a}={b}" for a, b in mapping.items())
    rows = [
        {"file": stem, **score_segmentation(t, p, classes=classes).to_dict(), "merge": used}
        for stem, t, p in pairs
    ]
    pooled = score_segmentation(
        np.concatenate([t.ravel() for _, t, _ in pairs]),
        np.concatenate([p.ravel() for _, _, p in pairs]),
        classes=classes,
    )
    rows.append({"file": "ALL", **pooled.to_dict(), "merge": used})
    if out is not None:
        _write_csv(Path(out), rows)
    df = pd.DataFrame(rows)
    df.attrs["merge"] = dict(mapping)
    return df
