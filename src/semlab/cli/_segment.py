"""``semlab segment``, ``semlab train-segmenter`` and ``semlab score-segmentation``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from semlab.cli import app
from semlab.cli._engine import ADDRESS, ENGINE

_PANEL = "Segment"


def _image_files(folder: Path, what: str) -> list[Path]:
    from semlab.errors import MissingFileError, ParameterError
    from semlab.io import list_images

    if not folder.exists():
        raise MissingFileError(f"{folder}: no such folder; check --{what}")
    if not folder.is_dir():
        raise ParameterError(f"--{what} {folder} is a file; give a folder of images")
    return list_images(folder)


def _by_stem(files: list[Path], folder: Path) -> dict[str, Path]:
    from semlab.errors import ParameterError

    out: dict[str, Path] = {}
    for f in files:
        if f.stem in out:
            raise ParameterError(f"{folder}: {out[f.stem].name} and {f.name} share the name {f.stem!r}; rename one")
        out[f.stem] = f
    return out


def _read_array(path: Path, *, pixel_size: float | None = None, crop: bool = False) -> tuple[Any, float | None]:
    """(2-D image or 3-D stack, pixel size µm) of a file: :func:`semlab.segment.read_array`."""
    from semlab.segment import read_array

    return read_array(path, pixel_size=pixel_size, crop=crop)


@app.command("segment", rich_help_panel=_PANEL)
def segment(
    images: list[Path] = typer.Argument(..., help="Image files, stacks (multipage TIFF) or folders of images."),
    method: str = typer.Option(
        "hybrid", "--method", "-m", help="otsu, derivative, hybrid, or a model folder from train-segmenter."
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder (created if missing)."),
    stack: bool = typer.Option(
        False, "--stack", help="Read each folder as one 3-D stack of slices instead of separate images."
    ),
    truth: Path | None = typer.Option(
        None, "--truth", help="Folder of ground-truth labels (same file names): adds an error panel to overlays."
    ),
    overlay: bool = typer.Option(True, "--overlay/--no-overlay", help="Write a side-by-side overlay PNG per input."),
    segment_area: float = typer.Option(50.0, "--segment-area", help="hybrid: mean superpixel area in pixels."),
    compactness: float = typer.Option(0.3, "--compactness", help="hybrid: SLIC compactness (0.01 … 1)."),
    smoothing: float = typer.Option(1.0, "--smoothing", help="hybrid: Gaussian σ in pixels before SLIC."),
    denoise: bool = typer.Option(
        True, "--denoise/--no-denoise",
        help="otsu/derivative: Gaussian before and size filter after the threshold (--no-denoise: raw pixels).",
    ),
    sigma: float = typer.Option(1.0, "--sigma", help="otsu/derivative: Gaussian σ in pixels before thresholding."),
    sigma_um: float | None = typer.Option(
        None, "--sigma-um", help="otsu/derivative: σ in µm instead of --sigma (needs the pixel size)."
    ),
    min_size: float = typer.Option(
        16.0, "--min-size", help="otsu/derivative: regions of the phase of interest below this many pixels become background (0 = keep all)."
    ),
    min_size_um2: float | None = typer.Option(
        None, "--min-size-um2", help="otsu/derivative: --min-size in µm² (needs the pixel size)."
    ),
    fill_holes: bool = typer.Option(
        True, "--fill-holes/--no-fill-holes", help="otsu/derivative: background specks below --min-size inside the phase of interest join it."
    ),
    tile_size: int = typer.Option(256, "--tile-size", help="model: tile side in pixels."),
    overlap: int = typer.Option(32, "--overlap", help="model: tile overlap in pixels (blended)."),
    device: str = typer.Option("auto", "--device", help="model: auto, cpu or cuda."),
    runtime: str = typer.Option(
        "auto", "--runtime",
        help="model: what runs the network: auto (OpenVINO, else ONNX Runtime, when installed, on a CPU from 8 "
        "tiles on; else torch), torch, openvino or onnxruntime (the network exported to ONNX once per weights, "
        "cached; probabilities within 1e-4 of torch fp32). The runtime used is printed and stored in the sidecars.",
    ),
    pixel_size: float | None = typer.Option(None, "--pixel-size", help="µm per pixel, overriding the files."),
    crop: bool = typer.Option(
        True, "--crop/--no-crop",
        help="Segment 2-D images above their data bar only (metadata row, else detected); the bar's rows are "
        "written as 255 = no data, so the labels keep the input's shape.",
    ),
    foreground: str = typer.Option(
        "auto", "--foreground", "-f",
        help="The phase of interest, labelled 1: bright, dark, or auto (default). auto: the phase under-represented "
        "on the image border and less often cut by it (rule 'border'; right on 93.8 % of the EMPS particle images, "
        "benchmarks/results/foreground.json); a choice decided by a small margin is printed as a warning. "
        "hybrid: the phase annotated pore/shine-through.",
    ),
    phase_name: str | None = typer.Option(
        None, "--phase-name", help="Name of the phase of interest, e.g. particle (default: 'bright phase' / 'dark phase'; hybrid on a dark phase: pore)."
    ),
    engine: str = ENGINE,
    address: str | None = ADDRESS,
) -> None:
    """Segment micrographs or stacks into label images with named classes.

    Thresholds write 0 = background, 1 = the phase of interest (--foreground, named by --phase-name); hybrid writes 0 = background, 1 = phase of interest, 2 = its shine-through part (found only by the superpixels; with a dark foreground and no name: solid / pore / shine_through); a trained model writes its own class values. Rows of the data bar are 255 = no data: labels and overlays have the input's shape; fractions, quantify and score-segmentation ignore those rows. Stacks are segmented slice by slice (foreground chosen on the middle slice).

    Thresholds (otsu, derivative) denoise by default: a Gaussian of --sigma 1 px (or --sigma-um with the pixel size) before, pore regions and solid specks below --min-size 16 px (or --min-size-um2) merged after; --no-denoise thresholds the raw pixels. On real images this raised the pooled IoU (benchmarks/results/segment.json, ISBI membranes: Otsu mean IoU 0.495 -> 0.528).

    When hybrid pays off: porous films whose pores shine through (FIB-SEM/SEM of porous films with bright pore floors); it labels those pores as class 2, which no threshold can. When not: particle images. On the EMPS particle test set it gives the same particle IoU as Otsu (0.439 vs 0.436) at ~50x Otsu's CPU (~15x that of denoised Otsu): use otsu there.

    Writes OUT/<name>.tif (labels, pixel size kept), OUT/<name>_labels.json (class names, the phase measured, the foreground choice and its reason, pixel size, no-data value), OUT/<name>_overlay.png (image | labels with a colour key and, when the pixel size is known, a scale bar; image | truth | prediction | errors with --truth; middle slice of stacks) and OUT/phase_fractions.csv (one row per image or slice). `semlab quantify OUT` then measures the named phase of each file with its own pixel size.

    Blank or near-constant images are segmented but get a warning (printed, and in the CSV's warnings column).

    With --engine ray the inputs are segmented on a Ray cluster (a model folder loaded once per worker; each worker writes its inputs' files); the labels are the same.

    Example: semlab segment images/*.tif --method otsu --foreground auto --phase-name particle --out seg/
    """
    from semlab.scale import use_engine
    from semlab.segment import CLASSIC_METHODS, segment_files
    from semlab.segment.phases import check_foreground

    check_foreground(foreground)
    if method == "hybrid":
        options: dict[str, Any] = {"segment_area": segment_area, "compactness": compactness, "smoothing": smoothing}
    elif method in CLASSIC_METHODS:
        options = {"denoise": denoise, "sigma": sigma, "sigma_um": sigma_um, "min_size": min_size,
                   "min_size_um2": min_size_um2, "fill_holes": fill_holes}  # fmt: skip
    else:
        options = {"tile_size": tile_size, "overlap": overlap, "device": device, "runtime": runtime}
    with use_engine(engine, address):
        table = segment_files(images, out, method=method, options=options, stack=stack, truth=truth, overlay=overlay,
                              pixel_size=pixel_size, crop=crop, foreground=foreground, phase_name=phase_name)  # fmt: skip
    names = [c for c in table.columns if c.startswith("fraction_")]
    for _, row in table.iterrows():
        fr = ", ".join(f"{c[len('fraction_'):]} {row[c]:.1%}" for c in names if row[c] == row[c])
        typer.echo(f"{Path(row['file']).name}: {row['shape']} -> {Path(row['labels_file']).name} ({fr})")
        if row["foreground_detail"]:
            how = "given" if row["foreground_rule"] == "given" else f"auto, rule {row['foreground_rule']}"
            typer.echo(f"  measured phase: {row['measured_phase']} = {row['foreground']} ({how}: {row['foreground_detail']})")
        else:
            typer.echo(f"  measured phase: {row['measured_phase']}")
        for w in row["warnings"]:
            typer.echo(f"  warning: {w}", err=True)
    if "runtime" in table.columns:
        typer.echo(f"runtime: {', '.join(sorted({str(r) for r in table['runtime'].dropna()}))}")
    typer.echo(f"wrote {len(table)} label file(s), phase fractions in {out / 'phase_fractions.csv'}")


def _pairs(images: Path, labels: Path) -> tuple[list[Path], list[Path]]:
    from semlab.errors import ParameterError

    imgs = _by_stem(_image_files(images, "images"), images)
    labs = _by_stem(_image_files(labels, "labels"), labels)
    missing = [s for s in imgs if s not in labs]
    if missing:
        raise ParameterError(
            f"{labels}: no label image for {', '.join(imgs[s].name for s in missing[:3])}"
            f"{' …' if len(missing) > 3 else ''}; label files must have the images' names"
        )
    stems = sorted(imgs)
    return [imgs[s] for s in stems], [labs[s] for s in stems]


def _load_pairs(images: Path, labels: Path, binarize: bool) -> tuple[list[Any], list[Any], list[Path], list[str]]:
    import numpy as np

    from semlab.errors import ParameterError

    ifiles, lfiles = _pairs(images, labels)
    ims, lbs = [], []
    for fi, fl in zip(ifiles, lfiles, strict=True):
        im, _ = _read_array(fi)
        lb, _ = _read_array(fl)
        if im.ndim == 3 or lb.ndim == 3:
            raise ParameterError(f"{fi}: training takes 2-D images; split stacks into slices first")
        if lb.shape != im.shape:
            raise ParameterError(f"{fl}: labels have shape {lb.shape} but {fi.name} {im.shape}; they must match")
        ims.append(im)
        lbs.append((lb > 0).astype(np.uint8) if binarize else lb)
    return ims, lbs, [*ifiles, *lfiles], [f.name for f in ifiles]


@app.command("train-segmenter", rich_help_panel=_PANEL)
def train_segmenter_cmd(
    images: Path = typer.Option(..., "--images", help="Folder of training images."),
    labels: Path = typer.Option(..., "--labels", help="Folder of label images with the same file names."),
    out: Path = typer.Option(Path("segmenter"), "--out", "-o", help="Model folder (model.pt + config.json)."),
    val_images: Path | None = typer.Option(None, "--val-images", help="Validation images (default: part of --images)."),
    val_labels: Path | None = typer.Option(None, "--val-labels", help="Validation labels for --val-images."),
    binarize: bool = typer.Option(False, "--binarize", help="Labels > 0 become 1 (instance maps → foreground)."),
    classes: str | None = typer.Option(None, "--classes", help="Label values in order, e.g. '0,255' (default: found)."),
    class_names: str | None = typer.Option(None, "--class-names", help="Names per class, e.g. 'membrane,cell'."),
    time_budget: float | None = typer.Option(
        None, "--time-budget", help="Optional wall-clock cap in seconds (the budget is --max-steps; a cap makes runs machine-dependent)."
    ),
    max_steps: int = typer.Option(5000, "--max-steps", min=1, help="Optimiser steps (the budget: the same on any machine)."),
    patch_size: int = typer.Option(128, "--patch-size", min=8),
    batch_size: int = typer.Option(8, "--batch-size", min=1),
    depth: int = typer.Option(4, "--depth", min=1, help="U-Net levels."),
    width: int = typer.Option(16, "--width", min=1, help="Channels of the first level."),
    lr: float = typer.Option(2e-3, "--lr"),
    val_every: int = typer.Option(50, "--val-every", min=1),
    patience: int = typer.Option(8, "--patience", min=1),
    equalize_method: str = typer.Option("none", "--equalize", help="none, global or clahe (also at inference)."),
    downsample: int = typer.Option(
        1, "--downsample", min=1, help="Shrink images (block means) by this factor for the network; undone at inference."
    ),
    invert: bool = typer.Option(
        False, "--invert", help="Also invert the grey values of half the patches (phases dark on some images, bright on others)."
    ),
    augment: bool = typer.Option(True, "--augment/--no-augment", help="Random 90° turns, flips, contrast jitter."),
    augmentation: str = typer.Option(
        "mild", "--augmentation", help="mild (turns, flips, contrast) or strong (also scale, gamma, blur, noise)."
    ),
    encoder: str = typer.Option(
        "none", "--encoder",
        help="none (plain U-Net from scratch) or efficientnet_lite0 (ImageNet-pretrained encoder; better on held-out "
        "EMPS: mean IoU 0.970 vs 0.853 with the same strong-augmentation recipe, benchmarks/results/segment.json).",
    ),
    encoder_weights: str = typer.Option(
        "pretrained", "--encoder-weights",
        help="With --encoder: pretrained (offline package, no download), random, or a local weights file.",
    ),
    val_fraction: float = typer.Option(0.15, "--val-fraction", help="Share of the images held out for validation."),
    val_patches: int = typer.Option(32, "--val-patches", min=1, help="Fixed validation patches."),
    dice_weight: float = typer.Option(1.0, "--dice-weight", min=0.0, help="Weight of the soft-Dice loss term."),
    seed: int = typer.Option(0, "--seed"),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
) -> None:
    """Train a U-Net segmenter on images and label images (hybrid annotations or ground truth).

    Random patches with flips and 90° rotations, class-weighted cross-entropy + Dice, validation every --val-every steps, early stopping; the best checkpoint goes to OUT with a config.json (semlab version, seed, input hashes, preprocessing, classes) and history.csv.

    Example: semlab train-segmenter --images img/ --labels lab/ --out unet/ --time-budget 300
    """
    from semlab.errors import ParameterError
    from semlab.segment import SegmenterConfig, train_segmenter
    from semlab.training import TrainConfig

    ims, lbs, files, names = _load_pairs(images, labels, binarize)
    v_ims = v_lbs = None
    if (val_images is None) != (val_labels is None):
        raise ParameterError("give both --val-images and --val-labels, or neither")
    if val_images is not None and val_labels is not None:
        v_ims, v_lbs, vfiles, _ = _load_pairs(val_images, val_labels, binarize)
        files += vfiles
    cls = None
    if classes:
        try:
            cls = [int(c) for c in classes.split(",")]
        except ValueError:
            raise ParameterError(f"--classes {classes!r} must be integers separated by commas, e.g. 0,255") from None
    cnames = [c.strip() for c in class_names.split(",")] if class_names else None

    def report(row: dict) -> None:
        typer.echo(
            f"step {row['step']:6d}  {row['seconds']:7.1f} s  loss {row['train_loss']:.4f}  "
            f"val loss {row['val_loss']:.4f}  val mean IoU {row['val_mean_iou']:.4f}"
        )

    config = SegmenterConfig(
        model_options={"depth": depth, "width": width, "encoder": encoder}, encoder_weights=encoder_weights,
        augmentation=augmentation, classes=cls, class_names=cnames,
        patch_size=patch_size, batch_size=batch_size, lr=lr, equalize=equalize_method, downsample=downsample,
        invert=invert, augment=augment, val_fraction=val_fraction, val_patches=val_patches, dice_weight=dice_weight,
    )
    train = TrainConfig(
        max_steps=max_steps, time_budget_s=time_budget, seed=seed, device=device,
        validate_every=val_every, patience=patience,
    )
    res = train_segmenter(
        ims, lbs, config=config, train=train, val_images=v_ims, val_labels=v_lbs, out=out,
        input_paths=files, image_names=names, log=report,
    )
    typer.echo(
        f"best val mean IoU {res.best_val_iou:.4f} at step {res.best_step} of {res.steps} "
        f"({res.stopped}, {res.seconds:.0f} s on {res.device}) -> {out}"
    )


@app.command("score-segmentation", rich_help_panel=_PANEL)
def score_segmentation_cmd(
    truth: Path = typer.Option(..., "--truth", help="Folder of ground-truth label images."),
    pred: Path = typer.Option(..., "--pred", help="Folder of predicted label images (same file names)."),
    out: Path | None = typer.Option(None, "--out", "-o", help="CSV of per-image and pooled scores."),
    merge: list[str] = typer.Option(
        [],
        "--merge",
        help="Relabel predictions before scoring, e.g. --merge 2=1 (shine-through → pore). Repeatable; all pairs "
        "apply at once (--merge 0=1 --merge 1=0 swaps 0 and 1); each FROM value once.",
    ),
    binarize_truth: bool = typer.Option(
        False, "--binarize-truth", help="Truth values > 0 become 1 (done anyway when the prediction is binary, see below)."
    ),
) -> None:
    """Score predicted label images against a ground truth: per class and mean IoU, Dice, precision, recall, accuracy.

    Files are paired by name (extensions may differ). One line per image, then the scores pooled over all pixels.

    Accepted as they come: masks cut above the data bar or of the full frame (scored on the common top rows), the prediction's no-data rows (255 in semlab labels, left out), and binary truths of any values (0/255, 0/1, instance ids): when the prediction has one non-zero class, truth values > 0 become it. The mapping used is printed and written in the CSV (truth_mapping, rows, classes columns).

    Example: semlab score-segmentation --truth truth/ --pred seg/ --merge 2=1 --out scores.csv
    """
    from semlab.segment import score_folders

    table = score_folders(truth, pred, merge=list(merge), binarize_truth=binarize_truth, out=out)
    if table.attrs["merge"]:
        typer.echo(f"prediction classes relabelled at once (FROM=TO): {table['merge'].iloc[-1]}")
    if table.attrs.get("class_names"):
        typer.echo("prediction classes: " + ", ".join(f"{k} = {v}" for k, v in sorted(table.attrs["class_names"].items())))
    for note in sorted({n for n in table.attrs.get("truth_mapping", {}).values() if n}):
        typer.echo(f"truth values mapped: {note}")
    for _, row in table.iloc[:-1].iterrows():
        if row.get("rows"):
            typer.echo(f"{row['file']}: sizes differ, scored on {row['rows']}")
    for _, row in table.iloc[:-1].iterrows():
        typer.echo(f"{row['file']}: mean IoU {row['mean_iou']:.4f}  accuracy {row['accuracy']:.4f}")
    pooled = table.iloc[-1]
    per_class = "  ".join(f"{c[4:]} {pooled[c]:.4f}" for c in table.columns if c.startswith("iou_"))
    typer.echo(
        f"all {len(table) - 1} images: mean IoU {pooled['mean_iou']:.4f} ({per_class})  "
        f"Dice {pooled['mean_dice']:.4f}  accuracy {pooled['accuracy']:.4f}"
    )
    if out is not None:
        typer.echo(f"wrote {out}")
