"""Steady-state diffusion through one phase of a voxel volume: the tortuosity factor.

Finite volumes on the voxel grid (the discretisation TauFactor uses): each phase voxel is a
node; face-neighbouring phase voxels exchange flux with conductance ``D A / Δx``; the inlet
face (index 0 of the axis) is held at concentration 1 and the outlet face (last index) at 0,
half a voxel outside the first and last layer (conductance ``2 D A / Δx``); every other
boundary — the other phase and the side faces — is closed.  The linear system is solved by
conjugate gradients with a Jacobi preconditioner, from the linear profile.  Clusters touching
neither face carry no flux and are left out (they would make the system singular).

With the flux ``J`` through the volume, :math:`D_\\text{eff} = J L / (A\\,\\Delta c)` and the
tortuosity factor is :math:`\\tau = \\varepsilon D / D_\\text{eff}` (ε the phase fraction), which
is 1 for straight channels and :math:`(n / L)^2` for a one-voxel-wide path of ``n`` voxels.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage as ndi


def solve_tortuosity_factor(
    mask: np.ndarray, axis: int, sp: tuple[float, ...], *, rtol: float = 1e-6, max_iter: int = 20000
) -> tuple[float, float, int]:
    """τ, effective relative diffusivity ``D_eff / D`` and CG iterations for ``mask`` along ``axis``.

    Returns ``(nan, 0.0, 0)`` when the phase does not connect the two faces (6-connectivity).
    """
    from scipy.sparse import coo_matrix

    m = np.moveaxis(np.ascontiguousarray(mask, dtype=bool), axis, 0)
    spm = (sp[axis],) + tuple(s for i, s in enumerate(sp) if i != axis)
    lab, n = ndi.label(m)  # face (6-) connectivity: diffusion crosses faces only
    inlet, outlet = np.unique(lab[0]), np.unique(lab[-1])
    through = np.intersect1d(inlet[inlet > 0], outlet[outlet > 0])
    eps = float(np.count_nonzero(m)) / m.size
    if len(through) == 0:
        return math.nan, 0.0, 0
    touching = np.zeros(n + 1, bool)
    touching[inlet] = True
    touching[outlet] = True
    touching[0] = False
    keep = touching[lab]
    index = np.full(m.shape, -1, np.int64)
    n_unknown = int(np.count_nonzero(keep))
    index[keep] = np.arange(n_unknown)
    vol = float(np.prod(spm))
    rows, cols, vals = [], [], []
    diag = np.zeros(n_unknown)
    for ax in range(m.ndim):
        g = vol / spm[ax] ** 2  # face area / distance between centres
        a = [slice(None)] * m.ndim
        b = [slice(None)] * m.ndim
        a[ax], b[ax] = slice(0, -1), slice(1, None)
        both = keep[tuple(a)] & keep[tuple(b)]
        i, j = index[tuple(a)][both], index[tuple(b)][both]
        rows += [i, j]
        cols += [j, i]
        vals += [np.full(len(i), -g), np.full(len(i), -g)]
        diag += np.bincount(i, minlength=n_unknown) * g + np.bincount(j, minlength=n_unknown) * g
    gb = 2.0 * vol / spm[0] ** 2
    first, last = index[0][keep[0]], index[-1][keep[-1]]
    diag[first] += gb
    diag[last] += gb
    rhs = np.zeros(n_unknown)
    rhs[first] = gb
    mat = coo_matrix(
        (
            np.concatenate(vals + [diag]),
            (np.concatenate(rows + [np.arange(n_unknown)]), np.concatenate(cols + [np.arange(n_unknown)])),
        ),
        shape=(n_unknown, n_unknown),
    ).tocsr()
    length = m.shape[0]
    profile = (1.0 - (np.arange(length) + 0.5) / length).reshape((-1,) + (1,) * (m.ndim - 1))
    x0 = np.broadcast_to(profile, m.shape)[keep]
    c, n_iter = _pcg(mat, rhs, x0, 1.0 / diag, rtol, max_iter)
    flux_in = float(np.sum(gb * (1.0 - c[first])))
    flux_out = float(np.sum(gb * c[last]))
    flux = 0.5 * (flux_in + flux_out)
    area = vol * m.size / (spm[0] * length)  # cross-section of the volume
    d_eff = flux * length * spm[0] / area  # Δc = 1, D = 1
    return (eps / d_eff if d_eff > 0 else math.nan), d_eff, n_iter


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    # einsum, not BLAS: a BLAS dot on an oversubscribed machine spins its threads
    return float(np.einsum("i,i->", a, b))


def _pcg(mat, rhs: np.ndarray, x0: np.ndarray, inv_diag: np.ndarray, rtol: float, max_iter: int):
    """Jacobi-preconditioned conjugate gradients; stops at ``|r| <= rtol |b|``."""
    x = np.array(x0, dtype=np.float64)
    r = rhs - mat @ x
    z = inv_diag * r
    p = z.copy()
    rz = _dot(r, z)
    target = rtol * math.sqrt(_dot(rhs, rhs))
    for it in range(max_iter):
        if math.sqrt(_dot(r, r)) <= target:
            return x, it
        ap = mat @ p
        alpha = rz / _dot(p, ap)
        x += alpha * p
        r -= alpha * ap
        z = inv_diag * r
        rz_new = _dot(r, z)
        p *= rz_new / rz
        p += z
        rz = rz_new
    return x, max_iter
