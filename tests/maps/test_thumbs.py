"""Browser pictures: 8-bit conversion of 16-bit images, cached thumbnails of TIFFs."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from semlab.errors import ParameterError
from semlab.maps import cached_picture, encode_image, thumbnail, to_uint8


def test_16bit_narrow_range_is_stretched_to_8_bits():
    rng = np.random.default_rng(0)
    a = rng.integers(1000, 3000, size=(64, 64)).astype(np.uint16)
    b = to_uint8(a)
    assert b.dtype == np.uint8
    assert b.min() == 0 and b.max() == 255
    # Order of grey values is kept.
    order = np.argsort(a.ravel(), kind="stable")
    assert np.all(np.diff(b.ravel()[order].astype(int)) >= 0)
    u8 = rng.integers(0, 256, size=(8, 8)).astype(np.uint8)
    np.testing.assert_array_equal(to_uint8(u8), u8)
    assert to_uint8(np.full((4, 4), 7.0)).max() == 0  # constant image: no division by zero


def test_thumbnail_keeps_aspect_and_never_enlarges():
    t = thumbnail(np.zeros((300, 600), np.uint16), size=128)
    assert t.shape == (64, 128) and t.dtype == np.uint8
    assert thumbnail(np.zeros((40, 50), np.uint8), size=128).shape == (40, 50)
    with pytest.raises(ParameterError):
        thumbnail(np.zeros((8, 8)), size=2)


def test_cached_thumbnail_of_a_16bit_tiff_is_made_once(tmp_path):
    from semlab.io import read_micrograph, write_micrograph

    ramp = np.linspace(30000, 34000, 200)[:, None] * np.ones((1, 100))
    img = ramp.astype(np.uint16)  # a narrow 16-bit ramp
    tif = write_micrograph(tmp_path / "a.tif", img, pixel_size=0.01)
    calls = []

    def load():
        calls.append(1)
        return read_micrograph(tif).image

    p = cached_picture(tmp_path / "thumbs", "abc123", load, size=64)
    assert p.name == "abc123_64.jpg" and len(calls) == 1
    with Image.open(p) as im:
        assert im.format == "JPEG" and im.mode == "L" and im.size == (32, 64)
        arr = np.asarray(im)
    assert arr.max() - arr.min() > 240  # stretched, not a grey square
    again = cached_picture(tmp_path / "thumbs", "abc123", load, size=64)
    assert again == p and len(calls) == 1
    full = cached_picture(tmp_path / "full", "abc123", load, size=None, format="png")
    with Image.open(full) as im:
        assert im.format == "PNG" and im.mode == "L" and im.size == (100, 200)


def test_encode_image_formats():
    a = np.arange(64, dtype=np.uint8).reshape(8, 8)
    png = encode_image(a, format="png")
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(png))), a)
    assert encode_image(a, format="jpeg")[:2] == b"\xff\xd8"
    with pytest.raises(ParameterError, match="png or jpeg"):
        encode_image(a, format="tiff")
