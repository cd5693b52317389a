"""Map data: coordinates + metadata table + pictures, built from arrays or from a workspace.

The page (``static/``) receives one JSON object built by :func:`page_payload`.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from semlab._util import atomic_path, atomic_write_text, to_jsonable, write_json
from semlab.errors import ParameterError, WorkspaceError
from semlab.maps.embedding import (
    EmbeddingModel,
    embedding_arrays,
    fit_embedding,
    pool_features,
    restore_embedding,
)
from semlab.maps.thumbs import LARGE_THUMB_SIZE, THUMB_SIZE, cached_picture

if TYPE_CHECKING:
    import pandas as pd

    from semlab.dataset import Workspace

#: Sub-folder of a workspace that holds the map's files.
MAPS_DIR = "maps"
#: Columns of a workspace table that are bookkeeping, not something to colour by.
HIDDEN_COLUMNS = (
    "hash",
    "stored_path",
    "original_name",
    "databar_row",
    "image_hash",
    "patch_row",
    "patch_col",
)
#: Name endings of identifier columns (file paths, hashes, indices): never offered as colours.
IDENTIFIER_SUFFIXES = ("path", "_file", "hash", "_id", "_index", "_sha256")
#: A numeric column with at most this many distinct integer values can also be shown as
#: categories (the page offers "<name> (as categories)"); by default every number gets an
#: ordered colour map with a colour bar.
MAX_LEVELS_AS_CATEGORIES = 10
_MODEL_FILE = "embedding.npz"
_CONFIG_FILE = "config.json"


@dataclass(frozen=True, eq=False)
class MapData:
    """Everything the map page shows.

    Attributes
    ----------
    coords : (n, 2) ndarray of float32
        Map coordinates, one row per point (unitless).
    table : DataFrame
        n rows in the order of ``coords``: ``hash``, ``original_name``, ``sample``,
        ``pixel_size_um`` (µm per pixel) where known, and any descriptor columns.
    thumbnails : tuple of (str or None)
        Path of an 8-bit thumbnail (JPEG/PNG) per point; ``None`` draws a dot only.  On a
        per-patch map it shows the point's patch, not the whole image.
    images : tuple of (str or None)
        Path of the full image per point (any format semlab reads; converted to PNG for the
        browser when shown).
    color_by : str or None
        Column coloured at start.
    method : str
        Embedding method used.
    title : str
        Page title.
    cache_dir : str or None
        Folder for converted full images (``<ws>/maps/full``); a temporary folder when ``None``.
    info : dict
        JSON-compatible provenance: backbone, weights, embedding parameters, seed, counts.
    thumbnails_large : tuple of (str or None)
        A sharper thumbnail per point (longest side 512 px), drawn when zoomed in; empty
        when there are none.
    patch_boxes : tuple of (tuple of 4 float, or None)
        Per point of a per-patch map, its patch in the full image as fractions of the image's
        height and width: (top, left, height, width); the detail panel outlines it.  Empty
        for a per-image map.
    """

    coords: np.ndarray
    table: pd.DataFrame = field(repr=False)
    thumbnails: tuple[str | None, ...] = field(repr=False)
    images: tuple[str | None, ...] = field(repr=False)
    color_by: str | None
    method: str
    title: str = "semlab map"
    cache_dir: str | None = None
    info: dict[str, Any] = field(default_factory=dict)
    thumbnails_large: tuple[str | None, ...] = field(default=(), repr=False)
    patch_boxes: tuple[tuple[float, float, float, float] | None, ...] = field(default=(), repr=False)

    def __len__(self) -> int:
        return int(self.coords.shape[0])

    @property
    def columns(self) -> list[str]:
        """Columns the page can colour and filter by."""
        return color_columns(self.table)

    def to_dict(self) -> dict[str, Any]:
        """Summary (no per-point data)."""
        return {
            "n_points": len(self),
            "method": self.method,
            "color_by": self.color_by,
            "columns": self.columns,
            "title": self.title,
            "coordinates": describe_coordinates(self.method, self.info),
            "n_thumbnails": sum(t is not None for t in self.thumbnails),
            **{k: v for k, v in self.info.items() if k not in ("n_points", "method")},
        }


def is_identifier(name: str, series: pd.Series) -> bool:
    """Whether a column identifies rows rather than measures them: bookkeeping names, file
    paths, hashes, ids and running indices (a colour of those tells nothing)."""
    import pandas as pd

    low = str(name).lower()
    if name in HIDDEN_COLUMNS or low.endswith(IDENTIFIER_SUFFIXES) or low in ("index", "id", "file"):
        return True
    values = series.dropna()
    if len(values) < 3 or not values.is_unique:
        return False
    if pd.api.types.is_integer_dtype(values):
        # 0, 1, 2, ... in a long table, or under an index-like name: a row number, not a parameter
        # (a short series of images may well have a parameter that takes 1, 2, 3).
        v = np.sort(values.to_numpy())
        named = any(w in low for w in ("index", "idx", "row", "number", "_no"))
        return bool(np.all(np.diff(v) == 1)) and (named or len(v) >= 20)
    if pd.api.types.is_numeric_dtype(values):
        return False
    text = values.astype(str)
    looks_like_path = text.str.contains(r"[/\\]", regex=True).all()
    looks_like_hash = text.str.fullmatch(r"[0-9a-fA-F]{16,}").all()
    return bool(looks_like_path or looks_like_hash)


def color_columns(table: pd.DataFrame) -> list[str]:
    """The columns of ``table`` to colour and filter by: bookkeeping and identifier columns
    (file paths, hashes, indices; :func:`is_identifier`) and all-missing columns left out."""
    return [c for c in table.columns if not is_identifier(c, table[c]) and not table[c].isna().all()]


def describe_coordinates(method: str, info: dict[str, Any]) -> str:
    """One line saying what the map's coordinates are, e.g. ``"UMAP of efficientnet_lite0
    features, 224 px patches at 0.5 µm/px; one point per image (patch features averaged)"``."""
    if info.get("coordinates"):
        return str(info["coordinates"])
    names = {"umap": "UMAP", "pca": "PCA", "tsne": "t-SNE"}
    if method not in names:
        return "coordinates as given (no unit)"
    what = f"{names[method]} of {info.get('backbone') or 'the'} features"
    patch, px = info.get("patch_size_px"), info.get("target_pixel_size_um")
    if patch:
        what += f", {patch} px patches" + (f" at {px:g} µm/px" if px else " at each image's own pixel size")
    if info.get("per_patch"):
        what += "; one point per patch"
    elif "per_patch" in info:
        what += "; one point per image" + (" (patch features averaged)" if patch else "")
    return what + ". Axes have no unit: nearby points have similar features."


def check_color_by(table: pd.DataFrame, color_by: str | None, *, where: str = "the map") -> str | None:
    """``color_by`` if it is a colour column of ``table``; else a one-line ParameterError listing them."""
    if color_by is None:
        return None
    cols = color_columns(table)
    if color_by not in cols:
        raise ParameterError(
            f"color_by {color_by!r} is not a column of {where}; columns: {', '.join(cols) or '(none)'}"
        )
    return color_by


def map_from_features(
    features: np.ndarray,
    table: pd.DataFrame,
    *,
    method: str = "umap",
    seed: int = 0,
    color_by: str | None = None,
    thumbnails: Sequence[str | os.PathLike | None] | None = None,
    images: Sequence[str | os.PathLike | None] | None = None,
    title: str = "semlab map",
    cache_dir: str | os.PathLike | None = None,
    **params: Any,
) -> MapData:
    """A map of feature vectors with their metadata (the core of :func:`build_map`, without a workspace).

    Parameters
    ----------
    features : (n, d) array_like
        One feature vector per point.
    table : DataFrame
        n rows of metadata (e.g. ``hash``, ``sample``, ``pixel_size_um``, descriptor columns).
    method, seed, **params
        See :func:`semlab.maps.embed`.
    color_by : str, optional
        Column coloured at start.
    thumbnails, images : sequence of paths, optional
        Per point: thumbnail picture and full image.
    title : str
        Page title.
    cache_dir : path, optional
        Folder for converted full images.

    Returns
    -------
    MapData
    """
    coords, model = fit_embedding(features, method=method, seed=seed, **params)
    data = map_from_coords(
        coords,
        table,
        color_by=color_by,
        thumbnails=thumbnails,
        images=images,
        title=title,
        method=model.method,
        cache_dir=cache_dir,
        info={"embedding": model.to_dict()},
    )
    return data


def map_from_coords(
    coords: np.ndarray,
    table: pd.DataFrame,
    *,
    color_by: str | None = None,
    thumbnails: Sequence[str | os.PathLike | None] | None = None,
    images: Sequence[str | os.PathLike | None] | None = None,
    title: str = "semlab map",
    method: str = "given",
    cache_dir: str | os.PathLike | None = None,
    info: dict[str, Any] | None = None,
    thumbnails_large: Sequence[str | os.PathLike | None] | None = None,
) -> MapData:
    """A map of given 2-D coordinates with their metadata (no embedding).

    Parameters are those of :func:`map_from_features`, with ``coords`` (n, 2) instead of features,
    and ``thumbnails_large``: per point, a sharper thumbnail drawn when zoomed in.
    """
    import pandas as pd

    c = np.asarray(coords, dtype=np.float32)
    if c.ndim != 2 or c.shape[1] != 2:
        raise ParameterError(f"coords has shape {c.shape}; give (n, 2) map coordinates")
    if not isinstance(table, pd.DataFrame):
        raise ParameterError("table must be a pandas DataFrame with one row per point")
    if len(table) != c.shape[0]:
        raise ParameterError(
            f"table has {len(table)} rows but there are {c.shape[0]} points; give one row per point"
        )
    n = c.shape[0]

    def per_point(values: Sequence[Any] | None, what: str) -> tuple[str | None, ...]:
        if values is None:
            return (None,) * n
        values = list(values)
        if len(values) != n:
            raise ParameterError(
                f"{what} has {len(values)} entries but there are {n} points; give one per point"
            )
        return tuple(None if v is None else str(v) for v in values)

    table = table.reset_index(drop=True)
    check_color_by(table, color_by)
    return MapData(
        coords=c,
        table=table,
        thumbnails=per_point(thumbnails, "thumbnails"),
        images=per_point(images, "images"),
        color_by=color_by,
        method=method,
        title=title,
        cache_dir=None if cache_dir is None else str(cache_dir),
        info=dict(info or {}),
        thumbnails_large=() if thumbnails_large is None else per_point(thumbnails_large, "thumbnails_large"),
    )


# ----------------------------------------------------------------------------- workspaces


def _open_workspace(workspace: Workspace | str | os.PathLike) -> Workspace:
    from semlab.dataset import Workspace

    if isinstance(workspace, Workspace):
        return workspace
    return Workspace.open(workspace)


def _load_features(ws: Workspace, backbone: str | None):  # noqa: ANN202
    try:
        from semlab.features import load_features
    except ImportError:
        raise WorkspaceError(f"{ws.path}: no features yet; run `semlab embed {ws.path}` first") from None
    return load_features(ws, backbone=backbone)


def _cropped_image(ws: Any, image_hash: str) -> np.ndarray:
    """The stored image ``image_hash`` of ``ws`` without its data bar (thumbnail source)."""
    return ws.read(image_hash, crop=True).image


def _patch_image(ws: Any, image_hash: str, box: tuple[int, int, int], target_um: float | None) -> np.ndarray:
    """The patch of ``image_hash`` whose box (row, col, side) is given in pixels of the image
    resampled to ``target_um`` µm/px (the feature table's frame), cut from the stored image."""
    m = ws.read(image_hash, crop=True)
    px = getattr(m, "pixel_size", None)
    scale = float(target_um) / float(px) if target_um and px else 1.0
    r, c, side = (int(round(v * scale)) for v in box)
    crop = m.image[max(r, 0) : r + max(side, 1), max(c, 0) : c + max(side, 1)]
    return crop if crop.size else m.image


def _point_rows(
    table: pd.DataFrame, index: pd.DataFrame, keep: list[int], hashes: list[str], *, per_patch: bool
) -> tuple[pd.DataFrame, list[tuple[int, int, int] | None]]:
    """The workspace rows of the map's points (with ``patch`` on a per-patch map) and each
    point's patch box (row, col, side in the feature table's pixels; ``None``: whole image)."""
    rows = table.set_index("hash", drop=False).loc[hashes].reset_index(drop=True)
    boxes: list[tuple[int, int, int] | None] = [None] * len(keep)
    if per_patch and "patch" in index.columns:
        rows.insert(1, "patch", index["patch"].to_numpy()[keep].astype(int))
        if {"row", "col", "size_px"} <= set(index.columns):
            geo = index[["row", "col", "size_px"]].to_numpy()[keep].astype(int)
            boxes = [None if g[2] <= 0 else (int(g[0]), int(g[1]), int(g[2])) for g in geo]
    rows = rows.drop(columns=[c for c in ("stored_path", "databar_row") if c in rows.columns])
    return rows, boxes


def _box_fractions(
    ws: Any,
    hashes: Sequence[str],
    boxes: Sequence[tuple[int, int, int] | None],
    rows: pd.DataFrame,
    target_um: float | None,
) -> tuple[tuple[float, float, float, float] | None, ...]:
    """Each patch box as (top, left, height, width) fractions of its whole stored image (the
    data bar is cut from the bottom, so rows of the cropped image are rows of the image)."""
    pixel_sizes = rows["pixel_size_um"].tolist() if "pixel_size_um" in rows.columns else [None] * len(rows)
    shapes: dict[str, tuple[int, int]] = {}
    out: list[tuple[float, float, float, float] | None] = []
    for h, b, px in zip(hashes, boxes, pixel_sizes, strict=True):
        if b is None:
            out.append(None)
            continue
        if h not in shapes:
            shapes[h] = tuple(int(v) for v in ws.get(h).shape[:2])  # type: ignore[assignment]
        rows, cols = shapes[h]
        f = 1.0
        if target_um and px is not None and np.isfinite(float(px)) and float(px) > 0:
            f = float(target_um) / float(px)
        out.append((b[0] * f / rows, b[1] * f / cols, b[2] * f / rows, b[2] * f / cols))
    return tuple(out)


def _thumbnails(
    ws: Any,
    hashes: Sequence[str],
    boxes: Sequence[tuple[int, int, int] | None],
    *,
    target_um: float | None,
    sizes: tuple[int, int],
    progress: Callable[[int, int], None] | None,
) -> tuple[list[str], list[str]]:
    """Small and large cached thumbnails per point: the whole image, or the point's patch."""
    thumbs_dir = ws.path / MAPS_DIR / "thumbs"
    keys = [h if b is None else f"{h}_p{b[0]}-{b[1]}-{b[2]}" for h, b in zip(hashes, boxes, strict=True)]
    first = {k: i for i, k in reversed(list(enumerate(keys)))}  # first point of each picture
    todo = sorted(first.values())
    made: dict[str, tuple[str, str]] = {}
    for done, i in enumerate(todo):
        h, b = hashes[i], boxes[i]
        load = (
            functools.partial(_cropped_image, ws, h)
            if b is None
            else functools.partial(_patch_image, ws, h, b, target_um)
        )
        cache: dict[str, np.ndarray] = {}

        def once(load: Callable[[], np.ndarray] = load, cache: dict[str, np.ndarray] = cache) -> np.ndarray:
            if "image" not in cache:
                cache["image"] = load()
            return cache["image"]

        made[keys[i]] = (
            str(cached_picture(thumbs_dir, keys[i], once, size=sizes[0])),
            str(cached_picture(thumbs_dir, keys[i], once, size=sizes[1])),
        )
        if progress is not None:
            progress(done + 1, len(todo))
    return [made[k][0] for k in keys], [made[k][1] for k in keys]


def build_map(
    workspace: Workspace | str | os.PathLike,
    *,
    backbone: str | None = None,
    method: str = "umap",
    color_by: str | None = None,
    seed: int = 0,
    per_patch: bool = False,
    thumb_size: int = THUMB_SIZE,
    features: Any = None,
    progress: Callable[[int, int], None] | None = None,
    **params: Any,
) -> MapData:
    """The map of a workspace's images from their cached features.

    Parameters
    ----------
    workspace : Workspace or path
        A workspace with features (``semlab embed``).
    backbone : str, optional
        Which stored features to use (default: the only or latest ones).
    method : {"umap", "pca", "tsne"}, default "umap"
        Embedding method; ``**params`` go to it (UMAP: ``n_neighbors``, ``min_dist``, ``metric``).
    color_by : str, optional
        Descriptor column coloured at start (``sample``, ``pixel_size_um`` or any descriptor).
    seed : int, default 0
        Seed of the embedding.
    per_patch : bool, default False
        One point per patch, drawn as its patch, instead of one per image (features pooled by mean).
    thumb_size : int, default 128
        Thumbnail side (px), cached in ``<ws>/maps/thumbs/`` with a 512 px one for zoomed-in views.
    features : FeatureTable, optional
        Features to use instead of the stored ones.
    progress : callable, optional
        ``progress(done, total)`` while thumbnails are made.

    Returns
    -------
    MapData
        The fitted embedding is saved under ``<ws>/maps/latest/`` for :func:`place_on_map`.

    Raises
    ------
    WorkspaceError
        The workspace has no images, or no features (run ``semlab embed``).  ParameterError:
        ``color_by`` is not a column (the message lists them), or a bad method/parameter.
    """
    ws = _open_workspace(workspace)
    table = ws.table()
    if len(table) == 0:
        raise WorkspaceError(
            f"{ws.path}: the workspace has no images; add some with `semlab add {ws.path}` first"
        )
    check_color_by(table, color_by, where=f"workspace {ws.path}")
    ft = features if features is not None else _load_features(ws, backbone)
    has_patches = bool(len(ft.index)) and bool((ft.index["patch"].to_numpy() >= 0).any())
    if not per_patch:
        ft = ft.per_image()
    feats = np.asarray(ft.features, dtype=np.float32)
    index = ft.index.reset_index(drop=True)
    hashes = index["image_hash"].astype(str).tolist()
    if not per_patch:
        # Already pooled; pooling again keeps one row per image even for hand-made tables.
        feats, hashes = pool_features(feats, hashes)
    known = set(table["hash"])
    keep = [i for i, h in enumerate(hashes) if h in known]
    if not keep:
        raise WorkspaceError(
            f"{ws.path}: the stored features belong to no image of the workspace; run `semlab embed {ws.path}` again"
        )
    missing = len(known - {hashes[i] for i in keep})
    if missing:
        warnings.warn(
            f"{missing} image(s) of {ws.path} have no features and are left off the map; run `semlab embed` again",
            stacklevel=2,
        )
    feats = feats[keep]
    hashes = [hashes[i] for i in keep]
    rows, boxes = _point_rows(table, index, keep, hashes, per_patch=per_patch)

    coords, model = fit_embedding(feats, method=method, seed=seed, **params)

    cfg = getattr(ft, "config", None) or {}
    target_um = cfg.get("pixel_size") if isinstance(cfg.get("pixel_size"), (int, float)) else None
    small, large = _thumbnails(
        ws,
        hashes,
        boxes,
        target_um=target_um,
        sizes=(int(thumb_size), max(int(thumb_size), LARGE_THUMB_SIZE)),
        progress=progress,
    )
    stored = dict(zip(table["hash"], table["stored_path"], strict=True))
    info = {
        "workspace": str(ws.path),
        "backbone": getattr(ft, "backbone", None),
        "weights": getattr(ft, "weights", None),
        "weights_sha256": getattr(ft, "weights_sha256", None),
        "embedding": model.to_dict(),
        "per_patch": bool(per_patch),
        "n_images": len(set(hashes)),
        "patch_size_px": cfg.get("patch_size") if has_patches else None,
        "target_pixel_size_um": target_um,
    }
    data = map_from_coords(
        coords,
        rows,
        color_by=color_by,
        thumbnails=small,
        images=[stored[h] for h in hashes],
        thumbnails_large=large,
        title=f"semlab map · {ws.path.name}",
        method=model.method,
        cache_dir=ws.path / MAPS_DIR / "full",
        info=info,
    )
    if any(b is not None for b in boxes):
        data = dataclasses.replace(data, patch_boxes=_box_fractions(ws, hashes, boxes, rows, target_um))
    save_embedding(ws.path / MAPS_DIR / "latest", model, hashes=hashes, coords=coords, info=info)
    return data


def save_embedding(
    folder: str | os.PathLike,
    model: EmbeddingModel,
    *,
    hashes: Sequence[str],
    coords: np.ndarray,
    info: dict[str, Any] | None = None,
) -> Path:
    """Save a fitted embedding: ``embedding.npz`` (arrays only), ``coords.csv`` and ``config.json``.

    ``config.json`` holds the semlab version, method, parameters, seed, backbone and weights
    and the SHA-256 of the arrays file, written last so that a half-written folder is
    detected.  Nothing in the folder is a pickle: loading it cannot run code.
    """
    from semlab import __version__
    from semlab._util import file_sha256

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(folder / _MODEL_FILE) as tmp, open(tmp, "wb") as fh:
        arrays: dict[str, Any] = embedding_arrays(model)
        np.savez(fh, **arrays)
    (folder / "embedding.pkl").unlink(missing_ok=True)  # written by semlab < 0.2; never read
    lines = ["image_hash,x,y"] + [
        f"{h},{x:.6g},{y:.6g}" for h, (x, y) in zip(hashes, np.asarray(coords), strict=True)
    ]
    atomic_write_text(folder / "coords.csv", "\n".join(lines) + "\n")
    config = {
        "kind": "map-embedding",
        "semlab_version": __version__,
        **model.to_dict(),
        "model_file": _MODEL_FILE,
        "model_sha256": file_sha256(folder / _MODEL_FILE),
        **{k: v for k, v in (info or {}).items() if k != "embedding"},
    }
    write_json(folder / _CONFIG_FILE, config)
    return folder


def load_embedding(folder: str | os.PathLike) -> EmbeddingModel:
    """The embedding saved by :func:`save_embedding` (checked against its config's SHA-256).

    Raises
    ------
    WorkspaceError
        No saved embedding (a map built by semlab < 0.2 kept a pickle, which is never
        loaded: build the map again), or files that do not match.
    """
    from semlab._util import file_sha256

    folder = Path(folder)
    cfg_path, model_path = folder / _CONFIG_FILE, folder / _MODEL_FILE
    if not cfg_path.is_file() or not model_path.is_file():
        raise WorkspaceError(f"{folder}: no saved map embedding; build the map with `semlab map` first")
    cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    if file_sha256(model_path) != cfg.get("model_sha256"):
        raise WorkspaceError(
            f"{model_path}: does not match its config.json (interrupted write?); build the map again"
        )
    try:
        with np.load(model_path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError) as exc:
        raise WorkspaceError(f"{model_path}: cannot be read ({exc}); build the map again") from None
    return restore_embedding(cfg, arrays)


def place_on_map(workspace: Workspace | str | os.PathLike, features: Any) -> np.ndarray:
    """Coordinates of new images on the workspace's latest map.

    Parameters
    ----------
    workspace : Workspace or path
        A workspace whose map was built (:func:`build_map` / ``semlab map``).
    features : (k, d) or (d,) array_like, or FeatureTable
        Pooled (per-image) features of the new images from the same backbone; a
        FeatureTable is pooled per image first.

    Returns
    -------
    (k, 2) ndarray of float32
        Map coordinates in the frame of the saved map (PCA/UMAP ``transform``; t-SNE by
        distance-weighted nearest neighbours).
    """
    if hasattr(features, "per_image"):
        features = features.per_image().features
    root = Path(workspace.path if hasattr(workspace, "path") else workspace)
    folder = root / MAPS_DIR / "latest"
    if not (folder / _CONFIG_FILE).is_file():
        raise WorkspaceError(f"{root}: no map yet; build it with `semlab map {root}` first")
    return _cached_embedding(folder).transform(features)


#: Embeddings loaded by :func:`place_on_map`, per folder, with the config they were loaded from
#: (reloading a UMAP map refits it: about 80 CPU-s for 100 000 images; the web app places every
#: upload, so the fitted model is kept until the map is rebuilt).
_LOADED: dict[Path, tuple[str, EmbeddingModel]] = {}


def _cached_embedding(folder: Path) -> EmbeddingModel:
    key = folder.resolve()
    stamp = (folder / _CONFIG_FILE).read_text(encoding="utf-8")  # holds the arrays' SHA-256
    hit = _LOADED.get(key)
    if hit is not None and hit[0] == stamp:
        return hit[1]
    model = load_embedding(folder)
    if len(_LOADED) >= 4:
        _LOADED.pop(next(iter(_LOADED)))
    _LOADED[key] = (stamp, model)
    return model


# ----------------------------------------------------------------------------- page payload


def _json_number(v: Any) -> float | int | None:
    if v is None:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(f):
        return None
    return int(f) if f.is_integer() and abs(f) < 2**53 else float(f"{f:.6g}")


def _column_spec(name: str, series: pd.Series) -> dict[str, Any]:
    """A column for the page: numbers are ``continuous`` (ordered colour map and colour bar,
    ``label`` with the unit from the name's suffix); few integer levels also carry ``levels``
    and ``codes`` so the page can show them as categories when asked; text is categorical."""
    import pandas as pd

    from semlab._plot import axis_label, split_unit

    numeric = pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
    if numeric:
        values = [_json_number(v) for v in series.tolist()]
        present = sorted({v for v in values if v is not None})
        integral = all(float(v).is_integer() for v in present)
        spec: dict[str, Any] = {
            "name": name,
            "numeric": True,
            "kind": "continuous",
            "label": axis_label(name),
            "unit": split_unit(name)[1],
            "values": values,
        }
        if present:
            spec.update(min=present[0], max=present[-1])
        if present and integral and len(present) <= MAX_LEVELS_AS_CATEGORIES:
            spec["levels"] = [str(v) for v in present]
            pos = {v: i for i, v in enumerate(present)}
            spec["codes"] = [-1 if v is None else pos[v] for v in values]
        return spec
    text: list[str | None] = [
        None if (v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA) else str(v)
        for v in series.tolist()
    ]
    text = [None if t in ("nan", "None", "<NA>") else t for t in text]
    levels = sorted({t for t in text if t is not None})
    code = {t: i for i, t in enumerate(levels)}
    return {
        "name": name,
        "numeric": False,
        "kind": "categorical",
        "label": axis_label(name),
        "unit": None,
        "levels": levels,
        "codes": [-1 if t is None else code[t] for t in text],
    }


def page_payload(
    data: MapData,
    *,
    thumb_urls: Sequence[str | None] | None = None,
    image_urls: Sequence[str | None] | None = None,
    large_urls: Sequence[str | None] | None = None,
) -> dict[str, Any]:
    """The JSON object the map page reads (columnar; categorical columns as codes + levels;
    ``large_urls``: sharper thumbnails for zoomed-in views)."""
    c = np.asarray(data.coords, dtype=np.float64)
    n = c.shape[0]
    t = data.table
    col = lambda name: t[name].tolist() if name in t.columns else [None] * n  # noqa: E731
    return {
        "title": data.title,
        "coordinates": describe_coordinates(data.method, data.info),
        "n": n,
        "x": [float(f"{v:.6g}") for v in c[:, 0]] if n else [],
        "y": [float(f"{v:.6g}") for v in c[:, 1]] if n else [],
        "hash": [None if v is None else str(v) for v in col("hash")],
        "name": [None if v is None else str(v) for v in col("original_name")],
        "sample": [
            None if v is None or (isinstance(v, float) and math.isnan(v)) else str(v) for v in col("sample")
        ],
        "pixel_size_um": [_json_number(v) for v in col("pixel_size_um")],
        "patch": [_json_number(v) for v in col("patch")] if "patch" in t.columns else None,
        "columns": [_column_spec(name, t[name]) for name in data.columns],
        "colorBy": data.color_by,
        "method": data.method,
        "thumbs": list(thumb_urls) if thumb_urls is not None else [None] * n,
        "thumbsLarge": list(large_urls) if large_urls is not None else None,
        "boxes": [None if b is None else [float(f"{v:.5g}") for v in b] for b in data.patch_boxes]
        if data.patch_boxes
        else None,
        "images": list(image_urls) if image_urls is not None else [None] * n,
        "info": to_jsonable(data.info),
    }
