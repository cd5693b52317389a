"""The end-to-end demo on built-in synthetic data (``semlab demo``, ``make demo``).

One function, :func:`run_demo`, used by the CLI; later stages extend it.  It

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

import numpy as np

from semlab._util import atomic_path, atomic_write_text

#: Patches per image, as in the transfer-learning study (40 random crops per micrograph).
PATCHES_PER_IMAGE = 40


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


def _save_png(path: Path, array: np.ndarray) -> None:
    from PIL import Image

    with atomic_path(path) as tmp:
        Image.fromarray(array).save(tmp, format="PNG")


def _to_uint8(image: np.ndarray) -> np.ndarray:
    from semlab.preprocess import rescale_unit

    return np.round(rescale_unit(image) * 255).astype(np.uint8)


def _sheet(tiles: list[np.ndarray], columns: int, pad: int = 4) -> np.ndarray:
    """Arrange equally sized uint8 tiles on a white sheet, ``columns`` per row."""
    h, w = tiles[0].shape
    rows = -(-len(tiles) // columns)
    sheet = np.full((rows * (h + pad) + pad, columns * (w + pad) + pad), 255, np.uint8)
    for k, t in enumerate(tiles):
        r, c = divmod(k, columns)
        sheet[pad + r * (h + pad) : pad + r * (h + pad) + h, pad + c * (w + pad) : pad + c * (w + pad) + w] = t
    return sheet


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
    import pandas as pd

    from semlab.data import sintering_series
    from semlab.dataset import Workspace
    from semlab.io import read_micrograph
    from semlab.preprocess import equalize, resample, sample_patches
    from semlab.segment import save_overlay, score_segmentation, segment_image

    t0 = time.perf_counter()
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    synthetic = out / "synthetic"
    shape = (256, 256) if quick else (512, 512)
    samples_per_level = 2 if quick else 3
    series = sintering_series(
        synthetic, shape=shape, samples_per_level=samples_per_level, images_per_sample=2, seed=seed
    )

    ws_dir = out / "workspace"
    ws = Workspace.open(ws_dir) if (ws_dir / "semlab.sqlite").exists() else Workspace.init(ws_dir)
    added = ws.add(
        table=synthetic / "descriptors.csv",
        images_dir=synthetic,
        progress=(lambda d, t, _p: progress("ingest", d, t)) if progress else None,
    )
    table = ws.table().sort_values("original_name").reset_index(drop=True)

    # A common physical scale: the coarsest pixel size in the workspace.
    sizes = sorted({float(p) for p in table["pixel_size_um"].dropna()})
    target = sizes[-1]
    patches, rows, example_tiles, cropped = [], [], {}, {}
    segmentation: list[dict[str, Any]] = []
    overlays: list[Path] = []
    n = len(table)
    for i, rec in table.iterrows():
        m = ws.read(rec["hash"], crop=True)
        cropped[rec["original_name"]] = int(ws.get(rec["hash"]).shape[0] - m.image.shape[0])

        # Hybrid segmentation (threshold + SLIC superpixels): 0 solid, 1 pore, 2 shine-through
        # pore; scored against the generator's truth (same convention: 0 = solid, 1 = pore).
        seg = segment_image(m.image, method="hybrid")
        truth_pore = read_micrograph(synthetic / "labels" / rec["original_name"]).image == 1
        scores = score_segmentation(truth_pore.astype(np.uint8), (seg > 0).astype(np.uint8), classes=[0, 1])
        segmentation.append(
            {
                "image": rec["original_name"],
                "burst_count": int(rec["burst_count"]),
                "porosity_hybrid": float((seg > 0).mean()),
                "shine_through_fraction": float((seg == 2).mean()),
                "pore_iou_hybrid": float(scores.iou[1]),
            }
        )
        if int(rec["burst_count"]) not in example_tiles:
            name = Path(rec["original_name"]).stem
            overlays.append(save_overlay(out / "overlays" / f"{name}.png", m.image, seg))
        image = equalize(m.image, method="clahe")
        if m.pixel_size is not None and not np.isclose(m.pixel_size, target):
            image = resample(image, m.pixel_size, target)
        # One seed per image, derived from the demo seed and the image's content hash,
        # so patches do not depend on processing order.
        image_seed = np.random.SeedSequence([seed, int(rec["hash"][:8], 16)])
        p, boxes = sample_patches(
            image,
            PATCHES_PER_IMAGE,
            patch_size,
            rng=np.random.default_rng(image_seed),
            normalize=False,  # already in [0, 1] after equalize
            return_boxes=True,
        )
        patches.append(p)
        for k, (r, c, h, _w) in enumerate(boxes):
            rows.append(
                {
                    "image_hash": rec["hash"],
                    "image": rec["original_name"],
                    "sample": rec["sample"],
                    "burst_count": int(rec["burst_count"]),
                    "patch": k,
                    "row": int(r),
                    "col": int(c),
                    "size_px": int(h),
                    "pixel_size_um": target,
                }
            )
        burst = int(rec["burst_count"])
        if burst not in example_tiles:
            example_tiles[burst] = (image, p[:4])
        if progress:
            progress("patches", int(i) + 1, n)

    all_patches = np.concatenate(patches).astype(np.float32)
    patch_table = pd.DataFrame(rows)
    patches_path = out / "patches.npz"
    with atomic_path(patches_path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, patches=all_patches, image_hash=patch_table["image_hash"].to_numpy(str))
    with atomic_path(out / "patches.csv") as tmp:
        patch_table.to_csv(tmp, index=False)

    # Pictures: one equalized micrograph per burst count, and example patches.
    bursts = sorted(example_tiles)
    side = min(min(example_tiles[b][0].shape) for b in bursts)
    contact = _sheet([_to_uint8(example_tiles[b][0][:side, :side]) for b in bursts], columns=len(bursts))
    contact_path = out / "series.png"
    _save_png(contact_path, contact)
    patch_tiles = [_to_uint8(t) for b in bursts for t in example_tiles[b][1]]
    patch_path = out / "patches.png"
    _save_png(patch_path, _sheet(patch_tiles, columns=4))

    # Structure in physical units, per image, joined to the descriptor table.
    import warnings

    from semlab.quantify import descriptor_table

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pores cut by the border are excluded from size statistics
        structure = descriptor_table(
            sorted((synthetic / "labels").glob("*.tif")), table=synthetic / "descriptors.csv", phase=1
        )
    structure = structure.rename(columns={"phase_fraction": "porosity_measured"})
    structure["relative_density"] = 1.0 - structure["porosity_measured"]
    seg_table = pd.DataFrame(segmentation)
    structure = structure.merge(
        seg_table.drop(columns="burst_count").rename(columns={"image": "_name"}),
        left_on=structure["image"].map(lambda s: Path(str(s)).name),
        right_on="_name",
        how="left",
    ).drop(columns=["_name", "key_0"], errors="ignore")
    structure_path = out / "structure.parquet"
    with atomic_path(structure_path) as tmp:
        structure.to_parquet(tmp, index=False)
    with atomic_path(out / "structure.csv") as tmp:
        structure.to_csv(tmp, index=False)
    by_burst = structure.groupby("burst_count")
    stages = _later_stages(ws, out, structure_csv=out / "structure.csv", quick=quick, seed=seed, progress=progress)

    porosity = series.groupby("burst_count")["porosity"].mean()
    result = DemoResult(
        out_dir=str(out),
        workspace=str(ws_dir),
        report=str(out / "report.md"),
        summary_json=str(out / "summary.json"),
        contact_sheet=str(contact_path),
        patch_sheet=str(patch_path),
        patches=str(patches_path),
        n_images=n,
        n_samples=int(table["sample"].nunique()),
        pixel_sizes_um=sizes,
        target_pixel_size_um=target,
        n_patches=int(all_patches.shape[0]),
        patch_size=patch_size,
        added=added.added,
        already_present=added.skipped_existing,
        porosity_by_burst={str(k): round(float(v), 4) for k, v in porosity.items()},
        structure_table=str(structure_path),
        overlays=[str(o) for o in overlays],
        pore_iou_hybrid=round(float(seg_table["pore_iou_hybrid"].mean()), 4),
        relative_density_by_burst={
            str(k): round(float(v), 4) for k, v in by_burst["relative_density"].mean().items()
        },
        specific_perimeter_by_burst={
            str(k): round(float(v), 3) for k, v in by_burst["specific_perimeter_per_um"].mean().items()
        },
        cropped_rows=cropped,
        **stages,
        seconds=round(time.perf_counter() - t0, 2),
    )
    atomic_write_text(result.summary_json, json.dumps(result.to_dict(), indent=2) + "\n")
    atomic_write_text(result.report, _report_markdown(result, series, structure))
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

    Each stage's own ``demo_step`` does the work; this collects what they report.
    """
    from semlab.features import demo_step as features_step
    from semlab.generate import demo_step as generate_step
    from semlab.learn import demo_step as learn_step
    from semlab.maps import demo_step as map_step
    from semlab.relate import demo_step as relate_step

    seconds: dict[str, float] = {}
    lines: dict[str, list[str]] = {}

    def timed(name: str, fn: Callable[[], Any]) -> Any:
        t = time.perf_counter()
        value = fn()
        seconds[name] = round(time.perf_counter() - t, 2)
        return value

    table = timed(
        "features",
        lambda: features_step(
            ws, quick=quick, seed=seed, progress=(lambda d, t: progress("features", d, t)) if progress else None
        ),
    )
    features = {
        "backbone": table.backbone,
        "weights": table.weights,
        "n_patches": int(table.features.shape[0]),
        "n_features": int(table.features.shape[1]),
        "patch_size": int(table.config.get("patch_size", 0)),
    }
    lines["features"] = [
        f"features: {table.backbone} ({table.weights}), {features['n_features']} features × "
        f"{features['n_patches']} patches of {features['patch_size']} px, cached in the workspace"
    ]
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


def _report_markdown(result: DemoResult, series: Any, structure: Any) -> str:
    by_burst = series.groupby("burst_count").agg(
        samples=("sample", "nunique"),
        images=("image", "count"),
        conductivity_MS_per_m=("conductivity_MS_per_m", "mean"),
    )
    measured = structure.groupby("burst_count").agg(
        relative_density=("relative_density", "mean"),
        specific_perimeter=("specific_perimeter_per_um", "mean"),
        pore_diameter=("mean_equivalent_diameter_um", "mean"),
        porosity_hybrid=("porosity_hybrid", "mean"),
        pore_iou=("pore_iou_hybrid", "mean"),
    )
    by_burst = by_burst.join(measured)
    lines = [
        "# semlab demo report",
        "",
        f"Synthetic laser-sintering series: {result.n_images} images of {result.n_samples} samples, "
        f"pixel size {', '.join(f'{p * 1000:.3g} nm' for p in result.pixel_sizes_um)}.",
        f"Data bars cropped (rows per image): {sorted(set(result.cropped_rows.values()))}.",
        f"Patches: {result.n_patches} of {result.patch_size}×{result.patch_size} px "
        f"({PATCHES_PER_IMAGE} per image, CLAHE, random flips and 90° rotations) in `patches.npz`, "
        "positions in `patches.csv`.",
        "",
        "Structure measured on the label images (`structure.csv`, one row per image, "
        "pores as the described phase; means per burst count):",
        "",
        "| burst count | samples | images | relative density | specific perimeter (µm⁻¹) "
        "| mean pore diameter (µm) | porosity (hybrid segmentation) | pore IoU (hybrid) | conductivity (MS/m) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for b, r in by_burst.iterrows():
        lines.append(
            f"| {b} | {int(r['samples'])} | {int(r['images'])} | {r['relative_density']:.3f} "
            f"| {r['specific_perimeter']:.2f} | {r['pore_diameter']:.4f} | {r['porosity_hybrid']:.3f} "
            f"| {r['pore_iou']:.3f} | {r['conductivity_MS_per_m']:.2f} |"
        )
    lines += [
        "",
        "![one micrograph per burst count](series.png)",
        "",
        "![example patches, four per burst count](patches.png)",
        "",
        "Hybrid segmentation overlays (image | labels: solid, pore, shine-through pore):",
        "",
        *[f"![{Path(o).stem}](overlays/{Path(o).name})" for o in result.overlays],
        "",
        "## Later stages",
        "",
    ]
    for stage, stage_lines in result.stage_lines.items():
        took = result.stage_seconds.get(stage)
        lines.append(f"**{stage}**" + (f" ({took:.1f} s)" if took is not None else ""))
        lines.append("")
        lines += [f"    {line}" for line in stage_lines]
        lines.append("")
    if result.map_html:
        lines += [f"Interactive map (opens from disk, no server): [{Path(result.map_html).name}]({Path(result.map_html).name})", ""]
    return "\n".join(lines)
