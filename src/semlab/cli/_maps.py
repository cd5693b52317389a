"""``semlab map`` (stage: maps)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from semlab.cli import app

_PANEL = "Maps"
_DEFAULT_PORT = 8765


@app.command("map", rich_help_panel=_PANEL)
def map_cmd(
    workspace: Path = typer.Argument(..., help="Workspace folder with features (`semlab embed` first)."),
    color_by: str | None = typer.Option(
        None, "--color-by", "-c", help="Column to colour by at start (e.g. burst_count, porosity, sample)."
    ),
    method: str = typer.Option("umap", "--method", "-m", help="Embedding: umap, pca or tsne."),
    backbone: str | None = typer.Option(
        None, "--backbone", help="Which stored features (default: the latest)."
    ),
    per_patch: bool = typer.Option(
        False, "--per-patch", help="One point per patch instead of one per image."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the embedding (same seed, same map)."),
    n_neighbors: int = typer.Option(
        15, "--n-neighbors", min=2, help="UMAP: neighbours per point (local vs global)."
    ),
    min_dist: float = typer.Option(0.1, "--min-dist", min=0.0, help="UMAP: minimum distance between points."),
    metric: str = typer.Option("euclidean", "--metric", help="UMAP: feature metric (euclidean, cosine, …)."),
    thumb_size: int = typer.Option(128, "--thumb-size", min=16, help="Thumbnail side in pixels (cached)."),
    export: Path | None = typer.Option(
        None,
        "--export",
        "-o",
        help="Write the page to this HTML file instead of serving (opens without a server). Up to 500 points "
        "it is one self-contained file; larger maps also write the folder NAME_files/ beside it (thumbnail "
        "sprite sheets, full images of maps of at most 200 images): keep the two together.",
    ),
    port: int | None = typer.Option(
        None,
        "--port",
        min=0,
        max=65535,
        help=f"Port on 127.0.0.1 (default {_DEFAULT_PORT}, else a free one; 0: free).",
    ),
    open_browser: bool = typer.Option(
        False, "--open", help="Open the page (or the exported file) in the browser."
    ),
    as_json: bool = typer.Option(
        False, "--json", help="Print the map's summary as one JSON line instead of the text line."
    ),
) -> None:
    """Interactive map of a workspace's micrographs: similar microstructures sit together.

    Places every image (UMAP/PCA/t-SNE of its pooled CNN features) on a 2-D map drawn in the browser: thumbnails when zoomed in, dots when zoomed out, coloured by any descriptor column (switchable in the page), hover for metadata, click for the full image with sample, parameters, properties and pixel size, box or lasso selection with CSV download, search by sample and filter by parameter range.

    Serves the page on http://127.0.0.1:PORT/ until Ctrl-C (thumbnails fetched as the view zooms in), or with --export writes the page: one self-contained HTML file for up to 500 points, else the HTML file plus a folder NAME_files/ of thumbnail sprite sheets beside it (a 100 000-image map stays under 50 MB). The page draws 100 000 points smoothly (WebGL on a GPU, a cached dot layer otherwise). Thumbnails are cached under WORKSPACE/maps/thumbs/, the fitted embedding under WORKSPACE/maps/latest/ (to place new images). UMAP reduces long features to 50 principal components (100 000 points: 79 CPU-seconds measured) and, above 100 000 points, fits on a seeded 100 000-point subsample and places the rest with its transform (benchmarks/results/maps.json, docs/maps.md).

    Example: semlab map study/ --color-by burst_count --open
    """
    import json

    from semlab.errors import ParameterError
    from semlab.maps import METHODS, export_html, serve_map

    if method not in METHODS:
        raise ParameterError(f"--method {method!r} is not one of {', '.join(METHODS)}")
    params = {"n_neighbors": n_neighbors, "min_dist": min_dist, "metric": metric} if method == "umap" else {}
    # Checked before the map is built: a failure later would leave maps/latest replaced.
    if method == "umap":
        from semlab.maps.embedding import UMAP_METRICS

        if metric not in UMAP_METRICS:
            raise ParameterError(
                f"--metric {metric!r} is not a UMAP metric; use one of {', '.join(sorted(UMAP_METRICS))}"
            )
    if export is not None:
        _check_export(export)
    elif port is not None:
        _check_port(port)
    data = _build_with_progress(
        workspace,
        backbone=backbone,
        method=method,
        color_by=color_by,
        seed=seed,
        per_patch=per_patch,
        thumb_size=thumb_size,
        params=params,
    )
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "n_points": len(data),
                    "method": data.method,
                    "color_by": data.color_by,
                    "embedding": str(Path(workspace) / "maps" / "latest"),
                }
            )
        )
    else:
        typer.echo(
            f"map of {len(data)} {'patches' if per_patch else 'images'} ({data.method}, features: "
            f"{data.to_dict().get('backbone') or 'given'}); columns: {', '.join(data.columns)}"
        )
    if export is not None:
        path = export_html(data, export)
        typer.echo(_export_line(path))
        if open_browser:
            import webbrowser

            webbrowser.open(path.resolve().as_uri())
        return
    if port is None:
        try:
            server = serve_map(data, port=_DEFAULT_PORT, background=False)
        except ParameterError:
            server = serve_map(data, port=0, background=False)
    else:
        server = serve_map(data, port=port, background=False)
    typer.echo(f"serving the map on {server.url} (Ctrl-C to stop)")
    if open_browser:
        server.open_browser()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        typer.echo("stopped")


def _export_line(path: Path) -> str:
    """What was written: the HTML file, the NAME_files/ folder beside it if any, total size."""
    folder = path.with_name(path.stem + "_files")
    extra = sorted(folder.iterdir()) if folder.is_dir() else []
    size = path.stat().st_size + sum(f.stat().st_size for f in extra if f.is_file())
    where = f" with {folder.name}/ ({len(extra)} files; keep it beside the HTML file)" if extra else ""
    return f"wrote {path}{where}: {size / 1e6:.1f} MB, opens without a server"


def _check_export(export: Path) -> None:
    """A file path the page can be written to; else a one-line ``ParameterError``."""
    import os

    from semlab.errors import ParameterError

    if export.is_dir():
        raise ParameterError(
            f"--export {export}: is a folder; give a file name such as {export / 'map.html'}"
        )
    parent = export.parent if str(export.parent) else Path(".")
    if parent.exists() and not parent.is_dir():
        raise ParameterError(f"--export {export}: {parent} is a file, not a folder")
    probe = parent
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not os.access(probe, os.W_OK):
        raise ParameterError(f"--export {export}: cannot write in {probe}; choose another place")


def _check_port(port: int) -> None:
    """A port on 127.0.0.1 that is free now; else a one-line ``ParameterError``."""
    import socket

    from semlab.errors import ParameterError

    if port == 0:
        return
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            raise ParameterError(
                f"--port {port}: cannot listen on 127.0.0.1:{port} ({exc.strerror or exc}); "
                "choose another port or leave --port out"
            ) from None


def _build_with_progress(
    workspace: Path,
    *,
    backbone: str | None,
    method: str,
    color_by: str | None,
    seed: int,
    per_patch: bool,
    thumb_size: int,
    params: dict[str, Any],
) -> Any:
    """:func:`semlab.maps.build_map` with a spinner on stderr while the embedding is fitted
    (UMAP: tens of seconds on its first call) and a bar while thumbnails are made."""
    from rich.progress import TaskID

    from semlab.cli._progress import progress_bar
    from semlab.maps import build_map

    what = f"{method.upper()} of the stored features ({'per patch' if per_patch else 'per image'})"
    if method == "umap":
        what += " (UMAP compiles its code on the first call in a process)"
    bar = progress_bar(spinner=True, eta=False)
    embedding = bar.add_task(f"embedding: {what}", total=None)
    thumbs: list[TaskID] = []

    def progress(done: int, total: int) -> None:
        if not thumbs:  # the embedding is fitted before the first thumbnail
            bar.update(embedding, total=1, completed=1)
            thumbs.append(bar.add_task("thumbnails", total=total))
        bar.update(thumbs[0], completed=done, total=total)

    with bar:  # transient (and off when stderr is no terminal): gone before any error or result is printed
        data = build_map(
            workspace,
            backbone=backbone,
            method=method,
            color_by=color_by,
            seed=seed,
            per_patch=per_patch,
            thumb_size=thumb_size,
            progress=progress,
            **params,
        )
    return data
