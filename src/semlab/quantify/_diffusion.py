"""Steady-state diffusion through one phase of a voxel volume: the tortuosity factor.

Finite volumes on the voxel grid (the discretisation TauFactor uses): each phase voxel is a
node; face-neighbouring phase voxels exchange flux with conductance ``D A / Δx``; the inlet
face (index 0 of the axis) is held at concentration 1 and the outlet face (last index) at 0,
half a voxel outside the first and last layer (conductance ``2 D A / Δx``); every other
boundary — the other phase and the side faces — is closed.  Only the clusters that touch both
faces (6-connectivity) are solved for: the others carry no flux (a cluster touching one face
sits at that face's concentration), so τ is the same as for the whole phase.

With the flux ``J`` through the volume, :math:`D_\\text{eff} = J L / (A\\,\\Delta c)` and the
tortuosity factor is :math:`\\tau = \\varepsilon D / D_\\text{eff}` (ε the phase fraction), which
is 1 for straight channels and :math:`(n / L)^2` for a one-voxel-wide path of ``n`` voxels.

Solver.  Conjugate gradients from the linear profile, preconditioned by one multigrid cycle
(numba kernels, :mod:`._diffusion_kernels`): red-black Gauss-Seidel smoothing, Galerkin coarse
grids by aggregating 2 × 2 × 2 blocks (again 7-point conductance grids, so the same kernels
serve every level), one coarse correction from the voxel grid and three from each coarser grid,
each scaled by 1.6 (aggregation under-corrects), a dense solve on the coarsest.  On TauFactor's
128³ electrode at the default ``rtol``: 19 iterations for the pores (Jacobi-preconditioned CG:
648), 23-31 for the active material and 36-39 for the carbon-binder.  Should CG break down
(``r·z ≤ 0``: the cycle not positive definite), Jacobi-preconditioned CG solves instead.

Flux and stopping rule.  The flux is read from the dissipated power
``W(c) = Σ g (c_i - c_j)^2`` (boundary terms included), which at the solution equals ``J Δc``
and for any trial field exceeds it by ``‖c - c*‖_A^2``: its error is quadratic in the field's,
so τ is approached from below, never from above, and CG lowers ``W`` by exactly
``α_k r_k·z_k`` per step.  The solve stops when the last ``delay`` (4) steps together lowered
``W`` by at most ``rtol W``: that decrease is a lower bound of the relative error of the iterate
4 steps back (Hestenes-Stiefel, Strakoš-Tichý), and the returned iterate is more accurate still.
Measured on the electrode's three phases against solves to ``rtol`` 1e-12: the error of τ was
at most 0.34 ``rtol`` at ``rtol`` 1e-3, 1e-4 and 1e-6 (a delay of 2 gave up to 1.5 ``rtol``).
Without numba, Jacobi-preconditioned CG on a scipy sparse matrix solves the same system with
the same rule (a delay of 100 steps, as it converges slowly).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

#: iterations whose decrease of the dissipated power bounds the error (multigrid / Jacobi CG)
_DELAY_MG, _DELAY_JACOBI = 4, 100
#: multigrid settings: coarse-grid correction factor (unsmoothed aggregation under-corrects),
#: recursions per coarse level (the fine grid: 1) and the size of the dense coarsest solve;
#: measured best of 1.0-1.85 x 2-3 on the electrode's three phases (1.85 broke CG down)
_ALPHA, _GAMMA, _GAMMA_FINE, _COARSEST = 1.6, 3, 1, 300


@dataclass(frozen=True)
class _System:
    keep: np.ndarray  # (n0+2, n1+2, n2+2) bool, padded with False: the cells solved for
    g: tuple[float, float, float]  # conductance between neighbours along each axis
    gb: float  # conductance to the inlet/outlet concentration
    inlet: np.ndarray  # the right-hand side on the inlet layer (gb on kept cells); 0 elsewhere


def solve_tortuosity_factor(
    mask: np.ndarray,
    axis: int,
    sp: tuple[float, ...],
    *,
    rtol: float = 1e-6,
    max_iter: int = 20000,
    method: str = "auto",
) -> tuple[float, float, int]:
    """τ, effective relative diffusivity ``D_eff / D`` and CG iterations for ``mask`` along ``axis``.

    ``rtol`` is the relative accuracy of the flux (and of τ) at which the solve stops;
    ``method`` is ``"multigrid"`` (numba), ``"jacobi"`` (scipy) or ``"auto"`` (multigrid when
    numba imports).  Returns ``(nan, 0.0, 0)`` when the phase does not connect the two faces.
    """
    m = np.moveaxis(np.ascontiguousarray(mask, dtype=bool), axis, 0)
    spm = (float(sp[axis]),) + tuple(float(s) for i, s in enumerate(sp) if i != axis)
    if m.ndim == 2:
        m, spm = m[..., None], spm + (1.0,)
    eps = float(np.count_nonzero(m)) / m.size
    system = _assemble(m, spm)
    if system is None:
        return math.nan, 0.0, 0
    if method == "auto":
        try:
            import numba  # noqa: F401
        except ImportError:
            method = "jacobi"
        else:
            method = "multigrid"
    result = _solve_multigrid(system, rtol, max_iter) if method == "multigrid" else None
    power, n_iter = result or _solve_jacobi(system, rtol, max_iter)
    length = m.shape[0]
    area = float(np.prod(spm)) * m.size / (spm[0] * length)  # cross-section of the volume
    d_eff = power * length * spm[0] / area  # Δc = 1, D = 1
    return (eps / d_eff if d_eff > 0 else math.nan), d_eff, n_iter


def _assemble(m: np.ndarray, spm: tuple[float, ...]) -> _System | None:
    lab, n = ndi.label(m)  # face (6-) connectivity: diffusion crosses faces only
    inlet, outlet = np.unique(lab[0]), np.unique(lab[-1])
    through = np.intersect1d(inlet[inlet > 0], outlet[outlet > 0])
    if len(through) == 0:
        return None
    selected = np.zeros(n + 1, bool)
    selected[through] = True
    keep = np.pad(selected[lab], 1)
    vol = float(np.prod(spm))
    gb = 2.0 * vol / spm[0] ** 2
    inlet = keep[1] * gb
    g = tuple(vol / s**2 for s in spm)  # face area / distance between centres
    return _System(keep, (g[0], g[1], g[2]), gb, inlet)


def _start(system: _System) -> np.ndarray:
    """The linear profile from 1 at the inlet to 0 at the outlet, on the cells solved for."""
    length = system.keep.shape[0] - 2
    x = np.zeros(system.keep.shape)
    x[1:-1] = (1.0 - (np.arange(length) + 0.5) / length)[:, None, None]
    x *= system.keep
    return x


def _converged(power: list[float], delay: int, rtol: float) -> bool:
    return len(power) > delay and power[-1 - delay] - power[-1] <= rtol * power[-1]


# ----------------------------------------------------------------------------- multigrid (numba)


class _Level:
    """One grid of the hierarchy; ``c is None`` on the fine grid (uniform conductances)."""

    def __init__(self, diag: np.ndarray, c: tuple[np.ndarray, np.ndarray, np.ndarray] | None):
        self.diag, self.c = diag, c
        self.invd = np.divide(1.0, diag, out=np.zeros_like(diag), where=diag > 0)
        self.x = np.zeros_like(diag)
        self.b = np.zeros_like(diag)
        self.active = np.empty(0, np.intp)
        self.inverse = np.empty((0, 0), diag.dtype)


def _hierarchy(system: _System, diag: np.ndarray) -> list[_Level]:
    from semlab.quantify import _diffusion_kernels as k

    levels = [_Level(diag.astype(np.float32), None)]
    while True:
        fine = levels[-1]
        n = [s - 2 for s in fine.diag.shape]
        if np.count_nonzero(fine.diag) <= _COARSEST or max(n) <= 2:
            break
        shape = tuple((s + 1) // 2 + 2 for s in n)
        dc, c0, c1, c2 = (np.zeros(shape, np.float32) for _ in range(4))
        if fine.c is None:
            k.coarsen_fine(system.keep.view(np.uint8), fine.diag, *system.g, dc, c0, c1, c2)
        else:
            k.coarsen(fine.diag, *fine.c, dc, c0, c1, c2)
        np.maximum(dc, 0.0, out=dc)  # blocks without cells stay exactly 0
        levels.append(_Level(dc, (c0, c1, c2)))
    if levels[-1].c is None:  # a small volume: the fine grid is the coarsest
        levels[-1].c = _fine_conductances(system)
    _dense_inverse(levels[-1])
    return levels


def _fine_conductances(system: _System) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    keep, out = system.keep, []
    for ax in range(3):
        lo, hi = [slice(None)] * 3, [slice(None)] * 3
        lo[ax], hi[ax] = slice(0, -1), slice(1, None)
        ca = np.zeros(keep.shape, np.float32)
        ca[tuple(lo)] = (keep[tuple(lo)] & keep[tuple(hi)]) * np.float32(system.g[ax])
        out.append(ca)
    return out[0], out[1], out[2]


def _dense_inverse(level: _Level) -> None:
    assert level.c is not None
    d = level.diag.ravel()
    active = np.flatnonzero(d > 0)
    pos = np.full(d.size, -1)
    pos[active] = np.arange(len(active))
    a = np.diag(d[active].astype(np.float64))
    ny, nz = level.diag.shape[1:]
    for ca, step in zip(level.c, (ny * nz, nz, 1), strict=True):
        cf = ca.ravel()[active].astype(np.float64)
        nb = np.minimum(active + step, d.size - 1)
        ok = (cf > 0) & (pos[nb] >= 0)
        i, j = np.arange(len(active))[ok], pos[nb][ok]
        a[i, j] -= cf[ok]
        a[j, i] -= cf[ok]
    level.active = active
    level.inverse = np.linalg.inv(a).astype(level.diag.dtype)


def _cycle(levels: list[_Level], g: tuple[float, float, float], i: int = 0) -> None:
    """``levels[i].x`` ← the cycle's approximation of ``A⁻¹ levels[i].b`` (symmetric in ``b``)."""
    from semlab.quantify import _diffusion_kernels as k

    lv = levels[i]
    if i == len(levels) - 1:
        lv.x.ravel()[lv.active] = lv.inverse @ lv.b.ravel()[lv.active]
        return
    coarse, c = levels[i + 1], lv.c
    if c is None:  # the fine grid: uniform conductances g
        k.presmooth_restrict_fine(lv.x, lv.b, lv.invd, lv.diag, g[0], g[1], g[2], coarse.b)
    else:
        k.presmooth_restrict(lv.x, lv.b, lv.invd, lv.diag, c[0], c[1], c[2], coarse.b)
    _cycle(levels, g, i + 1)
    for _ in range((_GAMMA if i else _GAMMA_FINE) - 1 if i < len(levels) - 2 else 0):
        k.prolong_add(lv.x, lv.invd, coarse.x, _ALPHA)
        if c is None:
            k.residual_restrict_fine(lv.x, lv.b, lv.diag, g[0], g[1], g[2], coarse.b)
        else:
            k.residual_restrict(lv.x, lv.b, lv.diag, c[0], c[1], c[2], coarse.b)
        _cycle(levels, g, i + 1)
    if c is None:
        k.correct_postsmooth_fine(lv.x, lv.b, lv.invd, g[0], g[1], g[2], coarse.x, _ALPHA)
    else:
        k.correct_postsmooth(lv.x, lv.b, lv.invd, c[0], c[1], c[2], coarse.x, _ALPHA)


def _solve_multigrid(system: _System, rtol: float, max_iter: int) -> tuple[float, int] | None:
    """Dissipated power and iterations; ``None`` if CG breaks down (the caller falls back to Jacobi)."""
    from semlab.quantify import _diffusion_kernels as k

    g0, g1, g2 = system.g
    diag = np.zeros(system.keep.shape)
    k.diagonal(system.keep.view(np.uint8), g0, g1, g2, system.gb, diag)
    levels = _hierarchy(system, diag)
    top = levels[0]
    x = _start(system)
    ap = np.zeros_like(x)  # the padding stays 0
    k.matvec_dot(x, diag, g0, g1, g2, ap)
    r = -ap
    r[1] += system.inlet
    top.b[:] = r
    s = float(system.inlet.sum())
    power = [s - k.dot(system.inlet, x[1]) - k.dot(r, x)]
    _cycle(levels, system.g)
    p = top.x.astype(np.float64)
    rz = k.dot(r, top.x)
    it = 0
    tiny = 1e-28 * k.dot(system.inlet, system.inlet)
    while it < max_iter and not _converged(power, _DELAY_MG, rtol):
        if not rz > 0:  # r = 0 (exact, e.g. straight channels) or an indefinite preconditioner
            if k.dot(r, r) <= tiny:
                break
            return None
        pap = k.matvec_dot(p, diag, g0, g1, g2, ap)
        if not pap > 0:
            return None
        alpha = rz / pap
        k.cg_update(x, r, p, ap, alpha, top.b)
        power.append(power[-1] - alpha * rz)
        it += 1
        _cycle(levels, system.g)
        rz_new = k.dot(r, top.x)
        k.direction(p, top.x, rz_new / rz)
        rz = rz_new
    k.matvec_dot(x, diag, g0, g1, g2, ap)  # the dissipated power from the true residual
    np.negative(ap, out=ap)
    ap[1] += system.inlet
    return s - k.dot(system.inlet, x[1]) - k.dot(ap, x), it


# ----------------------------------------------------------------------------- Jacobi CG (scipy)


def _solve_jacobi(system: _System, rtol: float, max_iter: int) -> tuple[float, int]:
    from scipy.sparse import coo_matrix

    keep = system.keep
    index = np.full(keep.shape, -1, np.int64)
    n_unknown = int(np.count_nonzero(keep))
    index[keep] = np.arange(n_unknown)
    diag = np.zeros(keep.shape)
    rows, cols, vals = [np.arange(n_unknown)], [np.arange(n_unknown)], []
    for ax in range(3):
        lo, hi = [slice(None)] * 3, [slice(None)] * 3
        lo[ax], hi[ax] = slice(0, -1), slice(1, None)
        both = keep[tuple(lo)] & keep[tuple(hi)]
        i, j = index[tuple(lo)][both], index[tuple(hi)][both]
        rows += [i, j]
        cols += [j, i]
        vals += [np.full(2 * len(i), -system.g[ax])]
        diag[tuple(lo)] += both * system.g[ax]
        diag[tuple(hi)] += both * system.g[ax]
    diag[1] += keep[1] * system.gb
    diag[-2] += keep[-2] * system.gb
    vals.insert(0, diag[keep])
    mat = coo_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n_unknown,) * 2
    ).tocsr()
    full = np.zeros(keep.shape)
    full[1] = system.inlet
    rhs = full[keep]
    x = _start(system)[keep]
    inv_diag = 1.0 / diag[keep]
    r = rhs - mat @ x
    s = float(rhs.sum())
    power = [s - _dot(rhs, x) - _dot(r, x)]
    z = inv_diag * r
    p = z.copy()
    rz = _dot(r, z)
    it = 0
    while it < max_iter and not _converged(power, _DELAY_JACOBI, rtol) and rz > 0:
        ap = mat @ p
        alpha = rz / _dot(p, ap)
        x += alpha * p
        r -= alpha * ap
        power.append(power[-1] - alpha * rz)
        it += 1
        z = inv_diag * r
        rz_new = _dot(r, z)
        p *= rz_new / rz
        p += z
        rz = rz_new
    return s - _dot(rhs, x) - _dot(rhs - mat @ x, x), it


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    # einsum, not BLAS: a BLAS dot on an oversubscribed machine spins its threads
    return float(np.einsum("i,i->", a, b))
