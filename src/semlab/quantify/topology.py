"""Topological descriptors: sublevel-set persistent homology and persistence images.

Persistence diagrams are computed with CubicalRipser (``cripser``; Kaji, Sudo & Ahara 2020)
on the cubical complex of the image in its V-construction: pixels (voxels) are vertices
joined along edges, so sublevel sets are 4-connected in 2-D (6 in 3-D) and holes are
8-connected (26).  A grey image is filtered by its
values; a label image by the signed distance to the phase boundary (negative inside the
phase, in µm), so H0 bars are grains/particles of the phase and H1 bars the holes (pores)
they enclose, each born and dying at a physical depth.

Persistence images follow Adams et al. 2017 (*Persistence images: a stable vector
representation of persistent homology*, JMLR 18:1–35): each finite bar becomes a point
(birth, persistence), weighted (linearly in persistence by default), spread with a Gaussian
and integrated over the pixels of a grid with stated ranges (10 × 10 by default, as in the
ShAPE study).  Bars with infinite death (the one essential H0 class of every image) are
dropped by default and counted; ``infinite="clip"`` keeps them at the top of the range.

Fast path
---------
``persistence_diagram(..., downsample=k)`` computes the filtration at full resolution, takes
the minimum of each k × k (× k) block and computes the diagram of that coarse image.  The
coarse image's diagram is that of its block-constant upsampling, which differs from the
full-resolution filtration by at most ε = max over blocks of (block max − block min); by the
stability theorem (Cohen-Steiner, Edelsbrunner & Harer 2007) the bottleneck distance to the
exact diagram is at most ε.  ε is measured and returned (``df.attrs["bottleneck_bound"]``):
every exact bar longer than 2ε has a partner whose ends are within ε, shorter bars may be
lost.  Measured effects are in ``benchmarks/results/persistence.json``.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from semlab.errors import ParameterError
from semlab.quantify._common import Phase, as_labels, phase_mask, spacing, unit

__all__ = [
    "PersistenceImage",
    "area_fractions",
    "common_ranges",
    "condition_value_ranges",
    "persistence_diagram",
    "persistence_image",
]

#: cripser reports an infinite death as DBL_MAX; anything above this is taken as infinite.
_INFINITE = 1e300


def persistence_diagram(
    image: Any,
    *,
    phase: Phase | None = None,
    pixel_size: float | None = None,
    maxdim: int = 1,
    downsample: int = 1,
):
    """Sublevel-set persistence diagram (H0, H1, optionally H2) of an image or volume.

    Parameters
    ----------
    image : (M, N) or (P, M, N) ndarray
        Grey values (``phase=None``), or phase labels (``phase`` given).
    phase : int or sequence of int, optional
        For label input: the phase whose topology is wanted.  The filtration is then the
        signed distance to its boundary, negative inside (µm, or pixels when
        ``pixel_size`` is ``None``); a pixel's value is its distance to the nearest pixel of
        the other side, minus half a pixel.
    pixel_size : float or tuple of float, optional
        µm per pixel, used for the distance filtration only.
    maxdim : int
        Highest homology dimension (1 for H0 and H1; 2 adds cavities in 3-D).
    downsample : int, default 1
        1: exact.  k > 1: the diagram of the k-block minima of the full-resolution
        filtration (k² fewer pixels in 2-D, about k² times faster), within bottleneck
        distance ``df.attrs["bottleneck_bound"]`` of the exact diagram (see the module notes);
        bars shorter than twice that bound may be lost or spurious, longer ones are kept.

    Returns
    -------
    pandas.DataFrame
        One row per bar: ``dim``, ``birth``, ``death`` (``inf`` for essential classes),
        ``persistence`` (death − birth, ``inf`` when essential), ``essential`` (bool), and
        the pixel where the class is born and dies: ``birth_row``, ``birth_col``,
        ``death_row``, ``death_col`` (plus ``birth_slice``/``death_slice`` in 3-D; −1 for an
        essential class's death).  ``df.attrs`` holds ``filtration`` and ``value_unit``
        (``"grey"``, ``"µm"`` or ``"px"``), ``persistence_scale`` (``downsample``: 1 = exact)
        and ``bottleneck_bound`` (0.0 when exact; else ε in the filtration's unit).  With
        ``downsample`` the locations are full-resolution pixels: the block pixel that holds
        the block minimum, whose value is the reported birth or death.

    Examples
    --------
    >>> import numpy as np
    >>> ring = np.ones((40, 40)); rr, cc = np.mgrid[:40, :40]
    >>> ring[np.abs(np.hypot(rr - 20, cc - 20) - 12) < 2] = 0.0
    >>> d = persistence_diagram(ring)
    >>> d[d.dim == 1][["birth", "death"]].values.tolist()
    [[0.0, 1.0]]
    """
    import cripser
    import pandas as pd

    arr = np.asarray(image)
    if arr.ndim not in (2, 3):
        raise ParameterError(f"image has shape {arr.shape}; expected a 2-D image or a 3-D volume")
    if not 0 <= maxdim <= arr.ndim - 1:
        raise ParameterError(
            f"maxdim={maxdim!r} must be between 0 and {arr.ndim - 1} for a {arr.ndim}-D image"
        )
    if isinstance(downsample, bool) or not isinstance(downsample, (int, np.integer)) or downsample < 1:
        raise ParameterError(f"downsample={downsample!r} must be a whole number >= 1 (1 = exact)")
    if phase is not None:
        lab = as_labels(arr, ndim=(2, 3), name="image")
        mask = phase_mask(lab, phase, name="image")
        f = _signed_distance(mask, spacing(pixel_size, lab.ndim) or (1.0,) * lab.ndim)
        filtration, value_unit = "signed distance to the phase boundary, negative inside", unit(pixel_size)
    else:
        if arr.dtype == bool:
            arr = arr.astype(np.uint8)
        if arr.dtype.kind not in "iuf":
            raise ParameterError(f"image has dtype {arr.dtype}; pass grey values as numbers")
        f = arr.astype(np.float64)
        if not np.all(np.isfinite(f)):
            raise ParameterError(
                "image holds NaN or infinite values; replace them before computing persistence"
            )
        filtration, value_unit = "grey value (sublevel sets)", "grey"
    full = f
    bound = 0.0
    if downsample > 1:
        f, bound = _block_min(full, int(downsample))
    f = np.ascontiguousarray(f, dtype=np.float64)
    two_d = f.ndim == 2 and maxdim == 1 and min(f.shape) >= 2
    res = _pairs_2d(f) if two_d else np.asarray(cripser.computePH(f, maxdim=maxdim))
    if res.size == 0:
        res = np.empty((0, 9))
    death = res[:, 2].copy()
    essential = death >= _INFINITE
    death[essential] = np.inf
    names = ("row", "col") if arr.ndim == 2 else ("slice", "row", "col")
    data: dict[str, Any] = {
        "dim": res[:, 0].astype(np.int64),
        "birth": res[:, 1],
        "death": death,
        "persistence": death - res[:, 1],
        "essential": essential,
    }
    born = res[:, 3 : 3 + arr.ndim].astype(np.int64)
    died = np.where(essential[:, None], 0, res[:, 6 : 6 + arr.ndim]).astype(np.int64)
    if downsample > 1:
        born, died = _block_argmin(full, int(downsample), born), _block_argmin(full, int(downsample), died)
    for i, n in enumerate(names):
        data[f"birth_{n}"] = born[:, i]
    for i, n in enumerate(names):
        data[f"death_{n}"] = np.where(essential, -1, died[:, i])
    df = pd.DataFrame(data)
    df.attrs["filtration"] = filtration
    df.attrs["value_unit"] = value_unit
    df.attrs["persistence_scale"] = int(downsample)
    df.attrs["bottleneck_bound"] = float(bound)
    return df


def _pairs_2d(f: np.ndarray) -> np.ndarray:
    """H0 and H1 of a 2-D image as cripser rows, in two threads (cripser releases the GIL).

    H1 is cripser's top-dimension path; H0 is by Alexander duality the top dimension of
    ``-f`` in the T-construction, padded with a very low value: each of its bars
    ``[b', d')`` is an H0 bar ``[-d', -b')`` of ``f`` (the bar born in the padding is the
    essential class).  Same diagram as ``computePH(f, maxdim=1)`` (tested), about twice as
    fast on two cores.
    """
    from concurrent.futures import ThreadPoolExecutor

    import cripser

    pad = -1e300
    g = np.pad(-f, 1, constant_values=pad)
    with ThreadPoolExecutor(max_workers=2) as pool:
        h1_job = pool.submit(cripser.computePH, f, maxdim=1, top_dim=True)
        dual = np.asarray(cripser.computePH_T(g, maxdim=1, top_dim=True))
        h1 = np.asarray(h1_job.result())
    h1 = h1[h1[:, 0] == 1] if h1.size else np.empty((0, 9))
    dual = dual[dual[:, 0] == 1] if dual.size else np.empty((0, 9))
    h0 = np.empty((len(dual), 9))
    h0[:, 0] = 0
    h0[:, 1] = -dual[:, 2]
    essential = dual[:, 1] <= 0.5 * pad
    h0[:, 2] = np.where(essential, np.finfo(np.float64).max, -dual[:, 1])
    h0[:, 3:6] = dual[:, 6:9]
    h0[:, 6:9] = dual[:, 3:6]
    h0[:, [3, 4, 6, 7]] -= 1  # padding offset
    h0[essential, 6:9] = -1
    h0[:, 5] = h0[:, 8] = 0
    return np.concatenate([h0, h1])


def _signed_distance(mask: np.ndarray, sp: tuple[float, ...]) -> np.ndarray:
    """Distance to the nearest pixel of the other side minus half a pixel, negative inside
    ``mask`` (float64, in the unit of ``sp``).  Square pixels: exact squared distances in
    pixels from ``edt`` (fast), scaled; others: scipy's anisotropic transform."""
    h = 0.5 * min(sp)
    if mask.all() or not mask.any():
        return np.full(mask.shape, -h if mask.all() else h)
    iso = len(set(sp)) == 1
    if iso and sum(n * n for n in mask.shape) < 2**24:  # squared distances exact in edt's float32
        import edt

        f = np.sqrt(edt.edtsq(mask, parallel=1), dtype=np.float64)
        out = np.sqrt(edt.edtsq(~mask, parallel=1), dtype=np.float64)
        np.subtract(0.5, f, out=f)
        np.subtract(out, 0.5, out=out)
        out[mask] = f[mask]
        return out * sp[0]
    from scipy import ndimage as ndi

    if iso:  # distances in pixels (sqrt of whole numbers: equal distances tie exactly), scaled
        di, do = ndi.distance_transform_edt(mask), ndi.distance_transform_edt(~mask)
        return np.where(mask, 0.5 - di, do - 0.5) * sp[0]
    di = ndi.distance_transform_edt(mask, sampling=sp)
    do = ndi.distance_transform_edt(~mask, sampling=sp)
    return np.where(mask, h - di, do - h)


def _block_min(f: np.ndarray, k: int) -> tuple[np.ndarray, float]:
    """Minimum of each k-block (ragged at the far edges) and ε = max over blocks of (max − min)."""
    lo, hi = f, f
    for ax in range(f.ndim):
        starts = np.arange(0, f.shape[ax], k)
        lo = np.minimum.reduceat(lo, starts, axis=ax)
        hi = np.maximum.reduceat(hi, starts, axis=ax)
    return np.ascontiguousarray(lo), float((hi - lo).max())


def _block_argmin(f: np.ndarray, k: int, coarse: np.ndarray) -> np.ndarray:
    """Full-resolution index of the minimum inside each coarse cell listed in ``coarse`` (K, ndim)."""
    nd = f.ndim
    g = np.pad(f, [(0, (-n) % k) for n in f.shape], constant_values=np.inf)
    blocks = [n // k for n in g.shape]
    g = g.reshape([x for n in blocks for x in (n, k)]).transpose([*range(0, 2 * nd, 2), *range(1, 2 * nd, 2)])
    first = g.reshape(*blocks, -1).argmin(axis=-1)  # first minimum in C order inside each block
    off = np.stack(np.unravel_index(first[tuple(coarse.T)], (k,) * nd), axis=1)
    return coarse * k + off


@dataclass(frozen=True, eq=False)
class PersistenceImage:
    """A persistence image on a (persistence × birth) grid.

    Attributes
    ----------
    image : (R_p, R_b) ndarray
        Row *i* covers persistence ``persistence_edges[i:i+2]`` (row 0 = shortest-lived),
        column *j* covers birth ``birth_edges[j:j+2]``.  Each value is the integral of the
        weighted Gaussian density over the pixel (units of the weight).
    birth_edges : (R_b + 1,) ndarray
        In the filtration's unit (grey value, µm or px).
    persistence_edges : (R_p + 1,) ndarray
    sigma : (float, float)
        Gaussian standard deviation along (birth, persistence).
    weighting : str
        ``"linear"``: weight = persistence / top of the persistence range (capped at 1);
        ``"none"``: weight 1.
    dim : int
        Homology dimension.
    n_points : int
        Bars that contributed.
    n_infinite : int
        Essential bars (infinite death) in the diagram for this dimension.
    infinite : str
        ``"drop"`` or ``"clip"``: how essential bars were treated.
    """

    image: np.ndarray
    birth_edges: np.ndarray
    persistence_edges: np.ndarray
    sigma: tuple[float, float]
    weighting: str
    dim: int
    n_points: int
    n_infinite: int
    infinite: str

    def to_dict(self) -> dict[str, float]:
        """Pixels as ``pi_h{dim}_p{row}_b{col}`` features (row-major)."""
        rp, rb = self.image.shape
        return {f"pi_h{self.dim}_p{i}_b{j}": float(self.image[i, j]) for i in range(rp) for j in range(rb)}


def _pair(value: Any, name: str, cast=float) -> tuple:
    if np.isscalar(value):
        return (cast(value), cast(value))
    v = tuple(value)
    if len(v) != 2:
        raise ParameterError(f"{name}={value!r} must be one value or a pair")
    return (cast(v[0]), cast(v[1]))


def persistence_image(
    diagram,
    *,
    dim: int = 1,
    birth_range: tuple[float, float] | None = None,
    persistence_range: tuple[float, float] | None = None,
    resolution: int | tuple[int, int] = 10,
    sigma: float | tuple[float, float] | None = None,
    weighting: str = "linear",
    infinite: str = "drop",
) -> PersistenceImage:
    """Persistence image of one homology dimension of a diagram (Adams et al. 2017).

    Parameters
    ----------
    diagram : pandas.DataFrame
        From :func:`persistence_diagram`.
    dim : int
        Homology dimension (0 or 1 …).
    birth_range, persistence_range : (float, float), optional
        Grid extent in filtration units.  Defaults: the diagram's finite births (min, max)
        and (0, max finite persistence).  **Pass fixed ranges when images are to be
        compared or averaged** (see :func:`common_ranges`).
    resolution : int or (int, int)
        Pixels along (persistence, birth); 10 × 10 as in the ShAPE study.
    sigma : float or (float, float), optional
        Gaussian standard deviation along (birth, persistence), filtration units; default
        one pixel width along each axis.
    weighting : {"linear", "none"}
        Weight of a bar: persistence / top of the persistence range (capped at 1), so bars
        on the diagonal vanish (the weighting for which the image is stable), or 1.
    infinite : {"drop", "clip"}
        Essential bars: leave out (counted in ``n_infinite``), or place at the top of the
        persistence range.

    Returns
    -------
    PersistenceImage
    """
    from scipy.special import ndtr

    if weighting not in ("linear", "none"):
        raise ParameterError(f"weighting={weighting!r} must be 'linear' or 'none'")
    if infinite not in ("drop", "clip"):
        raise ParameterError(f"infinite={infinite!r} must be 'drop' or 'clip'")
    missing = {"dim", "birth", "persistence"} - set(getattr(diagram, "columns", []))
    if missing:
        raise ParameterError(
            "diagram must be a DataFrame from persistence_diagram (columns dim, birth, persistence)"
        )
    rp, rb = _pair(resolution, "resolution", int)
    if rp < 1 or rb < 1:
        raise ParameterError(f"resolution={resolution!r} must be positive")
    sel = diagram[diagram["dim"] == dim]
    b = sel["birth"].to_numpy(dtype=float)
    p = sel["persistence"].to_numpy(dtype=float)
    inf = ~np.isfinite(p)
    n_inf = int(inf.sum())
    bf, pf = b[~inf], p[~inf]
    if birth_range is None:
        birth_range = (float(bf.min()), float(bf.max())) if len(bf) else (0.0, 1.0)
    if persistence_range is None:
        persistence_range = (0.0, float(pf.max())) if len(pf) and pf.max() > 0 else (0.0, 1.0)
    b0, b1 = _pair(birth_range, "birth_range")
    p0, p1 = _pair(persistence_range, "persistence_range")
    if b1 <= b0:  # a single birth value: widen symmetrically
        b0, b1 = b0 - 0.5, b1 + 0.5
    if p1 <= p0:
        raise ParameterError(f"persistence_range={persistence_range!r} must be increasing")
    if infinite == "clip":
        b, p = b, np.where(inf, p1, p)
    else:
        b, p = bf, pf
    be = np.linspace(b0, b1, rb + 1)
    pe = np.linspace(p0, p1, rp + 1)
    sb, sp_ = _pair(sigma, "sigma") if sigma is not None else ((b1 - b0) / rb, (p1 - p0) / rp)
    if sb <= 0 or sp_ <= 0:
        raise ParameterError(f"sigma={sigma!r} must be positive")
    w = np.clip(p / p1, 0, 1) if weighting == "linear" else np.ones_like(p)
    cb = np.diff(ndtr((be[None, :] - b[:, None]) / sb), axis=1)  # (K, rb)
    cp = np.diff(ndtr((pe[None, :] - p[:, None]) / sp_), axis=1)  # (K, rp)
    img = np.einsum("k,ki,kj->ij", w, cp, cb) if len(b) else np.zeros((rp, rb))
    return PersistenceImage(
        image=img,
        birth_edges=be,
        persistence_edges=pe,
        sigma=(float(sb), float(sp_)),
        weighting=weighting,
        dim=dim,
        n_points=len(b),
        n_infinite=n_inf,
        infinite=infinite,
    )


def common_ranges(diagrams: Iterable, *, dim: int = 1) -> tuple[tuple[float, float], tuple[float, float]]:
    """Birth and persistence ranges covering the finite bars of ``dim`` in all ``diagrams``.

    Returns
    -------
    birth_range, persistence_range : (float, float)
        For :func:`persistence_image`, so that images of a series share one grid.
    """
    bs, ps = [], []
    for d in diagrams:
        s = d[(d["dim"] == dim) & np.isfinite(d["persistence"])]
        bs.append(s["birth"].to_numpy(dtype=float))
        ps.append(s["persistence"].to_numpy(dtype=float))
    b = np.concatenate(bs) if bs else np.empty(0)
    p = np.concatenate(ps) if ps else np.empty(0)
    br = (float(b.min()), float(b.max())) if len(b) else (0.0, 1.0)
    pr = (0.0, float(p.max())) if len(p) and p.max() > 0 else (0.0, 1.0)
    return br, pr


# ----------------------------------------------------------------------------- thresholds


def area_fractions(image: Any, *, n_thresholds: int = 10, value_range: tuple[float, float] | None = None):
    """Area fraction of the sublevel sets of a grey image at evenly spaced thresholds.

    The image is scaled to [0, 1] with ``value_range`` (the condition's range, for the
    ShAPE-style per-condition scaling; default the image's own min and max) and the
    fraction of pixels with scaled value ≤ *t* is reported for the bin centres
    *t* = (k + ½)/n, k = 0 … n − 1 (0.05, 0.15, …, 0.95 for ten thresholds).

    Parameters
    ----------
    image : (M, N) or (P, M, N) ndarray
        Grey values.
    n_thresholds : int
        Number of thresholds (10 as in the ShAPE study).
    value_range : (float, float), optional
        Values mapped to 0 and 1 (see :func:`condition_value_ranges`).

    Returns
    -------
    pandas.DataFrame
        ``threshold`` (scaled, 0–1), ``threshold_value`` (in image units),
        ``area_fraction`` (0–1, non-decreasing).
    """
    import pandas as pd

    arr = np.asarray(image, dtype=np.float64)
    if arr.ndim not in (2, 3) or arr.size == 0:
        raise ParameterError(f"image has shape {arr.shape}; expected a 2-D image or 3-D volume")
    if n_thresholds < 1:
        raise ParameterError(f"n_thresholds={n_thresholds!r} must be at least 1")
    lo, hi = (
        (float(arr.min()), float(arr.max())) if value_range is None else _pair(value_range, "value_range")
    )
    if not hi > lo:
        raise ParameterError(
            f"value_range ({lo}, {hi}) is empty (a constant image?); pass value_range=(low, high) with low < high"
        )
    t = (np.arange(n_thresholds) + 0.5) / n_thresholds
    values = lo + t * (hi - lo)
    flat = np.sort(arr.ravel())
    frac = np.searchsorted(flat, values, side="right") / flat.size
    return pd.DataFrame({"threshold": t, "threshold_value": values, "area_fraction": frac})


def condition_value_ranges(
    images: Sequence[Any], conditions: Sequence[Hashable], *, percentiles: tuple[float, float] = (0.0, 100.0)
) -> dict[Hashable, tuple[float, float]]:
    """Grey-value range of each processing condition, for :func:`area_fractions`.

    Parameters
    ----------
    images : sequence of ndarray
        Grey images.
    conditions : sequence
        The condition of each image (same length).
    percentiles : (float, float)
        Percentiles over all pixels of a condition's images taken as its low and high
        (0 and 100: min and max; e.g. (1, 99) is robust to outliers).

    Returns
    -------
    dict
        condition → (low, high).
    """
    if len(images) != len(conditions):
        raise ParameterError(
            f"images ({len(images)}) and conditions ({len(conditions)}) differ in length; give one condition per image"
        )
    groups: dict[Hashable, list[np.ndarray]] = {}
    for img, c in zip(images, conditions, strict=True):
        groups.setdefault(c, []).append(np.asarray(img, dtype=np.float64).ravel())
    out = {}
    for c, arrs in groups.items():
        lo, hi = np.percentile(np.concatenate(arrs), percentiles)
        out[c] = (float(lo), float(hi))
    return out
