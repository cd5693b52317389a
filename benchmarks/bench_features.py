"""Feature extraction: semlab's batched extractor vs a naive per-patch timm loop, in one run.

Both get the same grey patches (CLAHE-equalized crops of a synthetic micrograph) and the
same backbone weights: the offline EfficientNet-Lite0 (the demo's backbone), then
ConvNeXt-Tiny (the μ-SLS paper's backbone) with random weights, as none are available
offline.  The naive loop is what one writes first: for each patch, build a 3-channel
tensor, resize and normalise it with the model's data config, call the model on a batch of
one under ``torch.no_grad``, in fp32.  semlab's ``extract_features`` batches the patches,
resizes and normalises whole batches on tensors, and runs a copy of the model with its
batch norms folded into the convolutions, in channels-last layout, under
``torch.inference_mode`` on every available core (making that copy, once per model, is
timed separately), with
``precision="auto"`` (bf16 autocast on CPUs with AMX / AVX512-BF16, else
fp32) and again with ``precision="fp32"`` (the default).

The three are timed in interleaved rounds so that load from other processes hits them
alike.  Prints patches/second of both, the ratio and the smallest cosine similarity of the features
(must be >= 0.999), and the time of the demo's feature step; writes
``benchmarks/results/features.json``.  The machine load (``os.getloadavg``) is recorded,
since other processes sharing the cores slow both sides.

Usage: python benchmarks/bench_features.py [--backbone NAME] [--patches N] [--also NAMES] [--no-demo]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results" / "features.json"


def make_patches(n: int, size: int, seed: int = 0) -> np.ndarray:
    """``n`` CLAHE-equalized grey patches (size × size, in [0, 1]) of a synthetic micrograph."""
    from semlab.data import sintering_series
    from semlab.dataset import Workspace
    from semlab.preprocess import equalize, sample_patches

    with tempfile.TemporaryDirectory() as d:
        sintering_series(Path(d) / "s", shape=(512, 512), samples_per_level=1, images_per_sample=1, seed=seed)
        ws = Workspace.init(Path(d) / "ws")
        ws.add(table=Path(d) / "s" / "descriptors.csv", images_dir=Path(d) / "s")
        images = [equalize(ws.read(h).image) for h in ws.table()["hash"]]
    per = -(-n // len(images))
    patches = np.concatenate(
        [sample_patches(im, per, size, rng=seed + i, normalize=False) for i, im in enumerate(images)]
    )
    return np.ascontiguousarray(patches[:n], dtype=np.float32)


def naive_loop(model, patches: np.ndarray, data_config: dict) -> np.ndarray:
    """One patch at a time: RGB tensor, resize, normalise, forward (the textbook loop)."""
    import torch
    import torch.nn.functional as F

    _, h, w = data_config["input_size"]
    mean = torch.tensor(data_config["mean"]).view(3, 1, 1)
    std = torch.tensor(data_config["std"]).view(3, 1, 1)
    out = []
    with torch.no_grad():
        for p in patches:
            x = torch.from_numpy(p).float()[None].repeat(3, 1, 1)  # grey → RGB
            if x.shape[-2:] != (h, w):
                x = F.interpolate(
                    x[None],
                    size=(h, w),
                    mode=data_config["interpolation"],
                    align_corners=False,
                    antialias=x.shape[-1] > w,
                )[0]
            x = (x - mean) / std
            out.append(model(x[None])[0].numpy().copy())
    return np.stack(out)


def bench_extraction(backbone: str, n: int, pretrained: bool, batch_size: int, n_rounds: int = 3) -> dict:
    import copy

    import torch

    from semlab.features import create_backbone, extract_features
    from semlab.features.extract import _inference_model, resolve_precision

    bb = create_backbone(backbone, pretrained=pretrained)
    naive_model = copy.deepcopy(bb.model).eval()  # same weights, default memory layout
    side = bb.data_config["input_size"][1]
    patches = make_patches(n, side)

    # make semlab's inference copy (once per model), then warm both up at their batch shapes
    t = time.perf_counter()
    _inference_model(bb, torch.device("cpu"))
    t_copy = time.perf_counter() - t
    naive_loop(naive_model, patches[:2], bb.data_config)
    for prec in ("auto", "fp32"):
        extract_features(
            patches[:batch_size], backbone=bb, batch_size=batch_size, device="cpu", precision=prec
        )
    precision = resolve_precision("auto", "cpu")

    # Interleaved rounds, so that a burst of load from other processes hits all three alike.
    load_before = os.getloadavg()
    refs, ours_parts, exact_parts = [], [], []
    t_naive = t_ours = t_exact = 0.0
    rounds = []
    for chunk in np.array_split(patches, n_rounds):
        t = time.perf_counter()
        refs.append(naive_loop(naive_model, chunk, bb.data_config))
        dn = time.perf_counter() - t
        t = time.perf_counter()
        ours_parts.append(extract_features(chunk, backbone=bb, batch_size=batch_size, device="cpu"))
        do = time.perf_counter() - t
        t = time.perf_counter()
        exact_parts.append(
            extract_features(chunk, backbone=bb, batch_size=batch_size, device="cpu", precision="fp32")
        )
        de = time.perf_counter() - t
        t_naive, t_ours, t_exact = t_naive + dn, t_ours + do, t_exact + de
        rounds.append(
            {"patches": len(chunk), "speedup": dn / do, "speedup_fp32": dn / de, "load": os.getloadavg()[0]}
        )
    load_after = os.getloadavg()
    ref, ours, exact = np.concatenate(refs), np.concatenate(ours_parts), np.concatenate(exact_parts)

    def cosine(a: np.ndarray) -> float:
        return float(((ref * a).sum(1) / (np.linalg.norm(ref, axis=1) * np.linalg.norm(a, axis=1))).min())

    return {
        "backbone": backbone,
        "weights": bb.weights,
        "n_patches": n,
        "patch_px": side,
        "batch_size": batch_size,
        "precision": precision,
        "naive_patches_per_s": n / t_naive,
        "semlab_patches_per_s": n / t_ours,
        "speedup": t_naive / t_ours,
        "min_cosine_similarity": cosine(ours),
        "semlab_fp32_patches_per_s": n / t_exact,
        "speedup_fp32": t_naive / t_exact,
        "min_cosine_similarity_fp32": cosine(exact),
        "naive_seconds": t_naive,
        "semlab_seconds": t_ours,
        "semlab_fp32_seconds": t_exact,
        "max_abs_difference": float(np.abs(ref - ours).max()),
        "inference_copy_seconds": t_copy,
        "note": "semlab timings exclude making the folded inference copy (inference_copy_seconds, once per model)",
        "torch_threads_naive": torch.get_num_threads(),
        "rounds": rounds,
        "median_round_speedup": float(np.median([r["speedup"] for r in rounds])),
        "median_round_speedup_fp32": float(np.median([r["speedup_fp32"] for r in rounds])),
        "loadavg_before": list(load_before),
        "loadavg_after": list(load_after),
    }


def bench_demo_step() -> dict:
    """Time the demo's feature step on the full demo series (24 images of 512², cold and cached)."""
    from semlab.data import sintering_series
    from semlab.dataset import Workspace
    from semlab.demo._features import embed_demo_workspace as demo_step

    with tempfile.TemporaryDirectory() as d:
        sintering_series(Path(d) / "s", shape=(512, 512), samples_per_level=3, images_per_sample=2, seed=0)
        ws = Workspace.init(Path(d) / "ws")
        ws.add(table=Path(d) / "s" / "descriptors.csv", images_dir=Path(d) / "s")
        load_before = os.getloadavg()
        t = time.perf_counter()
        table = demo_step(ws, quick=False)
        cold = time.perf_counter() - t
        t = time.perf_counter()
        again = demo_step(ws, quick=False)
        warm = time.perf_counter() - t
        return {
            "n_images": len(ws),
            "n_patches": len(table),
            "patch_px": int(table.config["patch_size"]),
            "seconds_cold": cold,
            "seconds_cached": warm,
            "cached_rerun_computed": again.cache["computed"],
            "loadavg_before": list(load_before),
            "loadavg_after": list(os.getloadavg()),
        }


def _print(res: dict) -> None:
    print(
        f"{res['backbone']} ({res['weights']}) on {res['n_patches']} patches of {res['patch_px']} px, CPU "
        f"({os.cpu_count()} cores, load {res['loadavg_before'][0]:.2f} -> {res['loadavg_after'][0]:.2f}):"
    )
    print(f"  naive per-patch timm loop: {res['naive_patches_per_s']:8.2f} patches/s")
    print(
        f"  semlab extract_features:   {res['semlab_patches_per_s']:8.2f} patches/s  ({res['precision']}, default)"
        f"  speed-up {res['speedup']:.2f}x, min cosine similarity {res['min_cosine_similarity']:.6f}"
    )
    print(
        f"  semlab, precision=fp32:    {res['semlab_fp32_patches_per_s']:8.2f} patches/s"
        f"  speed-up {res['speedup_fp32']:.2f}x, min cosine similarity {res['min_cosine_similarity_fp32']:.6f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backbone", default="efficientnet_lite0", help="main backbone (pretrained weights)")
    parser.add_argument("--patches", type=int, default=96)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument(
        "--also",
        default="convnext_tiny",
        help="comma-separated further backbones, run with random weights ('' for none)",
    )
    parser.add_argument("--no-demo", action="store_true", help="skip timing the demo step")
    args = parser.parse_args()

    import torch

    runs = [bench_extraction(args.backbone, args.patches, True, args.batch_size)]
    _print(runs[0])
    for name in filter(None, (n.strip() for n in args.also.split(","))):
        runs.append(bench_extraction(name, args.patches, False, args.batch_size))
        _print(runs[-1])
    out = {
        "benchmark": "feature extraction: semlab extract_features vs naive per-patch timm loop",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpu_count": os.cpu_count(),
            "affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
            "platform": platform.platform(),
            "torch": torch.__version__,
            "note": "cores shared with other processes; loadavg shows how busy they were",
        },
        "speedup": runs[0]["speedup"],
        "min_cosine_similarity": min(r["min_cosine_similarity"] for r in runs),
        "speedup_fp32": runs[0]["speedup_fp32"],
        "extraction": runs,
    }
    if not args.no_demo:
        demo = bench_demo_step()
        out["demo_step"] = demo
        print(
            f"demo feature step (full demo: {demo['n_images']} images 512², {demo['n_patches']} patches of "
            f"{demo['patch_px']} px): {demo['seconds_cold']:.1f} s cold, {demo['seconds_cached']:.2f} s cached"
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
