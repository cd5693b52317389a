"""The training recipe: per-image grey normalization, learning-rate schedule, v-prediction."""

from __future__ import annotations

import math

import numpy as np
import pytest

from semlab.errors import ParameterError
from semlab.generate.train import normalize_levels


def test_normalize_levels_removes_brightness_and_contrast_but_keeps_the_fraction():
    rng = np.random.default_rng(0)
    pores = rng.random((64, 64)) < 0.3  # 30 % dark phase
    base = np.where(pores, 0.2, 0.6) + rng.normal(0, 0.03, (64, 64))
    a = normalize_levels(base)
    b = normalize_levels(0.1 + 1.3 * base)  # another operator: brighter, more contrast
    assert np.allclose(a, b, atol=1e-5)
    assert a.min() >= 0 and a.max() <= 1 and abs(float(np.median(a)) - 0.5) < 1e-3
    # one threshold between the phases reads the same dark fraction on both
    assert (a <= 0.3).mean() == pytest.approx(pores.mean(), abs=0.01) == (b <= 0.3).mean()
    assert np.all(normalize_levels(np.full((8, 8), 0.7)) == 0.5)  # flat image: no division by zero


def test_normalize_option_is_checked(tmp_path):
    from semlab.dataset import Workspace
    from semlab.generate import workspace_patches

    ws = Workspace.init(tmp_path / "ws")
    with pytest.raises(ParameterError, match="normalize"):
        workspace_patches(ws, ["burst_count"], normalize="stretch")


def test_learning_rate_schedule_warm_up_then_cosine():
    from semlab.generate.train import GeneratorConfig, _Job

    job = _Job(GeneratorConfig(), *[None] * 8, lr=1e-3, threshold=0.5, steps_per_epoch=1, total=100, seed=0,
               warmup=10)  # fmt: skip
    lrs = [job.lr_at(k) for k in range(1, 101)]
    assert lrs[0] == pytest.approx(1e-4) and lrs[9] == pytest.approx(1e-3)  # linear warm-up
    assert all(x > y for x, y in zip(lrs[10:], lrs[11:], strict=False))  # then decreasing
    assert lrs[-1] == pytest.approx(5e-5)  # to lr / 20 at the last step
    assert lrs[54] == pytest.approx(1e-3 * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * 45 / 90))))
    const = _Job(GeneratorConfig(lr_schedule="constant"), *[None] * 8, lr=1e-3, threshold=0.5,
                 steps_per_epoch=1, total=100, seed=0, warmup=10)  # fmt: skip
    assert const.lr_at(5) == pytest.approx(5e-4) and const.lr_at(100) == 1e-3


def test_bad_schedule_and_prediction():
    from semlab.generate import DDPMConfig

    with pytest.raises(ParameterError, match="prediction"):
        DDPMConfig(prediction="x0")
    torch = pytest.importorskip("torch")
    del torch
    import pandas as pd

    from semlab.generate import train_generator

    x = np.random.default_rng(0).random((4, 16, 16)).astype(np.float32)
    t = pd.DataFrame({"c": ["a", "a", "b", "b"]})
    with pytest.raises(ParameterError, match="lr_schedule"):
        train_generator(x, t, size=16, steps=1, lr_schedule="linear")


def test_v_prediction_recovers_the_image_from_the_true_velocity():
    """DDIM with a network that returns the true v of a fixed image x₀ lands on x₀ (both
    parameterizations agree on the algebra: v = √ᾱ ε − √(1−ᾱ) x₀)."""
    torch = pytest.importorskip("torch")
    from semlab.generate import DDPMConfig
    from semlab.registry import create

    x0 = torch.linspace(-0.8, 0.8, 16 * 16).reshape(1, 1, 16, 16)
    for prediction in ("v", "eps"):
        net = create("generator", "ddpm", config=DDPMConfig(size=16, width=8, depth=1, timesteps=50,
                                                            n_levels=(2,), prediction=prediction))  # fmt: skip

        def oracle(x, t, levels, values, guidance, net=net, prediction=prediction):
            a = net.alpha_bar[t][:, None, None, None]
            eps = (x - a.sqrt() * x0) / (1 - a).sqrt()
            return eps if prediction == "eps" else a.sqrt() * eps - (1 - a).sqrt() * x0

        net.guided_eps = oracle
        out = net.sample(torch.zeros(1, 1, dtype=torch.long), torch.zeros(1, 0), steps=10,
                         generator=torch.Generator().manual_seed(0))  # fmt: skip
        assert torch.allclose(out * 2 - 1, x0, atol=1e-4), prediction
