"""``semlab init`` / ``add`` / ``status`` / ``set-pixel-size``: workspaces of micrographs and their samples."""

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
    scale_bar: str | None = typer.Option(
        None,
        "--scale-bar",
        help="What the burned-in scale bar stands for, as printed next to it (e.g. '200 nm', '500 µm'): "
        "images without a pixel size in their metadata get label / measured bar length (source scale_bar).",
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Copy images into a workspace and catalogue them, with their table rows.

    Files already in the workspace (same bytes) are skipped, so re-running prints
    `added 0`; an interrupted run can simply be run again.

    Examples: `semlab add study images/` — `semlab add study --table descriptors.csv`
    """
    from semlab._util import shown_text
    from semlab.cli._progress import progress_bar
    from semlab.dataset import Workspace
    from semlab.errors import ParameterError

    if not images and table is None:
        raise ParameterError("nothing to add: give image files or folders, or --table TABLE")
    scale_bar_um = None
    if scale_bar is not None:
        from semlab.io.scalebar import parse_length_label

        scale_bar_um = parse_length_label(scale_bar)
        if scale_bar_um is None or scale_bar_um <= 0:
            raise ParameterError(f"--scale-bar {scale_bar!r} is not a length such as '200 nm' or '500 µm'")
    ws = Workspace.open(workspace)
    with progress_bar("adding", quiet=quiet) as bar:
        task = bar.add_task("", total=None)

        def progress(done: int, total: int, path: Path) -> None:
            bar.update(task, completed=done, total=total, description=shown_text(Path(path).name))

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
                scale_bar_um=scale_bar_um,
                progress=progress,
            )
    for message in dict.fromkeys(str(w.message) for w in caught if issubclass(w.category, UserWarning)):
        typer.echo(f"warning: {message}", err=True)
    line = f"added {result.added}, already present {result.skipped_existing}"
    if table is not None:
        line += f", table rows recorded {result.annotated}"
    typer.echo(line)
    unknown = dict(ws.status().pixel_size_sources).get("unknown", 0)
    if unknown:
        typer.echo(
            f"note: {unknown} image(s) have no pixel size (used at their own scale, recorded as unknown); "
            f"set it with `semlab set-pixel-size {workspace} IMAGE VALUE` or add them with --scale-bar LABEL",
            err=True,
        )


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
    if st.pixel_size_sources:
        rows.insert(4, ("px sources", ", ".join(f"{s} ×{n}" for s, n in st.pixel_size_sources)))
    lines = [f"{label:<12} {value}" for label, value in rows]
    typer.echo("\n".join(lines))


_UNITS_UM = {"um": 1.0, "µm": 1.0, "nm": 1e-3, "mm": 1e3}


def _pixel_size_rows(csv: Path, unit: str) -> list[tuple[str, float]]:
    """(image, µm) pairs from a CSV with columns image, pixel_size (and optionally unit)."""
    import math

    from semlab.dataset import read_table
    from semlab.errors import TableError

    frame = read_table(csv)
    for col in ("image", "pixel_size"):
        if col not in frame.columns:
            raise TableError(
                f"{csv} row 1: no column {col!r}; the CSV needs columns image, pixel_size (and optionally unit)"
            )
    out = []
    for i, row in enumerate(frame.itertuples(index=False), start=2):
        u = str(getattr(row, "unit", unit) or unit).strip()
        try:
            value = float(row.pixel_size)
        except (TypeError, ValueError):
            value = float("nan")
        if u not in _UNITS_UM or not math.isfinite(value) or value <= 0:
            raise TableError(
                f"{csv} row {i}: pixel_size {row.pixel_size!r} {u} is not a positive number in um, µm, nm or mm"
            )
        out.append((str(row.image), value * _UNITS_UM[u]))
    return out


@app.command("set-pixel-size", rich_help_panel="Ingest")
def set_pixel_size(
    workspace: Path = typer.Argument(..., help="Workspace folder."),
    image: str | None = typer.Argument(
        None, help="Image: its original file name, hash or hash prefix (omit with --csv)."
    ),
    value: float | None = typer.Argument(None, help="Pixel size, in --unit per pixel (omit with --csv)."),
    unit: str = typer.Option(
        "um", "--unit", help="Unit of VALUE (and of the CSV's pixel_size): um, nm or mm."
    ),
    csv: Path | None = typer.Option(
        None,
        "--csv",
        help="CSV/XLSX with columns image, pixel_size (optional unit) to set many images at once.",
    ),
) -> None:
    """Set the pixel size of images whose files lack it (or state it wrongly).

    The value is stored in the workspace catalog with the source "user" (shown by `semlab
    status` and the table's pixel_size_source column); only these images' cached features are
    dropped, so the next `semlab embed` recomputes them at the new scale.
    """
    from semlab.dataset import Workspace
    from semlab.errors import ParameterError

    if unit not in _UNITS_UM:
        raise ParameterError(f"--unit {unit!r} is not one of um, nm, mm")
    if csv is not None:
        if image is not None or value is not None:
            raise ParameterError("give either IMAGE VALUE or --csv FILE, not both")
        pairs = _pixel_size_rows(csv, unit)
    elif image is None or value is None:
        raise ParameterError(
            "give IMAGE and VALUE (e.g. `semlab set-pixel-size WS a.tif 7.3 --unit nm`) or --csv FILE"
        )
    else:
        pairs = [(image, value * _UNITS_UM[unit])]
    ws = Workspace.open(workspace)
    records = [ws.find(name) for name, _ in pairs]  # every name checked before anything changes
    for rec, (_, um) in zip(records, pairs, strict=True):
        new = ws.set_pixel_size(rec.hash, um)
        typer.echo(
            f"{new.original_name}: {new.pixel_size_um:.6g} µm per pixel (set by user; was "
            f"{'unknown' if rec.pixel_size_um is None else f'{rec.pixel_size_um:.6g} µm, {rec.pixel_size_source}'})"
        )


def _size(n: int) -> str:
    """Bytes as a short human size (kB, MB, GB; powers of 1000)."""
    for unit, factor in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= factor:
            return f"{n / factor:.1f} {unit}"
    return f"{n} B"
