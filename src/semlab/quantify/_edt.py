"""Fast exact Euclidean distance transforms and local thickness (sphere insertion).

The distance transform uses the ``edt`` package (Silversmith, multi-threaded exact EDT, the
one PoreSpy uses) and falls back to :func:`scipy.ndimage.distance_transform_edt` when it is
not importable.  Both are exact; ``edt`` is 3–5× faster on 128³–256³ volumes.

Local thickness (Hildebrand & Rüegsegger 1997) is computed on integer radii (multiples of the
smallest voxel side): the local thickness of a voxel is the largest radius ``r`` of a ball
``{x : |x - c| < r}`` that contains it and fits in the phase (``edt(c) >= r``).  Balls are
inserted by decreasing radius, only at centres whose ball is not inside one neighbour's
larger ball, as runs along the last axis, by compiled kernels (:mod:`._lt_kernel`, numba):
a bitset of painted voxels makes a run already painted cost a word test, and the runs that
lie inside a larger neighbour's ball are skipped without a test.  The cost grows with the
medial surface, not with the number of radii times the volume; bands of slices are painted
in parallel without locks (each thread writes only its own band).
"""

from __future__ import annotations

import os
import threading

import numpy as np
from scipy import ndimage as ndi


def distance(mask: np.ndarray, sampling: tuple[float, ...] | None = None) -> np.ndarray:
    """Distance from every ``True`` voxel to the nearest ``False`` voxel (0 on ``False``).

    Parameters
    ----------
    mask : ndarray of bool
        2-D or 3-D.
    sampling : tuple of float, optional
        Voxel size along each axis (default 1).

    Returns
    -------
    ndarray of float32
        In the unit of ``sampling``.  The volume border is not background (as in SciPy).
    """
    m = np.ascontiguousarray(mask, dtype=bool)
    sp = tuple(float(s) for s in sampling) if sampling is not None else (1.0,) * m.ndim
    try:
        import edt
    except ImportError:  # pragma: no cover - edt is a core dependency
        return ndi.distance_transform_edt(m, sampling=sp).astype(np.float32)
    return edt.edt(m, anisotropy=sp, black_border=False, parallel=max(1, os.cpu_count() or 1))


def _ball_runs(r: int, spn: np.ndarray) -> tuple[np.ndarray, ...]:
    """Row offsets and half-widths of the runs (along the last axis) of the ball of radius ``r``.

    The ball is ``{o : sum((o * spn)**2) < r**2}`` (strict, as PoreSpy's smoothed balls).
    """
    nd = len(spn)
    ext = [int(np.ceil(r / s)) for s in spn[:-1]]
    grids = np.meshgrid(*[np.arange(-e, e + 1) for e in ext], indexing="ij")
    offs = [g.ravel() for g in grids]
    q = float(r * r) - sum((o * s) ** 2 for o, s in zip(offs, spn[:-1], strict=True))
    ok = q > 0
    offs = [o[ok] for o in offs]
    q = q[ok]
    if np.all(spn == 1.0):
        half = np.floor(np.sqrt(q - 1.0) + 1e-9).astype(np.int64)  # |dx| <= isqrt(q - 1)
    else:
        half = (np.ceil(np.sqrt(q) / spn[-1] - 1e-9) - 1).astype(np.int64)
    assert len(offs) == nd - 1
    return (*offs, half)


#: The radii array is padded by this many voxels: the neighbours checked for containing a
#: centre's ball lie in the 5 × 5 × 5 box around it.
_PAD = 2


def _neighbours(spn: np.ndarray, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Flat offsets (in the array padded by :data:`_PAD`) of the neighbours checked for
    containing a centre's ball, nearest first, and the radius excess ``need`` (≥ their length)
    that makes a neighbour's ball contain the centre's: ``R_n - R_c >= |n - c|`` (triangle
    inequality).

    The 3 × 3 × 3 neighbours, and in the 5 × 5 × 5 box those at an integer distance up to 3
    (where ``need`` is tight: (0, 0, 2) and (1, 2, 2) and their permutations when isotropic);
    farther or other offsets drop under 0.01 % more centres on the benchmark electrode.
    """
    o = np.stack(np.meshgrid(*[np.arange(-_PAD, _PAD + 1)] * 3, indexing="ij"), -1).reshape(-1, 3)
    length = np.sqrt(((o * spn) ** 2).sum(1))
    tight = np.abs(length - np.round(length)) < 1e-9
    ok = (length > 0) & (length <= 8) & ((np.abs(o).max(1) <= 1) | (tight & (length <= 3 + 1e-9)))
    o, length = o[ok], length[ok]
    order = np.argsort(length, kind="stable")
    o, length = o[order], length[order]
    ny, nx = shape[1] + 2 * _PAD, shape[2] + 2 * _PAD
    flat = (o[:, 0] * ny + o[:, 1]) * nx + o[:, 2]
    return flat.astype(np.int64), np.ceil(length - 1e-9).astype(np.int16)


def _kernels():
    """The compiled kernels (numba is imported on first use: ``import semlab`` stays light)."""
    from semlab.quantify import _lt_kernel

    return _lt_kernel


def local_thickness_radius(mask: np.ndarray, sampling: tuple[float, ...] | None = None) -> np.ndarray:
    """Local thickness radius of every voxel of ``mask`` (0 outside), on integer radii.

    Parameters
    ----------
    mask : ndarray of bool
        2-D or 3-D phase mask.
    sampling : tuple of float, optional
        Voxel size along each axis; radii are integer multiples of the smallest.

    Returns
    -------
    ndarray of float32
        Radius of the largest inscribed ball covering each voxel, in the unit of
        ``sampling``; equal to PoreSpy's ``local_thickness`` (all integer radii, smooth balls)
        for isotropic voxels.
    """
    m = np.ascontiguousarray(mask, dtype=bool)
    if m.all():
        raise ValueError("local thickness is unbounded: the mask has no background voxel")
    sp = np.asarray(sampling if sampling is not None else (1.0,) * m.ndim, dtype=np.float64)
    h = float(sp.min())
    dt = distance(m, tuple(sp))
    if h != 1.0:
        dt /= np.float32(h)
    if m.ndim == 2:  # image rows become slices (painted in parallel); a very thick middle axis
        m, dt, sp = m[:, None, :], dt[:, None, :], np.array([sp[0], 1e9 * h, sp[1]])
    k = _kernels()
    with _LOCK:
        out = _insert_balls(k, dt, m, sp / h, h)
    return out[:, 0, :] if mask.ndim == 2 else out


#: One local thickness at a time in the kernels: numba's workqueue threading layer (used where
#: neither OpenMP nor TBB is available) aborts the process on concurrent parallel calls.
_LOCK = threading.Lock()


def _insert_balls(k, dt: np.ndarray, m: np.ndarray, spn: np.ndarray, h: float) -> np.ndarray:
    """Local thickness radius (in the unit of ``h``, the smallest voxel side) inside ``m``.

    ``dt``: the distances in units of ``h``; ``spn``: the voxel sides over ``h``.
    """
    offsets, need = _neighbours(spn, m.shape)
    radius, keep = k.centres(dt, m, _PAD, offsets, need)
    rc = radius[_PAD:-_PAD, _PAD:-_PAD, _PAD:-_PAD][keep]
    idx = np.flatnonzero(keep)
    order = np.argsort(-rc, kind="stable")
    idx, rc = idx[order], rc[order]
    out = np.zeros(m.shape, np.float32)
    if len(rc):
        _paint(k, out, radius, idx, rc, spn, h)
    k.fill_unpainted(out, m, np.float32(h))
    return out


def _paint(
    k, out: np.ndarray, radius: np.ndarray, idx: np.ndarray, rc: np.ndarray, spn: np.ndarray, h: float
):
    """Paint the balls level by level (decreasing radius) into ``out``, where still 0.

    ``radius``: the integer radii padded alike on every side; ``idx``, ``rc``: the centres (flat
    indices into ``out``) and their radii, by decreasing radius.
    """
    shape = out.shape
    big = _ball_runs(int(rc[0]), spn)
    pads = np.array([np.abs(big[0]).max(), np.abs(big[1]).max(), big[2].max()], np.int64)
    words = -(-(shape[2] + 2 * int(pads[2])) // 64)
    row = np.ones(words * 64, bool)  # one bit a voxel, the padding painted
    row[pads[2] : pads[2] + shape[2]] = False
    painted = np.full((shape[0] + 2 * pads[0], shape[1] + 2 * pads[1], words), ~np.uint64(0))
    painted[pads[0] : pads[0] + shape[0], pads[1] : pads[1] + shape[1]] = np.packbits(
        row, bitorder="little"
    ).view("<u8")
    near, need = _larger_neighbours(spn)
    n_d = int(need.max(initial=2)) - 1
    bounds = np.flatnonzero(np.diff(rc)) + 1
    segs, runs, cover, levels = [], [], [], []
    n_segs = n_runs = n_cover = 0
    work = np.zeros(shape[0])
    for a, b in zip(np.concatenate([[0], bounds]), np.concatenate([bounds, [len(rc)]]), strict=True):
        r = int(rc[a])
        runs.append(np.stack(_ball_runs(r, spn), 1))
        segs.append(_segments(idx[a:b], shape))
        cover.append(_cover(r, spn, runs[-1], near, n_d).ravel())
        levels.append([r, n_d, n_segs, n_segs + len(segs[-1]), n_runs, n_runs + len(runs[-1]), n_cover])
        n_segs, n_runs, n_cover = levels[-1][3], levels[-1][5], n_cover + len(cover[-1])
        work += np.bincount(segs[-1][:, 0], minlength=shape[0]) * len(runs[-1])
    cum = np.cumsum(work)  # bands of slices with about equal numbers of runs to paint
    bands = np.searchsorted(cum, cum[-1] * np.arange(1, k.threads()) / k.threads())
    bands = np.unique(np.concatenate([[0], bands, [shape[0]]]))
    flat_near = (near[:, 0] * radius.shape[1] + near[:, 1]) * radius.shape[2] + near[:, 2]
    k.paint(
        out, painted, pads, radius, np.concatenate(segs), np.concatenate(runs), np.concatenate(cover),
        np.array(levels, np.int64), flat_near, bands, h,
    )  # fmt: skip


def _larger_neighbours(spn: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The 3 × 3 × 3 neighbours whose radius may exceed a kept centre's (``need`` ≥ 2).

    A kept centre has no neighbour with ``R_n - R_c >= need`` (its ball would be inside), so
    only neighbours with ``need >= 2`` can be larger, by 1 to ``need - 1``.
    """
    o = np.stack(np.meshgrid(*[np.arange(-1, 2)] * 3, indexing="ij"), -1).reshape(-1, 3)
    need = np.ceil(np.sqrt(((o * spn) ** 2).sum(1)) - 1e-9)
    ok = (need >= 2) & (need <= 4)
    return o[ok], need[ok].astype(np.int64)


def _cover(r: int, spn: np.ndarray, runs: np.ndarray, near: np.ndarray, n_d: int) -> np.ndarray:
    """Bit ``j`` of ``cover[k, d - 1]``: run ``j`` of the ball of radius ``r`` lies inside the
    ball of radius ``r + d`` centred at the neighbour ``near[k]``."""
    cov = np.zeros((len(near), max(n_d, 1), -(-len(runs) // 64) * 64), bool)
    dz, dy, half = runs.T
    for d in range(1, n_d + 1):
        bz, by, bh = _ball_runs(r + d, spn)
        ez, ey = int(np.abs(bz).max()) + 2, int(np.abs(by).max()) + 2
        table = np.full((2 * ez + 1, 2 * ey + 1), -1, np.int64)  # half-width per row, -1 off the ball
        table[bz + ez, by + ey] = bh
        for i, (oz, oy, ox) in enumerate(near):
            cov[i, d - 1, : len(runs)] = half + abs(ox) <= table[dz - oz + ez, dy - oy + ey]
    return np.packbits(cov, axis=-1, bitorder="little").view("<u8")


def _segments(flat: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Centres (sorted flat indices) that follow each other along x as rows ``z, y, x0, n``.

    The union of the balls of a segment's centres is one run per row offset.
    """
    z, y, x = np.unravel_index(flat, shape)
    new = np.ones(len(flat), bool)
    new[1:] = (np.diff(flat) != 1) | (x[1:] == 0)
    first = np.flatnonzero(new)
    return np.stack([z[first], y[first], x[first], np.diff(np.append(first, len(flat)))], axis=1)
