"""How often does each automatic foreground rule pick the phase of interest on real images?

Datasets (real, from ../shared/data/segmentation; skipped when absent):

* EMPS particles — 80 images, instance map > 0 = particle.  The truth's polarity of an image
  is the phase (bright or dark, of the denoised Otsu split) whose mask overlaps the particles
  best (IoU), as the ``otsu_oracle_polarity`` rows of segment.json choose it.
* ISBI 2012 membranes — 30 images, label 255 = cell interior, 0 = membrane.  The phase of
  interest counted here is the cell interior (the enclosed objects, the non-zero label, as in
  the EMPS maps); the hit rate for membranes as the phase of interest is ``1 - hit rate``
  and is written beside it.

``default_rule_uncertain`` counts the images whose automatic choice is flagged uncertain
(``|margin| < UNCERTAIN_MARGIN``, a warning in ``segment_labelled``), and how many of the
default rule's misses are among them.

For every rule of ``semlab.segment.FOREGROUND_RULES`` the hit rate is the share of images
where ``auto_foreground(image, rule=...)`` names that polarity.  On the EMPS test split of
bench_segment (the last 16 images by name) and on all 80 images the particle IoU of the
denoised Otsu threshold is pooled over all pixels with the automatic rule, with the oracle
polarity, and with the old ``minority`` rule.

Run:  .venv/bin/python benchmarks/bench_foreground.py
Writes benchmarks/results/foreground.json.
"""

from __future__ import annotations

import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
RESULTS = ROOT / "benchmarks" / "results" / "foreground.json"


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = int((a | b).sum())
    return float((a & b).sum()) / union if union else float("nan")


def measure(images, truths, *, test_from: int | None = None) -> dict:
    """Per-rule hit rates and the pooled Otsu particle IoU of the auto rule vs the oracle."""
    from semlab.segment import FOREGROUND_RULES, auto_foreground, otsu_threshold

    hits: dict[str, list[bool]] = {r: [] for r in FOREGROUND_RULES}
    polarity, chosen, seconds, uncertain = [], [], 0.0, []
    for im, fg in zip(images, truths, strict=True):
        bright = otsu_threshold(im).labels == 0
        oracle = "bright" if _iou(bright, fg) > _iou(~bright, fg) else "dark"
        polarity.append((bright, oracle))
        for rule in FOREGROUND_RULES:
            t0 = time.process_time()
            choice = auto_foreground(im, rule=rule)
            if rule == FOREGROUND_RULES[0]:
                seconds += time.process_time() - t0
                chosen.append(choice.foreground)
                uncertain.append(choice.uncertain)
            hits[rule].append(choice.foreground == oracle)
    out: dict = {
        "n_images": len(images),
        "hit_rate": {r: round(float(np.mean(v)), 4) for r, v in hits.items()},
        "hits": {r: int(np.sum(v)) for r, v in hits.items()},
        "default_rule": FOREGROUND_RULES[0],
        "default_rule_uncertain": int(np.sum(uncertain)),
        "default_rule_misses_flagged_uncertain": int(
            sum(u and not h for u, h in zip(uncertain, hits[FOREGROUND_RULES[0]], strict=True))
        ),
        "auto_cpu_s_per_image": round(seconds / max(len(images), 1), 4),
    }
    return out, polarity, chosen, hits


def pooled_iou(polarity, chosen, truths, minority_hits=None) -> dict:
    """Pooled particle IoU of the denoised Otsu split: auto rule, oracle and minority polarity."""
    out = {}
    for name, picks in (("auto", chosen), ("oracle", [o for _, o in polarity])):
        preds = [b if p == "bright" else ~b for (b, _), p in zip(polarity, picks, strict=True)]
        out[name] = round(
            _iou(np.concatenate([p.ravel() for p in preds]), np.concatenate([t.ravel() for t in truths])), 4
        )
    minority = [b if b.mean() < 0.5 else ~b for b, _ in polarity]
    out["minority"] = round(
        _iou(np.concatenate([p.ravel() for p in minority]), np.concatenate([t.ravel() for t in truths])), 4
    )
    return out


def main() -> int:
    from bench_segment import DATA, load_emps, load_isbi

    result: dict = {"python": platform.python_version(), "machine": platform.machine()}
    if (DATA / "emps-train").is_dir():
        files, images, labels, *_ = load_emps()
        truths = [lab > 0 for lab in labels]
        out, polarity, chosen, _ = measure(images, truths)
        out["phase_of_interest"] = "particle (instance map > 0)"
        out["otsu_denoised_particle_iou_all"] = pooled_iou(polarity, chosen, truths)
        out["otsu_denoised_particle_iou_test16"] = pooled_iou(polarity[64:], chosen[64:], truths[64:])
        out["misses_default_rule"] = [
            f.name for f, (_, o), c in zip(files, polarity, chosen, strict=True) if o != c
        ]
        result["emps"] = out
    if (DATA / "isbi-membrane").is_dir():
        files, images, labels, *_ = load_isbi()
        truths = [lab > 0 for lab in labels]
        out, *_ = measure(images, truths)
        out["phase_of_interest"] = "cell interior (label 255, the enclosed objects)"
        out["hit_rate_if_membrane_is_the_phase"] = {r: round(1 - v, 4) for r, v in out["hit_rate"].items()}
        result["isbi"] = out
    from semlab._util import write_json

    write_json(RESULTS, result)
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
