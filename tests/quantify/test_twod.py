"""2-D descriptors against analytic truths."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from semlab.errors import ParameterError
from semlab.quantify import (
    QuantifyWarning,
    chord_lengths,
    describe_2d,
    descriptor_table,
    perimeter,
    phase_fraction,
    region_table,
    shape_index,
    specific_perimeter,
    two_point_correlation,
)


def disk(radius: float, n: int = 256, offset: tuple[float, float] = (0.3, 0.2)) -> np.ndarray:
    r, c = np.mgrid[:n, :n].astype(float) - n / 2
    return ((r + offset[0]) ** 2 + (c + offset[1]) ** 2 <= radius**2).astype(np.uint8)


def square(side: float, angle_deg: float, n: int = 256) -> np.ndarray:
    r, c = np.mgrid[:n, :n].astype(float) - n / 2 + 0.5
    a = np.deg2rad(angle_deg)
    u = c * np.cos(a) + r * np.sin(a)
    v = -c * np.sin(a) + r * np.cos(a)
    return ((np.abs(u) <= side / 2) & (np.abs(v) <= side / 2)).astype(np.uint8)


@pytest.mark.parametrize("radius", [20, 35, 60])
def test_disk_area_and_perimeter_within_2_percent(radius):
    img = disk(radius)
    t = region_table(img)
    assert len(t) == 1
    assert t["area_px2"].iloc[0] == pytest.approx(math.pi * radius**2, rel=0.02)
    assert t["perimeter_px"].iloc[0] == pytest.approx(2 * math.pi * radius, rel=0.02)
    assert perimeter(img) == pytest.approx(2 * math.pi * radius, rel=0.02)
    assert t["shape_index"].iloc[0] == pytest.approx(1.0, rel=0.02)
    assert t["aspect_ratio"].iloc[0] == pytest.approx(1.0, abs=0.02)
    assert t["equivalent_diameter_px"].iloc[0] == pytest.approx(2 * radius, rel=0.01)


@pytest.mark.parametrize("angle", [0, 10, 22.5, 30, 45, 60, 77])
def test_square_area_and_perimeter_independent_of_rotation(angle):
    img = square(100, angle)
    t = region_table(img)
    assert t["area_px2"].iloc[0] == pytest.approx(100**2, rel=0.02)
    assert t["perimeter_px"].iloc[0] == pytest.approx(400, rel=0.02)
    assert t["shape_index"].iloc[0] == pytest.approx(2 / math.sqrt(math.pi), rel=0.02)
    assert t["solidity"].iloc[0] == pytest.approx(1.0, abs=0.005)


def test_pixel_edge_count_would_fail_where_estimator_passes():
    # a 45° square: a 4-neighbour edge count overestimates by sqrt(2); ours stays within 2 %
    img = square(100, 45)
    edges = np.count_nonzero(np.diff(img, axis=0)) + np.count_nonzero(np.diff(img, axis=1))
    assert edges / 400 > 1.3
    assert perimeter(img) == pytest.approx(400, rel=0.02)


def test_rectangle_aspect_ratio_and_solidity_exact():
    img = np.zeros((60, 80), np.uint8)
    img[10:20, 10:50] = 1  # 10 x 40
    img[30:50, 60:70] = 1  # 20 x 10
    t = region_table(img).sort_values("area_px2")
    assert t["aspect_ratio"].tolist() == pytest.approx([2.0, 4.0])
    assert t["solidity"].tolist() == pytest.approx([1.0, 1.0])
    # equivalent ellipse of a rectangle of side L: axis 4 L / sqrt(12)
    assert t["major_axis_px"].tolist() == pytest.approx([80 / math.sqrt(12), 160 / math.sqrt(12)])
    l_shape = np.zeros((30, 30), np.uint8)
    l_shape[5:25, 5:10] = 1
    l_shape[20:25, 5:25] = 1  # area 175
    t = region_table(l_shape)
    from skimage.measure import regionprops  # independent digital convex hull

    assert t["solidity"].iloc[0] == pytest.approx(regionprops(l_shape)[0].solidity)
    assert t["solidity"].iloc[0] < 0.7


def test_doubling_pixel_size_doubles_lengths():
    img = disk(30) | square(40, 20)[::1, ::-1]
    a = describe_2d(img, pixel_size=0.5)
    b = describe_2d(img, pixel_size=1.0)
    assert a.length_unit == "µm"
    assert b.mean_equivalent_diameter == pytest.approx(2 * a.mean_equivalent_diameter)
    assert b.mean_chord_length == pytest.approx(2 * a.mean_chord_length)
    assert b.correlation_length == pytest.approx(2 * a.correlation_length)
    assert b.specific_perimeter == pytest.approx(a.specific_perimeter / 2)
    assert b.mean_area == pytest.approx(4 * a.mean_area)
    assert b.phase_fraction == a.phase_fraction
    assert b.shape_index == pytest.approx(a.shape_index)


def test_unknown_pixel_size_gives_pixel_units():
    d = describe_2d(disk(20))
    assert d.length_unit == "px" and d.pixel_size is None
    keys = d.to_dict()
    assert "mean_equivalent_diameter_px" in keys and "specific_perimeter_per_px" in keys
    assert "mean_equivalent_diameter_um" not in keys
    d2 = describe_2d(disk(20), pixel_size=0.1).to_dict()
    assert d2["mean_equivalent_diameter_um"] == pytest.approx(0.1 * keys["mean_equivalent_diameter_px"])
    assert d2["pixel_size_um"] == 0.1


def test_specific_perimeter_normalised_by_image_area_and_frame_not_counted():
    img = np.zeros((100, 200), np.uint8)
    img[:, :100] = 1  # one straight vertical interface of length 100; frame edges do not count
    assert perimeter(img) == pytest.approx(100, rel=1e-6)
    assert specific_perimeter(img, pixel_size=2.0) == pytest.approx(200 / (200 * 400))


def test_phase_fraction_and_phase_union():
    img = np.array([[0, 1, 2], [2, 2, 0]])
    assert phase_fraction(img, phase=2) == pytest.approx(0.5)
    assert phase_fraction(img, phase=(1, 2)) == pytest.approx(4 / 6)


def test_two_point_correlation_limits():
    rng = np.random.default_rng(0)
    img = (rng.random((300, 300)) < 0.3).astype(np.uint8)
    s2 = two_point_correlation(img, pixel_size=0.25)
    phi = img.mean()
    assert s2["s2"].iloc[0] == pytest.approx(phi)
    assert s2["r_um"].iloc[1] == pytest.approx(0.25)
    assert np.allclose(s2["s2"].iloc[2:], phi**2, atol=0.005)


def test_disk_chords_mean_is_pi_r_over_2():
    r = 40
    chords = chord_lengths(disk(r), axis=1)
    assert chords.mean() == pytest.approx(math.pi * r / 2, rel=0.02)
    assert chords.sum() == disk(r).sum()  # one chord per row, together the whole disk
    assert chords.max() == pytest.approx(2 * r + 1, abs=1)


def test_stereology_mean_chord_matches_area_over_perimeter():
    # isotropic structure: mean chord = pi * A_A / L_A
    rng = np.random.default_rng(1)
    img = np.zeros((512, 512), np.uint8)
    rr, cc = np.mgrid[:512, :512]
    for _ in range(40):
        r0, c0, rad = rng.uniform(30, 480), rng.uniform(30, 480), rng.uniform(8, 25)
        img[(rr - r0) ** 2 + (cc - c0) ** 2 <= rad**2] = 1
    d = describe_2d(img)
    assert d.mean_chord_length == pytest.approx(math.pi * d.phase_fraction / d.specific_perimeter, rel=0.05)


def test_describe_2d_counts_and_border_exclusion():
    img = np.zeros((200, 200), np.uint8)
    img[100:160, 100:160] = 1
    img[0:10, 0:10] = 1  # touches the border
    d = describe_2d(img)
    assert d.n_particles == 2 and d.n_interior_particles == 1
    assert d.mean_area == pytest.approx(3600)
    assert shape_index(img) == pytest.approx(2 / math.sqrt(math.pi), rel=0.03)


def _corner_pair() -> np.ndarray:
    """Two 3×3 squares that touch only at one corner (a checkerboard diagonal), inside the frame."""
    img = np.zeros((12, 12), np.uint8)
    img[2:5, 2:5] = 1
    img[5:8, 5:8] = 1
    return img


def test_connectivity_decides_whether_a_corner_joins_particles():
    img = _corner_pair()
    assert len(region_table(img)) == 1 and len(region_table(img, connectivity=4)) == 2
    eight, four = describe_2d(img), describe_2d(img, connectivity=4)
    assert (eight.n_particles, eight.connectivity, eight.mean_area) == (1, 8, 18)
    assert (four.n_particles, four.connectivity, four.mean_area) == (2, 4, 9)
    assert four.number_density == pytest.approx(2 / 144)
    assert eight.to_dict()["connectivity"] == 8 and four.to_dict()["connectivity"] == 4
    # a row per image, the connectivity stored with it
    df = descriptor_table([img, img[::-1]], connectivity=4)
    assert df["connectivity"].tolist() == [4, 4] and df["n_particles"].tolist() == [2, 2]
    assert descriptor_table([img])["connectivity"].tolist() == [8]
    for bad in (2, 6, "8", 8.0, True):
        for func in (region_table, describe_2d, shape_index):
            with pytest.raises(ParameterError, match="connectivity=.* must be 4 .* or 8") as exc:
                func(img, connectivity=bad)
            assert "\n" not in str(exc.value)
        with pytest.raises(ParameterError, match="connectivity=.* must be 4 .* or 8"):
            descriptor_table([img], connectivity=bad)


# ----------------------------------------------------------------------------- bad input


def test_grey_image_is_refused():
    rng = np.random.default_rng(0)
    grey = rng.integers(0, 256, (64, 64)).astype(np.uint8)
    with pytest.raises(ParameterError, match="grey image"):
        describe_2d(grey)
    with pytest.raises(ParameterError, match="grey image"):
        describe_2d(rng.random((64, 64)))


def test_anisotropic_pixel_size_is_refused_in_2d():
    with pytest.raises(ParameterError, match="anisotropic"):
        describe_2d(disk(20), pixel_size=(0.5, 1.0))
    # equal per-axis sizes are fine
    assert describe_2d(disk(20), pixel_size=(0.5, 0.5)).pixel_size == 0.5


def test_bad_pixel_size_and_missing_phase():
    with pytest.raises(ParameterError, match="pixel_size"):
        describe_2d(disk(20), pixel_size=-1)
    with pytest.raises(ParameterError, match="phase=3 is not in labels"):
        describe_2d(disk(20), phase=3)
    with pytest.raises(ParameterError, match="2-D"):
        describe_2d(np.zeros((4, 4, 4), np.uint8))


def test_all_one_phase_gives_documented_nan_with_warning():
    img = np.ones((64, 64), np.uint8)
    with pytest.warns(QuantifyWarning, match="single value"):
        d = describe_2d(img, pixel_size=1.0)
    assert d.phase_fraction == 1.0
    assert d.specific_perimeter == 0.0
    assert math.isnan(d.shape_index) and math.isnan(d.mean_equivalent_diameter)
    assert math.isnan(d.correlation_length)
    with pytest.warns(QuantifyWarning):
        empty = describe_2d(np.zeros((64, 64), np.uint8))
    assert empty.phase_fraction == 0.0 and empty.n_particles == 0


def test_errors_are_one_line():
    with pytest.raises(ParameterError) as exc:
        describe_2d(np.random.default_rng(0).random((8, 8)))
    assert "\n" not in str(exc.value)


def test_no_warning_on_ordinary_image():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        describe_2d(disk(20))
