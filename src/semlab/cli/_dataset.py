"""``semlab init`` / ``semlab add`` / ``semlab status``: workspaces of micrographs and their samples."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import typer

from semlab.cli import app


@app.command("init", rich_help_panel="Ingest")
def init(
    workspace: Path = typer.Argument(
        ..., help="Folder for the workspace: new, empty, or already a workspace."
    ),
) -> None:
    """Create a workspace: a folder with a catalog (semlab.sqlite) and a file store (files/).

    Running it on an existing workspace changes nothing.
    """
    from semlab.dataset import CATALOG_NAME, Workspace

    existed = (workspace / CATALOG_NAME).is_file()
    ws = Workspace.init(workspace)
    if existed:
        typer.echo(f"{ws.path} is already a workspace ({len(ws)} images)")
    else:
        typer.echo(f"created workspace {ws.path}; add images with `semlab add {workspace} IMAGES...`")


@app.command("add", rich_help_panel="Ingest")
def add(
    workspace: Path = typer.Argument(..., help="Workspace folder (made by `semlab init`)."),
    images: list[Path] | None = typer.Argument(
        None,
        help="Image files or folders of images (not recursive). Optional with --table.",
    ),
    table: Path | None = typer.Option(
        None,
        "--table",
        "-t",
        help="Descriptor table (CSV/XLSX/Parquet) with columns 'image' and 'sample' plus process parameters "
        "and properties; all its images are added and their rows recorded.",
    ),
    images_dir: Path | None = typer.Option(
        None,
        "--images-dir",
        help="Folder the table's image paths are relative to (default: the table's folder).",
    ),
    pixel_size: float | None = typer.Option(
        None, "--pixel-size", help="Pixel size in µm per pixel for every new image, overriding the files."
    ),
    numeric: list[str] | None = typer.Option(
        None,
        "--numeric",
        help="Table column that must hold numbers (repeat; the other columns are then text).",
    ),
    categorical: list[str] | None = typer.Option(
        None, "--categorical", help="Table column to keep as text even if it looks numeric (repeat)."
    ),
    no_detect: bool = typer.Option(
        False, "--no-detect-databar", help="Do not look for a data bar where the metadata does not say."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Copy images into a workspace and catalogue them, with their table rows.

    Files already in the workspace (same bytes) are skipped, so re-running prints
    `added 0`; an interrupted run can simply be run again.

    Examples: `semlab add study images/` — `semlab add study --table descriptors.csv`
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from semlab.dataset import Workspace
    from semlab.errors import ParameterError

    if not images and table is None:
        raise ParameterError("nothing to add: give image files or folders, or --table TABLE")
    ws = Workspace.open(workspace)
    console = Console(stderr=True)
    with Progress(
        TextColumn("adding"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.description}"),
        console=console,
        transient=True,
        disable=quiet,
    ) as bar:
        task = bar.add_task("", total=None)

        def progress(done: int, total: int, path: Path) -> None:
            bar.update(task, completed=done, total=total, description=Path(path).name)

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = ws.add(
                images or None,
                table=table,
                images_dir=images_dir,
                pixel_size=pixel_size,
                numeric=numeric or None,
                categorical=categorical or None,
                detect_databar=not no_detect,
                progress=progress,
            )
    for message in dict.fromkeys(str(w.message) for w in caught if issubclass(w.category, UserWarning)):
        typer.echo(f"warning: {message}", err=True)
    line = f"added {result.added}, already present {result.skipped_existing}"
    if table is not None:
        line += f", table rows recorded {result.annotated}"
    typer.echo(line)


@app.command("status", rich_help_panel="Ingest")
def status(
    workspace: Path = typer.Argument(..., help="Workspace folder."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of text."),
) -> None:
    """Show a workspace's images, samples, pixel sizes and descriptor columns."""
    from semlab.dataset import Workspace

    st = Workspace.open(workspace).status()
    if as_json:
        typer.echo(json.dumps(st.to_dict(), ensure_ascii=False))
        return
    sizes = (
        ", ".join(f"{'unknown' if p is None else f'{p:.4g} µm'} ×{n}" for p, n in st.pixel_sizes_um) or "none"
    )
    samples = str(st.n_samples)
    if st.n_without_sample:
        samples += f" ({st.n_without_sample} images without a sample)"
    rows = [
        ("workspace", st.path),
        ("images", f"{st.n_images} ({st.n_with_databar} with a data bar, {_size(st.store_bytes)})"),
        ("samples", samples),
        ("pixel sizes", sizes),
        ("numeric", ", ".join(st.numeric_columns) or "-"),
        ("categorical", ", ".join(st.categorical_columns) or "-"),
        ("tables", str(st.n_tables)),
    ]
    lines = [f"{label:<12} {value}" for label, value in rows]
    typer.echo("\n".join(lines))


def _size(n: int) -> str:
    """Bytes as a short human size (kB, MB, GB; powers of 1000)."""
    for unit, factor in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= factor:
            return f"{n / factor:.1f} {unit}"
    return f"{n} B"
