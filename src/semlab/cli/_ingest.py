"""``semlab info``: read SEM files and show their scale and metadata."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from semlab.cli import app


@app.command("info", rich_help_panel="Ingest")
def info(
    images: list[Path] = typer.Argument(..., help="SEM image files (TIFF, PNG, JPEG, BMP)."),
    pixel_size: float | None = typer.Option(
        None, "--pixel-size", help="Override the pixel size (µm per pixel)."
    ),
    page: int = typer.Option(0, "--page", help="Page of a multipage TIFF."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object per line instead of a table."),
) -> None:
    """Show each image's size, pixel size (µm) and its source, vendor metadata and data-bar row (--json: all fields).

    A file without a pixel-size tag but with a field width (Zeiss ap_width) shows field width /
    image width, as `semlab add` records it (source field_width).
    """
    from rich.console import Console
    from rich.table import Table

    from semlab.io import read_micrograph
    from semlab.preprocess import find_databar

    rows = []
    for path in images:
        m = read_micrograph(path, pixel_size=pixel_size, page=page)
        d = m.to_dict()
        d["databar_row_detected"] = find_databar(m.image)
        hfw = d.get("horizontal_field_width_um")
        if d.get("pixel_size_um") is None and isinstance(hfw, int | float) and hfw > 0:
            d["pixel_size_um"], d["pixel_size_source"] = hfw / m.image.shape[1], "field_width"
        rows.append(d)
    if as_json:
        for d in rows:
            typer.echo(json.dumps(d, ensure_ascii=False))
        return
    table = Table(title="micrographs (all fields: --json)")
    table.add_column("file", overflow="fold")
    for col in ("size", "pixel µm", "vendor", "kV", "mag", "bar row"):
        table.add_column(col, overflow="fold")
    for d in rows:
        px = d["pixel_size_um"]
        bar = d.get("databar_row")  # from the vendor's metadata, else detected
        bar_text = f"{bar}\n(meta)" if bar is not None else str(d["databar_row_detected"] or "none")
        table.add_row(
            Path(d["source"]).name,
            f"{d['shape'][0]}×{d['shape'][1]}\n{d['dtype']}",
            f"{px:.4g}\n({d.get('pixel_size_source') or '?'})" if px else "unknown",
            str(d.get("vendor") or ""),
            f"{d['accelerating_voltage_kv']:g}" if d.get("accelerating_voltage_kv") is not None else "",
            f"{d['magnification']:g}" if d.get("magnification") is not None else "",
            bar_text,
        )
    Console().print(table)
