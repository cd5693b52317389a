"""The end-to-end demo on built-in synthetic data (``semlab demo``, ``make demo``).

One function, :func:`run_demo`, used by the CLI (``semlab demo``).  It calls only the stages'
public functions; each step lives in a private module of this package.  It

1. renders a synthetic laser-sintering series (:func:`semlab.data.sintering_series`),
2. ingests it into a workspace with its descriptor table (:class:`semlab.dataset.Workspace`),
3. crops the data bars, equalizes (CLAHE), resamples to a common pixel size and samples
   40 augmented patches per image (:mod:`semlab.preprocess`),
4. segments the pores of every image as a user would (hybrid threshold + SLIC superpixels,
   dark foreground named ``pore``: :func:`semlab.segment.segment_labelled`) and writes
   overlays (with a legend and scale bar) for one image per burst count,
5. quantifies the structure of those segmentations (:func:`semlab.quantify.descriptor_table`,
   pores as the described phase): porosity, relative density, specific perimeter and mean
   pore diameter in µm, joined to the process parameters and properties; the generator's
   true porosity and the pore IoU against its truth are kept only as ``*truth*`` columns,
   for comparison,
6. extracts multiscale CNN features of patches with the offline EfficientNet-Lite0 (cached
   in the workspace, :mod:`semlab.features`; the recipe of ``benchmarks/results/learn.json``),
7. trains a burst-count classifier (logistic regression) on them with a sample-grouped
   split (:mod:`semlab.learn`),
8. builds the interactive map of the series coloured by burst count, ``map.html``
   (:mod:`semlab.maps`; UMAP, or PCA with ``quick``),
9. relates the measured structure to conductivity with LOOCV and SHAP (:mod:`semlab.relate`),
10. trains (a fixed number of steps) or reloads a tiny conditional diffusion model on burst count and compares the
    porosity of generated and real images (:mod:`semlab.generate`),
11. writes a report: ``summary.json``, ``report.md``, ``structure.csv``/``.parquet``, a
    contact sheet of the series and a sheet of example patches.

Running it again on the same folder re-uses the workspace (nothing is added twice) and
gives identical outputs for the same seed.  Every budget is counted in work (steps, fits),
never in seconds, so the numbers are the same on a busy and an idle machine.  Each step
reports progress at least once a second (:mod:`semlab.demo._progress`).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from semlab._util import atomic_write_text
from semlab.demo._prepare import ingest_series, save_patches, segment_and_cut
from semlab.demo._report import report_markdown, save_pictures
from semlab.demo._structure import measure_structure


@dataclass(frozen=True)
class DemoResult:
    """What the demo made and where.  Paths are absolute; ``seconds`` is wall time.

    Every ``*_measured_*`` number and every later stage's number is computed by semlab from the
    images (segmentation → quantify → relate, features → classifier, generator).  The
    generator's ground truth appears only in fields named ``*truth*`` (for comparison).
    """

    out_dir: str
    workspace: str
    report: str
    summary_json: str
    contact_sheet: str
    patch_sheet: str
    patches: str
    n_images: int
    n_samples: int
    pixel_sizes_um: list[float]
    target_pixel_size_um: float
    n_patches: int
    patch_size: int
    added: int
    already_present: int
    porosity_measured_by_burst: dict[str, float]
    porosity_truth_by_burst: dict[str, float]
    structure_table: str
    overlays: list[str]
    pore_iou_vs_truth: float
    relative_density_by_burst: dict[str, float]
    specific_perimeter_by_burst: dict[str, float]
    cropped_rows: dict[str, int] = field(default_factory=dict)
    features: dict[str, Any] = field(default_factory=dict)
    learn: dict[str, Any] = field(default_factory=dict)
    map_html: str = ""
    relate: dict[str, Any] = field(default_factory=dict)
    generate: dict[str, Any] = field(default_factory=dict)
    stage_lines: dict[str, list[str]] = field(default_factory=dict)
    stage_seconds: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _means(structure: Any, column: str, digits: int) -> dict[str, float]:
    return {
        str(k): round(float(v), digits) for k, v in structure.groupby("burst_count")[column].mean().items()
    }


def run_demo(
    out_dir: str | os.PathLike = "demo-output",
    *,
    seed: int = 0,
    quick: bool = False,
    patch_size: int = 128,
    progress: Callable[[str, int, int], None] | None = None,
) -> DemoResult:
    """Run the end-to-end demo and write its outputs under ``out_dir``.

    Parameters
    ----------
    out_dir : str or Path
        Output folder (created); holds ``synthetic/``, ``workspace/`` and the report.
    seed : int, default 0
        Seed of every random step; the same seed gives the same outputs.
    quick : bool, default False
        Smaller series (2 samples per level, 256×256 images) for tests.
    patch_size : int, default 128
        Side in pixels of the patches written to ``patches.npz``.
    progress : callable, optional
        Called as ``progress(step, done, total)``: once when a step starts (``done`` 0),
        whenever it counts work, and at least once a second while it runs
        (:class:`semlab.demo._progress.Stages`); ``total`` 0 means unknown.

    Returns
    -------
    DemoResult
    """
    from semlab.demo._progress import Stages

    t0 = time.perf_counter()
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    stages = Stages(progress)
    with stages.stage("render and ingest the synthetic series") as tick:
        ingested = ingest_series(out, quick=quick, seed=seed, progress=tick)
    with stages.stage("segment pores and cut patches", total=len(ingested.table)) as tick:
        prepared = segment_and_cut(ingested, out, seed=seed, patch_size=patch_size, progress=tick)
        patches_path = save_patches(prepared, out)
        contact_path, patch_path = save_pictures(prepared.examples, out, pixel_size=prepared.target)
    with stages.stage("quantify the segmented structure"):
        px = prepared.pixel_sizes[0] if len(prepared.pixel_sizes) == 1 else None
        structure = measure_structure(
            ingested.synthetic, prepared.labels, prepared.segmentation, out, pixel_size=px
        )
    later = _later_stages(
        ingested.workspace, out, structure_csv=out / "structure.csv", quick=quick, seed=seed, stages=stages
    )
    table = ingested.table
    result = DemoResult(
        out_dir=str(out),
        workspace=str(out / "workspace"),
        report=str(out / "report.md"),
        summary_json=str(out / "summary.json"),
        contact_sheet=str(contact_path),
        patch_sheet=str(patch_path),
        patches=str(patches_path),
        n_images=len(table),
        n_samples=int(table["sample"].nunique()),
        pixel_sizes_um=prepared.pixel_sizes,
        target_pixel_size_um=prepared.target,
        n_patches=int(prepared.patches.shape[0]),
        patch_size=patch_size,
        added=ingested.added,
        already_present=ingested.already_present,
        porosity_measured_by_burst=_means(structure, "porosity_measured", 4),
        porosity_truth_by_burst=_means(structure, "porosity_truth", 4),
        structure_table=str(out / "structure.parquet"),
        overlays=[str(o) for o in prepared.overlays],
        pore_iou_vs_truth=round(float(structure["pore_iou_vs_truth"].mean()), 4),
        relative_density_by_burst=_means(structure, "relative_density", 4),
        specific_perimeter_by_burst=_means(structure, "specific_perimeter_per_um", 3),
        cropped_rows=prepared.cropped,
        **later,
        seconds=round(time.perf_counter() - t0, 2),
    )
    with stages.stage("write the report"):
        atomic_write_text(result.summary_json, json.dumps(result.to_dict(), indent=2) + "\n")
        atomic_write_text(result.report, report_markdown(result, ingested.series, structure))
    return result


def _later_stages(
    ws: Any, out: Path, *, structure_csv: Path, quick: bool, seed: int, stages: Any
) -> dict[str, Any]:
    """Features → burst-count classifier → map → structure-property relation → generation.

    Each step is a function of this package over the stages' public API; this collects
    what they report and how long each took (``stage_seconds``: wall time, informative only;
    no budget depends on it).
    """
    from semlab.demo._features import DEMO_FEATURE_SET, embed_demo_workspace, feature_summary
    from semlab.demo._generate import DEMO_STEPS, generate_step
    from semlab.demo._learn import DEMO_HEAD, learn_step
    from semlab.demo._maps import map_step
    from semlab.demo._relate import relate_step

    seconds: dict[str, float] = {}
    lines: dict[str, list[str]] = {}
    method = "PCA" if quick else "UMAP"
    steps = 60 if quick else DEMO_STEPS

    def timed(name: str, what: str, fn: Callable[[Any], Any]) -> Any:
        t = time.perf_counter()
        with stages.stage(what) as tick:
            value = fn(tick)
        seconds[name] = round(time.perf_counter() - t, 2)
        return value

    table = timed(
        "features",
        f"features: EfficientNet-Lite0 {DEMO_FEATURE_SET} (images)",
        lambda tick: embed_demo_workspace(ws, quick=quick, seed=seed, progress=tick),
    )
    features, lines["features"] = feature_summary(table)
    learned = timed(
        "learn",
        f"classifier: {DEMO_HEAD}, grouped folds (fitted models)",
        lambda tick: learn_step(ws, out_dir=out, quick=quick, seed=seed, progress=tick),
    )
    lines["learn"] = learned.lines()
    map_html = timed(
        "map",
        f"map: {method} of the features (the embedding, then thumbnails)",
        lambda tick: map_step(ws, out_dir=out, seed=seed, quick=quick, progress=tick),
    )
    lines["map"] = [
        f"map: {len(ws)} images placed by their features ({method}), coloured by burst count → {map_html}"
    ]
    related = timed(
        "relate",
        "relate: LOOCV over subsets of measured descriptors",
        lambda tick: relate_step(structure_csv, out_dir=out / "relate", seed=seed, progress=tick),
    )
    lines["relate"] = related.lines()
    generated = timed(
        "generate",
        f"generator: train {steps} steps, then sample and compare",
        lambda tick: generate_step(
            ws, out_dir=out / "generate", quick=quick, seed=seed, train_progress=tick, eval_progress=tick
        ),
    )
    lines["generate"] = generated.lines()
    return {
        "features": features,
        "learn": learned.to_dict(),
        "map_html": str(Path(map_html).resolve()),
        "relate": related.to_dict(),
        "generate": generated.to_dict(),
        "stage_lines": lines,
        "stage_seconds": seconds,
    }
