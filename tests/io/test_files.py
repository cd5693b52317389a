"""list_images: files kept, folders expanded in name order, overlays and hidden files skipped."""

from __future__ import annotations

import pytest

from semlab.errors import MissingFileError, ParameterError
from semlab.io import list_images


def test_folders_expand_and_files_stay(tmp_path):
    for name in ("b.tif", "a.png", ".hidden.tif", "a_overlay.png", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    other = tmp_path / "single.jpg"
    other.write_bytes(b"x")
    assert [p.name for p in list_images(tmp_path)] == ["a.png", "b.tif", "single.jpg"]
    assert list_images([other, tmp_path / "notes.txt"]) == [other, tmp_path / "notes.txt"]
    assert [p.name for p in list_images(tmp_path, suffixes={".txt"})] == ["notes.txt"]


def test_errors_name_the_path(tmp_path):
    with pytest.raises(MissingFileError, match="nope"):
        list_images(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ParameterError, match="empty: folder holds no label images"):
        list_images(tmp_path / "empty", what="label images")
