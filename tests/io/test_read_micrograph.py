"""read_micrograph / read_volume / write_micrograph against real vendor files and analytic cases."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import tifffile
from PIL import Image

from semlab.errors import FileFormatError, MetadataWarning, MissingFileError, ParameterError
from semlab.io import read_micrograph, read_volume, write_micrograph

# True pixel sizes in µm, read by hand from each file's own metadata:
#   FEI [Scan] PixelWidth = 3.3724e-06 m; Zeiss ap_image_pixel_size = 12.33 nm / 2.615 µm;
#   ImageJ XResolution = 5.928571 pixels per micron (DM calibration 0.16867469 µm);
#   the Zeiss 512 px file has no pixel-size tag: its field width ap_width 5.965 µm / 512 px.
TRUE_PIXEL_UM = {
    "FEI-Helios-Ebeam-16bits.tif": 3.3724,
    "FEI-Helios-Ebeam-8bits.tif": 3.3724,
    "FEI-Helios-navcam-with-no-IRBeam-bad-floats.tif": None,
    "ZEISS_SEM_multipage.tif": 0.01233,
    "imagej_scaled.tif": 1 / 5.928571,
    "test_tiff_Zeiss_SEM_1k.tif": 2.615,
    "test_tiff_Zeiss_SEM_512pix.tif": 5.965 / 512,
}


def test_every_shared_file_is_covered(sem_dir):
    assert {p.name for p in sem_dir.glob("*.tif")} == set(TRUE_PIXEL_UM)


@pytest.mark.parametrize("name", sorted(TRUE_PIXEL_UM))
def test_pixel_size_of_real_files(sem_dir, name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MetadataWarning)
        m = read_micrograph(sem_dir / name)
    assert m.image.ndim == 2
    expected = TRUE_PIXEL_UM[name]
    if expected is None:
        assert m.pixel_size is None
        assert m.metadata["pixel_size_source"] is None
    else:
        assert m.pixel_size == pytest.approx(expected, rel=1e-6)
        want = "field_width" if name.endswith("512pix.tif") else m.metadata["pixel_size_source"]
        assert m.metadata["pixel_size_source"] == want
    json.dumps(m.metadata)  # metadata is JSON-compatible


def test_bad_floats_file_warns_and_loads(sem_dir):
    with pytest.warns(MetadataWarning, match="PixelWidth"):
        m = read_micrograph(sem_dir / "FEI-Helios-navcam-with-no-IRBeam-bad-floats.tif")
    assert m.pixel_size is None
    assert m.metadata["vendor"] == "FEI/Thermo Fisher"
    assert m.metadata["accelerating_voltage_kv"] is None  # HV is 'notafloat'
    assert m.image.shape == (551, 768)


def test_fei_summary(sem_dir):
    m8 = read_micrograph(sem_dir / "FEI-Helios-Ebeam-8bits.tif")
    m16 = read_micrograph(sem_dir / "FEI-Helios-Ebeam-16bits.tif")
    assert m8.image.dtype == np.uint8 and m16.image.dtype == np.uint16
    md = m8.metadata
    assert md["vendor"] == "FEI/Thermo Fisher"
    assert "Helios" in md["instrument"]
    assert md["accelerating_voltage_kv"] == pytest.approx(5.0)
    assert md["working_distance_mm"] == pytest.approx(4.03466)
    assert md["magnification"] == pytest.approx(120.0, rel=1e-3)  # as printed on the data bar
    assert md["detector"] == "ETD SE"
    assert md["databar_row"] == 442
    assert m8.field_of_view[1] == pytest.approx(1726.67, rel=1e-3)  # HFW 1.73 mm on the bar


def test_zeiss_summary(sem_dir):
    m = read_micrograph(sem_dir / "test_tiff_Zeiss_SEM_1k.tif")
    md = m.metadata
    assert md["vendor"] == "Zeiss"
    assert md["instrument"] == "Merlin"
    assert md["accelerating_voltage_kv"] == pytest.approx(25.0)
    assert md["magnification"] == pytest.approx(105.0)
    assert md["working_distance_mm"] == pytest.approx(14.808)
    assert md["detector"] == "HE-SE2"
    m = read_micrograph(sem_dir / "ZEISS_SEM_multipage.tif")
    assert m.metadata["magnification"] == pytest.approx(4530.0)  # '4.53 K X'
    assert m.metadata["pages"] == 2


def test_zeiss_multipage_pages(sem_dir):
    path = sem_dir / "ZEISS_SEM_multipage.tif"
    first = read_micrograph(path)
    second = read_micrograph(path, page=1)
    truth = tifffile.imread(path)
    np.testing.assert_array_equal(first.image, truth[0])
    np.testing.assert_array_equal(second.image, truth[1])
    with pytest.raises(ParameterError, match="page=5"):
        read_micrograph(path, page=5)


def test_user_pixel_size_wins(sem_dir):
    m = read_micrograph(sem_dir / "test_tiff_Zeiss_SEM_1k.tif", pixel_size=0.5)
    assert m.pixel_size == 0.5
    assert m.metadata["pixel_size_source"] == "user"
    assert m.metadata["pixel_size_file_um"] == pytest.approx(2.615)
    for bad in (0, -1.0, float("nan"), "abc"):
        with pytest.raises(ParameterError, match="pixel_size"):
            read_micrograph(sem_dir / "test_tiff_Zeiss_SEM_1k.tif", pixel_size=bad)


def test_write_read_roundtrip(tmp_path):
    rng = np.random.default_rng(0)
    for dtype in (np.uint8, np.uint16, np.float32):
        img = (rng.random((40, 50)) * 200).astype(dtype)
        path = write_micrograph(tmp_path / f"x_{np.dtype(dtype).name}.tif", img, pixel_size=0.0123,
                                metadata={"sample": "S1", "databar_row": 30})
        m = read_micrograph(path)
        np.testing.assert_array_equal(m.image, img)
        assert m.image.dtype == dtype
        assert m.pixel_size == pytest.approx(0.0123, rel=1e-9)
        assert m.metadata["pixel_size_source"] == "semlab"
        assert m.metadata["sample"] == "S1" and m.metadata["databar_row"] == 30
    m = read_micrograph(write_micrograph(tmp_path / "nopx.tif", img))
    assert m.pixel_size is None


def test_compressions_and_formats(tmp_path):
    rng = np.random.default_rng(1)
    img8 = rng.integers(0, 256, (33, 47), dtype=np.uint8)
    img16 = rng.integers(0, 65536, (33, 47), dtype=np.uint16)
    for comp in ("lzw", "zlib", "packbits", None):
        tifffile.imwrite(tmp_path / f"c_{comp}.tif", img16, compression=comp)
        np.testing.assert_array_equal(read_micrograph(tmp_path / f"c_{comp}.tif").image, img16)
    for suffix in ("png", "bmp"):
        Image.fromarray(img8).save(tmp_path / f"g.{suffix}")
        np.testing.assert_array_equal(read_micrograph(tmp_path / f"g.{suffix}").image, img8)
    Image.fromarray(img16).save(tmp_path / "g16.png")
    m = read_micrograph(tmp_path / "g16.png")
    assert m.image.dtype == np.uint16
    np.testing.assert_array_equal(m.image, img16)
    # grey stored as RGB becomes 2-D, exactly
    Image.fromarray(np.stack([img8] * 3, -1)).save(tmp_path / "rgb.png")
    m = read_micrograph(tmp_path / "rgb.png")
    np.testing.assert_array_equal(m.image, img8)
    tifffile.imwrite(tmp_path / "rgb.tif", np.stack([img8] * 3, -1), photometric="rgb")
    np.testing.assert_array_equal(read_micrograph(tmp_path / "rgb.tif").image, img8)
    Image.fromarray(np.stack([img8] * 3, -1)).save(tmp_path / "rgb.jpg", quality=95)
    assert read_micrograph(tmp_path / "rgb.jpg").image.shape == img8.shape
    # true colour → luminance with a warning
    colour = np.stack([img8, 255 - img8, img8 // 2], -1)
    Image.fromarray(colour).save(tmp_path / "colour.png")
    with pytest.warns(MetadataWarning, match="colour"):
        m = read_micrograph(tmp_path / "colour.png")
    assert m.image.shape == img8.shape and m.image.dtype == np.uint8


def test_bad_files(tmp_path):
    with pytest.raises(MissingFileError, match="no such file"):
        read_micrograph(tmp_path / "nope.tif")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(FileFormatError, match="unsupported file type"):
        read_micrograph(tmp_path / "notes.txt")
    (tmp_path / "fake.tif").write_bytes(b"this is not a tiff")
    with pytest.raises(FileFormatError, match="fake.tif"):
        read_micrograph(tmp_path / "fake.tif")
    img = np.random.default_rng(0).integers(0, 255, (200, 200), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "full.tif", img)
    data = (tmp_path / "full.tif").read_bytes()
    (tmp_path / "cut.tif").write_bytes(data[: len(data) // 3])
    with pytest.raises(FileFormatError, match="cut.tif"):
        read_micrograph(tmp_path / "cut.tif")
    (tmp_path / "cut.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    with pytest.raises(FileFormatError, match="cut.png"):
        read_micrograph(tmp_path / "cut.png")


def test_read_volume_real(shared_data):
    v = read_volume(shared_data / "volumes" / "nmc-electrode-128.tif")
    assert v.shape == (128, 128, 128)
    assert set(np.unique(v.data)) == {0, 85, 170}
    assert v.voxel_size is None
    v = read_volume(shared_data / "volumes" / "nmc-electrode-128.tif", voxel_size=0.4)
    assert v.voxel_size == (0.4, 0.4, 0.4)


def test_read_volume_stack_and_folder(tmp_path):
    rng = np.random.default_rng(2)
    stack = rng.integers(0, 255, (5, 20, 30), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "stack.tif", stack, imagej=True, resolution=(1 / 0.05, 1 / 0.05),
                     metadata={"unit": "um", "spacing": 0.1, "axes": "ZYX"})
    v = read_volume(tmp_path / "stack.tif")
    np.testing.assert_array_equal(v.data, stack)
    assert v.voxel_size == pytest.approx((0.1, 0.05, 0.05))
    folder = tmp_path / "slices"
    folder.mkdir()
    for i, s in enumerate(stack):
        write_micrograph(folder / f"slice_{i:03d}.tif", s, pixel_size=0.02)
    v = read_volume(folder)
    np.testing.assert_array_equal(v.data, stack)
    assert v.voxel_size == pytest.approx((0.02, 0.02, 0.02))
    with pytest.raises(ParameterError, match="voxel_size"):
        read_volume(folder, voxel_size=(1, 2))
