"""Hardening (issue 19), CLI side: each bad input a one-line error or a stated warning."""

from __future__ import annotations

import os
import stat
import struct
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

from semlab.cli import main
from semlab.io import write_micrograph


def _run(capsys, *args) -> tuple[int, str, str]:
    code = main([a if isinstance(a, str) else os.fspath(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def _one_line_error(code: int, err: str, *needles: str) -> None:
    assert code == 2, err
    lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for n in needles:
        assert n in lines[0], lines[0]


def _png_bomb(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    comp = zlib.compressobj(9)
    idat = b"".join(comp.compress(b"\x00" * (width + 1)) for _ in range(8)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@pytest.fixture
def images(tmp_path: Path) -> Path:
    folder = tmp_path / "images"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        write_micrograph(
            folder / f"a{i}.tif", rng.integers(0, 255, (48, 64), dtype=np.uint8), pixel_size=0.05
        )
    return folder


# ----------------------------------------------------------------------------- decoded-size limit


@pytest.mark.parametrize("command", ["info", "add"])
def test_png_bomb_is_a_one_line_error(tmp_path, capsys, command):
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(_png_bomb(60000, 30000))  # 1.8 G pixels in a few kB
    assert bomb.stat().st_size < 50_000
    args = [command, bomb] if command == "info" else ["add", tmp_path / "ws", bomb]
    if command == "add":
        assert main(["init", str(tmp_path / "ws")]) == 0
    code, _, err = _run(capsys, *args)
    _one_line_error(code, err, "bomb.png", "SEMLAB_MAX_DECODED_BYTES")


def test_max_decoded_bytes_option(tmp_path, capsys, images, monkeypatch):
    monkeypatch.delenv("SEMLAB_MAX_DECODED_BYTES", raising=False)
    code, _, err = _run(capsys, "--max-decoded-bytes", "1K", "info", images / "a0.tif")
    _one_line_error(code, err, "a0.tif", "1.0 KiB limit")
    assert "SEMLAB_MAX_DECODED_BYTES" not in os.environ  # the option holds for that run only
    code, _, err = _run(capsys, "--max-decoded-bytes", "lots", "info", images / "a0.tif")
    _one_line_error(code, err, "--max-decoded-bytes")
    assert _run(capsys, "info", images / "a0.tif")[0] == 0
    monkeypatch.setenv("SEMLAB_MAX_DECODED_BYTES", "2K")
    code, _, err = _run(capsys, "info", images / "a0.tif")
    _one_line_error(code, err, "a0.tif", "2.0 KiB limit")


def test_help_states_the_limit(capsys):
    code, out, _ = _run(capsys, "--help")
    assert code == 0 and "SEMLAB_MAX_DECODED_BYTES" in out.replace("\n", "").replace("│", "").replace(" ", "")


# ----------------------------------------------------------------------------- all-or-nothing add


def test_add_with_a_bad_file_adds_nothing(tmp_path, capsys, images):
    (images / "zz_broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    ws = tmp_path / "ws"
    assert main(["init", str(ws)]) == 0
    code, _, err = _run(capsys, "add", ws, images)
    _one_line_error(code, err, "zz_broken.png", "nothing was added")
    from semlab.dataset import Workspace

    w = Workspace.open(ws)
    assert len(w) == 0
    assert [p for p in w.files_dir.rglob("*") if p.is_file()] == []  # no orphan copies
    (images / "zz_broken.png").unlink()
    code, out, err = _run(capsys, "add", ws, images)
    assert code == 0 and "added 3" in out, err


def test_add_reports_every_bad_file(tmp_path, images):
    from semlab.dataset import Workspace
    from semlab.errors import SemlabError

    (images / "b1.png").write_bytes(b"nope")
    (images / "b2.tif").write_bytes(b"II*\x00" + b"\xff" * 20)
    ws = Workspace.init(tmp_path / "ws")
    with pytest.raises(SemlabError) as err:
        ws.add(images)
    msg = str(err.value)
    assert "2 of 5 files cannot be added" in msg and "b1.png" in msg and "b2.tif" in msg and "\n" not in msg
    assert len(ws) == 0


def test_add_failing_copy_says_what_was_added(tmp_path, images, monkeypatch):
    import semlab.dataset.workspace as wsmod
    from semlab.dataset import Workspace
    from semlab.errors import WorkspaceError

    real = wsmod._copy_verified

    def fail_on_third(src, dest, expected):
        if src.name == "a2.tif":
            raise OSError(28, "No space left on device")
        return real(src, dest, expected)

    monkeypatch.setattr(wsmod, "_copy_verified", fail_on_third)
    ws = Workspace.init(tmp_path / "ws")
    with pytest.raises(WorkspaceError) as err:
        ws.add(images)
    msg = str(err.value)
    assert "No space left on device" in msg and "added 2 of 3" in msg and "a0.tif, a1.tif" in msg
    assert len(ws) == 2


@pytest.mark.skipif(sys.platform in ("darwin", "win32"), reason="file names must be bytes (POSIX, not macOS)")
def test_non_utf8_file_name_is_added_and_shown_escaped(tmp_path, capsys, images):
    raw = os.fsencode(images) + b"/caf\xe9.tif"
    write_micrograph(tmp_path / "new.tif", np.full((48, 64), 7, np.uint8), pixel_size=0.05)
    os.rename(tmp_path / "new.tif", raw)
    ws = tmp_path / "ws"
    assert main(["init", str(ws)]) == 0
    code, out, err = _run(capsys, "add", ws, images)
    assert code == 0, err
    assert "added 4" in out
    from semlab.dataset import Workspace

    w = Workspace.open(ws)
    names = sorted(r.original_name for r in w.images())
    assert "caf\\xe9.tif" in names
    stored = [p.name for p in w.files_dir.rglob("*.tif")]
    assert all(len(n) == 64 + 4 for n in stored)  # stored by hash
    code, out, err = _run(capsys, "status", ws)
    assert code == 0, err


# ----------------------------------------------------------------------------- file modes


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX modes")
def test_written_files_respect_the_umask(tmp_path):
    from semlab._util import atomic_write_text, write_json

    old = os.umask(0o022)
    try:
        write_json(tmp_path / "a.json", {"x": 1})
        atomic_write_text(tmp_path / "b.txt", "hello")
        write_micrograph(tmp_path / "c.tif", np.zeros((4, 4), np.uint8))
        os.umask(0o077)
        write_json(tmp_path / "d.json", {"x": 1})
    finally:
        os.umask(old)
    for name in ("a.json", "b.txt", "c.tif"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o644, name
    assert stat.S_IMODE((tmp_path / "d.json").stat().st_mode) == 0o600


@pytest.mark.skipif(sys.platform in ("darwin", "win32"), reason="file names must be bytes (POSIX, not macOS)")
def test_broken_non_utf8_file_is_a_one_line_error(tmp_path, capsys):
    folder = tmp_path / "imgs"
    folder.mkdir()
    with open(os.fsencode(folder) + b"/bad\xff.png", "wb") as fh:
        fh.write(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    assert main(["init", str(tmp_path / "ws")]) == 0
    for args in (
        ["info", os.fsdecode(os.fsencode(folder) + b"/bad\xff.png")],
        ["add", tmp_path / "ws", folder],
    ):
        code, _, err = _run(capsys, *args)
        _one_line_error(code, err, "bad\\xff.png")


# ----------------------------------------------------------------------------- damaged catalog


@pytest.mark.parametrize("damage", ["DELETE FROM meta", "UPDATE meta SET value = 'x'", "DROP TABLE meta"])
def test_catalog_missing_its_meta_row(tmp_path, capsys, damage):
    import sqlite3

    ws = tmp_path / "ws"
    assert main(["init", str(ws)]) == 0
    conn = sqlite3.connect(ws / "semlab.sqlite")
    conn.execute(damage)
    conn.commit()
    conn.close()
    code, _, err = _run(capsys, "status", ws)
    _one_line_error(code, err, "semlab.sqlite")


# ----------------------------------------------------------------------------- quantify


def _labels(tmp_path: Path, pages: int) -> Path:
    import tifffile

    lab = np.zeros((pages, 40, 40), np.uint8)
    lab[:, 5:15, 5:15] = 1
    lab[:, 20:30, 22:35] = 1
    path = tmp_path / f"lab{pages}.tif"
    tifffile.imwrite(path, lab if pages > 1 else lab[0])
    return path


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "abc"])
def test_quantify_threshold_must_be_finite(tmp_path, capsys, value):
    code, _, err = _run(
        capsys, "quantify", _labels(tmp_path, 1), "-o", tmp_path / "q.csv", "--threshold", value
    )
    _one_line_error(code, err, "--threshold")
    assert not (tmp_path / "q.csv").exists()


def test_quantify_stack_without_3d_warns(tmp_path, capsys):
    code, out, err = _run(capsys, "quantify", _labels(tmp_path, 5), "-o", tmp_path / "q.csv")
    assert code == 0, err
    # every page is quantified as its own 2-D image, and the warning says so (not page 0 alone)
    assert "5 label pages quantified as separate 2-D images" in err and "--3d" in err
    assert len((tmp_path / "q.csv").read_text().strip().splitlines()) == 1 + 5
    code, out, err = _run(capsys, "quantify", _labels(tmp_path, 1), "-o", tmp_path / "q1.csv")
    assert code == 0 and "stack" not in err, err


@pytest.mark.skipif(sys.platform in ("darwin", "win32"), reason="file names must be bytes (POSIX, not macOS)")
def test_segment_and_quantify_a_non_utf8_file_name(tmp_path, capsys):
    rng = np.random.default_rng(0)
    img = (rng.random((64, 64)) * 60).astype(np.uint8)
    img[20:40, 20:40] += 150
    odd = os.fsdecode(os.fsencode(tmp_path) + b"/caf\xe9.tif")
    write_micrograph(odd, img, pixel_size=0.01)
    code, out, err = _run(capsys, "segment", odd, "-m", "otsu", "-o", tmp_path / "seg")
    assert code == 0, err
    assert "caf\\xe9.tif" in out
    code, out, err = _run(capsys, "quantify", tmp_path / "seg", "-o", tmp_path / "q.csv")
    assert code == 0, err
    assert "caf\\xe9.tif" in (tmp_path / "q.csv").read_text()


def test_add_removes_stale_temporaries_across_the_workspace(tmp_path, images):
    import time

    from semlab.dataset import Workspace

    ws = Workspace.init(tmp_path / "ws")
    old = time.time() - 2 * 3600
    stale, fresh = [], []
    for folder in ("files/ab", "maps/latest", "runs/r1", "features/x"):
        d = ws.path / folder
        d.mkdir(parents=True, exist_ok=True)
        s = d / ".thing.json.abc123.tmp"
        s.write_text("partial")
        os.utime(s, (old, old))
        stale.append(s)
        f = d / ".other.json.def456.tmp"
        f.write_text("being written now")
        fresh.append(f)
    ws.add(images)
    assert not any(p.exists() for p in stale)
    assert all(p.exists() for p in fresh)  # another process may be writing these


def test_add_table_with_a_bad_image_stores_neither_table_nor_columns(tmp_path, capsys, images):
    """24 images then a bad one used to commit the 24 and a table of 2 rows; now nothing."""
    import sqlite3

    (images / "bad.tif").write_bytes(b"II*\x00" + b"\x00" * 40)
    rows = [f"a{i}.tif,s{i},{i}" for i in range(3)] + ["bad.tif,s9,9"]
    (images / "t.csv").write_text("image,sample,burst_count\n" + "\n".join(rows) + "\n")
    ws = tmp_path / "ws"
    assert main(["init", str(ws)]) == 0
    code, _, err = _run(capsys, "add", ws, "--table", images / "t.csv")
    _one_line_error(code, err, "bad.tif", "nothing was added")
    conn = sqlite3.connect(ws / "semlab.sqlite")
    counts = [
        conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
        for t in ("images", "records", "tables", "columns")
    ]
    conn.close()
    assert counts == [0, 0, 0, 0]
    assert [p for p in (ws / "files").rglob("*") if p.is_file()] == []
