"""The end-to-end demo on built-in synthetic data (``semlab demo``, ``make demo``).

One function, :func:`run_demo`, used by the CLI (``semlab demo``).  It calls only the stages'
public functions; each step lives in a private module of this package.  It

1. renders a synthetic laser-sintering series (:func:`semlab.data.sintering_series`),
2. ingests it into a workspace with its descriptor table (:class:`semlab.dataset.Workspace`),
3. crops the data bars, equalizes (CLAHE), resamples to a common pixel size and samples
   40 augmented patches per image (:mod:`semlab.preprocess`),
4. segments every image with the hybrid method (threshold + SLIC superpixels,
   :func:`semlab.segment.segment_image`), scores it against the generator's truth and
   writes overlays for one image per burst count,
5. quantifies the structure of every image (:func:`semlab.quantify.descriptor_table` on
   the series' solid/pore label images, pores as the described phase): porosity,
   relative density, specific perimeter and mean pore diameter in µm, joined to the
   process parameters and properties,
6. extracts CNN features of patches with the offline EfficientNet-Lite0 (cached in the
   workspace, :mod:`semlab.features`),
7. trains a burst-count classifier on them with a sample-grouped split (:mod:`semlab.learn`),
8. builds the interactive map of the series coloured by burst count, ``map.html``
   (:mod:`semlab.maps`; UMAP, or PCA with ``quick``),
9. relates the measured structure to conductivity with LOOCV and SHAP (:mod:`semlab.relate`),
10. trains (or reloads) a tiny conditional diffusion model on burst count and compares the
    porosity of generated and real images (:mod:`semlab.generate`),
11. writes a report: ``summary.json``, ``report.md``, ``structure.csv``/``.parquet``, a
    contact sheet of the series and a sheet of example patches.

Running it again on the same folder re-uses the workspace (nothing is added twice) and
gives identical outputs for the same seed.
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
    """What the demo made and where.  Paths are absolute; ``seconds`` is wall time."""

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
    porosity_by_burst: dict[str, float]
    structure_table: str
    overlays: list[str]
    pore_iou_hybrid: float
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
        Patch side in pixels.
    progress : callable, optional
        Called as ``progress(step, done, total)`` while images are processed.

    Returns
    -------
    DemoResult
    """
    t0 = time.perf_counter()
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    ingested = ingest_series(out, quick=quick, seed=seed, progress=progress)
    prepared = segment_and_cut(ingested, out, seed=seed, patch_size=patch_size, progress=progress)
    patches_path = save_patches(prepared, out)
    contact_path, patch_path = save_pictures(prepared.examples, out)
    structure = measure_structure(ingested.synthetic, prepared.segmentation, out)
    stages = _later_stages(
        ingested.workspace, out, structure_csv=out / "structure.csv", quick=quick, seed=seed, progress=progress
    )
    by_burst = structure.groupby("burst_count")
    porosity = ingested.series.groupby("burst_count")["porosity"].mean()
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
        porosity_by_burst={str(k): round(float(v), 4) for k, v in porosity.items()},
        structure_table=str(out / "structure.parquet"),
        overlays=[str(o) for o in prepared.overlays],
        pore_iou_hybrid=round(float(prepared.segmentation["pore_iou_hybrid"].mean()), 4),
        relative_density_by_burst={
            str(k): round(float(v), 4) for k, v in by_burst["relative_density"].mean().items()
        },
        specific_perimeter_by_burst={
            str(k): round(float(v), 3) for k, v in by_burst["specific_perimeter_per_um"].mean().items()
        },
        cropped_rows=prepared.cropped,
        **stages,
        seconds=round(time.perf_counter() - t0, 2),
    )
    atomic_write_text(result.summary_json, json.dumps(result.to_dict(), indent=2) + "\n")
    atomic_write_text(result.report, report_markdown(result, ingested.series, structure))
    return result


def _later_stages(
    ws: Any,
    out: Path,
    *,
    structure_csv: Path,
    quick: bool,
    seed: int,
    progress: Callable[[str, int, int], None] | None,
) -> dict[str, Any]:
    """Features → burst-count classifier → map → structure-property relation → generation.

    Each step is a function of this package over the stages' public API; this collects
    what they report and how long each took.
    """
    from semlab.demo._features import embed_demo_workspace, feature_summary
    from semlab.demo._generate import generate_step
    from semlab.demo._learn import learn_step
    from semlab.demo._maps import map_step
    from semlab.demo._relate import relate_step

    seconds: dict[str, float] = {}
    lines: dict[str, list[str]] = {}

    def timed(name: str, fn: Callable[[], Any]) -> Any:
        t = time.perf_counter()
        value = fn()
        seconds[name] = round(time.perf_counter() - t, 2)
        return value

    table = timed(
        "features",
        lambda: embed_demo_workspace(
            ws, quick=quick, seed=seed, progress=(lambda d, t: progress("features", d, t)) if progress else None
        ),
    )
    features, lines["features"] = feature_summary(table)
    learned = timed("learn", lambda: learn_step(ws, out_dir=out, quick=quick, seed=seed))
    lines["learn"] = learned.lines()
    map_html = timed("map", lambda: map_step(ws, out_dir=out, seed=seed, quick=quick))
    lines["map"] = [f"map: {len(ws)} images placed by their features, coloured by burst count → {map_html}"]
    related = timed("relate", lambda: relate_step(structure_csv, out_dir=out / "relate", seed=seed))
    lines["relate"] = related.lines()
    generated = timed("generate", lambda: generate_step(ws, out_dir=out / "generate", quick=quick, seed=seed))
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
