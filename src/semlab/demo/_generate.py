"""The generate step of ``semlab demo``: a tiny conditional DDPM on the synthetic sintering series."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Training steps of the demo's generator (the full demo; 60 with ``quick``).
DEMO_STEPS = 250

#: Settings of the demo model: 32-px images of the series at half resolution, no equalization
#: (CLAHE erases porosity) but each image's grey levels normalized (1st percentile → 0,
#: median → 0.5), which removes the samples' brightness and contrast, so one threshold reads
#: porosity alike on every image; weights averaged (EMA), cosine learning-rate schedule;
#: sampled with classifier-free guidance w = 2 (benchmarks/results/generate.json: it brings the
#: burst counts' porosity from 0.044 to within 0.016 of real, where w = 1 compresses the range).
DEMO_SETTINGS: dict[str, Any] = {
    "model": "ddpm",
    "size": 32,
    "width": 16,
    "scale": 0.5,
    "equalize": "none",
    "normalize": "levels",
    "batch_size": 32,
    "lr": 2e-3,
    "ema_decay": 0.995,
    "lr_schedule": "cosine",
    "guidance": 2.0,
}

#: Torch threads of the step: one fixed count, so the printed digits do not depend on the
#: machine or its load (a different thread count changes the order of float sums).
DEMO_THREADS = 1


@dataclass(frozen=True)
class GenerateDemoResult:
    """What the generate step did and how well the generated porosity follows the real one.

    Attributes
    ----------
    model_dir, report_dir : str
        The trained model folder and the evaluation report folder.
    trained : bool
        False when an earlier demo's model was loaded.
    steps : int
        Training steps of the model.
    images_seen : int
        Training patches the model saw (steps × batch size).
    train_seconds, seconds : float
        Training time (this run; 0 when loaded) and time of the whole step, s.
    porosity_real, porosity_generated : dict
        Burst count → mean porosity (0–1) of real and generated 32-px images, both measured
        the same way (one grey threshold, pores dark; :func:`semlab.generate.evaluate_on_workspace`).
        Grey levels normalized per image first (see :data:`DEMO_SETTINGS`).  A coarser
        measurement than the demo's segmentation, so its level differs.
    porosity_r2 : float
        R² of generated vs real mean porosity across burst counts.
    porosity_trend : float
        Spearman correlation of generated vs real mean porosity across burst counts.
    """

    model_dir: str
    report_dir: str
    trained: bool
    steps: int
    train_seconds: float
    seconds: float
    porosity_real: dict = field(default_factory=dict)
    porosity_generated: dict = field(default_factory=dict)
    porosity_r2: float = float("nan")
    porosity_trend: float = float("nan")
    images_seen: int = 0

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)

    def lines(self) -> list[str]:
        """The lines the demo prints."""
        how = (
            f"trained {self.steps} steps ({self.images_seen} patches seen)"
            if self.trained
            else "loaded from an earlier run"
        )
        pairs = ", ".join(
            f"{k}: {self.porosity_real[k]:.3f}/{self.porosity_generated[k]:.3f}" for k in self.porosity_real
        )
        return [
            f"generate: conditional DDPM (32 px, burst_count, guidance 2) {how} → {self.model_dir}",
            "generate: porosity of 32-px images, real/generated (grey levels normalized per image, "
            f"one threshold for both; coarser than the segmentation above) by burst count: {pairs}",
            f"generate: agreement R² = {self.porosity_r2:.2f}, trend (Spearman) = {self.porosity_trend:.2f}; "
            f"report → {self.report_dir}",
        ]


def _earlier_model(model_dir: Path, *, steps: int, seed: int) -> Any:
    """The model an earlier demo run trained in ``model_dir`` with the same settings, else None."""
    from semlab.errors import SemlabError
    from semlab.generate import load_generator

    if not (model_dir / "config.json").is_file():
        return None
    s = DEMO_SETTINGS
    try:
        gen = load_generator(model_dir)
    except SemlabError:
        return None
    prep = gen.meta.get("preprocessing", {})
    same = (
        gen.name == s["model"]
        and gen.spec.columns == ("burst_count",)
        and prep.get("scale") == s["scale"]
        and prep.get("equalize") == s["equalize"]
        and prep.get("normalize", "none") == s["normalize"]
        and gen.meta.get("extra", {}).get("training", {}).get("ema_decay") == s["ema_decay"]
        and gen.meta.get("extra", {}).get("training", {}).get("lr") == s["lr"]
        and gen.meta.get("seed") == seed
        and gen.meta.get("extra", {}).get("training", {}).get("steps", 0) >= steps
    )
    return gen if same else None


def generate_step(
    workspace: Any,
    *,
    out_dir: str | os.PathLike,
    quick: bool = False,
    seed: int = 0,
    steps: int | None = None,
    train_progress: Callable[[int, int], None] | None = None,
    eval_progress: Callable[[int, int], None] | None = None,
) -> GenerateDemoResult:
    """Train (or load) a tiny conditional DDPM on burst_count, sample each level, compare porosity.

    Parameters
    ----------
    workspace : Workspace or path
        The demo's workspace (synthetic sintering series with a ``burst_count`` column).
    out_dir : path
        Folder of this step: ``model/`` (the model, reused by later demo runs with the same
        settings) and ``report/`` (the evaluation report).
    quick : bool
        60 training steps instead of :data:`DEMO_STEPS` (250).  The budget is counted in
        steps only (no time limit), so the model and its numbers are the same on a busy
        and an idle machine.
    seed : int
    steps : int, optional
        Training steps instead of the default (tests).
    train_progress, eval_progress : callable, optional
        ``progress(done, total)`` in training steps and in evaluated conditions.

    Returns
    -------
    GenerateDemoResult
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(DEMO_THREADS)
    try:
        return _generate_step(workspace, out_dir, quick, seed, steps, (train_progress, eval_progress))
    finally:
        torch.set_num_threads(before)


def _generate_step(workspace, out_dir, quick, seed, steps, progress):  # noqa: ANN001, ANN202
    import math

    from semlab.generate import evaluate_on_workspace, train_from_workspace

    train_progress, eval_progress = progress
    t0 = time.perf_counter()
    out = Path(out_dir)
    model_dir = out / "model"
    steps = steps if steps is not None else (60 if quick else DEMO_STEPS)
    s = DEMO_SETTINGS
    gen, trained, train_s = _earlier_model(model_dir, steps=steps, seed=seed), False, 0.0
    if gen is None:
        res = train_from_workspace(
            workspace,
            "burst_count",
            model=s["model"],
            size=s["size"],
            width=s["width"],
            scale=s["scale"],
            equalize=s["equalize"],
            normalize=s["normalize"],
            batch_size=s["batch_size"],
            lr=s["lr"],
            ema_decay=s["ema_decay"],
            lr_schedule=s["lr_schedule"],
            patches_per_image=32,
            steps=steps,
            seed=seed,
            out_dir=model_dir,
            resume=False,
            time_budget_s=None,
            grid_every=0,
            progress=train_progress,
        )
        gen, trained, train_s = res.generator, True, res.seconds
    report = evaluate_on_workspace(
        gen,
        workspace,
        n_per_condition=8 if quick else 16,
        seed=seed + 1,
        steps=10,
        guidance=s["guidance"],
        out_dir=out / "report",
        progress=eval_progress,
    )
    summ = report.summary

    def key(label: str) -> str:
        return label.split("=", 1)[1]

    real = {
        key(c): round(float(v), 4) for c, v in zip(summ["condition"], summ["porosity_real_mean"], strict=True)
    }
    synth = {
        key(c): round(float(v), 4)
        for c, v in zip(summ["condition"], summ["porosity_generated_mean"], strict=True)
    }
    r2 = report.r2.get("porosity", math.nan)
    trend = report.trend_agreement.get("porosity", math.nan)
    return GenerateDemoResult(
        model_dir=str(model_dir),
        report_dir=str(out / "report"),
        trained=trained,
        steps=int(gen.meta.get("extra", {}).get("training", {}).get("steps", 0)),
        train_seconds=round(train_s, 2),
        seconds=round(time.perf_counter() - t0, 2),
        porosity_real=real,
        porosity_generated=synth,
        porosity_r2=round(float(r2), 4),
        porosity_trend=round(float(trend), 4),
        images_seen=int(gen.meta.get("extra", {}).get("training", {}).get("steps", 0)) * int(s["batch_size"]),
    )
