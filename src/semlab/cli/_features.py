"""``semlab embed`` (stage: features)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from semlab.cli import app
from semlab.cli._engine import ADDRESS, ENGINE

_PANEL = "Features"
_RUNTIME = typer.Option(
    "auto",
    "--runtime",
    help="What runs the CNN: auto (OpenVINO, else ONNX Runtime, when installed, on a CPU in fp32 from "
    "64 patches on; else torch), torch, openvino or onnxruntime (the backbone exported to ONNX once, "
    "cached; features within cosine 0.9999 of torch fp32). The runtime used is printed and stored "
    "in embedding.json.",
)


@app.command("embed", rich_help_panel=_PANEL)
def embed(
    workspace: Path = typer.Argument(..., help="Workspace folder."),
    backbone: str = typer.Option(
        "efficientnet_lite0",
        "--backbone",
        "-b",
        help="timm model name: convnext_tiny, resnet50, inception_resnet_v2, inception_v3, densenet121, "
        "efficientnet_lite0 (offline weights), or any other timm name.",
    ),
    weights: Path | None = typer.Option(
        None, "--weights", help="Weights file (state dict or timm checkpoint) of that model."
    ),
    pretrained: bool = typer.Option(
        True, "--pretrained/--no-pretrained", help="--no-pretrained: seeded random weights (for testing)."
    ),
    patch_size: int = typer.Option(
        224, "--patch-size", help="Patch side in pixels (after crop and resampling)."
    ),
    patches_per_image: int = typer.Option(16, "--patches-per-image", help="Random patches per image."),
    batch_size: int = typer.Option(32, "--batch-size", help="Patches per forward pass."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    precision: str = typer.Option(
        "fp32",
        "--precision",
        help="fp32 (exact, the default), auto (bf16 where the CPU/GPU computes it natively: 1.7x faster "
        "here, cosine 0.999 to fp32) or bf16.",
    ),
    runtime: str = _RUNTIME,
    seed: int = typer.Option(0, "--seed", help="Seed of the patch positions."),
    features: str | None = typer.Option(
        None,
        "--features",
        "-f",
        help="Feature set (default final). final: pooled final-layer embedding of the backbone; "
        "multiscale: mean, std and Gram statistics of each intermediate stage of the backbone "
        "(texture-aware); texture: classical LBP/GLCM/Gabor statistics, no CNN; nuisance: "
        "acquisition only (grey-value statistics of the unequalized patch, sharpness, image and pixel "
        "size), for checking shortcuts. final and multiscale come from one forward pass: embedding "
        "one caches both. `semlab train` uses multiscale unless told otherwise (benchmarks/results/learn.json).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of text."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    engine: str = ENGINE,
    address: str | None = ADDRESS,
) -> None:
    """Extract features (a named feature set) of random patches of every image in a workspace.

    Each image loses its data bar, is equalized (CLAHE; not for nuisance) and resampled to the workspace's pixel size (semlab.features.scale); random patches go through the backbone in batches (or the texture/nuisance statistics). Features are cached per (image, pixel size, preprocessing, feature set, backbone, weights): re-running computes only images not embedded before. Prints the weights' source and how many images were new or cached.

    Writes WORKSPACE/features/<backbone>-<key>/ (final; <backbone>-multiscale-<key>/, texture-<key>/, nuisance-<key>/ for the other sets): table.npz (features + index), index.csv (image_hash, patch, row, col, size_px) and embedding.json (backbone, weights source and SHA-256, preprocessing); `semlab.features.load_features(WORKSPACE, feature_set=NAME)` reads them back.

    With --engine ray the images not cached yet are embedded on a Ray cluster (one model per worker); the cache is shared with local runs.

    Example: semlab embed study --backbone efficientnet_lite0
    Example: semlab embed study --engine ray --address auto
    """

    from semlab.cli._progress import progress_bar
    from semlab.dataset import Workspace
    from semlab.errors import ParameterError
    from semlab.features import FEATURE_SETS, embed_workspace
    from semlab.features.runtime import use_runtime
    from semlab.preprocess import Preparation

    if features is not None and features not in FEATURE_SETS:
        raise ParameterError(f"--features {features!r} is not one of {', '.join(FEATURE_SETS)}")
    features = features or "final"
    ws = Workspace.open(workspace)
    with use_runtime(runtime), progress_bar(f"embedding ({features}, {backbone})", quiet=quiet) as bar:
        task = bar.add_task("", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        table = embed_workspace(
            ws,
            backbone=backbone,
            pretrained=pretrained,
            weights=weights,
            preparation=Preparation(patch_size=patch_size, patches_per_image=patches_per_image, seed=seed),
            batch_size=batch_size,
            device=device,
            precision=precision,
            progress=progress,
            feature_set=features,
            engine=engine,
            address=address,
        )
    info = table.to_dict()
    if as_json:
        typer.echo(json.dumps(info, indent=2))
        return
    sha = (table.weights_sha256 or "")[:12]
    typer.echo(
        f"features {table.config.get('feature_set')}: backbone {table.backbone} "
        f"({table.n_features} features per patch, {table.config.get('precision', 'n/a')})"
    )
    typer.echo(f"weights: {table.weights}" + (f" (sha256 {sha}…)" if sha else ""))
    c = table.cache
    typer.echo(
        f"images {c['computed'] + c['cached']}: new {c['computed']}, cached {c['cached']}; "
        f"patches {len(table)} ({c['computed_patches']} computed)"
    )
    typer.echo(f"runtime: {c.get('runtime') or 'none (nothing computed, or no CNN)'}")
    typer.echo(f"features: {Path(c['path']) / 'table.npz'}")
