"""Workspaces: a folder with a SQLite catalog and a content-addressed file store.

::

    my-study/
        semlab.sqlite          catalog: images, their samples and descriptors, tables
        files/ab/abcdef….tif   every added file, named by the SHA-256 of its bytes

File names from users are never used as paths inside the workspace; the original name is
kept in the catalog.  Adding is idempotent (a file whose bytes are already stored is
skipped) and safe to interrupt: files are copied to a temporary name and renamed when
complete, and each image's catalog rows are written in one transaction after its file is in
place, so a catalog row always points to a complete file and a re-run finishes what an
interrupted run left.

>>> from semlab.dataset import Workspace
>>> ws = Workspace.init("my-study")  # doctest: +SKIP
>>> ws.add(table="descriptors.csv")  # doctest: +SKIP
AddResult(added=24, skipped_existing=0, total=24, annotated=24)
>>> ws.table().head()  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from semlab._util import atomic_path, file_sha256, shown_text, to_jsonable
from semlab.errors import FileFormatError, MissingFileError, SemlabError, TableError, WorkspaceError

if TYPE_CHECKING:
    import pandas as pd

    from semlab.dataset.table import Dataset
    from semlab.io import Micrograph

#: Name of the catalog file inside a workspace folder.
CATALOG_NAME = "semlab.sqlite"
#: Name of the file-store folder inside a workspace folder.
FILES_DIR = "files"
#: Version of the catalog schema this semlab writes and reads.
SCHEMA_VERSION = 1
#: SQLite ``application_id`` of a semlab catalog ("SEML").
APPLICATION_ID = 0x53454D4C

#: Columns of :meth:`Workspace.table` that a descriptor table may not use.
WORKSPACE_COLUMNS = (
    "hash",
    "stored_path",
    "original_name",
    "sample",
    "pixel_size_um",
    "pixel_size_source",
    "databar_row",
)

#: Where a catalogued pixel size came from: set by the user (``semlab set-pixel-size``,
#: ``add --pixel-size``), a descriptor table, vendor metadata (``fei``, ``zeiss``,
#: ``imagej``, ``semlab``), the metadata's field width over the image width (``field_width``,
#: Zeiss files without a pixel-size tag), the burned-in scale bar (``scale_bar``), or
#: ``unknown`` (no pixel size).
PIXEL_SIZE_SOURCES = (
    "user",
    "table",
    "fei",
    "zeiss",
    "imagej",
    "semlab",
    "field_width",
    "scale_bar",
    "unknown",
)

# Folder of cached features inside a workspace (semlab.features.embed.FEATURES_DIR).
_FEATURES_DIR = "features"

_STALE_TMP_S = 3600.0  # temporary files older than this are leftovers of a killed run

_SCHEMA = """
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE images (
    hash              TEXT PRIMARY KEY,             -- SHA-256 of the file's bytes (hex)
    stored_path       TEXT NOT NULL UNIQUE,         -- relative to the workspace: files/ab/<hash><suffix>
    original_name     TEXT NOT NULL,                -- file name as the user had it (display only)
    original_path     TEXT,                         -- absolute path it was added from
    size_bytes        INTEGER NOT NULL,
    rows              INTEGER NOT NULL,             -- image height in pixels (data bar included)
    cols              INTEGER NOT NULL,             -- image width in pixels
    dtype             TEXT NOT NULL,
    pixel_size_um     REAL,                         -- µm per pixel, NULL when unknown
    pixel_size_source TEXT,                         -- user, table, fei, zeiss, imagej, semlab, scale_bar or NULL
    databar_row       INTEGER,                      -- first row of the data bar, NULL when none
    databar_source    TEXT,                         -- metadata, detected or NULL
    crop_row0         INTEGER NOT NULL,             -- crop box without the data bar, half-open,
    crop_row1         INTEGER NOT NULL,             --   image[crop_row0:crop_row1, crop_col0:crop_col1]
    crop_col0         INTEGER NOT NULL,
    crop_col1         INTEGER NOT NULL,
    metadata_json     TEXT NOT NULL,                -- Micrograph.metadata (vendor summary and raw tags)
    added_at          TEXT NOT NULL                 -- ISO 8601, UTC
);
CREATE TABLE tables (
    hash          TEXT PRIMARY KEY,                 -- SHA-256 of the descriptor table file
    stored_path   TEXT NOT NULL UNIQUE,
    original_name TEXT NOT NULL,
    n_rows        INTEGER NOT NULL,
    added_at      TEXT NOT NULL
);
CREATE TABLE records (                              -- one descriptor-table row per image
    image_hash  TEXT PRIMARY KEY REFERENCES images(hash) ON DELETE CASCADE,
    sample      TEXT NOT NULL,
    values_json TEXT NOT NULL,                      -- {column: number, text or null}
    table_hash  TEXT REFERENCES tables(hash),
    table_row   INTEGER,                            -- spreadsheet row (header = row 1)
    updated_at  TEXT NOT NULL
);
CREATE INDEX records_sample ON records(sample);
CREATE TABLE columns (                              -- descriptor columns seen, in first-seen order
    name     TEXT PRIMARY KEY,
    kind     TEXT NOT NULL CHECK (kind IN ('numeric', 'categorical')),
    position INTEGER NOT NULL
);
"""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# ----------------------------------------------------------------------------- results


@dataclass(frozen=True)
class AddResult:
    """What :meth:`Workspace.add` did.

    Attributes
    ----------
    added : int
        Images newly stored and catalogued.
    skipped_existing : int
        Images whose bytes were already in the workspace (nothing copied).
    total : int
        Distinct image files given (``added + skipped_existing``).
    annotated : int
        Images whose descriptor-table row (sample and columns) was recorded or changed.
    """

    added: int
    skipped_existing: int
    total: int
    annotated: int = 0

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class ImageRecord:
    """One catalogued image.

    Attributes
    ----------
    hash : str
        SHA-256 of the file's bytes (hex); the image's id.
    stored_path : Path
        Absolute path of the stored copy.
    original_name : str
        The file's name when it was added.
    original_path : str or None
        Absolute path it was added from.
    shape : (2,) tuple of int
        (rows, columns) of the whole image, data bar included.
    dtype : str
        NumPy dtype of the pixels.
    pixel_size_um : float or None
        µm per pixel, or ``None`` when unknown.
    pixel_size_source : str or None
        ``user``, ``table``, ``fei``, ``zeiss``, ``imagej``, ``semlab``, ``scale_bar`` or
        ``None`` (unknown); see :data:`PIXEL_SIZE_SOURCES`.
    databar_row : int or None
        First row of the burned-in data bar, or ``None`` when there is none.
    databar_source : str or None
        ``metadata`` (vendor metadata said), ``detected`` (image analysis) or ``None``.
    crop_box : (4,) tuple of int
        ``(row0, row1, col0, col1)``, half-open: the image without its data bar is
        ``image[row0:row1, col0:col1]``.
    metadata : dict
        The reader's metadata (vendor summary and ``raw`` tags).
    added_at : str
        ISO 8601 time (UTC).
    sample : str or None
        Sample id from a descriptor table, ``None`` for an image added without one.
    descriptors : dict
        The table's other columns for this image (numbers, text or ``None``).
    size_bytes : int
        File size in bytes.
    """

    hash: str
    stored_path: Path
    original_name: str
    original_path: str | None
    shape: tuple[int, int]
    dtype: str
    pixel_size_um: float | None
    pixel_size_source: str | None
    databar_row: int | None
    databar_source: str | None
    crop_box: tuple[int, int, int, int]
    metadata: dict[str, Any] = field(repr=False)
    added_at: str
    sample: str | None
    descriptors: dict[str, Any]
    size_bytes: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible; ``raw`` vendor metadata left out."""
        out = asdict(self)
        out["stored_path"] = str(self.stored_path)
        out["shape"] = list(self.shape)
        out["crop_box"] = list(self.crop_box)
        out["metadata"] = {k: v for k, v in self.metadata.items() if k != "raw"}
        return out


@dataclass(frozen=True)
class WorkspaceStatus:
    """Counts describing a workspace (see :meth:`Workspace.status`).

    Attributes
    ----------
    path : str
        The workspace folder.
    n_images, n_samples : int
        Images catalogued; distinct sample ids among them.
    n_without_sample : int
        Images added without a descriptor-table row.
    n_with_databar : int
        Images with a data bar (cropped by :meth:`Workspace.read`).
    pixel_sizes_um : tuple of (float or None, int)
        Each pixel size seen (µm per pixel, ``None`` = unknown) with its image count.
    pixel_size_sources : tuple of (str, int)
        Where the pixel sizes came from (``user``, ``zeiss``, ``scale_bar``, ``unknown`` …)
        with image counts.
    numeric_columns, categorical_columns : tuple of str
        Descriptor columns recorded.
    n_tables : int
        Descriptor tables added.
    store_bytes : int
        Total size of the stored images.
    schema_version : int
        Catalog schema version.
    """

    path: str
    n_images: int
    n_samples: int
    n_without_sample: int
    n_with_databar: int
    pixel_sizes_um: tuple[tuple[float | None, int], ...]
    numeric_columns: tuple[str, ...]
    categorical_columns: tuple[str, ...]
    n_tables: int
    store_bytes: int
    schema_version: int
    pixel_size_sources: tuple[tuple[str, int], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["pixel_sizes_um"] = [{"pixel_size_um": p, "n_images": n} for p, n in self.pixel_sizes_um]
        out["pixel_size_sources"] = [{"source": s, "n_images": n} for s, n in self.pixel_size_sources]
        out["numeric_columns"] = list(self.numeric_columns)
        out["categorical_columns"] = list(self.categorical_columns)
        return out


# ----------------------------------------------------------------------------- helpers


def _jsonable_value(value: Any) -> Any:
    """A table cell for JSON: Python int/float/str, NaN → None (:func:`semlab._util.to_jsonable`)."""
    from semlab._util import to_jsonable

    return to_jsonable(value)


def _copy_verified(src: Path, dest: Path, expected: str) -> None:
    """Copy ``src`` onto ``dest`` atomically, checking the copy's SHA-256."""
    h = hashlib.sha256()
    with atomic_path(dest) as tmp:
        with open(src, "rb") as fin, open(tmp, "wb") as fout:
            while block := fin.read(1 << 20):
                h.update(block)
                fout.write(block)
            fout.flush()
            os.fsync(fout.fileno())
        if h.hexdigest() != expected:
            raise WorkspaceError(f"{src}: the file changed while it was being added; add it again")
    _fsync_dir(dest.parent)


def _fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX; a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _expand_images(images: Any, store: Path) -> list[Path]:
    """Absolute image paths from files and folders (a folder gives its images, not recursing)."""
    from semlab.io import IMAGE_SUFFIXES

    if images is None:
        return []
    items = [images] if isinstance(images, str | os.PathLike) else list(images)
    suffixes = ", ".join(sorted(IMAGE_SUFFIXES))
    out: dict[str, Path] = {}
    for item in items:
        p = Path(item)
        if not p.exists():
            raise MissingFileError(f"{item}: no such file or folder; check the path")
        if p.is_dir():
            found = sorted(
                f
                for f in p.iterdir()
                if f.is_file() and not f.name.startswith(".") and f.suffix.lower() in IMAGE_SUFFIXES
            )
            if not found:
                raise WorkspaceError(
                    f"{item}: folder holds no images ({suffixes}); give image files or another folder"
                )
        else:
            if p.suffix.lower() not in IMAGE_SUFFIXES:
                raise FileFormatError(f"{item}: not an image file; give {suffixes} files")
            found = [p]
        for f in found:
            absolute = Path(os.path.abspath(f))
            if absolute.is_relative_to(store):
                raise WorkspaceError(
                    f"{f}: is inside the workspace's file store; add the original files instead"
                )
            out.setdefault(str(absolute), absolute)
    return list(out.values())


def _crop_box(
    image: Any, metadata: dict[str, Any], detect: bool
) -> tuple[int | None, str | None, tuple[int, ...]]:
    """(databar_row, source, crop box) of an image."""
    from semlab.io import locate_databar

    rows, cols = image.shape
    bar, source = locate_databar(image, metadata, detect=detect)
    return bar, source, (0, bar if bar is not None else rows, 0, cols)


def _insert_image(
    conn: sqlite3.Connection, row: dict[str, Any], record: dict[str, Any] | None
) -> tuple[bool, bool]:
    """Insert one image (and its descriptor record) in one transaction.

    Returns (image inserted, record written or changed).
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        cols = ", ".join(row)
        marks = ", ".join(f":{k}" for k in row)
        cur = conn.execute(f"INSERT OR IGNORE INTO images ({cols}) VALUES ({marks})", row)
        inserted = cur.rowcount == 1
        changed = _upsert_record(conn, row["hash"], record) if record is not None else False
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return inserted, changed


def _upsert_record(conn: sqlite3.Connection, image_hash: str, record: dict[str, Any]) -> bool:
    old = conn.execute(
        "SELECT sample, values_json FROM records WHERE image_hash = ?", (image_hash,)
    ).fetchone()
    if (
        old is not None
        and old[0] == record["sample"]
        and json.loads(old[1]) == json.loads(record["values_json"])
    ):
        return False
    conn.execute(
        "INSERT INTO records (image_hash, sample, values_json, table_hash, table_row, updated_at) "
        "VALUES (:image_hash, :sample, :values_json, :table_hash, :table_row, :updated_at) "
        "ON CONFLICT(image_hash) DO UPDATE SET sample = excluded.sample, values_json = excluded.values_json, "
        "table_hash = excluded.table_hash, table_row = excluded.table_row, updated_at = excluded.updated_at",
        {"image_hash": image_hash, **record},
    )
    return True


# ----------------------------------------------------------------------------- Workspace


class Workspace:
    """A semlab workspace folder: SQLite catalog plus content-addressed file store.

    Create one with :meth:`init`, open one with :meth:`open`.  The object holds no open
    connection; every method opens the catalog, does its work and closes it.

    Attributes
    ----------
    path : Path
        The workspace folder (absolute).
    catalog : Path
        ``path / "semlab.sqlite"``.
    files_dir : Path
        ``path / "files"``, the file store.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(os.path.abspath(path))
        self.catalog = self.path / CATALOG_NAME
        self.files_dir = self.path / FILES_DIR

    def __repr__(self) -> str:
        return f"Workspace({str(self.path)!r})"

    # -- creating and opening ---------------------------------------------------------

    @classmethod
    def init(cls, path: str | os.PathLike) -> Workspace:
        """Create a workspace in ``path`` (a new or empty folder); open it if it is one already.

        Raises
        ------
        WorkspaceError
            ``path`` is a file, or a non-empty folder that is not a workspace.
        """
        ws = cls(path)
        if ws.path.exists() and not ws.path.is_dir():
            raise WorkspaceError(
                f"{path}: is a file, not a folder; give a new or empty folder for the workspace"
            )
        if ws.catalog.exists():
            return cls.open(path)
        if ws.path.exists():
            leftovers = [p.name for p in ws.path.iterdir() if not p.name.startswith(f".{CATALOG_NAME}.")]
            if leftovers:
                raise WorkspaceError(
                    f"{path}: folder is not empty ({len(leftovers)} entries, e.g. {sorted(leftovers)[0]!r}) and is not "
                    "a semlab workspace; give a new or empty folder"
                )
        ws.path.mkdir(parents=True, exist_ok=True)
        # Build the catalog under a temporary name so that a half-made catalog never exists.
        with atomic_path(ws.catalog) as tmp:
            conn = sqlite3.connect(tmp, isolation_level=None)
            try:
                conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                conn.execute("BEGIN")
                for statement in _statements(_SCHEMA):
                    conn.execute(statement)
                from semlab import __version__

                conn.executemany(
                    "INSERT INTO meta (key, value) VALUES (?, ?)",
                    [
                        ("schema_version", str(SCHEMA_VERSION)),
                        ("created_at", _now()),
                        ("created_by", f"semlab {__version__}"),
                    ],
                )
                conn.execute("COMMIT")
            finally:
                conn.close()
        with ws._connect() as conn:
            conn.execute("PRAGMA journal_mode = WAL")
        ws.files_dir.mkdir(exist_ok=True)
        return ws

    @classmethod
    def open(cls, path: str | os.PathLike) -> Workspace:
        """Open an existing workspace.

        Raises
        ------
        WorkspaceError
            ``path`` does not exist, is not a workspace, or was written by a newer semlab.
        """
        ws = cls(path)
        if not ws.path.is_dir():
            raise WorkspaceError(f"{path}: no such workspace folder; create it with `semlab init {path}`")
        if not ws.catalog.is_file():
            raise WorkspaceError(
                f"{path}: not a semlab workspace (no {CATALOG_NAME}); create one with `semlab init`"
            )
        try:
            with ws._connect() as conn:
                app_id = conn.execute("PRAGMA application_id").fetchone()[0]
                if app_id != APPLICATION_ID:
                    raise WorkspaceError(
                        f"{ws.catalog}: not a semlab catalog (SQLite application id {app_id})"
                    )
                found = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
                if found is None:
                    raise WorkspaceError(
                        f"{ws.catalog}: the catalog has no schema_version in its meta table (damaged or "
                        "edited by hand); restore it from a backup or re-create the workspace with `semlab init`"
                    )
                try:
                    version = int(found[0])
                except (TypeError, ValueError):
                    raise WorkspaceError(
                        f"{ws.catalog}: the catalog's schema_version {found[0]!r} is not a number; "
                        "restore it from a backup"
                    ) from None
        except sqlite3.DatabaseError as exc:
            raise WorkspaceError(
                f"{ws.catalog}: cannot read the catalog ({exc}); is it a semlab workspace?"
            ) from None
        if version > SCHEMA_VERSION:
            raise WorkspaceError(
                f"{path}: the catalog has schema version {version}, newer than this semlab reads "
                f"({SCHEMA_VERSION}); upgrade semlab"
            )
        ws.files_dir.mkdir(exist_ok=True)
        return ws

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            conn = sqlite3.connect(
                f"file:{self.catalog}?mode=rw", uri=True, isolation_level=None, timeout=30.0
            )
        except sqlite3.OperationalError as exc:
            raise WorkspaceError(
                f"{self.catalog}: cannot open the catalog ({exc}); check the folder's permissions"
            ) from None
        try:
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA synchronous = NORMAL")
            yield conn
        finally:
            conn.close()

    @contextlib.contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """A connection to the catalog, for tables that other parts of semlab keep in it.

        The web app keeps its ``serve_*`` tables (with their own schema version) here.  The
        workspace's own tables (``meta``, ``images``, ``tables``, ``records``, ``columns``)
        are written only through the workspace's methods.  The connection is in autocommit
        mode (open transactions with ``BEGIN IMMEDIATE``), enforces foreign keys, waits up
        to 30 s for a lock and is closed on leaving the ``with`` block.

        Raises
        ------
        WorkspaceError
            The catalog cannot be opened.
        """
        with self._connect() as conn:
            yield conn

    # -- adding -------------------------------------------------------------------------

    def add(
        self,
        images: str | os.PathLike | Iterable[str | os.PathLike] | None = None,
        *,
        table: str | os.PathLike | Dataset | None = None,
        images_dir: str | os.PathLike | None = None,
        pixel_size: float | None = None,
        numeric: Iterable[str] | None = None,
        categorical: Iterable[str] | None = None,
        detect_databar: bool = True,
        scale_bar_um: float | None = None,
        progress: Callable[[int, int, Path], None] | None = None,
    ) -> AddResult:
        """Store and catalogue images, with their descriptor-table rows.

        Each file is hashed (SHA-256); a file whose bytes are already stored is skipped.  A
        new file is read (shape, dtype, pixel size, metadata), its data bar found (vendor
        metadata's ``databar_row`` when present, else
        :func:`semlab.io.find_databar`), copied into the store under a temporary
        name and renamed, and then catalogued in one transaction.  Re-running an
        interrupted add completes it without duplicates.

        Parameters
        ----------
        images : path or iterable of paths, optional
            Image files and folders (a folder adds the images directly in it).  May be
            omitted when ``table`` is given.
        table : path or Dataset, optional
            Descriptor table (see :class:`~semlab.dataset.Dataset`): every image it lists is
            added and its sample and columns recorded (a later table's row for the same
            image replaces the earlier one).  A numeric ``pixel_size_um`` column, where
            filled, sets the image's pixel size.  The table file itself is stored too.
        images_dir : path, optional
            Folder the table's image paths are relative to; default: the table's folder.
        pixel_size : float, optional
            µm per pixel for every new image, overriding the files and the table.
        numeric, categorical : iterable of str, optional
            Column types for the table (see :meth:`Dataset.from_table`).
        detect_databar : bool, default True
            Look for a data bar in images whose metadata does not say where it starts.
        scale_bar_um : float, optional
            Length (µm) the burned-in scale bars of the new images stand for, as printed
            next to them (semlab does no OCR).  An image without a pixel size from the
            user, the table or its metadata (pixel-size tag, else field width / image width)
            gets ``label / bar length in pixels`` from its measured scale bar
            (:func:`semlab.io.read_scale_bar`; also ``scale_bar_um`` / ``scale_bar_label``
            in its metadata), recorded with source ``scale_bar``; the measured bar is kept in
            the image's metadata (``scale_bar``).  Images still without one stay unknown.
        progress : callable, optional
            Called as ``progress(done, total, path)`` before the first image (``done=0``)
            and after each image.

        Returns
        -------
        AddResult

        Raises
        ------
        TableError, MissingFileError, FileFormatError, WorkspaceError, ParameterError
        """
        from semlab._util import check_pixel_size
        from semlab.dataset.table import Dataset

        user_pixel = None if pixel_size is None else check_pixel_size(pixel_size)
        bar_um = None if scale_bar_um is None else check_pixel_size(scale_bar_um, "scale_bar_um")
        ds: Dataset | None
        if table is None:
            if images_dir is not None:
                raise WorkspaceError(
                    "images_dir is given without a table; images_dir only locates a table's images"
                )
            ds = None
        elif isinstance(table, Dataset):
            ds = table
        else:
            ds = Dataset.from_table(table, images_dir, numeric=numeric, categorical=categorical)
        paths = _expand_images(images, self.files_dir)
        if ds is None and not paths:
            raise WorkspaceError(
                "nothing to add; give image files, a folder of images, or a descriptor table"
            )

        records: dict[str, dict[str, Any]] = {}
        table_pixels: dict[str, float] = {}
        if ds is not None:
            records, table_pixels = self._table_records(ds)
            listed = {str(p) for p in paths}
            paths = [Path(p) for p in ds.table["path"] if p not in listed] + paths

        self._remove_stale_temporaries()
        # 1. validate every file (read it, no copy) before anything is stored
        plan = self._plan(paths, records, table_pixels, user_pixel, detect_databar, bar_um, progress)
        # 2. store the table (its hash is in the records), then copy and catalogue each image
        if ds is not None:
            self._store_table(ds)
        return self._commit(plan, records)

    def _plan(
        self,
        paths: list[Path],
        records: dict[str, dict[str, Any]],
        table_pixels: dict[str, float],
        user_pixel: float | None,
        detect_databar: bool,
        bar_um: float | None,
        progress: Callable[[int, int, Path], None] | None,
    ) -> list[tuple[Path, str, dict[str, Any] | None]]:
        """(source, hash, new catalog row or None when already stored) per file; raises if any fails."""
        total = len(paths)
        plan: list[tuple[Path, str, dict[str, Any] | None]] = []
        failures: list[tuple[Path, SemlabError]] = []
        if progress is not None:
            progress(0, total, paths[0] if paths else self.path)
        with self._connect() as conn:
            for done, src in enumerate(paths, start=1):
                try:
                    digest = file_sha256(src)
                    known = conn.execute("SELECT 1 FROM images WHERE hash = ?", (digest,)).fetchone()
                    row = None
                    if known is None and not any(d == digest for _, d, _ in plan):
                        px = user_pixel if user_pixel is not None else table_pixels.get(str(src))
                        row = self._image_row(
                            src,
                            digest,
                            px,
                            detect_databar,
                            from_table=user_pixel is None,
                            scale_bar_um=bar_um,
                        )
                    plan.append((src, digest, row))
                except SemlabError as exc:
                    failures.append((src, exc))
                except (OSError, MemoryError) as exc:
                    why = getattr(exc, "strerror", None) or type(exc).__name__
                    failures.append((src, FileFormatError(f"{shown_text(str(src))}: cannot read ({why})")))
                if progress is not None:
                    progress(done, total, src)
        if failures:
            _raise_failures(failures, total)
        return plan

    def _commit(
        self, plan: list[tuple[Path, str, dict[str, Any] | None]], records: dict[str, dict[str, Any]]
    ) -> AddResult:
        """Copy and catalogue validated files, one transaction per image."""
        added = skipped = annotated = 0
        done: list[Path] = []
        with self._connect() as conn:
            for src, digest, row in plan:
                record = records.get(str(src))
                try:
                    existing = conn.execute(
                        "SELECT stored_path FROM images WHERE hash = ?", (digest,)
                    ).fetchone()
                    if existing is not None:
                        stored = self.path / existing[0]
                        if not stored.is_file() or stored.stat().st_size != src.stat().st_size:
                            _copy_verified(src, stored, digest)  # repair a store file lost outside semlab
                        skipped += 1
                        if record is not None:
                            annotated += _insert_image_record_only(conn, digest, record)[1]
                        continue
                    if row is None:  # the same bytes twice in this run: catalogued above
                        skipped += 1
                        continue
                    stored = self.path / row["stored_path"]
                    if not (stored.is_file() and stored.stat().st_size == row["size_bytes"]):
                        _copy_verified(src, stored, digest)
                    inserted, changed = _insert_image(conn, row, record)
                except OSError as exc:
                    raise _StoreError(_partial_line(src, exc, done, len(plan))) from None
                added += inserted
                skipped += not inserted
                annotated += changed
                done.append(src)
        return AddResult(added=added, skipped_existing=skipped, total=len(plan), annotated=annotated)

    def _table_records(self, ds: Dataset) -> tuple[dict[str, dict[str, Any]], dict[str, float]]:
        """Store ``ds``'s table; its catalog records and filled ``pixel_size_um`` cells by image path."""
        records: dict[str, dict[str, Any]] = {}
        table_pixels: dict[str, float] = {}
        _check_table_columns(ds)
        source = Path(ds.source) if ds.source else None
        table_hash = file_sha256(source) if source is not None and source.is_file() else None  # stored later
        descriptors = [c for c in ds.columns if c != "pixel_size_um"]
        for row, rec in ds.table.iterrows():
            values = {c: _jsonable_value(rec[c]) for c in descriptors}
            records[rec["path"]] = {
                "sample": str(rec["sample"]),
                "values_json": json.dumps(values, ensure_ascii=False, sort_keys=True),
                "table_hash": table_hash,
                "table_row": int(row),
                "updated_at": _now(),
            }
            if "pixel_size_um" in ds.numeric_columns:
                px = _jsonable_value(rec["pixel_size_um"])
                if px is not None:
                    table_pixels[rec["path"]] = float(px)
        return records, table_pixels

    def _image_row(
        self,
        src: Path,
        digest: str,
        px: float | None,
        detect_databar: bool,
        *,
        from_table: bool,
        scale_bar_um: float | None = None,
    ) -> dict[str, Any]:
        """Read a new image and return its catalog row (the copy is made by :meth:`_commit`).

        ``px`` overrides the file's pixel size; ``from_table`` says it came from the table.
        Without any, the field width or the scale bar may give it (:func:`_fallback_pixel_size`).
        """
        from semlab.io import read_micrograph

        m = read_micrograph(src, pixel_size=px)
        bar, bar_source, box = _crop_box(m.image, m.metadata, detect_databar)
        rel = Path(FILES_DIR) / digest[:2] / f"{digest}{src.suffix.lower()}"
        size = src.stat().st_size
        source = m.metadata.get("pixel_size_source")
        if from_table and px is not None:
            source = "table"
        pixel_um = m.pixel_size
        if pixel_um is None:
            pixel_um, source = _fallback_pixel_size(m, bar, scale_bar_um)
        return {
            "hash": digest,
            "stored_path": rel.as_posix(),
            "original_name": shown_text(src.name),
            "original_path": shown_text(str(src)),
            "size_bytes": size,
            "rows": int(m.image.shape[0]),
            "cols": int(m.image.shape[1]),
            "dtype": str(m.image.dtype),
            "pixel_size_um": pixel_um,
            "pixel_size_source": source,
            "databar_row": bar,
            "databar_source": bar_source,
            "crop_row0": box[0],
            "crop_row1": box[1],
            "crop_col0": box[2],
            "crop_col1": box[3],
            "metadata_json": json.dumps(to_jsonable(m.metadata), ensure_ascii=False),
            "added_at": _now(),
        }

    def _store_table(self, ds: Dataset) -> str | None:
        """Store the table file and register its columns; its hash (``None`` without a file)."""
        _check_table_columns(ds)
        table_hash = None
        source = Path(ds.source) if ds.source else None
        kinds = [(c, "numeric") for c in ds.numeric_columns if c != "pixel_size_um"]
        kinds += [(c, "categorical") for c in ds.categorical_columns]
        order = {c: i for i, c in enumerate(ds.columns)}
        kinds.sort(key=lambda t: order[t[0]])
        stored = None
        if source is not None and source.is_file():
            table_hash = file_sha256(source)
            rel = Path(FILES_DIR) / table_hash[:2] / f"{table_hash}{source.suffix.lower()}"
            stored = self.path / rel
            if not (stored.is_file() and stored.stat().st_size == source.stat().st_size):
                _copy_verified(source, stored, table_hash)
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                if table_hash is not None and source is not None and stored is not None:
                    conn.execute(
                        "INSERT OR IGNORE INTO tables (hash, stored_path, original_name, n_rows, added_at) "
                        "VALUES (?, ?, ?, ?, ?)",
                        (table_hash, stored.relative_to(self.path).as_posix(), source.name, len(ds), _now()),
                    )
                known = dict(conn.execute("SELECT name, kind FROM columns").fetchall())
                position = conn.execute("SELECT COALESCE(MAX(position), -1) FROM columns").fetchone()[0]
                for name, kind in kinds:
                    if name not in known:
                        position += 1
                        conn.execute(
                            "INSERT INTO columns (name, kind, position) VALUES (?, ?, ?)",
                            (name, kind, position),
                        )
                    elif known[name] != kind:
                        # The same column numeric in one table and text in another: keep it as text.
                        conn.execute("UPDATE columns SET kind = 'categorical' WHERE name = ?", (name,))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return table_hash

    def _remove_stale_temporaries(self) -> None:
        """Delete temporary files a killed run left behind (older than an hour).

        Atomic writes (:func:`semlab._util.atomic_path`) name them ``.<name>.<random>.tmp``
        next to their target: in the file store, and in the workspace's other folders
        (maps, runs, features) up to three levels down.
        """
        cutoff = time.time() - _STALE_TMP_S
        patterns = ("*/.*.tmp", "*/*/.*.tmp", "*/*/*/.*.tmp", ".*.tmp")
        for pattern in patterns:
            for tmp in self.path.glob(pattern):
                with contextlib.suppress(OSError):
                    if tmp.is_file() and tmp.stat().st_mtime < cutoff:
                        tmp.unlink()

    # -- reading ------------------------------------------------------------------------

    _SELECT = (
        "SELECT i.hash, i.stored_path, i.original_name, i.original_path, i.rows, i.cols, i.dtype, "
        "i.pixel_size_um, i.pixel_size_source, i.databar_row, i.databar_source, i.crop_row0, i.crop_row1, "
        "i.crop_col0, i.crop_col1, i.metadata_json, i.added_at, r.sample, r.values_json, i.size_bytes "
        "FROM images i LEFT JOIN records r ON r.image_hash = i.hash"
    )

    def _record(self, row: tuple) -> ImageRecord:
        return ImageRecord(
            hash=row[0],
            stored_path=self.path / row[1],
            original_name=row[2],
            original_path=row[3],
            shape=(row[4], row[5]),
            dtype=row[6],
            pixel_size_um=row[7],
            pixel_size_source=row[8],
            databar_row=row[9],
            databar_source=row[10],
            crop_box=(row[11], row[12], row[13], row[14]),
            metadata=json.loads(row[15]),
            added_at=row[16],
            sample=row[17],
            descriptors=json.loads(row[18]) if row[18] else {},
            size_bytes=row[19],
        )

    def __len__(self) -> int:
        with self._connect() as conn:
            return conn.execute("SELECT COUNT(*) FROM images").fetchone()[0]

    def __contains__(self, image_hash: object) -> bool:
        if not isinstance(image_hash, str):
            return False
        with self._connect() as conn:
            return conn.execute("SELECT 1 FROM images WHERE hash = ?", (image_hash,)).fetchone() is not None

    def images(self) -> Iterator[ImageRecord]:
        """Every catalogued image, in the order they were added."""
        with self._connect() as conn:
            rows = conn.execute(self._SELECT + " ORDER BY i.rowid").fetchall()
        for row in rows:
            yield self._record(row)

    def get(self, image_hash: str) -> ImageRecord:
        """The record of one image, by its hash or a unique prefix of it (at least 6 characters).

        Raises
        ------
        WorkspaceError
            No image, or several, match.
        """
        key = str(image_hash).strip().lower()
        if len(key) < 6 or any(c not in "0123456789abcdef" for c in key):
            raise WorkspaceError(
                f"{image_hash!r} is not an image hash; give the SHA-256 hex (or its first 6+ characters) "
                f"as `semlab status {self.path}` or Workspace.table() lists it"
            )
        with self._connect() as conn:
            rows = conn.execute(
                self._SELECT + " WHERE i.hash >= ? AND i.hash < ? ORDER BY i.hash LIMIT 2", (key, key + "g")
            ).fetchall()
        if not rows:
            raise WorkspaceError(
                f"{self.path}: no image with hash {image_hash!r}; Workspace.table() lists the hashes"
            )
        if len(rows) > 1:
            raise WorkspaceError(
                f"{self.path}: hash prefix {image_hash!r} matches several images; give more characters"
            )
        return self._record(rows[0])

    def read(self, image_hash: str, *, crop: bool = True) -> Micrograph:
        """Read a stored image.

        Parameters
        ----------
        image_hash : str
            Hash or unique prefix (see :meth:`get`).
        crop : bool, default True
            Cut off the data bar (``image[row0:row1, col0:col1]`` of the recorded crop box).

        Returns
        -------
        Micrograph
            With the catalogued pixel size (µm) and metadata plus ``hash``, ``sample``,
            ``original_name``, ``databar_row`` and ``crop_box`` (``None`` when not cropped).
        """
        from semlab.io import Micrograph, read_micrograph

        rec = self.get(image_hash)
        if not rec.stored_path.is_file():
            raise WorkspaceError(
                f"{rec.stored_path}: stored file of {rec.original_name!r} is missing; add the original file again "
                "to restore it"
            )
        m = read_micrograph(rec.stored_path)
        image = m.image
        if crop:
            r0, r1, c0, c1 = rec.crop_box
            image = image[r0:r1, c0:c1]
        metadata = dict(rec.metadata)
        metadata.update(
            {
                "pixel_size_source": rec.pixel_size_source,
                "hash": rec.hash,
                "sample": rec.sample,
                "original_name": rec.original_name,
                "databar_row": rec.databar_row,
                "crop_box": list(rec.crop_box) if crop else None,
            }
        )
        return Micrograph(
            image=image, pixel_size=rec.pixel_size_um, metadata=metadata, source=str(rec.stored_path)
        )

    def find(self, image: str) -> ImageRecord:
        """The record of one image by its original file name, or by hash / unique hash prefix.

        Raises
        ------
        WorkspaceError
            No image, or several, match.
        """
        name = Path(str(image)).name
        with self._connect() as conn:
            rows = conn.execute(
                self._SELECT + " WHERE i.original_name = ? ORDER BY i.rowid LIMIT 2", (name,)
            ).fetchall()
        if len(rows) == 1:
            return self._record(rows[0])
        if len(rows) > 1:
            raise WorkspaceError(
                f"{self.path}: several images are named {name!r}; give the image's hash "
                "(Workspace.table() lists them)"
            )
        key = str(image).strip().lower()
        if len(key) >= 6 and all(c in "0123456789abcdef" for c in key):
            return self.get(key)
        raise WorkspaceError(
            f"{self.path}: no image named {name!r}; give a file name or hash as Workspace.table() lists them"
        )

    def set_pixel_size(self, image: str, pixel_size: float | None, *, source: str = "user") -> ImageRecord:
        """Set (or clear) one image's pixel size and drop only its cached features.

        Parameters
        ----------
        image : str
            Original file name, hash or unique hash prefix (:meth:`find`).
        pixel_size : float or None
            µm per pixel; ``None`` marks it unknown.
        source : str, default "user"
            Recorded as ``pixel_size_source`` (:data:`PIXEL_SIZE_SOURCES`).

        Returns
        -------
        ImageRecord
            The updated record.  Cached patch features of this image (every embedding under
            ``features/``) are deleted, so the next ``embed`` recomputes them at the new scale;
            other images' caches stay.
        """
        from semlab._util import check_pixel_size

        if source not in PIXEL_SIZE_SOURCES:
            raise WorkspaceError(f"source={source!r} is not one of {', '.join(PIXEL_SIZE_SOURCES)}")
        px = None if pixel_size is None else check_pixel_size(pixel_size)
        rec = self.find(image)
        with self._connect() as conn:
            conn.execute(
                "UPDATE images SET pixel_size_um = ?, pixel_size_source = ? WHERE hash = ?",
                (px, None if px is None else source, rec.hash),
            )
        for cached in (self.path / _FEATURES_DIR).glob(f"*/images/{rec.hash}*.npz"):
            with contextlib.suppress(OSError):
                cached.unlink()
        return self.get(rec.hash)

    def table(self) -> pd.DataFrame:
        """One row per image: ``hash``, ``stored_path`` (absolute), ``original_name``,
        ``sample``, ``pixel_size_um`` (µm, NaN when unknown), ``pixel_size_source`` (where it
        came from, :data:`PIXEL_SIZE_SOURCES`; ``unknown`` when NaN), ``databar_row`` (nullable
        integer), then every descriptor column recorded (numeric as numbers, categorical
        as text; missing where an image has no value).  Rows in the order images were added.
        """
        import pandas as pd

        with self._connect() as conn:
            rows = conn.execute(
                "SELECT i.hash, i.stored_path, i.original_name, r.sample, i.pixel_size_um, i.databar_row, "
                "r.values_json, i.pixel_size_source FROM images i LEFT JOIN records r "
                "ON r.image_hash = i.hash ORDER BY i.rowid"
            ).fetchall()
            columns = conn.execute("SELECT name, kind FROM columns ORDER BY position").fetchall()
        values = [json.loads(r[6]) if r[6] else {} for r in rows]
        data: dict[str, Any] = {
            "hash": pd.Series([r[0] for r in rows], dtype="str"),
            "stored_path": pd.Series([str(self.path / r[1]) for r in rows], dtype="str"),
            "original_name": pd.Series([r[2] for r in rows], dtype="str"),
            "sample": pd.Series([r[3] for r in rows], dtype="str"),
            "pixel_size_um": pd.Series([r[4] for r in rows], dtype="float64"),
            "pixel_size_source": pd.Series(
                ["unknown" if r[4] is None else (r[7] or "unknown") for r in rows], dtype="str"
            ),
            "databar_row": pd.Series([r[5] for r in rows], dtype="Int64"),
        }
        for name, kind in columns:
            cells = [v.get(name) for v in values]
            if kind == "numeric":
                series = pd.to_numeric(pd.Series(cells, dtype=object), errors="coerce")
                if series.notna().all() and (series % 1 == 0).all():
                    series = series.astype("int64")
                data[name] = series
            else:
                data[name] = pd.Series([None if c is None else _text(c) for c in cells], dtype="str")
        return pd.DataFrame(data)

    def status(self) -> WorkspaceStatus:
        """Counts: images, samples, pixel sizes seen, columns, stored bytes."""
        with self._connect() as conn:
            one = lambda sql: conn.execute(sql).fetchone()[0]  # noqa: E731
            n_images = one("SELECT COUNT(*) FROM images")
            n_samples = one("SELECT COUNT(DISTINCT sample) FROM records")
            n_without = one("SELECT COUNT(*) FROM images WHERE hash NOT IN (SELECT image_hash FROM records)")
            n_bar = one("SELECT COUNT(*) FROM images WHERE databar_row IS NOT NULL")
            n_tables = one("SELECT COUNT(*) FROM tables")
            store = one("SELECT COALESCE(SUM(size_bytes), 0) FROM images")
            version = int(one("SELECT value FROM meta WHERE key = 'schema_version'"))
            sizes = conn.execute(
                "SELECT pixel_size_um, COUNT(*) FROM images GROUP BY pixel_size_um"
            ).fetchall()
            sources = conn.execute(
                "SELECT CASE WHEN pixel_size_um IS NULL THEN 'unknown' "
                "ELSE COALESCE(pixel_size_source, 'unknown') END AS s, COUNT(*) FROM images "
                "GROUP BY s ORDER BY COUNT(*) DESC, s"
            ).fetchall()
            columns = conn.execute("SELECT name, kind FROM columns ORDER BY position").fetchall()
        return WorkspaceStatus(
            path=str(self.path),
            n_images=n_images,
            n_samples=n_samples,
            n_without_sample=n_without,
            n_with_databar=n_bar,
            pixel_sizes_um=_group_sizes(sizes),
            numeric_columns=tuple(c for c, k in columns if k == "numeric"),
            categorical_columns=tuple(c for c, k in columns if k == "categorical"),
            n_tables=n_tables,
            store_bytes=store,
            schema_version=version,
            pixel_size_sources=tuple((str(s), int(n)) for s, n in sources),
        )


def _fallback_pixel_size(
    m: Any, bar: int | None, scale_bar_um: float | None
) -> tuple[float | None, str | None]:
    """(µm per pixel, source) of an image whose file gives no pixel size: the metadata's
    horizontal field width over the image width, else the measured scale bar with a known
    label (``scale_bar_um`` or the metadata's); ``(None, None)`` otherwise.  A measured bar is
    recorded in ``m.metadata["scale_bar"]``."""
    from semlab.io import read_scale_bar

    hfw = m.metadata.get("horizontal_field_width_um")
    if isinstance(hfw, int | float) and not isinstance(hfw, bool) and math.isfinite(hfw) and hfw > 0:
        return float(hfw) / int(m.image.shape[1]), "field_width"
    if bar is None or m.image.ndim != 2:
        return None, None
    try:
        sb = read_scale_bar(m.image, int(bar), label_um=scale_bar_um, metadata=m.metadata)
    except SemlabError:
        return None, None
    if sb is None:
        return None, None
    m.metadata["scale_bar"] = sb.to_dict()
    if sb.pixel_size is None:
        return None, None
    return float(sb.pixel_size), "scale_bar"


def _text(value: Any) -> str:
    """A stored cell as text (800.0 → "800", as a spreadsheet shows it)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _group_sizes(sizes: list[tuple[float | None, int]]) -> tuple[tuple[float | None, int], ...]:
    """Pixel sizes rounded to 6 significant digits (float noise merged), ascending, unknown last."""
    counts: dict[float | None, int] = {}
    for p, n in sizes:
        key = None if p is None else float(f"{p:.6g}")
        counts[key] = counts.get(key, 0) + n
    return tuple(sorted(counts.items(), key=lambda t: (t[0] is None, t[0] or 0.0)))


def _check_table_columns(ds: Dataset) -> None:
    """Refuse a table whose columns clash with the workspace's own (one-line ``TableError``)."""
    clash = [c for c in ds.columns if c in WORKSPACE_COLUMNS and c != "pixel_size_um"]
    if clash:
        raise TableError(
            f"{ds.source} row 1, column {clash[0]!r}: the name is used by the workspace's own table; rename the column"
        )
    if "pixel_size_um" in ds.categorical_columns:
        raise TableError(
            f"{ds.source} row 1, column 'pixel_size_um': holds text; it must hold µm per pixel as numbers "
            "(or be renamed)"
        )


class _StoreError(WorkspaceError, OSError):
    """A copy into the file store failed part-way through an ``add``."""


def _raise_failures(failures: list[tuple[Path, SemlabError]], total: int) -> None:
    """One line naming every file that cannot be added; nothing was added."""
    kinds = {type(e) for _, e in failures}
    cls: type[SemlabError] = kinds.pop() if len(kinds) == 1 else WorkspaceError
    if len(failures) == 1:
        raise cls(f"{failures[0][1]} — nothing was added ({total} file(s) given)")
    shown = "; ".join(str(e) for _, e in failures[:5])
    more = f"; and {len(failures) - 5} more" if len(failures) > 5 else ""
    raise cls(
        f"{len(failures)} of {total} files cannot be added, so nothing was added: {shown}{more}; "
        "fix or leave out these files and run add again"
    )


def _partial_line(src: Path, exc: OSError, done: list[Path], total: int) -> str:
    """A copy failed after ``done`` were stored: say what was added and what was not."""
    why = exc.strerror or str(exc) or type(exc).__name__
    names = ", ".join(shown_text(p.name) for p in done[:5]) + (" …" if len(done) > 5 else "")
    added = f"added {len(done)} of {total} before it ({names})" if done else f"none of {total} was added"
    return (
        f"{shown_text(str(src))}: cannot copy into the workspace ({why}); {added}, the rest were not "
        "added; fix the cause and run add again to finish"
    )


def _insert_image_record_only(
    conn: sqlite3.Connection, image_hash: str, record: dict[str, Any]
) -> tuple[bool, bool]:
    """Record a table row for an image already catalogued (one transaction)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        changed = _upsert_record(conn, image_hash, record)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return False, changed


def _statements(script: str) -> list[str]:
    """Split a schema script into statements (no semicolons inside statements here)."""
    lines = [ln.split("--", 1)[0] for ln in script.splitlines()]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
