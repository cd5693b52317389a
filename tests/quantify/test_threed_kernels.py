"""The fast 3-D kernels against analytic truths and against slow reference implementations."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage as ndi

from semlab.quantify import (
    QuantifyWarning,
    describe_3d,
    geodesic_tortuosity,
    local_thickness,
    specific_surface_area,
    surface_area,
    tortuosity_factor,
)
from semlab.quantify._edt import distance, local_thickness_radius
from semlab.quantify._surface3d import cube_surface_area
from semlab.quantify.threed import _projected_area_mesh


def ball(radius: float, n: int) -> np.ndarray:
    z, y, x = np.mgrid[:n, :n, :n].astype(float) - n / 2 + 0.3
    return x * x + y * y + z * z <= radius**2


def blobs(shape, sigma: float, seed: int, level: float = 0.5) -> np.ndarray:
    return ndi.gaussian_filter(np.random.default_rng(seed).random(shape), sigma) > level


# ----------------------------------------------------------------------------- surface


@pytest.mark.parametrize("radius", [3, 5, 8, 12, 20])
def test_sphere_area_at_several_radii(radius):
    n = 2 * radius + 10
    b = ball(radius, n)
    assert surface_area(b) == pytest.approx(4 * math.pi * radius**2, rel=0.02)
    assert specific_surface_area(b, pixel_size=0.5) == pytest.approx(
        4 * math.pi * (radius * 0.5) ** 2 / (n**3 * 0.125), rel=0.02
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_raw_area_equals_the_marching_cubes_mesh(seed):
    from skimage.measure import marching_cubes

    m = blobs((20, 24, 22), 1.5, seed)
    v, f, _, _ = marching_cubes(m.astype(np.float32), 0.5)
    mesh = 0.5 * np.linalg.norm(np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]]), axis=1).sum()
    assert cube_surface_area(m, (1.0, 1.0, 1.0), 0.0) == pytest.approx(mesh, rel=1e-6)
    # anisotropic voxels scale the vector areas exactly
    v, f, _, _ = marching_cubes(m.astype(np.float32), 0.5, spacing=(2.0, 1.0, 0.5))
    mesh = 0.5 * np.linalg.norm(np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]]), axis=1).sum()
    assert cube_surface_area(m, (2.0, 1.0, 0.5), 0.0) == pytest.approx(mesh, rel=1e-6)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_fast_area_agrees_with_the_mesh_reference(seed):
    m = blobs((32, 30, 34), 2.0, seed)
    slow = _projected_area_mesh(m, (1.0, 1.0, 1.0), 1.0)
    assert surface_area(m) == pytest.approx(slow, rel=0.015)


def test_a_tilted_plane():
    z, y, x = np.mgrid[:40, :40, :40].astype(float)
    m = (0.3 * x + 0.2 * y + z) < 25
    area = surface_area(m)
    n = np.array([1.0, 0.2, 0.3])
    # the plane z = 25 - 0.3 x - 0.2 y over the 39 x 39 (row, column) square of voxel centres
    assert area == pytest.approx(39 * 39 * np.linalg.norm(n), rel=0.02)
    assert area == pytest.approx(_projected_area_mesh(m, (1.0, 1.0, 1.0), 1.0), rel=0.005)


# ----------------------------------------------------------------------------- local thickness


def brute_force_radius(mask: np.ndarray) -> np.ndarray:
    """Every voxel a centre, balls |x - c| < floor(dt(c)) painted one by one (the definition)."""
    dt = ndi.distance_transform_edt(mask)
    lt = np.zeros(mask.shape)
    grid = np.indices(mask.shape)
    for c in np.argwhere(mask):
        r = math.floor(dt[tuple(c)] + 1e-9)
        inside = sum((g - ci) ** 2 for g, ci in zip(grid, c, strict=True)) < r * r
        lt[inside] = np.maximum(lt[inside], r)
    return lt


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_local_thickness_equals_the_definition(seed):
    m = blobs((18, 20, 16), 2.0, seed)
    np.testing.assert_array_equal(local_thickness_radius(m), brute_force_radius(m))


def test_local_thickness_2d_equals_the_definition():
    m = blobs((40, 36), 2.5, 4)
    np.testing.assert_array_equal(local_thickness_radius(m), brute_force_radius(m))


@pytest.mark.parametrize("thickness", [6, 7, 10, 13])
def test_slab_thickness(thickness):
    vol = np.zeros((30, 30, 40), np.uint8)
    vol[:, :, 10 : 10 + thickness] = 1
    lt = local_thickness(vol, pixel_size=0.5)
    # distances run between voxel centres: a slab of T voxels holds balls of diameter
    # 2 ceil(T / 2) voxels (T when even, T + 1 when odd), everywhere
    expect = 2 * math.ceil(thickness / 2) * 0.5
    assert lt.mean == pytest.approx(expect)
    assert lt.median == pytest.approx(expect)
    assert lt.to_dict()["local_thickness_mean_um"] == lt.mean
    assert np.all(lt.diameter[vol == 0] == 0)


def test_local_thickness_of_a_sphere_is_its_inscribed_ball():
    m = ball(9.0, 26)
    d = local_thickness(m).diameter
    r = math.floor(ndi.distance_transform_edt(m).max())
    # the largest ball covers everything within r of the centre
    assert d.max() == 2 * r
    assert np.mean(d[m] == 2 * r) > 0.5


def test_anisotropic_local_thickness_is_in_micrometres():
    vol = np.zeros((30, 20, 20), np.uint8)
    vol[10:18] = 1  # slab of 8 slices of 2 µm: 16 µm thick
    lt = local_thickness(vol, pixel_size=(2.0, 1.0, 1.0))
    assert lt.mean == pytest.approx(16.0)


def level_set_radius(mask: np.ndarray, sampling=None) -> np.ndarray:
    """The definition by levels (PoreSpy's "dt" method): a voxel's radius is the largest ``r``
    within distance ``< r`` of a voxel with ``floor(dt) >= r`` (distances in smallest voxel sides)."""
    sp = np.asarray(sampling or (1.0,) * mask.ndim, float)
    h = sp.min()
    radius = np.floor(ndi.distance_transform_edt(mask, sampling=sp) / h + 1e-4)
    lt = np.zeros(mask.shape)
    for r in range(int(radius.max()), 0, -1):
        seeds = radius >= r
        near = ndi.distance_transform_edt(~seeds, sampling=sp / h) < r - 1e-9
        lt[near & (lt == 0)] = r
    return lt * h


def brute_force_radius_sampled(mask: np.ndarray, sampling) -> np.ndarray:
    """Every voxel a centre, balls ``|x - c| < floor(dt(c) / h) h`` painted one by one, with
    anisotropic voxels (``h`` the smallest side)."""
    sp = np.asarray(sampling, float)
    h = sp.min()
    dt = ndi.distance_transform_edt(mask, sampling=sp) / h
    lt = np.zeros(mask.shape)
    grid = np.indices(mask.shape)
    for c in np.argwhere(mask):
        r = math.floor(dt[tuple(c)] + 1e-4)
        inside = sum(((g - ci) * s / h) ** 2 for g, ci, s in zip(grid, c, sp, strict=True)) < r * r - 1e-9
        lt[inside] = np.maximum(lt[inside], r)
    return lt * h


@pytest.mark.parametrize(
    ("seed", "shape", "sampling"),
    [
        (5, (14, 17, 19), (2.0, 1.0, 0.5)),
        (6, (16, 15, 18), (1.0, 1.0, 1.7)),
        (7, (12, 20, 16), (1.5, 1.0, 1.0)),
        (8, (40, 36), (1.0, 2.5)),
    ],
)
def test_anisotropic_local_thickness_equals_the_definition(seed, shape, sampling):
    m = blobs(shape, 2.0, seed, level=0.45)
    got = local_thickness_radius(m, sampling)
    np.testing.assert_array_equal(got, brute_force_radius_sampled(m, sampling).astype(np.float32))
    np.testing.assert_array_equal(got, level_set_radius(m, sampling).astype(np.float32))


@pytest.mark.parametrize("seed", [10, 11, 12, 13])
def test_local_thickness_equals_the_level_definition_on_random_volumes(seed):
    # larger than the brute-force cases: many levels, balls over several neighbours
    m = blobs((48, 52, 44), 3.0, seed, level=0.48)
    np.testing.assert_array_equal(local_thickness_radius(m), level_set_radius(m).astype(np.float32))


def test_thick_sphere_and_slab_runs_longer_than_a_word():
    # runs of 2 r + 1 > 64 voxels span two or three 64-bit words of the painted bitset
    vol = np.zeros((96, 80, 80), bool)
    vol[16:] = ball(37.3, 80)
    vol[2:12, 4:76, 3:77] = True  # a slab of 10 slices beside the sphere
    got = local_thickness_radius(vol)
    np.testing.assert_array_equal(got, level_set_radius(vol).astype(np.float32))
    r = math.floor(ndi.distance_transform_edt(vol).max() + 1e-4)
    assert got.max() == r >= 36
    # the slab away from the sphere and its own edges: balls of radius ceil(10 / 2) = 5
    # (distances run between voxel centres)
    assert np.all(got[2:12, 10:70, 9:71] == 5)


@pytest.mark.slow  # compiles the kernels in a fresh process (~20 s)
def test_compiled_kernels_without_a_writable_numba_cache():
    """Where numba can cache nothing (a read-only install), every compiled kernel (local
    thickness, smoothed surface area, tortuosity factor) is compiled in memory and gives the
    values of the cached kernels."""
    import subprocess
    import sys

    from semlab.quantify import specific_surface_area, tortuosity_factor

    code = (
        "import numba.core.caching as c\n"
        "(getattr(c, 'CacheImpl', None) or c._CacheImpl)._locator_classes = []\n"
        "import numpy as np\n"
        "from semlab.quantify import specific_surface_area, tortuosity_factor\n"
        "from semlab.quantify._edt import local_thickness_radius\n"
        "m = np.zeros((9, 10, 11), bool); m[2:7, 2:8, 1:10] = True\n"
        "lt = local_thickness_radius(m).max()\n"
        "s = specific_surface_area(m.view(np.uint8), phase=1)\n"
        "from scipy import ndimage as ndi\n"
        "q = ndi.gaussian_filter(np.random.default_rng(0).random((16, 16, 16)), 1.5) > 0.5\n"
        "t = tortuosity_factor(q.view(np.uint8), phase=1, axes=0).values[0]\n"
        "from semlab.quantify import _lt_kernel, _surface3d_kernel, _diffusion_kernels as d\n"
        "caches = {type(f._cache).__name__ for f in (_lt_kernel.paint, _surface3d_kernel.smoothed_area, d._rb_plane)}\n"
        "print(','.join(sorted(caches)), repr(float(lt)), repr(float(s)), repr(float(t)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    caches, lt, ssa, tau = out.stdout.split()[-4:]
    assert caches == "NullCache"  # all compiled in memory
    assert float(lt) == 3.0  # 5 slices: balls of radius 3 (distances 3 to the faces)
    m = np.zeros((9, 10, 11), np.uint8)
    m[2:7, 2:8, 1:10] = 1
    assert float(ssa) == specific_surface_area(m, phase=1)
    q = ndi.gaussian_filter(np.random.default_rng(0).random((16, 16, 16)), 1.5) > 0.5
    tau_here = tortuosity_factor(q.view(np.uint8), phase=1, axes=0).values[0]
    assert 1.5 < tau_here < 5 and float(tau) == tau_here


def test_distance_matches_scipy():
    m = blobs((20, 22, 24), 2.0, 5)
    for sp in [(1.0, 1.0, 1.0), (2.0, 1.0, 0.5)]:
        np.testing.assert_allclose(distance(m, sp), ndi.distance_transform_edt(m, sampling=sp), rtol=1e-6)


# ----------------------------------------------------------------------------- tortuosity factor


def test_straight_channels_have_tortuosity_factor_one():
    vol = np.zeros((40, 30, 30), np.uint8)
    vol[:, 5:10, 5:10] = 1
    vol[:, 18:22, 15:25] = 1
    with pytest.warns(QuantifyWarning, match="does not connect"):
        t = tortuosity_factor(vol)
    assert t.values[0] == pytest.approx(1.0, abs=1e-9)
    assert math.isnan(t.values[1]) and math.isnan(t.values[2])
    eps = vol.mean()
    assert t.relative_diffusivity[0] == pytest.approx(eps)
    assert t.to_dict()["tortuosity_factor"] == pytest.approx(1.0)
    # anisotropic voxels do not change straight channels
    assert tortuosity_factor(vol, axes=0, pixel_size=(2.0, 1.0, 0.5)).values[0] == pytest.approx(
        1.0, abs=1e-9
    )


def winding_channel(length: int = 30) -> np.ndarray:
    vol = np.zeros((length, 12, 12), np.uint8)
    vol[0:11, 2, 2] = 1
    vol[10, 2, 2:9] = 1  # a sideways leg of 6 voxels
    vol[10:, 2, 8] = 1
    return vol


def test_winding_channel_gives_the_square_of_its_length_ratio():
    vol = winding_channel()
    n, length = int(vol.sum()), vol.shape[0]
    t = tortuosity_factor(vol, axes=0, rtol=1e-10)
    assert t.values[0] == pytest.approx((n / length) ** 2, rel=1e-6)
    # the geodesic tortuosity is a different quantity (path ratio, not its square)
    g = geodesic_tortuosity(vol, axes=0).values[0]
    assert 1.0 < g < t.values[0]


def test_parallel_channels_of_different_lengths():
    vol = winding_channel()
    vol[:, 8, 5] = 1  # a straight channel beside the winding one (not touching it)
    n1, n2, length = 30, int(winding_channel().sum()), 30
    t = tortuosity_factor(vol, axes=0, rtol=1e-10)
    # conductances add: tau = n1 n2 / L^2
    assert t.values[0] == pytest.approx(n1 * n2 / length**2, rel=1e-6)


def test_series_layers_with_dead_ends():
    # layer 1 (10 slices): 8 straight columns; layer 2 (30 slices): only 2 of them go on.
    # The 6 stubs are dead ends: they hold phase but carry no flux, tau = 1 + 6*10 / (2*40)
    vol = np.zeros((40, 10, 10), np.uint8)
    cols = [(1, 1), (1, 4), (1, 7), (4, 1), (4, 7), (7, 1), (7, 4), (7, 7)]
    for y, x in cols[:2]:
        vol[:, y, x] = 1
    for y, x in cols[2:]:
        vol[:10, y, x] = 1
    t = tortuosity_factor(vol, axes=0, rtol=1e-10)
    assert t.values[0] == pytest.approx(1 + 6 * 10 / (2 * 40), rel=1e-6)
    assert geodesic_tortuosity(vol, axes=0).values[0] == pytest.approx(1.0)


def test_non_percolating_phase_gives_nan():
    vol = np.zeros((20, 10, 10), np.uint8)
    vol[:8, 4:6, 4:6] = 1
    with pytest.warns(QuantifyWarning, match="does not connect"):
        t = tortuosity_factor(vol, axes=0)
    assert math.isnan(t.values[0]) and t.relative_diffusivity[0] == 0.0


def test_describe_3d_reports_thickness_and_the_factor_separately():
    vol = np.zeros((24, 24, 24), np.uint8)
    vol[:, 4:10, 4:10] = 1
    with pytest.warns(QuantifyWarning):
        d = describe_3d(vol, curvature=False, struts=False, diffusion=True)
    row = d.to_dict()
    assert row["local_thickness_mean_px"] == pytest.approx(6.0)
    assert row["tortuosity_factor_axis0"] == pytest.approx(1.0, abs=1e-6)
    assert row["tortuosity_axis0"] == pytest.approx(1.0)
    assert math.isnan(row["tortuosity_factor_axis1"])
    quick = describe_3d(vol, curvature=False, struts=False, tortuosity=False).to_dict()
    assert math.isnan(quick["tortuosity_factor"])


def test_local_thickness_of_an_empty_or_full_phase_is_nan():
    vol = np.zeros((10, 10, 10), np.uint8)
    for phase in (1, 0):
        with pytest.warns(QuantifyWarning) as rec:
            lt = local_thickness(vol, phase=phase)
        assert any("local thickness is NaN" in str(w.message) for w in rec)
        assert math.isnan(lt.mean) and not lt.diameter.any()


def test_fast_area_agrees_with_the_mesh_reference_on_the_real_electrode():
    from pathlib import Path

    path = (
        Path(__file__).resolve().parents[2].parent / "shared" / "data" / "volumes" / "nmc-electrode-128.tif"
    )
    if not path.is_file():
        pytest.skip(f"real electrode volume not found at {path}")
    from semlab.io import read_volume

    vol = read_volume(path).data[:64, :64, :64]
    for v in (0, 85, 170):
        m = vol == v
        assert surface_area(vol, phase=v) == pytest.approx(
            _projected_area_mesh(m, (1.0, 1.0, 1.0), 1.0), rel=0.01
        )


def test_tortuosity_factor_in_2d():
    img = np.zeros((30, 20), np.uint8)
    img[:, 3:6] = 1
    img[0:11, 12] = 1  # a one-pixel path with a sideways leg of 4
    img[10, 12:17] = 1
    img[10:, 16] = 1
    t = tortuosity_factor(img, axes=0, rtol=1e-10)
    n = int(img[:, 12:].sum())
    # conductances add: 3 straight columns (1/30 each) and the winding path (1/n)
    d_eff = (3 / 30 + 1 / n) * 30 / 20
    assert t.values[0] == pytest.approx(img.mean() / d_eff, rel=1e-6)
