"""2-D microstructure descriptors on label images, in physical units.

Every length is in µm when ``pixel_size`` (µm per pixel) is given and in pixels when it is
``None``; table columns carry the unit in their name (``area_um2`` or ``area_px2``).

Estimators
----------
Perimeter
    Normal-weighted edge count.  Every pair of 4-neighbour pixels that straddles the phase
    boundary is one unit edge; a straight boundary of length :math:`L` with unit normal
    :math:`n` produces :math:`L(|n_r| + |n_c|)` such edges, so each edge is weighted by
    :math:`1 / (|n_r| + |n_c|)` with :math:`n` from the gradient of the mask smoothed with a
    Gaussian of ``normal_sigma`` pixels.  This removes the orientation bias of pixel-edge
    counts (up to +41 %) and of 4-direction Crofton formulas (±5 %): disks of radius ≥ 3 px
    are within 0.3 %, squares of side ≥ 60 px within 2 % at any rotation.  The image frame is
    not part of the boundary.
Shape index
    Per particle :math:`SI = P / (2\\sqrt{\\pi A})`, the ratio of the perimeter to that of the
    disk of equal area: 1 for a disk, :math:`2/\\sqrt{\\pi} \\approx 1.128` for a square, larger
    for elongated or ragged particles.  It is the reciprocal of the ISO 9276-6:2008
    circularity :math:`\\sqrt{4\\pi A}/P` (ISO 9276-6, *Representation of results of particle
    size analysis — Part 6: Descriptive and quantitative representation of particle shape and
    morphology*).  The image value is the area-weighted mean over particles that do not touch
    the image border.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import ndimage as ndi

from semlab.errors import ParameterError
from semlab.quantify._common import (
    Phase,
    as_labels,
    isotropic,
    neighbourhood,
    phase_key,
    phase_mask,
    suffix,
    unit,
    warn,
)

__all__ = [
    "Descriptors2D",
    "chord_lengths",
    "describe_2d",
    "perimeter",
    "phase_fraction",
    "region_table",
    "shape_index",
    "specific_perimeter",
    "two_point_correlation",
]


# ----------------------------------------------------------------------------- basics


def phase_fraction(labels: Any, *, phase: Phase = 1) -> float:
    """Area (2-D) or volume (3-D) fraction of ``phase``: the relative density when it is the solid.

    Parameters
    ----------
    labels : (M, N) or (P, M, N) ndarray of int or bool
        Phase labels.
    phase : int or sequence of int
        Label value(s) of the phase.

    Returns
    -------
    float
        Fraction in [0, 1] (dimensionless).

    Examples
    --------
    >>> import numpy as np
    >>> phase_fraction(np.array([[0, 1], [1, 1]]))
    0.75
    """
    lab = as_labels(labels, ndim=(2, 3))
    return float(np.count_nonzero(phase_mask(lab, phase))) / lab.size


def _edge_weights(mask: np.ndarray, normal_sigma: float) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """For each axis: boolean map of boundary pairs (i, i+1), their weights, and which side is the phase.

    The smoothed gradient is computed in bands of rows with a halo wider than the Gaussian
    (the same values as on the whole image), so only the boundary pairs' values are kept.
    """
    rows = mask.shape[0]
    halo = int(4.0 * float(normal_sigma) + 0.5) + 2  # gaussian_filter's radius (truncate=4) + margin
    band = 512
    parts: list[list[np.ndarray]] = [[], []]
    ds = [mask[:-1] != mask[1:], mask[:, :-1] != mask[:, 1:]]
    for r0 in range(0, rows, band):
        r1 = min(r0 + band, rows)
        a0, a1 = max(r0 - halo, 0), min(r1 + 1 + halo, rows)
        f = mask[a0:a1].astype(np.float32)
        gr = ndi.gaussian_filter(f, normal_sigma, order=(1, 0), mode="nearest")[r0 - a0 :]
        gc = ndi.gaussian_filter(f, normal_sigma, order=(0, 1), mode="nearest")[r0 - a0 :]
        del f
        n0 = min(r1, rows - 1) - r0  # axis-0 pairs whose first row is in the band
        d0 = ds[0][r0 : r0 + n0]
        parts[0].append(_weights((gr[:n0] + gr[1 : n0 + 1])[d0], (gc[:n0] + gc[1 : n0 + 1])[d0]))
        d1 = ds[1][r0:r1]
        n1 = r1 - r0
        parts[1].append(_weights((gr[:n1, :-1] + gr[:n1, 1:])[d1], (gc[:n1, :-1] + gc[:n1, 1:])[d1]))
    out = []
    for axis in (0, 1):
        lo = (slice(None, -1), slice(None)) if axis == 0 else (slice(None), slice(None, -1))
        d = ds[axis]
        w = np.concatenate(parts[axis])
        parts[axis] = []
        out.append((d, w, mask[lo][d]))
    return out


def _weights(nr32: np.ndarray, nc32: np.ndarray) -> np.ndarray:
    """Edge weights 1 / (|n_r| + |n_c|) of unit normals from (unnormalised) float32 gradients."""
    nr = nr32.astype(np.float64)
    nc = nc32.astype(np.float64)
    norm = np.hypot(nr, nc)
    l1 = np.abs(nr) + np.abs(nc)
    w = np.full(norm.shape, math.pi / 4)  # isotropic mean where the normal is undefined
    ok = l1 > 1e-6
    w[ok] = norm[ok] / l1[ok]
    return w


def perimeter(
    labels: Any, *, pixel_size: float | None = None, phase: Phase = 1, normal_sigma: float = 1.0
) -> float:
    """Total length of the boundary of ``phase`` inside the image.

    Normal-weighted edge count (see the module notes); the image frame does not count.

    Parameters
    ----------
    labels : (M, N) ndarray of int or bool
        Phase labels.
    pixel_size : float, optional
        µm per pixel (square pixels).  ``None``: the result is in pixels.
    phase : int or sequence of int
        Label value(s) of the phase.
    normal_sigma : float
        Gaussian scale (pixels) of the boundary normals; 1 is a good default.

    Returns
    -------
    float
        Boundary length in µm (pixels when ``pixel_size`` is ``None``).
    """
    lab = as_labels(labels, ndim=2)
    px = isotropic(pixel_size, 2, what="perimeter")
    mask = phase_mask(lab, phase)
    total = sum(float(w.sum()) for _, w, _ in _edge_weights(mask, normal_sigma))
    return total * (px or 1.0)


def specific_perimeter(
    labels: Any, *, pixel_size: float | None = None, phase: Phase = 1, normal_sigma: float = 1.0
) -> float:
    """Boundary length of ``phase`` per unit image area (the 2-D analogue of S_V).

    Normalised by the **whole** image area (phase + matrix), as in stereology's
    :math:`L_A`; :math:`\\pi L_A / 4` estimates the specific surface area :math:`S_V`
    of an isotropic structure.

    Returns
    -------
    float
        µm⁻¹ (px⁻¹ when ``pixel_size`` is ``None``).
    """
    lab = as_labels(labels, ndim=2)
    px = isotropic(pixel_size, 2, what="specific_perimeter") or 1.0
    return perimeter(lab, pixel_size=px, phase=phase, normal_sigma=normal_sigma) / (lab.size * px * px)


# ----------------------------------------------------------------------------- particles


def region_table(
    labels: Any,
    *,
    pixel_size: float | None = None,
    phase: Phase = 1,
    connectivity: int = 8,
    normal_sigma: float = 1.0,
):
    """One row per connected particle (or pore) of ``phase``: size and shape.

    Parameters
    ----------
    labels : (M, N) ndarray of int or bool
        Phase labels.
    pixel_size : float, optional
        µm per pixel (square pixels); ``None`` gives pixel units (``_px`` columns).
    phase : int or sequence of int
        Label value(s) of the phase whose connected components are the particles.
    connectivity : {8, 4}, default 8
        Pixels sharing an edge (4) or an edge or a corner (8) belong to one particle.
    normal_sigma : float
        Scale of the perimeter estimator's normals (pixels).

    Returns
    -------
    pandas.DataFrame
        Columns (µm shown; ``px`` when the pixel size is unknown): ``label``, ``area_um2``,
        ``equivalent_diameter_um`` (:math:`2\\sqrt{A/\\pi}`), ``perimeter_um`` (boundary inside
        the image), ``major_axis_um`` and ``minor_axis_um`` (of the ellipse with the same second
        moments, pixels treated as unit squares), ``aspect_ratio`` (major/minor, ≥ 1),
        ``solidity`` (pixel count / pixel count of the digital convex hull, the pixels whose
        centres lie in the convex hull of the particle's pixel centres; exactly 1 for a
        digitised convex shape), ``shape_index`` (:math:`P/(2\\sqrt{\\pi A})`),
        ``centroid_row_um``, ``centroid_col_um``, ``touches_border`` (bool; such particles are
        cut by the frame, so their size is a lower bound).  ``df.attrs["length_unit"]`` is
        ``"µm"`` or ``"px"``.
    """
    import pandas as pd

    lab = as_labels(labels, ndim=2)
    px = isotropic(pixel_size, 2, what="region_table")
    structure = neighbourhood(connectivity)
    mask = phase_mask(lab, phase)
    comp, n = ndi.label(mask, structure=structure)
    s = suffix(pixel_size)
    p = px or 1.0
    cols = [
        "label", f"area_{s}2", f"equivalent_diameter_{s}", f"perimeter_{s}", f"major_axis_{s}", f"minor_axis_{s}",
        "aspect_ratio", "solidity", "shape_index", f"centroid_row_{s}", f"centroid_col_{s}", "touches_border",
    ]  # fmt: skip
    if n == 0:
        df = pd.DataFrame({c: pd.Series(dtype=bool if c == "touches_border" else float) for c in cols})
        df.attrs["length_unit"] = unit(pixel_size)
        return df
    # moments of each component, vectorised (pixel centres at integer row, col)
    idx = np.flatnonzero(comp)
    lbl = comp.ravel()[idx]
    r, c = (x.astype(np.int32) for x in np.divmod(idx, lab.shape[1]))  # int32: less memory
    del idx
    area = np.bincount(lbl, minlength=n + 1)[1:].astype(np.float64)
    mr = np.bincount(lbl, weights=r, minlength=n + 1)[1:] / area
    mc = np.bincount(lbl, weights=c, minlength=n + 1)[1:] / area
    vrr = np.bincount(lbl, weights=np.square(r, dtype=np.float64), minlength=n + 1)[1:] / area - mr * mr
    vcc = np.bincount(lbl, weights=np.square(c, dtype=np.float64), minlength=n + 1)[1:] / area - mc * mc
    vrc = np.bincount(lbl, weights=np.multiply(r, c, dtype=np.float64), minlength=n + 1)[1:] / area - mr * mc
    # ellipse axes from second moments + 1/12 per unit-square pixel (exact for rectangles)
    half_tr = (vrr + vcc) / 2
    disc = np.sqrt(np.maximum(((vrr - vcc) / 2) ** 2 + vrc * vrc, 0))
    major = 4 * np.sqrt(np.maximum(half_tr + disc, 0) + 1 / 12)
    minor = 4 * np.sqrt(np.maximum(half_tr - disc, 0) + 1 / 12)
    # perimeter per particle: each boundary edge belongs to the particle on its phase side
    perim = np.zeros(n + 1)
    for axis, (d, w, lo_is_phase) in enumerate(_edge_weights(mask, normal_sigma)):
        lo = (slice(None, -1), slice(None)) if axis == 0 else (slice(None), slice(None, -1))
        hi = (slice(1, None), slice(None)) if axis == 0 else (slice(None), slice(1, None))
        owner = np.where(lo_is_phase, comp[lo][d], comp[hi][d])
        perim += np.bincount(owner, weights=w, minlength=n + 1)
        del d, w, lo_is_phase, owner
    perim = perim[1:]
    rows, cols_ = lab.shape
    border = np.zeros(n, bool)
    for k, sl in enumerate(ndi.find_objects(comp)):
        if sl is not None:
            border[k] = sl[0].start == 0 or sl[1].start == 0 or sl[0].stop == rows or sl[1].stop == cols_
    del comp  # the hulls below need only the particles' pixel lists: less memory at their peak
    hull = _hull_areas(lbl, r, c, n)
    with np.errstate(divide="ignore", invalid="ignore"):
        si = np.where(perim > 0, perim / (2 * np.sqrt(np.pi * area)), np.nan)
    df = pd.DataFrame(
        {
            "label": np.arange(1, n + 1, dtype=np.int64),
            f"area_{s}2": area * p * p,
            f"equivalent_diameter_{s}": 2 * np.sqrt(area / np.pi) * p,
            f"perimeter_{s}": perim * p,
            f"major_axis_{s}": major * p,
            f"minor_axis_{s}": minor * p,
            "aspect_ratio": major / minor,
            "solidity": area / hull,
            "shape_index": si,
            f"centroid_row_{s}": (mr + 0.5) * p,
            f"centroid_col_{s}": (mc + 0.5) * p,
            "touches_border": border,
        }
    )
    df.attrs["length_unit"] = unit(pixel_size)
    return df


def _hull_areas(lbl: np.ndarray, r: np.ndarray, c: np.ndarray, n: int) -> np.ndarray:
    """Pixel count of each component's digital convex hull.

    The hull is taken over the pixel centres (the leftmost and rightmost pixel of each row
    are all it can use); the pixels whose centres lie inside or on it are counted with
    Pick's theorem, :math:`I + B = A + B/2 + 1`.  A digitised convex shape is its own
    digital hull, so its solidity is exactly 1.
    """
    key = lbl.astype(np.int64) * (int(r.max()) + 1) + r
    order = np.lexsort((c, key))
    k_sorted = key[order]
    first = np.r_[True, k_sorted[1:] != k_sorted[:-1]]
    last = np.r_[k_sorted[1:] != k_sorted[:-1], True]
    pr = np.concatenate([r[order][first], r[order][last]])
    pc = np.concatenate([c[order][first], c[order][last]])
    pl = np.concatenate([lbl[order][first], lbl[order][last]])
    o = np.lexsort((pc, pr, pl))
    pr, pc, pl = pr[o], pc[o], pl[o]
    bounds = np.searchsorted(pl, np.arange(1, n + 2))
    out = np.empty(n)
    for k in range(n):
        a, b = bounds[k], bounds[k + 1]
        out[k] = _digital_hull_count(pr[a:b].tolist(), pc[a:b].tolist())
    return out


def _digital_hull_count(xs: list, ys: list) -> float:
    """Lattice points inside or on the convex hull of integer points sorted by (x, y)."""
    pts = list(dict.fromkeys(zip(xs, ys, strict=True)))

    def cross(o, a, b):
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower: list = []
    for q in pts:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], q) <= 0:
            lower.pop()
        lower.append(q)
    upper: list = []
    for q in reversed(pts):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], q) <= 0:
            upper.pop()
        upper.append(q)
    hull = lower[:-1] + upper[:-1]
    if len(hull) <= 2:  # a point or a segment
        if len(pts) == 1:
            return 1.0
        (x0, y0), (x1, y1) = pts[0], pts[-1]
        return float(math.gcd(abs(x1 - x0), abs(y1 - y0)) + 1)
    area2 = 0
    boundary = 0
    for i in range(len(hull)):
        x0, y0 = hull[i]
        x1, y1 = hull[(i + 1) % len(hull)]
        area2 += x0 * y1 - x1 * y0
        boundary += math.gcd(abs(x1 - x0), abs(y1 - y0))
    return abs(area2) / 2 + boundary / 2 + 1


def shape_index(
    labels: Any, *, phase: Phase = 1, exclude_border: bool = True, connectivity: int = 8
) -> float:
    """Area-weighted mean shape index :math:`P/(2\\sqrt{\\pi A})` of the particles of ``phase``.

    Dimensionless: 1 for disks, 1.128 for squares.  Particles touching the image border
    are left out when ``exclude_border``.  Particles are 8-connected by default
    (``connectivity=4``: only pixels sharing an edge).  NaN (with a warning) when no
    particle qualifies.
    """
    df = region_table(labels, phase=phase, connectivity=connectivity)
    return _shape_index(df, exclude_border)


def _shape_index(df, exclude_border: bool) -> float:
    sel = df[~df["touches_border"]] if exclude_border else df
    sel = sel[np.isfinite(sel["shape_index"])]
    if len(sel) == 0:
        return math.nan
    return float(np.average(sel["shape_index"], weights=sel.iloc[:, 1]))


# ----------------------------------------------------------------------------- statistics


def two_point_correlation(
    labels: Any, *, pixel_size: float | None = None, phase: Phase = 1, max_distance: float | None = None
):
    """Radially averaged two-point probability function :math:`S_2(r)` of ``phase``.

    :math:`S_2(r)` is the probability that two points a distance :math:`r` apart both lie
    in the phase; :math:`S_2(0) = \\phi` and :math:`S_2(r) \\to \\phi^2` for an uncorrelated
    structure.  Computed with FFTs without periodic wrap-around: each displacement is
    normalised by the number of pixel pairs that fit inside the image.  Works on 2-D
    and 3-D labels (isotropic pixels).

    Parameters
    ----------
    labels : (M, N) or (P, M, N) ndarray of int or bool
    pixel_size : float, optional
        µm per pixel; ``None`` gives distances in pixels.
    phase : int or sequence of int
    max_distance : float, optional
        Largest :math:`r` in the output, in the unit of the output (default: a quarter of
        the smallest image side).

    Returns
    -------
    pandas.DataFrame
        Columns ``r_um`` (``r_px`` when the pixel size is unknown; bin centres at integer
        pixel distances) and ``s2`` (dimensionless).
    """
    import pandas as pd

    lab = as_labels(labels, ndim=(2, 3))
    px = isotropic(pixel_size, lab.ndim, what="two_point_correlation")
    p = px or 1.0
    mask = phase_mask(lab, phase)
    rmax = int(min(lab.shape) // 4) if max_distance is None else int(math.floor(max_distance / p))
    rmax = max(1, min(rmax, min(lab.shape) - 1))
    auto = _autocorrelation(mask, rmax)
    del mask
    # pixel pairs a displacement d apart inside the image: prod (n_i - |d_i|), exactly
    offs = np.r_[0 : rmax + 1, -rmax:0]
    counts = [np.asarray(n - np.abs(offs), dtype=np.float64) for n in lab.shape]
    num = np.zeros(rmax + 1)
    den = np.zeros(rmax + 1, dtype=np.int64)
    d2_rest = sum(np.ix_(*[offs.astype(np.float64) ** 2] * (lab.ndim - 1)))
    c_rest = math.prod(np.ix_(*counts[1:]))
    for i, d0 in enumerate(offs):  # one displacement along axis 0 at a time: bounded memory
        rbin = np.rint(np.sqrt(float(d0) ** 2 + d2_rest)).astype(np.int64).ravel()
        keep = rbin <= rmax
        s2 = auto[i].ravel()[keep] / np.maximum((counts[0][i] * c_rest).ravel()[keep], 1.0)
        num += np.bincount(rbin[keep], weights=s2, minlength=rmax + 1)
        den += np.bincount(rbin[keep], minlength=rmax + 1)
    s = suffix(pixel_size)
    df = pd.DataFrame({f"r_{s}": np.arange(rmax + 1) * p, "s2": num / np.maximum(den, 1)})
    df.attrs["length_unit"] = unit(pixel_size)
    return df


def _autocorrelation(mask: np.ndarray, rmax: int) -> np.ndarray:
    """Non-periodic autocorrelation :math:`\\sum_x m(x) m(x + d)` of a boolean array for
    displacements :math:`|d_i| \\le` ``rmax``, indexed per axis as ``np.r_[0:rmax+1, -rmax:0]``.

    One zero-padded real FFT, its power spectrum and the inverse, done axis by axis in
    chunks inside one complex128 array (about 12.5 bytes per image pixel in 2-D), so that
    no full-size temporary is made; the inverse of the last axis is taken only for the
    kept displacements.
    """
    from scipy import fft

    shape = [fft.next_fast_len(n + rmax + 1, real=True) for n in mask.shape]
    spec = np.zeros((*shape[:-1], shape[-1] // 2 + 1), dtype=np.complex128)
    step = max(1, (1 << 20) // max(1, math.prod(mask.shape[1:])))  # ~1 M values a chunk
    for i0 in range(0, mask.shape[0], step):
        chunk = mask[i0 : i0 + step].astype(np.float64)
        spec[(slice(i0, i0 + len(chunk)), *[slice(0, n) for n in mask.shape[1:-1]])] = fft.rfft(
            chunk, n=shape[-1], axis=-1
        )
    for ax in range(mask.ndim - 1):
        _fft_axis(spec, ax, inverse=False)
    for i0 in range(0, spec.shape[0], 256):
        blk = spec[i0 : i0 + 256]
        blk[...] = blk.real**2 + blk.imag**2
    for ax in range(mask.ndim - 1):
        _fft_axis(spec, ax, inverse=True)
    offs = np.r_[0 : rmax + 1, -rmax:0]
    keep = [np.where(offs < 0, n + offs, offs) for n in shape]
    out = np.empty((len(offs),) * mask.ndim)
    for i, r in enumerate(keep[0]):
        sub = spec[r][np.ix_(*keep[1:-1], np.arange(spec.shape[-1]))] if mask.ndim == 3 else spec[r]
        out[i] = fft.irfft(sub, n=shape[-1], axis=-1)[..., keep[-1]]
    return out


def _fft_axis(spec: np.ndarray, axis: int, *, inverse: bool) -> None:
    """In-place complex FFT (or inverse) of ``spec`` along ``axis``, in chunks of the last axis."""
    from scipy import fft

    f = fft.ifft if inverse else fft.fft
    n_last = spec.shape[-1]
    step = max(1, (1 << 20) // max(1, spec.size // n_last))
    for j0 in range(0, n_last, step):
        sl = spec[..., j0 : j0 + step]
        sl[...] = f(sl, axis=axis)


def _correlation_length(s2: np.ndarray, r: np.ndarray, phi: float) -> float:
    """Distance where the normalised autocovariance first falls to 1/e (linear interpolation)."""
    var = phi - phi * phi
    if var <= 0:
        return math.nan
    c = (s2 - phi * phi) / var
    below = np.nonzero(c <= math.exp(-1))[0]
    if len(below) == 0:
        return math.nan
    i = below[0]
    if i == 0:
        return 0.0
    t = (c[i - 1] - math.exp(-1)) / (c[i - 1] - c[i])
    return float(r[i - 1] + t * (r[i] - r[i - 1]))


def chord_lengths(
    labels: Any,
    *,
    pixel_size: float | tuple[float, ...] | None = None,
    phase: Phase = 1,
    axis: int | None = None,
    exclude_border: bool = True,
) -> np.ndarray:
    """Lengths of the chords (runs of consecutive pixels) of ``phase`` along image axes.

    Parameters
    ----------
    labels : (M, N) or (P, M, N) ndarray of int or bool
    pixel_size : float or tuple of float, optional
        µm per pixel, one number or one per axis (chords along each axis use that axis'
        size); ``None`` gives lengths in pixels.
    phase : int or sequence of int
    axis : int, optional
        Axis along which chords run; ``None`` pools all axes.
    exclude_border : bool
        Drop chords that touch the image border (they are cut, so biased short).

    Returns
    -------
    (K,) ndarray of float
        Chord lengths in µm (pixels when ``pixel_size`` is ``None``).  For a convex particle
        hit by lines along a fixed direction the mean chord is area / projected width
        (:math:`\\pi r/2` for a disk of radius :math:`r`).
    """
    from semlab.quantify._common import spacing

    lab = as_labels(labels, ndim=(2, 3))
    sp = spacing(pixel_size, lab.ndim) or (1.0,) * lab.ndim
    mask = phase_mask(lab, phase)
    axes = range(lab.ndim) if axis is None else [axis]
    out = []
    for ax in axes:
        if not -lab.ndim <= ax < lab.ndim:
            raise ParameterError(f"axis={ax} is out of range for a {lab.ndim}-D image")
        m = np.moveaxis(mask, ax, -1).reshape(-1, mask.shape[ax])
        padded = np.zeros((m.shape[0], m.shape[1] + 2), np.int8)
        padded[:, 1:-1] = m
        d = np.diff(padded, axis=1).ravel()
        starts = np.nonzero(d == 1)[0]
        ends = np.nonzero(d == -1)[0]
        width = m.shape[1] + 1
        s0, e0 = starts % width, ends % width
        length = (e0 - s0).astype(np.float64)
        if exclude_border:
            keep = (s0 > 0) & (e0 < m.shape[1])
            length = length[keep]
        out.append(length * sp[ax])
    return np.concatenate(out) if out else np.empty(0)


# ----------------------------------------------------------------------------- all at once


@dataclass(frozen=True)
class Descriptors2D:
    """The 2-D descriptor set of one label image (see :func:`describe_2d`).

    Lengths are in ``length_unit`` (``"µm"``, or ``"px"`` when the pixel size is unknown).

    Attributes
    ----------
    phase : int or tuple of int
        The phase described.
    length_unit : str
        ``"µm"`` or ``"px"``.
    pixel_size : float or None
        µm per pixel.
    shape : tuple of int
        Image shape (rows, columns).
    phase_fraction : float
        Area fraction of the phase (relative density when it is the solid).
    specific_perimeter : float
        Boundary length per image area, ``length_unit``⁻¹.
    shape_index : float
        Area-weighted mean :math:`P/(2\\sqrt{\\pi A})` of interior particles (1 = disk).
    n_particles, n_interior_particles : int
        Connected components of the phase; those not touching the border.
    connectivity : int
        4 or 8: the neighbourhood that made the particles (see :func:`describe_2d`).
    number_density : float
        Particles per image area, ``length_unit``⁻².
    mean_area : float
        Mean interior particle area, ``length_unit``².
    mean_equivalent_diameter, median_equivalent_diameter : float
        Of interior particles, ``length_unit``.
    mean_aspect_ratio, mean_solidity : float
        Of interior particles (dimensionless).
    mean_chord_length : float
        Mean chord of the phase along rows and columns (border chords dropped), ``length_unit``.
    correlation_length : float
        Distance at which the normalised two-point autocovariance falls to 1/e, ``length_unit``.
    """

    phase: int | tuple[int, ...]
    length_unit: str
    pixel_size: float | None
    shape: tuple[int, int]
    phase_fraction: float
    specific_perimeter: float
    shape_index: float
    n_particles: int
    n_interior_particles: int
    number_density: float
    mean_area: float
    mean_equivalent_diameter: float
    median_equivalent_diameter: float
    mean_aspect_ratio: float
    mean_solidity: float
    mean_chord_length: float
    correlation_length: float
    connectivity: int = 8

    @property
    def relative_density(self) -> float:
        """Alias of :attr:`phase_fraction` (the solid's area fraction)."""
        return self.phase_fraction

    def to_dict(self) -> dict[str, Any]:
        """Flat dict with unit-suffixed keys (``specific_perimeter_per_um``, ``mean_area_um2`` …)."""
        s = "px" if self.length_unit == "px" else "um"
        d = asdict(self)
        return {
            "phase": d["phase"] if np.isscalar(d["phase"]) else list(d["phase"]),
            "pixel_size_um": self.pixel_size,
            "length_unit": self.length_unit,
            "phase_fraction": self.phase_fraction,
            f"specific_perimeter_per_{s}": self.specific_perimeter,
            "shape_index": self.shape_index,
            "connectivity": self.connectivity,
            "n_particles": self.n_particles,
            "n_interior_particles": self.n_interior_particles,
            f"number_density_per_{s}2": self.number_density,
            f"mean_area_{s}2": self.mean_area,
            f"mean_equivalent_diameter_{s}": self.mean_equivalent_diameter,
            f"median_equivalent_diameter_{s}": self.median_equivalent_diameter,
            "mean_aspect_ratio": self.mean_aspect_ratio,
            "mean_solidity": self.mean_solidity,
            f"mean_chord_length_{s}": self.mean_chord_length,
            f"correlation_length_{s}": self.correlation_length,
        }


def describe_2d(
    labels: Any,
    *,
    pixel_size: float | None = None,
    phase: Phase = 1,
    exclude_border: bool = True,
    connectivity: int = 8,
) -> Descriptors2D:
    """All 2-D descriptors of ``phase`` in one call.

    Parameters
    ----------
    labels : (M, N) ndarray of int or bool
        Phase labels (e.g. 0 = solid, 1 = pore, as semlab.segment writes).  Grey images are refused.
    pixel_size : float, optional
        µm per pixel (square pixels).  ``None``: every length is in pixels and
        ``length_unit`` says ``"px"``.
    phase : int or sequence of int
        Label value(s) of the phase to describe.
    exclude_border : bool
        Leave particles that touch the image border out of the size and shape statistics.
    connectivity : {8, 4}, default 8
        Pixels of the phase sharing an edge (4) or an edge or a corner (8) belong to one
        particle: sets ``n_particles`` and every per-particle statistic.  Use 4 for masks
        drawn for 4-connectivity (diagonal touches separate).

    Returns
    -------
    Descriptors2D
        Undefined values (no interior particle, one phase only) are NaN, with a
        :class:`~semlab.quantify.QuantifyWarning`.

    Examples
    --------
    >>> import numpy as np
    >>> rr, cc = np.mgrid[:200, :200]
    >>> disk = (rr - 100) ** 2 + (cc - 100) ** 2 <= 40 ** 2
    >>> d = describe_2d(disk, pixel_size=0.5)
    >>> round(d.mean_equivalent_diameter, 1), d.length_unit
    (40.0, 'µm')
    """
    lab = as_labels(labels, ndim=2)
    px = isotropic(pixel_size, 2, what="describe_2d")
    neighbourhood(connectivity)  # a bad value fails before any work
    p = px or 1.0
    mask = phase_mask(lab, phase)  # warns once for one-phase images
    binary = mask.astype(np.uint8)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        phi = float(np.count_nonzero(mask)) / mask.size
        del mask  # the functions below take the uint8 copy
        sp = specific_perimeter(binary, pixel_size=px, phase=1)
        table = region_table(binary, pixel_size=px, phase=1, connectivity=connectivity)
        s2 = two_point_correlation(binary, pixel_size=px, phase=1)
        chords = chord_lengths(binary, pixel_size=px, phase=1, exclude_border=True)
    sel = table[~table["touches_border"]] if exclude_border else table
    s = suffix(pixel_size)
    if len(sel) == 0 and 0 < phi < 1:
        warn(
            f"no particle of phase={phase!r} lies inside the image{' (all touch the border)' if len(table) else ''}; "
            "size and shape statistics are NaN — pass exclude_border=False to use cut particles"
        )

    def mean(col: str) -> float:
        v = sel[col].to_numpy(dtype=float)
        v = v[np.isfinite(v)]
        return float(v.mean()) if len(v) else math.nan

    eqd = sel[f"equivalent_diameter_{s}"].to_numpy(dtype=float)
    return Descriptors2D(
        phase=phase_key(phase),
        length_unit=unit(pixel_size),
        pixel_size=px,
        shape=(int(lab.shape[0]), int(lab.shape[1])),
        phase_fraction=phi,
        specific_perimeter=sp,
        shape_index=_shape_index(table, exclude_border),
        n_particles=len(table),
        n_interior_particles=int((~table["touches_border"]).sum()),
        number_density=len(table) / (lab.size * p * p),
        mean_area=mean(f"area_{s}2"),
        mean_equivalent_diameter=float(eqd.mean()) if len(eqd) else math.nan,
        median_equivalent_diameter=float(np.median(eqd)) if len(eqd) else math.nan,
        mean_aspect_ratio=mean("aspect_ratio"),
        mean_solidity=mean("solidity"),
        mean_chord_length=float(chords.mean()) if len(chords) else math.nan,
        correlation_length=_correlation_length(s2["s2"].to_numpy(), s2[f"r_{s}"].to_numpy(), phi),
        connectivity=int(connectivity),
    )
