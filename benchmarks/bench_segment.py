"""Segmentation benchmark: U-Net trained for a number of steps vs threshold baselines.

Datasets (real, from ../shared/data/segmentation; skipped when absent):

* ISBI 2012 membranes — 30 images 512×512; train on 0…23, test on 24…29;
  classes membrane (0) / cell interior (255).
* EMPS particles — 80 images; train on the first 64 (sorted by name), test on the last 16;
  instance maps binarised to particle (1) / background (0).

Baselines: Otsu and the second-derivative threshold per test image.  Thresholds label the
dark phase; for ISBI that is the membrane.  EMPS particles are dark on some images and
bright on others, so the thresholds are scored twice: with "dark = particle" and with the
better polarity chosen per image by looking at the truth (an oracle, flattering the
baseline), and with "the smaller phase = particle" (a rule needing no truth).  Scores are
pooled over all test pixels.  The U-Net for EMPS trains with grey-value inversion as an
augmentation and on images shrunk 4× (block means) so that patches see whole particles.

Thresholds are scored twice: on the raw pixels (``otsu``, ``derivative``: ``denoise=False``)
and with their default denoising (``*_denoised``: Gaussian σ = 1 px before, regions below
16 px merged after).  Each threshold row records its CPU seconds per test image; on EMPS the
hybrid annotation (pore + shine-through = dark, smaller phase = particle) is scored for its cost.

The U-Net's budget is optimiser steps (``RECIPES``: ISBI 328, EMPS 408, the counts the earlier
180 s runs reached; ``--steps N`` overrides, ``--time-budget S`` adds an optional wall-clock cap).
Its row records ``cli``: the equivalent ``semlab train-segmenter`` / ``semlab segment --method
MODEL`` / ``semlab score-segmentation`` lines on the same split, written as PNG files
(``NNN.png`` in the benchmark's order) under ``--split-dir/<dataset>/{train,test}/{images,labels}``
(default: the temp folder's ``semlab-bench-segment``); ``--reproduce-cli`` runs them and records
``<dataset>.unet_cli_reproduction`` (both pooled mean IoUs and their difference).
tests/segment/test_bench_cli_recipe.py checks that the recorded lines still run.

Thresholds with the automatic foreground rule (``*_auto_foreground``: ``foreground="auto"``,
:func:`semlab.segment.auto_foreground`, no truth used) label the phase the rule picks as the
object class (EMPS particle, ISBI cell interior), beside the old dark/minority/oracle rows.

Pretrained U-Nets (issue 14 item 4; ``--recipe emps_pretrained`` etc., rows ``unet_<recipe
suffix>`` in ``emps``): an EfficientNet-Lite0 encoder (ImageNet weights of the offline package)
under a U-Net decoder, strong augmentation (scale, gamma, contrast, inversion, blur, noise), trained
on several real sources at once: the 64 EMPS training images plus the 24 ISBI training images
(cell interior = object 1, membrane = 0); tested on the same 16 held-out EMPS images (names
sorted, the last 16) as every other EMPS row.  Caveat: 9 of those 16 come from papers that also
have training images (8 from the very same figure), so the held-out score flatters trained models;
``paper_disjoint_test`` scores the 7 whose paper has no training image (thresholds in
``emps.paper_disjoint_test``, each pretrained row in its own ``paper_disjoint_test``).  ``emps_plain_strong`` is the same recipe on the plain
U-Net (``encoder none``), to decide the default by measurement.  Each row records steps, images seen,
wall time, device (the card), encoder and weights source, augmentation and its CLI lines.

Run:  .venv/bin/python benchmarks/bench_segment.py [--steps N] [--time-budget S] [--only isbi|emps]
      [--reproduce-cli] [--thresholds-only] [--recipe emps_pretrained ...] [--device cuda]
      [--data FOLDER] [--results FILE]
Writes benchmarks/results/segment.json (--thresholds-only: only the threshold rows are
recomputed, the stored U-Net rows are kept).
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "segmentation"
RESULTS = ROOT / "benchmarks" / "results" / "segment.json"


def _read(path: Path) -> np.ndarray:
    from semlab.io import read_micrograph

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return read_micrograph(path).image


def load_isbi():
    folder = DATA / "isbi-membrane"
    files = sorted((folder / "images").glob("*.png"), key=lambda p: int(p.stem))
    images = [_read(f) for f in files]
    labels = [(_read(folder / "labels" / f.name) > 127).astype(np.uint8) * 255 for f in files]
    return files, images, labels, (0, 255), ("membrane", "interior"), 24


def load_emps():
    folder = DATA / "emps-train"
    files = sorted((folder / "images").glob("*.png"))
    images = [_read(f) for f in files]
    labels = [(_read(folder / "segmaps" / f.name) > 0).astype(np.uint8) for f in files]
    return files, images, labels, (0, 1), ("background", "particle"), 64


def pooled(truths, preds, classes, names):
    from semlab.segment import score_segmentation

    t = np.concatenate([a.ravel() for a in truths])
    p = np.concatenate([a.ravel() for a in preds])
    s = score_segmentation(t, p, classes=classes, names=names)
    return {
        "mean_iou": round(s.mean_iou, 4),
        "iou": {n: round(float(v), 4) for n, v in zip(names, s.iou, strict=True)},
        "mean_dice": round(s.mean_dice, 4),
        "accuracy": round(s.accuracy, 4),
    }


def _dark(image, method, denoise, foreground="dark"):
    """Dark-phase mask of a threshold (or of hybrid: pore and shine-through pore); with
    ``foreground="auto"`` the mask of the phase :func:`semlab.segment.auto_foreground` picks."""
    from semlab.segment import hybrid_annotation, threshold_image

    if method == "hybrid":
        return hybrid_annotation(image).labels > 0
    return threshold_image(image, method=method, denoise=denoise, foreground=foreground).labels == 1


def threshold_preds(images, truths, method, dark_value, bright_value, *, oracle, minority=False, denoise=False,
                    auto=False):  # fmt: skip
    from semlab.segment import score_segmentation

    preds = []
    for im, tr in zip(images, truths, strict=True):
        if auto:  # the automatically chosen phase is the object class (EMPS particle, ISBI interior)
            obj = _dark(im, method, denoise, foreground="auto")
            hi, lo = max(dark_value, bright_value), min(dark_value, bright_value)
            preds.append(np.where(obj, hi, lo).astype(np.uint8))
            continue
        dark = _dark(im, method, denoise)
        a = np.where(dark, dark_value, bright_value).astype(np.uint8)
        if minority and dark.mean() > 0.5:  # the smaller phase is the particles
            a = np.where(dark, bright_value, dark_value).astype(np.uint8)
        if oracle:
            b = np.where(dark, bright_value, dark_value).astype(np.uint8)
            if score_segmentation(tr, b).mean_iou > score_segmentation(tr, a).mean_iou:
                a = b
        preds.append(a)
    return preds


def _threshold_scores(out: dict) -> dict:
    """Mean IoU of every threshold row (everything scored but the U-Net rows)."""
    return {k: v["mean_iou"] for k, v in out.items()
            if isinstance(v, dict) and "mean_iou" in v and not k.startswith("unet")}  # fmt: skip


def _ratios(out: dict) -> None:
    """U-Net mean IoU over the best threshold that needs no truth, and over the oracle ones."""
    scored = _threshold_scores(out)
    fair = max(v for k, v in scored.items() if "oracle" not in k)
    out["unet_over_best_threshold_iou_ratio"] = round(out["unet"]["mean_iou"] / fair, 3)
    oracle = [v for k, v in scored.items() if "oracle" in k]
    if oracle:
        out["unet_over_oracle_polarity_threshold_iou_ratio"] = round(out["unet"]["mean_iou"] / max(oracle), 3)


def _scored(te_i, te_l, method, polarity, classes, names, **kw):
    """Pooled scores of one threshold variant, with the process CPU seconds per test image."""
    _dark(te_i[0], method, kw.get("denoise", False))  # imports and caches outside the timing
    t0 = time.process_time()
    preds = threshold_preds(te_i, te_l, method, *polarity, **kw)
    cpu = (time.process_time() - t0) / len(te_i)
    return {**pooled(te_l, preds, classes, names), "cpu_seconds_per_image": round(cpu, 4)}


def _auto_rule(images, truths, polarity) -> dict:
    """How often :func:`semlab.segment.auto_foreground` picks the object phase (EMPS particle,
    ISBI cell interior): the object is the bright phase when its mean grey value is the higher."""
    from semlab.segment import auto_foreground

    obj = max(polarity)
    right = 0
    for im, tr in zip(images, truths, strict=True):
        g = np.asarray(im, dtype=np.float64)
        bright = g[tr == obj].mean() > g[tr != obj].mean()
        right += auto_foreground(im).foreground == ("bright" if bright else "dark")
    return {"object_phase_picked": int(right), "images": len(images), "share": round(right / len(images), 4)}


def threshold_rows(name, te_i, te_l, classes, names, polarity):
    """Rows of the thresholds on the test images: raw pixels (``otsu``, ``derivative``, as before
    denoising became their default) and ``*_denoised`` (the defaults: Gaussian σ = 1 px, regions
    below 16 px merged); on EMPS also the polarity rules and the hybrid annotation (pore and
    shine-through = dark), for its cost."""
    out = {}
    variants = [("", {"oracle": False}), ("_auto_foreground", {"oracle": False, "auto": True})]
    if name == "emps":
        variants += [("_minority_is_particle", {"oracle": False, "minority": True}),
                     ("_oracle_polarity", {"oracle": True})]  # fmt: skip
    for method in ("otsu", "derivative"):
        for suffix, kw in variants:
            out[f"{method}{suffix}"] = _scored(te_i, te_l, method, polarity, classes, names, **kw)
            out[f"{method}_denoised{suffix}"] = _scored(
                te_i, te_l, method, polarity, classes, names, denoise=True, **kw
            )
    out["auto_foreground_rule"] = _auto_rule(te_i, te_l, polarity)
    if name == "emps":
        files, _, _, _, _, n_train = load_emps()
        keep = paper_disjoint(files, n_train)
        sub_i, sub_l = [te_i[k] for k in keep], [te_l[k] for k in keep]
        out["paper_disjoint_test"] = {
            "images": len(keep),
            "ids": [files[n_train + k].stem for k in keep],
            "note": "held-out EMPS images whose paper has no training image; U-Net rows score them as paper_disjoint_test",
            **{
                f"otsu_denoised{suf}": _scored(
                    sub_i, sub_l, "otsu", polarity, classes, names, denoise=True, **kw
                )
                for suf, kw in (
                    ("_auto_foreground", {"oracle": False, "auto": True}),
                    ("_oracle_polarity", {"oracle": True}),
                )
            },
        }
        out["hybrid_minority_is_particle"] = _scored(
            te_i, te_l, "hybrid", polarity, classes, names, oracle=False, minority=True
        )
    return out


# The U-Net recipe per dataset: the options of train_segmenter and of ``semlab train-segmenter``.
# EMPS particles are dark on some images and bright on others: train with grey-value inversion
# as an augmentation there, and shrink the images 4x so a 128-pixel patch sees whole particles.
# ``steps`` are the step counts the stored 180 s runs reached (ISBI 328, EMPS 408).
UNET = {"depth": 4, "width": 16, "patch_size": 128, "batch_size": 8, "val_every": 25, "patience": 12,
        "val_fraction": 0.125}  # fmt: skip
RECIPES = {
    "isbi": {**UNET, "invert": False, "downsample": 1, "steps": 328},
    "emps": {**UNET, "invert": True, "downsample": 4, "steps": 408},
}
# Pretrained encoder + strong augmentation + several sources (issue 14 item 4).  The row is
# ``unet_<suffix>`` (the recipe name without ``emps_``) in the ``emps`` results.
PRETRAINED = {"depth": 4, "width": 16, "patch_size": 256, "batch_size": 16, "val_every": 100, "patience": 30,
              "val_fraction": 0.125, "invert": True, "downsample": 2, "encoder": "efficientnet_lite0",
              "encoder_weights": "pretrained", "augmentation": "strong", "lr": 1e-3,
              "sources": ["emps", "isbi"]}  # fmt: skip
RECIPES.update(
    {
        "emps_pretrained": {**PRETRAINED, "steps": 1500},
        "emps_plain_strong": {
            **PRETRAINED,
            "encoder": "none",
            "encoder_weights": "random",
            "lr": 2e-3,
            "steps": 1500,
        },  # fmt: skip
        "emps_pretrained_cpu": {**PRETRAINED, "batch_size": 8, "val_every": 50, "steps": 150},
    }
)
TILE, OVERLAP = 256, 32
SPLIT = Path(tempfile.gettempdir()) / "semlab-bench-segment"


def write_split(folder: Path, tr_i, tr_l, te_i, te_l) -> None:
    """The train/test split as PNG files (``NNN.png``, zero-padded so that name order is the
    benchmark's order) under ``folder/{train,test}/{images,labels}``."""
    from PIL import Image

    for part, ims, lbs in (("train", tr_i, tr_l), ("test", te_i, te_l)):
        for sub, arrays in (("images", ims), ("labels", lbs)):
            d = folder / part / sub
            d.mkdir(parents=True, exist_ok=True)
            for old in d.glob("*.png"):
                old.unlink()
            for k, a in enumerate(arrays):
                Image.fromarray(np.asarray(a, dtype=np.uint8)).save(d / f"{k:03d}.png")


def cli_commands(
    folder: Path, recipe: dict, classes, names, *, steps: int, seed: int, time_budget: float | None = None
) -> list[list[str]]:
    """The ``semlab`` command lines equivalent to :func:`run`'s U-Net on the split in ``folder``:
    train-segmenter, segment (the model on the test images) and score-segmentation."""
    f = str(folder)
    train = ["semlab", "train-segmenter", "--images", f"{f}/train/images", "--labels", f"{f}/train/labels",
             "--out", f"{f}/model", "--classes", ",".join(map(str, classes)), "--class-names", ",".join(names),
             "--max-steps", str(steps), "--depth", str(recipe["depth"]), "--width", str(recipe["width"]),
             "--patch-size", str(recipe["patch_size"]), "--batch-size", str(recipe["batch_size"]),
             "--val-every", str(recipe["val_every"]), "--patience", str(recipe["patience"]),
             "--val-fraction", str(recipe["val_fraction"]), "--downsample", str(recipe["downsample"]),
             "--seed", str(seed)]  # fmt: skip
    if recipe["invert"]:
        train.append("--invert")
    if "encoder" in recipe:  # the pretrained recipes (older lines stay as they were)
        train += ["--encoder", recipe["encoder"], "--encoder-weights", recipe["encoder_weights"],
                  "--augmentation", recipe["augmentation"], "--lr", str(recipe["lr"])]  # fmt: skip
    if time_budget is not None:
        train += ["--time-budget", str(time_budget)]
    segment = ["semlab", "segment", f"{f}/test/images", "--method", f"{f}/model", "--out", f"{f}/pred",
               "--tile-size", str(TILE), "--overlap", str(OVERLAP), "--no-crop", "--no-overlay"]  # fmt: skip
    score = ["semlab", "score-segmentation", "--truth", f"{f}/test/labels", "--pred", f"{f}/pred",
             "--out", f"{f}/scores.csv"]  # fmt: skip
    return [train, segment, score]


def reproduce_cli(name: str, row: dict) -> dict:
    """Run the recorded ``cli`` commands (``python -m semlab``) and compare their pooled mean IoU
    with the benchmark's U-Net row."""
    import csv
    import subprocess

    t0 = time.perf_counter()
    for line in row["cli"]:
        argv = shlex.split(line)
        subprocess.run([sys.executable, "-m", "semlab", *argv[1:]], check=True, cwd=ROOT)
    with open(Path(row["cli_folder"]) / "scores.csv", newline="") as fh:
        pooled_row = list(csv.DictReader(fh))[-1]
    cli_iou = round(float(pooled_row["mean_iou"]), 4)
    return {
        "benchmark_mean_iou": row["mean_iou"],
        "cli_mean_iou": cli_iou,
        "difference": round(cli_iou - row["mean_iou"], 4),
        "steps": row["steps"],
        "cli_seconds": round(time.perf_counter() - t0, 1),
        "within_0.02": abs(cli_iou - row["mean_iou"]) <= 0.02,
    }


def run(name, loader, steps, seed, polarity, time_budget=None, split=SPLIT):
    from semlab.segment import train_segmenter

    recipe = RECIPES[name]
    files, images, labels, classes, names, n_train = loader()
    tr_i, tr_l, te_i, te_l = images[:n_train], labels[:n_train], images[n_train:], labels[n_train:]
    out = {"n_train": len(tr_i), "n_test": len(te_i), "classes": dict(zip(names, classes, strict=True))}
    out.update(threshold_rows(name, te_i, te_l, classes, names, polarity))
    res = train_segmenter(
        tr_i,
        tr_l,
        classes=classes,
        class_names=names,
        model_options={"depth": recipe["depth"], "width": recipe["width"]},
        patch_size=recipe["patch_size"],
        batch_size=recipe["batch_size"],
        invert=recipe["invert"],
        downsample=recipe["downsample"],
        time_budget_s=time_budget,
        max_steps=steps,
        val_every=recipe["val_every"],
        patience=recipe["patience"],
        val_fraction=recipe["val_fraction"],
        seed=seed,
        log=lambda r: print(f"  {name} step {r['step']:5d} {r['seconds']:6.0f}s "
                            f"loss {r['train_loss']:.3f} val IoU {r['val_mean_iou']:.3f}", file=sys.stderr),
    )  # fmt: skip
    t0 = time.perf_counter()
    preds = [res.segmenter.predict(im, tile_size=TILE, overlap=OVERLAP) for im in te_i]
    infer_s = time.perf_counter() - t0
    folder = Path(split) / name
    write_split(folder, tr_i, tr_l, te_i, te_l)
    cli = cli_commands(folder, recipe, classes, names, steps=steps, seed=seed, time_budget=time_budget)
    unet = pooled(te_l, preds, classes, names)
    unet.update(
        {
            "train_seconds": round(res.seconds, 1),
            "time_budget_s": time_budget,
            "max_steps": steps,
            "steps": res.steps,
            "best_step": res.best_step,
            "best_val_iou": round(res.best_val_iou, 4),
            "stopped": res.stopped,
            "inference_seconds_per_image": round(infer_s / len(te_i), 3),
            "device": res.device,
            "config": {k: v for k, v in recipe.items() if k != "steps"},
            "cli_folder": str(folder),
            "cli": [shlex.join(c) for c in cli],
        }
    )
    out["unet"] = unet
    _ratios(out)
    return out


def _sources(recipe: dict):
    """Training pairs of the pretrained recipes: EMPS's first 64 images, then each other source's
    training images with its object class as 1 (ISBI: the first 24, cell interior 1, membrane 0);
    and EMPS's held-out 16 as the test set."""
    files, images, labels, classes, names, n_train = load_emps()
    tr_i, tr_l, counts = list(images[:n_train]), list(labels[:n_train]), {"emps": n_train}
    if "isbi" in recipe["sources"]:
        _, i_ims, i_lbs, _, _, i_train = load_isbi()
        tr_i += i_ims[:i_train]
        tr_l += [(lb == 255).astype(np.uint8) for lb in i_lbs[:i_train]]
        counts["isbi"] = i_train
    return tr_i, tr_l, images[n_train:], labels[n_train:], classes, names, counts


def paper_disjoint(files, n_train) -> list[int]:
    """Indices (into the test images) of the held-out EMPS images whose source paper (DOI in
    ``sources.csv``) has no training image: 7 of the 16.  The other 9 come from papers with training
    images (8 from the very same figure), which flatters any trained model."""
    import csv

    with open(files[0].parent.parent / "sources.csv", newline="") as fh:
        doi = {r["id"]: r["doi"] for r in csv.DictReader(fh)}
    seen = {doi.get(f.stem) for f in files[:n_train]}
    return [k for k, f in enumerate(files[n_train:]) if doi.get(f.stem) not in seen]


def _device_name(device: str) -> str:
    import torch

    if device.startswith("cuda") and torch.cuda.is_available():
        return f"cuda ({torch.cuda.get_device_name(0)})"
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def run_pretrained(recipe_name, steps, seed, time_budget=None, split=SPLIT, device="auto"):
    """The U-Net row of a pretrained/strong-augmentation recipe on the held-out EMPS images."""
    from semlab.segment import train_segmenter

    recipe = RECIPES[recipe_name]
    tr_i, tr_l, te_i, te_l, classes, names, counts = _sources(recipe)
    t0 = time.perf_counter()
    res = train_segmenter(
        tr_i, tr_l, classes=classes, class_names=names,
        model_options={"depth": recipe["depth"], "width": recipe["width"], "encoder": recipe["encoder"]},
        encoder_weights=recipe["encoder_weights"], augmentation=recipe["augmentation"], lr=recipe["lr"],
        patch_size=recipe["patch_size"], batch_size=recipe["batch_size"], invert=recipe["invert"],
        downsample=recipe["downsample"], time_budget_s=time_budget, max_steps=steps,
        val_every=recipe["val_every"], patience=recipe["patience"], val_fraction=recipe["val_fraction"],
        seed=seed, device=device,
        log=lambda r: print(f"  {recipe_name} step {r['step']:5d} {r['seconds']:6.0f}s "
                            f"loss {r['train_loss']:.3f} val IoU {r['val_mean_iou']:.3f}", file=sys.stderr),
    )  # fmt: skip
    wall = time.perf_counter() - t0
    t1 = time.perf_counter()
    preds = [res.segmenter.predict(im, tile_size=TILE, overlap=OVERLAP, device=device) for im in te_i]
    infer_s = time.perf_counter() - t1
    folder = Path(split) / recipe_name
    write_split(folder, tr_i, tr_l, te_i, te_l)
    cli = cli_commands(folder, recipe, classes, names, steps=steps, seed=seed, time_budget=time_budget)
    extra = res.segmenter.meta.get("extra") or {}
    row = pooled(te_l, preds, classes, names)
    files, _, _, _, _, n_emps = load_emps()
    keep = paper_disjoint(files, n_emps)
    sub = pooled([te_l[k] for k in keep], [preds[k] for k in keep], classes, names)
    row.update(
        {
            "paper_disjoint_test": {"images": len(keep), **sub},
            "recipe": recipe_name,
            "sources": {k: f"{v} training images" for k, v in counts.items()},
            "test": f"EMPS held-out: the last {len(te_i)} of 80 images sorted by name (none used in training)",
            "train_seconds": round(res.seconds, 1),
            "wall_seconds_with_setup": round(wall, 1),
            "time_budget_s": time_budget,
            "max_steps": steps,
            "steps": res.steps,
            "images_seen": res.steps * recipe["batch_size"],
            "best_step": res.best_step,
            "best_val_iou": round(res.best_val_iou, 4),
            "stopped": res.stopped,
            "inference_seconds_per_image": round(infer_s / len(te_i), 3),
            "device": _device_name(res.device),
            "encoder": _encoder_record(res),
            "augmentation": {"kind": recipe["augmentation"], "polarity_inversion": recipe["invert"]},
            "config": {k: v for k, v in recipe.items() if k != "steps"},
            "training_record": extra.get("training"),
            "cli_folder": str(folder),
            "cli": [shlex.join(c) for c in cli],
        }
    )
    return row


def _encoder_record(res) -> dict:
    """Encoder name, weights source and SHA-256 (what train_segmenter stored with the model)."""
    name = getattr(getattr(res.segmenter.model, "config", None), "encoder", "none")
    return {"name": name, **((res.segmenter.meta.get("extra") or {}).get("encoder") or {})}


def _row_ratios(row: dict, thresholds: dict) -> None:
    """The U-Net row's mean IoU over the best threshold needing no truth, and over the oracle."""
    fair = {k: v for k, v in thresholds.items() if "oracle" not in k}
    best = max(fair, key=fair.get)
    row["over_best_threshold_without_truth"] = {
        "threshold": best,
        "ratio": round(row["mean_iou"] / fair[best], 3),
    }
    oracle = {k: v for k, v in thresholds.items() if "oracle" in k}
    if oracle:
        b = max(oracle, key=oracle.get)
        row["over_best_oracle_polarity_threshold"] = {
            "threshold": b,
            "ratio": round(row["mean_iou"] / oracle[b], 3),
        }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--steps",
        type=int,
        default=None,
        help="U-Net optimiser steps per dataset (default: the recipe's, ISBI 328, EMPS 408)",
    )
    ap.add_argument(
        "--time-budget",
        "--budget",
        dest="time_budget",
        type=float,
        default=None,
        help="optional wall-clock cap in seconds on the U-Net training (makes runs machine-dependent)",
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", choices=("isbi", "emps"), default=None)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument(
        "--split-dir",
        type=Path,
        default=SPLIT,
        help="where the train/test split is written as files for the recorded CLI commands",
    )
    ap.add_argument(
        "--thresholds-only",
        action="store_true",
        help="recompute only the threshold rows (raw and denoised); keep the stored U-Net rows",
    )
    ap.add_argument(
        "--reproduce-cli",
        action="store_true",
        help="after the U-Net, run its recorded semlab commands and record unet_cli_reproduction",
    )
    ap.add_argument(
        "--recipe",
        action="append",
        default=None,
        choices=sorted(k for k in RECIPES if "_" in k),
        help="train only this pretrained/strong-augmentation recipe (repeatable): row unet_<suffix> "
        "in emps; thresholds and the other rows are kept",
    )
    ap.add_argument("--device", default="auto", help="auto, cpu or cuda (the pretrained recipes)")
    ap.add_argument(
        "--data",
        type=Path,
        default=None,
        help="the segmentation data folder (default ../shared/data/segmentation)",
    )
    ap.add_argument(
        "--results",
        type=Path,
        default=None,
        help="results JSON to update (default benchmarks/results/segment.json)",
    )
    args = ap.parse_args(argv)
    import torch

    global DATA, RESULTS
    DATA, RESULTS = args.data or DATA, args.results or RESULTS
    torch.set_num_threads(args.threads)
    if not DATA.is_dir():
        print(f"skipped: {DATA} not found", file=sys.stderr)
        return 0
    results = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    results.update(
        {
            "benchmark": "semlab.segment U-Net vs thresholds",
            "torch": torch.__version__,
            "threads": args.threads,
            "cpu": platform.processor() or platform.machine(),
            "cuda": torch.cuda.is_available(),
            "seed": args.seed,
        }
    )
    if args.recipe:
        return _main_recipes(args, results)
    jobs = {"isbi": (load_isbi, (0, 255)), "emps": (load_emps, (1, 0))}
    for name, (loader, polarity) in jobs.items():
        if args.only and name != args.only:
            continue
        if args.thresholds_only:
            r = dict(results.get(name, {}))
            files, images, labels, classes, names, n_train = loader()
            r.update(threshold_rows(name, images[n_train:], labels[n_train:], classes, names, polarity))
            if "unet" in r:
                _ratios(r)
        else:
            steps = args.steps or RECIPES[name]["steps"]
            r = run(name, loader, steps, args.seed, polarity, args.time_budget, args.split_dir)
            print("equivalent CLI:\n  " + "\n  ".join(r["unet"]["cli"]), file=sys.stderr)
            if args.reproduce_cli:
                r["unet_cli_reproduction"] = reproduce_cli(name, r["unet"])
        results[name] = r
        print(json.dumps({name: r}, indent=2))
        from semlab._util import atomic_write_text

        atomic_write_text(RESULTS, json.dumps(results, indent=2) + "\n")
    print(f"wrote {RESULTS}")
    return 0


def _main_recipes(args, results: dict) -> int:
    """Train the ``--recipe`` rows one after the other, writing the results after each."""
    from semlab._util import atomic_write_text

    for recipe in args.recipe:
        row_name = "unet_" + recipe.removeprefix("emps_")
        steps = args.steps or RECIPES[recipe]["steps"]
        row = run_pretrained(recipe, steps, args.seed, args.time_budget, args.split_dir, args.device)
        emps = results.setdefault("emps", {})
        _row_ratios(row, _threshold_scores(emps))
        print("equivalent CLI:\n  " + "\n  ".join(row["cli"]), file=sys.stderr)
        if args.reproduce_cli:
            row["cli_reproduction"] = reproduce_cli(recipe, row)
        emps[row_name] = row
        print(json.dumps({row_name: row}, indent=2))
        atomic_write_text(RESULTS, json.dumps(results, indent=2) + "\n")
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
