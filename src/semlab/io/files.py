"""Finding image files: semlab's one folder lister."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from semlab.errors import MissingFileError, ParameterError

__all__ = ["list_images"]


def list_images(
    paths: str | os.PathLike | Iterable[str | os.PathLike],
    *,
    suffixes: Iterable[str] | None = None,
    what: str = "images",
    expand_folders: bool = True,
) -> list[Path]:
    """Image files named directly or found (not recursively) in folders, in a stable order.

    Parameters
    ----------
    paths : path or iterable of paths
        Files and folders.  Files are kept as given, whatever their suffix; folders
        contribute their files with one of ``suffixes``, sorted by name (hidden files
        and overlays named ``*_overlay.*`` are skipped).
    suffixes : iterable of str, optional
        Lower-case suffixes with the dot; default :data:`semlab.io.IMAGE_SUFFIXES`.
    what : str, default "images"
        How the files are named in error messages (e.g. ``"label images"``, ``"--truth"``).
    expand_folders : bool, default True
        With False a folder is returned as it is (e.g. a folder of volume slices).

    Returns
    -------
    list of Path

    Raises
    ------
    MissingFileError
        A path that does not exist.
    ParameterError
        A folder without matching files, or no paths at all.

    Examples
    --------
    >>> from semlab.io import list_images
    >>> list_images("micrographs/")  # doctest: +SKIP
    [PosixPath('micrographs/a.tif'), PosixPath('micrographs/b.tif')]
    """
    from semlab.io.readers import IMAGE_SUFFIXES

    wanted = {s.lower() for s in (IMAGE_SUFFIXES if suffixes is None else suffixes)}
    items = [paths] if isinstance(paths, str | os.PathLike) else list(paths)
    files: list[Path] = []
    for item in items:
        p = Path(item)
        if not p.exists():
            raise MissingFileError(f"{p}: no such file or folder; check the {what} path")
        if p.is_dir() and expand_folders:
            found = sorted(
                f
                for f in p.iterdir()
                if f.is_file()
                and f.suffix.lower() in wanted
                and not f.name.startswith(".")
                and not f.stem.endswith("_overlay")
            )
            if not found:
                raise ParameterError(f"{p}: folder holds no {what} ({', '.join(sorted(wanted))})")
            files.extend(found)
        else:
            files.append(p)
    if not files:
        raise ParameterError(f"no {what} given")
    return files
