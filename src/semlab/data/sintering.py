"""Synthetic SEM micrographs of laser-sintered copper nanoparticle films.

The morphology follows the laser exposure as in micro-scale selective laser sintering
(µ-SLS) of copper nanoparticle inks: more bursts give wider necks, coarser grains and
lower porosity.  The generator is the built-in data of semlab's demo and tests; it gives
a ground-truth pore/solid label image and the true porosity with every micrograph.

Model
-----
1. **As-deposited packing.**  A top layer of spherical particles (log-normal radii, median
   28–38 nm, clipped to 20–60 nm before coarsening) is placed by random sequential
   addition with slight overlap allowed; a looser layer lies about 1.6 particle radii
   deeper and shows through the pores.  The surface height ``h`` is the upper envelope of
   the particles' spherical caps.
2. **Sintering.**  The effective exposure ``E = burst_count · (duty_cycle / 0.5)^0.75``
   sets (a) the grain radius by a cube-root coarsening law
   ``r(E) = r0 · (0.45 + 0.55 E)^(1/3)`` (×1, 1.17, 1.44, 1.74 for 1, 2, 4, 8 bursts),
   (b) how close particle centres may come (shrinkage: ``alpha = 0.85 - 0.08 ln E`` of
   the radius sum), (c) a smoothing length for neck growth and surface diffusion (the
   height field is Gaussian-filtered over ``r (0.10 + 0.09 ln(1 + E))``) and (d) the
   target porosity ``phi(E) = 0.12 + 0.36 (1 + 0.35 E)^-1.2`` (0.37, 0.31, 0.25, 0.19 for
   1, 2, 4, 8 bursts at duty cycle 0.5).  Solid is where the sintered surface lies above
   the level set that gives the target porosity; below it is pore.
3. **SEM rendering.**  Secondary-electron yield rises with the local tilt
   (``1/cos θ`` from the height gradient), on convex relief and near pore edges (edge
   effect); pores darken with depth below the rim; a weak directional term mimics the
   side-mounted detector; a large-scale tilt and vignetting shade the field; the probe
   blurs it; Poisson shot noise (30–100 electrons per pixel on flat solid) and Gaussian
   read noise are added; the operator's brightness and contrast map it to grey levels
   (content ≤ dtype maximum − 1).  A burned-in FEI-style data bar with a scale bar
   closes the image.

What varies
-----------
* per sample (:class:`FilmSample`): the as-deposited particle radius (28–38 nm median)
  and its spread, a porosity factor (log-normal, sd 7 %), the operator's brightness and
  contrast, the electron dose (noise), the probe size and the shading (tilt direction and
  strength, vignetting);
* per image: the particle packing, a porosity jitter (log-normal, sd 3 %), a brightness
  jitter, the dose jitter and the noise.

With the duty cycle of each sample also changing the exposure, adjacent burst counts
overlap in porosity, and the operator's settings make the mean grey value a poor
classifier; the length scale of the texture (grain and pore size, specific perimeter)
still separates 1 from 8 bursts.
"""

from __future__ import annotations

import math
import numbers
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from semlab._util import check_pixel_size
from semlab.data._databar import add_databar, databar_height
from semlab.errors import ParameterError

if TYPE_CHECKING:
    import pandas as pd

#: Electrical conductivity of bulk copper at 20 °C in MS/m.
COPPER_CONDUCTIVITY_MS_PER_M = 59.6
#: Duty cycles given to the samples of a series, in turn.
DEFAULT_DUTY_CYCLES = (0.3, 0.5, 0.7)
_DTYPES: dict[str, type[np.unsignedinteger[Any]]] = {"uint8": np.uint8, "uint16": np.uint16}
_MIN_SIDE = 64


# --------------------------------------------------------------------------- validation


def _check_burst_count(burst_count: Any, name: str = "burst_count") -> int:
    if isinstance(burst_count, bool):
        raise ParameterError(f"{name}={burst_count!r} must be a positive whole number of laser bursts")
    if not isinstance(burst_count, numbers.Integral):
        if (
            isinstance(burst_count, numbers.Real)
            and float(burst_count).is_integer()
            and float(burst_count) > 0
        ):
            return int(float(burst_count))
        raise ParameterError(f"{name}={burst_count!r} must be a positive whole number of laser bursts")
    if burst_count <= 0:
        raise ParameterError(f"{name}={burst_count!r} must be a positive whole number of laser bursts")
    return int(burst_count)


def _check_shape(shape: Any) -> tuple[int, int]:
    try:
        rows, cols = (int(s) for s in shape)
        if (rows, cols) != tuple(shape):
            raise ValueError
    except (TypeError, ValueError):
        raise ParameterError(f"shape={shape!r} must be two whole numbers (rows, columns)") from None
    if rows < _MIN_SIDE or cols < _MIN_SIDE:
        raise ParameterError(f"shape={shape!r} is too small; use at least {_MIN_SIDE} × {_MIN_SIDE} pixels")
    return rows, cols


def _check_pixel_size(pixel_size: Any) -> float:
    value = check_pixel_size(pixel_size)
    if not 0.001 <= value <= 0.02:
        raise ParameterError(
            f"pixel_size={pixel_size!r} µm is outside 0.001…0.02 µm; the 20–60 nm particles need a few pixels each"
        )
    return value


def _check_duty_cycle(duty_cycle: Any, name: str = "duty_cycle") -> float:
    try:
        value = float(duty_cycle)
    except (TypeError, ValueError):
        raise ParameterError(f"{name}={duty_cycle!r} is not a number; give a fraction in (0, 1]") from None
    if not 0 < value <= 1:
        raise ParameterError(f"{name}={duty_cycle!r} must be a fraction in (0, 1]")
    return value


def _check_dtype(dtype: Any) -> str:
    try:
        name = np.dtype(dtype).name
    except TypeError:
        name = str(dtype)
    if name not in _DTYPES:
        raise ParameterError(f"dtype={dtype!r} is not supported; use 'uint8' or 'uint16'")
    return name


def _check_positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ParameterError(f"{name}={value!r} must be a positive whole number")
    return int(value)


# --------------------------------------------------------------------------- process model


def effective_exposure(burst_count: int, duty_cycle: float = 0.5) -> float:
    """Dimensionless exposure ``burst_count · (duty_cycle / 0.5)^0.75``.

    A higher duty cycle leaves less time for the film to cool between pulses, so the
    same number of bursts sinters further; 0.5 is the reference.
    """
    return float(_check_burst_count(burst_count)) * (_check_duty_cycle(duty_cycle) / 0.5) ** 0.75


def expected_porosity(burst_count: int, duty_cycle: float = 0.5) -> float:
    """Mean porosity (pore area fraction, 0…1) the model aims at for a process setting.

    ``phi(E) = 0.12 + 0.36 (1 + 0.35 E)^-1.2`` with ``E`` the :func:`effective_exposure`;
    single images scatter around it by the sample's offset and an image jitter.
    """
    e = effective_exposure(burst_count, duty_cycle)
    return 0.12 + 0.36 * (1.0 + 0.35 * e) ** -1.2


def grain_growth_factor(burst_count: int, duty_cycle: float = 0.5) -> float:
    """Grain radius after sintering over the as-deposited radius: ``(0.45 + 0.55 E)^(1/3)``."""
    e = effective_exposure(burst_count, duty_cycle)
    return (0.45 + 0.55 * e) ** (1.0 / 3.0)


def film_conductivity(porosity: float | np.ndarray, *, bulk: float = COPPER_CONDUCTIVITY_MS_PER_M):
    """Electrical conductivity in MS/m of a porous film: ``bulk · (1 - porosity)^1.5``.

    The Bruggeman exponent 1.5 holds for spherical, randomly placed pores (Archie's law
    with cementation exponent 1.5).

    Parameters
    ----------
    porosity : float or ndarray
        Pore volume fraction, 0…1.
    bulk : float
        Conductivity of the dense metal in MS/m (copper: 59.6).
    """
    phi = np.asarray(porosity, dtype=float)
    if np.any((phi < 0) | (phi > 1)) or not np.all(np.isfinite(phi)):
        raise ParameterError("porosity must lie in 0…1")
    out = bulk * (1.0 - phi) ** 1.5
    return float(out) if out.ndim == 0 else out


@dataclass(frozen=True)
class FilmSample:
    """What one physical sample (one printed and sintered film) brings to its images.

    Attributes
    ----------
    particle_radius_um : float
        Median radius of the as-deposited particles in µm.
    radius_spread : float
        Log-normal sigma of the particle radii.
    porosity_factor : float
        Multiplies the model porosity of every image of the sample (ink batch, film
        thickness, substrate); about 1 ± 0.07.
    brightness : float
        Operator's brightness: grey offset as a fraction of the full scale.
    contrast : float
        Operator's contrast: gain on the signal.
    dose : float
        Mean number of secondary electrons per pixel on flat solid (sets the shot noise).
    probe_um : float
        Probe (beam) sigma in µm.
    tilt : float
        Strength of the large-scale linear shading, fraction of the signal.
    tilt_angle : float
        Direction of that shading in radians.
    vignetting : float
        Darkening at the corners, fraction of the signal.
    """

    particle_radius_um: float = 0.033
    radius_spread: float = 0.22
    porosity_factor: float = 1.0
    brightness: float = 0.04
    contrast: float = 1.0
    dose: float = 60.0
    probe_um: float = 0.005
    tilt: float = 0.05
    tilt_angle: float = 0.0
    vignetting: float = 0.06

    @classmethod
    def random(cls, rng: np.random.Generator | int | None = None) -> FilmSample:
        """Draw a sample's traits.

        Parameters
        ----------
        rng : numpy.random.Generator or int, optional
            Random source or seed.
        """
        rng = np.random.default_rng(rng)
        return cls(
            particle_radius_um=float(rng.uniform(0.028, 0.038)),
            radius_spread=float(rng.uniform(0.15, 0.28)),
            porosity_factor=float(np.exp(np.clip(rng.normal(0.0, 0.07), -0.18, 0.18))),
            brightness=float(rng.uniform(0.0, 0.12)),
            contrast=float(rng.uniform(0.85, 1.2)),
            dose=float(rng.uniform(30.0, 100.0)),
            probe_um=float(rng.uniform(0.003, 0.007)),
            tilt=float(rng.uniform(0.0, 0.12)),
            tilt_angle=float(rng.uniform(0.0, 2 * math.pi)),
            vignetting=float(rng.uniform(0.0, 0.15)),
        )

    def to_dict(self) -> dict[str, float]:
        """The traits as a JSON-compatible dict."""
        return asdict(self)


@dataclass(frozen=True, eq=False)
class SyntheticMicrograph:
    """A synthetic SEM micrograph with its ground truth.

    Attributes
    ----------
    image : (M, N) ndarray of uint8 or uint16
        The micrograph, data bar included.
    labels : (M_content, N) ndarray of uint8
        Ground truth for the rows above the data bar: 0 = solid, 1 = pore (the convention of
        :mod:`semlab.segment`, so it can be scored against a segmentation directly).
    porosity : float
        True pore area fraction of the content area (``labels.mean()``).
    pixel_size : float
        µm per pixel.
    databar_row : int or None
        First row of the data bar (its bright line), ``None`` without a bar.
    params : dict
        JSON-compatible record of everything that made the image (process parameters,
        sample traits, grain radius in µm, target porosity, scale bar …).
    """

    image: np.ndarray
    labels: np.ndarray
    porosity: float
    pixel_size: float
    databar_row: int | None
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def content(self) -> np.ndarray:
        """(M_content, N) view of the image above the data bar."""
        return self.image[: self.labels.shape[0]]

    def to_dict(self) -> dict[str, Any]:
        """Everything but the pixels, JSON-compatible."""
        return {
            "shape": list(self.image.shape),
            "dtype": str(self.image.dtype),
            "porosity": self.porosity,
            "pixel_size_um": self.pixel_size,
            "databar_row": self.databar_row,
            **self.params,
        }


# --------------------------------------------------------------------------- geometry


def _rsa_pack(
    rng: np.random.Generator,
    rows: int,
    cols: int,
    r_median: float,
    spread: float,
    r_lo: float,
    r_hi: float,
    *,
    alpha: float = 0.85,
    rounds: int = 6,
) -> tuple[np.ndarray, np.ndarray]:
    """Random sequential addition of discs in batches: centres (K, 2) and radii (K,), pixels.

    Two discs may not come closer than ``alpha · (r_i + r_j)``; earlier discs win.
    """
    from scipy.spatial import cKDTree

    mean_area = math.pi * r_median**2 * math.exp(2 * spread**2)
    batch = max(8, int(0.8 * rows * cols / mean_area))
    centres = np.empty((0, 2))
    radii = np.empty(0)
    reach = 2 * alpha * r_hi
    for _ in range(rounds):
        c = rng.uniform((0.0, 0.0), (rows, cols), size=(batch, 2))
        r = np.clip(r_median * np.exp(spread * rng.standard_normal(batch)), r_lo, r_hi)
        allc = np.concatenate([centres, c])
        allr = np.concatenate([radii, r])
        pairs = cKDTree(allc).query_pairs(reach, output_type="ndarray")
        n_old = len(centres)
        if len(pairs):
            i, j = pairs[:, 0], pairs[:, 1]
            lo, hi = np.minimum(i, j), np.maximum(i, j)
            dist = np.hypot(*(allc[lo] - allc[hi]).T)
            bad = hi[(dist < alpha * (allr[lo] + allr[hi])) & (hi >= n_old)]
            keep = np.ones(len(allc), dtype=bool)
            keep[bad] = False
            keep[:n_old] = True
        else:
            keep = np.ones(len(allc), dtype=bool)
        centres, radii = allc[keep], allr[keep]
    return centres, radii


def _stamp_caps(height: np.ndarray, centres: np.ndarray, radii: np.ndarray, base: np.ndarray) -> None:
    """Raise ``height`` (in place) to the spherical caps ``base + sqrt(r² - d²)`` of the discs."""
    if len(radii) == 0:
        return
    rows, cols = height.shape
    half = int(math.ceil(radii.max()))
    off = np.arange(-half, half + 1)
    ci = np.rint(centres).astype(np.intp)
    frac = centres - ci
    # process in chunks to bound memory: K × W × W floats
    w = 2 * half + 1
    chunk = max(1, 2_000_000 // (w * w))
    flat = height.ravel()
    for s in range(0, len(radii), chunk):
        sl = slice(s, s + chunk)
        dy = off[None, :, None] - frac[sl, 0, None, None]
        dx = off[None, None, :] - frac[sl, 1, None, None]
        h2 = radii[sl, None, None] ** 2 - dy**2 - dx**2
        rr = ci[sl, 0, None, None] + off[None, :, None]
        cc = ci[sl, 1, None, None] + off[None, None, :]
        inside = (h2 > 0) & (rr >= 0) & (rr < rows) & (cc >= 0) & (cc < cols)
        k, a, b = np.nonzero(inside)
        values = np.sqrt(h2[k, a, b]) + base[sl][k]
        np.maximum.at(flat, rr[k, a, 0] * cols + cc[k, 0, b], values)


# --------------------------------------------------------------------------- rendering


def render_sintered_film(
    burst_count: int,
    *,
    shape: tuple[int, int] = (512, 512),
    pixel_size: float = 0.008,
    duty_cycle: float = 0.5,
    rng: np.random.Generator | int | None = None,
    sample: FilmSample | None = None,
    databar: bool = True,
    dtype: str = "uint8",
) -> SyntheticMicrograph:
    """Render an SEM micrograph of a laser-sintered copper nanoparticle film.

    Parameters
    ----------
    burst_count : int
        Number of laser bursts (≥ 1); more bursts sinter further.
    shape : (int, int)
        Image size in pixels (rows, columns), data bar included; each side ≥ 64.
    pixel_size : float
        µm per pixel, 0.001…0.02 (default 8 nm: particles span a few to ten pixels).
    duty_cycle : float
        Laser duty cycle in (0, 1]; the exposure scales with ``(duty_cycle / 0.5)^0.75``.
    rng : numpy.random.Generator or int, optional
        Random source or seed; the same seed gives the same image.
    sample : FilmSample, optional
        Traits of the physical sample; default: drawn from ``rng`` (a new sample).
    databar : bool
        Burn an FEI-style data bar with a scale bar into the bottom ~7 % of the image.
    dtype : {"uint8", "uint16"}
        Output grey levels.

    Returns
    -------
    SyntheticMicrograph
        ``image`` (M, N), ``labels`` (M_content, N) with 0 = solid, 1 = pore, ``porosity`` (true pore
        area fraction of the content), ``pixel_size`` µm, ``databar_row`` and ``params``.

    Raises
    ------
    ParameterError
        On a non-positive burst count, a side below 64 pixels, an unknown dtype, a duty
        cycle outside (0, 1] or a pixel size outside 0.001…0.02 µm.

    Examples
    --------
    >>> from semlab.data import render_sintered_film
    >>> m = render_sintered_film(4, shape=(128, 128), rng=0)
    >>> m.image.shape, m.labels.shape, m.databar_row
    ((128, 128), (113, 128), 113)
    >>> 0.1 < m.porosity < 0.45
    True
    """
    b = _check_burst_count(burst_count)
    rows, cols = _check_shape(shape)
    px = _check_pixel_size(pixel_size)
    dc = _check_duty_cycle(duty_cycle)
    dtype = _check_dtype(dtype)
    if sample is not None and not isinstance(sample, FilmSample):
        raise ParameterError(f"sample={sample!r} must be a FilmSample or None")
    rng = np.random.default_rng(rng)
    if sample is None:
        sample = FilmSample.random(rng)

    bar_rows = databar_height(rows) if databar else 0
    film = _film_surface(b, dc, px, sample, rng, (rows - bar_rows, cols))
    labels = (~film.solid).astype(np.uint8)  # 0 = solid, 1 = pore, as semlab.segment writes
    porosity = float(labels.mean())
    sig = _se_signal(film, px, sample, rng)

    top = np.iinfo(_DTYPES[dtype]).max
    brightness = sample.brightness + rng.normal(0.0, 0.01)
    grey = (brightness + sample.contrast * 0.62 * sig) * top
    content = np.clip(np.rint(grey), 0, top - 1).astype(_DTYPES[dtype])

    params: dict[str, Any] = {
        "generator": "semlab.data.render_sintered_film",
        "burst_count": b,
        "duty_cycle": dc,
        "effective_exposure": film.exposure,
        "grain_radius_um": film.r_med * px,
        "smoothing_um": film.smooth * px,
        "target_porosity": film.target,
        "particles_top": film.particles_top,
        "dtype": dtype,
        "sample": sample.to_dict(),
    }
    if databar:
        image, databar_row, info = add_databar(content, pixel_size=px, height=bar_rows)
        params["scale_bar_um"] = info["scale_bar_um"]
        params["scale_bar_px"] = info["scale_bar_px"]
    else:
        image, databar_row = content, None
    return SyntheticMicrograph(
        image=image, labels=labels, porosity=porosity, pixel_size=px, databar_row=databar_row, params=params
    )


@dataclass(frozen=True)
class _Film:
    """The rendered film's height field and the process quantities behind it (lengths in pixels)."""

    surface: np.ndarray  # height field of the content rows, pixels
    level: float  # height of the pore rim: solid where surface > level
    exposure: float
    target: float  # target porosity
    r_med: float  # median grain radius, pixels
    smooth: float  # sintering smoothing, pixels
    particles_top: int

    @property
    def solid(self) -> np.ndarray:
        return self.surface > self.level


def _film_surface(
    b: int, dc: float, px: float, sample: FilmSample, rng: np.random.Generator, size: tuple[int, int]
) -> _Film:
    """Process → structure: pack two layers of particles, sinter (smooth) them, find the pore level."""
    from scipy import ndimage

    m_rows, cols = size
    exposure = effective_exposure(b, dc)
    growth = grain_growth_factor(b, dc)
    jitter = math.exp(float(np.clip(rng.normal(0.0, 0.03), -0.09, 0.09)))
    target = float(np.clip(expected_porosity(b, dc) * sample.porosity_factor * jitter, 0.03, 0.7))
    r_med = sample.particle_radius_um * growth / px  # pixels
    r_lo, r_hi = 0.020 * growth / px, 0.060 * growth / px
    smooth = r_med * (0.10 + 0.09 * math.log1p(exposure))  # pixels
    alpha = float(np.clip(0.85 - 0.08 * math.log(exposure), 0.6, 0.9))  # centres approach: shrinkage

    margin = int(math.ceil(r_hi + 3 * smooth)) + 2
    big = (m_rows + 2 * margin, cols + 2 * margin)
    height = np.full(big, -3.0 * r_med)
    # the deeper, looser layer that shows through the pores
    n_under = rng.poisson(
        0.9 * big[0] * big[1] / (math.pi * r_med**2 * math.exp(2 * sample.radius_spread**2))
    )
    c_under = rng.uniform((0.0, 0.0), big, size=(n_under, 2))
    r_under = np.clip(r_med * np.exp(sample.radius_spread * rng.standard_normal(n_under)), r_lo, r_hi)
    _stamp_caps(height, c_under, r_under, -1.6 * r_med + 0.3 * r_med * rng.uniform(-1, 1, n_under))
    # the top layer, packed
    c_top, r_top = _rsa_pack(rng, big[0], big[1], r_med, sample.radius_spread, r_lo, r_hi, alpha=alpha)
    _stamp_caps(height, c_top, r_top, 0.25 * r_med * rng.uniform(-1, 1, len(r_top)))

    surface = ndimage.gaussian_filter(height, smooth, mode="nearest")[margin:-margin, margin:-margin]
    level = float(np.quantile(surface, target))
    return _Film(surface, level, exposure, target, r_med, smooth, int(len(r_top)))


def _se_signal(film: _Film, px: float, sample: FilmSample, rng: np.random.Generator) -> np.ndarray:
    """Structure → secondary-electron signal: tilt, depth, edge and detector contrast, shading, noise."""
    from scipy import ndimage

    surface, r_med, solid = film.surface, film.r_med, film.solid
    gy, gx = np.gradient(surface)
    tan2 = np.minimum(gy**2 + gx**2, 15.0)
    yield_tilt = np.sqrt(1.0 + tan2) - 1.0  # 1/cos(theta) - 1
    # depth below the pore rim in grain radii (at most two as-deposited radii: deep pores stay dark)
    depth = np.maximum(film.level - surface, 0.0) / min(r_med, 2.0 * sample.particle_radius_um / px)
    dist_in = ndimage.distance_transform_edt(solid)
    edge = np.exp(-dist_in / max(1.0, 0.010 / px)) * solid
    relief = (surface - ndimage.gaussian_filter(surface, 0.7 * r_med, mode="nearest")) / r_med
    sig = (0.55 + 0.25 * yield_tilt + 0.12 * np.tanh(2.0 * relief)) * np.exp(-depth / 0.3) + 0.03
    sig += 0.22 * edge
    sig += 0.06 * np.tanh(-(gy * 0.8 + gx * 0.6))  # detector on one side

    # large-scale shading
    m_rows, cols = surface.shape
    yy, xx = np.mgrid[0:m_rows, 0:cols]
    yn, xn = (yy / (m_rows - 1) - 0.5) * 2, (xx / (cols - 1) - 0.5) * 2
    shade = 1.0 + sample.tilt * (yn * math.sin(sample.tilt_angle) + xn * math.cos(sample.tilt_angle)) / 2
    shade -= sample.vignetting * (yn**2 + xn**2) / 2
    sig *= shade

    sig = ndimage.gaussian_filter(sig, max(0.3, sample.probe_um / px))
    dose = sample.dose * float(np.exp(rng.normal(0.0, 0.1)))
    sig = rng.poisson(np.maximum(sig, 0.0) * dose) / dose
    sig += rng.normal(0.0, 0.012, sig.shape)
    return sig


# --------------------------------------------------------------------------- series


def sintering_series(
    out_dir: str | os.PathLike,
    *,
    burst_counts: tuple[int, ...] = (1, 2, 4, 8),
    samples_per_level: int = 3,
    images_per_sample: int = 2,
    shape: tuple[int, int] = (512, 512),
    pixel_size: float = 0.008,
    seed: int = 0,
    dtype: str = "uint8",
    write_labels: bool = True,
    duty_cycles: tuple[float, ...] = DEFAULT_DUTY_CYCLES,
) -> pd.DataFrame:
    """Write a process → structure → property series of synthetic micrographs.

    Every burst count gets ``samples_per_level`` samples (films), each with its own
    :class:`FilmSample` traits and a duty cycle taken in turn from ``duty_cycles``; every
    sample gets ``images_per_sample`` micrographs of different fields of view.

    Files written (atomically) under ``out_dir``:

    * ``images/<sample>_b<burst>_<k>.tif`` — the micrographs (e.g. ``images/s01_b1_0.tif``),
      written by :func:`semlab.io.write_micrograph` with the pixel size and metadata
      ``databar_row``, ``sample``, ``burst_count``, ``duty_cycle``, ``porosity``, ``seed``;
    * ``labels/<same name>`` — uint8 ground truth, 0 = solid, 1 = pore, for the rows above
      the data bar (when ``write_labels``);
    * ``descriptors.csv`` — the table returned, written last (a stale one is removed
      first), so its presence marks a complete series.

    Parameters
    ----------
    out_dir : str or Path
        Destination folder, created when missing; existing files of the same names are
        replaced.
    burst_counts : tuple of int
        Process levels, each ≥ 1.
    samples_per_level, images_per_sample : int
        Samples per burst count and images per sample, each ≥ 1.
    shape : (int, int)
        Image size in pixels including the data bar, each side ≥ 64.
    pixel_size : float
        µm per pixel.
    seed : int
        Seed of everything.  Each sample and image draws from its own
        ``SeedSequence(seed, spawn_key=(burst_count, j[, k]))``, so an image does not
        depend on which other levels or how many samples are generated.
    dtype : {"uint8", "uint16"}
        Image grey levels (labels are always uint8).
    write_labels : bool
        Also write the ground-truth label images.
    duty_cycles : tuple of float
        Duty cycles (0…1] given to the samples of each level in turn.

    Returns
    -------
    pandas.DataFrame
        One row per image with columns ``image`` (path relative to ``out_dir``, the folder
        of ``descriptors.csv``, e.g. ``images/s01_b1_0.tif``), ``sample`` (``S01`` …),
        ``burst_count`` (int), ``duty_cycle`` (float), ``porosity`` (true pore area
        fraction of the image), ``conductivity_MS_per_m`` (electrical conductivity,
        ``59.6 (1 - porosity)^1.5`` times the sample's ~3 % log-normal scatter), then
        ``labels`` (path like ``image``, empty when not written).  Pixel size and data-bar
        row are not columns: they travel in each TIFF's metadata, where ingest reads them.

    Examples
    --------
    >>> import tempfile
    >>> from semlab.data import sintering_series
    >>> with tempfile.TemporaryDirectory() as d:
    ...     table = sintering_series(d, burst_counts=(1, 8), samples_per_level=1,
    ...                              images_per_sample=1, shape=(96, 96))
    >>> list(table["image"])
    ['images/s01_b1_0.tif', 'images/s02_b8_0.tif']
    """
    import pandas as pd

    from semlab._util import atomic_write_text

    levels = _check_levels(burst_counts)
    n_samples = _check_positive_int(samples_per_level, "samples_per_level")
    n_images = _check_positive_int(images_per_sample, "images_per_sample")
    shape = _check_shape(shape)
    px = _check_pixel_size(pixel_size)
    dtype = _check_dtype(dtype)
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ParameterError(f"seed={seed!r} must be a non-negative whole number")
    cycles = _check_cycles(duty_cycles)

    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ParameterError(f"out_dir={str(out)!r} is a file; give a folder")
    (out / "images").mkdir(parents=True, exist_ok=True)
    # the table is written last: its presence means a complete series, so drop a stale one first
    (out / "descriptors.csv").unlink(missing_ok=True)
    if write_labels:
        (out / "labels").mkdir(parents=True, exist_ok=True)

    width = max(2, len(str(len(levels) * n_samples)))
    rows = []
    number = 0
    for b in levels:
        for j in range(n_samples):
            number += 1
            sample_id = f"S{number:0{width}d}"
            render = {"shape": shape, "pixel_size": px, "duty_cycle": cycles[j % len(cycles)], "dtype": dtype}
            rows += _series_sample(
                out,
                b,
                j,
                sample_id,
                seed=int(seed),
                n_images=n_images,
                render=render,
                write_labels=write_labels,
            )
    table = pd.DataFrame(rows)
    table["burst_count"] = table["burst_count"].astype("int64")
    atomic_write_text(out / "descriptors.csv", table.to_csv(index=False, lineterminator="\n"))
    return table


def _check_levels(burst_counts: Any) -> list[int]:
    """``burst_counts`` as a list of distinct positive burst counts (one int is one level)."""
    if isinstance(burst_counts, numbers.Integral):
        burst_counts = (burst_counts,)
    try:
        levels = [_check_burst_count(bc, "burst_counts") for bc in burst_counts]
    except TypeError:
        raise ParameterError(
            f"burst_counts={burst_counts!r} must be a sequence of positive whole numbers"
        ) from None
    if not levels:
        raise ParameterError("burst_counts=() is empty; give at least one burst count")
    if len(set(levels)) != len(levels):
        raise ParameterError(f"burst_counts={tuple(burst_counts)!r} repeats a value; give each level once")
    return levels


def _check_cycles(duty_cycles: Any) -> list[float]:
    """``duty_cycles`` as a non-empty list of fractions in (0, 1]."""
    try:
        cycles = [_check_duty_cycle(d, "duty_cycles") for d in duty_cycles]
    except TypeError:
        raise ParameterError(
            f"duty_cycles={duty_cycles!r} must be a sequence of fractions in (0, 1]"
        ) from None
    if not cycles:
        raise ParameterError("duty_cycles=() is empty; give at least one duty cycle")
    return cycles


def _series_sample(
    out: Path,
    b: int,
    j: int,
    sample_id: str,
    *,
    seed: int,
    n_images: int,
    render: dict[str, Any],
    write_labels: bool,
) -> list[dict[str, Any]]:
    """Render and write the ``n_images`` micrographs of sample ``j`` at burst count ``b``; their table rows.

    ``render`` holds the keyword options of :func:`render_sintered_film` (shape, pixel size,
    duty cycle, dtype). The sample's traits and each image draw from their own seed sequence.
    """
    srng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(b, j)))
    traits = FilmSample.random(srng)
    scatter = float(np.exp(srng.normal(0.0, 0.03)))
    dc = render["duty_cycle"]
    rows = []
    for k in range(n_images):
        irng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(b, j, k)))
        m = render_sintered_film(b, rng=irng, sample=traits, **render)
        name = f"{sample_id.lower()}_b{b}_{k}.tif"
        meta = {
            "generator": "semlab.data.sintering_series",
            "seed": seed,
            "databar_row": m.databar_row,
            "sample": sample_id,
            "burst_count": b,
            "duty_cycle": dc,
            "porosity": m.porosity,
            "scale_bar_um": m.params.get("scale_bar_um"),
        }
        _write_film(out, name, m, meta, write_labels=write_labels)
        rows.append(
            {
                "image": f"images/{name}",
                "sample": sample_id,
                "burst_count": b,
                "duty_cycle": dc,
                "porosity": round(m.porosity, 6),
                "conductivity_MS_per_m": round(film_conductivity(m.porosity) * scatter, 4),
                "labels": f"labels/{name}" if write_labels else "",
            }
        )
    return rows


def _write_film(
    out: Path, name: str, m: SyntheticMicrograph, meta: dict[str, Any], *, write_labels: bool
) -> None:
    """Write one micrograph to ``out/images/name`` and, if asked, its labels to ``out/labels/name``."""
    from semlab.io import write_micrograph

    write_micrograph(out / "images" / name, m.image, pixel_size=m.pixel_size, metadata=meta)
    if write_labels:
        write_micrograph(
            out / "labels" / name,
            m.labels,
            pixel_size=m.pixel_size,
            metadata={
                "kind": "labels",
                "classes": {"0": "solid", "1": "pore"},
                "image": f"images/{name}",
            },
        )
