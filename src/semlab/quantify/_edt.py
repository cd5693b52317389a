"""Fast exact Euclidean distance transforms and local thickness (sphere insertion).

The distance transform uses the ``edt`` package (Silversmith, multi-threaded exact EDT, the
one PoreSpy uses) and falls back to :func:`scipy.ndimage.distance_transform_edt` when it is
not importable.  Both are exact; ``edt`` is 3–5× faster on 128³–256³ volumes.

Local thickness (Hildebrand & Rüegsegger 1997) is computed on integer radii (multiples of the
smallest voxel side): the local thickness of a voxel is the largest radius ``r`` of a ball
``{x : |x - c| < r}`` that contains it and fits in the phase (``edt(c) >= r``).  Balls are
inserted by decreasing radius, only at centres whose ball is not already inside a
neighbour's larger ball, and painted as runs along the last axis (a difference array and a
cumulative sum per touched line), so the cost grows with the medial surface, not with the
number of radii times the volume.
"""

from __future__ import annotations

import itertools
import os
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext

import numpy as np
from scipy import ndimage as ndi

#: Largest number of painted runs handled in one vectorised batch (bounds the memory use).
_BATCH = 2_000_000


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


def _non_redundant(radius: np.ndarray, spn: np.ndarray) -> np.ndarray:
    """Centres whose ball is not inside a neighbour's ball (``R_n >= R_c + |n - c|``)."""
    keep = radius >= 2
    nd = radius.ndim
    if np.all(spn == 1.0):
        # integer radii: an axis neighbour contains the ball when R_n >= R_c + 1, a diagonal
        # one (|n - c| = sqrt 2 or sqrt 3) when R_n >= R_c + 2
        keep &= _max3(radius) < radius + 2
        pad = np.pad(radius, 1, mode="constant")
        for ax in range(nd):
            for d in (0, 2):
                sl = tuple(
                    slice(d, d + n) if a == ax else slice(1, 1 + n) for a, n in enumerate(radius.shape)
                )
                keep &= pad[sl] <= radius
        return _drop_far_contained(keep, radius) if nd == 3 else keep
    pad = np.pad(radius, 1, mode="constant")
    for off in np.ndindex(*(3,) * nd):
        o = np.asarray(off) - 1
        if not o.any():
            continue
        length = float(np.sqrt(np.sum((o * spn) ** 2)))
        sl = tuple(slice(1 + a, 1 + a + n) for a, n in zip(o, radius.shape, strict=True))
        keep &= pad[sl] < radius + length - 1e-9
    return keep


#: Offsets of length exactly 3 (permutations of (±1, ±2, ±2)): a ball of radius ``R_c`` is
#: inside the ball of such a neighbour when ``R_n >= R_c + 3``.
_D3 = np.array(
    sorted({p for b in itertools.product((1, -1), (2, -2), (2, -2)) for p in itertools.permutations(b)})
)


def _drop_far_contained(keep: np.ndarray, radius: np.ndarray) -> np.ndarray:
    """Also drop the kept centres whose ball is inside the ball of a centre 3 voxels away.

    Checked only on the centres the 3 × 3 × 3 test kept (a gather per offset); on the
    256³ electrode this removes 5–17 % of the centres and 10–23 % of the painted runs.
    """
    idx = np.flatnonzero(keep)
    if len(idx) == 0:
        return keep
    pad = np.pad(radius, 2, mode="constant")
    ny, nx = pad.shape[1], pad.shape[2]
    z, y, x = np.unravel_index(idx, radius.shape)
    at = ((z + 2) * ny + (y + 2)) * nx + (x + 2)
    need = radius.ravel()[idx].astype(np.int32) + 3
    flat = pad.ravel()
    gone = np.zeros(len(idx), bool)
    for dz, dy, dx in _D3:
        gone |= flat[at + ((dz * ny + dy) * nx + dx)] >= need
    keep.ravel()[idx[gone]] = False
    return keep


def _max3(a: np.ndarray) -> np.ndarray:
    """Maximum over the 3 × 3 (× 3) neighbourhood (zero outside), by separable shifts."""
    out = a.copy()
    for ax in range(a.ndim):
        src = out.copy()
        lo = [slice(None)] * a.ndim
        hi = [slice(None)] * a.ndim
        lo[ax], hi[ax] = slice(None, -1), slice(1, None)
        np.maximum(out[tuple(lo)], src[tuple(hi)], out=out[tuple(lo)])
        np.maximum(out[tuple(hi)], src[tuple(lo)], out=out[tuple(hi)])
    return out


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
    dt = distance(m, tuple(sp)) / h
    if m.ndim == 2:  # a 2-D image is one slice of a volume with a very thick voxel
        m, dt, sp = m[None], dt[None], np.concatenate([[1e9 * h], sp])
    spn = sp / h
    radius = (dt + np.float32(1e-4)).astype(np.int16)  # floor; dt is a square root of an integer sum
    radius[~m] = 0
    keep = _non_redundant(radius, spn)
    idx = np.flatnonzero(keep)
    rc = radius.ravel()[idx]
    order = np.argsort(-rc, kind="stable")
    idx, rc = idx[order], rc[order]
    # padded work array: no bound checks when painting (rows wider by one for the run ends)
    e = _ball_runs(int(rc[0]), spn) if len(rc) else (np.zeros(1, np.int64),) * 3
    pad = [int(np.abs(e[0]).max()), int(np.abs(e[1]).max()), int(e[2].max())]
    shape_p = (m.shape[0] + 2 * pad[0], m.shape[1] + 2 * pad[1], m.shape[2] + 2 * pad[2] + 1)
    lt = np.zeros(shape_p, np.int16)
    bounds = np.flatnonzero(np.diff(rc)) + 1
    starts = np.concatenate([[0], bounds]) if len(rc) else np.empty(0, np.int64)
    workers = max(1, min(os.cpu_count() or 1, 4))
    with ThreadPoolExecutor(workers) if workers > 1 else nullcontext() as pool:
        _insert(lt, idx, rc, starts, bounds, m.shape, pad, spn, pool, workers)
    lt = lt[pad[0] : pad[0] + m.shape[0], pad[1] : pad[1] + m.shape[1], pad[2] : pad[2] + m.shape[2]]
    lt[m & (lt == 0)] = 1
    out = (lt * h).astype(np.float32)
    return out[0] if mask.ndim == 2 else out


def _insert(lt, idx, rc, starts, bounds, shape, pad, spn, pool, workers) -> None:
    """Paint the balls level by level (decreasing radius); each level's slabs may run in ``pool``."""
    for a, b in zip(starts, np.concatenate([bounds, [len(rc)]]), strict=False):
        r = int(rc[a])
        runs = _ball_runs(r, spn)
        segs = _segments(idx[a:b], shape)
        segs[:, :3] += pad
        step = max(1, min(_BATCH // len(runs[0]), -(-len(segs) // workers)))
        chunks = [segs[c0 : c0 + step] for c0 in range(0, len(segs), step)]
        if pool is None or len(chunks) == 1:
            for chunk in chunks:
                _paint(lt, chunk, runs, r)
        else:  # slabs in parallel; they only ever write the same value r into the overlaps
            list(pool.map(lambda c, runs=runs, r=r: _paint(lt, c, runs, r), chunks))


def _segments(flat: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Centres (sorted flat indices) that follow each other along x as rows ``z, y, x0, n``.

    The union of the balls of a segment's centres is one run per row offset.
    """
    z, y, x = np.unravel_index(flat, shape)
    new = np.ones(len(flat), bool)
    new[1:] = (np.diff(flat) != 1) | (x[1:] == 0)
    first = np.flatnonzero(new)
    return np.stack([z[first], y[first], x[first], np.diff(np.append(first, len(flat)))], axis=1)


def _paint(lt: np.ndarray, segs: np.ndarray, runs: tuple[np.ndarray, ...], r: int) -> None:
    """Write ``r`` where the balls (``runs``: row offsets, half-widths) of ``segs`` cover 0s.

    ``lt`` is padded so that every run lies inside it; the runs are added to a difference
    array over the slab of rows they touch (or, when they touch under half of its rows, over
    those rows only) and summed along each row.
    """
    dz, dy, half = runs
    _, ny, width = lt.shape
    lo = (int(segs[:, 0].min()) + int(dz.min())) * ny
    hi = (int(segs[:, 0].max()) + int(dz.max()) + 1) * ny
    view = lt.reshape(-1, width)[lo:hi]
    rows = ((segs[:, 0] * ny + segs[:, 1] - lo)[:, None] + (dz * ny + dy)[None, :]).ravel()
    n_rows = hi - lo
    touched = np.zeros(n_rows, bool)
    touched[rows] = True
    used = np.flatnonzero(touched)
    ul = used if len(used) * 2 < n_rows else None
    if ul is not None:  # few touched rows: number them compactly
        rows = (np.cumsum(touched) - 1)[rows]
        n_rows = len(ul)
    rows *= width
    first = (segs[:, 2][:, None] - half[None, :]).ravel()
    first += rows
    last = ((segs[:, 2] + segs[:, 3])[:, None] + half[None, :]).ravel()
    last += rows
    del rows
    size = n_rows * width
    diff = np.bincount(first, minlength=size)
    diff -= np.bincount(last, minlength=size)  # in place: these arrays are slab-sized
    diff = diff.reshape(-1, width)
    np.cumsum(diff, axis=1, out=diff)
    cov = diff > 0
    del diff
    if ul is None:
        cov &= view == 0
        view[cov] = r
    else:
        rr, cc = np.nonzero(cov & (view[ul] == 0))
        view[ul[rr], cc] = r  # only ever writes r (other threads may paint these rows too)
