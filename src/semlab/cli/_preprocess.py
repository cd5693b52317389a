"""``semlab crop`` and ``semlab patches``: data-bar removal and patch sampling."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from semlab.cli import app

# Metadata that describes the original file, not the cropped image.
_DROP_KEYS = {"raw", "databar_row", "pixel_size_source", "pixel_size_file_um", "pages"}


def _bar_row(m: Any, *, use_metadata: bool) -> tuple[int | None, str]:
    """(first bar row or None, where it came from) for a Micrograph."""
    from semlab.preprocess import locate_databar

    row, source = locate_databar(m.image, m.metadata if use_metadata else None)
    return row, source or "none"


def _writable(image: Any) -> Any:
    """The image in a dtype write_micrograph accepts (uint8, uint16 or float32)."""
    import numpy as np

    a = np.asarray(image)
    if a.dtype in (np.uint8, np.uint16, np.float32):
        return a
    if a.dtype == bool:
        return a.astype(np.uint8)
    if a.dtype.kind in "iu" and a.size and a.min() >= 0 and a.max() <= np.iinfo(np.uint16).max:
        return a.astype(np.uint16)
    return a.astype(np.float32)


def _check_outputs(images: list[Path], out: Path) -> list[Path]:
    from semlab.errors import ParameterError

    targets = [out / f"{p.stem}.tif" for p in images]
    seen: dict[Path, Path] = {}
    for src, dst in zip(images, targets, strict=True):
        if dst in seen:
            raise ParameterError(
                f"{src} and {seen[dst]} would both be written to {dst}; crop them into different --out folders"
            )
        seen[dst] = src
        if dst.exists() and src.exists() and dst.resolve() == src.resolve():
            raise ParameterError(f"{src}: --out {out} would overwrite the input; choose another --out folder")
    return targets


@app.command("crop", rich_help_panel="Preprocess")
def crop(
    images: list[Path] = typer.Argument(..., help="SEM image files (TIFF, PNG, JPEG, BMP)."),
    out: Path = typer.Option(
        ...,
        "--out",
        "-o",
        help="Folder for the cropped TIFFs (created if missing); inputs are never overwritten.",
    ),
    ignore_metadata: bool = typer.Option(
        False,
        "--ignore-metadata",
        help="Detect the bar from the pixels even where the metadata (FEI/Thermo ResolutionY) gives its row.",
    ),
    pixel_size: float | None = typer.Option(
        None, "--pixel-size", help="Pixel size in µm per pixel, overriding the files."
    ),
    page: int = typer.Option(0, "--page", help="Page of multipage TIFFs."),
) -> None:
    """Remove the burned-in data bar at the bottom of SEM images.

    The bar's first row comes from the vendor metadata where it is known (FEI/Thermo), otherwise from the pixels (FEI/Thermo black bars, Zeiss white bands). Images without a detectable bar are written unchanged: detection never cuts into the micrograph.

    Each output is OUT/<name>.tif with the pixel size kept (ImageJ calibration) and the rows cut recorded in its metadata; one line per file reports the rows cut.

    Example: semlab crop raw/*.tif --out cropped/
    """
    from semlab.io import read_micrograph, write_micrograph
    from semlab.preprocess import crop_databar

    targets = _check_outputs(images, out)
    for path, target in zip(images, targets, strict=True):
        m = read_micrograph(path, pixel_size=pixel_size, page=page)
        row, origin = _bar_row(m, use_metadata=not ignore_metadata)
        cropped = crop_databar(m.image, row=row) if row is not None else m.image
        cut = m.image.shape[0] - cropped.shape[0]
        meta = {k: v for k, v in m.metadata.items() if k not in _DROP_KEYS}
        meta.update({"source_file": str(path), "databar_rows_cut": cut, "databar_row_origin": origin})
        write_micrograph(target, _writable(cropped), pixel_size=m.pixel_size, metadata=meta)
        if row is None:
            typer.echo(
                f"{path.name}: no data bar found; written unchanged ({m.image.shape[0]} rows) -> {target}"
            )
        else:
            typer.echo(
                f"{path.name}: cut {cut} rows from row {row} ({origin}); "
                f"{cropped.shape[0]} rows left -> {target}"
            )


@app.command("patches", rich_help_panel="Preprocess")
def patches(
    images: list[Path] = typer.Argument(..., help="SEM image files (TIFF, PNG, JPEG, BMP)."),
    n: int = typer.Option(40, "--n", "-n", min=1, help="Random patches per image (overlap allowed)."),
    size: int = typer.Option(224, "--size", min=1, help="Patch side in pixels."),
    seed: int = typer.Option(0, "--seed", help="Random seed; the same files and seed give the same patches."),
    out: Path = typer.Option(
        Path("patches.npz"), "--out", "-o", help="Output .npz; the boxes go to a .csv beside it."
    ),
    equalize_method: str = typer.Option(
        "none", "--equalize", help="Histogram equalization before sampling: none, global or clahe."
    ),
    target_pixel_size: float | None = typer.Option(
        None,
        "--target-pixel-size",
        help="Resample every image to this pixel size (µm per pixel) first; needs a known pixel size.",
    ),
    pixel_size: float | None = typer.Option(
        None, "--pixel-size", help="Pixel size in µm per pixel, overriding the files."
    ),
    crop_bar: bool = typer.Option(True, "--crop/--no-crop", help="Remove the data bar first."),
    flips: bool = typer.Option(True, "--flips/--no-flips", help="Random left-right and up-down flips."),
    rotations: bool = typer.Option(True, "--rotations/--no-rotations", help="Random 90° rotations."),
    free_rotation: bool = typer.Option(
        False, "--free-rotation", help="Random rotation by any angle (needs a larger image)."
    ),
    page: int = typer.Option(0, "--page", help="Page of multipage TIFFs."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Cut random square patches from micrographs for learning (e.g. 40 per image).

    Per image: crop the data bar, equalize (optional), scale grey values to [0, 1] (uint8 / 255, uint16 / 65535, floats by min-max), resample to --target-pixel-size (optional), then draw --n patches of --size pixels with random flips and rotations.

    The .npz holds patches (N, size, size) float32 in [0, 1], image_index (N,), boxes (N, 4) as row, col, height, width, and files and pixel_size_um per image. The .csv beside it lists one patch per line; box coordinates are pixels of the cropped and resampled image, whose pixel size is the pixel_size_um column.

    Example: semlab patches cropped/*.tif --n 40 --size 224 --equalize clahe --out p.npz
    """
    from semlab.cli._progress import progress_bar
    from semlab.errors import ParameterError
    from semlab.preprocess import Preparation, patches_from_files

    if out.suffix.lower() != ".npz":
        raise ParameterError(f"--out {out} must end with .npz")
    try:
        recipe = Preparation(
            crop_databar=crop_bar,
            equalize=equalize_method,
            pixel_size=target_pixel_size,
            patch_size=size,
            patches_per_image=n,
            seed=seed,
            flips=flips,
            rotations=rotations,
            free_rotation=free_rotation,
        )
    except ParameterError as exc:
        raise ParameterError(f"--{str(exc).partition('=')[0].replace('_', '-')}: {exc}") from None
    with progress_bar("patches", quiet=quiet) as bar:
        task = bar.add_task("", total=len(images))
        result = patches_from_files(
            images,
            recipe,
            pixel_size=pixel_size,
            page=page,
            progress=lambda done, total: bar.update(task, completed=done),
        )
    csv_path = result.save(out)
    stack = result.patches
    typer.echo(
        f"wrote {len(stack)} patches of {size}×{size} px from {len(images)} images to {out}; boxes in {csv_path}"
    )
