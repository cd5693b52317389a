"""Does a run's domain score separate foreign images from new in-domain ones?  And calibration.

Data: the quick synthetic sintering series (4 burst counts x 2 samples x 2 images, 256 px,
0.008 um/px), embedded with the offline EfficientNet-Lite0 (4 patches of 224 px per image),
as tests/learn/conftest.py builds it.  A logreg head on burst_count, 2 grouped folds, on the
``final`` and on the ``multiscale`` feature set (one run each).

Scored images:

* held out: 8 new series images (1 sample per burst count x 2 images, seed 7), never trained on;
* black: a black 256 px frame at the training pixel size;
* drawing: a rendered line drawing with a box and text (a "figure", not a micrograph);
* FEI black frame and the Zeiss 1k TiO2 SEM file of ../shared/data/sem-metadata at their own
  pixel sizes (skipped when the folder is absent).

For the domain model used (k-NN mean distance of standardised image-mean features, std floored
at 0.1 x median std, threshold = 99th percentile of leave-group-out training scores) and for
alternatives (std floor at 1 x median std; one global scale; Mahalanobis with Ledoit-Wolf
shrinkage), every score is divided by that method's own threshold: held-out images should stay
below 1, foreign ones far above.  Calibration: the run's temperature and image ECE before/after.

Run:  .venv/bin/python benchmarks/bench_domain.py
Writes benchmarks/results/domain.json.
"""

from __future__ import annotations

import platform
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "domain.json"
SHARED = ROOT.parent / "shared" / "data" / "sem-metadata"


def _drawing() -> np.ndarray:
    from PIL import Image, ImageDraw

    img = Image.new("L", (256, 256), 255)
    d = ImageDraw.Draw(img)
    for k in range(8):
        d.line([(10, 20 + 28 * k), (246, 30 + 25 * k)], fill=0, width=3)
    d.text((30, 120), "Figure 3: TEM of TiO2", fill=0)
    d.rectangle([60, 150, 200, 230], outline=0, width=4)
    return np.asarray(img)


def _workspace(root: Path) -> Path:
    from semlab.data import sintering_series
    from semlab.dataset import Workspace
    from semlab.features import embed_workspace, max_patch_size
    from semlab.preprocess import Preparation

    sintering_series(root / "series", shape=(256, 256), samples_per_level=2, images_per_sample=2, seed=0)
    ws = Workspace.init(root / "ws")
    ws.add(table=root / "series" / "descriptors.csv", images_dir=root / "series")
    recipe = Preparation(patch_size=min(224, max_patch_size(ws)), patches_per_image=4, seed=0)
    embed_workspace(ws, backbone="efficientnet_lite0", preparation=recipe)
    sintering_series(root / "heldout", shape=(256, 256), samples_per_level=1, images_per_sample=2, seed=7)
    return ws.path


def _images(root: Path, pixel_size: float) -> dict[str, list]:
    from semlab.io import Micrograph, read_micrograph

    out = {
        "held_out": [read_micrograph(f) for f in sorted((root / "heldout" / "images").glob("*.tif"))],
        "black": [Micrograph(np.zeros((256, 256), np.uint8), pixel_size, {})],
        "drawing": [Micrograph(_drawing(), pixel_size, {})],
    }
    for key, name in (
        ("fei_black_frame", "FEI-Helios-Ebeam-8bits.tif"),
        ("zeiss_sem", "test_tiff_Zeiss_SEM_1k.tif"),
    ):
        if (SHARED / name).is_file():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out[key] = [read_micrograph(SHARED / name)]
    return out


def _alternatives(means: np.ndarray, groups: np.ndarray, feats: dict[str, np.ndarray]) -> dict:
    """Score ÷ own threshold of each method, per image kind (max for held-out, min for the rest)."""
    from sklearn.covariance import LedoitWolf

    import semlab.learn.domain as D

    def floored(f: float):
        def st(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            sd = x.std(0)
            return x.mean(0), np.maximum(sd, max(f * float(np.median(sd)), 1e-6))

        return st

    def global_scale(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        sd = x.std(0)
        return x.mean(0), np.full_like(sd, float(np.sqrt((sd**2).mean())) or 1.0)

    def maha(ref: np.ndarray, q: np.ndarray) -> np.ndarray:
        return np.sqrt(LedoitWolf().fit(ref).mahalanobis(q) / ref.shape[1])

    def summary(scores: dict[str, np.ndarray], thr: float) -> dict:
        return {
            k: round(float((v.max() if k == "held_out" else v.min()) / thr), 3) for k, v in scores.items()
        } | {"threshold": round(float(thr), 3)}

    original = D._standardiser
    out = {}
    try:
        for name, st in (
            ("knn_floor_0.1_median_std (used)", floored(0.1)),
            ("knn_floor_1.0_median_std", floored(1.0)),
            ("knn_global_scale", global_scale),
        ):
            D._standardiser = st
            dom = D.fit_domain(means, groups)
            out[name] = summary({k: dom.score(v) for k, v in feats.items()}, dom.threshold)
    finally:
        D._standardiser = original
    oof = np.concatenate([maha(means[groups != g], means[groups == g]) for g in np.unique(groups)])
    out["mahalanobis_ledoit_wolf"] = summary(
        {k: maha(means, v) for k, v in feats.items()}, np.quantile(oof, 0.99)
    )
    return out


def _one_set(root: Path, ws_path: Path, feature_set: str) -> dict:
    from semlab.dataset import Workspace
    from semlab.learn import load_predictor, train_workspace
    from semlab.learn.compare import load_feature_set
    from semlab.learn.metrics import aggregate_by_image
    from semlab.learn.run import _target_rows

    run = train_workspace(
        ws_path,
        target="burst_count",
        model="logreg",
        folds=2,
        out=root / f"run-{feature_set}",
        plots=False,
        feature_set=feature_set,
        compare="none",
    )
    p = load_predictor(run.run_dir)
    ws = Workspace.open(ws_path)
    images = _images(root, float(ws.table()["pixel_size_um"].iloc[0]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # native-scale tiling notes of the vendor files
        table = {k: p.predict(v) for k, v in images.items()}
        feats = {k: np.array([p.features(p.patches([m])[0]).mean(0) for m in v]) for k, v in images.items()}
    ft, _ = load_feature_set(ws, feature_set)
    rows = _target_rows(ws, ft, "burst_count")
    ids, means = aggregate_by_image(rows.x, rows.hashes)
    group_of = dict(zip(rows.hashes, rows.groups, strict=True))
    cal = run.metrics["calibration"]
    return {
        "image_accuracy": run.metrics["image"]["accuracy"],
        "domain_threshold": run.metrics["domain"]["threshold"],
        "domain_scores": {
            k: {
                "scores": [round(float(s), 3) for s in t["domain_score"]],
                "in_domain": [bool(b) for b in t["in_domain"]],
                "quality_flags": list(t["quality_flags"]),
            }
            for k, t in table.items()
        },
        "score_over_threshold_by_method": _alternatives(means, np.array([group_of[i] for i in ids]), feats),
        "calibration": {
            k: cal[k] for k in ("temperature", "fitted_temperature", "ece_before", "ece_after", "n", "n_bins")
        },
    }


def main() -> dict:
    from semlab._util import write_json

    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        ws_path = _workspace(root)
        sets = {fs: _one_set(root, ws_path, fs) for fs in ("final", "multiscale")}
    result = {
        "benchmark": "domain score and calibration of a feature-head run (synthetic sintering series)",
        "run": {"target": "burst_count", "model": "logreg", "folds": 2, "split": "sample"},
        "feature_sets": sets,
        "seconds": round(time.perf_counter() - t0, 1),
        "machine": platform.platform(),
    }
    write_json(RESULTS, result)
    return result


if __name__ == "__main__":
    import json

    print(json.dumps(main(), indent=1))
    sys.exit(0)
