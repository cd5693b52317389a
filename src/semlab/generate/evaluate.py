"""Judge a conditional generator by microstructure descriptors, condition by condition.

For every condition (each combination of categorical/binned levels present in the real
data), real patches and as many generated images are compared by:

* **relative density, porosity, specific perimeter, shape index** — both real and
  generated grey images are segmented with **one fixed grey threshold**, the Otsu
  threshold of the pooled real training images stored with the model (pixels at or below
  it are the dark phase, the pores; relative density = 1 − porosity).  Means, standard
  deviations and, across conditions, R² of the generated means against the real means
  (1 − Σ(gen − real)² / Σ(real − mean real)²), as in the ShAPE study;
* **area fraction over thresholds** (:func:`semlab.quantify.area_fractions`, grey values
  in [0, 1]) — mean curves and their largest gap;
* **persistence images** of the H1 sublevel-set diagrams of the grey images
  (:func:`semlab.quantify.persistence_image` on common ranges) — per-condition averages
  and a PCA projection of real and generated images together;
* **diversity** — mean pairwise RMS grey-value distance between the images of one
  condition, generated ÷ real; well below 1 (< 0.5) flags mode collapse.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from semlab.errors import ParameterError, TableError

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "DESCRIPTORS",
    "EvaluationReport",
    "evaluate_generator",
    "evaluate_on_workspace",
    "patch_descriptors",
]

#: Per-image descriptors compared (the length-bearing one carries its unit suffix at run time).
DESCRIPTORS = ("relative_density", "porosity", "specific_perimeter", "shape_index")


def patch_descriptors(images: np.ndarray, *, threshold: float, pixel_size: float | None = None) -> Any:
    """Descriptors of grey images segmented at one threshold.

    Parameters
    ----------
    images : (n, M, N) ndarray
        Grey values in [0, 1].
    threshold : float
        Pixels ``<= threshold`` are the dark phase (pores, label 1).
    pixel_size : float, optional
        µm per pixel; None gives lengths in pixels.

    Returns
    -------
    pandas.DataFrame
        ``porosity`` (dark-phase area fraction, 0–1), ``relative_density`` (1 − porosity),
        ``specific_perimeter_per_um`` (or ``_per_px``: pore boundary length per image area),
        ``shape_index`` (area-weighted P/(2√(πA)) of interior pores; NaN when none),
        ``mean_grey``.
    """
    import pandas as pd

    from semlab.quantify import shape_index, specific_perimeter

    unit = "um" if pixel_size else "px"
    rows = []
    for im in np.asarray(images):
        lab = (im <= threshold).astype(np.uint8)
        por = float(lab.mean())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sp = specific_perimeter(lab, pixel_size=pixel_size, phase=1) if 0 < por < 1 else 0.0
            si = shape_index(lab, phase=1) if 0 < por < 1 else math.nan
        rows.append(
            {
                "porosity": por,
                "relative_density": 1.0 - por,
                f"specific_perimeter_per_{unit}": sp,
                "shape_index": si,
                "mean_grey": float(im.mean()),
            }
        )
    return pd.DataFrame(rows)


def _mean_pairwise_rms(images: np.ndarray) -> float:
    x = images.reshape(len(images), -1).astype(np.float64)
    if len(x) < 2:
        return math.nan
    d = [np.sqrt(((x[i + 1 :] - x[i]) ** 2).mean(1)) for i in range(len(x) - 1)]
    return float(np.concatenate(d).mean())


def _r2(real: np.ndarray, gen: np.ndarray) -> float:
    ok = np.isfinite(real) & np.isfinite(gen)
    real, gen = real[ok], gen[ok]
    if len(real) < 2:
        return math.nan
    ss_tot = float(((real - real.mean()) ** 2).sum())
    return 1.0 - float(((gen - real) ** 2).sum()) / ss_tot if ss_tot > 0 else math.nan


@dataclass(frozen=True, eq=False)
class EvaluationReport:
    """Real vs generated descriptors of a conditional generator.

    Attributes
    ----------
    summary : pandas.DataFrame
        One row per condition: ``condition``, ``n_real``, ``n_generated``, and for each
        descriptor ``<name>_real_mean``, ``<name>_real_std``, ``<name>_generated_mean``,
        ``<name>_generated_std``; ``area_fraction_max_gap`` (0–1), ``pi_distance`` (L2
        between the mean persistence images), ``diversity_real``, ``diversity_generated``
        (mean pairwise RMS grey distance, 0–1) and ``diversity_ratio``.
    r2 : dict
        Descriptor → R² of generated vs real condition means.
    trend_agreement : dict
        Descriptor → Spearman correlation of generated vs real condition means.
    per_image : pandas.DataFrame
        Descriptors of every image with ``condition`` and ``source`` (real/generated).
    pca_explained : tuple of float
        Variance ratio of the two persistence-image components.
    mode_collapse : list of str
        Conditions whose diversity ratio is below 0.5.
    threshold : float
        The grey threshold used (0–1).
    length_unit : str
        ``"µm"`` or ``"px"``.
    path : Path or None
        Report folder.
    """

    summary: Any
    r2: dict
    trend_agreement: dict
    per_image: Any
    pca_explained: tuple
    mode_collapse: list
    threshold: float
    length_unit: str
    model: str = ""
    files: list = field(default_factory=list)
    path: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        from semlab._util import to_jsonable

        data = to_jsonable(
            {
                "model": self.model,
                "threshold": self.threshold,
                "segmentation": "generated and real grey images thresholded at the Otsu threshold of the pooled "
                "real training images; pixels <= threshold are pores",
                "length_unit": self.length_unit,
                "r2": self.r2,
                "trend_agreement_spearman": self.trend_agreement,
                "pca_explained_variance_ratio": list(self.pca_explained),
                "mode_collapse": self.mode_collapse,
                "conditions": self.summary.to_dict(orient="records"),
                "files": self.files,
                "path": str(self.path) if self.path else None,
            }
        )
        return cast(dict[str, Any], data)  # to_jsonable keeps a dict a dict


def _groups(spec: Any, table: Any) -> tuple[list[str], list[dict[str, Any]], np.ndarray]:
    """Condition label per row (continuous columns in tertiles), sampling setting per label, valid rows."""
    valid = np.ones(len(table), dtype=bool)
    for c in spec.conditions:
        for i, v in enumerate(table[c.column]):
            try:
                c.encode_value(v)
            except ParameterError:
                valid[i] = False
    sub = table[valid]
    parts, keys, settings_cols = [], [], []
    for c in spec.conditions:
        col = sub[c.column]
        if c.kind == "continuous":
            v = col.to_numpy(dtype=float)
            edges = np.quantile(v, [1 / 3, 2 / 3]) if len(v) else np.zeros(2)
            b = np.searchsorted(edges, v, side="right")
            names = np.array(["low", "mid", "high"])[b]
            parts.append([f"{c.column}~{n}" for n in names])
            keys.append(list(b))
            settings_cols.append(("cont", c, v, names))
        else:
            idx = [int(c.encode_value(x)) for x in col]
            parts.append([f"{c.column}={c.levels[i]}" for i in idx])
            keys.append(idx)
            settings_cols.append(("cat", c, None, None))
    labels = [" ".join(p) for p in zip(*parts, strict=True)] if parts else []
    sort_key = dict(zip(labels, zip(*keys, strict=True), strict=False)) if parts else {}
    order = sorted(dict.fromkeys(labels), key=lambda lab: sort_key[lab])
    settings = []
    lab_arr = np.array(labels)
    for lab in order:
        sel = lab_arr == lab
        d: dict[str, Any] = {}
        for kind, c, v, _ in settings_cols:
            if kind == "cont":
                d[c.column] = float(np.median(v[sel]))
            else:
                d[c.column] = c.levels[int(c.encode_value(sub[c.column].to_numpy()[np.flatnonzero(sel)[0]]))]
        settings.append(d)
    full = np.array([""] * len(table), dtype=object)
    full[valid] = labels
    return order, settings, full


def evaluate_generator(
    generator: Any,
    real_images: np.ndarray,
    real_conditions: Any,
    *,
    n_per_condition: int = 16,
    seed: int = 0,
    guidance: float | None = None,
    steps: int | None = None,
    pixel_size: float | None = None,
    n_thresholds: int = 10,
    out_dir: str | os.PathLike | None = None,
    plots: bool = True,
    progress: Any = None,
) -> EvaluationReport:
    """Compare generated and real images condition by condition (see the module docstring).

    Parameters
    ----------
    generator : ConditionalGenerator or path
        A trained model (:func:`~semlab.generate.load_generator`).
    real_images : (n, size, size) ndarray
        Real patches in [0, 1], prepared like the training data.
    real_conditions : pandas.DataFrame
        One row per real patch with the model's condition columns.  Rows whose values the
        model does not know are left out.
    n_per_condition : int, default 16
        Real patches used and images generated per condition.
    seed : int
        Seed of the patch choice and of the generated noise.
    guidance, steps : optional
        DDPM guidance scale and DDIM steps (see :meth:`ConditionalGenerator.sample`).
    pixel_size : float, optional
        µm per pixel (default the model's).
    n_thresholds : int
        Thresholds of the area-fraction curves.
    out_dir : path, optional
        Report folder: ``report.json``, ``summary.csv``, ``per_image.csv`` and (with
        ``plots``) ``descriptors.png``, ``area_fractions.png``, ``persistence_images.png``,
        ``persistence_pca.png``, ``samples.png``.
    plots : bool
        Write the PNG plots.
    progress : callable(done, total), optional

    Returns
    -------
    EvaluationReport
    """
    import pandas as pd

    from semlab.generate.train import ConditionalGenerator, load_generator

    gen = generator if isinstance(generator, ConditionalGenerator) else load_generator(generator)
    real_images = _check_real(gen, real_images, real_conditions)
    order, settings, labels = _groups(gen.spec, real_conditions.reset_index(drop=True))
    if not order:
        raise TableError("no real image has a condition value the model was trained on; nothing to compare")
    px = pixel_size if pixel_size is not None else gen.pixel_size
    rng = np.random.default_rng(seed)
    reals, gens = [], []
    for k, (lab, setting) in enumerate(zip(order, settings, strict=True)):
        idx = np.flatnonzero(labels == lab)
        idx = rng.choice(idx, min(n_per_condition, len(idx)), replace=False)
        reals.append(real_images[np.sort(idx)])
        gens.append(
            gen.sample(setting, n_per_condition, seed=seed + 1000 * (k + 1), guidance=guidance, steps=steps)
        )
        if progress is not None:
            progress(k + 1, len(order))
    frames = []
    for lab, r, g in zip(order, reals, gens, strict=True):
        for source, ims in (("real", r), ("generated", g)):
            d = patch_descriptors(ims, threshold=gen.threshold, pixel_size=px)
            d.insert(0, "source", source)
            d.insert(0, "condition", lab)
            frames.append(d)
    per_image = pd.concat(frames, ignore_index=True)
    sp_col = next(c for c in per_image.columns if c.startswith("specific_perimeter"))
    names = ["relative_density", "porosity", sp_col, "shape_index"]

    pis, proj, explained, pi_extent = _persistence_images(reals, gens)
    summary, curves = _summary(order, reals, gens, per_image, names, pis, n_thresholds)
    r2, trend = _agreement(summary, names)
    collapse = [
        lab for lab, v in zip(summary["condition"], summary["diversity_ratio"], strict=True) if v < 0.5
    ]
    report = EvaluationReport(
        summary=summary,
        r2=r2,
        trend_agreement=trend,
        per_image=per_image,
        pca_explained=explained,
        mode_collapse=collapse,
        threshold=gen.threshold,
        length_unit="µm" if px else "px",
        model=gen.name,
    )
    if out_dir is None:
        return report
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ParameterError(f"{out} is a file; give a folder for the report")
    out.mkdir(parents=True, exist_ok=True)
    files = _write(out, report, order, reals, gens, curves, pis, proj, explained, names, plots, pi_extent)
    import json

    from semlab._util import atomic_write_text

    report = EvaluationReport(**{**report.__dict__, "files": files, "path": out})
    atomic_write_text(out / "report.json", json.dumps(report.to_dict(), indent=2, allow_nan=True) + "\n")
    return report


def _check_real(gen: Any, real_images: Any, real_conditions: Any) -> np.ndarray:
    """The real patches as float32 (n, size, size), checked against the model and the table."""
    real_images = np.asarray(real_images, dtype=np.float32)
    if real_images.ndim != 3 or len(real_images) != len(real_conditions):
        raise ParameterError(
            f"real_images has shape {real_images.shape} for {len(real_conditions)} condition rows; "
            "give (n, size, size) patches with one row each"
        )
    if real_images.shape[1:] != (gen.size, gen.size):
        raise ParameterError(
            f"real patches are {real_images.shape[1]}×{real_images.shape[2]} but the model makes "
            f"{gen.size}×{gen.size}; prepare them like the training data"
        )
    missing = [c for c in gen.spec.columns if c not in real_conditions.columns]
    if missing:
        raise TableError(
            f"the real condition table lacks the model's condition column(s) {', '.join(missing)}"
        )
    return real_images


def _persistence_images(
    reals: list[np.ndarray], gens: list[np.ndarray]
) -> tuple[list[np.ndarray], np.ndarray, tuple[float, ...], tuple[float, float, float, float]]:
    """H1 persistence images of grey sublevel sets on one grid, and their 2-D PCA.

    Returns the stacks (real, generated, real, … per condition), the PCA projection of all
    images (n, 2), the fraction of variance the two axes explain and the grid's extent
    (birth min, birth max, persistence min, persistence max; grey values 0–1).
    """
    from semlab.quantify import common_ranges, persistence_diagram, persistence_image

    diagrams = [
        [persistence_diagram(im, maxdim=1) for im in ims]
        for pair in zip(reals, gens, strict=True)
        for ims in pair
    ]
    br, pr = common_ranges([d for ds in diagrams for d in ds], dim=1)
    pis = [
        np.stack([persistence_image(d, dim=1, birth_range=br, persistence_range=pr).image for d in ds])
        for ds in diagrams
    ]
    flat = np.concatenate([p.reshape(len(p), -1) for p in pis])
    centred = flat - flat.mean(0)
    _, sv, vt = np.linalg.svd(centred, full_matrices=False)
    proj = centred @ vt[:2].T if len(vt) >= 2 else np.zeros((len(flat), 2))
    var = sv**2
    explained = tuple(float(v) for v in (var[:2] / var.sum() if var.sum() > 0 else np.zeros(2)))
    return pis, proj, explained, (float(br[0]), float(br[1]), float(pr[0]), float(pr[1]))


def _summary(
    order: list[str],
    reals: list[np.ndarray],
    gens: list[np.ndarray],
    per_image: pd.DataFrame,
    names: list[str],
    pis: list[np.ndarray],
    n_thresholds: int,
) -> tuple[pd.DataFrame, dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]]:
    """One row per condition (descriptor means/stds, area-fraction gap, PI distance, diversity).

    Also returns the area-fraction curves ``(thresholds, real, generated)`` per condition.
    """
    import pandas as pd

    from semlab.quantify import area_fractions

    rows = []
    curves = {}
    for k, (lab, r, g) in enumerate(zip(order, reals, gens, strict=True)):
        row: dict[str, Any] = {"condition": lab, "n_real": len(r), "n_generated": len(g)}
        sel = per_image["condition"] == lab
        for name in names:
            for source, tag in (("real", "real"), ("generated", "generated")):
                v = per_image.loc[sel & (per_image["source"] == source), name].to_numpy(dtype=float)
                v = v[np.isfinite(v)]
                row[f"{name}_{tag}_mean"] = float(v.mean()) if len(v) else math.nan
                row[f"{name}_{tag}_std"] = float(v.std(ddof=1)) if len(v) > 1 else math.nan
        af_r = area_fractions(r, n_thresholds=n_thresholds, value_range=(0.0, 1.0))
        af_g = area_fractions(g, n_thresholds=n_thresholds, value_range=(0.0, 1.0))
        curves[lab] = (
            af_r["threshold"].to_numpy(),
            af_r["area_fraction"].to_numpy(),
            af_g["area_fraction"].to_numpy(),
        )
        row["area_fraction_max_gap"] = float(np.abs(curves[lab][1] - curves[lab][2]).max())
        row["pi_distance"] = float(np.linalg.norm(pis[2 * k].mean(0) - pis[2 * k + 1].mean(0)))
        dr, dg = _mean_pairwise_rms(r), _mean_pairwise_rms(g)
        row.update(diversity_real=dr, diversity_generated=dg, diversity_ratio=dg / dr if dr > 0 else math.nan)
        rows.append(row)
    return pd.DataFrame(rows), curves


def _agreement(summary: pd.DataFrame, names: list[str]) -> tuple[dict[str, float], dict[str, float]]:
    """R² of generated on real condition means, and their Spearman trend agreement, per descriptor."""
    from scipy.stats import spearmanr

    r2, trend = {}, {}
    for name in names:
        a, b = summary[f"{name}_real_mean"].to_numpy(float), summary[f"{name}_generated_mean"].to_numpy(float)
        r2[name] = _r2(a, b)
        ok = np.isfinite(a) & np.isfinite(b)
        trend[name] = (
            float(spearmanr(a[ok], b[ok])[0])
            if ok.sum() >= 2 and np.ptp(a[ok]) > 0 and np.ptp(b[ok]) > 0
            else math.nan
        )
    return r2, trend


def _write(
    out, report, order, reals, gens, curves, pis, proj, explained, names, plots, pi_extent
) -> list[str]:
    from semlab._plot import save_figure
    from semlab._util import atomic_write_text
    from semlab.generate.train import save_grid

    atomic_write_text(out / "summary.csv", report.summary.to_csv(index=False))
    atomic_write_text(out / "per_image.csv", report.per_image.to_csv(index=False))
    files = ["report.json", "summary.csv", "per_image.csv"]
    if not plots:
        return files
    for name, fig in (
        ("descriptors.png", _descriptor_figure(report, names)),
        ("area_fractions.png", _area_fraction_figure(order, curves)),
        ("persistence_images.png", _persistence_figure(order, pis, pi_extent)),
        ("persistence_pca.png", _persistence_pca_figure(order, pis, proj, explained)),
    ):
        save_figure(fig, out / name, dpi=110)
        files.append(name)
    per_row = min(8, min(len(r) for r in reals), min(len(g) for g in gens))
    rows = [x[:per_row] for r, g in zip(reals, gens, strict=True) for x in (r, g)]
    save_grid(
        out / "samples.png",
        np.concatenate(rows),
        columns=per_row,
        row_labels=[f"{lab}\n{tag}" for lab in order for tag in ("real", "generated")],
        title="real and generated patches per condition",
    )
    files.append("samples.png")
    return files


def _descriptor_figure(report: Any, names: list[str]) -> Any:
    """Generated against real condition means (± std) per descriptor, condition labels that
    do not overlap, the identity line; axis titles with units."""
    from semlab._plot import axis_label, label_points, new_figure

    s = report.summary
    fig, axes = new_figure((4 * len(names), 3.8), cols=len(names))
    for ax, name in zip(np.ravel(axes), names, strict=True):
        a, b = s[f"{name}_real_mean"], s[f"{name}_generated_mean"]
        ax.errorbar(a, b, xerr=s[f"{name}_real_std"], yerr=s[f"{name}_generated_std"], fmt="o", capsize=3)
        finite = np.r_[a, b][np.isfinite(np.r_[a, b])]
        if len(finite):
            lo, hi = finite.min(), finite.max()
            pad = 0.1 * (hi - lo or 1)
            ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], "k--", lw=0.8, label="generated = real")
        ax.set_xlabel(f"real {axis_label(name)}")
        ax.set_ylabel(f"generated {axis_label(name)}")
        ax.set_title(f"R² = {report.r2[name]:.2f}")
        ax.legend(fontsize=7, loc="upper left")
        label_points(ax, a.to_numpy(float), b.to_numpy(float), [str(v) for v in s["condition"]])
    return fig


def _area_fraction_figure(order: list[str], curves: dict[str, Any]) -> Any:
    from semlab._plot import new_figure

    fig, ax = new_figure((5, 4))
    for k, lab in enumerate(order):
        t, r, g = curves[lab]
        ax.plot(t, r, "-", color=f"C{k}", label=f"{lab} real")
        ax.plot(t, g, "--", color=f"C{k}", label=f"{lab} generated")
    ax.set_xlabel("grey threshold (0–1)")
    ax.set_ylabel("area fraction below threshold")
    ax.legend(fontsize=7)
    return fig


def _persistence_figure(
    order: list[str], pis: list[np.ndarray], extent: tuple[float, float, float, float]
) -> Any:
    """Mean H1 persistence image per condition, real | generated, on shared axes and colour bar."""
    from semlab._plot import new_figure

    fig, axes = new_figure((6.2, 2.3 * len(order) + 0.6), rows=len(order), cols=2)
    axes = np.asarray(axes).reshape(len(order), 2)
    vmax = max(float(p.mean(0).max()) for p in pis) or 1.0
    im = None
    for k, lab in enumerate(order):
        for j, tag in enumerate(("real", "generated")):
            ax = axes[k, j]
            im = ax.imshow(
                pis[2 * k + j].mean(0),
                origin="lower",
                cmap="magma",
                vmin=0,
                vmax=vmax,
                extent=extent,
                aspect="auto",
            )
            ax.set_title(f"{lab} {tag}", fontsize=8)
            ax.tick_params(labelsize=7)
            if k == len(order) - 1:
                ax.set_xlabel("birth (grey value, 0–1)", fontsize=8)
            if j == 0:
                ax.set_ylabel("persistence (grey value)", fontsize=8)
    if im is not None:
        fig.colorbar(im, ax=axes, label="mean weighted density", shrink=0.8)
    fig.suptitle("H1 persistence images (grey sublevel sets)", fontsize=9)
    return fig


def _persistence_pca_figure(order: list[str], pis: list[np.ndarray], proj: np.ndarray, explained: Any) -> Any:
    from semlab._plot import new_figure

    fig, ax = new_figure((5, 4))
    start = 0
    for k, lab in enumerate(order):
        for j, (tag, marker) in enumerate((("real", "o"), ("generated", "x"))):
            n = len(pis[2 * k + j])
            ax.scatter(
                proj[start : start + n, 0], proj[start : start + n, 1], c=f"C{k}", marker=marker, s=18,
                label=f"{lab} {tag}",
            )  # fmt: skip
            start += n
    ax.set_xlabel(f"PC1 ({100 * explained[0]:.0f} %)")
    ax.set_ylabel(f"PC2 ({100 * explained[1]:.0f} %)")
    ax.set_title("persistence images (H1), real and generated")
    ax.legend(fontsize=7)
    return fig


def evaluate_on_workspace(
    model: Any,
    workspace: Any,
    *,
    n_per_condition: int = 16,
    patches_per_image: int = 8,
    seed: int = 1,
    guidance: float | None = None,
    steps: int | None = None,
    out_dir: str | os.PathLike | None = None,
    plots: bool = True,
    progress: Any = None,
) -> EvaluationReport:
    """:func:`evaluate_generator` on real patches of a workspace, prepared as for training.

    The model's ``config.json`` says how (equalization, grey normalization, scale, patch
    size); patches are
    drawn with ``seed`` (default 1, so not the training patches of seed 0, though they may
    come from the same images).
    """
    from semlab.generate.train import ConditionalGenerator, load_generator, workspace_patches

    gen = model if isinstance(model, ConditionalGenerator) else load_generator(model)
    prep: Mapping[str, Any] = gen.meta.get("preprocessing", {}) or {}
    patches, table, px = workspace_patches(
        workspace,
        list(gen.spec.columns),
        size=gen.size,
        scale=float(prep.get("scale", 1.0)),
        patches_per_image=patches_per_image,
        equalize=str(prep.get("equalize", "clahe")),
        seed=seed,
        normalize=str(prep.get("normalize", "none")),
    )
    return evaluate_generator(
        gen,
        patches,
        table,
        n_per_condition=n_per_condition,
        seed=seed,
        guidance=guidance,
        steps=steps,
        pixel_size=px if px else gen.pixel_size,
        out_dir=out_dir,
        plots=plots,
        progress=progress,
    )
