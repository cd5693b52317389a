"""Conditional generators of binary phase masks, judged by the particles they hold.

A *mask set* is a folder of binary masks (``uint8`` 0/1, 1 = the particle phase, e.g.
carbide) and a CSV with one row per mask (process conditions such as anneal time).
:func:`load_mask_set` reads it, :func:`train_mask_generator` trains an ACWGAN-GP or a
conditional DDPM (:func:`~semlab.generate.train_generator`) on random ``size`` × ``size``
crops of the masks conditioned on one column (categorical levels, or the base-10 log of a
positive column as a continuous condition), and :func:`evaluate_mask_generator` compares,
condition by condition, real random crops of the same size with generated patches
**thresholded at 0.5** (the masks are binary; the generators output grey values in [0, 1]).

Both real and generated patches go through one function, :func:`mask_particles`:
touching particles are split by :func:`semlab.segment.split_particles` (the neck rule) and
measured by :func:`semlab.segment.particle_table`; particles cut by the patch frame are
kept for both (their size is a lower bound, the same bias on both sides).  Per condition
it reports the carbide area fraction, the mean and median equivalent diameter, the
Wasserstein-1 and Kolmogorov–Smirnov distances between the real and generated
equivalent-diameter distributions, and, across conditions, the Spearman correlation of the
mean size with the condition value (real and generated).

Example (the shared UHCS spheroidite set, 800 °C, conditioned on anneal time)::

    from semlab.generate.masks import load_mask_set, train_mask_generator, evaluate_mask_generator

    ms = load_mask_set("../shared/data/uhcs-spheroidite", where={"anneal_temperature_C": 800})
    run = train_mask_generator(ms, "anneal_time_h", model="ddpm", size=32, steps=600, seed=0,
                               width=16, batch_size=32, lr=2e-3)
    report, generated = evaluate_mask_generator(run.generator, ms, "anneal_time_h", n=128, guidance=3.0)
    report.summary      # one row per anneal time: real vs generated size and area fraction

Measured on that set (``benchmarks/results/generate_uhcs.json``, docs/generation.md): the
real mean particle size is *not* monotone in anneal time at 800 °C (3.74 / 8.28 / 6.67 /
8.55 px at 3 / 8 / 24 / 85 h on 32-px tiles).
"""

from __future__ import annotations

import hashlib
import math
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from semlab.errors import MissingFileError, ParameterError, TableError

__all__ = [
    "MaskComparison",
    "MaskSet",
    "PatchStats",
    "compare_mask_patches",
    "patch_stats",
    "tile_mask_patches",
    "binarize",
    "condition_levels",
    "condition_table",
    "evaluate_mask_generator",
    "load_mask_set",
    "mask_particles",
    "plot_mask_comparison",
    "plot_size_distributions",
    "real_mask_patches",
    "sample_masks",
    "train_mask_generator",
]

#: Threshold of generated grey patches: pixels > 0.5 are the particle phase.
MASK_THRESHOLD = 0.5


@dataclass(frozen=True, eq=False)
class MaskSet:
    """Binary masks and their condition table.

    Attributes
    ----------
    masks : (n, H, W) ndarray of uint8
        0 = background, 1 = particle phase.
    table : pandas.DataFrame
        One row per mask (the CSV's columns; ``file`` holds the mask's file name).
    folder : Path
    dropped : tuple of str
        Files left out as byte-identical copies of an earlier file.
    """

    masks: np.ndarray
    table: Any
    folder: Path
    dropped: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.masks)


def load_mask_set(
    folder: str | os.PathLike,
    *,
    table: str = "samples.csv",
    file_column: str = "mask_file",
    where: Mapping[str, Any] | None = None,
    drop_duplicates: bool = True,
) -> MaskSet:
    """Read a folder of binary masks and its CSV.

    Parameters
    ----------
    folder : path
        Holds the masks (TIFF/PNG/NPY, 0/1 or 0/255) and the CSV.
    table : str
        CSV file name inside ``folder`` (one row per mask).
    file_column : str
        Column with each mask's file name.
    where : mapping column → value, optional
        Keep only rows with these values (e.g. ``{"anneal_temperature_C": 800}``).
    drop_duplicates : bool
        Leave out masks byte-identical to an earlier one (listed in ``MaskSet.dropped``).

    Returns
    -------
    MaskSet
    """
    import pandas as pd

    folder = Path(folder)
    csv = folder / table
    if not csv.is_file():
        raise MissingFileError(f"{csv} not found; give the folder holding the masks and {table}")
    df = pd.read_csv(csv)
    if file_column not in df.columns:
        raise TableError(f"{csv} has no column {file_column!r}; its columns are {', '.join(df.columns)}")
    for col, value in (where or {}).items():
        if col not in df.columns:
            raise TableError(f"{csv} has no column {col!r} to filter on")
        df = df[df[col] == value]
    if len(df) == 0:
        raise TableError(f"{csv}: no rows left after where={dict(where or {})}")
    masks, keep, dropped, seen = [], [], [], set()
    for i, name in enumerate(df[file_column]):
        path = folder / str(name)
        if not path.is_file():
            raise MissingFileError(f"{path} (row {i} of {csv.name}) not found")
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if drop_duplicates and digest in seen:
            dropped.append(str(name))
            continue
        seen.add(digest)
        masks.append(_read_mask(path))
        keep.append(i)
    shapes = {m.shape for m in masks}
    if len(shapes) > 1:
        raise ParameterError(f"{folder}: masks have several sizes {sorted(shapes)}; crop them to one size")
    out = df.iloc[keep].reset_index(drop=True).rename(columns={file_column: "file"})
    return MaskSet(np.stack(masks), out, folder, tuple(dropped))


def _read_mask(path: Path) -> np.ndarray:
    if path.suffix.lower() == ".npy":
        a = np.load(path, allow_pickle=False)
    else:
        from semlab.io import read_micrograph

        a = read_micrograph(path).image
    a = np.asarray(a)
    if a.ndim != 2:
        raise ParameterError(f"{path} is not a 2-D mask (shape {a.shape})")
    values = np.unique(a)
    if len(values) > 2:
        raise ParameterError(f"{path} holds {len(values)} grey values; give a binary mask (0/1 or 0/255)")
    return (a > 0).astype(np.uint8)


def condition_levels(table: Any, column: str) -> list[float]:
    """The distinct values of a numeric condition column, ascending."""
    if column not in table.columns:
        raise TableError(f"the table has no column {column!r}; its columns are {', '.join(table.columns)}")
    return sorted(float(v) for v in np.unique(table[column].to_numpy(dtype=float)))


def condition_table(table: Any, column: str, encoding: str = "categorical") -> tuple[Any, str]:
    """The one-column condition table a generator is trained on, and the column's name.

    ``encoding="categorical"``: the column itself (each distinct value a level);
    ``"log10"``: ``log10_<column>``, the base-10 log of the (positive) values.
    """
    import pandas as pd

    v = table[column].to_numpy(dtype=float)
    if encoding == "categorical":
        return pd.DataFrame({column: v}), column
    if encoding == "log10":
        if (v <= 0).any():
            raise ParameterError(f"encoding='log10' needs {column} > 0 in every row")
        name = f"log10_{column}"
        return pd.DataFrame({name: np.log10(v)}), name
    raise ParameterError(f"encoding={encoding!r} must be 'categorical' or 'log10'")


def train_mask_generator(
    mask_set: MaskSet,
    condition: str,
    *,
    model: str = "ddpm",
    encoding: str = "categorical",
    size: int = 64,
    steps: int = 500,
    seed: int = 0,
    **options: Any,
) -> Any:
    """Train a conditional generator on random crops of binary masks.

    Parameters
    ----------
    mask_set : MaskSet
    condition : str
        Numeric column of ``mask_set.table`` (e.g. ``"anneal_time_h"``).
    model : {"ddpm", "acwgan"}
    encoding : {"categorical", "log10"}
        Each distinct value a level, or log10 of the value as one continuous condition.
    size : int
        Patch side, px (power of two ≥ 16); each step takes random crops with random
        rotations and flips.
    steps : int
        Training steps (generator updates for the GAN).
    seed : int
    **options
        Passed to :func:`~semlab.generate.train_generator` (``batch_size``, ``width``, ``lr``,
        ``ema_decay``, ``out_dir``, ``progress`` …).

    Returns
    -------
    GeneratorTrainResult
        Its generator's ``threshold`` is 0.5 (masks are binary).
    """
    from semlab.generate.train import train_generator

    cond, name = condition_table(mask_set.table, condition, encoding)
    kinds = {name: "categorical" if encoding == "categorical" else "continuous"}
    options.setdefault("grid_every", 0)
    return train_generator(
        mask_set.masks.astype(np.float32),
        cond,
        model=model,
        columns=[name],
        kinds=kinds,
        size=size,
        steps=steps,
        seed=seed,
        threshold=MASK_THRESHOLD,
        **options,
    )


def binarize(images: Any, threshold: float = MASK_THRESHOLD) -> np.ndarray:
    """Generated grey images in [0, 1] → binary masks (``uint8``, 1 where value > threshold)."""
    return (np.asarray(images) > float(threshold)).astype(np.uint8)


def sample_masks(
    generator: Any,
    condition: str,
    value: float,
    n: int,
    *,
    seed: int = 0,
    guidance: float | None = None,
    steps: int | None = None,
) -> np.ndarray:
    """``n`` generated masks (``uint8`` 0/1, thresholded at 0.5) for one condition value.

    ``value`` is in the column's units (e.g. hours); a model trained with
    ``encoding="log10"`` is given its log10.
    """
    cols = generator.spec.columns
    if cols == (condition,):
        setting: dict[str, Any] = {condition: value}
    elif cols == (f"log10_{condition}",):
        setting = {cols[0]: math.log10(float(value))}
    else:
        raise ParameterError(f"the generator is conditioned on {', '.join(cols)}, not {condition}")
    return binarize(generator.sample(setting, n, seed=seed, guidance=guidance, steps=steps))


def real_mask_patches(
    mask_set: MaskSet, *, size: int = 64, per_mask: int = 32, seed: int = 0
) -> tuple[np.ndarray, Any]:
    """Random ``size`` × ``size`` crops of every mask (one random stream, masks in table order).

    Returns
    -------
    patches : (n, size, size) ndarray of uint8
    table : pandas.DataFrame
        The mask's table row for each patch.
    """
    h, w = mask_set.masks.shape[1:]
    if size > min(h, w):
        raise ParameterError(f"size={size} is larger than the masks ({h}×{w})")
    rng = np.random.default_rng(seed)
    out = []
    for m in mask_set.masks:
        r = rng.integers(0, h - size + 1, per_mask)
        c = rng.integers(0, w - size + 1, per_mask)
        out.append(np.stack([m[a : a + size, b : b + size] for a, b in zip(r, c, strict=True)]))
    rows = np.repeat(np.arange(len(mask_set.masks)), per_mask)
    return np.concatenate(out), mask_set.table.iloc[rows].reset_index(drop=True)


def mask_particles(
    masks: Any, *, min_area_px: float = 0, split_ratio: float = 0.2, pixel_size: float | None = None
) -> tuple[Any, Any]:
    """Particles of binary masks, the same code for real and generated ones.

    Each mask is split into particles by :func:`semlab.segment.split_particles` (neck rule,
    ``split_ratio``) and measured by :func:`semlab.segment.particle_table`.  Particles cut by
    the mask's frame are kept (flagged ``edge``).

    Parameters
    ----------
    masks : (n, M, N) array
        Non-zero = particle phase.
    min_area_px : float
        Smaller fragments are merged into a neighbour, isolated specks removed (px).
    split_ratio : float
    pixel_size : float, optional
        µm per pixel; lengths in µm (``_um`` columns) instead of px.

    Returns
    -------
    per_mask : pandas.DataFrame
        ``area_fraction`` (0–1), ``n_particles``, ``mean_diameter_<unit>``,
        ``median_diameter_<unit>`` (equivalent diameters; NaN without particles).
    particles : pandas.DataFrame
        The particle tables, with ``mask`` (index of the mask).
    """
    import pandas as pd

    from semlab.segment import particle_table, split_particles

    unit = "um" if pixel_size else "px"
    rows, tables = [], []
    for i, m in enumerate(np.asarray(masks)):
        fg = np.asarray(m) > 0
        with warnings.catch_warnings():  # qhull warns on one-pixel-wide particles (solidity)
            warnings.simplefilter("ignore")
            inst = split_particles(fg, min_area_px=min_area_px or None, split_ratio=split_ratio, no_data=None)
            t = particle_table(inst, pixel_size=pixel_size)
        d = t[f"equivalent_diameter_{unit}"].to_numpy()
        t.insert(0, "mask", i)
        tables.append(t)
        rows.append(
            {
                "area_fraction": float(fg.mean()),
                "n_particles": len(d),
                f"mean_diameter_{unit}": float(d.mean()) if len(d) else math.nan,
                f"median_diameter_{unit}": float(np.median(d)) if len(d) else math.nan,
            }
        )
    particles = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
    return pd.DataFrame(rows), particles


@dataclass(frozen=True, eq=False)
class MaskComparison:
    """Real vs generated masks, condition by condition (:func:`evaluate_mask_generator`).

    Attributes
    ----------
    summary : pandas.DataFrame
        One row per condition value (ascending): ``n_real``, ``n_generated`` (patches),
        ``particles_real``, ``particles_generated``, ``area_fraction_real``,
        ``area_fraction_generated`` (mean over patches, 0–1), ``mean_diameter_real``,
        ``mean_diameter_generated``, ``median_diameter_real``, ``median_diameter_generated``
        (equivalent diameters of all particles of the condition's patches pooled, px),
        ``area_weighted_diameter_real``, ``area_weighted_diameter_generated`` (Σ A·d / Σ A,
        px: the mean size of the particle under a random particle pixel),
        ``wasserstein_diameter`` (px) and ``ks_diameter`` (0–1) between the two
        distributions.
    spearman_real, spearman_generated : float
        Spearman correlation of the mean equivalent diameter with the condition value.
    spearman_real_vs_generated : float
        Of generated vs real mean diameters across conditions.
    diameters : dict
        ``{value: {"real": array, "generated": array}}`` equivalent diameters, px.
    condition : str
    unit : str
        ``"px"`` or ``"µm"``.
    """

    summary: Any
    spearman_real: float
    spearman_generated: float
    spearman_real_vs_generated: float
    diameters: dict = field(repr=False)
    condition: str = ""
    unit: str = "px"

    def to_dict(self) -> dict[str, Any]:
        from semlab._util import to_jsonable

        out = to_jsonable(
            {
                "condition": self.condition,
                "length_unit": self.unit,
                "threshold": MASK_THRESHOLD,
                "spearman_mean_diameter_real": self.spearman_real,
                "spearman_mean_diameter_generated": self.spearman_generated,
                "spearman_real_vs_generated": self.spearman_real_vs_generated,
                "conditions": self.summary.to_dict(orient="records"),
            }
        )
        return dict(out)


def _spearman(x: Any, y: Any) -> float:
    from scipy.stats import spearmanr

    a, b = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3 or np.ptp(a[ok]) == 0 or np.ptp(b[ok]) == 0:
        return math.nan
    return float(spearmanr(a[ok], b[ok]).statistic)


@dataclass(frozen=True, eq=False)
class PatchStats:
    """Particles of a set of binary patches (:func:`patch_stats`).

    Attributes
    ----------
    area_fraction : (n,) ndarray
        Particle-phase area fraction of each patch (0–1).
    diameters, areas : ndarray
        Equivalent diameter (px) and area (px²) of every particle of every patch, pooled.
    """

    area_fraction: np.ndarray
    diameters: np.ndarray
    areas: np.ndarray

    @property
    def n(self) -> int:
        return len(self.area_fraction)


def patch_stats(patches: Any, *, min_area_px: float = 0) -> PatchStats:
    """:func:`mask_particles` of binary patches, pooled (the one measurement of real and generated)."""
    per, parts = mask_particles(patches, min_area_px=min_area_px)
    if len(parts):
        d, a = parts["equivalent_diameter_px"].to_numpy(), parts["area_px2"].to_numpy()
    else:
        d = a = np.zeros(0)
    return PatchStats(per["area_fraction"].to_numpy(), d, a)


def _side(stats: PatchStats, name: str) -> dict[str, Any]:
    d, a = stats.diameters, stats.areas
    return {
        f"particles_{name}": len(d),
        f"area_fraction_{name}": float(stats.area_fraction.mean()),
        f"mean_diameter_{name}": float(d.mean()) if len(d) else math.nan,
        f"median_diameter_{name}": float(np.median(d)) if len(d) else math.nan,
        f"area_weighted_diameter_{name}": float((a * d).sum() / a.sum()) if len(d) else math.nan,
    }


def compare_mask_patches(
    real: Mapping[float, Any],
    generated: Mapping[float, Any],
    *,
    condition: str = "condition",
    min_area_px: float = 0,
) -> MaskComparison:
    """Compare real and generated binary patches per condition value (same descriptor code).

    Values of ``real`` and ``generated`` are (n, size, size) binary patches or their
    :class:`PatchStats` (to measure a real reference once).
    """
    import pandas as pd
    from scipy.stats import ks_2samp, wasserstein_distance

    if sorted(real) != sorted(generated):
        raise ParameterError("real and generated patches must cover the same condition values")

    def stats(x: Any) -> PatchStats:
        return x if isinstance(x, PatchStats) else patch_stats(x, min_area_px=min_area_px)

    rows, diam = [], {}
    for v in sorted(real):
        sr, sg = stats(real[v]), stats(generated[v])
        dr, dg = sr.diameters, sg.diameters
        diam[v] = {"real": dr, "generated": dg}
        both = len(dr) > 0 and len(dg) > 0
        rows.append(
            {
                condition: v,
                "n_real": sr.n,
                "n_generated": sg.n,
                **_side(sr, "real"),
                **_side(sg, "generated"),
                "wasserstein_diameter": float(wasserstein_distance(dr, dg)) if both else math.nan,
                "ks_diameter": float(ks_2samp(dr, dg).statistic) if both else math.nan,
            }
        )
    s = pd.DataFrame(rows)
    return MaskComparison(
        summary=s,
        spearman_real=_spearman(s[condition], s["mean_diameter_real"]),
        spearman_generated=_spearman(s[condition], s["mean_diameter_generated"]),
        spearman_real_vs_generated=_spearman(s["mean_diameter_real"], s["mean_diameter_generated"]),
        diameters=diam,
        condition=condition,
    )


def tile_mask_patches(mask_set: MaskSet, condition: str, *, size: int = 32) -> dict[float, np.ndarray]:
    """Every non-overlapping ``size`` × ``size`` tile of the masks, grouped by condition value.

    The real reference of :func:`evaluate_mask_generator`: deterministic and using every
    pixel of the field once (tiles start at the top-left corner; the remainder is dropped).
    """
    h, w = mask_set.masks.shape[1:]
    if size > min(h, w):
        raise ParameterError(f"size={size} is larger than the masks ({h}×{w})")
    vals = mask_set.table[condition].to_numpy(dtype=float)
    out = {}
    for v in condition_levels(mask_set.table, condition):
        tiles = [
            m[r : r + size, c : c + size]
            for m in mask_set.masks[vals == v]
            for r in range(0, h - size + 1, size)
            for c in range(0, w - size + 1, size)
        ]
        out[v] = np.stack(tiles)
    return out


def evaluate_mask_generator(
    generator: Any,
    mask_set: MaskSet,
    condition: str,
    *,
    n: int = 128,
    seed: int = 0,
    real: Mapping[float, Any] | None = None,
    guidance: float | None = None,
    steps: int | None = None,
    min_area_px: float = 0,
) -> tuple[MaskComparison, dict[float, np.ndarray]]:
    """Per condition value: the real masks' tiles vs ``n`` generated masks of the generator's size.

    Parameters
    ----------
    generator : ConditionalGenerator
        From :func:`train_mask_generator`.
    mask_set : MaskSet
    condition : str
    n : int
        Generated masks per condition value (thresholded at 0.5).
    seed : int
        Seed of the generated noise (condition ``k`` uses ``seed + k``).
    real : mapping value → patches or PatchStats, optional
        The real reference; default every non-overlapping tile of the generator's size
        (:func:`tile_mask_patches`).
    guidance, steps
        DDPM sampling (see :meth:`ConditionalGenerator.sample`).
    min_area_px : float
        Of :func:`mask_particles`, for both sides.

    Returns
    -------
    comparison : MaskComparison
    generated : dict value → (n, size, size) uint8 masks
    """
    size = generator.size
    if real is None:
        real = tile_mask_patches(mask_set, condition, size=size)
    gen = {
        v: sample_masks(generator, condition, v, n, seed=seed + k, guidance=guidance, steps=steps)
        for k, v in enumerate(condition_levels(mask_set.table, condition))
    }
    return compare_mask_patches(real, gen, condition=condition, min_area_px=min_area_px), gen


def _value_text(v: float, unit: str = "") -> str:
    return f"{v:g}{unit}" if v >= 1 or v == 0 else f"{v:.3g}{unit}"


def plot_mask_comparison(
    path: str | os.PathLike,
    real: Mapping[float, np.ndarray],
    generated: Mapping[float, np.ndarray],
    *,
    condition_label: str = "condition",
    per_side: int = 4,
    title: str = "",
) -> Path:
    """A grid: one row per condition value, ``per_side`` real then ``per_side`` generated masks."""
    from semlab._plot import image_grid, save_figure

    values = sorted(real)
    images, labels = [], []
    for v in values:
        images += list(real[v][:per_side]) + list(generated[v][:per_side])
        labels.append(f"{condition_label}\n= {_value_text(v)}")
    cols = 2 * per_side
    col_labels = [f"real {i + 1}" for i in range(per_side)] + [f"generated {i + 1}" for i in range(per_side)]
    fig = image_grid(
        images,
        columns=cols,
        row_labels=labels,
        col_labels=col_labels,
        title=title or "real vs generated masks (white = carbide; generated thresholded at 0.5)",
        value_range=(0, 1),
    )
    return save_figure(fig, path)


def plot_size_distributions(path: str | os.PathLike, comparison: MaskComparison, *, title: str = "") -> Path:
    """Histograms (log bins) of the equivalent diameters, real vs generated, one panel per condition."""
    from semlab._plot import new_figure, save_figure

    values = sorted(comparison.diameters)
    fig, axes = new_figure((3.2 * len(values), 3.0), rows=1, cols=len(values))
    axes = np.asarray(axes).ravel()
    alld = np.concatenate(
        [np.concatenate([d["real"], d["generated"]]) for d in comparison.diameters.values()]
    )
    hi = float(alld.max()) if len(alld) else 10.0
    bins = np.geomspace(1.0, max(hi, 2.0) * 1.05, 25)
    s = comparison.summary.set_index(comparison.condition)
    for ax, v in zip(axes, values, strict=True):
        d = comparison.diameters[v]
        for name, colour in (("real", "tab:blue"), ("generated", "tab:orange")):
            x = d[name]
            w = np.full(len(x), 1.0 / len(x)) if len(x) else None
            mean = s.loc[v, f"mean_diameter_{name}"]
            ax.hist(x, bins=bins, weights=w, histtype="step", lw=1.6, color=colour,
                    label=f"{name} (n={len(x)}, mean {mean:.2f} px)")  # fmt: skip
        ax.set_xscale("log")
        ax.set_xlabel("equivalent diameter (px)")
        ax.set_title(f"{comparison.condition} = {_value_text(v)}\nW1 = {s.loc[v, 'wasserstein_diameter']:.2f} px, "
                     f"KS = {s.loc[v, 'ks_diameter']:.2f}", fontsize=9)  # fmt: skip
        ax.legend(fontsize=7)
    axes[0].set_ylabel("fraction of particles")
    if title:
        fig.suptitle(title, fontsize=10)
    return save_figure(fig, path)
