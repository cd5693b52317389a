"""Uploaded images: into the workspace's content-addressed file store, and back out.

An upload's bytes go to ``<workspace>/files/<ab>/<hash><suffix>`` (the store ``semlab add``
uses; the same bytes are stored once) and its description to the ``serve_images`` table.
Reading gives a :class:`~semlab.io.Micrograph` like :meth:`Workspace.read`, for uploads and
for the workspace's own images alike.
"""

from __future__ import annotations

import json
import os
import threading
import warnings
from pathlib import Path
from typing import Any

from semlab.errors import WorkspaceError
from semlab.serve._store import Store

_store_lock = threading.Lock()


def ingest(ws: Any, store: Store, staged: Path, digest: str, suffix: str, name: str) -> bool:
    """Store and catalogue an upload (already checked); ``True`` if its bytes were new.

    The file is read in full first (:func:`semlab.io.read_micrograph`: a truncated or
    corrupt file raises :class:`~semlab.errors.FileFormatError` and nothing is stored),
    then moved into the store by one rename and catalogued.
    """
    if store.image(digest) is not None or digest in ws:
        return False
    from semlab.io import read_micrograph
    from semlab.preprocess import locate_databar

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # colour → grey notes
        m = read_micrograph(staged)
        bar, bar_source = locate_databar(m.image, m.metadata)
    rel = Path("files") / digest[:2] / f"{digest}{suffix}"
    dest = Path(ws.path) / rel
    size = staged.stat().st_size
    with _store_lock:
        if not (dest.is_file() and dest.stat().st_size == size):
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staged, dest)  # same file system: atomic
        return store.add_image(
            {
                "hash": digest,
                "stored_path": rel.as_posix(),
                "original_name": name,
                "size_bytes": size,
                "rows": int(m.image.shape[0]),
                "cols": int(m.image.shape[1]),
                "dtype": str(m.image.dtype),
                "pixel_size_um": m.pixel_size,
                "pixel_size_source": m.metadata.get("pixel_size_source"),
                "databar_row": bar,
                "databar_source": bar_source,
                "metadata_json": json.dumps(m.metadata, ensure_ascii=False),
            }
        )


def record(ws: Any, store: Store, image_hash: str) -> dict[str, Any] | None:
    """What is known of an image (upload or workspace image), or ``None``.

    Keys: ``hash``, ``original_name``, ``shape``, ``dtype``, ``pixel_size_um`` (µm per
    pixel or ``None``), ``pixel_size_source``, ``databar_row``, ``databar_source``,
    ``metadata`` (with ``raw`` vendor tags), ``added_at``, ``size_bytes``, ``sample``,
    ``descriptors``, ``in_workspace`` (a catalogued study image, not only an upload),
    ``stored_path`` (absolute).
    """
    up = store.image(image_hash)
    if up is not None:
        return {
            "hash": up["hash"],
            "original_name": up["original_name"],
            "shape": [up["rows"], up["cols"]],
            "dtype": up["dtype"],
            "pixel_size_um": up["pixel_size_um"],
            "pixel_size_source": up["pixel_size_source"],
            "databar_row": up["databar_row"],
            "databar_source": up["databar_source"],
            "metadata": up["metadata"],
            "added_at": up["added_at"],
            "size_bytes": up["size_bytes"],
            "sample": None,
            "descriptors": {},
            "in_workspace": False,
            "stored_path": str(Path(ws.path) / up["stored_path"]),
        }
    if len(image_hash) == 64 and image_hash in ws:
        rec = ws.get(image_hash)
        d = rec.to_dict()
        d["metadata"] = rec.metadata
        d["in_workspace"] = True
        d.pop("original_path", None)
        return d
    return None


def read(ws: Any, store: Store, image_hash: str, *, crop: bool = True) -> Any:
    """The image as a :class:`~semlab.io.Micrograph` (data bar cut off with ``crop``).

    ``metadata`` gains ``hash``, ``original_name``, ``databar_row`` and ``crop_box``.
    """
    from semlab.io import Micrograph, read_micrograph

    up = store.image(image_hash)
    if up is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ws.read(image_hash, crop=crop)
    path = Path(ws.path) / up["stored_path"]
    if not path.is_file():
        raise WorkspaceError(f"{up['original_name']}: the stored file is missing; upload it again")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = read_micrograph(path)
    image = m.image
    bar = up["databar_row"]
    box = [0, bar if (crop and bar is not None) else up["rows"], 0, up["cols"]]
    if crop:
        image = image[box[0] : box[1], box[2] : box[3]]
    metadata = dict(m.metadata)
    metadata.update(
        {
            "hash": image_hash,
            "original_name": up["original_name"],
            "databar_row": bar,
            "crop_box": box if crop else None,
        }
    )
    return Micrograph(image=image, pixel_size=m.pixel_size, metadata=metadata, source=str(path))


def quality(image: Any, pixel_size: float | None = None) -> dict[str, Any]:
    """Arrival checks of an image (data bar cut) by :func:`semlab.preprocess.image_quality`:
    ``flags`` (blank, saturated, out_of_focus) and one-line ``messages`` for the page."""
    from semlab.preprocess import image_quality

    q = image_quality(image, pixel_size=pixel_size)
    return {"flags": [str(f) for f in q.flags], "messages": [str(m) for m in q.messages]}
