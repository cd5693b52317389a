"""Fuzzing the image readers with a seeded generator (issue 19 item 6).

Valid PNG, TIFF, JPEG and BMP files are mutated — truncated, bit-flipped, given a wrong
magic number, or a header that declares a huge size (with a correct CRC, so the decoder
believes it).  Every reader must either return a 2-D image or raise a ``SemlabError`` with
a one-line message: never another exception, never a traceback, never gigabytes of memory.
"""

from __future__ import annotations

import io
import struct
import warnings
import zlib

import numpy as np
import pytest
import tifffile
from PIL import Image

from semlab.errors import SemlabError
from semlab.io import check_decoded_size, read_micrograph, read_volume

SEED = 20261126
N_PER_FORMAT = 150  # x 4 formats x 4 checks: about 5 s on one core
LIMIT = 64 * 1024**2  # a huge declared size must be refused from the header


def _valid(fmt: str, rng: np.random.Generator) -> bytes:
    rows, cols = (int(v) for v in rng.integers(1, 40, size=2))
    dtype = np.uint16 if fmt in ("png", "tif") and rng.random() < 0.3 else np.uint8
    top = 65535 if dtype == np.uint16 else 255
    img = rng.integers(0, top, size=(rows, cols), dtype=dtype)
    if fmt != "tif" and dtype == np.uint8 and rng.random() < 0.3:
        img = rng.integers(0, 255, size=(rows, cols, 3), dtype=np.uint8)
    buf = io.BytesIO()
    if fmt == "tif":
        compression = [None, "zlib", "lzw", "packbits"][int(rng.integers(0, 4))]
        tifffile.imwrite(buf, img, compression=compression)
    else:
        Image.fromarray(img).save(buf, format={"png": "PNG", "jpg": "JPEG", "bmp": "BMP"}[fmt])
    return buf.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _huge(fmt: str, data: bytes, rng: np.random.Generator) -> bytes:
    """The same file with a header declaring up to 2^31 pixels per side."""
    side = int(rng.choice([70000, 2**20, 2**31 - 1]))
    b = bytearray(data)
    if fmt == "png":
        ihdr = bytes(b[16:20]) if rng.random() < 0.5 else struct.pack(">I", side)
        body = struct.pack(">I", side) + ihdr[:4] + bytes(b[24:29])
        return bytes(b[:8]) + _png_chunk(b"IHDR", body) + bytes(b[33:])
    if fmt == "bmp":
        b[18:26] = struct.pack("<ii", side, side)
        return bytes(b)
    if fmt == "jpg":
        i = 2
        while i + 9 < len(b):
            if b[i] == 0xFF and b[i + 1] in (0xC0, 0xC1, 0xC2):
                b[i + 5 : i + 9] = struct.pack(">HH", 65500, 65500)
                break
            i += 1
        return bytes(b)
    # TIFF: rewrite ImageWidth / ImageLength (tags 256, 257) in the first IFD
    little = b[:2] == b"II"
    e = "<" if little else ">"
    (ifd,) = struct.unpack(e + "I", b[4:8])
    (n,) = struct.unpack(e + "H", b[ifd : ifd + 2])
    for k in range(n):
        off = ifd + 2 + 12 * k
        tag, typ = struct.unpack(e + "HH", b[off : off + 4])
        if tag in (256, 257):
            if typ == 3:
                b[off + 8 : off + 10] = struct.pack(e + "H", 65535)
            else:
                b[off + 8 : off + 12] = struct.pack(e + "I", side)
    return bytes(b)


def _mutate(fmt: str, data: bytes, rng: np.random.Generator) -> tuple[str, bytes]:
    kind = ["truncate", "flip", "magic", "huge", "zero-run", "valid"][int(rng.integers(0, 6))]
    b = bytearray(data)
    if kind == "truncate":
        return kind, bytes(b[: int(rng.integers(0, len(b)))])
    if kind == "flip":
        for _ in range(int(rng.integers(1, 12))):
            pos = int(rng.integers(0, len(b)))
            b[pos] ^= 1 << int(rng.integers(0, 8))
        return kind, bytes(b)
    if kind == "magic":
        other = [
            b"\x89PNG\r\n\x1a\n",
            b"II*\x00",
            b"MM\x00*",
            b"\xff\xd8\xff\xe0",
            b"BM",
            b"GIF89a",
            b"\x00" * 8,
        ]
        m = other[int(rng.integers(0, len(other)))]
        return kind, m + bytes(b[len(m) :])
    if kind == "huge":
        return kind, _huge(fmt, data, rng)
    if kind == "zero-run":
        start = int(rng.integers(0, len(b)))
        stop = min(len(b), start + int(rng.integers(1, 200)))
        b[start:stop] = bytes(stop - start)
        return kind, bytes(b)
    return kind, data


def _check(call, label: str) -> None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = call()
    except SemlabError as exc:
        msg = str(exc)
        assert msg and "\n" not in msg, f"{label}: multi-line error {msg!r}"
        return
    except Exception as exc:  # noqa: BLE001 - the point of the test
        pytest.fail(f"{label}: {type(exc).__name__}: {exc}")
    image = getattr(out, "image", None)
    if image is None:
        image = getattr(out, "data", None)
    if image is not None:
        assert image.size <= LIMIT, f"{label}: decoded {image.nbytes} bytes over the limit"


@pytest.mark.parametrize("fmt", ["png", "tif", "jpg", "bmp"])
def test_readers_survive_mutated_files(fmt, tmp_path, monkeypatch):
    monkeypatch.setenv("SEMLAB_MAX_DECODED_BYTES", str(LIMIT))
    rng = np.random.default_rng([SEED, ["png", "tif", "jpg", "bmp"].index(fmt)])
    kinds: dict[str, int] = {}
    for k in range(N_PER_FORMAT):
        kind, data = _mutate(fmt, _valid(fmt, rng), rng)
        kinds[kind] = kinds.get(kind, 0) + 1
        path = tmp_path / f"f{k}.{fmt}"
        path.write_bytes(data)
        label = f"{fmt} case {k} ({kind}, seed {SEED})"
        _check(lambda p=path: read_micrograph(p), label)
        _check(lambda p=path: check_decoded_size(p), label + " header")
        _check(lambda d=data: check_decoded_size(d), label + " bytes")
        if fmt == "tif":
            _check(lambda p=path: read_volume(p), label + " volume")
    assert len(kinds) >= 4, kinds  # the generator covers the mutation kinds


def test_huge_declared_sizes_are_refused_before_decoding(tmp_path, monkeypatch):
    """Every format, a header that declares more than the limit: a one-line refusal, naming the limit."""
    monkeypatch.setenv("SEMLAB_MAX_DECODED_BYTES", str(LIMIT))
    rng = np.random.default_rng(SEED)
    for fmt in ("png", "tif", "jpg", "bmp"):
        data = _huge(fmt, _valid(fmt, rng), rng)
        path = tmp_path / f"huge.{fmt}"
        path.write_bytes(data)
        with pytest.raises(SemlabError, match="over the .* limit|cannot read") as err:
            read_micrograph(path)
        assert "\n" not in str(err.value)


def test_random_bytes_and_empty_files(tmp_path):
    rng = np.random.default_rng(SEED + 1)
    for k in range(40):
        fmt = ["png", "tif", "jpg", "bmp"][k % 4]
        path = tmp_path / f"r{k}.{fmt}"
        path.write_bytes(rng.integers(0, 256, size=int(rng.integers(0, 300)), dtype=np.uint8).tobytes())
        _check(lambda p=path: read_micrograph(p), f"random {fmt} {k}")
