"""The compiled kernels of local thickness (:func:`semlab.quantify._edt.local_thickness_radius`).

Imported only when a local thickness is computed (numba is heavy to import).  The machine
code is cached on disk where numba finds a writable cache folder (``NUMBA_CACHE_DIR``, next to
this file, or the user's cache folder); without one it is compiled in memory on first use.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
from numba import prange
from numba.cpython.unsafe import numbers as _unsafe

from semlab.quantify._numba import jit

#: Number of trailing zero bits of an integer (the LLVM intrinsic ``cttz``), in kernels only.
trailing_zeros: Any = _unsafe.trailing_zeros


_jit = jit(parallel=True)


@_jit
def centres(dt, mask, pad, offsets, need):  # pragma: no cover - compiled
    """Integer radii (``floor(dt)``, 0 off ``mask``) and the centres worth a ball.

    Returns ``radius`` (int16, padded by ``pad`` zeros on every side) and ``keep`` (bool, the
    shape of ``dt``): voxels of radius ≥ 2 whose ball is not inside the ball of a neighbour
    ``c + offsets[k]`` (flat offsets in the padded array), i.e. no neighbour has
    ``R_n - R_c >= need[k]`` (``need[k]`` ≥ the offset's length, an integer).
    """
    nz, ny, nx = dt.shape
    py, px = ny + 2 * pad, nx + 2 * pad
    radius = np.zeros((nz + 2 * pad, py, px), np.int16)
    for z in prange(nz):
        for y in range(ny):
            for x in range(nx):
                if mask[z, y, x]:
                    radius[z + pad, y + pad, x + pad] = np.int16(dt[z, y, x] + np.float32(1e-4))
    flat = radius.reshape(-1)
    keep = np.zeros(dt.shape, np.bool_)
    for z in prange(nz):
        for y in range(ny):
            base = ((z + pad) * py + y + pad) * px + pad
            for x in range(nx):
                rc = flat[base + x]
                if rc < 2:
                    continue
                ok = True
                for k in range(len(offsets)):
                    if flat[base + x + offsets[k]] - rc >= need[k]:
                        ok = False
                        break
                keep[z, y, x] = ok
    return radius, keep


@_jit
def paint(out, painted, pads, radius, segs, runs, cover, levels, near, bands, h):  # pragma: no cover
    """Paint the balls level by level (decreasing radius) into ``out`` where it is still 0.

    ``levels`` rows: ``r, n_d, first and end segment, first and end run, first cover word``;
    ``segs`` rows: ``z, y, x0, n`` (``n`` centres along x from ``x0``), sorted by ``z`` in each
    level; ``runs`` rows: ``dz, dy, half-width`` (the ball's runs along x).  Each band of slices
    ``bands[b] <= z < bands[b + 1]`` is painted by one thread, all levels in turn, from the
    centres whose balls reach it: no two threads write the same voxel.

    ``painted`` holds one bit a voxel (64 a word along x), padded by ``pads`` (z, y rows, x bits)
    of set bits, so that no run needs clipping along x and y.  Most runs lie inside the balls of
    larger neighbours, painted before: bit ``j`` of ``cover[k, d - 1]`` (a level's block of
    words, ``d <= n_d``) is set where the ball of radius ``r + d`` at the neighbour ``near[k]`` (flat offset
    in ``radius``, the integer radii padded alike on every side) holds run ``j``; only the runs
    that no larger neighbour's ball holds are tested bit by bit.
    """
    pz, py, px = pads[0], pads[1], pads[2]
    ones = np.uint64(0xFFFFFFFFFFFFFFFF)
    zero = np.uint64(0)
    one = np.uint64(1)
    lo_m = np.empty(64, np.uint64)  # bits lo..63, bits 0..hi
    hi_m = np.empty(64, np.uint64)
    for t in range(64):
        lo_m[t] = ones << np.uint64(t)
        hi_m[t] = ones >> np.uint64(63 - t)
    nyp, nw = painted.shape[1], painted.shape[2]
    bits = painted.reshape(-1)
    rp = (radius.shape[0] - out.shape[0]) // 2
    ryx, rx = radius.shape[1] * radius.shape[2], radius.shape[2]
    rad = radius.reshape(-1)
    for b in prange(len(bands) - 1):
        z_lo, z_hi = bands[b], bands[b + 1]
        for lv in range(len(levels)):
            r, n_d = levels[lv, 0], levels[lv, 1]
            value = np.float32(r * h)
            j0, j1, c0w = levels[lv, 4], levels[lv, 5], levels[lv, 6]
            n_w = (j1 - j0 + 63) >> 6
            last = hi_m[(j1 - j0 - 1) & 63]
            ez = abs(runs[j0, 0])  # the first run has the largest |dz|
            zs = segs[levels[lv, 2] : levels[lv, 3], 0]
            q0 = levels[lv, 2] + np.searchsorted(zs, z_lo - ez)
            q1 = levels[lv, 2] + np.searchsorted(zs, z_hi + ez)
            held = np.empty(n_w, np.uint64)
            acc = np.empty(n_w, np.uint64)
            for q in range(q0, q1):
                z0, y0, x0, n = segs[q, 0], segs[q, 1], segs[q, 2], segs[q, 3]
                c0 = (z0 + rp) * ryx + (y0 + rp) * rx + x0 + rp
                held[:] = ones  # runs that every centre of the segment has inside a larger ball
                for i in range(n):
                    acc[:] = zero
                    for kk in range(len(near)):
                        d = rad[c0 + i + near[kk]] - r
                        if d > 0:
                            base = c0w + (kk * n_d + min(d, n_d) - 1) * n_w
                            for w in range(n_w):
                                acc[w] |= cover[base + w]
                    for w in range(n_w):
                        held[w] &= acc[w]
                xa = x0 + px
                xb = xa + n - 1
                for wj in range(n_w):
                    todo = ~held[wj]
                    if wj == n_w - 1:
                        todo &= last
                    while todo != zero:
                        j = j0 + (wj << 6) + trailing_zeros(todo)
                        todo &= todo - one
                        zz = z0 + runs[j, 0]
                        if zz < z_lo or zz >= z_hi:
                            continue
                        yy = y0 + runs[j, 1]
                        row = ((zz + pz) * nyp + yy + py) * nw
                        a = xa - runs[j, 2]
                        e = xb + runs[j, 2]
                        for w in range(a >> 6, (e >> 6) + 1):
                            free = lo_m[max(a - (w << 6), 0)] & hi_m[min(e - (w << 6), 63)] & ~bits[row + w]
                            if free != zero:
                                bits[row + w] |= free
                                xo = (w << 6) - px
                                while free != zero:
                                    out[zz, yy, xo + trailing_zeros(free)] = value
                                    free &= free - one


def threads() -> int:
    """Threads the kernels run on."""
    return numba.get_num_threads()


@_jit
def fill_unpainted(out, mask, value):  # pragma: no cover - compiled
    """``value`` where ``mask`` holds and ``out`` is 0 (the voxels only their own ball covers)."""
    nz, ny, nx = out.shape
    for z in prange(nz):
        for y in range(ny):
            for x in range(nx):
                if mask[z, y, x] and out[z, y, x] == 0:
                    out[z, y, x] = value
