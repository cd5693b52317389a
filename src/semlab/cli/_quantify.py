"""``semlab quantify``: microstructure descriptors of label images or volumes into a table."""

from __future__ import annotations

from pathlib import Path

import typer

from semlab.cli import app
from semlab.cli._engine import ADDRESS, ENGINE


def _expand(inputs: list[Path], three_d: bool) -> list[Path]:
    from semlab.io import list_images
    from semlab.quantify.table import LABEL_SUFFIXES

    return list_images(inputs, suffixes=LABEL_SUFFIXES, what="label images", expand_folders=not three_d)


@app.command("quantify", rich_help_panel="Quantify")
def quantify(
    inputs: list[Path] = typer.Argument(
        ...,
        help="Label images (TIFF/PNG/NPY) or folders of them; with --3d, volumes (multipage TIFF, NPY, slice folders).",
    ),
    out: Path = typer.Option(
        Path("quantify.parquet"), "--out", "-o", help="Output table: .parquet (default) or .csv."
    ),
    pixel_size: float | None = typer.Option(
        None,
        "--pixel-size",
        help="µm per pixel (voxel) for ALL inputs, overriding their own calibration. Default: each file's own "
        "pixel size (files without one are reported in pixels in their own rows, never mixed with µm rows).",
    ),
    phase: list[int] = typer.Option(
        [],
        "--phase",
        help="Label value of the phase described (repeat for a union). Default: each file's measured phase as "
        "named by semlab segment (its <name>_labels.json: e.g. 1, or 1+2 for hybrid), else 1.",
    ),
    three_d: bool = typer.Option(False, "--3d", help="Inputs are volumes: 3-D descriptors."),
    diffusion: bool = typer.Option(
        False,
        "--diffusion",
        help="With --3d: also the diffusive tortuosity factor of the phase along each axis "
        "(tau = porosity x D / D_eff from steady-state diffusion, TauFactor's definition; columns "
        "tortuosity_factor_axis0..2; about 0.5 s per axis for a 128^3 volume). Not the geometric tortuosity.",
    ),
    threshold: str | None = typer.Option(
        None, "--threshold", help="Grey input: 'otsu' or a number; phase 1 is above it."
    ),
    table: Path | None = typer.Option(
        None,
        "--table",
        help="Descriptor table (CSV/XLSX/Parquet) whose sample, process and property columns to join.",
    ),
    connectivity: int = typer.Option(
        8,
        "--connectivity",
        help="2-D particles: 8 (default) joins pixels sharing an edge or a corner, 4 only an edge "
        "(for masks drawn 4-connected). Stored in the table's connectivity column.",
    ),
    csv: bool = typer.Option(False, "--csv", help="Also write a CSV next to the Parquet output."),
    topology: bool = typer.Option(
        False, "--topology", help="Add persistence counts and H1 persistence images."
    ),
    plots: Path | None = typer.Option(
        None,
        "--plots",
        help="Folder for plots: size histogram (2-D), H-K density (3-D), mean persistence image.",
    ),
    engine: str = ENGINE,
    address: str | None = ADDRESS,
) -> None:
    """Quantify label images or volumes: one row per input with unit-suffixed descriptor columns.

    Reads the output folder of `semlab segment` directly (label TIFFs; overlays, sidecars and CSVs are skipped): each file's measured phase (named in the phase_name column) and its own pixel size; the data-bar rows (no data) are left out. A folder mixing calibrated and uncalibrated files gives µm rows and px rows (length_unit column) with a warning; calibrate the uncalibrated files rather than overriding all with --pixel-size.

    With --engine ray each file is described in a Ray task; this process assembles the same table.

    Example: semlab segment imgs/ -m otsu --phase-name particle -o seg/ && semlab quantify seg/ -o seg.csv --plots plots/
    """
    import warnings

    from semlab._util import atomic_path
    from semlab.errors import ParameterError
    from semlab.quantify import QuantifyWarning, descriptor_table
    from semlab.scale import use_engine

    if diffusion and not three_d:
        raise ParameterError("--diffusion describes volumes: add --3d")
    files = _expand(inputs, three_d)
    if out.suffix.lower() not in (".parquet", ".pq", ".csv"):
        raise ParameterError(f"--out {out}: use a .parquet or .csv file name")
    _check_threshold(threshold)
    ph = None if not phase else (phase[0] if len(phase) == 1 else tuple(phase))
    with warnings.catch_warnings(record=True) as caught, use_engine(engine, address):
        warnings.simplefilter("always", QuantifyWarning)
        df = _table(
            descriptor_table, files, pixel_size, ph, {"diffusion": True} if diffusion else three_d, threshold,
            table, topology, connectivity,
        )  # fmt: skip
    for w in caught:
        typer.echo(f"warning: {w.message}", err=True)
    if not three_d and threshold is None:
        _segment_warnings(files)
    if out.suffix.lower() == ".csv":
        with atomic_path(out) as tmp:
            df.to_csv(tmp, index=False)
    else:
        flat = df.copy()
        flat.attrs = {}
        with atomic_path(out) as tmp:
            flat.to_parquet(tmp, index=False)
        if csv:
            with atomic_path(out.with_suffix(".csv")) as tmp:
                df.to_csv(tmp, index=False)
    for _, row in df.iterrows():
        typer.echo(
            f"{row['image']}: measured phase {row['phase_name']} (label {row['phase']}), lengths in {row['length_unit']}"
        )
    unit = df.attrs["length_unit"]
    typer.echo(
        f"wrote {len(df)} row(s) × {df.shape[1]} columns to {out} "
        f"(lengths in {'µm and px: per-row length_unit' if unit == 'mixed' else unit})"
    )
    if plots is not None:
        written = _plots(
            files, df, plots, pixel_size=pixel_size, phase=ph, three_d=three_d, threshold=threshold,
            connectivity=connectivity,
        )  # fmt: skip
        for p in written:
            typer.echo(f"plot: {p}")


def _check_threshold(threshold: str | None) -> None:
    """``--threshold``: 'otsu' or a finite number (one-line error otherwise)."""
    import math

    from semlab.errors import ParameterError

    if threshold is None or threshold.strip().lower() == "otsu":
        return
    try:
        level = float(threshold)
    except ValueError:
        raise ParameterError(f"--threshold {threshold!r} must be 'otsu' or a number") from None
    if not math.isfinite(level):
        raise ParameterError(f"--threshold {threshold!r} must be 'otsu' or a finite number")


def _table(descriptor_table, files, pixel_size, phase, three_d, threshold, table, topology, connectivity):
    return descriptor_table(
        files, pixel_size=pixel_size, phase=phase, three_d=three_d, threshold=threshold, table=table,
        topology=topology, connectivity=connectivity,
    )  # fmt: skip


def _segment_warnings(files) -> None:
    """Print the warnings semlab segment stored in each label file's sidecar (e.g. a blank frame)."""
    import json

    from semlab.segment import sidecar_path

    for f in files:
        side = sidecar_path(f)
        if side.is_file():
            try:
                notes = json.loads(side.read_text(encoding="utf-8")).get("warnings") or []
            except ValueError:
                continue
            for note in notes:
                typer.echo(f"warning: {Path(f).name} (from segment): {note}", err=True)


def _row_phase(value):
    """The ``phase`` column of a descriptor row as descriptor functions take it (int or tuple)."""
    parts = [int(v) for v in str(value).split(",")]
    return parts[0] if len(parts) == 1 else tuple(parts)


def _plots(files, df, folder: Path, *, pixel_size, phase, three_d, threshold, connectivity=8) -> list[Path]:
    import numpy as np

    from semlab.quantify import plots
    from semlab.quantify.table import load_labels

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    arrays = [load_labels(f, three_d=three_d, threshold=threshold, pixel_size=pixel_size) for f in files]
    if three_d:
        from semlab.quantify import surface_curvature

        arr, px = arrays[0]
        curv = surface_curvature(arr, pixel_size=px, phase=_row_phase(df["phase"].iloc[0]))
        written.append(plots.plot_curvature_density(curv, path=folder / "curvature_density.png"))
    else:
        import pandas as pd

        from semlab.quantify import region_table

        # one histogram per length unit: files in µm and files in pixels are never pooled
        by_unit: dict[str, list] = {}
        for (a, px), ph in zip(arrays, df["phase"], strict=True):
            t = region_table(a, pixel_size=px, phase=_row_phase(ph), connectivity=connectivity)
            by_unit.setdefault("um" if px is not None else "px", []).append(t)
        for unit, tables in by_unit.items():
            name = "size_histogram.png" if len(by_unit) == 1 else f"size_histogram_{unit}.png"
            written.append(plots.plot_size_histogram(pd.concat(tables), path=folder / name))
    pi_cols = [c for c in df.columns if c.startswith("pi_h1_")]
    if pi_cols:
        n = int(round(np.sqrt(len(pi_cols))))
        mean = df[pi_cols].to_numpy(dtype=float).mean(axis=0).reshape(n, n)
        br = df.attrs.get("pi_birth_range", (0.0, 1.0))
        pr = df.attrs.get("pi_persistence_range", (0.0, 1.0))
        written.append(
            plots.plot_persistence_image(
                mean,
                birth_range=br,
                persistence_range=pr,
                unit=f"signed distance, {df.attrs.get('length_unit', 'px')}",
                title=f"H1 persistence image, mean of {len(df)} images",
                path=folder / "persistence_image_mean.png",
            )
        )
    return written
