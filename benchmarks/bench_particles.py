"""Particle counting on the real EMPS instance maps: watershed split vs connected components.

Data: ``../shared/data/segmentation/emps-train/segmaps`` (80 uint16 instance maps, 0 =
background; skipped when absent).  For each map the binary mask ``instances > 0`` is split
into particles by

* ``watershed`` — :func:`semlab.segment.split_particles` with the library defaults (the neck
  marker rule), and
* ``connected_components`` — 8-connected components of the mask (what counting did before),

and each result is scored against the true instances with
:func:`semlab.segment.score_instances`: relative count error, relative error of the median
equivalent diameter, object-level F1 at IoU 0.5 (one-to-one matches).  The JSON gives every
image's numbers, the median and the mean of each score, and the share of images whose count
is within 15 %.

Choice of the defaults: a small grid of ``split_ratio`` × ``sigma`` is scored on the
even-numbered maps (by sorted name) and the best mean absolute count error is reported with
its scores on the odd-numbered maps (held out), beside the library default.

With ``--from-images`` the mask also comes from the micrograph (denoised Otsu, foreground
chosen by ``semlab.segment.auto_foreground``) where this semlab has it: the end-to-end count,
which is limited by the mask (specks and holes of a threshold), not by the splitting; the
variant with ``fill_holes=True, min_area_px=300`` shows what the options recover (300 px was
picked by looking at these numbers, so it is in-sample).

Run:  .venv/bin/python benchmarks/bench_particles.py [--from-images]
Writes benchmarks/results/particles.json.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
EMPS = ROOT.parent / "shared" / "data" / "segmentation" / "emps-train"
RESULTS = ROOT / "benchmarks" / "results" / "particles.json"
GRID = {"split_ratio": (0.1, 0.2, 0.3, 0.4), "sigma": (0.0, 1.0, 2.0)}


def load_maps(folder: Path = EMPS) -> tuple[list[str], list[np.ndarray]]:
    from PIL import Image

    files = sorted((folder / "segmaps").glob("*.png"))
    return [f.stem for f in files], [np.asarray(Image.open(f)).astype(np.int64) for f in files]


def connected_components(mask: np.ndarray) -> np.ndarray:
    from scipy import ndimage as ndi

    return ndi.label(mask, structure=np.ones((3, 3)))[0]


def cc_min_area(mask: np.ndarray, min_area_px: int) -> np.ndarray:
    lab = connected_components(mask)
    keep = np.bincount(lab.ravel()) >= min_area_px
    keep[0] = False
    return np.where(keep[lab], lab, 0)


def score_method(truths: list[np.ndarray], split, masks: list[np.ndarray] | None = None) -> dict:
    """Per-image scores and their summaries for one way of splitting a mask."""
    from semlab.segment import score_instances

    rows, seconds = [], 0.0
    for k, t in enumerate(truths):
        mask = (t > 0) if masks is None else masks[k]
        t0 = time.process_time()
        pred = split(mask)
        seconds += time.process_time() - t0
        rows.append(score_instances(t, pred).to_dict())
    return {"summary": summarise(rows), "cpu_s_per_image": seconds / max(len(truths), 1), "images": rows}


def summarise(rows: list[dict]) -> dict:
    ce = np.array([r["count_error"] for r in rows], dtype=float)
    de = np.array([r["median_diameter_error"] for r in rows], dtype=float)
    f1 = np.array([r["f1"] for r in rows], dtype=float)
    return {
        "n_images": len(rows),
        "median_count_error": float(np.nanmedian(ce)),
        "median_abs_count_error": float(np.nanmedian(np.abs(ce))),
        "mean_abs_count_error": float(np.nanmean(np.abs(ce))),
        "share_within_15pct": float(np.mean(np.abs(ce) <= 0.15)),
        "median_abs_median_diameter_error": float(np.nanmedian(np.abs(de))),
        "mean_abs_median_diameter_error": float(np.nanmean(np.abs(de))),
        "median_f1": float(np.median(f1)),
        "mean_f1": float(np.mean(f1)),
        "pooled_count_error": float(
            sum(r["n_pred"] - r["n_true"] for r in rows) / sum(r["n_true"] for r in rows)
        ),
    }


def tune(truths: list[np.ndarray]) -> dict:
    """Grid of the neck rule's options on the even-numbered maps, the best scored on the odd ones."""
    from semlab.segment import split_particles

    even, odd = truths[0::2], truths[1::2]
    grid = []
    for ratio in GRID["split_ratio"]:
        for sigma in GRID["sigma"]:
            s = score_method(even, lambda m, r=ratio, g=sigma: split_particles(m, split_ratio=r, sigma=g))[
                "summary"
            ]
            grid.append({"split_ratio": ratio, "sigma": sigma, **s})
    best = min(grid, key=lambda g: (g["mean_abs_count_error"], -g["mean_f1"]))
    held = score_method(
        odd, lambda m: split_particles(m, split_ratio=best["split_ratio"], sigma=best["sigma"])
    )
    return {"grid_even_images": grid, "best": {k: best[k] for k in ("split_ratio", "sigma")},
            "best_on_odd_images": held["summary"]}  # fmt: skip


def image_masks(names: list[str]) -> list[np.ndarray] | None:
    """Denoised-Otsu masks of the micrographs, the auto foreground rule choosing the phase."""
    import semlab.segment as S
    from semlab.io import read_micrograph

    auto = getattr(S, "auto_foreground", None)
    if auto is None:
        return None
    masks = []
    for n in names:
        im = read_micrograph(EMPS / "images" / f"{n}.png").image
        grey = im.mean(axis=2) if im.ndim == 3 else im
        bright = S.otsu_threshold(grey).labels == 0
        masks.append(bright if auto(grey).foreground == "bright" else ~bright)
    return masks


def main() -> None:
    from scipy import ndimage as ndi

    from semlab import __version__
    from semlab._util import write_json
    from semlab.segment import split_particles

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--from-images", action="store_true", help="also score masks thresholded from the images")
    args = ap.parse_args()
    if not (EMPS / "segmaps").is_dir():
        print(f"EMPS instance maps not found at {EMPS}; nothing to do")
        return
    names, truths = load_maps()
    ws = score_method(truths, lambda m: split_particles(m))
    cc = score_method(truths, connected_components)
    for rows in (ws["images"], cc["images"]):
        for name, r in zip(names, rows, strict=True):
            r["image"] = name
    out: dict = {
        "data": "EMPS training split, first 80 ids (../shared/data/segmentation/emps-train/segmaps)",
        "mask": "instances > 0 (the true particle mask; only the splitting is scored)",
        "marker_rule": "neck: h-maxima of log(Gaussian-smoothed distance transform), h = -log(1 - split_ratio); "
        "watershed of -distance from these markers inside the mask",
        "defaults": {"split_ratio": 0.2, "sigma": 2.0, "min_area_px": 0, "fill_holes": False},
        "watershed": ws,
        "connected_components": cc,
        "tuning": tune(truths),
        "semlab": __version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    if args.from_images:
        masks = image_masks(names)
        if masks is not None:
            out["from_images_otsu_auto"] = {
                "watershed": score_method(truths, lambda m: split_particles(m), masks)["summary"],
                "connected_components": score_method(truths, connected_components, masks)["summary"],
                "watershed_fill_holes_min_area_300px": score_method(
                    truths, lambda m: split_particles(m, fill_holes=True, min_area_px=300), masks
                )["summary"],
                "connected_components_fill_holes_min_area_300px": score_method(
                    truths, lambda m: cc_min_area(ndi.binary_fill_holes(m), 300), masks
                )["summary"],
            }
    write_json(RESULTS, out)
    for key in ("watershed", "connected_components"):
        s = out[key]["summary"]
        print(f"{key:22s} median count error {s['median_count_error']:+.3f}  mean |count error| "
              f"{s['mean_abs_count_error']:.3f}  within 15 % {s['share_within_15pct']:.2f}  "
              f"median |diameter error| {s['median_abs_median_diameter_error']:.3f}  mean F1 {s['mean_f1']:.3f}")  # fmt: skip
    print(f"tuning: best {out['tuning']['best']} ; odd images {out['tuning']['best_on_odd_images']}")
    if "from_images_otsu_auto" in out:
        print(f"from images: {out['from_images_otsu_auto']}")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    sys.exit(main())
