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

Thresholds are scored twice: on the raw pixels (``otsu``, ``derivative``: ``denoise=False``)
and with their default denoising (``*_denoised``: Gaussian σ = 1 px before, regions below
16 px merged after).  Each threshold row records its CPU seconds per test image; on EMPS the
hybrid annotation (pore + shine-through = dark, smaller phase = particle) is scored for its cost.

Run:  .venv/bin/python benchmarks/bench_segment.py [--budget 180] [--only isbi|emps] [--thresholds-only]
Writes benchmarks/results/segment.json (--thresholds-only: only the threshold rows are
recomputed, the stored U-Net rows are kept).
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


def _dark(image, method, denoise):
    """Dark-phase mask of a threshold (or of hybrid: pore and shine-through pore)."""
    from semlab.segment import hybrid_annotation, threshold_image

    if method == "hybrid":
        return hybrid_annotation(image).labels > 0
    return threshold_image(image, method=method, denoise=denoise).labels == 1


def threshold_preds(images, truths, method, dark_value, bright_value, *, oracle, minority=False, denoise=False):
    from semlab.segment import score_segmentation

    preds = []
    for im, tr in zip(images, truths, strict=True):
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


def _ratios(out: dict) -> None:
    """U-Net mean IoU over the best threshold that needs no truth, and over the oracle ones."""
    scored = {k: v["mean_iou"] for k, v in out.items() if isinstance(v, dict) and "mean_iou" in v and k != "unet"}
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


def threshold_rows(name, te_i, te_l, classes, names, polarity):
    """Rows of the thresholds on the test images: raw pixels (``otsu``, ``derivative``, as before
    denoising became their default) and ``*_denoised`` (the defaults: Gaussian σ = 1 px, regions
    below 16 px merged); on EMPS also the polarity rules and the hybrid annotation (pore and
    shine-through = dark), for its cost."""
    out = {}
    variants = [("", {"oracle": False})]
    if name == "emps":
        variants += [("_minority_is_particle", {"oracle": False, "minority": True}),
                     ("_oracle_polarity", {"oracle": True})]  # fmt: skip
    for method in ("otsu", "derivative"):
        for suffix, kw in variants:
            out[f"{method}{suffix}"] = _scored(te_i, te_l, method, polarity, classes, names, **kw)
            out[f"{method}_denoised{suffix}"] = _scored(
                te_i, te_l, method, polarity, classes, names, denoise=True, **kw
            )
    if name == "emps":
        out["hybrid_minority_is_particle"] = _scored(
            te_i, te_l, "hybrid", polarity, classes, names, oracle=False, minority=True
        )
    return out


def run(name, loader, budget, seed, polarity, invert=False, downsample=1):

    from semlab.segment import train_segmenter

    files, images, labels, classes, names, n_train = loader()
    tr_i, tr_l, te_i, te_l = images[:n_train], labels[:n_train], images[n_train:], labels[n_train:]
    out = {"n_train": len(tr_i), "n_test": len(te_i), "classes": dict(zip(names, classes, strict=True))}
    out.update(threshold_rows(name, te_i, te_l, classes, names, polarity))
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
    ap.add_argument("--thresholds-only", action="store_true",
                    help="recompute only the threshold rows (raw and denoised); keep the stored U-Net rows")
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
        if args.thresholds_only:
            r = dict(results.get(name, {}))
            files, images, labels, classes, names, n_train = loader()
            r.update(threshold_rows(name, images[n_train:], labels[n_train:], classes, names, polarity))
            if "unet" in r:
                _ratios(r)
        else:
            r = run(name, loader, args.budget, args.seed, polarity, invert, downsample)
        results[name] = r
        print(json.dumps({name: r}, indent=2))
        from semlab._util import atomic_write_text

        atomic_write_text(RESULTS, json.dumps(results, indent=2) + "\n")
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
