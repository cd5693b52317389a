"""UHCS spheroidite: do generated carbide masks coarsen with anneal time like the real ones?

Data: the shared UHCSDB spheroidite masks (``../shared/data/uhcs-spheroidite``, 24 binary
masks 645 × 475 px, 1 = carbide; one magnification for the whole set per DeCost et al.,
pixel size not given, so lengths are in px).  Only the 800 °C series has several anneal
times (3, 8, 24, 85 h; the 970 °C masks are one time, 5 min), so the condition is the
anneal time at 800 °C, categorical (4 levels).  ``800C-24H-Q-7.tif`` is a byte-identical
copy of ``800C-24H-Q-1.tif`` and is dropped (18 masks left: 4 / 3 / 6 / 5 per time).

Each model (ACWGAN-GP, conditional DDPM; ``semlab.generate.masks.train_mask_generator``,
the library's defaults for EMA, learning-rate schedule and DDPM prediction target) is
trained for a fixed step budget on random 32-px crops of the masks (random rotations/flips),
3 seeds each, one torch thread, niced.  The DDPM is sampled twice (25 DDIM steps):
conditionally (``ddpm``) and with classifier-free guidance 3 (``ddpm_guidance3``).
``--update`` replaces only the models run now in an existing JSON (the committed JSON merges
two runs: see its ``runs`` entry).  Per anneal time, ``N_GEN`` generated patches (thresholded at 0.5) are
compared with every non-overlapping 32-px tile of the real masks of that time, both
measured by ``semlab.generate.masks.mask_particles`` (``split_particles`` neck rule +
``particle_table``; particles cut by the patch frame kept on both sides): carbide area
fraction, mean / median / area-weighted equivalent diameter, Wasserstein-1 and KS distance
of the diameter distributions, and the Spearman correlation of the mean diameter with the
anneal time (generated and real) and of generated vs real means.

Run:  nice -n 10 .venv/bin/python benchmarks/bench_generate_uhcs.py [--seeds 0 1 2] [--steps-ddpm 600]
Writes benchmarks/results/generate_uhcs.json and generate_uhcs_<variant>_{masks,sizes}.png.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "uhcs-spheroidite"
RESULTS = ROOT / "benchmarks" / "results"
CONDITION = "anneal_time_h"
SIZE = 32
N_GEN = 128

#: Per model: network and optimisation (small, for CPU).  GAN lr as in bench_generate.py.
#: DDPM lr 2e-3: a pilot (seed 0) at lr 1e-3 and 300 steps learnt neither the level (area
#: fraction 0.36-0.40 vs 0.14-0.20 real) nor the condition (mean diameter 4.4-4.9 px at every
#: time); lr 2e-3 and 600 steps got both roughly (pilot numbers, not in the JSON).
MODELS = {
    "acwgan": {"width": 16, "batch_size": 32, "n_critic": 2, "lr": 5e-4},
    "ddpm": {"width": 16, "batch_size": 32, "lr": 2e-3},
}
#: Default step budgets (the GAN step, n_critic critic updates + one generator update, costs
#: about 1.6 DDPM steps on this CPU).
STEPS = {"acwgan": 400, "ddpm": 600}
#: DDIM steps when sampling the DDPM.
SAMPLE_STEPS = 25
#: Sampling variants judged per trained model: (name, classifier-free guidance scale).
VARIANTS = {"acwgan": [("acwgan", None)], "ddpm": [("ddpm", None), ("ddpm_guidance3", 3.0)]}


def _r(x: float, k: int = 4) -> float | None:
    return None if x is None or not np.isfinite(x) else round(float(x), k)


def _per_condition(summary, col: str) -> dict[str, float | None]:
    return {f"{v:g}": _r(x) for v, x in zip(summary[CONDITION], summary[col], strict=True)}


def _real_reference(ms, patch_stats):
    from semlab.generate.masks import tile_mask_patches

    tiles = tile_mask_patches(ms, CONDITION, size=SIZE)
    return tiles, {v: patch_stats(t) for v, t in tiles.items()}


def _run(model: str, seed: int, steps: int, ms, real_stats) -> list[tuple[str, dict, object, dict]]:
    import torch

    from semlab.generate.masks import evaluate_mask_generator, train_mask_generator

    torch.set_num_threads(1)
    load0 = os.getloadavg()
    t0 = time.perf_counter()
    res = train_mask_generator(ms, CONDITION, model=model, size=SIZE, steps=steps, seed=seed, **MODELS[model])
    train_s = time.perf_counter() - t0
    load1 = os.getloadavg()
    out = []
    for variant, guidance in VARIANTS[model]:
        t1 = time.perf_counter()
        cmp, gen = evaluate_mask_generator(
            res.generator,
            ms,
            CONDITION,
            n=N_GEN,
            seed=100 + seed,
            real=real_stats,
            steps=SAMPLE_STEPS,
            guidance=guidance,
        )
        eval_s = time.perf_counter() - t1
        s = cmp.summary
        rec = {
            "seed": seed,
            "guidance": guidance,
            "steps": res.steps,
            "images_seen": res.steps * MODELS[model]["batch_size"],
            "train_s": round(train_s, 1),
            "eval_s": round(eval_s, 1),
            "loadavg_1min_before_after_training": [round(load0[0], 2), round(load1[0], 2)],
            "spearman_mean_diameter_vs_time_generated": _r(cmp.spearman_generated),
            "spearman_generated_vs_real_mean_diameter": _r(cmp.spearman_real_vs_generated),
            "mean_diameter_generated_px": _per_condition(s, "mean_diameter_generated"),
            "median_diameter_generated_px": _per_condition(s, "median_diameter_generated"),
            "area_weighted_diameter_generated_px": _per_condition(s, "area_weighted_diameter_generated"),
            "area_fraction_generated": _per_condition(s, "area_fraction_generated"),
            "particles_generated": _per_condition(s, "particles_generated"),
            "wasserstein_diameter_px": _per_condition(s, "wasserstein_diameter"),
            "ks_diameter": _per_condition(s, "ks_diameter"),
            "final_loss": res.history[-1] if res.history else None,
            "network": res.generator.model.config.to_dict(),
        }
        out.append((variant, rec, cmp, gen))
    return out


def _aggregate(runs: list[dict]) -> dict:
    def stat(key: str) -> dict:
        out = {}
        for c in runs[0][key]:
            x = np.array([r[key][c] if r[key][c] is not None else np.nan for r in runs], float)
            out[c] = {"mean": _r(np.nanmean(x)), "sd": _r(np.nanstd(x, ddof=1) if len(x) > 1 else 0.0)}
        return out

    sp = [r["spearman_mean_diameter_vs_time_generated"] for r in runs]
    sv = [r["spearman_generated_vs_real_mean_diameter"] for r in runs]
    return {
        "mean_diameter_generated_px": stat("mean_diameter_generated_px"),
        "area_fraction_generated": stat("area_fraction_generated"),
        "wasserstein_diameter_px": stat("wasserstein_diameter_px"),
        "ks_diameter": stat("ks_diameter"),
        "spearman_mean_diameter_vs_time_generated_per_seed": sp,
        "spearman_generated_vs_real_mean_diameter_per_seed": sv,
        "seeds_with_spearman_1": int(sum(1 for x in sp if x is not None and x > 0.999)),
        "train_s_mean": _r(np.mean([r["train_s"] for r in runs]), 1),
    }


def _git_commit() -> str:
    import subprocess

    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "src/semlab/generate"], cwd=ROOT, capture_output=True, text=True
        )
    except OSError:
        return "unknown"
    return head.stdout.strip() + (" + uncommitted src/semlab/generate" if dirty.stdout.strip() else "")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--steps-acwgan", type=int, default=STEPS["acwgan"], help="GAN training steps per seed")
    ap.add_argument("--steps-ddpm", type=int, default=STEPS["ddpm"], help="DDPM training steps per seed")
    ap.add_argument("--models", nargs="+", default=list(MODELS))
    ap.add_argument("--out", type=Path, default=RESULTS / "generate_uhcs.json")
    ap.add_argument(
        "--update",
        action="store_true",
        help="keep the other models' entries of an existing --out and replace only those run now",
    )
    args = ap.parse_args()

    from semlab.generate.masks import (
        load_mask_set,
        patch_stats,
        plot_mask_comparison,
        plot_size_distributions,
    )

    ms = load_mask_set(DATA, where={"anneal_temperature_C": 800})
    t0 = time.perf_counter()
    tiles, real_stats = _real_reference(ms, patch_stats)
    from semlab.generate.masks import compare_mask_patches

    ref = compare_mask_patches(real_stats, real_stats, condition=CONDITION).summary
    real = {
        "masks_per_time": {f"{v:g}": int((ms.table[CONDITION] == v).sum()) for v in sorted(tiles)},
        "dropped_duplicates": list(ms.dropped),
        "tiles_per_time": {f"{v:g}": len(t) for v, t in tiles.items()},
        "particles_per_time": _per_condition(ref, "particles_real"),
        "mean_diameter_px": _per_condition(ref, "mean_diameter_real"),
        "median_diameter_px": _per_condition(ref, "median_diameter_real"),
        "area_weighted_diameter_px": _per_condition(ref, "area_weighted_diameter_real"),
        "area_fraction": _per_condition(ref, "area_fraction_real"),
        "spearman_mean_diameter_vs_time": _r(
            compare_mask_patches(real_stats, real_stats, condition=CONDITION).spearman_real
        ),
        "measure_s": round(time.perf_counter() - t0, 1),
    }
    print("real", json.dumps(real), flush=True)
    results: dict = {}
    for model in args.models:
        steps = getattr(args, f"steps_{model}")
        runs: dict[str, list] = {}
        for seed in args.seeds:
            for variant, rec, cmp, gen in _run(model, seed, steps, ms, real_stats):
                runs.setdefault(variant, []).append(rec)
                print(variant, json.dumps(rec), flush=True)
                if seed != args.seeds[0]:
                    continue
                what = f"{variant} (seed {seed}, {rec['steps']} steps)"
                plot_mask_comparison(
                    args.out.with_name(f"generate_uhcs_{variant}_masks.png"),
                    {v: tiles[v][np.random.default_rng(0).permutation(len(tiles[v]))[:4]] for v in tiles},
                    gen,
                    condition_label="anneal time (h)",
                    title=f"UHCS 800 °C, 32-px masks: real tiles vs {what}; white = carbide",
                )
                plot_size_distributions(
                    args.out.with_name(f"generate_uhcs_{variant}_sizes.png"),
                    cmp,
                    title=f"carbide equivalent diameter per anneal time (h): real tiles vs {what}",
                )
        for variant, recs in runs.items():
            results[variant] = {
                "model": model,
                "options": MODELS[model],
                "guidance": recs[0]["guidance"],
                "runs": recs,
                "summary": _aggregate(recs),
            }

    if args.update and args.out.is_file():
        old = json.loads(args.out.read_text(encoding="utf-8"))
        results = {**old.get("models", {}), **results}
        budget = {**old.get("step_budget", {}), **{m: getattr(args, f"steps_{m}") for m in args.models}}
    else:
        budget = {m: getattr(args, f"steps_{m}") for m in args.models}
    out = {
        "benchmark": "bench_generate_uhcs",
        "git_commit": _git_commit(),
        "data": "UHCSDB spheroidite masks (bdecost/uhcs-segment), 800 °C series, condition anneal_time_h "
        "(categorical, 3/8/24/85 h); 970 °C (5 min only) left out",
        "patch_size_px": SIZE,
        "generated_per_time": N_GEN,
        "threshold": 0.5,
        "length_unit": "px (pixel size unknown; one magnification for the whole set)",
        "descriptor": "semlab.generate.masks.mask_particles: split_particles (neck rule, split_ratio 0.2) + "
        "particle_table, equivalent diameter 2*sqrt(A/pi); frame-cut particles kept for real and generated",
        "ddim_steps": SAMPLE_STEPS,
        "step_budget": budget,
        "seeds": args.seeds,
        "torch_threads": 1,
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "real": real,
        "models": results,
    }
    from semlab._util import write_json

    write_json(args.out, out)
    print("wrote", args.out)


if __name__ == "__main__":
    main()
