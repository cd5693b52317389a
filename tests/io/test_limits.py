"""The decoded-size limit: read from headers, before any pixel is decoded."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
import tifffile
from PIL import Image

from semlab.errors import FileFormatError, ParameterError
from semlab.io import DEFAULT_MAX_DECODED_BYTES, check_decoded_size, read_micrograph, read_volume


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bomb(width: int, height: int, colour: int = 0, depth: int = 8) -> bytes:
    """A small PNG whose IHDR declares width × height; its IDAT is a zlib stream of zero rows."""
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    comp = zlib.compressobj(9)
    row = b"\x00" * (1 + width * {0: 1, 2: 3, 6: 4}[colour] * depth // 8)
    idat = b"".join(comp.compress(row) for _ in range(min(height, 64))) + comp.flush()
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def test_png_size_is_pixels_channels_bytes(tmp_path):
    p = tmp_path / "a.png"
    Image.fromarray(np.zeros((30, 40, 3), np.uint8)).save(p)
    assert check_decoded_size(p) == 30 * 40 * 3
    q = tmp_path / "b.png"
    Image.fromarray(np.zeros((30, 40), np.uint16)).save(q)
    assert check_decoded_size(q) == 30 * 40 * 2
    assert check_decoded_size(p.read_bytes()[:40]) == 30 * 40 * 3


def test_jpeg_bmp_tiff_sizes(tmp_path):
    img = np.zeros((21, 17, 3), np.uint8)
    Image.fromarray(img).save(tmp_path / "a.jpg")
    Image.fromarray(img).save(tmp_path / "a.bmp")
    tifffile.imwrite(tmp_path / "a.tif", np.zeros((5, 21, 17), np.uint16))
    assert check_decoded_size(tmp_path / "a.jpg") == 21 * 17 * 3
    assert check_decoded_size(tmp_path / "a.bmp") == 21 * 17 * 3
    assert check_decoded_size(tmp_path / "a.tif") == 5 * 21 * 17 * 2
    assert check_decoded_size(tmp_path / "a.tif", page=0) == 21 * 17 * 2


def test_channels_count_in_a_tiff(tmp_path):
    """48 channels of a modest image: over a limit that its pixel count alone would pass."""
    p = tmp_path / "many.tif"
    tifffile.imwrite(p, np.zeros((48, 100, 100), np.uint8), planarconfig="separate", photometric="minisblack")
    with pytest.raises(FileFormatError, match="over the"):
        check_decoded_size(p, limit=100 * 100 * 10)


def test_bomb_refused_before_decoding_in_reader(tmp_path, monkeypatch):
    p = tmp_path / "bomb.png"
    p.write_bytes(png_bomb(40000, 40000))
    assert p.stat().st_size < 100_000
    with pytest.raises(FileFormatError) as err:
        read_micrograph(p)
    msg = str(err.value)
    assert "\n" not in msg and "SEMLAB_MAX_DECODED_BYTES" in msg and "bomb.png" in msg
    assert "40000 × 40000" in msg


def test_env_var_and_limit_argument(tmp_path, monkeypatch):
    p = tmp_path / "a.png"
    Image.fromarray(np.zeros((100, 100), np.uint8)).save(p)
    monkeypatch.setenv("SEMLAB_MAX_DECODED_BYTES", "5000")
    with pytest.raises(FileFormatError, match="4.9 KiB limit"):
        read_micrograph(p)
    assert check_decoded_size(p, limit="1M") == 10_000
    monkeypatch.setenv("SEMLAB_MAX_DECODED_BYTES", "lots")
    with pytest.raises(ParameterError, match="SEMLAB_MAX_DECODED_BYTES"):
        read_micrograph(p)
    monkeypatch.delenv("SEMLAB_MAX_DECODED_BYTES")
    assert read_micrograph(p).image.shape == (100, 100)
    assert DEFAULT_MAX_DECODED_BYTES >= 16384 * 16384 * 2


def test_volume_limits(tmp_path, monkeypatch):
    tifffile.imwrite(tmp_path / "s.tif", np.zeros((10, 50, 50), np.uint8))
    for i in range(4):
        Image.fromarray(np.zeros((50, 50), np.uint8)).save(tmp_path / f"d{i}.png")
    monkeypatch.setenv("SEMLAB_MAX_DECODED_BYTES", str(50 * 50 * 3))
    with pytest.raises(FileFormatError, match="over the"):
        read_volume(tmp_path / "s.tif")
    (tmp_path / "s.tif").unlink()
    with pytest.raises(FileFormatError, match="in all"):
        read_volume(tmp_path)


def test_unknown_and_truncated_headers(tmp_path):
    with pytest.raises(FileFormatError, match="not a PNG"):
        check_decoded_size(b"hello world, not an image")
    with pytest.raises(FileFormatError, match="incomplete"):
        check_decoded_size(png_bomb(10, 10)[:20])


def test_pil_guard_follows_the_semlab_limit(tmp_path, monkeypatch):
    """PIL's own bomb guard never refuses what semlab's limit allows, and is restored after."""
    p = tmp_path / "a.png"
    Image.fromarray(np.zeros((100, 100), np.uint8)).save(p)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # PIL alone would refuse 10 000 px
    assert read_micrograph(p).image.shape == (100, 100)
    assert Image.MAX_IMAGE_PIXELS == 1000


def test_pil_bomb_error_is_one_line(tmp_path, monkeypatch):
    """Behind the header check, PIL's guard is a backstop whose error is a one-line semlab error."""
    import semlab.io.readers as readers

    p = tmp_path / "a.png"
    Image.fromarray(np.zeros((100, 100), np.uint8)).save(p)
    monkeypatch.setattr(readers, "check_decoded_size", lambda *a, **k: 0)
    monkeypatch.setenv("SEMLAB_MAX_DECODED_BYTES", "1000")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    with pytest.raises(FileFormatError, match="decompression bomb") as err:
        read_micrograph(p)
    assert "\n" not in str(err.value)


def test_npy_header_declaring_a_huge_array(tmp_path, capsys):
    from semlab.cli import main

    small = tmp_path / "ok.npy"
    np.save(small, np.zeros((30, 40), np.uint16))
    assert check_decoded_size(small) == 30 * 40 * 2
    header = small.read_bytes()
    huge = tmp_path / "huge.npy"
    huge.write_bytes(header.replace(b"(30, 40)", b"(99999, 99999)", 1)[:200])
    with pytest.raises(FileFormatError, match="over the"):
        check_decoded_size(huge)
    code = main(["quantify", str(huge), "-o", str(tmp_path / "q.csv")])
    err = capsys.readouterr().err
    assert code == 2 and "over the" in err and "Traceback" not in err
