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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from semlab.errors import ParameterError, TableError
from semlab.generate.conditioning import ConditionSpec, fit_conditions
from semlab.training import Progress, TrainConfig, device_of, fit, resolve_device

__all__ = [
    "GENERATOR_MODELS",
    "ConditionalGenerator",
    "GeneratorConfig",
    "GeneratorTrainResult",
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
    return float(otsu_threshold(flat.reshape(1, -1), denoise=False).threshold)  # pooled values, not an image


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
        dev = device_of(self.model)  # the noise comes from g on the CPU
        for start in range(0, n, batch_size):
            b = min(batch_size, n - start)
            levels = torch.from_numpy(np.repeat(lv[None], b, axis=0)).to(dev)
            values = torch.from_numpy(np.repeat(vv[None], b, axis=0)).to(dev)
            # sampled in fp32 also when called inside a training step's bf16 autocast (epoch grids)
            with torch.autocast(dev.type, enabled=False):
                drawn = self.model.sample(levels, values, generator=g, guidance=guidance, steps=steps)
            out.append(drawn[:, 0].float().cpu().numpy())
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
class GeneratorTrainResult:
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
    images_seen : int
        Training patches drawn in total: steps × batch size (GAN: by the generator; its
        critic sees ``n_critic`` times as many real ones).
    """

    generator: ConditionalGenerator
    steps: int
    steps_per_epoch: int
    seconds: float
    stopped: str
    history: list = field(default_factory=list)
    path: Path | None = None
    images_seen: int = 0

    @property
    def model(self) -> Any:
        return self.generator.model

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.generator.name,
            "steps": self.steps,
            "epochs": self.steps / self.steps_per_epoch,
            "steps_per_epoch": self.steps_per_epoch,
            "images_seen": self.images_seen,
            "seconds": round(self.seconds, 3),
            "stopped": self.stopped,
            "conditions": self.generator.spec.to_dict(),
            "threshold": self.generator.threshold,
            "final_loss": self.history[-1] if self.history else None,
            "path": str(self.path) if self.path else None,
        }


# ------------------------------------------------------------------ pictures


def save_grid(
    path: str | os.PathLike,
    images: np.ndarray,
    *,
    columns: int,
    pad: int = 2,
    row_labels: Sequence[str] | None = None,
    title: str = "",
    pixel_size: float | None = None,
) -> Path:
    """Write (n, h, w) images in [0, 1] as one PNG grid, row by row (atomic).

    With ``row_labels`` (the condition of each row) or a ``title`` the grid is drawn with
    matplotlib: a label left of each row, the title above and, when ``pixel_size`` (µm per
    pixel) is given, a scale bar on each row's first image.  Without them it is a plain sheet
    of the images at their own pixel size.
    """
    from PIL import Image

    from semlab._util import atomic_path

    images = np.asarray(images, dtype=np.float32)
    if row_labels is not None or title:
        from semlab._plot import image_grid, save_figure

        fig = image_grid(
            list(images),
            columns=columns,
            row_labels=row_labels,
            pixel_size=pixel_size,
            title=title,
            value_range=(0.0, 1.0),
        )
        return save_figure(fig, path)
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
    labels = [
        "\n".join(f"{k} = {v:.3g}" if isinstance(v, float) else f"{k} = {v}" for k, v in c.items())
        for c in combos
    ]
    save_grid(
        path,
        np.concatenate(rows),
        columns=per_row,
        row_labels=labels,
        title="generated samples, one condition per row",
        pixel_size=getattr(gen, "pixel_size", None),
    )


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
    n, dev = X.shape[0], device_of(model)  # draws on the CPU generator, then to dev
    logs: dict[str, float] = {}
    for _ in range(n_critic):
        idx = torch.randint(n, (batch,), generator=g)
        real, lv, vv = _batch(X, idx, size, g).to(dev), L[idx].to(dev), V[idx].to(dev)
        z = torch.randn(batch, model.config.noise_dim, generator=g).to(dev)
        with torch.no_grad():
            fake = model.generate(z, lv, vv)
        s_real, cls_real, reg_real = model.criticise(real)
        s_fake, _, _ = model.criticise(fake)
        eps = torch.rand(batch, 1, 1, 1, generator=g).to(dev)
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
    lv, vv = L[idx].to(dev), V[idx].to(dev)
    z = torch.randn(batch, model.config.noise_dim, generator=g).to(dev)
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

    n, dev = X.shape[0], device_of(model)  # draws on the CPU generator, then to dev
    idx = torch.randint(n, (batch,), generator=g)
    x0, lv, vv = _batch(X, idx, size, g).to(dev), L[idx].to(dev), V[idx].to(dev)
    t = torch.randint(model.config.timesteps, (batch,), generator=g).to(dev)
    noise = torch.randn(x0.shape, generator=g).to(dev)
    ab = model.alpha_bar[t][:, None, None, None]
    xt = ab.sqrt() * x0 + (1 - ab).sqrt() * noise
    drop = (torch.rand(batch, generator=g) < p_uncond).to(dev)
    target = noise if model.config.prediction == "eps" else ab.sqrt() * noise - (1 - ab).sqrt() * x0
    loss = F.mse_loss(model(xt, t, lv, vv, drop).float(), target)
    opt = opts["model"]
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return {"loss": loss.item()}


@dataclass(frozen=True)
class GeneratorConfig:
    """The generator, its conditions and its optimisation (:func:`train_generator`).

    Attributes
    ----------
    model : {"ddpm", "acwgan"}
        Conditional DDPM or ACWGAN-GP.
    columns : str or sequence of str, optional
        Condition columns (default: every column of the condition table).
    kinds, bins
        Encoding of each column (see :func:`~semlab.generate.fit_conditions`).
    size : int
        Image side of the generator, pixels (a power of two ≥ 16).
    width : int, optional
        Channel width of the network (default 32).
    batch_size : int
    lr : float, optional
        AdamW learning rate (default 2e-4 for the GAN, 1e-3 for the DDPM).
    n_critic : int
        Critic updates per generator update (GAN).
    p_uncond : float
        Probability of dropping the conditions of a training image (DDPM, classifier-free guidance).
    ema_decay : float, default 0.995
        Save and sample an exponential moving average (EMA) of the weights with this decay
        (warmed up as (1 + step) / (10 + step), so short runs forget the initial weights
        fast); both models (the GAN's generator and batch-norm statistics too); 0 = off.
    lr_schedule : {"cosine", "constant"}, default "cosine"
        Learning rate per step: a linear warm-up over ``warmup_steps`` then a cosine decay
        to ``lr / 20`` at the last step of the budget (a function of the step number and the
        budget, so an interrupted run resumed with the same budget follows the same
        schedule; one resumed with a longer budget follows the longer schedule from there),
        or ``lr`` throughout (after the warm-up).
    warmup_steps : int, optional
        Steps of the linear warm-up (default 5 % of the budget, at most 200; 0 = none).
    grid_every : int
        Write a sample grid every this many epochs (0: never).
    threshold : float, optional
        Grey value separating the dark phase (pores) in evaluation; default the Otsu
        threshold of the pooled training images.
    options : mapping, optional
        Further model options (see :class:`ACWGANConfig`, :class:`DDPMConfig`).
    """

    model: str = "ddpm"
    columns: Sequence[str] | str | None = None
    kinds: Mapping[str, str] | None = None
    bins: int = 3
    size: int = 64
    width: int | None = None
    batch_size: int = 64
    lr: float | None = None
    n_critic: int = 5
    p_uncond: float = 0.1
    ema_decay: float = 0.995
    lr_schedule: str = "cosine"
    warmup_steps: int | None = None
    grid_every: int = 1
    threshold: float | None = None
    options: Mapping[str, Any] | None = None


_TRAIN_KEYS = {
    "steps": "max_steps",
    "time_budget_s": "time_budget_s",
    "seed": "seed",
    "resume": "resume",
    "checkpoint_every": "checkpoint_every",
    "device": "device",
    "amp": "amp",
}


def _configs(config: Any, train: Any, options: dict[str, Any]) -> tuple[GeneratorConfig, dict[str, Any]]:
    """(GeneratorConfig, engine options) from the arguments; a mapping ``config`` is model options."""
    import dataclasses

    if isinstance(config, Mapping):  # earlier versions: config= held the network's options
        options = {**options, "options": dict(config)}
        config = None
    cfg = config or GeneratorConfig()
    fields = {f.name for f in dataclasses.fields(GeneratorConfig)}
    own = {k: v for k, v in options.items() if k in fields}
    rest = {k: v for k, v in options.items() if k not in fields}
    unknown = sorted(set(rest) - set(_TRAIN_KEYS))
    if unknown:
        raise ParameterError(
            f"unknown generator option(s) {', '.join(unknown)}; see GeneratorConfig and TrainConfig"
        )
    tr = dataclasses.asdict(train) if train is not None else {}
    tr.update({_TRAIN_KEYS[k]: v for k, v in rest.items()})
    return dataclasses.replace(cfg, **own), tr


def _optimizers(net: Any, model: str, lr: float) -> dict[str, Any]:
    import torch

    if model == "acwgan":
        critic = [
            *net.critic.parameters(),
            *net.score.parameters(),
            *net.heads.parameters(),
            *net.regressors.parameters(),
        ]
        gen = [*net.embed.parameters(), *net.fc.parameters(), *net.generator.parameters()]
        return {
            "critic": torch.optim.AdamW(critic, lr=lr, betas=(0.0, 0.9)),
            "generator": torch.optim.AdamW(gen, lr=lr, betas=(0.0, 0.9)),
        }
    return {"model": torch.optim.AdamW(net.parameters(), lr=lr)}


@dataclass
class _Job:
    """One generator's training: data, model, optimisers, its random generator and its own state."""

    cfg: GeneratorConfig
    X: Any
    L: Any
    V: Any
    spec: ConditionSpec
    net: Any
    net_config: Any
    opts: dict[str, Any]
    g: Any
    lr: float
    threshold: float
    steps_per_epoch: int
    total: int
    seed: int
    warmup: int = 0
    ema: dict[str, Any] | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    acc: dict[str, list[float]] = field(default_factory=dict)

    def fingerprint(self) -> dict[str, Any]:
        from semlab._util import to_jsonable

        c, ddpm = self.cfg, self.cfg.model == "ddpm"
        return to_jsonable(
            {
                "model": c.model,
                "config": self.net_config.to_dict(),
                "conditions": self.spec.to_dict(),
                "seed": self.seed,
                "batch_size": c.batch_size,
                "n_images": int(self.X.shape[0]),
                "image_shape": list(self.X.shape[1:]),
                "lr": self.lr,
                "n_critic": c.n_critic if not ddpm else None,
                "p_uncond": float(c.p_uncond) if ddpm else None,
                "ema_decay": float(c.ema_decay or 0.0),
                "lr_schedule": c.lr_schedule,
                "threshold": float(self.threshold),
            }
        )

    def state(self) -> dict[str, Any]:
        return {"fingerprint": self.fingerprint(), "history": self.history, "ema": self.ema, "acc": self.acc}

    def restore(self, saved: Any, where: Path) -> None:
        if not isinstance(saved, dict) or saved.get("fingerprint") != self.fingerprint():
            raise ParameterError(
                f"{where} belongs to another run (other data, model or options); give another --out or pass resume=False"
            )
        self.history, self.acc = list(saved["history"]), dict(saved["acc"])
        dev = device_of(self.net)  # a checkpoint loads on the CPU
        self.ema = None if saved["ema"] is None else {k: v.to(dev) for k, v in saved["ema"].items()}

    def sampler(self) -> Any:
        """The network to sample from: the EMA weights (when kept) or the trained ones."""
        if self.ema is None:
            return self.net
        import copy

        m = copy.deepcopy(self.net)
        m.load_state_dict(self.ema)
        return m.eval()

    def update_ema(self, step: int) -> None:
        import torch

        assert self.ema is not None
        d = min(
            float(self.cfg.ema_decay), (1 + step) / (10 + step)
        )  # warm-up: short runs forget the init fast
        with torch.no_grad():
            for k, v in self.net.state_dict().items():
                if v.dtype.is_floating_point:
                    self.ema[k].mul_(d).add_(v.detach(), alpha=1 - d)
                else:
                    self.ema[k].copy_(v)

    def lr_at(self, k: int) -> float:
        """Learning rate of step ``k`` (1-based): linear warm-up, then cosine to lr/20 or constant."""
        if k <= self.warmup:
            return self.lr * k / self.warmup
        if self.cfg.lr_schedule == "constant" or self.total <= self.warmup:
            return self.lr
        frac = min(1.0, (k - self.warmup) / max(1, self.total - self.warmup))
        return self.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * frac)))

    def step(self, k: int) -> dict[str, float]:
        c = self.cfg
        self.net.train()
        lr = self.lr_at(k)
        for opt in self.opts.values():
            for group in opt.param_groups:
                group["lr"] = lr
        if c.model == "acwgan":
            logs = _gan_step(
                self.net, self.opts, self.X, self.L, self.V, c.size, c.batch_size, self.g, c.n_critic
            )
        else:
            logs = _ddpm_step(
                self.net, self.opts, self.X, self.L, self.V, c.size, c.batch_size, self.g, float(c.p_uncond)
            )
        if self.ema is not None:
            self.update_ema(k)
        logs["lr"] = lr
        for name, v in logs.items():
            self.acc.setdefault(name, []).append(v)
        if k % self.steps_per_epoch == 0 or k == self.total:
            self.flush(k)
        return logs

    def flush(self, k: int) -> None:
        if self.acc:
            self.history.append({"step": k, **{n: float(np.mean(v)) for n, v in self.acc.items()}})
            self.acc = {}


def _job(
    X: np.ndarray,
    conditions: Any,
    cfg: GeneratorConfig,
    seed: int,
    budget: tuple[float | None, int | None],
    dev: Any,
):  # noqa: ANN202
    """Validated inputs → the :class:`_Job` (model built with the seed on the CPU, then moved to
    ``dev``; the data stay on the CPU, where the job's generator draws every batch)."""
    import torch

    from semlab.registry import create, make_config

    if cfg.model not in GENERATOR_MODELS:
        raise ParameterError(f"model={cfg.model!r} must be one of {', '.join(GENERATOR_MODELS)}")
    if not hasattr(conditions, "columns"):
        raise ParameterError("conditions must be a pandas DataFrame with one row per image")
    if len(conditions) != len(X):
        raise TableError(
            f"the condition table has {len(conditions)} rows for {len(X)} images; give one row per image"
        )
    columns = cfg.columns if cfg.columns is not None else [str(c) for c in conditions.columns]
    spec = fit_conditions(conditions, columns, kinds=cfg.kinds, bins=cfg.bins)
    lv, vv = spec.encode_table(conditions)
    options = {
        **dict(cfg.options or {}),
        "size": cfg.size,
        "n_levels": spec.n_levels,
        "n_continuous": len(spec.continuous),
    }
    if cfg.width is not None:
        options["width"] = cfg.width
    net_config = make_config("generator", cfg.model, options)
    if not 0 <= float(cfg.p_uncond) < 1:
        raise ParameterError(f"p_uncond={cfg.p_uncond!r} must be in [0, 1)")
    ema_decay = float(cfg.ema_decay or 0.0)
    if not 0 <= ema_decay < 1:
        raise ParameterError(f"ema_decay={cfg.ema_decay!r} must be in [0, 1)")
    if cfg.lr_schedule not in ("cosine", "constant"):
        raise ParameterError(f"lr_schedule={cfg.lr_schedule!r} must be 'cosine' or 'constant'")
    lr = float(cfg.lr if cfg.lr is not None else (2e-4 if cfg.model == "acwgan" else 1e-3))
    steps_per_epoch = max(1, math.ceil(X.shape[0] * X.shape[1] * X.shape[2] / cfg.size**2 / cfg.batch_size))
    epochs, steps = budget
    if steps is not None and epochs is not None:
        raise ParameterError("give epochs or steps, not both")
    total = (
        _pos_int(steps, "steps")
        if steps is not None
        else max(1, round(float(epochs or 10) * steps_per_epoch))
    )
    warmup = (
        min(200, total // 20) if cfg.warmup_steps is None else _pos_int(cfg.warmup_steps, "warmup_steps", 0)
    )
    threshold = pooled_threshold(X, seed=seed) if cfg.threshold is None else float(cfg.threshold)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        net = create("generator", cfg.model, config=net_config)
    net.to(dev).train()
    job = _Job(
        cfg,
        torch.from_numpy(X),
        torch.from_numpy(lv),
        torch.from_numpy(vv),
        spec,
        net,
        net_config,
        _optimizers(net, cfg.model, lr),
        torch.Generator().manual_seed(seed),
        lr,
        threshold,
        steps_per_epoch,
        total,
        seed,
        warmup,
    )
    if ema_decay:
        job.ema = {k: v.detach().clone() for k, v in net.state_dict().items()}
    return job


def train_generator(
    images: Any,
    conditions: Any,
    *,
    config: GeneratorConfig | Mapping[str, Any] | None = None,
    train: TrainConfig | None = None,
    epochs: float | None = None,
    out_dir: str | os.PathLike | None = None,
    pixel_size: float | None = None,
    inputs: Sequence[Any] | None = None,
    preprocessing: Mapping[str, Any] | None = None,
    progress: Progress | None = None,
    **options: Any,
) -> GeneratorTrainResult:
    """Train a conditional generator on grey images and their conditions.

    The training engine (:func:`semlab.training.fit`) runs the steps, with checkpoints that
    resume to exactly the state an uninterrupted run reaches (model, optimisers, EMA and
    random states), an optional wall-clock cap, and a sample grid per epoch.

    Parameters
    ----------
    images : (n, H, W) ndarray, or sequence of (H, W) arrays of one size
        Grey values in [0, 1] (e.g. CLAHE-equalized); each training step takes random
        ``size`` × ``size`` crops (with random 90° rotations and flips).
    conditions : pandas.DataFrame
        One row per image with the condition columns.
    config : GeneratorConfig, optional
        The model and its optimisation (a plain mapping is taken as the network's options).
    train : TrainConfig, optional
        ``max_steps``, ``time_budget_s``, ``seed``, ``checkpoint_every``, ``resume``,
        ``device`` (the model trains there; every random draw is made on the CPU, so one seed
        gives the same batches on any device) and ``amp``.
    epochs : float, optional
        Length of training in epochs instead of steps (default 10 epochs when neither is
        given).  One epoch is as many crops as the images hold without overlap,
        ``ceil(n·H·W / size² / batch)`` steps; a GAN step is one generator update after
        ``n_critic`` critic updates.  A resumed run continues up to the total.
    out_dir : path, optional
        Model folder: ``checkpoint.pt`` (resumable state), ``model.pt`` + ``config.json``
        (the artifact, with the condition mapping), ``samples/epoch_NNN.png``.
    pixel_size : float, optional
        µm per pixel of ``images`` (stored for evaluation in physical units).
    inputs, preprocessing : optional
        Provenance recorded in ``config.json`` (``preprocessing``: the Preparation recipe).
    progress : callable, optional
        ``progress(step, total)``.
    **options
        Single fields: of :class:`GeneratorConfig` (``model=``, ``size=``, ``batch_size=`` …)
        and ``steps=``, ``seed=``, ``time_budget_s=``, ``checkpoint_every=``, ``resume=``,
        ``device=``, ``amp=``.

    Returns
    -------
    GeneratorTrainResult
    """
    import dataclasses

    cfg, tr = _configs(config, train, options)
    seed = int(tr.get("seed") or 0)
    size = _pos_int(cfg.size, "size", 16)
    cfg = dataclasses.replace(
        cfg,
        size=size,
        batch_size=_pos_int(cfg.batch_size, "batch_size"),
        n_critic=_pos_int(cfg.n_critic, "n_critic"),
    )
    X = check_images(images, size)
    # a step budget from steps= or a TrainConfig; else epochs (default 10)
    steps = tr.get("max_steps") if (train is not None or "steps" in options) else None
    job = _job(X, conditions, cfg, seed, (epochs, steps), resolve_device(tr.get("device") or "auto"))
    out = Path(out_dir) if out_dir is not None else None
    if out is not None and out.exists() and not out.is_dir():
        raise ParameterError(f"{out} is a file; give a folder for the model")
    engine = _engine_config(tr, job, out)
    t0 = time.perf_counter()

    def step(k: int) -> dict[str, float]:
        logs = job.step(k)
        grid = cfg.grid_every and (k // job.steps_per_epoch) % int(cfg.grid_every) == 0
        if out is not None and k % job.steps_per_epoch == 0 and grid:
            job.net.eval()
            _grid(
                _wrap(job, pixel_size, out),
                out / "samples" / f"epoch_{k // job.steps_per_epoch:03d}.png",
                seed=seed,
            )
        return logs

    run = fit(
        step,
        config=engine,
        state={"net": job.net, **{f"optimizer_{k}": o for k, o in job.opts.items()}},
        generators=[job.g],
        extra_state=job.state,
        on_resume=lambda saved: job.restore(saved, Path(engine.checkpoint or CHECKPOINT)),
        progress=progress,
    )
    stopped = (
        "already_done"
        if run.resumed_from >= job.total
        else ("done" if run.stopped == "max_steps" else run.stopped)
    )
    job.net.eval()
    gen = _wrap(job, pixel_size, out)
    if out is not None:
        job.flush(run.steps)
        gen = _save(job, out, (inputs, preprocessing, pixel_size), stopped, run)
    return GeneratorTrainResult(
        generator=gen,
        steps=run.steps,
        steps_per_epoch=job.steps_per_epoch,
        seconds=time.perf_counter() - t0,
        stopped=stopped,
        history=job.history,
        path=out,
        images_seen=run.steps * cfg.batch_size,
    )


def _engine_config(tr: dict[str, Any], job: _Job, out: Path | None) -> TrainConfig:
    """The engine's budget: the job's steps, checkpoints per epoch (or ``checkpoint_every``) into ``out``."""
    every = tr.get("checkpoint_every")
    return TrainConfig(
        max_steps=job.total,
        time_budget_s=tr.get("time_budget_s"),
        seed=None,
        device=str(device_of(job.net)),
        amp=tr.get("amp") or "auto",
        checkpoint=str(out / CHECKPOINT) if out is not None else None,
        checkpoint_every=_pos_int(every, "checkpoint_every") if every else job.steps_per_epoch,
        resume=bool(tr.get("resume", True)),
    )


def _wrap(job: _Job, pixel_size: float | None, out: Path | None) -> ConditionalGenerator:
    return ConditionalGenerator(
        model=job.sampler(),
        name=job.cfg.model,
        spec=job.spec,
        threshold=float(job.threshold),
        pixel_size=pixel_size,
        path=out,
    )


def _save(job: _Job, out: Path, provenance: tuple, stopped: str, run: Any) -> ConditionalGenerator:
    """The artifact (model.pt + config.json) in ``out``; returns the generator loaded from it."""
    from semlab.registry import save_artifact

    inputs, preprocessing, pixel_size = provenance
    c, gan = job.cfg, job.cfg.model == "acwgan"
    save_artifact(
        out,
        job.sampler(),
        kind="generator",
        name=c.model,
        config=job.net_config,
        seed=job.seed,
        inputs=inputs,
        preprocessing=preprocessing,
        extra={
            "conditions": job.spec.to_dict(),
            "threshold": float(job.threshold),
            "pixel_size_um": pixel_size,
            "training": {
                "steps": run.steps,
                "images_seen": run.steps * c.batch_size,
                "target_steps": job.total,
                "steps_per_epoch": job.steps_per_epoch,
                "batch_size": c.batch_size,
                "lr": job.lr,
                "n_critic": c.n_critic if gan else None,
                "p_uncond": float(c.p_uncond) if not gan else None,
                "ema_decay": float(c.ema_decay) or None,
                "lr_schedule": c.lr_schedule,
                "warmup_steps": job.warmup,
                "optimizer": "AdamW",
                "gp_weight": GP_WEIGHT if gan else None,
                "cls_weight": CLS_WEIGHT if gan else None,
                "stopped": stopped,
                "steps_this_run": run.steps - run.resumed_from,
                "seconds_this_run": round(run.seconds, 3),
            },
            "history": job.history,
        },
    )
    return load_generator(out)


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
    normalize: str = "none",
) -> tuple[np.ndarray, Any, float | None]:
    """Random patches of every image of a workspace, with each patch's table row.

    The images are prepared by one :class:`~semlab.preprocess.Preparation` recipe (saved
    with a trained generator as its ``preprocessing``): data bar cropped, equalized (CLAHE by default, → [0, 1]),
    resampled to the median pixel size divided by ``scale`` (e.g. 0.5 halves the images,
    so a patch covers more of the field; images of unknown pixel size are scaled by
    ``scale``), and cut into ``patches_per_image`` random ``size`` × ``size`` patches drawn
    from one random stream seeded by ``seed`` over the images in table order.
    ``normalize="levels"`` maps each prepared image's grey values affinely (1st percentile
    → 0, median → 0.5, clipped to [0, 1]; :func:`normalize_levels`): this removes the
    brightness and contrast of each image (the operator's settings) but keeps the shape of
    its histogram, so one grey threshold reads the dark-phase fraction on every image
    (measured on the synthetic sintering series at scale 0.5: per-image correlation of
    that porosity with the true one 0.99, against 0.12–0.58 without, where sample
    brightness dominates; CLAHE and global equalization flatten the histogram and erase
    porosity, so use ``equalize="none"`` with it).

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
    normalize : {"none", "levels"}
        Per-image affine grey normalization after equalization (see above).

    Returns
    -------
    patches : (n, size, size) ndarray of float32
        Grey values in [0, 1].
    table : pandas.DataFrame
        One row per patch: ``hash``, ``sample`` and the condition columns.
    pixel_size : float or None
        µm per pixel of the patches (None when the workspace does not know it).
    """
    patches, table, recipe = _workspace_patches(
        workspace, columns, size, scale, patches_per_image, equalize, seed, normalize
    )
    return patches, table, recipe.pixel_size


#: Grey normalizations :func:`workspace_patches` knows.
NORMALIZATIONS = ("none", "levels")


def normalize_levels(image: np.ndarray) -> np.ndarray:
    """Affine grey normalization of one image: 1st percentile → 0, median → 0.5, clipped to [0, 1].

    Removes an image's brightness (offset) and contrast (gain) while keeping the shape of
    its histogram (unlike histogram equalization), so that one fixed grey threshold
    measures the dark-phase fraction alike on every image.  A flat image maps to 0.5.
    """
    im = np.asarray(image, dtype=np.float32)
    lo, mid = np.percentile(im, [1.0, 50.0])
    if mid - lo <= 1e-6:
        return np.full_like(im, 0.5)
    return np.clip((im - lo) / (2.0 * (mid - lo)), 0.0, 1.0).astype(np.float32)


def _workspace_patches(workspace, columns, size, scale, patches_per_image, equalize, seed, normalize="none"):  # noqa: ANN001, ANN202
    from semlab.dataset import Workspace
    from semlab.preprocess import Preparation, common_pixel_size, prepare_image

    ws = workspace if isinstance(workspace, Workspace) else Workspace.open(workspace)
    if isinstance(columns, str):
        columns = [c.strip().partition(":")[0] for c in columns.split(",") if c.strip()]
    size = _pos_int(size, "size", 16)
    patches_per_image = _pos_int(patches_per_image, "patches_per_image")
    scale = float(scale)
    if not 0 < scale <= 1:
        raise ParameterError(f"scale={scale!r} must be in (0, 1]")
    if normalize not in NORMALIZATIONS:
        raise ParameterError(f"normalize={normalize!r} must be one of {', '.join(NORMALIZATIONS)}")
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
    median = common_pixel_size(table["pixel_size_um"], rule="median") if "pixel_size_um" in table else None
    recipe = Preparation(
        equalize=equalize,
        pixel_size=None if median is None else median / scale,
        scale=scale,
        patch_size=size,
        patches_per_image=patches_per_image,
        seed=int(seed),
    )
    rng = np.random.default_rng(seed)  # one stream over the images, in table order
    out = []
    for row in table.itertuples(index=False):
        im = prepare_image(ws.read(row.hash, crop=True), recipe, name=row.original_name).image
        if normalize == "levels":
            im = normalize_levels(im)
        h, w = im.shape
        if min(h, w) < size:
            raise ParameterError(
                f"image {row.original_name} is {h}×{w} pixels after scaling, smaller than size={size}; "
                "use a smaller --size or a larger --scale"
            )
        r = rng.integers(0, h - size + 1, patches_per_image)
        c = rng.integers(0, w - size + 1, patches_per_image)
        out.append(np.stack([im[a : a + size, b : b + size] for a, b in zip(r, c, strict=True)]))
    rows = np.repeat(np.arange(len(table)), patches_per_image)
    sub = table.iloc[rows][["hash", *(["sample"] if "sample" in table else []), *columns]].reset_index(
        drop=True
    )
    return np.concatenate(out), sub, recipe


def train_from_workspace(
    workspace: Any,
    columns: Sequence[str] | str,
    *,
    model: str = "ddpm",
    size: int = 64,
    scale: float = 1.0,
    patches_per_image: int = 32,
    equalize: str = "clahe",
    normalize: str = "none",
    kinds: Mapping[str, str] | None = None,
    bins: int = 3,
    seed: int = 0,
    **options: Any,
) -> GeneratorTrainResult:
    """:func:`train_generator` on patches of a workspace (see :func:`workspace_patches`).

    ``columns`` may carry kinds as ``"porosity:binned"``.  The preprocessing (equalization,
    grey normalization, scale, patch size, pixel size of the patches in µm) and the image hashes are recorded in
    the model's ``config.json``.  Other keyword arguments go to :func:`train_generator`.
    """
    from semlab.generate.conditioning import parse_condition_args

    cols, parsed = parse_condition_args([columns] if isinstance(columns, str) else list(columns))
    parsed.update(kinds or {})
    patches, table, recipe = _workspace_patches(
        workspace, cols, size, scale, patches_per_image, equalize, seed, normalize
    )
    from semlab.dataset import Workspace

    ws = workspace if isinstance(workspace, Workspace) else Workspace.open(workspace)
    px = recipe.pixel_size
    prep = {**recipe.to_dict(), "normalize": normalize, "workspace": str(ws.path)}
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
