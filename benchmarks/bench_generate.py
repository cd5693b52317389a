"""Generation benchmark: ACWGAN-GP vs conditional DDPM on the synthetic sintering series.

Both models are trained for the same number of **steps** (a GAN step is one generator
update after ``n_critic`` critic updates; a DDPM step one denoiser update), three seeds
each, and the GAN once more for the **same wall time** as the DDPM (its step budget set
from the measured time per step, so that run too is counted in steps).  Budgets are in
steps, never seconds, so every number here is the same on an idle and a loaded machine
(wall times are recorded with the load average).

Data: ``sintering_series`` 256 × 256, 2 samples × 2 images per burst count 1/2/4/8 (seed 0),
ingested into a workspace; 32-px patches at half resolution (0.016 µm/px; mean pore chord
about 3.6 px), no equalization, grey levels normalized per image (1st percentile → 0,
median → 0.5: removes each sample's brightness and contrast), 32 training patches per
image (seed 0); held-out patches of the same images drawn with seed 1.

Evaluation (``semlab.generate.evaluate_on_workspace``): porosity = fraction of pixels at
or below ONE fixed grey threshold (the Otsu threshold of the pooled real training
patches), the same for real and generated images; per burst count the real and generated
means, their absolute difference (``max_porosity_abs_error`` = the worst condition), R²
of generated on real condition means for porosity, specific perimeter and shape index,
Spearman trend agreement, persistence-image distance and diversity ratio per condition.

The diagnosis (why the earlier generated porosity was 0.44-0.55 against real 0.14-0.26)
runs first and is cheap: (a) evaluation — the fixed threshold on real training vs
held-out patches, and the thresholded porosity against the true porosity per image with
and without per-image normalization and with CLAHE; then (c) sampling — DDIM steps and a
classifier-free guidance sweep on the DDPM of seed 0; (d) training — loss curves and
the error after half the steps.

Run:  .venv/bin/python benchmarks/bench_generate.py [--steps 1500] [--seeds 0,1,2] [--threads 1]
or, one process per seed on a shared machine, ``--part partN.json --seeds N`` for each seed,
then ``--part eqN.json --seeds N --equal-time-steps K`` and ``--merge part*.json eq*.json``.
Writes benchmarks/results/generate.json (``--quick``: a smoke run, not written).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "generate.json"

#: Shared settings of both models (32-px images, width 16, batch 32, EMA, cosine schedule).
COMMON = {
    "size": 32,
    "width": 16,
    "batch_size": 32,
    "ema_decay": 0.995,
    "lr_schedule": "cosine",
    "grid_every": 0,
}
DATA = {"scale": 0.5, "equalize": "none", "normalize": "levels", "patches_per_image": 32}
#: Per-model options: GAN lr 5e-4 (raised for short CPU runs), n_critic 5 (the ShAPE study);
#: DDPM lr 2e-3 (v-prediction; peak of the cosine schedule).
MODELS = {"acwgan": {"lr": 5e-4, "n_critic": 5}, "ddpm": {"lr": 2e-3}}
GUIDANCE = [0.0, 1.0, 2.0, 3.0, 5.0]
#: The DDPM of every seed is also judged with this classifier-free guidance scale.
GUIDED = 2.0
DDIM_STEPS = [10, 25, 50]
EVAL = {"n_per_condition": 64, "steps": 25}


def _load() -> float:
    return round(os.getloadavg()[0], 2)


def _series(tmp: Path):
    from semlab.data import sintering_series
    from semlab.dataset import Workspace

    table = sintering_series(
        tmp / "series", shape=(256, 256), samples_per_level=2, images_per_sample=2, seed=0
    )
    ws = Workspace.init(tmp / "ws")
    ws.add(table=tmp / "series" / "descriptors.csv", images_dir=tmp / "series")
    return ws, table


def _diagnose_data(ws, series) -> dict:
    """(a)/(b): the fixed threshold on real training vs held-out patches; thresholded vs true porosity."""
    from semlab.generate import workspace_patches
    from semlab.generate.train import pooled_threshold

    true = {int(b): round(float(v), 4) for b, v in series.groupby("burst_count")["porosity"].mean().items()}
    out: dict = {"true_porosity_by_burst_count": true, "preparations": {}}
    for eq, norm in (("clahe", "none"), ("none", "none"), ("none", "levels")):
        kw = {**DATA, "equalize": eq, "normalize": norm}
        tr, tt, _ = workspace_patches(ws, ["burst_count"], size=32, seed=0, **kw)
        kw["patches_per_image"] = 64
        te, et, _ = workspace_patches(ws, ["burst_count"], size=32, seed=1, **kw)
        th = pooled_threshold(tr)

        def by_burst(p, t, th=th):
            por = (p <= th).mean((1, 2))
            return {
                int(b): round(float(por[t["burst_count"].to_numpy() == b].mean()), 4) for b in (1, 2, 4, 8)
            }

        # per image: thresholded porosity of all its held-out patches vs the image's true porosity
        names = ws.table().set_index("hash")["original_name"]
        truth = series.assign(name=series["image"].map(lambda s: Path(s).name)).set_index("name")["porosity"]
        per_img = et.assign(p=(te <= th).mean((1, 2))).groupby("hash")["p"].mean()
        t_img = np.array([truth[names[h]] for h in per_img.index])
        out["preparations"][f"equalize={eq}, normalize={norm}"] = {
            "threshold": round(th, 4),
            "porosity_train_patches": by_burst(tr, tt),
            "porosity_heldout_patches": by_burst(te, et),
            "per_image_correlation_with_true_porosity": round(float(np.corrcoef(per_img, t_img)[0, 1]), 3),
        }
    return out


def _train(ws, name: str, seed: int, steps: int, tmp: Path):
    from semlab.generate import train_from_workspace

    load0, t = _load(), time.perf_counter()
    res = train_from_workspace(
        ws, "burst_count", model=name, seed=seed, steps=steps, out_dir=tmp / f"{name}-{seed}-{steps}",
        resume=False, **DATA, **COMMON, **MODELS[name],
    )  # fmt: skip
    wall = time.perf_counter() - t
    return res, {"steps": res.steps, "images_seen": res.steps * COMMON["batch_size"] * (
        MODELS[name].get("n_critic", 1)), "train_s": round(wall, 1), "s_per_step": round(wall / res.steps, 3),
        "load_avg_1min_start_end": [load0, _load()]}  # fmt: skip


def _evaluate(gen, ws, seed: int, *, guidance=None, steps=EVAL["steps"]) -> dict:
    from semlab.generate import evaluate_on_workspace

    t = time.perf_counter()
    rep = evaluate_on_workspace(
        gen, ws, n_per_condition=EVAL["n_per_condition"], patches_per_image=64, seed=seed + 101,
        guidance=guidance, steps=steps, plots=False,
    )  # fmt: skip
    s = rep.summary
    key = [c.split("=")[1] for c in s["condition"]]
    real, made = s["porosity_real_mean"].to_numpy(), s["porosity_generated_mean"].to_numpy()
    sp = next(c for c in rep.r2 if c.startswith("specific_perimeter"))
    return {
        "porosity_real": dict(zip(key, real.round(4).tolist(), strict=True)),
        "porosity_generated": dict(zip(key, made.round(4).tolist(), strict=True)),
        "porosity_abs_error": dict(zip(key, np.abs(made - real).round(4).tolist(), strict=True)),
        "max_porosity_abs_error": round(float(np.abs(made - real).max()), 4),
        "r2": {k: round(rep.r2[k], 4) for k in ("porosity", sp, "shape_index")},
        "spearman": {k: round(rep.trend_agreement[k], 4) for k in ("porosity", sp, "shape_index")},
        "pi_distance": dict(zip(key, s["pi_distance"].round(4).tolist(), strict=True)),
        "diversity_ratio": dict(zip(key, s["diversity_ratio"].round(3).tolist(), strict=True)),
        "mode_collapse": rep.mode_collapse,
        "eval_s": round(time.perf_counter() - t, 1),
    }


def _curve(history: list, key: str, points: int = 12) -> list:
    if not history:
        return []
    idx = np.unique(np.linspace(0, len(history) - 1, points).round().astype(int))
    return [[history[i]["step"], round(history[i][key], 4)] for i in idx if key in history[i]]


def _stats(runs: list[dict], path: tuple[str, ...]) -> dict:
    vals = []
    for r in runs:
        v = r
        for p in path:
            v = v[p]
        vals.append(float(v))
    a = np.array(vals)
    return {"mean": round(float(a.mean()), 4), "sd": round(float(a.std(ddof=1)) if len(a) > 1 else 0.0, 4),
            "per_seed": [round(v, 4) for v in vals]}  # fmt: skip


def _summary(models: dict) -> dict:
    """Per model: mean ± sd over seeds of each measure; which model wins each and by how much."""
    measures = {
        "max_porosity_abs_error": (("max_porosity_abs_error",), "min"),
        "porosity_r2": (("r2", "porosity"), "max"),
        "porosity_spearman": (("spearman", "porosity"), "max"),
        "specific_perimeter_r2": (("r2", "specific_perimeter_per_um"), "max"),
        "shape_index_r2": (("r2", "shape_index"), "max"),
    }
    out: dict = {}
    for label, runs in models.items():
        rs = runs["runs"]
        d = {m: _stats(rs, p) for m, (p, _) in measures.items()}
        conds = list(rs[0]["pi_distance"])
        d["pi_distance_mean_over_conditions"] = _stats(
            [{"v": float(np.mean(list(r["pi_distance"].values())))} for r in rs], ("v",)
        )
        d["diversity_ratio_mean_over_conditions"] = _stats(
            [{"v": float(np.mean(list(r["diversity_ratio"].values())))} for r in rs], ("v",)
        )
        d["pi_distance_by_condition"] = {c: _stats(rs, ("pi_distance", c)) for c in conds}
        out[label] = d  # fmt: skip
    winners = {}
    g = f"ddpm_guidance_{GUIDED:g}"
    pairs = [
        ("equal_steps", "ddpm", "acwgan"),
        ("equal_wall_time", "ddpm", "acwgan_equal_time"),
        ("equal_steps_guided", g, "acwgan"),
        ("equal_wall_time_guided", g, "acwgan_equal_time"),
    ]
    for tag, a, b in pairs:
        if a not in out or b not in out:
            continue
        w = {}
        for m, (_, best) in {**measures, "pi_distance_mean_over_conditions": (None, "min"),
                             "diversity_ratio_mean_over_conditions": (None, "closest_to_1")}.items():  # fmt: skip
            va, vb = out[a][m]["mean"], out[b][m]["mean"]
            if not (np.isfinite(va) and np.isfinite(vb)):
                w[m] = {"winner": None, "by": None, a: va, b: vb}
                continue
            if best == "closest_to_1":
                win = a if abs(va - 1) < abs(vb - 1) else b
                by = abs(abs(va - 1) - abs(vb - 1))
            else:
                win = a if (va < vb) == (best == "min") else b
                by = abs(va - vb)
            w[m] = {"winner": win.replace("_equal_time", ""), "by": round(float(by), 4), a: va, b: vb}
        winners[tag] = w
    return {"per_model": out, "winners": winners}


def _run_seed(ws, seed: int, steps: int, tmp: Path, *, sweep: bool, models=("ddpm", "acwgan")) -> dict:  # noqa: ANN001
    """Both models at ``steps`` steps for one seed (and, with ``sweep``, the DDPM sampling sweeps)."""
    part: dict = {"seed": seed, "runs": {}}
    for name in models:
        res, rec = _train(ws, name, seed, steps, tmp)
        ev = _evaluate(res.generator, ws, seed)
        loss_key = "loss" if name == "ddpm" else "wasserstein"
        rec |= ev | {"loss_curve": {loss_key: _curve(res.history, loss_key)}}
        part["runs"][name] = {"seed": seed, **rec}
        if name == "ddpm":
            ev2 = _evaluate(res.generator, ws, seed, guidance=GUIDED)
            part["runs"][f"ddpm_guidance_{GUIDED:g}"] = {"seed": seed, **rec, **ev2, "guidance": GUIDED}
        print(f"{name} seed {seed}: {rec['steps']} steps {rec['train_s']} s; porosity real "
              f"{ev['porosity_real']} generated {ev['porosity_generated']} max err "
              f"{ev['max_porosity_abs_error']} R² {ev['r2']['porosity']} Spearman "
              f"{ev['spearman']['porosity']}", flush=True)  # fmt: skip
        if name == "ddpm" and sweep:  # (c) sampling: DDIM steps and classifier-free guidance
            part["sampling_sweep"] = {
                "ddim_steps": {
                    str(n): _brief(_evaluate(res.generator, ws, seed, steps=n)) for n in DDIM_STEPS
                },
                "guidance": {
                    f"{w:g}": _brief(_evaluate(res.generator, ws, seed, guidance=w)) for w in GUIDANCE
                },
            }
            print(json.dumps(part["sampling_sweep"]), flush=True)
    return part


def _run_equal_time(ws, seed: int, gan_steps: int, tmp: Path) -> dict:
    res, rec = _train(ws, "acwgan", seed, gan_steps, tmp)
    rec |= _evaluate(res.generator, ws, seed)
    print(
        f"acwgan (equal time) seed {seed}: {gan_steps} steps, max err {rec['max_porosity_abs_error']}",
        flush=True,
    )
    return {"seed": seed, **rec}


def main() -> None:
    import torch

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=1500, help="training steps per model and seed")
    ap.add_argument("--seeds", default="0,1,2", help="comma-separated seeds")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1 on a shared machine)")
    ap.add_argument("--part", type=Path, help="run only --seeds (one process per seed) and write this part")
    ap.add_argument("--equal-time-steps", type=int, help="with --part: GAN steps of the equal-time run")
    ap.add_argument("--merge", nargs="+", type=Path, help="assemble the results from these parts")
    ap.add_argument("--models", default="ddpm,acwgan", help="with --part: the models to train")
    ap.add_argument("--no-sweep", action="store_true", help="with --part: skip the sampling sweeps")
    ap.add_argument("--quick", action="store_true", help="smoke run: 40 steps, one seed, not written")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    seeds = [0] if args.quick else [int(s) for s in args.seeds.split(",")]
    steps = 3 if args.quick else args.steps
    if args.quick:  # every code path, tiny: 3 steps, 4 images per condition, two sweep values
        EVAL["n_per_condition"] = 4
        DDIM_STEPS[:] = DDIM_STEPS[:1]
        GUIDANCE[:] = GUIDANCE[:2]
    if args.merge:
        return _merge(args.merge)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        ws, series = _series(tmp)
        head = _head(torch, seeds, steps)
        if args.part is not None:
            if args.equal_time_steps:
                part = {"equal_time": [_run_equal_time(ws, s, args.equal_time_steps, tmp) for s in seeds]}
            else:
                sweep = not args.no_sweep
                models = tuple(args.models.split(","))
                part = {
                    "seeds": [
                        _run_seed(ws, s, steps, tmp, sweep=sweep and s == 0, models=models) for s in seeds
                    ]
                }
                if 0 in seeds:
                    part["diagnosis_data"] = _diagnose_data(ws, series)
            part |= {"head": head, "load_avg_1min_end": _load(), "part_s": round(time.perf_counter() - t0, 1)}
            from semlab._util import atomic_write_text

            atomic_write_text(args.part, json.dumps(part, indent=1) + "\n")
            print(f"wrote {args.part}")
            return None
        parts = [{"seeds": [_run_seed(ws, s, steps, tmp, sweep=s == seeds[0]) for s in seeds],
                  "diagnosis_data": _diagnose_data(ws, series), "head": head}]  # fmt: skip
        cost = _cpu_cost()
        gan_steps = max(1, round(steps * cost["ddpm"] / cost["acwgan"]))
        parts.append({"equal_time": [_run_equal_time(ws, s, gan_steps, tmp) for s in seeds]})
    out = _with_cost(_assemble(parts), cost)
    out["total_s"] = round(time.perf_counter() - t0, 1)
    if args.quick:
        print(json.dumps(out["summary"]["winners"], indent=1))
        print(f"quick run done ({out['total_s']} s); results not written")
        return None
    _write(out)
    return None


def _head(torch, seeds, steps) -> dict:  # noqa: ANN001
    return {
        "benchmark": "semlab.generate ACWGAN-GP vs conditional DDPM on the synthetic sintering series: "
        "equal steps and equal wall time, 3 seeds",
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "device": "cpu (no GPU this session; the CUDA path with bf16 autocast was not run)",
        "seeds": seeds,
        "steps": steps,
        "data": "sintering_series 256 px (seed 0), 16 images, burst_count 1/2/4/8; 32-px patches at scale 0.5 "
        "(0.016 µm/px), no equalization, grey levels normalized per image; 32 training patches per image",
        "settings": {**COMMON, **DATA, "models": MODELS, "evaluation": EVAL},
        "segmentation": "porosity = fraction of pixels <= ONE fixed grey threshold, the Otsu threshold of the "
        "pooled real training patches, the same for real and generated images (not per-image Otsu)",
    }


def _assemble(parts: list[dict]) -> dict:
    head = next(p["head"] for p in parts if "head" in p)
    seeds_parts = sorted((s for p in parts for s in p.get("seeds", [])), key=lambda s: s["seed"])
    out = {**head, "seeds": [s["seed"] for s in seeds_parts]}
    out["diagnosis_data"] = next((p["diagnosis_data"] for p in parts if "diagnosis_data" in p), None)
    models: dict = {k: {"runs": []} for k in seeds_parts[0]["runs"]}
    for s in seeds_parts:
        for name in models:
            models[name]["runs"].append(s["runs"][name])
    eq = sorted((r for p in parts for r in p.get("equal_time", [])), key=lambda r: r["seed"])
    if eq:
        models["acwgan_equal_time"] = {"runs": eq}
        out["equal_wall_time"] = {
            "rule": "GAN steps = mean DDPM training time / mean GAN time per step, both measured at equal steps",
            "acwgan_steps": eq[0]["steps"],
            "ddpm_train_s_mean": round(float(np.mean([r["train_s"] for r in models["ddpm"]["runs"]])), 1),
            "acwgan_equal_time_train_s_mean": round(float(np.mean([r["train_s"] for r in eq])), 1),
        }
    out["models"] = models
    sweep = next((s["sampling_sweep"] for s in seeds_parts if "sampling_sweep" in s), None)
    if sweep is not None:
        out[f"sampling_sweep_ddpm_seed_{seeds_parts[0]['seed']}"] = sweep
    out["summary"] = _summary(models)
    out["max_porosity_abs_error"] = {
        k: max(r["max_porosity_abs_error"] for r in v["runs"]) for k, v in models.items()
    }
    out["load_avg_1min_end_of_parts"] = [p.get("load_avg_1min_end") for p in parts]
    return out


def _cpu_cost(steps: int = 12) -> dict:
    """CPU seconds per training step of each model, one thread (process time: the wall time of an
    idle core, whatever the load), on random 64-px images, 32-px crops, batch 32."""
    import pandas as pd

    from semlab.generate import train_generator

    x = np.random.default_rng(0).random((64, 64, 64)).astype(np.float32)
    t = pd.DataFrame({"burst_count": [1, 2, 4, 8] * 16})
    out = {}
    for name in ("ddpm", "acwgan"):
        kw = {k: v for k, v in COMMON.items() if k != "grid_every"} | MODELS[name]
        train_generator(x, t, model=name, steps=2, grid_every=0, **kw)  # warm-up
        t0 = time.process_time()
        train_generator(x, t, model=name, steps=steps, grid_every=0, **kw)
        out[name] = round((time.process_time() - t0) / steps, 4)
    return out


def _merge(paths: list[Path]) -> None:
    import torch

    torch.set_num_threads(1)
    parts = [json.loads(p.read_text()) for p in paths]
    _write(_with_cost(_assemble(parts), _cpu_cost()))


def _done_when(out: dict) -> dict:
    """Issue 18's bar per model: every seed's worst burst count within ±0.03 of real, R² >= 0.8, Spearman 1."""
    res = {}
    for k, v in out["models"].items():
        runs = v["runs"]
        worst = max(r["max_porosity_abs_error"] for r in runs)
        r2 = min(r["r2"]["porosity"] for r in runs)
        sp = min(r["spearman"]["porosity"] for r in runs)
        res[k] = {
            "max_porosity_abs_error": worst,
            "min_porosity_r2": r2,
            "min_porosity_spearman": sp,
            "passes": bool(worst <= 0.03 and r2 >= 0.8 and sp == 1.0),
        }
    return res


def _with_cost(out: dict, cost: dict) -> dict:
    out["done_when"] = _done_when(out)
    out["budget"] = {
        k: {
            "steps": v["runs"][0]["steps"],
            "images_seen": v["runs"][0]["images_seen"],
            "train_s_measured_per_seed": [r["train_s"] for r in v["runs"]],
            "load_avg_1min_start_end_per_seed": [r["load_avg_1min_start_end"] for r in v["runs"]],
            "train_s_idle_one_thread_estimate": round(
                v["runs"][0]["steps"] * cost["acwgan" if k.startswith("acwgan") else "ddpm"], 1
            ),
        }
        for k, v in out["models"].items()
    }
    if "equal_wall_time" in out:
        out["equal_wall_time"] |= {
            "rule": "GAN steps = DDPM steps × (DDPM ÷ GAN CPU seconds per step, one thread): equal wall "
            "time on an idle core; the wall times measured here on the loaded machine are listed too",
            "cpu_s_per_step_one_thread": cost,
            "acwgan_steps_by_rule_now": round(out["steps"] * cost["ddpm"] / cost["acwgan"]),
        }
    return out


def _write(out: dict) -> None:
    from semlab._util import atomic_write_text

    print(json.dumps(out["summary"]["winners"], indent=1))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(RESULTS, json.dumps(out, indent=2, allow_nan=True) + "\n")
    print(f"wrote {RESULTS}")


def _brief(ev: dict) -> dict:
    return {k: ev[k] for k in ("porosity_generated", "max_porosity_abs_error", "r2", "spearman")}


if __name__ == "__main__":
    main()
