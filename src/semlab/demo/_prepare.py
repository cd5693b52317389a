"""The demo's first steps: render and ingest the series, then segment each image and cut its patches."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from semlab._util import atomic_path

#: Patches per image, as in the transfer-learning study (40 random crops per micrograph).
PATCHES_PER_IMAGE = 40

#: ``progress(done, total)`` in images.
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Ingested:
    """The rendered series and its workspace.

    Attributes
    ----------
    synthetic : Path
        Folder of the rendered series (images, ``labels/``, ``descriptors.csv``).
    series : pandas.DataFrame
        The generator's table (one row per image, with its true porosity).
    workspace : Workspace
    table : pandas.DataFrame
        The workspace's table sorted by original file name.
    added, already_present : int
        Images added by this run, and skipped because the workspace held them.
    """

    synthetic: Path
    series: Any
    workspace: Any
    table: Any
    added: int
    already_present: int


@dataclass(frozen=True)
class Prepared:
    """What :func:`segment_and_cut` made of the series.

    Attributes
    ----------
    patches : (n, patch_size, patch_size) ndarray of float32
        All patches, in [0, 1], image by image.
    patch_table : pandas.DataFrame
        One row per patch: image hash and name, sample, burst count, box in pixels of the
        cropped, resampled image, pixel size in µm.
    segmentation : pandas.DataFrame
        One row per image: measured porosity (``porosity_segmented``), shine-through
        fraction and, for comparison only, the pore IoU against the generator's truth.
    labels : list of ndarray
        Each image's label image (0 solid, 1 pore, 2 shine-through pore), table order.
    examples : dict
        Burst count → (equalized image, its first four patches), for the pictures.
    overlays : list of Path
        One segmentation overlay per burst count.
    cropped : dict
        Image name → data-bar rows cropped.
    pixel_sizes : list of float
        The workspace's distinct pixel sizes in µm, ascending.
    target : float
        The common pixel size of the patches (the coarsest), µm.
    """

    patches: np.ndarray
    patch_table: Any
    segmentation: Any
    labels: list[np.ndarray]
    examples: dict[int, tuple[np.ndarray, np.ndarray]]
    overlays: list[Path]
    cropped: dict[str, int]
    pixel_sizes: list[float]
    target: float


def ingest_series(out: Path, *, quick: bool, seed: int, progress: Progress | None) -> Ingested:
    """Render the synthetic sintering series under ``out/synthetic`` and add it to ``out/workspace``.

    A workspace left by an earlier run is reopened; images it holds are not added twice.
    """
    from semlab.data import sintering_series
    from semlab.dataset import Workspace

    synthetic = out / "synthetic"
    shape = (256, 256) if quick else (512, 512)
    series = sintering_series(
        synthetic, shape=shape, samples_per_level=2 if quick else 3, images_per_sample=2, seed=seed
    )
    ws_dir = out / "workspace"
    ws = Workspace.open(ws_dir) if (ws_dir / "semlab.sqlite").exists() else Workspace.init(ws_dir)
    added = ws.add(
        table=synthetic / "descriptors.csv",
        images_dir=synthetic,
        progress=(lambda d, t, _p: progress(d, t)) if progress else None,
    )
    table = ws.table().sort_values("original_name").reset_index(drop=True)
    return Ingested(synthetic, series, ws, table, added.added, added.skipped_existing)


def _segment(image: np.ndarray, truth_file: Path, pixel_size: float | None) -> tuple[Any, dict[str, float]]:
    """Segment pores as a user would (:func:`semlab.segment.segment_labelled`, hybrid, dark
    foreground named ``pore``: 0 solid, 1 pore, 2 shine-through pore).

    Returns the segmentation and its scores: the measured porosity, and — for comparison
    only — the pore IoU against the generator's truth (0 = solid, 1 = pore).
    """
    from semlab.io import read_micrograph
    from semlab.segment import score_segmentation, segment_labelled

    seg = segment_labelled(
        image,
        method="hybrid",
        foreground="dark",
        phase_name="pore",
        pixel_size=pixel_size,
        crop_databar=False,
    )
    pore = np.isin(seg.labels, seg.measured_labels)
    truth_pore = read_micrograph(truth_file).image == 1
    scores = score_segmentation(truth_pore.astype(np.uint8), pore.astype(np.uint8), classes=[0, 1])
    return seg, {
        "porosity_segmented": float(seg.measured_fraction),
        "shine_through_fraction": float((seg.labels == 2).mean()),
        "pore_iou_vs_truth": float(scores.iou[1]),
    }


def _cut_patches(
    image: np.ndarray, pixel_size: float | None, target: float, *, seed: int, image_hash: str, patch_size: int
) -> tuple[np.ndarray, np.ndarray, Any]:
    """Equalize (CLAHE), resample to ``target`` µm/px and sample :data:`PATCHES_PER_IMAGE` patches.

    Returns the equalized image, the patches and their boxes.  One seed per image, derived
    from the demo seed and the image's content hash, so patches do not depend on
    processing order.
    """
    from semlab.preprocess import equalize, resample, sample_patches

    image = equalize(image, method="clahe")
    if pixel_size is not None and not np.isclose(pixel_size, target):
        image = resample(image, pixel_size, target)
    image_seed = np.random.SeedSequence([seed, int(image_hash[:8], 16)])
    patches, boxes = sample_patches(
        image,
        PATCHES_PER_IMAGE,
        patch_size,
        rng=np.random.default_rng(image_seed),
        normalize=False,  # already in [0, 1] after equalize
        return_boxes=True,
    )
    return image, patches, boxes


def segment_and_cut(
    ingested: Ingested, out: Path, *, seed: int, patch_size: int, progress: Progress | None
) -> Prepared:
    """Segment every image (overlays for one image per burst count) and cut its patches.

    Images have their data bar cropped; patches are cut at the coarsest pixel size of the
    workspace (a common physical scale).
    """
    import pandas as pd

    from semlab.segment import save_overlay

    ws, table = ingested.workspace, ingested.table
    sizes = sorted({float(p) for p in table["pixel_size_um"].dropna()})
    target = sizes[-1]
    patches, rows, segmentation, overlays, labels = [], [], [], [], []
    examples: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    cropped: dict[str, int] = {}
    for i, rec in table.iterrows():
        name, burst = rec["original_name"], int(rec["burst_count"])
        m = ws.read(rec["hash"], crop=True)
        cropped[name] = int(ws.get(rec["hash"]).shape[0] - m.image.shape[0])
        seg, scores = _segment(m.image, ingested.synthetic / "labels" / name, m.pixel_size)
        segmentation.append({"image": name, "burst_count": burst, **scores})
        labels.append(seg.labels)
        if burst not in examples:
            overlays.append(
                save_overlay(
                    out / "overlays" / f"{Path(name).stem}.png",
                    m.image,
                    seg.labels,
                    classes={**seg.classes, 0: "solid (sintered copper)"},
                    pixel_size=m.pixel_size,
                )
            )
        image, p, boxes = _cut_patches(
            m.image, m.pixel_size, target, seed=seed, image_hash=rec["hash"], patch_size=patch_size
        )
        patches.append(p)
        for k, (r, c, h, _w) in enumerate(boxes):
            rows.append(
                {
                    "image_hash": rec["hash"],
                    "image": name,
                    "sample": rec["sample"],
                    "burst_count": burst,
                    "patch": k,
                    "row": int(r),
                    "col": int(c),
                    "size_px": int(h),
                    "pixel_size_um": target,
                }
            )
        if burst not in examples:
            examples[burst] = (image, p[:4])
        if progress:
            progress(int(i) + 1, len(table))
    return Prepared(
        patches=np.concatenate(patches).astype(np.float32),
        patch_table=pd.DataFrame(rows),
        segmentation=pd.DataFrame(segmentation),
        labels=labels,
        examples=examples,
        overlays=overlays,
        cropped=cropped,
        pixel_sizes=sizes,
        target=target,
    )


def save_patches(prepared: Prepared, out: Path) -> Path:
    """Write ``patches.npz`` (patches and their image hashes) and ``patches.csv`` (their boxes)."""
    path = out / "patches.npz"
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(
                fh, patches=prepared.patches, image_hash=prepared.patch_table["image_hash"].to_numpy(str)
            )
    with atomic_path(out / "patches.csv") as tmp:
        prepared.patch_table.to_csv(tmp, index=False)
    return path
