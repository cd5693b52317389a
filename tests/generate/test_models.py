"""The generator networks: registry, shapes, value ranges, guidance, config checks."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from semlab.errors import ParameterError  # noqa: E402
from semlab.registry import available, create  # noqa: E402


def test_registered():
    assert {"acwgan", "ddpm"} <= set(available("generator"))


@pytest.mark.parametrize("size", [16, 32])
def test_acwgan_shapes(size):
    torch.manual_seed(0)
    m = create("generator", "acwgan", size=size, width=8, n_levels=(2, 3), n_continuous=1).eval()
    b = 5
    levels = torch.tensor([[0, 2], [1, 0], [1, 1], [0, 0], [1, 2]])
    values = torch.randn(b, 1)
    z = torch.randn(b, m.config.noise_dim)
    x = m.generate(z, levels, values)
    assert x.shape == (b, 1, size, size) and x.abs().max() <= 1
    score, logits, regs = m.criticise(x)
    assert score.shape == (b,)
    assert [lg.shape for lg in logits] == [(b, 2), (b, 3)]
    assert [r.shape for r in regs] == [(b,)]
    assert m.config.noise_dim == 100 and m.embed.dim == 3 * 20  # 20-d embedding per condition
    img = m.sample(levels, values, generator=torch.Generator().manual_seed(1))
    assert img.shape == (b, 1, size, size) and 0 <= img.min() and img.max() <= 1


def test_ddpm_shapes_and_range():
    torch.manual_seed(0)
    m = create("generator", "ddpm", size=16, width=8, depth=2, n_levels=(2,)).eval()
    x = torch.randn(3, 1, 16, 16)
    eps = m(x, torch.tensor([0, 500, 999]), torch.tensor([[0], [1], [0]]), torch.zeros(3, 0))
    assert eps.shape == x.shape
    img = m.sample(
        torch.zeros(3, 1, dtype=torch.long),
        torch.zeros(3, 0),
        generator=torch.Generator().manual_seed(0),
        steps=4,
    )
    assert img.shape == (3, 1, 16, 16) and 0 <= img.min() and img.max() <= 1
    ab = m.alpha_bar
    assert ab.shape == (1000,) and bool((ab[1:] <= ab[:-1]).all()) and 0 < ab[-1] < 0.01 < 0.99 < ab[0]


def test_guidance_zero_is_unconditional():
    """w = 0 ignores the condition (samples of two conditions coincide); w = 1 does not."""
    torch.manual_seed(0)
    m = create("generator", "ddpm", size=16, width=8, depth=2, n_levels=(2,)).eval()
    with torch.no_grad():
        for p in m.embed.parameters():  # make the condition matter at initialisation
            p.mul_(50)
    lv0, lv1 = torch.zeros(2, 1, dtype=torch.long), torch.ones(2, 1, dtype=torch.long)
    v = torch.zeros(2, 0)

    def draw(levels, w):
        return m.sample(levels, v, generator=torch.Generator().manual_seed(3), guidance=w, steps=5)

    assert torch.equal(draw(lv0, 0.0), draw(lv1, 0.0))
    assert not torch.allclose(draw(lv0, 1.0), draw(lv1, 1.0))
    # and it equals the unconditional model run directly (drop every condition)
    x = torch.randn(2, 1, 16, 16)
    t = torch.tensor([10, 700])
    direct = m(x, t, lv1, v, torch.ones(2, dtype=torch.bool))
    assert torch.equal(m.guided_eps(x, t, lv1, v, 0.0), direct)
    # guidance interpolates/extrapolates between the two
    cond = m(x, t, lv1, v)
    assert torch.allclose(m.guided_eps(x, t, lv1, v, 2.0), direct + 2 * (cond - direct), atol=1e-5)


@pytest.mark.parametrize(
    "name,opts,match",
    [
        ("acwgan", {"size": 48}, "power of two"),
        ("ddpm", {"size": 8}, "power of two"),
        ("ddpm", {"n_levels": (1,)}, ">= 2 levels"),
        ("ddpm", {"depth": 9}, "depth"),
    ],
)
def test_bad_config(name, opts, match):
    with pytest.raises(ParameterError, match=match):
        create("generator", name, **opts)
