"""Workspaces: SQLite catalog + content-addressed store; idempotent, resumable adding."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import time
from pathlib import Path

import numpy as np
import pytest

import semlab.dataset.workspace as wsmod
from semlab._util import file_sha256
from semlab.dataset import SCHEMA_VERSION, AddResult, Dataset, Workspace
from semlab.errors import FileFormatError, MissingFileError, TableError, WorkspaceError
from semlab.io import read_micrograph

TABLE = """image,sample,anneal_temperature_c,cooling
a0.tif,s1,800,air
a1.tif,s1,800,air
a2.tif,s2,850,furnace
a3.tif,s2,850,furnace
a4.tif,s3,900,quench
a5.tif,s3,900,
"""


def _stored_files(ws: Workspace) -> list[Path]:
    return sorted(p for p in ws.files_dir.rglob("*") if p.is_file())


def _check_consistent(ws: Workspace) -> None:
    """Every catalog row points to a complete file whose bytes hash to the row's key."""
    for rec in ws.images():
        assert rec.stored_path.is_file()
        assert file_sha256(rec.stored_path) == rec.hash
        assert rec.stored_path.name == rec.hash + ".tif"
        assert rec.stored_path.parent.name == rec.hash[:2]


# ----------------------------------------------------------------------------- init / open


def test_init_creates_catalog_and_store(tmp_path):
    ws = Workspace.init(tmp_path / "study")
    assert ws.catalog.is_file() and ws.files_dir.is_dir()
    conn = sqlite3.connect(ws.catalog)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] == str(
            SCHEMA_VERSION
        )
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert {"meta", "images", "records", "tables", "columns"} <= tables
    finally:
        conn.close()
    with ws._connect() as conn:
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert len(ws) == 0


def test_init_is_idempotent_and_refuses_other_folders(tmp_path, images_dir):
    ws = Workspace.init(tmp_path / "study")
    ws.add(images_dir / "a0.tif")
    again = Workspace.init(tmp_path / "study")
    assert len(again) == 1
    empty = tmp_path / "empty"
    empty.mkdir()
    Workspace.init(empty)  # an empty folder is fine
    with pytest.raises(WorkspaceError, match="folder is not empty .* not a semlab workspace"):
        Workspace.init(images_dir)
    (tmp_path / "file").write_text("x")
    with pytest.raises(WorkspaceError, match="is a file"):
        Workspace.init(tmp_path / "file")


def test_open_rejects_what_is_not_a_workspace(tmp_path, images_dir):
    with pytest.raises(WorkspaceError, match="no such workspace folder; create it with `semlab init"):
        Workspace.open(tmp_path / "nope")
    with pytest.raises(WorkspaceError, match="not a semlab workspace"):
        Workspace.open(images_dir)
    other = tmp_path / "other"
    other.mkdir()
    sqlite3.connect(other / "semlab.sqlite").execute("CREATE TABLE x (a)").connection.close()
    with pytest.raises(WorkspaceError, match="not a semlab catalog"):
        Workspace.open(other)
    garbage = tmp_path / "garbage"
    garbage.mkdir()
    (garbage / "semlab.sqlite").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(WorkspaceError, match="cannot read the catalog"):
        Workspace.open(garbage)


def test_open_refuses_newer_schema(tmp_path):
    ws = Workspace.init(tmp_path / "study")
    with ws._connect() as conn:
        conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    with pytest.raises(WorkspaceError, match="newer than this semlab reads .*upgrade semlab"):
        Workspace.open(ws.path)


# ----------------------------------------------------------------------------- adding


def test_add_is_idempotent(tmp_path, images_dir):
    ws = Workspace.init(tmp_path / "study")
    first = ws.add(images_dir)
    assert first == AddResult(added=6, skipped_existing=0, total=6, annotated=0)
    second = ws.add(sorted(images_dir.glob("*.tif")))
    assert second == AddResult(added=0, skipped_existing=6, total=6, annotated=0)
    assert len(ws) == 6 and len(ws.table()) == 6
    assert len(_stored_files(ws)) == 6
    _check_consistent(ws)


def test_progress_is_reported(tmp_path, images_dir):
    ws = Workspace.init(tmp_path / "study")
    calls = []
    ws.add(images_dir, progress=lambda done, total, path: calls.append((done, total, Path(path).name)))
    assert calls[0][:2] == (0, 6)
    assert calls[1:] == [(i + 1, 6, f"a{i}.tif") for i in range(6)]


def test_same_bytes_under_another_name_is_skipped(tmp_path, images_dir):
    shutil.copyfile(images_dir / "a0.tif", tmp_path / "renamed.tif")
    ws = Workspace.init(tmp_path / "study")
    result = ws.add([images_dir / "a0.tif", tmp_path / "renamed.tif", images_dir / "a0.tif"])
    assert result == AddResult(added=1, skipped_existing=1, total=2)
    assert [r.original_name for r in ws.images()] == ["a0.tif"]


def test_records_shape_pixel_size_and_databar(tmp_path, images_dir):
    ws = Workspace.init(tmp_path / "study")
    ws.add(images_dir / "a0.tif")
    (rec,) = list(ws.images())
    assert rec.shape == (64, 80) and rec.dtype == "uint8"
    assert rec.pixel_size_um == pytest.approx(0.05)
    assert rec.pixel_size_source == "semlab"
    assert rec.databar_row == 48 and rec.databar_source == "detected"
    assert rec.crop_box == (0, 48, 0, 80)
    assert rec.sample is None and rec.descriptors == {}
    assert rec.original_path == str(images_dir / "a0.tif")
    assert rec.to_dict()["crop_box"] == [0, 48, 0, 80]
    assert "raw" not in rec.to_dict()["metadata"]


def test_no_bar_and_detection_off(tmp_path, images_dir, make_image):
    plain = make_image(tmp_path / "plain.tif", seed=9, bar=False, pixel_size=None)
    ws = Workspace.init(tmp_path / "study")
    ws.add(plain)
    ws.add(images_dir / "a0.tif", detect_databar=False)
    plain_rec, barred = list(ws.images())
    assert plain_rec.databar_row is None and plain_rec.crop_box == (0, 64, 0, 80)
    assert plain_rec.pixel_size_um is None
    assert barred.databar_row is None  # detection was switched off


def test_read_crops_the_databar(tmp_path, images_dir):
    ws = Workspace.init(tmp_path / "study")
    ws.add(images_dir / "a3.tif")
    h = next(ws.images()).hash
    original = read_micrograph(images_dir / "a3.tif").image
    cropped = ws.read(h)
    assert cropped.image.shape == (48, 80)
    np.testing.assert_array_equal(cropped.image, original[:48])
    assert cropped.pixel_size == pytest.approx(0.05)
    assert cropped.metadata["hash"] == h and cropped.metadata["crop_box"] == [0, 48, 0, 80]
    full = ws.read(h[:10], crop=False)
    np.testing.assert_array_equal(full.image, original)
    assert full.metadata["crop_box"] is None


def test_get_by_prefix_and_errors(tmp_path, images_dir):
    ws = Workspace.init(tmp_path / "study")
    ws.add(images_dir)
    h = next(ws.images()).hash
    assert ws.get(h.upper()[:8]).hash == h
    assert h in ws and "0" * 64 not in ws
    with pytest.raises(WorkspaceError, match="no image with hash"):
        ws.get("0" * 64)
    with pytest.raises(WorkspaceError, match="is not an image hash"):
        ws.get("a0.tif")
    with pytest.raises(WorkspaceError, match="is not an image hash"):
        ws.get(h[:3])


def test_pixel_size_override(tmp_path, images_dir):
    ws = Workspace.init(tmp_path / "study")
    ws.add(images_dir / "a0.tif", pixel_size=0.2)
    rec = next(ws.images())
    assert rec.pixel_size_um == 0.2 and rec.pixel_size_source == "user"
    assert rec.metadata["pixel_size_file_um"] == pytest.approx(0.05)
    assert ws.read(rec.hash).pixel_size == 0.2


def test_add_with_table_records_samples_and_columns(tmp_path, images_dir):
    (images_dir / "descriptors.csv").write_text(TABLE)
    extra = tmp_path / "extra.tif"
    shutil.copyfile(images_dir / "a0.tif", tmp_path / "dup.tif")  # same bytes as a0: skipped
    ws = Workspace.init(tmp_path / "study")
    from semlab.io import write_micrograph

    write_micrograph(extra, np.full((32, 32), 100, np.uint8), pixel_size=None)
    result = ws.add([extra, tmp_path / "dup.tif"], table=images_dir / "descriptors.csv")
    assert result == AddResult(added=7, skipped_existing=1, total=8, annotated=6)
    t = ws.table()
    assert list(t.columns) == [
        "hash",
        "stored_path",
        "original_name",
        "sample",
        "pixel_size_um",
        "pixel_size_source",
        "databar_row",
        "anneal_temperature_c",
        "cooling",
    ]
    assert t["original_name"].tolist() == [f"a{i}.tif" for i in range(6)] + ["extra.tif"]
    assert t["sample"].tolist()[:6] == ["s1", "s1", "s2", "s2", "s3", "s3"]
    assert t["sample"].isna().tolist() == [False] * 6 + [True]
    assert t["anneal_temperature_c"].tolist()[:6] == [800, 800, 850, 850, 900, 900]
    assert t["cooling"].tolist()[5] != t["cooling"].tolist()[5]  # NaN: empty cell
    assert t["databar_row"].tolist()[:6] == [48] * 6
    assert all(Path(p).is_file() for p in t["stored_path"])
    st = ws.status()
    assert (st.n_images, st.n_samples, st.n_without_sample, st.n_tables) == (7, 3, 1, 1)
    assert st.numeric_columns == ("anneal_temperature_c",) and st.categorical_columns == ("cooling",)
    assert st.pixel_sizes_um == ((0.05, 6), (None, 1))
    assert json.loads(json.dumps(st.to_dict()))["n_images"] == 7
    # the table itself is kept in the store
    with ws._connect() as conn:
        (stored,) = conn.execute("SELECT stored_path FROM tables").fetchone()
    assert (ws.path / stored).read_text() == TABLE

    # the same table again adds nothing and changes nothing
    assert ws.add(table=images_dir / "descriptors.csv") == AddResult(0, 6, 6, 0)
    # a corrected table updates the records of images already present
    (images_dir / "descriptors.csv").write_text(TABLE.replace("a5.tif,s3,900,", "a5.tif,s3,950,air"))
    assert ws.add(table=images_dir / "descriptors.csv") == AddResult(0, 6, 6, 1)
    t = ws.table()
    assert t["anneal_temperature_c"].tolist()[5] == 950 and t["cooling"].tolist()[5] == "air"
    assert len(t) == 7


def test_add_with_table_and_images_dir(tmp_path, images_dir):
    table = tmp_path / "meta" / "descriptors.csv"
    table.parent.mkdir()
    table.write_text(TABLE)
    ws = Workspace.init(tmp_path / "study")
    with pytest.raises(TableError, match="row 2, column 'image': file 'a0.tif' not found"):
        ws.add(table=table)
    assert len(ws) == 0
    assert ws.add(table=table, images_dir=images_dir).added == 6
    ds = Dataset.from_table(table, images_dir)
    assert ws.add(table=ds) == AddResult(0, 6, 6, 0)


def test_table_pixel_size_column_and_reserved_names(tmp_path, images_dir):
    ws = Workspace.init(tmp_path / "study")
    (images_dir / "px.csv").write_text("image,sample,pixel_size_um\na0.tif,s1,0.5\na1.tif,s1,\n")
    ws.add(table=images_dir / "px.csv")
    a0, a1 = list(ws.images())
    assert (a0.pixel_size_um, a0.pixel_size_source) == (0.5, "table")
    assert a1.pixel_size_um == pytest.approx(0.05) and a1.pixel_size_source == "semlab"
    assert "pixel_size_um" not in a0.descriptors
    (images_dir / "bad.csv").write_text("image,sample,hash\na2.tif,s1,x\n")
    with pytest.raises(TableError, match=r"bad\.csv row 1, column 'hash': the name is used by the workspace"):
        ws.add(table=images_dir / "bad.csv")


def test_bad_inputs(tmp_path, images_dir):
    ws = Workspace.init(tmp_path / "study")
    with pytest.raises(WorkspaceError, match="nothing to add"):
        ws.add([])
    with pytest.raises(MissingFileError, match="nope.tif: no such file"):
        ws.add([images_dir / "a0.tif", images_dir / "nope.tif"])
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(FileFormatError, match="not an image file"):
        ws.add(tmp_path / "notes.txt")
    (tmp_path / "none").mkdir()
    with pytest.raises(WorkspaceError, match="folder holds no images"):
        ws.add(tmp_path / "none")
    broken = tmp_path / "broken.tif"
    broken.write_bytes(b"not a tiff at all" * 10)
    with pytest.raises(FileFormatError, match="broken.tif"):
        ws.add(broken)
    assert len(ws) == 0 and _stored_files(ws) == []  # validated before anything was copied
    ws.add(images_dir / "a0.tif")
    stored = next(ws.images()).stored_path
    with pytest.raises(WorkspaceError, match="inside the workspace's file store"):
        ws.add(stored)


# ----------------------------------------------------------------------------- interruptions


def test_interrupted_add_is_completed_by_a_rerun(tmp_path, images_dir, monkeypatch):
    ws = Workspace.init(tmp_path / "study")
    real_insert = wsmod._insert_image
    calls = {"n": 0}

    def crash_on_fourth(conn, row, record):
        calls["n"] += 1
        if calls["n"] == 4:  # the 4th file is copied into the store, its catalog row is never written
            raise KeyboardInterrupt("power cut")
        return real_insert(conn, row, record)

    monkeypatch.setattr(wsmod, "_insert_image", crash_on_fourth)
    (images_dir / "descriptors.csv").write_text(TABLE)
    with pytest.raises(KeyboardInterrupt):
        ws.add(table=images_dir / "descriptors.csv")
    assert len(ws) == 3
    assert len([p for p in _stored_files(ws) if p.suffix == ".tif"]) == 4  # one copied file has no row yet
    _check_consistent(ws)  # rows written so far point to complete files

    # the orphan copy was cut short on disk too: the re-run must replace it, not trust it
    orphan = next(p for p in _stored_files(ws) if p.suffix == ".tif" and p.stem not in ws)
    orphan.write_bytes(orphan.read_bytes()[:100])
    # and a killed copy left a temporary file behind
    stale = orphan.parent / f".{orphan.name}.abc123.tmp"
    stale.write_bytes(b"partial")
    old = time.time() - 2 * wsmod._STALE_TMP_S
    os.utime(stale, (old, old))

    monkeypatch.setattr(wsmod, "_insert_image", real_insert)
    result = ws.add(table=images_dir / "descriptors.csv")
    assert result == AddResult(added=3, skipped_existing=3, total=6, annotated=3)
    assert len(ws) == 6
    assert not stale.exists()
    assert len([p for p in _stored_files(ws) if p.suffix == ".tif"]) == 6
    _check_consistent(ws)
    t = ws.table()
    assert t["hash"].is_unique and len(t) == 6
    assert sorted(t["original_name"]) == [f"a{i}.tif" for i in range(6)]
    assert t["sample"].notna().all()
    with ws._connect() as conn:
        assert conn.execute("SELECT COUNT(*) FROM records").fetchone()[0] == 6
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_failed_copy_leaves_nothing(tmp_path, images_dir, monkeypatch):
    ws = Workspace.init(tmp_path / "study")
    real_copy = wsmod._copy_verified

    def copy_then_fail(src, dest, expected):
        if src.name == "a2.tif":
            raise OSError("disk full")
        return real_copy(src, dest, expected)

    monkeypatch.setattr(wsmod, "_copy_verified", copy_then_fail)
    with pytest.raises(OSError, match="disk full"):
        ws.add(images_dir)
    assert len(ws) == 2
    assert not any(p.name.endswith(".tmp") for p in ws.files_dir.rglob("*"))
    monkeypatch.setattr(wsmod, "_copy_verified", real_copy)
    assert ws.add(images_dir) == AddResult(added=4, skipped_existing=2, total=6)
    _check_consistent(ws)


def test_changed_source_during_copy_is_refused(tmp_path, images_dir):
    ws = Workspace.init(tmp_path / "study")
    dest = ws.files_dir / "xx" / "x.tif"
    with pytest.raises(WorkspaceError, match="changed while it was being added"):
        wsmod._copy_verified(images_dir / "a0.tif", dest, "0" * 64)
    assert not dest.exists() and list(dest.parent.iterdir()) == []


def test_lost_store_file_is_restored_by_adding_again(tmp_path, images_dir):
    ws = Workspace.init(tmp_path / "study")
    ws.add(images_dir / "a1.tif")
    rec = next(ws.images())
    rec.stored_path.unlink()
    with pytest.raises(WorkspaceError, match="stored file of 'a1.tif' is missing"):
        ws.read(rec.hash)
    assert ws.add(images_dir / "a1.tif").skipped_existing == 1
    _check_consistent(ws)


# ----------------------------------------------------------------------------- real files


def test_fei_databar_from_metadata(tmp_path, sem_metadata):
    ws = Workspace.init(tmp_path / "study")
    fei = sem_metadata / "FEI-Helios-Ebeam-8bits.tif"
    ws.add(fei)
    rec = next(ws.images())
    assert rec.databar_row == 442 and rec.databar_source == "metadata"
    assert rec.crop_box == (0, 442, 0, rec.shape[1])
    assert rec.pixel_size_source == "fei" and rec.pixel_size_um > 0
    assert rec.metadata["vendor"] == "FEI/Thermo Fisher"
    assert ws.read(rec.hash).image.shape == (442, rec.shape[1])
    assert ws.table()["databar_row"].tolist() == [442]
    assert ws.add(fei).added == 0
