"""``semlab quantify``: microstructure descriptors of label images or volumes into a table."""

from __future__ import annotations

from pathlib import Path

import typer

from semlab.cli import app


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
        help="µm per pixel (voxel) for all inputs; default each file's calibration, else pixels.",
    ),
    phase: list[int] = typer.Option(
        [1], "--phase", help="Label value of the phase described (repeat for a union)."
    ),
    three_d: bool = typer.Option(False, "--3d", help="Inputs are volumes: 3-D descriptors."),
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
) -> None:
    """Quantify label images or volumes: one row per input with unit-suffixed descriptor columns."""
    from semlab._util import atomic_path
    from semlab.errors import ParameterError
    from semlab.quantify import descriptor_table

    files = _expand(inputs, three_d)
    if out.suffix.lower() not in (".parquet", ".pq", ".csv"):
        raise ParameterError(f"--out {out}: use a .parquet or .csv file name")
    ph = phase[0] if len(phase) == 1 else tuple(phase)
    df = descriptor_table(
        files,
        pixel_size=pixel_size,
        phase=ph,
        three_d=three_d,
        threshold=threshold,
        table=table,
        topology=topology,
        connectivity=connectivity,
    )
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
    typer.echo(
        f"wrote {len(df)} row(s) × {df.shape[1]} columns to {out} (lengths in {df.attrs['length_unit']})"
    )
    if plots is not None:
        written = _plots(
            files, df, plots, pixel_size=pixel_size, phase=ph, three_d=three_d, threshold=threshold,
            connectivity=connectivity,
        )  # fmt: skip
        for p in written:
            typer.echo(f"plot: {p}")


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
        curv = surface_curvature(arr, pixel_size=px, phase=phase)
        written.append(plots.plot_curvature_density(curv, path=folder / "curvature_density.png"))
    else:
        import pandas as pd

        from semlab.quantify import region_table

        tables = [region_table(a, pixel_size=px, phase=phase, connectivity=connectivity) for a, px in arrays]
        written.append(plots.plot_size_histogram(pd.concat(tables), path=folder / "size_histogram.png"))
    pi_cols = [c for c in df.columns if c.startswith("pi_h1_")]
    if pi_cols:
        n = int(round(np.sqrt(len(pi_cols))))
        mean = df[pi_cols].to_numpy(dtype=float).mean(axis=0).reshape(n, n)
        br = df.attrs.get("pi_birth_range", (0.0, 1.0))
        pr = df.attrs.get("pi_persistence_range", (0.0, 1.0))
        written.append(
            plots.plot_persistence_image(
                mean, birth_range=br, persistence_range=pr, path=folder / "persistence_image_mean.png"
            )
        )
    return written
