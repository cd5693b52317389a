"""Segmentation benchmark: U-Net trained for a CPU time budget vs threshold baselines.

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

Run:  .venv/bin/python benchmarks/bench_segment.py [--budget 180] [--only isbi|emps]
Writes benchmarks/results/segment.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
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


def threshold_preds(images, truths, method, dark_value, bright_value, *, oracle, minority=False):
    from semlab.segment import score_segmentation, threshold_image

    preds = []
    for im, tr in zip(images, truths, strict=True):
        dark = threshold_image(im, method=method).labels == 1
        a = np.where(dark, dark_value, bright_value).astype(np.uint8)
        if minority and dark.mean() > 0.5:  # the smaller phase is the particles
            a = np.where(dark, bright_value, dark_value).astype(np.uint8)
        if oracle:
            b = np.where(dark, bright_value, dark_value).astype(np.uint8)
            if score_segmentation(tr, b).mean_iou > score_segmentation(tr, a).mean_iou:
                a = b
        preds.append(a)
    return preds


def _ratios(out: dict) -> None:
    """U-Net mean IoU over the best threshold that needs no truth, and over the oracle ones."""
    scored = {k: v["mean_iou"] for k, v in out.items() if isinstance(v, dict) and "mean_iou" in v and k != "unet"}
    fair = max(v for k, v in scored.items() if "oracle" not in k)
    out["unet_over_best_threshold_iou_ratio"] = round(out["unet"]["mean_iou"] / fair, 3)
    oracle = [v for k, v in scored.items() if "oracle" in k]
    if oracle:
        out["unet_over_oracle_polarity_threshold_iou_ratio"] = round(out["unet"]["mean_iou"] / max(oracle), 3)


def run(name, loader, budget, seed, polarity, invert=False, downsample=1):

    from semlab.segment import train_segmenter

    files, images, labels, classes, names, n_train = loader()
    tr_i, tr_l, te_i, te_l = images[:n_train], labels[:n_train], images[n_train:], labels[n_train:]
    out = {"n_train": len(tr_i), "n_test": len(te_i), "classes": dict(zip(names, classes, strict=True))}
    dark_value, bright_value = polarity
    for method in ("otsu", "derivative"):
        out[method] = pooled(te_l, threshold_preds(te_i, te_l, method, dark_value, bright_value, oracle=False), classes, names)
        if name == "emps":
            out[f"{method}_minority_is_particle"] = pooled(
                te_l,
                threshold_preds(te_i, te_l, method, dark_value, bright_value, oracle=False, minority=True),
                classes,
                names,
            )
            out[f"{method}_oracle_polarity"] = pooled(
                te_l, threshold_preds(te_i, te_l, method, dark_value, bright_value, oracle=True), classes, names
            )
    log = []
    res = train_segmenter(
        tr_i,
        tr_l,
        classes=classes,
        class_names=names,
        model_options={"depth": 4, "width": 16},
        patch_size=128,
        batch_size=8,
        invert=invert,
        downsample=downsample,
        time_budget_s=budget,
        max_steps=100_000,
        val_every=25,
        patience=12,
        val_fraction=0.125,
        seed=seed,
        log=lambda r: (log.append(r), print(f"  {name} step {r['step']:5d} {r['seconds']:6.0f}s "
                                                   f"loss {r['train_loss']:.3f} val IoU {r['val_mean_iou']:.3f}",
                                                   file=sys.stderr)),
    )
    t0 = time.perf_counter()
    preds = [res.segmenter.predict(im, tile_size=256, overlap=32) for im in te_i]
    infer_s = time.perf_counter() - t0
    out["unet"] = pooled(te_l, preds, classes, names)
    out["unet"].update(
        {
            "train_seconds": round(res.seconds, 1),
            "time_budget_s": budget,
            "steps": res.steps,
            "best_step": res.best_step,
            "best_val_iou": round(res.best_val_iou, 4),
            "stopped": res.stopped,
            "inference_seconds_per_image": round(infer_s / len(te_i), 3),
            "device": res.device,
            "config": {"depth": 4, "width": 16, "patch_size": 128, "batch_size": 8, "invert": invert,
                       "downsample": downsample},
        }
    )
    _ratios(out)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget", type=float, default=180.0, help="U-Net training seconds per dataset")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", choices=("isbi", "emps"), default=None)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    import torch

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
    # EMPS particles are dark on some images and bright on others: train with grey-value
    # inversion as an augmentation there.
    # and shrink them 4× so a 128-pixel patch sees whole particles.
    jobs = {"isbi": (load_isbi, (0, 255), False, 1), "emps": (load_emps, (1, 0), True, 4)}
    for name, (loader, polarity, invert, downsample) in jobs.items():
        if args.only and name != args.only:
            continue
        r = run(name, loader, args.budget, args.seed, polarity, invert, downsample)
        results[name] = r
        print(json.dumps({name: r}, indent=2))
        from semlab._util import atomic_write_text

        atomic_write_text(RESULTS, json.dumps(results, indent=2) + "\n")
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
