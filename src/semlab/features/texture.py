"""Classical texture and acquisition (nuisance) statistics of grey patches, without a CNN.

Both work on (n, H, W) grey patches in [0, 1] and return one row per patch.

* :func:`texture_features` — local binary pattern histograms, grey-level co-occurrence
  (GLCM) properties at several distances and angles, and Gabor filter energies
  (scikit-image and SciPy).
* :func:`nuisance_features` — what the acquisition, not the material, sets: grey-value
  histogram statistics of the *unequalized* patch, sharpness (variance of the Laplacian,
  mean gradient), and the image's size and pixel size.  A model that does well on these
  alone may have learnt the sessions rather than the microstructure.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from semlab.errors import ParameterError

__all__ = [
    "NUISANCE_NAMES",
    "TEXTURE_CONFIG",
    "nuisance_features",
    "nuisance_width",
    "texture_features",
    "texture_width",
]

#: Settings of :func:`texture_features` (recorded in every table made with them).
TEXTURE_CONFIG: dict[str, Any] = {
    "lbp": [[8, 1], [16, 2], [24, 3]],  # (points P, radius R in px), "uniform" patterns: P + 2 bins each
    "glcm_levels": 32,
    "glcm_distances": [1, 2, 4, 8],  # px
    "glcm_angles_deg": [0, 45, 90, 135],
    "glcm_properties": ["contrast", "dissimilarity", "homogeneity", "energy", "correlation", "ASM"],
    "glcm_summary": "mean and range over the angles, per distance and property",
    "gabor_frequencies": [0.05, 0.1, 0.2, 0.4],  # cycles per px
    "gabor_orientations": 4,
    "gabor_summary": "mean and standard deviation of the response magnitude, per filter",
}

#: Names of the patch statistics of :func:`nuisance_features`, in column order.
NUISANCE_NAMES = (
    "grey_mean",
    "grey_std",
    "grey_p01",
    "grey_p05",
    "grey_p50",
    "grey_p95",
    "grey_p99",
    "grey_skewness",
    "fraction_black",
    "fraction_white",
    "log10_laplacian_variance",
    "mean_gradient",
    "log10_image_height_px",
    "log10_image_width_px",
    "log10_pixel_size_um",
    "pixel_size_known",
)


def texture_width() -> int:
    """Number of texture features per patch (134 with :data:`TEXTURE_CONFIG`)."""
    c = TEXTURE_CONFIG
    lbp = sum(p + 2 for p, _ in c["lbp"])
    glcm = 2 * len(c["glcm_distances"]) * len(c["glcm_properties"])
    gabor = 2 * len(c["gabor_frequencies"]) * c["gabor_orientations"]
    return lbp + glcm + gabor


def nuisance_width() -> int:
    """Number of nuisance features per patch."""
    return len(NUISANCE_NAMES)


@functools.lru_cache(maxsize=4)
def _gabor_bank(shape: tuple[int, int]) -> list[np.ndarray]:
    """FFTs of the Gabor kernels of :data:`TEXTURE_CONFIG`, zero-padded to ``shape`` (kept per shape)."""
    from skimage.filters import gabor_kernel

    bank = []
    k = TEXTURE_CONFIG["gabor_orientations"]
    for f in TEXTURE_CONFIG["gabor_frequencies"]:
        for j in range(k):
            kern = gabor_kernel(f, theta=np.pi * j / k)
            h0, w0 = kern.shape
            top, left = max(0, (h0 - shape[0]) // 2), max(0, (w0 - shape[1]) // 2)
            kern = kern[top : top + shape[0], left : left + shape[1]]  # centre part if larger
            pad = np.zeros(shape, dtype=np.complex128)
            h, w = kern.shape
            pad[:h, :w] = kern
            pad = np.roll(pad, (-(h // 2), -(w // 2)), axis=(0, 1))  # centre the kernel at (0, 0)
            bank.append(np.fft.fft2(pad))
    return bank


def _one_texture(p: np.ndarray, bank: list[np.ndarray]) -> np.ndarray:
    from skimage.feature import graycomatrix, graycoprops, local_binary_pattern

    c = TEXTURE_CONFIG
    u8 = np.clip(np.rint(p * 255.0), 0, 255).astype(np.uint8)
    parts = []
    for points, radius in c["lbp"]:
        codes = local_binary_pattern(u8, points, radius, method="uniform")
        hist = np.bincount(codes.astype(np.int64).ravel(), minlength=points + 2)[: points + 2]
        parts.append(hist / max(1, codes.size))
    levels = c["glcm_levels"]
    q = np.minimum((p * levels).astype(np.int64), levels - 1).astype(np.uint8)
    angles = np.deg2rad(c["glcm_angles_deg"])
    glcm = graycomatrix(q, c["glcm_distances"], angles, levels=levels, symmetric=True, normed=True)
    for prop in c["glcm_properties"]:
        v = np.nan_to_num(graycoprops(glcm, prop), nan=0.0)  # (distances, angles); flat patch: 0
        parts += [v.mean(axis=1), v.max(axis=1) - v.min(axis=1)]
    spec = np.fft.fft2(p - p.mean())
    for kf in bank:
        mag = np.abs(np.fft.ifft2(spec * kf))
        parts.append(np.array([mag.mean(), mag.std()]))
    return np.concatenate(parts)


def texture_features(patches: np.ndarray) -> np.ndarray:
    """Classical texture statistics of grey patches, one row per patch.

    Parameters
    ----------
    patches : (n, H, W) ndarray
        Grey patches in [0, 1] (equalized as the recipe says), H and W >= 8 px.

    Returns
    -------
    (n, 134) ndarray of float32
        Uniform LBP histograms (fractions) for (P, R) = (8, 1), (16, 2), (24, 3) px; GLCM
        contrast, dissimilarity, homogeneity, energy, correlation and ASM at distances 1, 2,
        4, 8 px (32 grey levels, symmetric), as the mean and the range over 0°, 45°, 90°,
        135°; Gabor filters (4 frequencies 0.05–0.4 cycles/px × 4 orientations), the mean
        and standard deviation of the response magnitude.  Unitless.
    """
    a = np.asarray(patches, dtype=np.float64)
    if a.ndim != 3 or min(a.shape[1:]) < 8:
        raise ParameterError(f"patches have shape {a.shape}; give (n, H, W) with H, W >= 8 px")
    out = np.empty((a.shape[0], texture_width()), dtype=np.float32)
    bank = _gabor_bank(tuple(a.shape[1:])) if a.shape[0] else []
    for i, p in enumerate(a):
        out[i] = _one_texture(p, bank)
    return out


def nuisance_features(
    patches: np.ndarray,
    *,
    image_shape: tuple[int, int] | None = None,
    pixel_size: float | None = None,
) -> np.ndarray:
    """Acquisition statistics of grey patches, one row per patch (:data:`NUISANCE_NAMES`).

    Parameters
    ----------
    patches : (n, H, W) ndarray
        *Unequalized* grey patches in [0, 1] (unsigned images divided by their dtype's
        range), so that brightness and contrast differences between sessions remain.
    image_shape : (int, int), optional
        Height and width (px) of the image the patches come from, as read (data bar
        cropped); unknown: 0.
    pixel_size : float, optional
        Its pixel size, µm; unknown: ``log10_pixel_size_um = 0`` and ``pixel_size_known = 0``.

    Returns
    -------
    (n, 16) ndarray of float32
        Grey mean, std, 1/5/50/95/99th percentiles, skewness, fractions at or below 1/255
        and at or above 254/255; log10 variance of the 4-neighbour Laplacian and mean
        gradient magnitude (sharpness, per px); log10 image height and width; log10 pixel
        size and whether it is known.
    """
    from scipy import ndimage

    a = np.asarray(patches, dtype=np.float64)
    if a.ndim != 3:
        raise ParameterError(f"patches have shape {a.shape}; give (n, H, W) grey patches")
    h, w = image_shape if image_shape is not None else (0, 0)
    known = pixel_size is not None and np.isfinite(pixel_size) and pixel_size > 0
    image_cols = [
        np.log10(max(float(h), 1.0)),
        np.log10(max(float(w), 1.0)),
        float(np.log10(pixel_size)) if known and pixel_size is not None else 0.0,
        1.0 if known else 0.0,
    ]
    out = np.empty((a.shape[0], nuisance_width()), dtype=np.float32)
    for i, p in enumerate(a):
        mean, std = p.mean(), p.std()
        skew = float(((p - mean) ** 3).mean() / std**3) if std > 0 else 0.0
        lap = ndimage.laplace(p)
        gy, gx = np.gradient(p)
        out[i] = [
            mean,
            std,
            *np.percentile(p, [1, 5, 50, 95, 99]),
            skew,
            float((p <= 1 / 255).mean()),
            float((p >= 254 / 255).mean()),
            np.log10(lap.var() + 1e-12),
            float(np.hypot(gx, gy).mean()),
            *image_cols,
        ]
    return out
