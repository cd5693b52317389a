"""Surface area of a voxel phase from the marching-cubes pattern table (semlab.quantify._surface3d)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi
from skimage.measure import marching_cubes, mesh_surface_area

from semlab.quantify import specific_surface_area, surface_area
from semlab.quantify._surface3d import _CHUNK, _patterns, cube_surface_area, cube_table


def _random_phase(seed: int, shape=(14, 12, 13), fraction=0.45) -> np.ndarray:
    """Random voxels (some clustered by a 2x repeat), none on the box faces: a closed mesh."""
    rng = np.random.default_rng(seed)
    m = rng.random(shape) < fraction
    m[::2] |= rng.random(shape)[::2] < 0.2
    m[[0, -1]] = False
    m[:, [0, -1]] = False
    m[:, :, [0, -1]] = False
    return m


def _ball(shape, centre, radii) -> np.ndarray:
    """Voxels whose centre lies in the ellipsoid of the given semi-axes (voxels)."""
    grid = np.ogrid[tuple(slice(0, n) for n in shape)]
    return sum(((g - c) / r) ** 2 for g, c, r in zip(grid, centre, radii, strict=True)) <= 1.0


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("sp", [(1.0, 1.0, 1.0), (2.0, 0.5, 1.25)])
def test_raw_area_is_the_marching_cubes_mesh_area(seed, sp):
    m = _random_phase(seed)
    verts, faces, _, _ = marching_cubes(m.astype(np.float64), 0.5, spacing=sp)
    want = mesh_surface_area(verts, faces)
    got = surface_area(m, pixel_size=sp, normal_sigma=0)
    assert got == pytest.approx(want, rel=1e-6)  # skimage meshes in float32


def test_raw_area_of_a_phase_touching_the_box_is_the_mesh_inside_the_voxel_centres():
    # the mesh of the zero-padded mask, less the triangles outside the cubes between voxel centres
    m = _random_phase(3)
    m[0, 3:9, 2:10] = True
    pad = np.pad(m, 1).astype(np.float64)
    verts, faces, _, _ = marching_cubes(pad, 0.5)
    centre = verts[faces].mean(axis=1) - 1
    inside = np.all((centre > 0) & (centre < np.array(m.shape) - 1), axis=1)
    want = mesh_surface_area(verts, faces[inside])
    assert surface_area(m, normal_sigma=0) == pytest.approx(want, rel=1e-6)  # skimage meshes in float32
    assert want < mesh_surface_area(verts, faces)  # the cap on the box face is left out


@pytest.mark.parametrize("radius", [8.0, 15.0])
def test_sphere_area_within_two_percent(radius):
    n = int(2 * radius) + 8
    centre = (n / 2 - 0.3, n / 2 + 0.15, n / 2 - 0.4)
    ball = _ball((n, n, n), centre, (radius,) * 3)
    area = surface_area(ball)
    assert area == pytest.approx(4 * np.pi * radius**2, rel=0.02)
    # the raw staircase mesh is several per cent high on the same ball
    assert surface_area(ball, normal_sigma=0) > 1.05 * area


@pytest.mark.parametrize("sp", [(1.5, 1.0, 1.0), (1.0, 0.75, 1.25)])
def test_anisotropic_voxels_measure_the_physical_sphere(sp):
    radius = 12.0  # µm
    shape = tuple(int(2 * radius / s) + 6 for s in sp)
    centre = tuple(n / 2 - 0.25 for n in shape)
    ball = _ball(shape, centre, tuple(radius / s for s in sp))
    area = surface_area(ball, pixel_size=sp)
    assert area == pytest.approx(4 * np.pi * radius**2, rel=0.03)
    iso = surface_area(_ball((32, 32, 32), (15.75,) * 3, (radius,) * 3), pixel_size=1.0)
    assert area == pytest.approx(iso, rel=0.03)
    sv = specific_surface_area(ball, pixel_size=sp)
    assert sv == pytest.approx(area / (ball.size * np.prod(sp)), rel=1e-12)


def _smoothed_area_numpy(m: np.ndarray, spa: np.ndarray, table: np.ndarray, sig: list[float]) -> float:
    """The reference: :func:`cube_surface_area`'s smoothed sum evaluated in plain numpy (the whole
    smoothed volume, then every mixed cube's gradient and triangles), independent of the kernel."""
    cfg = _patterns(m)
    mixed = np.flatnonzero((cfg != 0) & (cfg != 255))
    if len(mixed) == 0:
        return 0.0
    pattern = cfg.ravel()[mixed]
    smooth = ndi.gaussian_filter(m.astype(np.float32), sig, mode="nearest").ravel()
    strides = np.array(m.strides) // m.itemsize
    corner0 = np.ravel_multi_index(np.unravel_index(mixed, cfg.shape), m.shape)
    used = np.abs(table).sum(axis=2) > 0
    n_tri = np.where(used.any(axis=1), used.shape[1] - np.argmax(used[:, ::-1], axis=1), 0)
    total = 0.0
    for c0 in range(0, len(mixed), _CHUNK):
        k = corner0[c0 : c0 + _CHUNK]
        pat = pattern[c0 : c0 + _CHUNK]
        # gradient of the trilinear interpolant of the smoothed mask at the cube centre
        g = np.zeros((len(k), 3))
        for i in range(2):
            for j in range(2):
                for q in range(2):
                    v = smooth[k + i * strides[0] + j * strides[1] + q * strides[2]]
                    g[:, 0] += v if i else -v
                    g[:, 1] += v if j else -v
                    g[:, 2] += v if q else -v
        g /= 4 * spa
        gn = np.linalg.norm(g, axis=1)
        flat = gn <= 1e-6
        g[~flat] /= gn[~flat, None]
        for s in range(table.shape[1]):
            sel = np.flatnonzero(n_tri[pat] > s)
            if len(sel) == 0:
                break
            a = table[pat[sel], s]
            proj = np.abs(np.einsum("ij,ij->i", a, g[sel]))
            raw = flat[sel]
            total += float(proj[~raw].sum() + np.linalg.norm(a[raw], axis=1).sum())
    return total


@pytest.mark.parametrize("sp", [(1.0, 1.0, 1.0), (2.0, 0.5, 1.25)])
@pytest.mark.parametrize("sigma", [0.7, 1.0, 2.0])
def test_compiled_pass_equals_the_numpy_path(sp, sigma):
    rng = np.random.default_rng(4)
    m = rng.random((17, 9, 23)) < 0.5
    m[4:12, 2:8, 5:20] = True  # a block touching nothing, and random voxels on the box faces
    spa = np.asarray(sp)
    table = cube_table() * np.array([spa[1] * spa[2], spa[0] * spa[2], spa[0] * spa[1]])
    sig = [sigma * spa.min() / s for s in spa]
    want = _smoothed_area_numpy(m, spa, table, sig)
    assert cube_surface_area(m, sp, sigma) == pytest.approx(want, rel=1e-6)


def test_uniform_and_thin_volumes_have_no_surface():
    assert cube_surface_area(np.zeros((5, 6, 7), bool), (1.0, 1.0, 1.0), 1.0) == 0.0
    assert cube_surface_area(np.ones((5, 6, 7), bool), (1.0, 1.0, 1.0), 0.0) == 0.0
    assert cube_surface_area(np.ones((1, 6, 7), bool), (1.0, 1.0, 1.0), 1.0) == 0.0


def test_flat_wall_area_is_exact_for_both_estimators():
    m = np.zeros((10, 11, 12), bool)
    m[:4] = True  # a plane across the box between slices 3 and 4: area (11 - 1) x (12 - 1) voxels
    sp = (0.5, 2.0, 3.0)
    want = 10 * sp[1] * 11 * sp[2]
    assert cube_surface_area(m, sp, 0.0) == pytest.approx(want, rel=1e-12)
    assert cube_surface_area(m, sp, 1.0) == pytest.approx(want, rel=1e-6)
