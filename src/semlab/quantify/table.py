"""Descriptor tables: one row per image (or volume), joined with the study's descriptor table."""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
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
        (M, N) or (P, M, N) labels.  Label files of ``semlab segment`` (sidecar
        ``<stem>_labels.json`` naming a ``no_data`` value) lose their trailing rows that hold
        no data (the data bar), so descriptors see the micrograph only.
    pixel_size : float, tuple of float or None
        From the argument, else the file's metadata or sidecar (``None`` when unknown: results
        in pixels).
    """
    from semlab.io import read_micrograph, read_volume

    p = Path(path)
    if p.suffix.lower() == ".npy":
        if not p.exists():
            from semlab.errors import MissingFileError

            raise MissingFileError(f"{p}: no such file; check the path")
        from semlab.io import check_decoded_size

        check_decoded_size(p)  # from the header, before the array is allocated
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
        if threshold is None:
            info = _label_file(p, pixel_size)
            return info["labels"], info["pixel_size"]
        m = read_micrograph(p, pixel_size=pixel_size)
        arr, px = m.image, m.pixel_size
    if threshold is not None:
        arr = _threshold(arr, threshold, str(p))
    return arr, px


def _trim_no_data(arr: np.ndarray, no_data: int, path: Path) -> np.ndarray:
    """A 2-D label image without its trailing no-data rows (the data bar)."""
    has_data = (arr != no_data).any(axis=1)
    last = int(np.flatnonzero(has_data)[-1]) + 1 if has_data.any() else 0
    if last == 0:
        raise ParameterError(f"{path}: every pixel is 'no data' ({no_data}); nothing to quantify")
    arr = arr[:last]
    if (arr == no_data).any():
        warnings.warn(
            f"{path.name}: {int((arr == no_data).sum())} no-data pixels ({no_data}) inside the image "
            "count as matrix", QuantifyWarning, stacklevel=4,
        )  # fmt: skip
    return arr


def _label_file(path: Path, pixel_size: Any) -> dict[str, Any]:
    """A 2-D label file with its sidecar (semlab.segment.read_labels): labels without the
    trailing no-data rows, pixel size, measured label values and phase name."""
    from semlab.segment import read_labels

    lf = read_labels(path, pixel_size=pixel_size)
    arr = lf.labels
    if lf.no_data is not None and arr.ndim == 2:
        arr = _trim_no_data(arr, lf.no_data, path)
    elif lf.no_data is not None and arr.ndim == 3:
        arr = np.stack([_trim_no_data(page, lf.no_data, path) for page in arr])
    return {
        "labels": arr,
        "pixel_size": lf.pixel_size,
        "phase": lf.measured_labels if lf.has_names else None,
        "phase_name": lf.measured_phase if lf.has_names else None,
    }


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


def _pages(name: str, arr: np.ndarray, three_d: bool) -> list[tuple[str, np.ndarray]]:
    """``[(name, labels)]``: a stack of label pages read without ``three_d`` (a multipage
    micrograph segmented page by page) is one 2-D row per page, said in a warning."""
    if three_d or arr.ndim != 3:
        return [(name, arr)]
    warnings.warn(
        f"{name}: {arr.shape[0]} label pages quantified as separate 2-D images ({name} page 1 …); "
        "pass --3d (three_d=True) if the pages are slices of one volume",
        QuantifyWarning, stacklevel=4,
    )  # fmt: skip
    return [(f"{name} page {i + 1}", page) for i, page in enumerate(arr)]


def _load_sources(
    sources: Any, names: Sequence[str] | None, pixel_size: Any, *, three_d: bool, threshold: Any
) -> tuple[list[tuple[str, str | None, np.ndarray]], list[Any], list[dict[str, Any]]]:
    """``(name, source file or None, labels)`` per source, each one's pixel size, and what its
    file says about the phase measured (``{"phase": ..., "phase_name": ...}``, ``None`` values
    for arrays and files without a sidecar); see descriptor_table."""
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
    infos: list[dict[str, Any]] = []
    for k, src in enumerate(sources):
        info: dict[str, Any] = {"phase": None, "phase_name": None}
        if isinstance(src, (str, os.PathLike)):
            p = Path(src)
            if not three_d and threshold is None and p.suffix.lower() != ".npy" and p.is_file():
                info = _label_file(p, pixel_size)
                arr, px = info.pop("labels"), info.pop("pixel_size")
            else:
                arr, px = load_labels(src, three_d=three_d, threshold=threshold, pixel_size=pixel_size)
            name, source = p.name, str(src)
        else:
            arr = np.asarray(src)
            arr = _threshold(arr, threshold, f"sources[{k}]") if threshold is not None else arr
            px, name, source = pixel_size, f"image_{k}", None
        if names is not None:
            name = names[k]
        pages = _pages(name, arr, three_d)
        arrays.extend((page_name, source, page) for page_name, page in pages)
        sizes.extend([px] * len(pages))
        infos.extend([info] * len(pages))
    known = [s is not None for s in sizes]
    if any(known) and not all(known):
        missing = [a[0] for a, k in zip(arrays, known, strict=True) if not k]
        warnings.warn(
            f"pixel size unknown for {', '.join(missing[:3])}{' …' if len(missing) > 3 else ''}: their rows are in "
            "pixels (length_unit px), the others in µm; calibrate those files (e.g. the TIFF's resolution, or "
            "semlab segment --pixel-size for them alone) rather than one --pixel-size for all",
            QuantifyWarning, stacklevel=3,
        )  # fmt: skip
    return arrays, sizes, infos


def _describe(
    name: str, arr: np.ndarray, px: Any, phase: Any, *, three_d: bool, connectivity: int = 8,
    options_3d: dict[str, Any] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """The 2-D or 3-D descriptors of one label image as a flat dict (messages name ``name``)."""
    from semlab.quantify.threed import describe_3d
    from semlab.quantify.twod import describe_2d

    try:
        if three_d:
            d = describe_3d(arr, pixel_size=px, phase=phase, **(options_3d or {})).to_dict()
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


#: The :func:`~semlab.quantify.describe_3d` options ``descriptor_table(three_d={...})`` passes on.
DESCRIBE_3D_OPTIONS = ("smooth", "curvature", "struts", "tortuosity", "thickness", "diffusion")


def _options_3d(three_d: Any) -> dict[str, Any] | None:
    """None for 2-D; else the ``describe_3d`` options (``{}`` for ``three_d=True``)."""
    if isinstance(three_d, Mapping):
        unknown = sorted(set(three_d) - set(DESCRIBE_3D_OPTIONS))
        if unknown:
            raise ParameterError(
                f"three_d options {unknown} are not describe_3d options; use {', '.join(DESCRIBE_3D_OPTIONS)}"
            )
        return dict(three_d)
    return {} if three_d else None


def descriptor_table(
    sources: Sequence[Any],
    *,
    names: Sequence[str] | None = None,
    pixel_size: float | tuple[float, ...] | None = None,
    phase: int | Sequence[int] | None = None,
    three_d: bool | Mapping[str, Any] = False,
    threshold: str | float | None = None,
    table: Any = None,
    topology: bool = False,
    pi_resolution: int = 10,
    connectivity: int = 8,
    engine: Any = None,
    address: str | None = None,
):
    """Quantify a series of label images (or volumes) into one table, one row per image.

    Parameters
    ----------
    sources : sequence of path or ndarray
        Label images/volumes, as files (:func:`load_labels`) or arrays.
    names : sequence of str, optional
        Row names (``image`` column); default the file names, or ``image_0`` … for arrays.
    pixel_size : float or tuple of float, optional
        µm per pixel (voxel) for all images; default each file's own calibration.  Images
        without one are described in pixels in their own rows (``length_unit`` "px", columns
        ``*_px``), never mixed with the µm rows; a :class:`QuantifyWarning` names them.
    phase : int or sequence of int, optional
        The phase described.  Default: each label file's measured phase as its
        ``semlab segment`` sidecar names it (e.g. 1, or 1 and 2 for hybrid pore +
        shine-through), else 1.
    three_d : bool or mapping
        Sources are volumes: :func:`~semlab.quantify.describe_3d` instead of
        :func:`~semlab.quantify.describe_2d`.  A mapping also means volumes and holds
        ``describe_3d``'s options, e.g. ``{"diffusion": True}`` for the diffusive tortuosity
        factor columns (:data:`DESCRIBE_3D_OPTIONS`).
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
    engine : {"local", "ray"} or semlab.scale.Engine, optional
        Default ``"local"`` (or the engine of an enclosing :func:`semlab.scale.use_engine`).
        ``"ray"``: each file is read and described in a Ray task (arrays travel with their
        task); this process assembles the same table.  A file that fails is named in a
        :class:`semlab.scale.ItemsFailed` (its ``result`` the table of the others).
    address : str, optional
        Ray cluster to join (``"auto"``, ``"ray://host:port"``); default a local Ray instance.

    Returns
    -------
    pandas.DataFrame
        ``image``, the table's ``sample`` and other columns (when given), ``source``, then
        ``phase_name`` (the measured phase's name, from the file's sidecar, else
        ``"label <values>"``), ``length_unit`` (µm or px, per row), then the descriptors
        with unit-suffixed names (``specific_perimeter_per_um`` …; 2-D tables also
        ``connectivity``, 4 or 8).  ``df.attrs["length_unit"]`` is ``"µm"``, ``"px"`` or
        ``"mixed"`` (rows of both; compare only rows of one unit).
    """
    import pandas as pd

    from semlab.scale import current_engine

    neighbourhood(connectivity)
    options_3d = _options_3d(three_d)
    three_d = options_3d is not None
    eng = current_engine(engine, address)
    opts = {"pixel_size": pixel_size, "three_d": three_d, "threshold": threshold, "phase": phase,
            "topology": topology, "connectivity": connectivity, "options_3d": options_3d}  # fmt: skip
    report = None
    if eng.kind == "ray":
        rows, diagrams, sizes, report = _rows_on_ray(eng, sources, names, opts)
    else:
        arrays, sizes, infos = _load_sources(sources, names, pixel_size, three_d=three_d, threshold=threshold)
        rows, diagrams = _rows(arrays, sizes, infos, opts)
    known = [s is not None for s in sizes]
    from semlab._util import shown_records  # non-UTF-8 file names, escaped

    df = pd.DataFrame(shown_records(rows))
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
    df.attrs["length_unit"] = "px" if not any(known) else ("µm" if all(known) else "mixed")
    if report is not None and report.failed:
        from semlab.scale import ItemsFailed

        raise ItemsFailed(report.failed, report.n_done, df)
    return df


def _rows(
    arrays: list[tuple[str, str | None, np.ndarray]], sizes: list[Any], infos: list[dict[str, Any]],
    opts: dict[str, Any],
) -> tuple[list[dict[str, Any]], list[Any]]:  # fmt: skip
    """:func:`descriptor_table`'s rows (and persistence diagrams with ``topology``) of loaded label images."""
    phase, three_d, topology = opts["phase"], opts["three_d"], opts["topology"]
    connectivity = opts["connectivity"]
    rows: list[dict[str, Any]] = []
    diagrams: list[Any] = []
    for (name, source, arr), px, info in zip(arrays, sizes, infos, strict=True):
        ph = phase if phase is not None else (info["phase"] or 1)
        if isinstance(ph, (tuple, list)) and len(ph) == 1:
            ph = ph[0]
        d = _describe(name, arr, px, ph, three_d=three_d, connectivity=connectivity,
                      options_3d=opts.get("options_3d"))  # fmt: skip
        label_text = ",".join(str(v) for v in ph) if isinstance(ph, (tuple, list)) else str(ph)
        pname = info["phase_name"] if phase is None and info["phase_name"] else f"label {label_text}"
        row = {"image": name, "source": source, "phase_name": pname,
               "length_unit": "px" if px is None else "µm", **d}  # fmt: skip
        if topology:
            from semlab.quantify.topology import persistence_diagram

            lab = as_labels(arr, ndim=(2, 3))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", QuantifyWarning)
                dg = persistence_diagram(lab, phase=ph, pixel_size=px)
            diagrams.append(dg)
            s = "px" if px is None else "um"
            for dim in (0, 1):
                sel = dg[(dg["dim"] == dim) & np.isfinite(dg["persistence"])]
                row[f"n_bars_h{dim}"] = len(sel)
                row[f"total_persistence_h{dim}_{s}"] = float(sel["persistence"].sum())
        rows.append(row)
    return rows, diagrams


def _ray_rows(state: None, items: list[dict[str, Any]]) -> list[tuple[list[dict], list[Any], list[Any]]]:
    """(rows, diagrams, pixel sizes) of each source, on a Ray worker."""
    out = []
    for it in items:
        opts: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in it["opts"].items()}
        src = it["path"] if it["path"] is not None else np.asarray(it["array"])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", QuantifyWarning)  # said once, in the driver
            arrays, sizes, infos = _load_sources([src], [it["name"]] if it["name"] is not None else None,
                                                 opts["pixel_size"], three_d=opts["three_d"],
                                                 threshold=opts["threshold"])  # fmt: skip
            if it["name"] is None:  # arrays are named by their place in the series
                arrays = [(f"image_{it['k']}{n[len('image_0'):]}", s, a) for n, s, a in arrays]
            rows, diagrams = _rows(arrays, sizes, infos, opts)
        out.append((rows, diagrams, sizes))
    return out


def _rows_on_ray(
    eng: Any, sources: Any, names: Sequence[str] | None, opts: dict[str, Any]
) -> tuple[list[dict[str, Any]], list[Any], list[Any], Any]:
    """:func:`descriptor_table`'s rows, diagrams and pixel sizes from Ray tasks, in source order."""
    from semlab.scale import run_batches

    if isinstance(sources, (str, os.PathLike, np.ndarray)):
        sources = [sources]
    if len(sources) == 0:
        raise ParameterError("sources is empty; pass at least one label image")
    if names is not None and len(names) != len(sources):
        raise ParameterError(f"names has {len(names)} entries for {len(sources)} sources; give one per source")
    items = []
    for k, src in enumerate(sources):
        path = str(src) if isinstance(src, (str, os.PathLike)) else None
        shown = Path(path).name if path is not None else f"image_{k}"
        items.append({"k": k, "name": names[k] if names is not None else (shown if path else None),
                      "path": path, "array": None if path else np.asarray(src).tolist(), "opts": opts})  # fmt: skip
    found: dict[int, Any] = {}
    report = run_batches(items, _ray_rows, on_result=lambda it, res: found.__setitem__(it["k"], res),
                         engine=eng)  # fmt: skip
    rows, diagrams, sizes = [], [], []
    for k in sorted(found):
        rows += found[k][0]
        diagrams += found[k][1]
        sizes += found[k][2]
    known = [s is not None for s in sizes]
    if any(known) and not all(known):
        missing = [r["image"] for r, k in zip(rows, known, strict=True) if not k]
        warnings.warn(
            f"pixel size unknown for {', '.join(missing[:3])}{' …' if len(missing) > 3 else ''}: their rows are in "
            "pixels (length_unit px), the others in µm; calibrate those files", QuantifyWarning, stacklevel=3,
        )  # fmt: skip
    return rows, diagrams, sizes, report
