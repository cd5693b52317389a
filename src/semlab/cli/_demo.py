"""``semlab demo``: the end-to-end demo on synthetic data."""

from __future__ import annotations

from pathlib import Path

import typer

from semlab.cli import app


@app.command("demo", rich_help_panel="Demo")
def demo(
    out: Path = typer.Option(Path("demo-output"), "--out", help="Output folder (created; re-runs reuse it)."),
    seed: int = typer.Option(0, "--seed", help="Seed of every random step."),
    quick: bool = typer.Option(False, "--quick", help="Smaller series (for a fast check)."),
) -> None:
    """Run the end-to-end demo on a built-in synthetic sintering series.

    Renders SEM-like micrographs whose porosity falls with laser burst count, ingests them
    with their descriptor table into a workspace, crops data bars, equalizes, samples
    patches, segments pores (hybrid threshold + superpixels), quantifies porosity, relative
    density and specific perimeter in µm, extracts CNN features (offline EfficientNet-Lite0),
    trains a burst-count classifier with a sample-grouped split, builds the interactive map,
    relates structure to conductivity (LOOCV, SHAP), trains a tiny conditional diffusion
    model and writes a report.
    """
    from rich.console import Console
    from rich.progress import Progress, TaskID

    from semlab.demo import run_demo

    console = Console()
    with Progress(console=console, transient=True) as bar:
        tasks: dict[str, TaskID] = {}

        def progress(step: str, done: int, total: int) -> None:
            if step not in tasks:
                tasks[step] = bar.add_task(step, total=total)
            bar.update(tasks[step], completed=done, total=total)

        r = run_demo(out, seed=seed, quick=quick, progress=progress)

    px = ", ".join(f"{p:g} µm" for p in r.pixel_sizes_um)
    console.print(f"[bold]semlab demo[/bold] ({r.seconds:.1f} s)")
    console.print(f"  images      {r.n_images} ({r.added} added, {r.already_present} already in the workspace)")
    console.print(f"  samples     {r.n_samples}")
    console.print(f"  pixel size  {px}; patches resampled to {r.target_pixel_size_um:g} µm")
    console.print(f"  data bars   cropped {sorted(set(r.cropped_rows.values()))} rows per image")
    console.print(f"  patches     {r.n_patches} × {r.patch_size}×{r.patch_size} px")
    console.print("  structure by burst count (measured, mean per level)")
    console.print("    burst count         " + "".join(f"{b:>8}" for b in r.relative_density_by_burst))
    console.print("    relative density    " + "".join(f"{v:8.3f}" for v in r.relative_density_by_burst.values()))
    console.print(
        "    spec. perimeter/µm  " + "".join(f"{v:8.2f}" for v in r.specific_perimeter_by_burst.values())
    )
    console.print(f"  segmented   hybrid threshold + superpixels, pore IoU vs truth {r.pore_iou_hybrid:.2f}")
    console.print(f"  workspace   {r.workspace}")
    console.print(f"  structure   {r.structure_table} (and .csv)")
    console.print(f"  report      {r.report}")
    console.print(f"  pictures    {r.contact_sheet}")
    console.print(f"              {r.patch_sheet}")
    console.print(f"  overlays    {Path(r.overlays[0]).parent}/ ({len(r.overlays)} PNG)")
    for stage_lines in r.stage_lines.values():
        for line in stage_lines:
            console.print(f"  {line}", markup=False, highlight=False, soft_wrap=True)
    console.print(f"  map         {r.map_html}")
