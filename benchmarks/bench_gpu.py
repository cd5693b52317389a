"""GPU check: semlab's CUDA paths measured against its CPU paths on one lent GPU machine.

semlab's tests and other benchmarks run on CPUs; this script runs the code paths that only a
GPU reaches, once, and records what they gave:

* **features**: ``extract_features(..., device="cuda", runtime="torch")`` against the same
  patches on the CPU (cosine per patch, fp32 and bf16), and patches/s on the GPU;
* **U-Net**: ``train_segmenter`` on CUDA with ``amp="auto"`` (bf16 autocast) and with
  ``amp="off"`` on the same step budget and seed (validation mean IoU, s/step), and the
  trained model's labels on CUDA against the same model on the CPU (pixel agreement);
* **generation**: the guided conditional DDPM of ``bench_generate.py`` (same data, model and
  evaluation) trained on CUDA with ``amp="auto"`` and ``"off"``, at the CPU benchmark's 300
  steps and at a 2000-step budget (max porosity error, R², Spearman, s/step).

Budgets are steps, never seconds.  Every part runs inside its own ``try`` so one failure is
recorded and the rest still run.

Run (on the GPU machine): ``python benchmarks/bench_gpu.py --out DIR``; ``--quick`` is a
CPU smoke run with tiny budgets (not a measurement).  Writes ``DIR/gpu.json``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _bench_generate():
    spec = importlib.util.spec_from_file_location("bench_generate", ROOT / "benchmarks" / "bench_generate.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _guard(fn, *args):
    t = time.perf_counter()
    try:
        out = fn(*args)
    except Exception as exc:  # recorded, the other parts still run
        out = {"error": repr(exc)[:400], "traceback": traceback.format_exc()[-1500:]}
    out["part_s"] = round(time.perf_counter() - t, 1)
    print(json.dumps(out, default=float)[:600], flush=True)
    return out


def _patches(n: int, seed: int = 0) -> np.ndarray:
    """n grey 224-px patches cut from the synthetic sintering series (values in [0, 1])."""
    from semlab.data import render_sintered_film

    rng = np.random.default_rng(seed)
    out = []
    i = 0
    while len(out) < n:
        img = render_sintered_film(int(2 ** (i % 4)), shape=(448, 448), rng=seed + i, databar=False)
        grey = np.asarray(img.image, np.float32)
        grey = (grey - grey.min()) / max(float(np.ptp(grey)), 1e-6)
        for _ in range(8):
            r, c = rng.integers(0, 448 - 224, 2)
            out.append(grey[r : r + 224, c : c + 224])
        i += 1
    return np.stack(out[:n])


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = a.astype(np.float64), b.astype(np.float64)
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def part_features(dev: str, n: int) -> dict:
    import torch

    from semlab.features import create_backbone, extract_features

    x = _patches(n)
    bb = create_backbone("efficientnet_lite0")
    ref = extract_features(x[:64], backbone=bb, device="cpu", runtime="torch", batch_size=32)
    out: dict = {"backbone": "efficientnet_lite0 (offline package weights)", "n_patches": n}
    for prec in ("fp32", "bf16"):
        f = extract_features(x[:64], backbone=bb, device=dev, runtime="torch", precision=prec, batch_size=64)
        c = _cos(f, ref)
        out[f"cosine_{prec}_vs_cpu_fp32"] = {"min": float(c.min()), "mean": float(c.mean())}
        extract_features(x[:128], backbone=bb, device=dev, runtime="torch", precision=prec, batch_size=128)
        if dev.startswith("cuda"):
            torch.cuda.synchronize()
        t = time.perf_counter()
        extract_features(x, backbone=bb, device=dev, runtime="torch", precision=prec, batch_size=128)
        if dev.startswith("cuda"):
            torch.cuda.synchronize()
        out[f"patches_per_s_{prec}"] = round(n / (time.perf_counter() - t), 1)
    return out


def _blobs(seed: int, shape=(256, 256)):
    rng = np.random.default_rng(seed)
    rr, cc = np.mgrid[: shape[0], : shape[1]]
    truth = np.zeros(shape, np.uint8)
    for _ in range(40):
        r, c, rad = rng.integers(0, shape[0]), rng.integers(0, shape[1]), rng.integers(5, 14)
        truth[(rr - r) ** 2 + (cc - c) ** 2 <= rad**2] = 1
    image = np.where(truth > 0, 170.0, 80.0) + rng.normal(0, 35, shape)
    return np.clip(image, 0, 255).astype(np.uint8), truth


def part_unet(dev: str, steps: int, tmp: Path) -> dict:
    from semlab.segment import load_segmenter, segment_image, train_segmenter

    pairs = [_blobs(s) for s in range(6)]
    test_img, test_truth = _blobs(99)
    out: dict = {
        "data": "6 + 1 synthetic 256² images of noisy disks (noise sd 35 grey levels)",
        "steps": steps,
    }
    for amp in ("auto", "off"):
        t = time.perf_counter()
        res = train_segmenter(
            [p[0] for p in pairs[:5]], [p[1] for p in pairs[:5]],
            val_images=[pairs[5][0]], val_labels=[pairs[5][1]],
            class_names=("background", "disk"), model_options={"depth": 3, "width": 16},
            patch_size=96, batch_size=16, max_steps=steps, val_every=max(steps // 5, 1), patience=100,
            lr=3e-3, seed=0, device=dev, amp=amp, out=tmp / f"unet-{amp}",
        )  # fmt: skip
        wall = time.perf_counter() - t
        seg_dev = load_segmenter(tmp / f"unet-{amp}", device=dev)
        seg_cpu = load_segmenter(tmp / f"unet-{amp}", device="cpu")
        lab_dev = np.asarray(segment_image(test_img, method=seg_dev))
        lab_cpu = np.asarray(segment_image(test_img, method=seg_cpu))
        out[f"amp_{amp}"] = {
            "best_val_mean_iou": float(res.best_val_iou), "best_step": int(res.best_step),
            "trained_on": str(res.device),
            "test_pixel_accuracy_vs_truth": float((lab_dev == test_truth).mean()),
            "labels_gpu_vs_cpu_agreement": float((lab_dev == lab_cpu).mean()),
            "train_s": round(wall, 1), "s_per_step": round(wall / steps, 4),
        }  # fmt: skip
    return out


def part_generate(dev: str, budgets: list[int], tmp: Path) -> dict:
    bg = _bench_generate()
    ws, _ = bg._series(tmp)
    out: dict = {
        "model": "conditional DDPM, v-prediction, EMA 0.995, guidance 2 (bench_generate.py settings)"
    }
    for steps in budgets:
        for amp in ("auto", "off"):
            from semlab.generate import train_from_workspace

            t = time.perf_counter()
            res = train_from_workspace(
                ws, "burst_count", model="ddpm", seed=0, steps=steps, out_dir=tmp / f"ddpm-{amp}-{steps}",
                resume=False, device=dev, amp=amp, **bg.DATA, **bg.COMMON, **bg.MODELS["ddpm"],
            )  # fmt: skip
            wall = time.perf_counter() - t
            ev = bg._evaluate(res.generator, ws, 0, guidance=bg.GUIDED)
            out[f"steps_{steps}_amp_{amp}"] = {
                "max_porosity_abs_error": ev["max_porosity_abs_error"],
                "porosity_real": ev["porosity_real"], "porosity_generated": ev["porosity_generated"],
                "r2_porosity": ev["r2"]["porosity"], "spearman_porosity": ev["spearman"]["porosity"],
                "train_s": round(wall, 1), "s_per_step": round(wall / steps, 4), "eval_s": ev["eval_s"],
            }  # fmt: skip
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    ap.add_argument(
        "--quick", action="store_true", help="CPU smoke run with tiny budgets (not a measurement)"
    )
    ap.add_argument("--parts", default="features,unet,generate")
    args = ap.parse_args()
    import torch

    dev = "cpu" if args.quick else "cuda"
    res: dict = {
        "machine": {
            "python": platform.python_version(), "torch": torch.__version__, "cpu_count": os.cpu_count(),
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "bf16_native": bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported()),
        },
        "device": dev,
        "quick": args.quick,
    }  # fmt: skip
    parts = args.parts.split(",")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        if "features" in parts:
            res["features"] = _guard(part_features, dev, 64 if args.quick else 1024)
        if "unet" in parts:
            res["unet"] = _guard(part_unet, dev, 4 if args.quick else 600, tmp)
        if "generate" in parts:
            res["generate"] = _guard(part_generate, dev, [4] if args.quick else [300, 2000], tmp)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gpu.json").write_text(json.dumps(res, indent=2, default=float))
    print("wrote", args.out / "gpu.json")


if __name__ == "__main__":
    main()
