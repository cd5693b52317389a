"""The two conditional generators, registered as ``("generator", "acwgan")`` and ``("generator", "ddpm")``.

* **ACWGAN-GP** (auxiliary-classifier Wasserstein GAN with gradient penalty, as in the
  ShAPE study): the generator maps 100-d noise plus a 20-d embedding per condition to a
  grey image; the critic gives a Wasserstein score and, per condition, an auxiliary
  classification head (a regression head for continuous conditions).
* **Conditional DDPM** (denoising diffusion): a small U-Net predicts the noise from the
  noisy image, the time step and the condition embeddings; conditions are dropped at
  random during training (classifier-free guidance) and sampled with DDIM in few steps.

Both models work on images scaled to [-1, 1] and share ``sample(levels, values, *,
generator, guidance, steps)`` returning images in [0, 1].  Importing this module does not
import torch; the factories do.
"""

from __future__ import annotations

import functools
import math
import numbers
from dataclasses import asdict, dataclass
from typing import Any

from semlab.errors import ParameterError
from semlab.registry import register

__all__ = ["ACWGANConfig", "DDPMConfig", "build_acwgan", "build_ddpm"]

#: Embedding width per condition (the ShAPE study's 20-d label embeddings).
EMBED_DIM = 20


def _check_common(cfg: Any) -> None:
    s = cfg.size
    if isinstance(s, bool) or not isinstance(s, numbers.Integral) or s < 16 or s & (s - 1):
        raise ParameterError(
            f"size={s!r} must be a power of two >= 16 (64 or 128 as in the papers; 32 for quick runs)"
        )
    if isinstance(cfg.width, bool) or not isinstance(cfg.width, numbers.Integral) or cfg.width < 4:
        raise ParameterError(f"width={cfg.width!r} must be an integer >= 4")
    if any(isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 2 for n in cfg.n_levels):
        raise ParameterError(f"n_levels={cfg.n_levels!r}: every categorical condition needs >= 2 levels")
    if (
        isinstance(cfg.n_continuous, bool)
        or not isinstance(cfg.n_continuous, numbers.Integral)
        or cfg.n_continuous < 0
    ):
        raise ParameterError(f"n_continuous={cfg.n_continuous!r} must be an integer >= 0")


@dataclass(frozen=True)
class ACWGANConfig:
    """Shape of an ACWGAN-GP.

    Attributes
    ----------
    size : int, default 64
        Image side in pixels (power of two ≥ 16; 64 or 128 as in the ShAPE study).
    width : int, default 32
        Channels of the generator's last block and the critic's first; doubled per level
        (capped at 8 × width).
    noise_dim : int, default 100
        Length of the noise vector.
    n_levels : tuple of int
        Level counts of the categorical/binned conditions (one embedding table each).
    n_continuous : int, default 0
        Number of continuous conditions.
    """

    size: int = 64
    width: int = 32
    noise_dim: int = 100
    n_levels: tuple[int, ...] = ()
    n_continuous: int = 0

    def __post_init__(self) -> None:
        _check_common(self)
        if (
            isinstance(self.noise_dim, bool)
            or not isinstance(self.noise_dim, numbers.Integral)
            or self.noise_dim < 1
        ):
            raise ParameterError(f"noise_dim={self.noise_dim!r} must be a positive integer")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class DDPMConfig:
    """Shape of a conditional DDPM.

    Attributes
    ----------
    size : int, default 64
        Image side in pixels (power of two ≥ 16).
    width : int, default 32
        Channels of the U-Net's first level; doubled per level down.
    depth : int, default 3
        U-Net levels (2 ** (depth - 1) must divide ``size``).
    timesteps : int, default 1000
        Diffusion steps of the (cosine) noise schedule.
    n_levels : tuple of int
        Level counts of the categorical/binned conditions.
    n_continuous : int, default 0
        Number of continuous conditions.
    prediction : {"v", "eps"}, default "v"
        What the U-Net predicts: the velocity ``v = √ᾱ ε − √(1−ᾱ) x₀`` (default) or the
        noise ε.  With ε, the image estimate at the noisiest steps, ``x₀ = (x − √(1−ᾱ) ε)/√ᾱ``,
        multiplies the network's error by up to 1/√ᾱ ≈ 300 and is clamped, so a briefly
        trained model starts DDIM from saturated images and its grey-level histogram (the
        porosity read off one threshold) comes out wrong; v keeps ``x₀ = √ᾱ x − √(1−ᾱ) v``
        bounded at every step.
    """

    size: int = 64
    width: int = 32
    depth: int = 3
    timesteps: int = 1000
    n_levels: tuple[int, ...] = ()
    n_continuous: int = 0
    prediction: str = "v"

    def __post_init__(self) -> None:
        _check_common(self)
        if (
            isinstance(self.depth, bool)
            or not isinstance(self.depth, numbers.Integral)
            or not 1 <= self.depth <= 5
        ):
            raise ParameterError(f"depth={self.depth!r} must be an integer in 1 … 5")
        if self.size % (2 ** (self.depth - 1)):
            raise ParameterError(
                f"size={self.size} must be divisible by 2**(depth-1)={2 ** (self.depth - 1)}"
            )
        if (
            isinstance(self.timesteps, bool)
            or not isinstance(self.timesteps, numbers.Integral)
            or self.timesteps < 10
        ):
            raise ParameterError(f"timesteps={self.timesteps!r} must be an integer >= 10")
        if self.prediction not in ("v", "eps"):
            raise ParameterError(f"prediction={self.prediction!r} must be 'v' or 'eps'")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@functools.cache
def _cond_embedding() -> Any:
    """The condition embedding module class (built on first use: torch loads lazily)."""
    import torch
    from torch import nn

    class CondEmbedding(nn.Module):
        """One 20-d embedding per condition, concatenated; level ``n`` of each table is "no condition"."""

        def __init__(self, n_levels: tuple[int, ...], n_continuous: int) -> None:
            super().__init__()
            self.tables = nn.ModuleList(nn.Embedding(n + 1, EMBED_DIM) for n in n_levels)
            self.n_levels = tuple(n_levels)
            self.linear = nn.ModuleList(nn.Linear(1, EMBED_DIM) for _ in range(n_continuous))
            self.null = nn.Parameter(torch.zeros(n_continuous, EMBED_DIM))
            self.dim = EMBED_DIM * (len(n_levels) + n_continuous)

        def forward(
            self, levels: torch.Tensor, values: torch.Tensor, drop: torch.Tensor | None = None
        ) -> torch.Tensor:
            parts = []
            for j, table in enumerate(self.tables):
                idx = levels[:, j]
                if drop is not None:
                    idx = torch.where(drop, torch.full_like(idx, self.n_levels[j]), idx)
                parts.append(table(idx))
            for j, lin in enumerate(self.linear):
                e = lin(values[:, j : j + 1])
                if drop is not None:
                    e = torch.where(drop[:, None], self.null[j].expand_as(e), e)
                parts.append(e)
            if not parts:
                return levels.new_zeros((levels.shape[0], 0), dtype=torch.float32)
            return torch.cat(parts, dim=1)

    return CondEmbedding


@functools.cache
def _acwgan_class() -> Any:
    """The ACWGAN-GP module class."""
    import torch
    from torch import nn

    CondEmbedding = _cond_embedding()

    class ACWGAN(nn.Module):
        """Generator ``G(z, c)`` and critic ``D(x) -> (score, class logits…, regressions…)``."""

        def __init__(self, config: ACWGANConfig) -> None:
            super().__init__()
            self.config = config
            c = config
            n_up = int(math.log2(c.size // 4))
            chans = [min(c.width * 2**k, 8 * c.width) for k in range(n_up, -1, -1)]  # 4×4 … size
            self.embed = CondEmbedding(c.n_levels, c.n_continuous)
            self.fc = nn.Sequential(nn.Linear(c.noise_dim + self.embed.dim, chans[0] * 16), nn.ReLU())
            blocks: list[nn.Module] = []
            for cin, cout in zip(chans[:-1], chans[1:], strict=True):
                blocks += [
                    nn.Upsample(scale_factor=2, mode="nearest"),
                    nn.Conv2d(cin, cout, 3, padding=1, bias=False),
                    nn.BatchNorm2d(cout),
                    nn.ReLU(),
                ]
            blocks += [nn.Conv2d(chans[-1], 1, 3, padding=1), nn.Tanh()]
            self.generator = nn.Sequential(*blocks)
            self._chan0 = chans[0]
            # critic: stride-2 convolutions down to 4×4, no batch norm (the gradient penalty is per sample)
            dchans = chans[::-1]
            layers: list[nn.Module] = [nn.Conv2d(1, dchans[0], 3, padding=1), nn.LeakyReLU(0.2)]
            for cin, cout in zip(dchans[:-1], dchans[1:], strict=True):
                layers += [nn.Conv2d(cin, cout, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
            self.critic = nn.Sequential(*layers, nn.Flatten())
            feat = dchans[-1] * 16
            self.score = nn.Linear(feat, 1)
            self.heads = nn.ModuleList(nn.Linear(feat, n) for n in c.n_levels)
            self.regressors = nn.ModuleList(nn.Linear(feat, 1) for _ in range(c.n_continuous))

        def generate(self, z: torch.Tensor, levels: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
            """Images in [-1, 1], (B, 1, size, size)."""
            h = self.fc(torch.cat([z, self.embed(levels, values)], dim=1))
            return self.generator(h.view(-1, self._chan0, 4, 4))

        def criticise(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
            """(score (B,), class logits per categorical condition, predictions per continuous one)."""
            f = self.critic(x)
            return self.score(f)[:, 0], [h(f) for h in self.heads], [r(f)[:, 0] for r in self.regressors]

        @torch.no_grad()
        def sample(self, levels, values, *, generator=None, guidance=None, steps=None) -> torch.Tensor:
            """Images in [0, 1] for ``levels`` (B, n_cat) and ``values`` (B, n_cont); ``guidance``/``steps`` unused."""
            # noise from the (CPU) generator, then to the model's device: one seed, one draw anywhere
            z = torch.randn(levels.shape[0], self.config.noise_dim, generator=generator).to(levels.device)
            return (self.generate(z, levels, values) + 1) / 2

    return ACWGAN


@functools.cache
def _ddpm_class() -> Any:
    """The conditional DDPM module class (noise-predicting U-Net)."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    CondEmbedding = _cond_embedding()

    def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
        half = dim // 2
        freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
        args = t.float()[:, None] * freqs[None]
        return torch.cat([torch.sin(args), torch.cos(args)], dim=1)

    def groups(ch: int) -> int:
        return math.gcd(ch, 8)

    class ResBlock(nn.Module):
        def __init__(self, cin: int, cout: int, emb: int) -> None:
            super().__init__()
            self.n1, self.c1 = nn.GroupNorm(groups(cin), cin), nn.Conv2d(cin, cout, 3, padding=1)
            self.e = nn.Linear(emb, cout)
            self.n2, self.c2 = nn.GroupNorm(groups(cout), cout), nn.Conv2d(cout, cout, 3, padding=1)
            self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

        def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
            h = self.c1(F.silu(self.n1(x))) + self.e(emb)[:, :, None, None]
            return self.c2(F.silu(self.n2(h))) + self.skip(x)

    class DDPM(nn.Module):
        """Noise-predicting U-Net ``eps(x_t, t, c)`` with a cosine schedule and DDIM sampling."""

        def __init__(self, config: DDPMConfig) -> None:
            super().__init__()
            self.config = c = config
            w, e = c.width, 4 * c.width
            self.time = nn.Sequential(nn.Linear(w, e), nn.SiLU(), nn.Linear(e, e))
            self.embed = CondEmbedding(c.n_levels, c.n_continuous)
            self.cond = nn.Linear(self.embed.dim, e) if self.embed.dim else None
            chans = [w * 2**k for k in range(c.depth)]
            self.inp = nn.Conv2d(1, w, 3, padding=1)
            self.down = nn.ModuleList(ResBlock(chans[max(k - 1, 0)], chans[k], e) for k in range(c.depth))
            self.mid = ResBlock(chans[-1], chans[-1], e)
            self.up = nn.ModuleList(
                ResBlock(chans[k] * 2, chans[max(k - 1, 0)], e) for k in range(c.depth - 1, -1, -1)
            )
            self.out = nn.Sequential(nn.GroupNorm(groups(w), w), nn.SiLU(), nn.Conv2d(w, 1, 3, padding=1))
            s = torch.arange(c.timesteps + 1, dtype=torch.float64) / c.timesteps
            f = torch.cos((s + 0.008) / 1.008 * math.pi / 2) ** 2
            abar = (f / f[0]).clamp(min=1e-5)
            abar = torch.minimum(abar[1:], torch.ones(()))  # ᾱ_t for t = 0 … T-1 (t = 0: one step of noise)
            self.alpha_bar: torch.Tensor  # a buffer, declared for the type checker
            self.register_buffer("alpha_bar", abar.float(), persistent=False)

        def forward(self, x, t, levels, values, drop=None) -> torch.Tensor:
            """Predicted v (or noise, see ``DDPMConfig.prediction``) for ``x`` (B,1,S,S) at steps ``t`` (B,); ``drop`` (B,) bool: unconditional rows."""
            emb = self.time(timestep_embedding(t, self.config.width))
            if self.cond is not None:
                emb = emb + self.cond(self.embed(levels, values, drop))
            h = self.inp(x)
            skips = []
            for k, block in enumerate(self.down):
                h = block(h, emb)
                skips.append(h)
                if k < len(self.down) - 1:
                    h = F.avg_pool2d(h, 2)
            h = self.mid(h, emb)
            for k, block in enumerate(self.up):
                if k > 0:
                    h = F.interpolate(h, scale_factor=2, mode="nearest")
                h = block(torch.cat([h, skips.pop()], dim=1), emb)
            return self.out(h)

        def guided_eps(self, x, t, levels, values, guidance: float | None) -> torch.Tensor:
            b = x.shape[0]
            if guidance is None:  # plain conditional
                return self(x, t, levels, values)
            off = torch.ones(b, dtype=torch.bool, device=x.device)
            if guidance == 0:  # exactly the unconditional model
                return self(x, t, levels, values, off)
            both = self(
                torch.cat([x, x]),
                torch.cat([t, t]),
                torch.cat([levels, levels]),
                torch.cat([values, values]),
                torch.cat([torch.zeros_like(off), off]),
            )
            cond, unc = both[:b], both[b:]
            return unc + guidance * (cond - unc)

        @torch.no_grad()
        def sample(self, levels, values, *, generator=None, guidance=None, steps=None) -> torch.Tensor:
            """DDIM (η = 0) images in [0, 1].

            ``guidance``: classifier-free guidance scale w (ε = ε_u + w (ε_c − ε_u)); ``None``
            or 1 is the conditional model, 0 the unconditional one.  ``steps``: DDIM steps
            (default 25).
            """
            T = self.config.timesteps
            n = int(steps or 25)
            ts = torch.linspace(T - 1, 0, min(max(n, 1), T)).round().long().to(levels.device)
            b, s = levels.shape[0], self.config.size
            x = torch.randn(b, 1, s, s, generator=generator).to(levels.device)
            ab = self.alpha_bar
            for i, t in enumerate(ts):
                a = ab[t]
                a_prev = ab[ts[i + 1]] if i + 1 < len(ts) else torch.ones(())
                out = self.guided_eps(x, t.repeat(b), levels, values, guidance)
                if self.config.prediction == "v":
                    x0 = (a.sqrt() * x - (1 - a).sqrt() * out).clamp(-1, 1)
                else:
                    x0 = ((x - (1 - a).sqrt() * out) / a.sqrt()).clamp(-1, 1)
                eps = (x - a.sqrt() * x0) / (1 - a).sqrt()
                x = a_prev.sqrt() * x0 + (1 - a_prev).sqrt() * eps
            return ((x.clamp(-1, 1) + 1) / 2).contiguous()

    return DDPM


def _classes() -> dict[str, Any]:
    """The model classes by name (ACWGAN, DDPM)."""
    return {"ACWGAN": _acwgan_class(), "DDPM": _ddpm_class()}


@register("generator", "acwgan")
def build_acwgan(config: ACWGANConfig) -> Any:
    """ACWGAN-GP: conditional generator and critic with auxiliary classification heads."""
    return _classes()["ACWGAN"](config)


@register("generator", "ddpm")
def build_ddpm(config: DDPMConfig) -> Any:
    """Conditional DDPM: small U-Net denoiser, classifier-free guidance, DDIM sampling."""
    return _classes()["DDPM"](config)
