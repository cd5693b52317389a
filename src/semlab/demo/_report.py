"""The demo's pictures (contact sheet of the series, example patches) and its Markdown report."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from semlab._util import atomic_path
from semlab.demo._prepare import PATCHES_PER_IMAGE

if TYPE_CHECKING:
    from semlab.demo._run import DemoResult


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
        sheet[
            pad + r * (h + pad) : pad + r * (h + pad) + h, pad + c * (w + pad) : pad + c * (w + pad) + w
        ] = t
    return sheet


def save_pictures(
    examples: dict[int, tuple[np.ndarray, np.ndarray]], out: Path, *, pixel_size: float | None = None
) -> tuple[Path, Path]:
    """Write ``series.png`` (one equalized micrograph per burst count, labelled) and
    ``patches.png`` (four patches per burst count, one row each, labelled).

    ``pixel_size`` (µm per pixel of the examples, the resampling target) adds scale bars.
    Returns the two paths.
    """
    from semlab._plot import image_grid, save_figure

    bursts = sorted(examples)
    side = min(min(examples[b][0].shape) for b in bursts)
    series = [_to_uint8(examples[b][0][:side, :side]) for b in bursts]
    fig = image_grid(
        series,
        columns=len(bursts),
        col_labels=[f"burst count {b}" for b in bursts],
        pixel_size=pixel_size,
        title="one micrograph per burst count (equalized)",
        tile_inches=2.2,
    )
    if pixel_size is not None:  # a bar on every micrograph, not only the first
        from semlab._plot import add_scale_bar

        for ax, img in list(zip(fig.axes, series, strict=False))[1:]:
            add_scale_bar(ax, pixel_size, img.shape[1])
    contact_path = save_figure(fig, out / "series.png")
    per_row = max(len(examples[b][1]) for b in bursts)
    tiles = [_to_uint8(t) for b in bursts for t in examples[b][1]]
    fig = image_grid(
        tiles,
        columns=per_row,
        row_labels=[f"burst count {b}" for b in bursts],
        pixel_size=pixel_size,
        title="example patches the features are computed on",
        tile_inches=1.3,
    )
    patch_path = save_figure(fig, out / "patches.png")
    return contact_path, patch_path


def _structure_rows(series: Any, structure: Any) -> list[str]:
    """The report's table: means per burst count of what semlab measured, then the truth.

    Every column but the last two is measured by semlab on its own segmentations; the
    columns headed "truth" come from the generator and are there only for comparison.
    """
    by_burst = series.groupby("burst_count").agg(
        samples=("sample", "nunique"),
        images=("image", "count"),
        conductivity_MS_per_m=("conductivity_MS_per_m", "mean"),
    )
    measured = structure.groupby("burst_count").agg(
        porosity=("porosity_measured", "mean"),
        relative_density=("relative_density", "mean"),
        specific_perimeter=("specific_perimeter_per_um", "mean"),
        pore_diameter=("mean_equivalent_diameter_um", "mean"),
        porosity_truth=("porosity_truth", "mean"),
        pore_iou=("pore_iou_vs_truth", "mean"),
    )
    by_burst = by_burst.join(measured)
    lines = [
        "| burst count | samples | images | conductivity (MS/m) | porosity (measured) | relative density (measured) "
        "| specific perimeter (µm⁻¹, measured) | mean pore diameter (µm, measured) "
        "| porosity (truth) | pore IoU vs truth |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for b, r in by_burst.iterrows():
        lines.append(
            f"| {b} | {int(r['samples'])} | {int(r['images'])} | {r['conductivity_MS_per_m']:.2f} "
            f"| {r['porosity']:.3f} | {r['relative_density']:.3f} | {r['specific_perimeter']:.2f} "
            f"| {r['pore_diameter']:.4f} | {r['porosity_truth']:.3f} | {r['pore_iou']:.3f} |"
        )
    return lines


def report_markdown(result: DemoResult, series: Any, structure: Any) -> str:
    """The text of ``report.md``: the series, its structure per burst count, pictures and every later stage."""
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
        "Structure measured by semlab on its own segmentations (hybrid threshold + superpixels, "
        "pores dark; `structure.csv`, one row per image; means per burst count).  Columns marked "
        "*measured* come from the images; columns marked *truth* are the generator's ground truth, "
        "shown only for comparison (conductivity is the series' property, the target of `relate`):",
        "",
        *_structure_rows(series, structure),
        "",
        "![one micrograph per burst count](series.png)",
        "",
        "![example patches, four per burst count](patches.png)",
        "",
        "Segmentation overlays (image | labels: solid, pore, shine-through pore):",
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
        name = Path(result.map_html).name
        lines += [f"Interactive map (opens from disk, no server): [{name}]({name})", ""]
    return "\n".join(lines)
