"""Segment files and folders, and score folders of label images: what ``semlab segment`` and
``semlab score-segmentation`` do, as library functions.

:func:`segment_files` writes, for every input, ``<out>/<name>.tif`` (labels with the input's
shape, the pixel size and class names), ``<out>/<name>_labels.json`` (the sidecar: classes,
the phase measured, the foreground choice, pixel size, the "no data" value),
``<out>/<name>_overlay.png`` (skipped by :func:`semlab.io.list_images`, so ``semlab
quantify <out>`` reads the labels only) and one ``<out>/phase_fractions.csv`` (a row per image
or stack slice); every write is atomic.  :func:`read_labels` reads a label file with its
sidecar.  :func:`score_folders` pairs a truth folder with a prediction folder by file name and
pools the scores over all pixels.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from semlab.errors import ParameterError

__all__ = [
    "LabelFile",
    "read_array",
    "read_labels",
    "score_folders",
    "segment_files",
    "sidecar_path",
    "write_labels",
]

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
        JSON-compatible fields kept in the ImageJ ``Info`` block (e.g. ``classes``).  When
        they name ``classes``, they are also written to the sidecar ``<stem>_labels.json``
        (:func:`sidecar_path`) with ``pixel_size_um``, for :func:`read_labels`.

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
    if "classes" in meta:
        from semlab._util import write_json

        write_json(sidecar_path(path), {**meta, "pixel_size_um": pixel_size, "shape": list(labels.shape)})
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


def sidecar_path(path: PathLike) -> Path:
    """The sidecar JSON of a label file: ``<folder>/<stem>_labels.json``."""
    p = Path(path)
    return p.with_name(f"{p.stem}_labels.json")


@dataclass(frozen=True, eq=False)
class LabelFile:
    """A label image read with what its writer said about it (:func:`read_labels`).

    Attributes
    ----------
    labels : (M, N) or (P, M, N) ndarray
    classes : dict of int to str
        Label value → class name; ``class_<value>`` for values of files without names.
    pixel_size : float or None
        µm per pixel (the file's calibration), ``None`` when unknown.
    no_data : int or None
        Label value of pixels without data (data-bar rows), ``None`` when not declared.
    measured_labels : tuple of int
        Label values of the phase measured by default (the sidecar's, else ``(1,)`` when 1
        is a class, else every non-zero class).
    measured_phase : str
        Its name.
    metadata : dict
        The sidecar (or the TIFF's semlab metadata); empty for foreign files.
    """

    labels: np.ndarray
    classes: dict[int, str]
    pixel_size: float | None
    no_data: int | None
    measured_labels: tuple[int, ...]
    measured_phase: str
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def has_names(self) -> bool:
        """Whether the file declared its class names."""
        return "classes" in self.metadata


def read_labels(path: PathLike, *, pixel_size: float | None = None) -> LabelFile:
    """A label file with its class names, measured phase, pixel size and "no data" value.

    Reads ``<stem>_labels.json`` beside the file when present (written by
    :func:`segment_files` / :func:`write_labels`), else the TIFF's semlab metadata, else
    names the classes ``class_<value>``.

    Parameters
    ----------
    path : str or Path
        Label image (2-D) or stack.
    pixel_size : float, optional
        µm per pixel, overriding the file's calibration.

    Returns
    -------
    LabelFile
    """
    import json

    from semlab.errors import FileFormatError
    from semlab.io import read_micrograph

    p = Path(path)
    arr, px = read_array(p, pixel_size=pixel_size)
    meta: dict[str, Any] = {}
    side = sidecar_path(p)
    if side.is_file():
        try:
            meta = json.loads(side.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise FileFormatError(f"{side}: not a readable JSON sidecar ({exc}); delete or fix it") from None
    elif p.suffix.lower() in (".tif", ".tiff"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            md = read_micrograph(p).metadata
        meta = {k: md[k] for k in ("classes", "measured_labels", "measured_phase", "no_data") if k in md}
    if pixel_size is None and px is None and meta.get("pixel_size_um"):
        px = float(meta["pixel_size_um"])
    no_data = meta.get("no_data")
    if "classes" in meta:
        classes = {int(k): str(v) for k, v in meta["classes"].items()}
    else:
        values = np.unique(arr).tolist()
        classes = {int(v): f"class_{int(v)}" for v in values if v != no_data}
    measured = tuple(int(v) for v in meta.get("measured_labels", ()))
    if not measured:
        nonzero = [v for v in classes if v != 0]
        measured = (1,) if 1 in classes else tuple(nonzero) or tuple(classes)
    name = meta.get("measured_phase") or " + ".join(classes.get(v, f"class_{v}") for v in measured)
    return LabelFile(arr, classes, px, None if no_data is None else int(no_data), measured, str(name), meta)


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


def _read_input(path: Path, pixel_size: float | None) -> tuple[np.ndarray, float | None, dict[str, Any]]:
    """A file (image or stack) or a folder read as one stack of slices, with its metadata."""
    import warnings

    from semlab.io import read_micrograph, read_volume

    if path.is_dir():
        v = read_volume(path)
        return v.data, (pixel_size or (v.voxel_size[1] if v.voxel_size else None)), {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # colour → grey notes
        m = read_micrograph(path, pixel_size=pixel_size)
    if (m.metadata.get("pages") or 1) > 1:
        return read_volume(path).data, m.pixel_size, {}
    return m.image, m.pixel_size, dict(m.metadata)


def _fraction_rows(path: Path, seg: Any, px: float | None, method: str) -> list[dict]:
    """Rows of ``phase_fractions.csv`` for one input (one per slice of a stack), as written."""
    from semlab.segment.api import phase_fractions

    rows = []
    labels = seg.labels
    slices = labels if labels.ndim == 3 else labels[None]
    fg = seg.foreground
    for k, sl in enumerate(slices):
        data = sl != seg.no_data
        n = int(data.sum())
        measured = float(np.isin(sl[data], seg.measured_labels).sum()) / n if n else float("nan")
        row: dict[str, Any] = {"file": str(path), "slice": k if labels.ndim == 3 else "", "method": method,
                               "pixel_size_um": "" if px is None else f"{px:.6g}", "n_pixels": n,
                               "foreground": "" if fg is None else fg.foreground,
                               "foreground_rule": "" if fg is None else fg.rule,
                               "measured_phase": seg.measured_phase, "measured_fraction": f"{measured:.6f}"}  # fmt: skip
        for name, value in phase_fractions(sl, seg.classes, no_data=seg.no_data).items():
            row[f"fraction_{name}"] = f"{value:.6f}"
        row["warnings"] = " | ".join(seg.warnings)
        rows.append(row)
    return rows


def align_pair(truth: np.ndarray, pred: np.ndarray, name: str = "") -> tuple[np.ndarray, np.ndarray, str]:
    """Truth and prediction cut to their common rows when only the row counts differ.

    A label image cut above the data bar (e.g. 712 rows) and one of the full frame (768 rows)
    share their top rows; both are cut to the shorter.  Returns the note ``"rows 0-711"``
    (``""`` when nothing was cut); other shape differences are a ParameterError.
    """
    if truth.shape == pred.shape:
        return truth, pred, ""
    if truth.ndim == pred.ndim and truth.shape[1:] == pred.shape[1:] and truth.ndim in (2, 3):
        axis = 0 if truth.ndim == 2 else 1
        n = min(truth.shape[axis], pred.shape[axis])
        cut = (slice(None),) * axis + (slice(0, n),)
        return truth[cut], pred[cut], f"rows 0-{n - 1} (truth {truth.shape}, prediction {pred.shape})"
    where = f"{name}: " if name else ""
    raise ParameterError(
        f"{where}prediction has shape {pred.shape} but the truth {truth.shape}; they must match "
        "(or differ only in the number of rows, a data bar)"
    )


def _write_overlay(
    target: Path, data: np.ndarray, seg: Any, truth_file: Path | None, name: str, px: float | None,
    max_side: int | None = None,
) -> None:  # fmt: skip
    """Overlay PNG of an image (middle slice of a stack), with a truth panel when given."""
    from semlab.segment.overlay import save_overlay

    labels = seg.labels
    mid = data.shape[0] // 2 if data.ndim == 3 else None
    img2 = data[mid] if mid is not None else data
    lab2 = labels[mid] if mid is not None else labels
    tru = None
    if truth_file is not None:
        t = read_labels(truth_file)
        tru = t.labels[mid] if (mid is not None and t.labels.ndim == 3) else t.labels
        tru, lab_cut, _ = align_pair(tru, lab2, str(truth_file))
        tru = _map_truth(tru, lab_cut, seg.classes, seg.no_data)[0]
        if lab_cut.shape != lab2.shape:
            full = np.full(lab2.shape, seg.no_data, dtype=np.int64)
            full[: tru.shape[0]] = tru
            tru = full
    from semlab.segment.overlay import OVERLAY_MAX_SIDE

    save_overlay(target, img2, lab2, truth=tru, classes=seg.classes, pixel_size=px, no_data=seg.no_data,
                 max_side=OVERLAY_MAX_SIDE if max_side is None else max_side)  # fmt: skip


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    from semlab._util import atomic_write_text

    buffer = io.StringIO()
    fields = list(dict.fromkeys(k for r in rows for k in r))
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n", restval="")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buffer.getvalue())


def _segment_stack(data: np.ndarray, resolved: Any, phase: Mapping[str, Any], kw: Mapping[str, Any]) -> Any:
    """A :class:`Segmentation` of a stack: the foreground chosen on the middle slice, used for all."""
    from semlab.segment.api import Segmentation, _phase_classes, segment_image
    from semlab.segment.phases import NO_DATA, resolve_foreground

    choice = None
    if isinstance(resolved, str):
        choice = resolve_foreground(data[data.shape[0] // 2], phase.get("foreground", "auto"))
        labels = np.stack(
            [segment_image(s, method=resolved, foreground=choice.foreground, **kw) for s in data]
        )
    else:
        labels = np.stack([segment_image(s, method=resolved, **kw) for s in data])
    classes, measured = _phase_classes(
        resolved, None if choice is None else choice.foreground, phase.get("phase_name")
    )
    return Segmentation(
        labels=labels, classes=classes, foreground=choice, measured_phase=" + ".join(classes[v] for v in measured),
        measured_labels=measured, no_data=NO_DATA if NO_DATA not in classes else 65535,
    )  # fmt: skip


def _segment_one(
    path: Path, out: Path, resolved: Any, method_name: str, opts: dict[str, Any], pixel_size: float | None,
    crop: bool, phase: dict[str, Any], truth_file: Path | None, overlay: bool | int, table: list[dict[str, Any]],
) -> list[dict[str, Any]]:  # fmt: skip
    """Segment one input of :func:`segment_files`, write its files, append its table row; its CSV rows."""
    from semlab.segment.api import segment_labelled
    from semlab.segment.threshold import THRESHOLD_METHODS

    data, px, meta = _read_input(path, pixel_size)
    # thresholds take the file's pixel size, for options in µm (sigma_um, min_size_um2)
    kw = opts
    if isinstance(resolved, str) and resolved in THRESHOLD_METHODS and px and "pixel_size" not in opts:
        kw = {**opts, "pixel_size": px}
    if data.ndim == 3:
        seg = _segment_stack(data, resolved, phase, kw)
    else:
        seg = segment_labelled(data, method=resolved, foreground=phase["foreground"], phase_name=phase["phase_name"],
                               crop_databar=crop, metadata=meta, **kw)  # fmt: skip
    target = out / f"{path.stem}.tif"
    ran = getattr(resolved, "last_runtime", None)  # a trained network: what ran it (torch, OpenVINO …)
    used = {"runtime": ran} if ran else {}
    md = {**seg.to_metadata(), "method": method_name, "source_file": str(path), "pixel_size_um": px, **used}
    write_labels(target, seg.labels, pixel_size=px, metadata=md)
    overlay_file = None
    if overlay:
        overlay_file = out / f"{path.stem}_overlay.png"
        _write_overlay(
            overlay_file, data, seg, truth_file, path.name, px, None if overlay is True else int(overlay)
        )
    fg = seg.foreground
    table.append({"file": str(path), "labels_file": str(target),
                  "overlay_file": None if overlay_file is None else str(overlay_file),
                  "shape": tuple(seg.labels.shape), "method": method_name, **used,
                  "pixel_size_um": np.nan if px is None else float(px),
                  "n_pixels": int((seg.labels != seg.no_data).sum()),
                  "foreground": None if fg is None else fg.foreground,
                  "foreground_rule": None if fg is None else fg.rule,
                  "foreground_detail": None if fg is None else fg.detail,
                  "measured_phase": seg.measured_phase, "measured_fraction": seg.measured_fraction,
                  **{f"fraction_{n}": v for n, v in seg.fractions().items()},
                  "warnings": seg.warnings})  # fmt: skip
    return _fraction_rows(path, seg, px, method_name)


def segment_files(
    paths: PathLike | Iterable[PathLike],
    out_dir: PathLike,
    *,
    method: Any = "hybrid",
    options: Mapping[str, Any] | None = None,
    stack: bool = False,
    truth: PathLike | None = None,
    overlay: bool | int = True,
    pixel_size: float | None = None,
    crop: bool = True,
    foreground: str = "auto",
    phase_name: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Any:
    """Segment image files, stacks or folders and write labels, overlays and phase fractions.

    This is ``semlab segment`` as a function: the same files, written atomically.  Each 2-D
    image goes through :func:`segment_labelled`: its labels keep the input's shape, the
    data-bar rows hold ``NO_DATA`` (255).

    Parameters
    ----------
    paths : path or iterable of paths
        Image files, multipage TIFF stacks, or folders (their images, see
        :func:`semlab.io.list_images`; with ``stack``, each folder is one 3-D stack of slices).
    out_dir : str or Path
        Output folder (created if missing).  Receives ``<name>.tif`` (labels with the
        input's shape; pixel size and class names kept), ``<name>_labels.json`` (the
        sidecar, :func:`read_labels`), ``<name>_overlay.png`` (image | labels with
        a colour key, or image | truth | prediction | errors with ``truth``; the middle
        slice of stacks; a scale bar when the pixel size is known) and
        ``phase_fractions.csv`` (one row per image or slice).  ``semlab quantify OUT``
        reads the labels and skips the rest.
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
    overlay : bool or int, default True
        Write the overlay PNGs; an int is their largest panel side in pixels (default
        4096: larger images are shown reduced by a whole factor, named in the panel titles;
        the label files are always full size).
    pixel_size : float, optional
        µm per pixel, overriding the files' calibration.
    crop : bool, default True
        Segment 2-D images above their data bar only (metadata row, else detected); the
        bar's rows are ``NO_DATA`` in the labels.
    foreground : {"auto", "bright", "dark"}, default "auto"
        The phase of interest (:func:`segment_labelled`); stacks choose it on the middle slice.
    phase_name : str, optional
        Its name, e.g. ``"particle"`` (default ``"bright phase"`` / ``"dark phase"``).
    progress : callable(done, total), optional
        Called with 0 before the first input and after each.

    In a ``semlab.scale.use_engine("ray")`` block, Ray workers segment the inputs and write
    their files (same labels); failures are named in an ``ItemsFailed`` after the rest.

    Returns
    -------
    DataFrame
        One row per input: ``file``, ``labels_file``, ``overlay_file`` (or ``None``),
        ``shape``, ``method``, ``pixel_size_um`` (NaN when unknown), ``n_pixels`` (with data),
        ``foreground``, ``foreground_rule``, ``foreground_detail``, ``measured_phase``,
        ``measured_fraction``, ``fraction_<class>`` (area or volume fraction of the pixels
        with data) and ``warnings`` (tuple of one-line warnings, e.g. a blank image).

    Examples
    --------
    >>> from semlab.segment import segment_files
    >>> table = segment_files(["images/"], "seg/", method="otsu", phase_name="particle")  # doctest: +SKIP
    >>> table[["file", "measured_phase", "measured_fraction"]]  # doctest: +SKIP
    """
    import pandas as pd

    from semlab.io import list_images
    from semlab.segment.api import _resolve
    from semlab.segment.phases import check_foreground

    check_foreground(foreground)
    inputs = list_images(paths, expand_folders=not stack)
    resolved = _resolve(method)
    method_name = str(method) if isinstance(method, (str, os.PathLike)) else "model"
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
    phase = {"foreground": foreground, "phase_name": phase_name}
    spec = (out, method_name, opts, pixel_size, crop, phase, overlay)
    if _segment_ray(inputs, method, resolved, spec, truth_files, rows, table, progress):
        return pd.DataFrame(table)  # (on Ray: file names escaped there)
    for i, path in enumerate(inputs):
        rows += _segment_one(path, out, resolved, method_name, opts, pixel_size, crop, phase,
                             truth_files.get(path.stem), overlay, table)  # fmt: skip
        if progress is not None:
            progress(i + 1, len(inputs))
    _write_csv(out / "phase_fractions.csv", rows)
    from semlab._util import shown_records  # non-UTF-8 file names, escaped

    return pd.DataFrame(shown_records(table))


def _ray_segment_setup(method: Any, spec: tuple) -> tuple[Any, tuple]:
    """A Ray worker's state: the method resolved (a model folder loaded) once."""
    from semlab.segment.api import _resolve

    return _resolve(method), spec


def _ray_segment_work(state: tuple[Any, tuple], items: list[dict[str, Any]]) -> list[tuple[dict, list]]:
    """Segment a batch of inputs on a Ray worker, writing their files: (table row, CSV rows) each."""
    resolved, (out, method_name, opts, pixel_size, crop, phase, overlay) = state
    done = []
    for it in items:
        table: list[dict[str, Any]] = []
        truth = Path(it["truth"]) if it["truth"] else None
        rows = _segment_one(Path(it["path"]), out, resolved, method_name, opts, pixel_size, crop, phase,
                            truth, overlay, table)  # fmt: skip
        done.append((table[0], rows))
    return done


def _segment_ray(
    inputs: list[Path], method: Any, resolved: Any, spec: tuple, truth_files: dict[str, Path],
    rows: list[dict[str, Any]], table: list[dict[str, Any]], progress: Callable[[int, int], None] | None,
) -> bool:  # fmt: skip
    """:func:`segment_files`' loop and CSV on Ray when a ``use_engine("ray")`` block asks for it.

    ``rows`` and ``table`` are filled in input order (file names escaped); ``False``: the local
    engine, nothing done.  Raises :class:`semlab.scale.ItemsFailed` naming the inputs that failed.
    """
    from semlab._util import shown_records
    from semlab.scale import ItemsFailed, current_engine, run_batches

    eng = current_engine()
    if eng.kind != "ray":
        return False
    if isinstance(method, (str, os.PathLike)):  # workers load a model folder themselves
        resolved = method
    items = [{"name": p.name, "k": k, "path": str(p), "truth": str(truth_files[p.stem]) if p.stem in truth_files
              else None} for k, p in enumerate(inputs)]  # fmt: skip
    found: dict[int, tuple[dict, list]] = {}
    report = run_batches(items, _ray_segment_work, on_result=lambda it, res: found.__setitem__(it["k"], res),
                         setup=_ray_segment_setup, setup_args=(resolved, spec), engine=eng, progress=progress)  # fmt: skip
    for k in sorted(found):
        table.append(found[k][0])
        rows += found[k][1]
    _write_csv(spec[0] / "phase_fractions.csv", rows)
    table[:] = shown_records(table)
    if report.failed:
        import pandas as pd

        raise ItemsFailed(report.failed, report.n_done, pd.DataFrame(table))
    return True


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
            raise ParameterError(
                f"merge maps {a} twice ({a}={mapping[a]} and {a}={b}); give each FROM value once"
            )
        mapping[a] = b
    return mapping


def _relabel(p: np.ndarray, mapping: dict[int, int]) -> np.ndarray:
    """``p`` with every value looked up in ``mapping`` at once (so ``{0: 1, 1: 0}`` swaps)."""
    if not mapping:
        return p
    values, inverse = np.unique(p, return_inverse=True)
    table = np.array([mapping.get(int(v), int(v)) for v in values], dtype=np.int64)
    return table[inverse].reshape(p.shape)


def _map_truth(
    t: np.ndarray, p: np.ndarray, classes: Mapping[int, str] | None, no_data: int | None
) -> tuple[np.ndarray, str]:
    """Truth values mapped onto a binary prediction's values, and the mapping as text.

    When the truth holds values the prediction has no class for, 0 is among them and the
    prediction has one non-zero class ``v`` (0/1 labels, 0/255 masks), every truth value > 0
    becomes ``v`` (0/255 masks, 0/1 masks, instance ids); otherwise the truth is unchanged.
    """
    pv = set(int(k) for k in classes) if classes else set(np.unique(p).tolist()) - {no_data}
    tv = set(np.unique(t).tolist())
    nonzero = sorted(pv - {0})
    if tv <= pv or 0 not in tv or len(nonzero) != 1 or not pv <= {0, nonzero[0]}:
        return t, ""
    v = nonzero[0]
    others = sorted(tv - {0})
    if len(others) == 1:
        note = f"truth {others[0]}->{v}"
    else:
        note = f"truth 1..{max(others)} ({len(others)} values, e.g. instance ids)->{v}"
    return np.where(t > 0, v, 0).astype(np.int64), note


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

    What it accepts, and reports (columns ``truth_mapping`` and ``rows``):

    * masks of either size: a truth cut above the data bar and a full-frame prediction (or
      the other way round) are scored on their common top rows;
    * the prediction's "no data" pixels (``no_data`` of its sidecar, :func:`read_labels`)
      are left out of every score;
    * binary truths of any values: when the prediction has one non-zero class ``v`` (0/1
      from a threshold) and the truth values it lacks (0/255 masks, instance ids > 0), truth
      values > 0 become ``v``.

    Parameters
    ----------
    truth_dir, pred_dir : str or Path
        Folders of label images (2-D, or 3-D multipage TIFF stacks).
    merge : mapping or iterable of "FROM=TO", optional
        Relabel predictions before scoring, e.g. ``{2: 1}`` (shine-through → pore).  All
        pairs apply at once, through one lookup table: ``{0: 1, 1: 0}`` swaps classes 0
        and 1.  A FROM value given twice is a :class:`~semlab.errors.ParameterError`.
    binarize_truth : bool, default False
        Truth values > 0 become 1 (always, whatever the prediction).
    out : path, optional
        Also write the table as CSV (atomically).

    Returns
    -------
    DataFrame
        One row per file (``file`` = name without suffix), then a row ``file="ALL"`` with the
        scores pooled over all pixels; columns of :meth:`SegmentationScores.to_dict`
        (``mean_iou``, ``mean_dice``, ``accuracy``, ``n_pixels``, ``iou_<class>`` …), then
        ``merge``: the class mapping applied to the predictions (``"0=1 1=0"``, ``""`` for
        none), ``truth_mapping`` (e.g. ``"truth 255->1"``), ``rows`` (the rows compared when
        the sizes differ) and ``classes`` (value=name of the prediction's classes).
        ``df.attrs["merge"]`` holds the merge as a dict, ``df.attrs["truth_mapping"]`` the
        truth mapping of each file, ``df.attrs["class_names"]`` the class names.
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
    pairs, notes, names = [], {}, {}
    for stem in sorted(tfiles):
        t, _ = read_array(tfiles[stem])
        pf = read_labels(pfiles[stem])
        t, p, rows_note = align_pair(t.astype(np.int64), pf.labels.astype(np.int64), str(pfiles[stem]))
        keep = p != pf.no_data if pf.no_data is not None else np.ones(p.shape, bool)
        p = _relabel(p, mapping)
        classes = {mapping.get(k, k): v for k, v in pf.classes.items()} if pf.has_names else None
        if binarize_truth:
            t, tnote = (t > 0).astype(np.int64), "truth >0->1 (--binarize-truth)"
        else:
            t, tnote = _map_truth(t, p[keep], classes, pf.no_data)
        names.update({int(k): v for k, v in (classes or {}).items()})
        notes[stem] = tnote
        pairs.append((stem, t[keep], p[keep], tnote, rows_note))
    classes_found = np.unique(
        np.concatenate([np.union1d(np.unique(t), np.unique(p)) for _, t, p, _, _ in pairs])
    ).tolist()
    used = " ".join(f"{a}={b}" for a, b in mapping.items())
    cls_text = " ".join(f"{k}={v}" for k, v in sorted(names.items()))
    rows = [
        {"file": stem, **score_segmentation(t, p, classes=classes_found).to_dict(), "merge": used,
         "truth_mapping": tnote, "rows": rnote, "classes": cls_text}
        for stem, t, p, tnote, rnote in pairs
    ]  # fmt: skip
    pooled = score_segmentation(
        np.concatenate([t.ravel() for _, t, _, _, _ in pairs]),
        np.concatenate([p.ravel() for _, _, p, _, _ in pairs]),
        classes=classes_found,
    )
    all_notes = sorted({n for n in notes.values() if n})
    rows.append({"file": "ALL", **pooled.to_dict(), "merge": used, "truth_mapping": "; ".join(all_notes),
                 "rows": "", "classes": cls_text})  # fmt: skip
    if out is not None:
        _write_csv(Path(out), rows)
    df = pd.DataFrame(rows)
    df.attrs["merge"] = dict(mapping)
    df.attrs["truth_mapping"] = notes
    df.attrs["class_names"] = names
    return df
