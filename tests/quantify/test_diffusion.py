"""The multigrid diffusion solver behind ``tortuosity_factor`` against a direct sparse solve."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage as ndi

from semlab.quantify import QuantifyWarning, tortuosity_factor
from semlab.quantify._diffusion import solve_tortuosity_factor

VOLUME = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "volumes" / "nmc-electrode-128.tif"


def blobs(shape, sigma: float, seed: int, level: float = 0.5) -> np.ndarray:
    return ndi.gaussian_filter(np.random.default_rng(seed).random(shape), sigma) > level


def direct_tau(mask: np.ndarray, axis: int, sp=(1.0, 1.0, 1.0)) -> tuple[float, float]:
    """τ and D_eff/D from an exact sparse LU solve of the finite-volume system (the old assembly:
    every cluster that touches the inlet or the outlet face, flux averaged over the two faces)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.linalg import spsolve

    m = np.moveaxis(mask, axis, 0)
    spm = (sp[axis],) + tuple(s for i, s in enumerate(sp) if i != axis)
    lab, n = ndi.label(m)
    touching = np.zeros(n + 1, bool)
    touching[np.unique(lab[0])] = True
    touching[np.unique(lab[-1])] = True
    touching[0] = False
    keep = touching[lab]
    index = np.full(m.shape, -1)
    index[keep] = np.arange(np.count_nonzero(keep))
    vol = float(np.prod(spm))
    rows, cols, vals = [], [], []
    diag = np.zeros(np.count_nonzero(keep))
    for ax in range(3):
        g = vol / spm[ax] ** 2
        lo, hi = [slice(None)] * 3, [slice(None)] * 3
        lo[ax], hi[ax] = slice(0, -1), slice(1, None)
        both = keep[tuple(lo)] & keep[tuple(hi)]
        i, j = index[tuple(lo)][both], index[tuple(hi)][both]
        rows += [i, j]
        cols += [j, i]
        vals += [np.full(2 * len(i), -g)]
        np.add.at(diag, i, g)
        np.add.at(diag, j, g)
    gb = 2 * vol / spm[0] ** 2
    first, last = index[0][keep[0]], index[-1][keep[-1]]
    diag[first] += gb
    diag[last] += gb
    nd = len(diag)
    mat = coo_matrix(
        (
            np.concatenate(vals + [diag]),
            (np.concatenate(rows + [np.arange(nd)]), np.concatenate(cols + [np.arange(nd)])),
        ),
        shape=(nd, nd),
    ).tocsc()
    rhs = np.zeros(nd)
    rhs[first] = gb
    c = spsolve(mat, rhs)
    flux = 0.5 * (np.sum(gb * (1 - c[first])) + np.sum(gb * c[last]))
    d_eff = flux * m.shape[0] * spm[0] / (vol * m.size / (spm[0] * m.shape[0]))
    return m.mean() / d_eff, d_eff


@pytest.mark.parametrize(
    ("shape", "seed", "axis"), [((36, 33, 31), 0, 0), ((30, 41, 28), 1, 1), ((25, 27, 45), 2, 2)]
)
def test_multigrid_equals_direct_solve_on_random_volumes(shape, seed, axis):
    m = blobs(shape, 1.6, seed, level=0.48)  # odd sizes: blocks of 1 at the far end of the coarse grids
    tau_ref, d_ref = direct_tau(m, axis)
    for method in ("multigrid", "jacobi"):
        tau, d_eff, n_iter = solve_tortuosity_factor(m, axis, (1.0, 1.0, 1.0), rtol=1e-12, method=method)
        assert tau == pytest.approx(tau_ref, rel=1e-9)
        assert d_eff == pytest.approx(d_ref, rel=1e-9)
        assert n_iter > 0
    assert solve_tortuosity_factor(m, axis, (1.0, 1.0, 1.0), rtol=1e-12)[2] < 40  # multigrid, not Jacobi


def test_anisotropic_voxels_equal_direct_solve():
    m = blobs((26, 23, 29), 1.5, 3, level=0.47)
    sp = (2.0, 1.0, 0.5)
    for axis in range(3):
        tau_ref, _ = direct_tau(m, axis, sp)
        assert solve_tortuosity_factor(m, axis, sp, rtol=1e-12)[0] == pytest.approx(tau_ref, rel=1e-9)


@pytest.mark.parametrize("method", ["multigrid", "jacobi"])
def test_tau_error_is_below_rtol_and_tau_is_never_high(method):
    m = blobs((48, 44, 40), 1.8, 4, level=0.5)
    tau_ref, _ = direct_tau(m, 0)
    iterations = []
    for rtol in (1e-2, 1e-3, 1e-4, 1e-6):
        tau, _, n_iter = solve_tortuosity_factor(m, 0, (1.0, 1.0, 1.0), rtol=rtol, method=method)
        # the dissipated power of any trial field exceeds the true flux: τ is approached from below
        assert tau_ref * (1 - rtol) <= tau <= tau_ref * (1 + 1e-12)
        iterations.append(n_iter)
    assert iterations == sorted(iterations) and iterations[0] < iterations[-1]


def test_a_breakdown_of_multigrid_cg_falls_back_to_jacobi(monkeypatch):
    import semlab.quantify._diffusion as diffusion

    m = blobs((36, 33, 31), 1.6, 0, level=0.48)
    tau_ref, _ = direct_tau(m, 0)
    calls = []
    jacobi = diffusion._solve_jacobi
    monkeypatch.setattr(diffusion, "_solve_jacobi", lambda *a: calls.append(1) or jacobi(*a))
    assert solve_tortuosity_factor(m, 0, (1.0, 1.0, 1.0), rtol=1e-12)[0] == pytest.approx(tau_ref, rel=1e-9)
    assert not calls
    cycle = diffusion._cycle

    def negative_cycle(levels, g, i=0):  # a negative-definite preconditioner: r·z < 0
        cycle(levels, g, i)
        levels[i].x *= -1

    monkeypatch.setattr(diffusion, "_cycle", negative_cycle)
    assert solve_tortuosity_factor(m, 0, (1.0, 1.0, 1.0), rtol=1e-12)[0] == pytest.approx(tau_ref, rel=1e-9)
    assert calls == [1]


def test_clusters_off_the_path_carry_no_flux():
    m = np.zeros((30, 20, 20), bool)
    m[:, 3:6, 3:6] = True  # a straight channel
    base = solve_tortuosity_factor(m, 0, (1.0, 1.0, 1.0), rtol=1e-12)
    m[:12, 12:16, 12:16] = True  # touches the inlet only: a dead end
    m[10:20, 9, 9] = True  # touches neither face
    tau, d_eff, _ = solve_tortuosity_factor(m, 0, (1.0, 1.0, 1.0), rtol=1e-12)
    assert d_eff == pytest.approx(base[1], rel=1e-12)  # same flux
    assert tau == pytest.approx(m.mean() / d_eff)  # ε counts every phase voxel (TauFactor's definition)
    assert tau == pytest.approx(direct_tau(m, 0)[0], rel=1e-9)


def test_no_percolating_path_gives_nan_and_a_warning():
    m = blobs((32, 30, 30), 1.5, 5, level=0.45)
    m[14:16] = False  # a blocking layer across axis 0
    assert solve_tortuosity_factor(m, 0, (1.0, 1.0, 1.0))[:2] == (pytest.approx(math.nan, nan_ok=True), 0.0)
    with pytest.warns(QuantifyWarning, match="does not connect"):
        t = tortuosity_factor(m.view(np.uint8), phase=1, axes=(0, 1))
    assert math.isnan(t.values[0]) and np.isfinite(t.values[1])
    assert t.values[1] == pytest.approx(direct_tau(m, 1)[0], rel=1e-5)


@pytest.mark.parametrize("length", [1, 2, 3])
def test_thin_volumes_along_the_transport_axis(length):
    # one slice touches both faces (diagonal 2 gb); the fused passes lag two planes behind
    m = blobs((length, 40, 38), 1.2, 7, level=0.5)
    tau = solve_tortuosity_factor(m, 0, (1.0, 1.0, 1.0), rtol=1e-12)[0]
    assert tau == pytest.approx(direct_tau(m, 0)[0], rel=1e-9)
    if length == 1:
        assert tau == pytest.approx(1.0)  # straight: every voxel is its own channel


def test_two_dimensional_images():
    m = blobs((70, 64), 2.0, 6, level=0.45)
    for axis in (0, 1):
        tau = solve_tortuosity_factor(m, axis, (1.0, 1.0), rtol=1e-12)[0]
        assert tau == pytest.approx(direct_tau(m[..., None], axis)[0], rel=1e-9)
        assert tau > 1.0


def test_staircase_path_gives_the_square_of_its_length_ratio():
    # a one-voxel path: one voxel on each face, w sideways then one down in each slice between;
    # every voxel in series, so tau = (n / L)^2 for its n voxels.  Jacobi CG needs ~n iterations.
    length, w = 40, 2
    vol = np.zeros((length, 3, length * w + 3), bool)
    vol[0, 1, 1] = True
    for i in range(1, length - 1):
        vol[i, 1, 1 + (i - 1) * w : 2 + i * w] = True
    vol[-1, 1, 1 + (length - 2) * w] = True
    n = int(vol.sum())
    assert n == 2 + (length - 2) * (w + 1)
    tau, _, n_iter = solve_tortuosity_factor(vol, 0, (1.0, 1.0, 1.0), rtol=1e-10)
    assert tau == pytest.approx((n / length) ** 2, rel=1e-8)
    assert n_iter < solve_tortuosity_factor(vol, 0, (1.0, 1.0, 1.0), rtol=1e-10, method="jacobi")[2]


@pytest.mark.slow
def test_real_electrode_pores_against_direct_solve():
    if not VOLUME.is_file():
        pytest.skip(f"{VOLUME} not found")
    from semlab.io import read_volume

    m = read_volume(VOLUME).data[:56, :56, :56] == 0
    tau_ref, _ = direct_tau(m, 0)
    tau, _, n_iter = solve_tortuosity_factor(m, 0, (1.0, 1.0, 1.0))  # default rtol 1e-6
    assert abs(tau - tau_ref) / tau_ref <= 1e-6
    assert n_iter <= 25


def test_descriptor_table_and_the_cli_give_the_tortuosity_factor_on_request(tmp_path):
    """``three_d={"diffusion": True}`` / ``semlab quantify --3d --diffusion`` fill the
    tortuosity-factor columns with :func:`tortuosity_factor`'s values; plain --3d leaves them empty."""
    import pandas as pd

    from semlab.cli import main
    from semlab.errors import ParameterError
    from semlab.quantify import descriptor_table

    vol = (ndi.gaussian_filter(np.random.default_rng(0).random((16, 18, 20)), 1.5) > 0.5).astype(np.uint8)
    want = tortuosity_factor(vol, phase=1, axes=(0, 1, 2)).values
    df = descriptor_table([vol], three_d={"diffusion": True}, phase=1)
    got = [df.loc[0, f"tortuosity_factor_axis{a}"] for a in range(3)]
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert pd.isna(descriptor_table([vol], three_d=True, phase=1).loc[0, "tortuosity_factor_axis0"])
    with pytest.raises(ParameterError, match="not describe_3d options"):
        descriptor_table([vol], three_d={"difusion": True})
    np.save(tmp_path / "v.npy", vol)
    assert (
        main(["quantify", str(tmp_path / "v.npy"), "--3d", "--diffusion", "-o", str(tmp_path / "t.csv")]) == 0
    )
    row = pd.read_csv(tmp_path / "t.csv").iloc[0]
    np.testing.assert_allclose([row[f"tortuosity_factor_axis{a}"] for a in range(3)], want, rtol=1e-9)
    assert main(["quantify", str(tmp_path / "v.npy"), "--diffusion", "-o", str(tmp_path / "u.csv")]) == 2
