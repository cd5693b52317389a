"""3-D descriptors against analytic truths."""

from __future__ import annotations

import math

import numpy as np
import pytest

from semlab.errors import ParameterError
from semlab.quantify import (
    QuantifyWarning,
    describe_3d,
    geodesic_tortuosity,
    specific_surface_area,
    strut_diameters,
    surface_area,
    surface_curvature,
)


def ball(radius: float, n: int = 64) -> np.ndarray:
    z, y, x = np.mgrid[:n, :n, :n].astype(float) - n / 2 + 0.3
    return (x * x + y * y + z * z <= radius**2).astype(np.uint8)


@pytest.fixture(scope="module")
def sphere20():
    return ball(20)


def test_sphere_surface_area_within_2_percent(sphere20):
    assert surface_area(sphere20) == pytest.approx(4 * math.pi * 20**2, rel=0.02)
    assert specific_surface_area(sphere20) == pytest.approx(4 * math.pi * 400 / 64**3, rel=0.02)


def test_sphere_curvature(sphere20):
    c = surface_curvature(sphere20, pixel_size=0.5)
    r = 20 * 0.5
    assert c.mean_average == pytest.approx(1 / r, rel=0.05)
    assert c.gaussian_average == pytest.approx(1 / r**2, rel=0.10)
    # Gauss-Bonnet: the integral of K over a closed surface of genus 0 is 4 pi
    assert np.sum(c.gaussian * c.area) == pytest.approx(4 * math.pi, rel=0.05)
    assert c.area.sum() == pytest.approx(4 * math.pi * r**2, rel=0.02)
    dens, he, ke = c.joint_density(bins=20)
    assert dens.shape == (20, 20)
    assert np.sum(dens * np.diff(he)[:, None] * np.diff(ke)[None, :]) == pytest.approx(1.0, rel=1e-6)
    # the density peaks near (1/r, 1/r^2)
    i, j = np.unravel_index(np.argmax(dens), dens.shape)
    assert he[i] <= 1 / r * 1.1 and he[i + 1] >= 1 / r * 0.9


def test_pore_curvature_sign_flips(sphere20):
    c = surface_curvature(1 - sphere20, phase=1)  # the phase is the outside of the ball: concave
    assert c.mean_average == pytest.approx(-1 / 20, rel=0.05)
    assert c.gaussian_average == pytest.approx(1 / 400, rel=0.10)


@pytest.mark.parametrize("radius", [8, 10])
def test_cylinder_strut_diameter(radius):
    n = 48
    z, y, x = np.mgrid[:n, :n, :n]
    cyl = ((y - n / 2 + 0.3) ** 2 + (x - n / 2 + 0.2) ** 2 <= radius**2).astype(np.uint8)
    s = strut_diameters(cyl, pixel_size=0.2)
    assert s.mean == pytest.approx(2 * radius * 0.2, rel=0.06)
    assert s.ci95[0] <= s.median <= s.ci95[1]
    assert s.length_unit == "µm"
    assert "strut_diameter_mean_um" in s.to_dict()


def test_straight_channels_have_tortuosity_one_and_other_axes_nan():
    vol = np.zeros((40, 30, 30), np.uint8)
    vol[:, 5:10, 5:10] = 1
    vol[:, 18:22, 15:25] = 1
    with pytest.warns(QuantifyWarning, match="does not"):
        t = geodesic_tortuosity(vol)
    assert t.values[0] == pytest.approx(1.0, abs=1e-9)
    assert math.isnan(t.values[1]) and math.isnan(t.values[2])
    assert t.overall == pytest.approx(1.0)
    assert t.to_dict()["tortuosity_axis0"] == pytest.approx(1.0)


def test_zigzag_channel_has_tortuosity_sqrt2():
    # a one-voxel channel stepping diagonally (slope 1, turning every 10 slices):
    # every geodesic is sqrt(2) times its axial distance
    n = 60
    vol = np.zeros((n, 20, 4), np.uint8)
    for i in range(n):
        col = 5 + (i % 20 if i % 20 < 10 else 20 - i % 20)
        vol[i, col, :] = 1
    t = geodesic_tortuosity(vol, axes=0)
    assert t.values[0] == pytest.approx(math.sqrt(2), rel=1e-9)


def test_wide_zigzag_tortuosity_close_to_sqrt2():
    n = 200
    vol = np.zeros((n, 40, 3), np.uint8)
    for i in range(n):
        col = 5 + (i % 40 if i % 40 < 20 else 40 - i % 40)
        vol[i, col : col + 4, :] = 1
    t = geodesic_tortuosity(vol, axes=0)
    # corners can be cut by at most the channel width per turn: slightly below sqrt(2)
    assert math.sqrt(2) * 0.9 < t.values[0] <= math.sqrt(2) + 1e-9


def test_anisotropic_voxels_weight_paths():
    vol = np.zeros((20, 20, 3), np.uint8)
    for i in range(20):
        vol[i, i, :] = 1  # a 45° diagonal in voxel space
    t_iso = geodesic_tortuosity(vol, axes=0)
    t_aniso = geodesic_tortuosity(vol, axes=0, pixel_size=(1.0, 2.0, 1.0))
    assert t_iso.values[0] == pytest.approx(math.sqrt(2))
    assert t_aniso.values[0] == pytest.approx(math.sqrt(5))  # steps of (1, 2) µm


def test_doubling_voxel_size_doubles_lengths(sphere20):
    a = describe_3d(sphere20, pixel_size=0.5, tortuosity=False)
    b = describe_3d(sphere20, pixel_size=1.0, tortuosity=False)
    assert b.specific_surface_area == pytest.approx(a.specific_surface_area / 2)
    assert b.strut_diameter_mean == pytest.approx(2 * a.strut_diameter_mean)
    assert b.mean_curvature == pytest.approx(a.mean_curvature / 2)
    assert b.gaussian_curvature == pytest.approx(a.gaussian_curvature / 4)
    assert b.phase_fraction == a.phase_fraction
    assert a.to_dict()["specific_surface_area_per_um"] == a.specific_surface_area
    assert (
        "specific_surface_area_per_px" in describe_3d(sphere20, tortuosity=False, curvature=False).to_dict()
    )


def test_anisotropic_voxel_surface_area():
    # an ellipsoid sampled anisotropically is the same sphere in µm
    n = 64
    z, y, x = np.mgrid[: n // 2, :n, :n].astype(float)
    z = (z - n / 4 + 0.3) * 2.0
    y, x = y - n / 2 + 0.3, x - n / 2 + 0.3
    vol = (x * x + y * y + z * z <= 20**2).astype(np.uint8)
    assert surface_area(vol, pixel_size=(2.0, 1.0, 1.0)) == pytest.approx(4 * math.pi * 400, rel=0.03)


@pytest.mark.filterwarnings("ignore:phase=1 does not reach")
def test_too_thin_volume_is_refused_for_tortuosity():
    vol = np.ones((4, 32, 32), np.uint8)
    vol[:, :, :5] = 0
    with pytest.raises(ParameterError, match="at least 8"):
        geodesic_tortuosity(vol, axes=0)
    with pytest.warns(QuantifyWarning, match="thinner"):
        d = describe_3d(vol, curvature=False, struts=False)
    assert math.isnan(d.tortuosity[0]) and d.tortuosity[1] == pytest.approx(1.0)


def test_grey_volume_and_one_phase_volume():
    rng = np.random.default_rng(0)
    with pytest.raises(ParameterError, match="grey"):
        describe_3d(rng.random((16, 16, 16)))
    with pytest.warns(QuantifyWarning, match="single value"):
        d = describe_3d(np.ones((16, 16, 16), np.uint8), tortuosity=False)
    assert d.phase_fraction == 1.0 and d.specific_surface_area == 0.0
    assert math.isnan(d.strut_diameter_mean) and math.isnan(d.mean_curvature)
