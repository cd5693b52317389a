"""Training and sampling of conditional generators, on arrays or on a workspace.

:func:`train_generator` is the core: grey images in [0, 1] plus a condition table →
a trained ACWGAN-GP or DDPM, with checkpoints that resume to exactly the state an
uninterrupted run reaches (model, optimizer and random-generator states are saved), a
time budget, and a sample grid per epoch.  :func:`workspace_patches` prepares the
images of a :class:`~semlab.dataset.Workspace` (data bar cropped, CLAHE, optional
down-scaling, random crops); :func:`load_generator` and
:meth:`ConditionalGenerator.sample` draw images for a condition.
"""

from __future__ import annotations

import math
import numbers
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from semlab.errors import ParameterError, TableError
from semlab.generate.conditioning import ConditionSpec, fit_conditions

__all__ = [
    "GENERATOR_MODELS",
    "ConditionalGenerator",
    "TrainResult",
    "load_generator",
    "save_grid",
    "train_generator",
    "train_from_workspace",
    "workspace_patches",
]

#: Generator names :func:`train_generator` accepts.
GENERATOR_MODELS = ("acwgan", "ddpm")
CHECKPOINT = "checkpoint.pt"

#: ShAPE-study loss weights of the ACWGAN-GP.
GP_WEIGHT = 10.0
CLS_WEIGHT = 5.0


def _pos_int(value: Any, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ParameterError(f"{name}={value!r} must be an integer >= {minimum}")
    return int(value)


def check_images(images: Any, size: int) -> np.ndarray:
    """Training images as a float32 (n, H, W) array in [0, 1]; one-line errors otherwise."""
    if isinstance(images, np.ndarray) and images.ndim == 3:
        arr = images
    else:
        items = list(images) if not isinstance(images, np.ndarray) else [images]
        if not items:
            raise ParameterError("no training images given")
        shapes = [np.shape(a) for a in items]
        if any(len(s) != 2 for s in shapes):
            bad = next(i for i, s in enumerate(shapes) if len(s) != 2)
            raise ParameterError(f"image {bad} has shape {shapes[bad]}; give 2-D grey images")
        if len(set(shapes)) > 1:
            j = next(i for i, s in enumerate(shapes) if s != shapes[0])
            raise ParameterError(
                f"images have mixed sizes ({shapes[0][0]}×{shapes[0][1]} at 0, {shapes[j][0]}×{shapes[j][1]} at {j}); "
                "crop them to one size first (e.g. with workspace_patches)"
            )
        arr = np.stack(items)
    if arr.ndim != 3 or len(arr) == 0:
        raise ParameterError(f"images have shape {arr.shape}; give (n, H, W) grey images")
    arr = np.asarray(arr, dtype=np.float32)
    if not np.isfinite(arr).all():
        raise ParameterError("images contain NaN or inf; give grey values in [0, 1]")
    if arr.min() < 0 or arr.max() > 1:
        raise ParameterError(
            f"images range over [{arr.min():.3g}, {arr.max():.3g}]; give grey values in [0, 1] "
            "(e.g. semlab.preprocess.equalize)"
        )
    if min(arr.shape[1:]) < size:
        raise ParameterError(
            f"images are {arr.shape[1]}×{arr.shape[2]} pixels, smaller than size={size}; use a smaller --size"
        )
    return arr


def pooled_threshold(images: np.ndarray, *, seed: int = 0, max_pixels: int = 2_000_000) -> float:
    """Otsu threshold of the pooled grey values of ``images`` (a subsample of at most ``max_pixels``)."""
    from semlab.segment import otsu_threshold

    flat = images.ravel()
    if flat.size > max_pixels:
        flat = np.random.default_rng(seed).choice(flat, max_pixels, replace=False)
    return float(otsu_threshold(flat.reshape(1, -1)).threshold)


# ------------------------------------------------------------------ the trained model


@dataclass(frozen=True, eq=False)
class ConditionalGenerator:
    """A trained conditional generator, ready to sample.

    Attributes
    ----------
    model : torch.nn.Module
        The ``acwgan`` or ``ddpm`` module (eval mode).
    name : str
        ``"acwgan"`` or ``"ddpm"``.
    spec : ConditionSpec
        The condition mapping.
    threshold : float
        Otsu threshold of the real training images (grey value in [0, 1]): pixels at or
        below it are the dark phase (pores) in evaluation.
    pixel_size : float or None
        µm per pixel of the generated images (None: unknown, lengths in pixels).
    meta : dict
        The artifact's ``config.json`` (empty for an in-memory model).
    path : Path or None
        The model folder.
    """

    model: Any
    name: str
    spec: ConditionSpec
    threshold: float
    pixel_size: float | None = None
    meta: dict = field(default_factory=dict)
    path: Path | None = None

    @property
    def size(self) -> int:
        return int(self.model.config.size)

    def sample(
        self,
        condition: Mapping[str, Any],
        n: int = 16,
        *,
        seed: int = 0,
        guidance: float | None = None,
        steps: int | None = None,
        batch_size: int = 64,
    ) -> np.ndarray:
        """Draw ``n`` images of one condition.

        Parameters
        ----------
        condition : mapping column → value
            A value for every condition (level names, categorical values, or numbers).
        n : int
            Number of images.
        seed : int
            Seed of the noise; the same seed gives the same images.
        guidance : float, optional
            DDPM classifier-free guidance scale (0: unconditional, 1 or None: conditional,
            > 1: stronger); ignored by the GAN.
        steps : int, optional
            DDIM steps (DDPM; default 25).

        Returns
        -------
        (n, size, size) ndarray of float32
            Grey values in [0, 1].
        """
        import torch

        n = _pos_int(n, "n")
        if guidance is not None:
            guidance = float(guidance)
            if not math.isfinite(guidance) or guidance < 0:
                raise ParameterError(f"guidance={guidance!r} must be a number >= 0")
        lv, vv = self.spec.encode(condition)
        g = torch.Generator().manual_seed(int(seed))
        out = []
        self.model.eval()
        for start in range(0, n, batch_size):
            b = min(batch_size, n - start)
            levels = torch.from_numpy(np.repeat(lv[None], b, axis=0))
            values = torch.from_numpy(np.repeat(vv[None], b, axis=0))
            out.append(
                self.model.sample(levels, values, generator=g, guidance=guidance, steps=steps)[:, 0].numpy()
            )
        return np.concatenate(out).astype(np.float32)


def load_generator(path: str | os.PathLike) -> ConditionalGenerator:
    """Load a model folder written by :func:`train_generator` (``model.pt`` + ``config.json``)."""
    from semlab.errors import FileFormatError
    from semlab.registry import load_artifact

    art = load_artifact(path, kind="generator")
    extra = art.meta.get("extra", {})
    if "conditions" not in extra:
        raise FileFormatError(f"{art.path}: config.json has no condition mapping; train the model again")
    return ConditionalGenerator(
        model=art.model,
        name=art.name,
        spec=ConditionSpec.from_dict(extra["conditions"]),
        threshold=float(extra.get("threshold", 0.5)),
        pixel_size=extra.get("pixel_size_um"),
        meta=art.meta,
        path=art.path,
    )


@dataclass(frozen=True, eq=False)
class TrainResult:
    """Outcome of :func:`train_generator`.

    Attributes
    ----------
    generator : ConditionalGenerator
    steps : int
        Training steps done in total (generator updates for the GAN).
    steps_per_epoch : int
    seconds : float
        Wall time of this call, s.
    stopped : str
        ``"done"``, ``"time_budget"`` or ``"already_done"`` (a resumed run that had finished).
    history : list of dict
        Mean losses per logged interval.
    path : Path or None
        The model folder.
    """

    generator: ConditionalGenerator
    steps: int
    steps_per_epoch: int
    seconds: float
    stopped: str
    history: list = field(default_factory=list)
    path: Path | None = None

    @property
    def model(self) -> Any:
        return self.generator.model

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.generator.name,
            "steps": self.steps,
            "epochs": self.steps / self.steps_per_epoch,
            "steps_per_epoch": self.steps_per_epoch,
            "seconds": round(self.seconds, 3),
            "stopped": self.stopped,
            "conditions": self.generator.spec.to_dict(),
            "threshold": self.generator.threshold,
            "final_loss": self.history[-1] if self.history else None,
            "path": str(self.path) if self.path else None,
        }


# ------------------------------------------------------------------ pictures


def save_grid(path: str | os.PathLike, images: np.ndarray, *, columns: int, pad: int = 2) -> Path:
    """Write (n, h, w) images in [0, 1] as one PNG grid, row by row (atomic)."""
    from PIL import Image

    from semlab._util import atomic_path

    images = np.asarray(images, dtype=np.float32)
    n, h, w = images.shape
    rows = math.ceil(n / columns)
    sheet = np.ones((rows * (h + pad) + pad, columns * (w + pad) + pad), dtype=np.float32)
    for i, im in enumerate(images):
        r, c = divmod(i, columns)
        sheet[
            pad + r * (h + pad) : pad + r * (h + pad) + h, pad + c * (w + pad) : pad + c * (w + pad) + w
        ] = im
    path = Path(path)
    with atomic_path(path) as tmp:
        Image.fromarray(np.round(np.clip(sheet, 0, 1) * 255).astype(np.uint8)).save(tmp, format="PNG")
    return path


def _grid(gen: ConditionalGenerator, path: Path, *, seed: int, per_row: int = 6) -> None:
    combos = gen.spec.level_grid()[:8]
    rows = [gen.sample(c, per_row, seed=seed, steps=10) for c in combos]
    save_grid(path, np.concatenate(rows), columns=per_row)


# ------------------------------------------------------------------ training


def _batch(X, idx, size, g):
    """Random crops (with random 90° rotation and flip) of ``X[idx]`` as (B,1,size,size) in [-1, 1]."""
    import torch

    b = len(idx)
    h, w = X.shape[1:]
    r = torch.randint(h - size + 1, (b,), generator=g)
    c = torch.randint(w - size + 1, (b,), generator=g)
    k = torch.randint(4, (b,), generator=g)
    f = torch.randint(2, (b,), generator=g)
    out = []
    for i in range(b):
        p = X[idx[i], r[i] : r[i] + size, c[i] : c[i] + size]
        p = torch.rot90(p, int(k[i]))
        out.append(torch.flip(p, (1,)) if f[i] else p)
    return torch.stack(out)[:, None] * 2 - 1


def _gan_step(model, opts, X, L, V, size, batch, g, n_critic):
    import torch
    import torch.nn.functional as F

    d_opt, g_opt = opts["critic"], opts["generator"]
    n = X.shape[0]
    logs = {}
    for _ in range(n_critic):
        idx = torch.randint(n, (batch,), generator=g)
        real, lv, vv = _batch(X, idx, size, g), L[idx], V[idx]
        z = torch.randn(batch, model.config.noise_dim, generator=g)
        with torch.no_grad():
            fake = model.generate(z, lv, vv)
        s_real, cls_real, reg_real = model.criticise(real)
        s_fake, _, _ = model.criticise(fake)
        eps = torch.rand(batch, 1, 1, 1, generator=g)
        mix = (eps * real + (1 - eps) * fake).requires_grad_(True)
        grad = torch.autograd.grad(model.criticise(mix)[0].sum(), mix, create_graph=True)[0]
        gp = ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()
        aux = sum((F.cross_entropy(lg, lv[:, j]) for j, lg in enumerate(cls_real)), torch.zeros(()))
        aux = aux + sum((F.mse_loss(p, vv[:, j]) for j, p in enumerate(reg_real)), torch.zeros(()))
        wdist = s_real.mean() - s_fake.mean()
        loss = -wdist + GP_WEIGHT * gp + CLS_WEIGHT * aux
        d_opt.zero_grad(set_to_none=True)
        loss.backward()
        d_opt.step()
    logs.update(wasserstein=wdist.item(), gradient_penalty=gp.item(), critic_aux=aux.item())
    idx = torch.randint(n, (batch,), generator=g)
    lv, vv = L[idx], V[idx]
    z = torch.randn(batch, model.config.noise_dim, generator=g)
    s_fake, cls_fake, reg_fake = model.criticise(model.generate(z, lv, vv))
    aux = sum((F.cross_entropy(lg, lv[:, j]) for j, lg in enumerate(cls_fake)), torch.zeros(()))
    aux = aux + sum((F.mse_loss(p, vv[:, j]) for j, p in enumerate(reg_fake)), torch.zeros(()))
    gl = -s_fake.mean() + CLS_WEIGHT * aux
    g_opt.zero_grad(set_to_none=True)
    gl.backward()
    g_opt.step()
    logs.update(generator=gl.item(), generator_aux=aux.item())
    return logs


def _ddpm_step(model, opts, X, L, V, size, batch, g, p_uncond):
    import torch
    import torch.nn.functional as F

    n = X.shape[0]
    idx = torch.randint(n, (batch,), generator=g)
    x0, lv, vv = _batch(X, idx, size, g), L[idx], V[idx]
    t = torch.randint(model.config.timesteps, (batch,), generator=g)
    noise = torch.randn(x0.shape, generator=g)
    ab = model.alpha_bar[t][:, None, None, None]
    xt = ab.sqrt() * x0 + (1 - ab).sqrt() * noise
    drop = torch.rand(batch, generator=g) < p_uncond
    loss = F.mse_loss(model(xt, t, lv, vv, drop), noise)
    opt = opts["model"]
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return {"loss": loss.item()}


def train_generator(
    images: Any,
    conditions: Any,
    *,
    model: str = "ddpm",
    columns: Sequence[str] | str | None = None,
    kinds: Mapping[str, str] | None = None,
    bins: int = 3,
    size: int = 64,
    width: int | None = None,
    epochs: float | None = None,
    steps: int | None = None,
    batch_size: int = 64,
    lr: float | None = None,
    n_critic: int = 5,
    p_uncond: float = 0.1,
    ema_decay: float = 0.0,
    seed: int = 0,
    out_dir: str | os.PathLike | None = None,
    resume: bool = True,
    time_budget_s: float | None = None,
    grid_every: int = 1,
    checkpoint_every: int | None = None,
    pixel_size: float | None = None,
    threshold: float | None = None,
    config: Mapping[str, Any] | None = None,
    inputs: Sequence[Any] | None = None,
    preprocessing: Mapping[str, Any] | None = None,
    progress: Callable[[int, int, dict], None] | None = None,
) -> TrainResult:
    """Train a conditional generator on grey images and their conditions.

    Parameters
    ----------
    images : (n, H, W) ndarray, or sequence of (H, W) arrays of one size
        Grey values in [0, 1] (e.g. CLAHE-equalized); each training step takes random
        ``size`` × ``size`` crops (with random 90° rotations and flips).
    conditions : pandas.DataFrame
        One row per image with the condition columns.
    model : {"ddpm", "acwgan"}
        Conditional DDPM or ACWGAN-GP.
    columns : str or sequence of str, optional
        Condition columns (default: every column of ``conditions``).
    kinds, bins
        Encoding of each column (see :func:`~semlab.generate.fit_conditions`).
    size : int, default 64
        Image side of the generator, pixels (a power of two ≥ 16).
    width : int, optional
        Channel width of the network (default 32).
    epochs, steps : optional
        Length of training, in total (a resumed run continues up to it).  One epoch is as
        many crops as the images hold without overlap, ``ceil(n·H·W / size² / batch)``
        steps.  A GAN step is one generator update after ``n_critic`` critic updates.
        Default: 10 epochs.
    batch_size : int, default 64
    lr : float, optional
        AdamW learning rate (default 2e-4 for the GAN, 1e-3 for the DDPM).
    n_critic : int, default 5
        Critic updates per generator update (GAN).
    p_uncond : float, default 0.1
        Probability of dropping the conditions of a training image (DDPM, classifier-free guidance).
    ema_decay : float, default 0 (off)
        DDPM: save and sample an exponential moving average of the trained weights with
        this decay (warmed up as (1 + step) / (10 + step)), e.g. 0.995 for long runs; it
        lags behind in runs of a few hundred steps (measured: 0.99 lost the burst-count
        trend after 150 steps that the raw weights had learned).
    seed : int
        Seed of the initial weights and of every random draw of training.
    out_dir : path, optional
        Model folder: ``checkpoint.pt`` (resumable state), ``model.pt`` + ``config.json``
        (the artifact, with the condition mapping), ``samples/epoch_NNN.png``.
        None: train in memory only.
    resume : bool, default True
        Continue from ``out_dir/checkpoint.pt`` when present (same data, model and seed
        give the same weights as an uninterrupted run).
    time_budget_s : float, optional
        Stop (and save) after this many seconds of wall time.
    grid_every : int, default 1
        Write a sample grid every this many epochs (0: never).
    checkpoint_every : int, optional
        Steps between checkpoints (default: once per epoch).
    pixel_size : float, optional
        µm per pixel of ``images`` (stored for evaluation in physical units).
    threshold : float, optional
        Grey value separating the dark phase (pores) in evaluation; default the Otsu
        threshold of the pooled training images.
    config : mapping, optional
        Further model options (see :class:`ACWGANConfig`, :class:`DDPMConfig`).
    inputs, preprocessing : optional
        Provenance recorded in ``config.json``.
    progress : callable(step, total, losses), optional
        Called after every step.

    Returns
    -------
    TrainResult
    """
    import torch

    from semlab._util import atomic_path
    from semlab.registry import create, make_config, save_artifact

    if model not in GENERATOR_MODELS:
        raise ParameterError(f"model={model!r} must be one of {', '.join(GENERATOR_MODELS)}")
    size = _pos_int(size, "size", 16)
    batch_size = _pos_int(batch_size, "batch_size")
    n_critic = _pos_int(n_critic, "n_critic")
    X = check_images(images, size)
    if not hasattr(conditions, "columns"):
        raise ParameterError("conditions must be a pandas DataFrame with one row per image")
    if len(conditions) != len(X):
        raise TableError(
            f"the condition table has {len(conditions)} rows for {len(X)} images; give one row per image"
        )
    if columns is None:
        columns = [str(c) for c in conditions.columns]
    spec = fit_conditions(conditions, columns, kinds=kinds, bins=bins)
    lv, vv = spec.encode_table(conditions)
    options = dict(config or {})
    options.update(size=size, n_levels=spec.n_levels, n_continuous=len(spec.continuous))
    if width is not None:
        options["width"] = width
    cfg = make_config("generator", model, options)
    if not 0 <= float(p_uncond) < 1:
        raise ParameterError(f"p_uncond={p_uncond!r} must be in [0, 1)")
    lr = float(lr if lr is not None else (2e-4 if model == "acwgan" else 1e-3))
    steps_per_epoch = max(1, math.ceil(X.shape[0] * X.shape[1] * X.shape[2] / size**2 / batch_size))
    if steps is not None and epochs is not None:
        raise ParameterError("give epochs or steps, not both")
    total = (
        _pos_int(steps, "steps")
        if steps is not None
        else max(1, round(float(epochs or 10) * steps_per_epoch))
    )
    if threshold is None:
        threshold = pooled_threshold(X, seed=seed)
    checkpoint_every = _pos_int(checkpoint_every, "checkpoint_every") if checkpoint_every else steps_per_epoch
    grid_every = int(grid_every or 0)

    with torch.random.fork_rng():
        torch.manual_seed(seed)
        net = create("generator", model, config=cfg)
    net.train()
    if model == "acwgan":
        opts = {
            "critic": torch.optim.AdamW(
                [
                    *net.critic.parameters(),
                    *net.score.parameters(),
                    *net.heads.parameters(),
                    *net.regressors.parameters(),
                ],
                lr=lr,
                betas=(0.0, 0.9),
            ),
            "generator": torch.optim.AdamW(
                [*net.embed.parameters(), *net.fc.parameters(), *net.generator.parameters()],
                lr=lr,
                betas=(0.0, 0.9),
            ),
        }
    else:
        opts = {"model": torch.optim.AdamW(net.parameters(), lr=lr)}
    g = torch.Generator().manual_seed(seed)
    step, history = 0, []
    ema_decay = float(ema_decay or 0.0) if model == "ddpm" else 0.0
    if not 0 <= ema_decay < 1:
        raise ParameterError(f"ema_decay={ema_decay!r} must be in [0, 1)")
    ema = {k: v.detach().clone() for k, v in net.state_dict().items()} if ema_decay else None
    out = Path(out_dir) if out_dir is not None else None
    fingerprint = {
        "model": model,
        "config": cfg.to_dict(),
        "conditions": spec.to_dict(),
        "seed": seed,
        "batch_size": batch_size,
        "n_images": int(X.shape[0]),
        "image_shape": list(X.shape[1:]),
        "lr": lr,
        "n_critic": n_critic if model == "acwgan" else None,
        "p_uncond": float(p_uncond) if model == "ddpm" else None,
        "ema_decay": float(ema_decay or 0.0) if model == "ddpm" else None,
        "threshold": float(threshold),
    }
    if out is not None:
        if out.exists() and not out.is_dir():
            raise ParameterError(f"{out} is a file; give a folder for the model")
        ck = out / CHECKPOINT
        if resume and ck.is_file():
            from semlab.training import load_torch_file

            state = load_torch_file(ck, what="generator checkpoint")
            if state.get("fingerprint") != _jsonable(fingerprint):
                raise ParameterError(
                    f"{ck} belongs to another run (other data, model or options); give another --out or pass resume=False"
                )
            net.load_state_dict(state["model"])
            for k, o in opts.items():
                o.load_state_dict(state["opt"][k])
            g.set_state(state["rng"])
            step, history = int(state["step"]), list(state["history"])
            ema = state.get("ema")

    def checkpoint() -> None:
        if out is None:
            return
        state = {
            "fingerprint": _jsonable(fingerprint),
            "model": net.state_dict(),
            "opt": {k: o.state_dict() for k, o in opts.items()},
            "rng": g.get_state(),
            "ema": ema,
            "step": step,
            "history": history,
        }
        with atomic_path(out / CHECKPOINT) as tmp:
            torch.save(state, tmp)

    def sampler() -> Any:
        """The network to sample from: the EMA weights (DDPM) or the trained ones."""
        if ema is None:
            return net
        import copy

        m = copy.deepcopy(net)
        m.load_state_dict(ema)
        return m.eval()

    def update_ema() -> None:
        d = min(float(ema_decay), (1 + step) / (10 + step))  # warm-up: short runs forget the init fast
        with torch.no_grad():
            for k, v in net.state_dict().items():
                if v.dtype.is_floating_point:
                    ema[k].mul_(d).add_(v.detach(), alpha=1 - d)
                else:
                    ema[k].copy_(v)

    def wrap() -> ConditionalGenerator:
        return ConditionalGenerator(
            model=sampler(),
            name=model,
            spec=spec,
            threshold=float(threshold),
            pixel_size=pixel_size,
            path=out,
        )

    X_t = torch.from_numpy(X)
    L_t, V_t = torch.from_numpy(lv), torch.from_numpy(vv)
    t0 = time.perf_counter()
    start_step = step
    stopped = "already_done" if step >= total else "done"
    acc: dict[str, list[float]] = {}
    while step < total:
        net.train()
        if model == "acwgan":
            logs = _gan_step(net, opts, X_t, L_t, V_t, size, batch_size, g, n_critic)
        else:
            logs = _ddpm_step(net, opts, X_t, L_t, V_t, size, batch_size, g, float(p_uncond))
        step += 1
        if ema is not None:
            update_ema()
        for k, v in logs.items():
            acc.setdefault(k, []).append(v)
        end_epoch = step % steps_per_epoch == 0
        if end_epoch or step == total:
            history.append({"step": step, **{k: float(np.mean(v)) for k, v in acc.items()}})
            acc = {}
        if progress is not None:
            progress(step, total, logs)
        out_of_time = time_budget_s is not None and time.perf_counter() - t0 >= float(time_budget_s)
        if out is not None and end_epoch and grid_every and (step // steps_per_epoch) % grid_every == 0:
            net.eval()
            _grid(wrap(), out / "samples" / f"epoch_{step // steps_per_epoch:03d}.png", seed=seed)
        if step % checkpoint_every == 0 or step == total or out_of_time:
            checkpoint()
        if out_of_time and step < total:
            stopped = "time_budget"
            break
    net.eval()
    gen = wrap()
    if out is not None:
        if acc:
            history.append({"step": step, **{k: float(np.mean(v)) for k, v in acc.items()}})
        save_artifact(
            out,
            gen.model,
            kind="generator",
            name=model,
            config=cfg,
            seed=seed,
            inputs=inputs,
            preprocessing=preprocessing,
            extra={
                "conditions": spec.to_dict(),
                "threshold": float(threshold),
                "pixel_size_um": pixel_size,
                "training": {
                    "steps": step,
                    "target_steps": total,
                    "steps_per_epoch": steps_per_epoch,
                    "batch_size": batch_size,
                    "lr": lr,
                    "n_critic": n_critic if model == "acwgan" else None,
                    "p_uncond": float(p_uncond) if model == "ddpm" else None,
                    "ema_decay": ema_decay or None,
                    "optimizer": "AdamW",
                    "gp_weight": GP_WEIGHT if model == "acwgan" else None,
                    "cls_weight": CLS_WEIGHT if model == "acwgan" else None,
                    "stopped": stopped,
                    "steps_this_run": step - start_step,
                },
                "history": history,
            },
        )
        gen = load_generator(out)
    return TrainResult(
        generator=gen,
        steps=step,
        steps_per_epoch=steps_per_epoch,
        seconds=time.perf_counter() - t0,
        stopped=stopped,
        history=history,
        path=out,
    )


def _jsonable(value: Any) -> Any:
    import json

    return json.loads(json.dumps(value, default=str))


# ------------------------------------------------------------------ workspace


def workspace_patches(
    workspace: Any,
    columns: Sequence[str] | str,
    *,
    size: int = 64,
    scale: float = 1.0,
    patches_per_image: int = 16,
    equalize: str = "clahe",
    seed: int = 0,
) -> tuple[np.ndarray, Any, float | None]:
    """Random patches of every image of a workspace, with each patch's table row.

    Each image is read with its data bar cropped, equalized (CLAHE by default, → [0, 1]),
    down-scaled by ``scale`` (e.g. 0.5 halves it, so a patch covers more of the field) and
    cut into ``patches_per_image`` random ``size`` × ``size`` crops.

    Parameters
    ----------
    workspace : Workspace or path
    columns : str or sequence of str
        Condition columns to carry (checked to exist).
    size : int
        Patch side after scaling, pixels.
    scale : float
        Down-scaling factor in (0, 1].
    patches_per_image : int
    equalize : {"clahe", "global", "none"}
    seed : int

    Returns
    -------
    patches : (n, size, size) ndarray of float32
        Grey values in [0, 1].
    table : pandas.DataFrame
        One row per patch: ``hash``, ``sample`` and the condition columns.
    pixel_size : float or None
        µm per pixel of the patches (None when the workspace does not know it).
    """
    from semlab.dataset import Workspace
    from semlab.preprocess import equalize as _equalize
    from semlab.preprocess import resample

    ws = workspace if isinstance(workspace, Workspace) else Workspace.open(workspace)
    if isinstance(columns, str):
        columns = [c.strip().partition(":")[0] for c in columns.split(",") if c.strip()]
    size = _pos_int(size, "size", 16)
    patches_per_image = _pos_int(patches_per_image, "patches_per_image")
    scale = float(scale)
    if not 0 < scale <= 1:
        raise ParameterError(f"scale={scale!r} must be in (0, 1]")
    table = ws.table()
    if len(table) == 0:
        from semlab.errors import WorkspaceError

        raise WorkspaceError(f"{ws.path}: the workspace holds no images; add some with `semlab add`")
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise TableError(
            f"{ws.path}: the descriptor table has no column {', '.join(missing)}; its columns are "
            f"{', '.join(c for c in table.columns if c not in ('hash', 'stored_path', 'original_name', 'databar_row'))}"
        )
    px = (
        table["pixel_size_um"].to_numpy(dtype=float)
        if "pixel_size_um" in table
        else np.full(len(table), np.nan)
    )
    known = np.isfinite(px).all()
    target = float(np.median(px)) / scale if known else None
    rng = np.random.default_rng(seed)
    out, rows = [], []
    for i, row in enumerate(table.itertuples(index=False)):
        m = ws.read(row.hash, crop=True)
        im = _equalize(m.image, method=equalize).astype(np.float32)
        if known:
            im = resample(im, float(px[i]), target)
        elif scale != 1:
            im = resample(im, 1.0, 1.0 / scale)
        im = np.clip(im, 0, 1).astype(np.float32)
        h, w = im.shape
        if min(h, w) < size:
            raise ParameterError(
                f"image {row.original_name} is {h}×{w} pixels after scaling, smaller than size={size}; "
                "use a smaller --size or a larger --scale"
            )
        r = rng.integers(0, h - size + 1, patches_per_image)
        c = rng.integers(0, w - size + 1, patches_per_image)
        for a, b in zip(r, c, strict=True):
            out.append(im[a : a + size, b : b + size])
        rows += [i] * patches_per_image
    sub = table.iloc[rows][["hash", *(["sample"] if "sample" in table else []), *columns]].reset_index(
        drop=True
    )
    return np.stack(out), sub, target


def train_from_workspace(
    workspace: Any,
    columns: Sequence[str] | str,
    *,
    model: str = "ddpm",
    size: int = 64,
    scale: float = 1.0,
    patches_per_image: int = 32,
    equalize: str = "clahe",
    kinds: Mapping[str, str] | None = None,
    bins: int = 3,
    seed: int = 0,
    **options: Any,
) -> TrainResult:
    """:func:`train_generator` on patches of a workspace (see :func:`workspace_patches`).

    ``columns`` may carry kinds as ``"porosity:binned"``.  The preprocessing (equalization,
    scale, patch size, pixel size of the patches in µm) and the image hashes are recorded in
    the model's ``config.json``.  Other keyword arguments go to :func:`train_generator`.
    """
    from semlab.generate.conditioning import parse_condition_args

    cols, parsed = parse_condition_args([columns] if isinstance(columns, str) else list(columns))
    parsed.update(kinds or {})
    patches, table, px = workspace_patches(
        workspace,
        cols,
        size=size,
        scale=scale,
        patches_per_image=patches_per_image,
        equalize=equalize,
        seed=seed,
    )
    from semlab.dataset import Workspace

    ws = workspace if isinstance(workspace, Workspace) else Workspace.open(workspace)
    prep = {
        "equalize": equalize,
        "scale": scale,
        "size": size,
        "patches_per_image": patches_per_image,
        "pixel_size_um": px,
        "workspace": str(ws.path),
        "patch_seed": seed,
    }
    return train_generator(
        patches,
        table[cols],
        model=model,
        columns=cols,
        kinds=parsed,
        bins=bins,
        size=size,
        seed=seed,
        pixel_size=px,
        preprocessing=prep,
        inputs=[{"path": f"{ws.path}/{h}", "sha256": h} for h in dict.fromkeys(table["hash"])],
        **options,
    )
