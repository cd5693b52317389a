"""``semlab demo``: the end-to-end demo on synthetic data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from semlab.cli import app


@app.command("demo", rich_help_panel="Demo")
def demo(
    out: Path = typer.Option(Path("demo-output"), "--out", help="Output folder (created; re-runs reuse it)."),
    seed: int = typer.Option(0, "--seed", help="Seed of every random step."),
    quick: bool = typer.Option(False, "--quick", help="Smaller series (for a fast check)."),
    as_json: bool = typer.Option(
        False, "--json", help="Print the summary (summary.json) as JSON instead of the text report."
    ),
) -> None:
    """Run the end-to-end demo on a built-in synthetic sintering series.

    Renders SEM-like micrographs whose porosity falls with laser burst count, ingests them
    with their descriptor table into a workspace, crops data bars, samples patches,
    segments pores (hybrid threshold + superpixels) and quantifies porosity, relative
    density and specific perimeter in µm on that segmentation, extracts CNN features
    (offline EfficientNet-Lite0), trains a burst-count classifier with a sample-grouped
    split, builds the interactive map, relates the measured structure to conductivity
    (LOOCV, SHAP), trains a tiny conditional diffusion model and writes a report.  Every
    budget is counted in steps, so the numbers do not depend on the machine's load; the
    generator's ground truth is printed only in rows marked "truth".
    """
    from rich.console import Console
    from rich.progress import TaskID

    from semlab.cli._progress import progress_bar
    from semlab.demo import run_demo

    console = Console(stderr=as_json)
    with progress_bar(spinner=True, eta=False, console=console) as bar:
        tasks: dict[str, TaskID] = {}

        def progress(step: str, done: int, total: int) -> None:
            if step not in tasks:
                tasks[step] = bar.add_task(step, total=total or None)
            bar.update(tasks[step], completed=done, total=total or None)

        r = run_demo(out, seed=seed, quick=quick, progress=progress)
    if as_json:
        typer.echo(json.dumps(r.to_dict(), indent=2))
        return
    _print_summary(console, r)


def _row(label: str, values: dict[str, float], fmt: str) -> str:
    return f"    {label:<34}" + "".join(format(v, fmt).rjust(8) for v in values.values())


def _print_summary(console: Any, r: Any) -> None:
    """The text report of a :class:`~semlab.demo.DemoResult`."""
    px = ", ".join(f"{p:g} µm" for p in r.pixel_sizes_um)
    p = console.print
    p(f"[bold]semlab demo[/bold] ({r.seconds:.1f} s)")
    p(f"  images      {r.n_images} ({r.added} added, {r.already_present} already in the workspace)")
    p(f"  samples     {r.n_samples}")
    p(f"  pixel size  {px}; patches resampled to {r.target_pixel_size_um:g} µm")
    p(f"  data bars   cropped {sorted(set(r.cropped_rows.values()))} rows per image")
    p(f"  patches     {r.n_patches} × {r.patch_size}×{r.patch_size} px")
    p("  structure by burst count (mean per level; measured = semlab's segmentation → quantify)")
    p("    " + "burst count".ljust(34) + "".join(f"{b:>8}" for b in r.relative_density_by_burst))
    p(_row("porosity (measured)", r.porosity_measured_by_burst, ".3f"), highlight=False)
    p(_row("relative density (measured)", r.relative_density_by_burst, ".3f"), highlight=False)
    p(_row("spec. perimeter/µm (measured)", r.specific_perimeter_by_burst, ".2f"), highlight=False)
    p(_row("porosity (truth, for comparison)", r.porosity_truth_by_burst, ".3f"), highlight=False)
    p(
        f"  segmented   hybrid threshold + superpixels, pores dark; pore IoU vs truth {r.pore_iou_vs_truth:.2f}"
    )
    p(f"  workspace   {r.workspace}")
    p(f"  structure   {r.structure_table} (and .csv)")
    p(f"  report      {r.report}")
    p(f"  pictures    {r.contact_sheet}")
    p(f"              {r.patch_sheet}")
    p(f"  overlays    {Path(r.overlays[0]).parent}/ ({len(r.overlays)} PNG)")
    for stage_lines in r.stage_lines.values():
        for line in stage_lines:
            p(f"  {line}", markup=False, highlight=False, soft_wrap=True)
    p(f"  map         {r.map_html}")
