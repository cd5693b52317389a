"""numba kernels of the multigrid-preconditioned diffusion solver (:mod:`._diffusion`).

Imported only inside :func:`semlab.quantify._diffusion.solve_tortuosity_factor` (numba is heavy to
import).  Every array is a 3-D grid padded with one layer of zeros on each side, so no kernel
checks bounds; a cell is *active* when its diagonal is positive, and an inactive cell keeps the
value 0 in every vector.  ``c0[i, j, k]`` is the conductance between ``(i, j, k)`` and
``(i + 1, j, k)`` (likewise ``c1``, ``c2`` along axes 1 and 2), 0 where either cell is inactive.
"""

from __future__ import annotations

import numpy as np

from semlab.quantify._numba import jit

#: floating-point flags that let LLVM vectorise a sum (its order of additions changes)
_REDUCE = {"reassoc", "nsz", "contract"}


@jit
def _rb_plane(x, b, invd, c0, c1, c2, i, colour, row):  # pragma: no cover - compiled
    # The new values of one colour read only the other colour's, so each row is computed whole
    # (contiguous, vectorised) into ``row``, blended with the old values and copied back.
    n1, n2 = x.shape[1], x.shape[2]
    for j in range(1, n1 - 1):
        parity = (i + j + colour + 1) & 1
        for k in range(1, n2 - 1):
            s = (
                b[i, j, k]
                + c0[i - 1, j, k] * x[i - 1, j, k]
                + c0[i, j, k] * x[i + 1, j, k]
                + c1[i, j - 1, k] * x[i, j - 1, k]
                + c1[i, j, k] * x[i, j + 1, k]
                + c2[i, j, k - 1] * x[i, j, k - 1]
                + c2[i, j, k] * x[i, j, k + 1]
            )
            row[k] = s * invd[i, j, k] if (k & 1) == parity else x[i, j, k]
        for k in range(1, n2 - 1):
            x[i, j, k] = row[k]


@jit
def residual_restrict(x, b, d, c0, c1, c2, bc):  # pragma: no cover - compiled
    """``bc`` ← sum of ``b - A x`` over the 2 × 2 × 2 blocks (``bc`` is the coarse grid)."""
    bc[:] = 0.0
    row = np.zeros(x.shape[2] + 1, x.dtype)
    for i in range(1, x.shape[0] - 1):
        _restrict_plane(x, b, d, c0, c1, c2, bc, i, row)


@jit
def prolong_add(x, invd, xc, alpha):  # pragma: no cover - compiled
    """``x`` += ``alpha`` × the coarse correction ``xc`` of each cell's block (active cells only)."""
    for i in range(1, x.shape[0] - 1):
        _prolong_plane(x, invd, xc, alpha, i)


@jit
def coarsen(d, c0, c1, c2, dc, c0c, c1c, c2c):  # pragma: no cover - compiled
    """Galerkin operator of 2 × 2 × 2 aggregation (piecewise-constant prolongation).

    Conductances crossing a block face add up; the diagonal of a block is the sum of its cells'
    diagonals less twice its internal conductances, so it keeps the boundary (Dirichlet) terms.
    """
    n0, n1, n2 = d.shape
    for i in range(1, n0 - 1):
        ci = (i + 1) // 2
        for j in range(1, n1 - 1):
            cj = (j + 1) // 2
            for k in range(1, n2 - 1):
                ck = (k + 1) // 2
                v = d[i, j, k]
                if i % 2 == 1:
                    v -= 2.0 * c0[i, j, k]
                else:
                    c0c[ci, cj, ck] += c0[i, j, k]
                if j % 2 == 1:
                    v -= 2.0 * c1[i, j, k]
                else:
                    c1c[ci, cj, ck] += c1[i, j, k]
                if k % 2 == 1:
                    v -= 2.0 * c2[i, j, k]
                else:
                    c2c[ci, cj, ck] += c2[i, j, k]
                dc[ci, cj, ck] += v


@jit(fastmath=_REDUCE)
def matvec_dot(p, d, g0, g1, g2, out):  # pragma: no cover - compiled
    """``out`` ← A ``p`` on the fine grid (uniform conductances ``g0, g1, g2``); returns ``p·out``."""
    n0, n1, n2 = p.shape
    acc = 0.0
    for i in range(1, n0 - 1):
        for j in range(1, n1 - 1):
            for k in range(1, n2 - 1):
                s = (
                    d[i, j, k] * p[i, j, k]
                    - g0 * (p[i - 1, j, k] + p[i + 1, j, k])
                    - g1 * (p[i, j - 1, k] + p[i, j + 1, k])
                    - g2 * (p[i, j, k - 1] + p[i, j, k + 1])
                )
                s = s if d[i, j, k] > 0 else 0.0
                out[i, j, k] = s
                acc += s * p[i, j, k]
    return acc


@jit
def cg_update(x, r, p, ap, alpha, r32):  # pragma: no cover - compiled
    """``x += alpha p``, ``r -= alpha ap`` and ``r32`` ← ``r`` (the preconditioner's input)."""
    xf, rf, pf, af, r32f = x.ravel(), r.ravel(), p.ravel(), ap.ravel(), r32.ravel()
    for n in range(xf.size):
        xf[n] += alpha * pf[n]
        v = rf[n] - alpha * af[n]
        rf[n] = v
        r32f[n] = v


@jit(fastmath=_REDUCE)
def dot(a, b):  # pragma: no cover - compiled
    af, bf = a.ravel(), b.ravel()
    acc = 0.0
    for n in range(af.size):
        acc += af[n] * bf[n]
    return acc


@jit
def direction(p, z, beta):  # pragma: no cover - compiled
    """``p`` ← ``z + beta p``."""
    pf, zf = p.ravel(), z.ravel()
    for n in range(pf.size):
        pf[n] = zf[n] + beta * pf[n]


# ----------------------------------------------------------------------------- the fine grid
# Uniform conductances g0, g1, g2 between active neighbours: as inactive cells hold 0, the sum of
# g x over all six neighbours is the sum over the active ones, and no conductance array is read.


@jit
def _rb_plane_fine(x, b, invd, g0, g1, g2, i, colour, row):  # pragma: no cover - compiled
    n1, n2 = x.shape[1], x.shape[2]
    for j in range(1, n1 - 1):
        parity = (i + j + colour + 1) & 1
        for k in range(1, n2 - 1):
            s = (
                b[i, j, k]
                + g0 * (x[i - 1, j, k] + x[i + 1, j, k])
                + g1 * (x[i, j - 1, k] + x[i, j + 1, k])
                + g2 * (x[i, j, k - 1] + x[i, j, k + 1])
            )
            row[k] = s * invd[i, j, k] if (k & 1) == parity else x[i, j, k]
        for k in range(1, n2 - 1):
            x[i, j, k] = row[k]


@jit
def residual_restrict_fine(x, b, d, g0, g1, g2, bc):  # pragma: no cover - compiled
    """:func:`residual_restrict` on the fine grid."""
    bc[:] = 0.0
    row = np.zeros(x.shape[2] + 1, x.dtype)
    for i in range(1, x.shape[0] - 1):
        _restrict_plane_fine(x, b, d, g0, g1, g2, bc, i, row)


@jit
def coarsen_fine(keep, d, g0, g1, g2, dc, c0c, c1c, c2c):  # pragma: no cover - compiled
    """:func:`coarsen` of the fine grid, its conductances ``g`` between cells both in ``keep``."""
    n0, n1, n2 = d.shape
    for i in range(1, n0 - 1):
        ci = (i + 1) // 2
        for j in range(1, n1 - 1):
            cj = (j + 1) // 2
            for k in range(1, n2 - 1):
                if not keep[i, j, k]:
                    continue
                ck = (k + 1) // 2
                v = d[i, j, k]
                a0 = g0 if keep[i + 1, j, k] else 0.0
                a1 = g1 if keep[i, j + 1, k] else 0.0
                a2 = g2 if keep[i, j, k + 1] else 0.0
                if i % 2 == 1:
                    v -= 2.0 * a0
                else:
                    c0c[ci, cj, ck] += a0
                if j % 2 == 1:
                    v -= 2.0 * a1
                else:
                    c1c[ci, cj, ck] += a1
                if k % 2 == 1:
                    v -= 2.0 * a2
                else:
                    c2c[ci, cj, ck] += a2
                dc[ci, cj, ck] += v


@jit
def diagonal(keep, g0, g1, g2, gb, d):  # pragma: no cover - compiled
    """``d`` ← the diagonal of the fine operator (``gb`` to the first and last layer)."""
    n0, n1, n2 = keep.shape
    for i in range(1, n0 - 1):
        for j in range(1, n1 - 1):
            for k in range(1, n2 - 1):
                if keep[i, j, k]:
                    v = g0 * (keep[i - 1, j, k] + keep[i + 1, j, k])
                    v += g1 * (keep[i, j - 1, k] + keep[i, j + 1, k])
                    v += g2 * (keep[i, j, k - 1] + keep[i, j, k + 1])
                    if i == 1:
                        v += gb
                    if i == n0 - 2:
                        v += gb
                    d[i, j, k] = v


# ----------------------------------------------------------------------------- fused passes
# Pre-smoothing with the residual's restriction, and the coarse correction with post-smoothing,
# each in one pass over the planes: plane i - 2 is final once plane i has its first colour and
# plane i - 1 its second, so its residual (or its second colour) can follow at once.


@jit
def _restrict_plane(x, b, d, c0, c1, c2, bc, i, row):  # pragma: no cover - compiled
    """Add the residual of plane ``i`` to its coarse plane (``row``: n2 + 1 scratch, last 0)."""
    n1, n2 = x.shape[1], x.shape[2]
    ci = (i + 1) // 2
    for j in range(1, n1 - 1):
        for k in range(1, n2 - 1):
            row[k] = (
                b[i, j, k]
                - d[i, j, k] * x[i, j, k]
                + c0[i - 1, j, k] * x[i - 1, j, k]
                + c0[i, j, k] * x[i + 1, j, k]
                + c1[i, j - 1, k] * x[i, j - 1, k]
                + c1[i, j, k] * x[i, j + 1, k]
                + c2[i, j, k - 1] * x[i, j, k - 1]
                + c2[i, j, k] * x[i, j, k + 1]
            )
        _add_pairs(row, bc, ci, (j + 1) // 2)


@jit
def _restrict_plane_fine(x, b, d, g0, g1, g2, bc, i, row):  # pragma: no cover - compiled
    n1, n2 = x.shape[1], x.shape[2]
    ci = (i + 1) // 2
    for j in range(1, n1 - 1):
        for k in range(1, n2 - 1):
            r = (
                b[i, j, k]
                - d[i, j, k] * x[i, j, k]
                + g0 * (x[i - 1, j, k] + x[i + 1, j, k])
                + g1 * (x[i, j - 1, k] + x[i, j + 1, k])
                + g2 * (x[i, j, k - 1] + x[i, j, k + 1])
            )
            row[k] = r if d[i, j, k] > 0 else 0.0
        _add_pairs(row, bc, ci, (j + 1) // 2)


@jit
def _add_pairs(row, bc, ci, cj):  # pragma: no cover - compiled
    # row[n2 - 1] (the padding) stays 0, so a last block of one cell (odd n2 - 2) adds that cell
    for ck in range(1, bc.shape[2] - 1):
        bc[ci, cj, ck] += row[2 * ck - 1] + row[2 * ck]


@jit
def _prolong_plane(x, invd, xc, alpha, i):  # pragma: no cover - compiled
    n1 = x.shape[1]
    ci = (i + 1) // 2
    for j in range(1, n1 - 1):
        cj = (j + 1) // 2
        for ck in range(1, xc.shape[2] - 1):  # the cells 2 ck - 1 and 2 ck (padding: invd 0)
            v = alpha * xc[ci, cj, ck]
            a, b = 2 * ck - 1, 2 * ck
            x[i, j, a] += v if invd[i, j, a] > 0 else 0.0
            x[i, j, b] += v if invd[i, j, b] > 0 else 0.0


@jit
def presmooth_restrict(x, b, invd, d, c0, c1, c2, bc):  # pragma: no cover - compiled
    """``x`` ← one red-black sweep (colour 0 first) from 0; ``bc`` ← restricted residual."""
    n0 = x.shape[0]
    rows = np.zeros(x.shape[2], x.dtype)
    x[:] = 0.0
    bc[:] = 0.0
    row = np.zeros(x.shape[2] + 1, x.dtype)
    for i in range(1, n0 - 1):
        _rb_plane(x, b, invd, c0, c1, c2, i, 0, rows)
        if i > 1:
            _rb_plane(x, b, invd, c0, c1, c2, i - 1, 1, rows)
        if i > 2:
            _restrict_plane(x, b, d, c0, c1, c2, bc, i - 2, row)
    _rb_plane(x, b, invd, c0, c1, c2, n0 - 2, 1, rows)
    if n0 - 3 >= 1:
        _restrict_plane(x, b, d, c0, c1, c2, bc, n0 - 3, row)
    _restrict_plane(x, b, d, c0, c1, c2, bc, n0 - 2, row)


@jit
def correct_postsmooth(x, b, invd, c0, c1, c2, xc, alpha):  # pragma: no cover - compiled
    """``x`` += ``alpha`` × prolonged ``xc``, then one red-black sweep (colour 1 first)."""
    n0 = x.shape[0]
    rows = np.zeros(x.shape[2], x.dtype)
    for i in range(1, n0 - 1):
        _prolong_plane(x, invd, xc, alpha, i)
        if i > 1:
            _rb_plane(x, b, invd, c0, c1, c2, i - 1, 1, rows)
        if i > 2:
            _rb_plane(x, b, invd, c0, c1, c2, i - 2, 0, rows)
    _rb_plane(x, b, invd, c0, c1, c2, n0 - 2, 1, rows)
    if n0 - 3 >= 1:
        _rb_plane(x, b, invd, c0, c1, c2, n0 - 3, 0, rows)
    _rb_plane(x, b, invd, c0, c1, c2, n0 - 2, 0, rows)


@jit
def presmooth_restrict_fine(x, b, invd, d, g0, g1, g2, bc):  # pragma: no cover - compiled
    """:func:`presmooth_restrict` on the fine grid."""
    n0 = x.shape[0]
    rows = np.zeros(x.shape[2], x.dtype)
    x[:] = 0.0
    bc[:] = 0.0
    row = np.zeros(x.shape[2] + 1, x.dtype)
    for i in range(1, n0 - 1):
        _rb_plane_fine(x, b, invd, g0, g1, g2, i, 0, rows)
        if i > 1:
            _rb_plane_fine(x, b, invd, g0, g1, g2, i - 1, 1, rows)
        if i > 2:
            _restrict_plane_fine(x, b, d, g0, g1, g2, bc, i - 2, row)
    _rb_plane_fine(x, b, invd, g0, g1, g2, n0 - 2, 1, rows)
    if n0 - 3 >= 1:
        _restrict_plane_fine(x, b, d, g0, g1, g2, bc, n0 - 3, row)
    _restrict_plane_fine(x, b, d, g0, g1, g2, bc, n0 - 2, row)


@jit
def correct_postsmooth_fine(x, b, invd, g0, g1, g2, xc, alpha):  # pragma: no cover - compiled
    """:func:`correct_postsmooth` on the fine grid."""
    n0 = x.shape[0]
    rows = np.zeros(x.shape[2], x.dtype)
    for i in range(1, n0 - 1):
        _prolong_plane(x, invd, xc, alpha, i)
        if i > 1:
            _rb_plane_fine(x, b, invd, g0, g1, g2, i - 1, 1, rows)
        if i > 2:
            _rb_plane_fine(x, b, invd, g0, g1, g2, i - 2, 0, rows)
    _rb_plane_fine(x, b, invd, g0, g1, g2, n0 - 2, 1, rows)
    if n0 - 3 >= 1:
        _rb_plane_fine(x, b, invd, g0, g1, g2, n0 - 3, 0, rows)
    _rb_plane_fine(x, b, invd, g0, g1, g2, n0 - 2, 0, rows)
