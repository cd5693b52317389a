"""Generation benchmark: ACWGAN-GP vs conditional DDPM, same data, same CPU time budget.

Data: the synthetic sintering series (semlab.data.sintering_series; 256 × 256 images,
2 samples × 2 images per burst count 1/2/4/8), ingested into a workspace, cut into 32-px
patches at half resolution (no equalization: the films share one grey scale), 32 per image.
Each model is trained on the same patches for the same wall-time budget, then judged by
``semlab.generate.evaluate_on_workspace`` on other patches (seed 1) of the same images:
per burst count, real vs generated relative density, specific perimeter and shape index
(one fixed Otsu threshold of the pooled real training patches), and R² of the generated
condition means against the real ones, plus the diversity ratio (mode collapse < 0.5).

Models: ACWGAN-GP, DDPM (raw weights; sampled conditionally and with guidance w = 3) and
DDPM with an EMA of its weights (decay 0.995).

Run:  .venv/bin/python benchmarks/bench_generate.py [--budget 120] [--threads 1]
Writes benchmarks/results/generate.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "generate.json"

#: All models: 32-px images, width 16, batch 32.  GAN lr raised for short CPU runs; DDPM at its
#: default 1e-3 (3e-3 learns two levels fast but drifts in grey level over longer runs: measured
#: relative density 0.36-0.39 generated vs 0.70-0.81 real after 557 steps).
MODELS = {
    "acwgan": {"lr": 5e-4, "n_critic": 5},
    "ddpm": {"lr": 1e-3},
    "ddpm_ema": {"lr": 1e-3, "ema_decay": 0.995},
}


#: Sampling settings evaluated per model (DDPM: conditional, and classifier-free guidance w = 3).
GUIDANCE = {"acwgan": [None], "ddpm": [None, 3.0], "ddpm_ema": [None]}


def _record(opts, guidance, res, train_s, eval_s, rep) -> dict:
    s = rep.summary
    return {
        "options": opts,
        "guidance": guidance,
        "steps": res.steps,
        "train_s": round(train_s, 1),
        "eval_s": round(eval_s, 1),
        "r2": {k: round(v, 4) for k, v in rep.r2.items()},
        "trend_spearman": {k: round(v, 4) for k, v in rep.trend_agreement.items()},
        "relative_density_real": dict(
            zip(s["condition"], s["relative_density_real_mean"].round(4), strict=True)
        ),
        "relative_density_generated": dict(
            zip(s["condition"], s["relative_density_generated_mean"].round(4), strict=True)
        ),
        "diversity_ratio": dict(zip(s["condition"], s["diversity_ratio"].round(3), strict=True)),
        "mode_collapse": rep.mode_collapse,
    }


def main() -> None:
    import torch

    from semlab.data import sintering_series
    from semlab.dataset import Workspace
    from semlab.generate import evaluate_on_workspace, train_from_workspace

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget", type=float, default=120.0, help="training seconds per model")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1 on a shared machine)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        sintering_series(
            tmp / "series", shape=(256, 256), samples_per_level=2, images_per_sample=2, seed=args.seed
        )
        ws = Workspace.init(tmp / "ws")
        ws.add(table=tmp / "series" / "descriptors.csv", images_dir=tmp / "series")
        out: dict = {
            "benchmark": "semlab.generate ACWGAN-GP vs conditional DDPM (same data, same time budget)",
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "cpu": platform.machine(),
            "seed": args.seed,
            "budget_s": args.budget,
            "data": "sintering_series 256 px, 16 images, burst_count 1/2/4/8; 32-px patches at scale 0.5, 32 per image",
            "segmentation": "one Otsu threshold of the pooled real training patches for real and generated images",
            "models": {},
        }
        for name, opts in MODELS.items():
            t = time.perf_counter()
            res = train_from_workspace(
                ws,
                "burst_count",
                model=name.split("_")[0],
                size=32,
                width=16,
                batch_size=32,
                scale=0.5,
                equalize="none",
                patches_per_image=32,
                steps=1_000_000,
                time_budget_s=args.budget,
                seed=args.seed,
                out_dir=tmp / name,
                grid_every=0,
                **opts,
            )
            train_s = time.perf_counter() - t
            for guidance in GUIDANCE[name]:
                key = name if guidance is None else f"{name}_guidance_{guidance:g}"
                t = time.perf_counter()
                rep = evaluate_on_workspace(
                    res.generator,
                    ws,
                    n_per_condition=32,
                    seed=args.seed + 1,
                    steps=10,
                    guidance=guidance,
                    out_dir=tmp / f"{key}-report",
                )
                out["models"][key] = _record(opts, guidance, res, train_s, time.perf_counter() - t, rep)
                m = out["models"][key]
                print(
                    f"{key}: {res.steps} steps in {train_s:.0f} s; R² relative density "
                    f"{m['r2']['relative_density']:.3f}, specific perimeter "
                    f"{m['r2'][next(k for k in m['r2'] if k.startswith('specific'))]:.3f}, "
                    f"shape index {m['r2']['shape_index']:.3f}; diversity ratios {list(m['diversity_ratio'].values())}",
                    flush=True,
                )
    keys = list(out["models"])
    out["r2_side_by_side"] = {
        k: {m: out["models"][m]["r2"][k] for m in keys} for k in out["models"]["ddpm"]["r2"]
    }
    out["total_s"] = round(time.perf_counter() - t0, 1)
    print("R² side by side (" + " | ".join(keys) + "):")
    for k, v in out["r2_side_by_side"].items():
        print(f"  {k:28s} " + " | ".join(f"{v[m]:8.3f}" for m in keys))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    from semlab._util import atomic_write_text

    atomic_write_text(RESULTS, json.dumps(out, indent=2, allow_nan=True) + "\n")
    print(f"wrote {RESULTS} ({out['total_s']} s)")


if __name__ == "__main__":
    main()
