"""``semlab info``: read SEM files and show their scale and metadata."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from semlab.cli import app


@app.command("info", rich_help_panel="Ingest")
def info(
    images: list[Path] = typer.Argument(..., help="SEM image files (TIFF, PNG, JPEG, BMP)."),
    pixel_size: float | None = typer.Option(None, "--pixel-size", help="Override the pixel size (µm per pixel)."),
    page: int = typer.Option(0, "--page", help="Page of a multipage TIFF."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object per line instead of a table."),
) -> None:
    """Show each image's size, pixel size (µm), vendor metadata and data-bar row."""
    from rich.console import Console
    from rich.table import Table

    from semlab.io import read_micrograph
    from semlab.preprocess import find_databar

    rows = []
    for path in images:
        m = read_micrograph(path, pixel_size=pixel_size, page=page)
        d = m.to_dict()
        d["databar_row_detected"] = find_databar(m.image)
        rows.append(d)
    if as_json:
        for d in rows:
            typer.echo(json.dumps(d, ensure_ascii=False))
        return
    table = Table(title="micrographs")
    for col in ("file", "shape", "dtype", "pixel µm", "vendor", "kV", "mag", "detector", "bar row"):
        table.add_column(col)
    for d in rows:
        px = d["pixel_size_um"]
        table.add_row(
            Path(d["source"]).name,
            "×".join(map(str, d["shape"])),
            d["dtype"],
            f"{px:.4g}" if px else "unknown",
            str(d.get("vendor") or ""),
            str(d.get("accelerating_voltage_kv") or ""),
            str(d.get("magnification") or ""),
            str(d.get("detector") or ""),
            str(d["databar_row_detected"] if d["databar_row_detected"] is not None else "none"),
        )
    Console().print(table)
