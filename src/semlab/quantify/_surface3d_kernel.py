"""The compiled kernel of the smoothed-normal surface area (:func:`semlab.quantify._surface3d.cube_surface_area`).

Imported only when a smoothed area is computed (numba is heavy to import).  One pass over the
volume, plane by plane along axis 0: each plane of the mask is smoothed along axes 2 and 1 into
a ring of ``2 r + 1`` planes, the Gaussian along axis 0 gives the smoothed plane ``i``, and the
cubes between planes ``i - 1`` and ``i`` are visited at once (their corner pattern, the gradient
of the trilinear interpolant of the smoothed mask at the cube centre, the tabulated triangles
projected on its direction).  No full-volume float array is made.  The machine code is cached
on disk where numba finds a writable cache folder; without one it is compiled in memory.
"""

from __future__ import annotations

import numpy as np

from semlab.quantify._numba import jit


@jit
def _along_rows(src, dst, w, buf):  # pragma: no cover - compiled
    """``dst`` = ``src`` (M, N) correlated with ``w`` along axis 1, edges repeated ("nearest")."""
    n_rows, n = src.shape
    r = (len(w) - 1) // 2
    for j in range(n_rows):
        for k in range(n + 2 * r):
            buf[k] = src[j, min(max(k - r, 0), n - 1)]
        for k in range(n):
            dst[j, k] = 0.0
        for d in range(2 * r + 1):
            wd = w[d]
            for k in range(n):
                dst[j, k] += wd * buf[k + d]


@jit
def _along_cols(src, dst, w):  # pragma: no cover - compiled
    """``dst`` = ``src`` (M, N) correlated with ``w`` along axis 0, edges repeated ("nearest")."""
    n_rows, n = src.shape
    r = (len(w) - 1) // 2
    for j in range(n_rows):
        for k in range(n):
            dst[j, k] = 0.0
        for d in range(2 * r + 1):
            jj = min(max(j + d - r, 0), n_rows - 1)
            wd = w[d]
            for k in range(n):
                dst[j, k] += wd * src[jj, k]


@jit
def _layer_area(m0, m1, s0, s1, tab, ntri, ginv, tol):  # pragma: no cover - compiled
    """Projected area of the cubes between mask planes ``m0`` and ``m1`` (smoothed ``s0``, ``s1``)."""
    n_rows, n = m0.shape
    total = 0.0
    for j in range(n_rows - 1):
        for k in range(n - 1):
            p = (
                m0[j, k]
                | (m0[j, k + 1] << 1)
                | (m0[j + 1, k] << 2)
                | (m0[j + 1, k + 1] << 3)
                | (m1[j, k] << 4)
                | (m1[j, k + 1] << 5)
                | (m1[j + 1, k] << 6)
                | (m1[j + 1, k + 1] << 7)
            )
            if p == 0 or p == 255:
                continue
            a000, a001, a010, a011 = s0[j, k], s0[j, k + 1], s0[j + 1, k], s0[j + 1, k + 1]
            a100, a101, a110, a111 = s1[j, k], s1[j, k + 1], s1[j + 1, k], s1[j + 1, k + 1]
            gx = ((a100 + a101 + a110 + a111) - (a000 + a001 + a010 + a011)) * ginv[0]
            gy = ((a010 + a011 + a110 + a111) - (a000 + a001 + a100 + a101)) * ginv[1]
            gz = ((a001 + a011 + a101 + a111) - (a000 + a010 + a100 + a110)) * ginv[2]
            gn = np.sqrt(gx * gx + gy * gy + gz * gz)
            if gn <= tol:  # flat smoothed field: the plain triangle areas
                for t in range(ntri[p]):
                    total += np.sqrt(tab[p, t, 0] ** 2 + tab[p, t, 1] ** 2 + tab[p, t, 2] ** 2)
            else:
                acc = 0.0
                for t in range(ntri[p]):
                    acc += abs(tab[p, t, 0] * gx + tab[p, t, 1] * gy + tab[p, t, 2] * gz)
                total += acc / gn
    return total


@jit
def smoothed_area(m, w0, w1, w2, tab, ntri, ginv, tol):  # pragma: no cover - compiled
    """Sum over the mixed cubes of ``m`` (P, M, N uint8 0/1) of ``|a_t · n|`` over their triangles.

    ``w0, w1, w2``: the odd-length Gaussian weights along each axis (float32); ``tab`` (256, T, 3)
    the triangles' vector areas, ``ntri`` (256,) how many each pattern has; ``ginv`` (3,) the
    factors turning corner-value sums into the gradient; ``tol``: below this gradient norm the
    plain triangle areas are summed.
    """
    n_planes, n_rows, n = m.shape
    r0 = (len(w0) - 1) // 2
    ring = 2 * r0 + 1
    part = np.empty((ring, n_rows, n), np.float32)  # planes smoothed along axes 2 and 1
    tmp = np.empty((n_rows, n), np.float32)
    buf = np.empty(n + len(w2) - 1, np.float32)
    smooth = np.empty((2, n_rows, n), np.float32)  # fully smoothed planes i - 1 and i
    ready = 0
    total = 0.0
    for i in range(n_planes):
        while ready <= min(n_planes - 1, i + r0):
            _along_rows(m[ready], tmp, w2, buf)
            _along_cols(tmp, part[ready % ring], w1)
            ready += 1
        si = smooth[i % 2]
        si[:, :] = 0.0
        for d in range(ring):
            src = part[min(max(i + d - r0, 0), n_planes - 1) % ring]
            wd = w0[d]
            for j in range(n_rows):
                for k in range(n):
                    si[j, k] += wd * src[j, k]
        if i >= 1:
            total += _layer_area(m[i - 1], m[i], smooth[(i - 1) % 2], si, tab, ntri, ginv, tol)
    return total
