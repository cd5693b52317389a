"""Training: determinism, resume = uninterrupted, artifacts, sample grids, bad input."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")

from semlab.errors import ParameterError, TableError  # noqa: E402
from semlab.generate import ConditionSpec, load_generator, train_generator  # noqa: E402


@pytest.fixture(scope="module")
def small(burst_patches):
    patches, table, _ = burst_patches
    idx = np.r_[0:12, len(table) - 12 : len(table)]  # 12 patches of burst 1, 12 of burst 8
    return patches[idx][:, :16, :16].copy(), table.iloc[idx][["burst_count"]].reset_index(drop=True)


TINY = {"size": 16, "width": 8, "batch_size": 8, "grid_every": 0}


def _same(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.slow
@pytest.mark.parametrize("model,extra", [("ddpm", {"config": {"depth": 2}}), ("acwgan", {"n_critic": 2})])
def test_deterministic_with_seed(small, model, extra):
    x, t = small
    a = train_generator(x, t, model=model, steps=3, seed=4, **TINY, **extra)
    b = train_generator(x, t, model=model, steps=3, seed=4, **TINY, **extra)
    c = train_generator(x, t, model=model, steps=3, seed=5, **TINY, **extra)
    assert _same(a.model, b.model) and not _same(a.model, c.model)
    sa = a.generator.sample({"burst_count": 8}, 3, seed=1, steps=3)
    sb = b.generator.sample({"burst_count": 8}, 3, seed=1, steps=3)
    assert sa.shape == (3, 16, 16) and sa.dtype == np.float32 and np.array_equal(sa, sb)
    assert not np.array_equal(sa, a.generator.sample({"burst_count": 8}, 3, seed=2, steps=3))


@pytest.mark.slow
@pytest.mark.parametrize(
    "model,extra",
    [  # a constant learning rate: a longer budget then continues a shorter run exactly
        ("ddpm", {"config": {"depth": 2}, "lr_schedule": "constant"}),
        ("ddpm", {"config": {"depth": 2}, "ema_decay": 0.9, "lr_schedule": "constant"}),
        ("acwgan", {"n_critic": 2, "lr_schedule": "constant"}),
    ],
)
def test_resume_equals_uninterrupted(small, tmp_path, model, extra):
    x, t = small
    full = train_generator(x, t, model=model, steps=4, seed=0, out_dir=tmp_path / "full", **TINY, **extra)
    half = train_generator(x, t, model=model, steps=2, seed=0, out_dir=tmp_path / "cut", **TINY, **extra)
    assert half.steps == 2 and not _same(half.model, full.model)
    rest = train_generator(x, t, model=model, steps=4, seed=0, out_dir=tmp_path / "cut", **TINY, **extra)
    assert rest.steps == 4 and _same(rest.model, full.model)
    meta = json.loads((tmp_path / "cut" / "config.json").read_text())
    assert meta["extra"]["training"]["steps_this_run"] == 2
    # another run's checkpoint is not silently continued
    with pytest.raises(ParameterError, match="belongs to another run"):
        train_generator(x, t, model=model, steps=6, seed=1, out_dir=tmp_path / "cut", **TINY, **extra)


@pytest.mark.slow
@pytest.mark.parametrize("model,extra", [("ddpm", {"config": {"depth": 2}}), ("acwgan", {"n_critic": 2})])
def test_interrupted_run_resumes_on_the_same_cosine_schedule(small, tmp_path, model, extra):
    """The default schedule (warm-up + cosine over the budget) and EMA: a run stopped after its
    step-2 checkpoint and started again with the same budget ends where an uninterrupted one does."""
    x, t = small
    kw = {"steps": 6, "seed": 0, "checkpoint_every": 2, **TINY, **extra}
    full = train_generator(x, t, model=model, out_dir=tmp_path / "full", **kw)

    def stop_at_2(done, total):
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_generator(x, t, model=model, out_dir=tmp_path / "cut", progress=stop_at_2, **kw)
    rest = train_generator(x, t, model=model, out_dir=tmp_path / "cut", **kw)
    assert rest.steps == 6 and _same(rest.model, full.model)
    lrs = [h["lr"] for h in full.history]
    assert lrs == sorted(lrs, reverse=True) and lrs[-1] < lrs[0]  # the cosine decays


@pytest.mark.slow
def test_artifact_round_trip_and_grids(small, tmp_path):
    x, t = small
    r = train_generator(
        x,
        t,
        model="ddpm",
        epochs=2,
        seed=0,
        out_dir=tmp_path / "m",
        config={"depth": 2},
        size=16,
        width=8,
        batch_size=8,
        grid_every=1,
        pixel_size=0.016,
    )
    assert r.steps_per_epoch == 3 and r.steps == 6  # 24 patches of 16² / 8 per batch
    assert sorted(p.name for p in (tmp_path / "m" / "samples").iterdir()) == [
        "epoch_001.png",
        "epoch_002.png",
    ]
    gen = load_generator(tmp_path / "m")
    assert gen.name == "ddpm" and gen.size == 16 and gen.pixel_size == 0.016
    assert gen.spec == r.generator.spec == ConditionSpec.from_dict(gen.meta["extra"]["conditions"])
    assert gen.spec.conditions[0].levels == ("1", "8")
    assert 0 < gen.threshold < 1
    assert _same(gen.model, r.model)
    assert np.array_equal(
        gen.sample({"burst_count": 1}, 2, seed=0, steps=2),
        r.generator.sample({"burst_count": 1}, 2, seed=0, steps=2),
    )


@pytest.mark.slow
def test_time_budget_stops_and_saves(small, tmp_path):
    x, t = small
    r = train_generator(
        x,
        t,
        model="ddpm",
        steps=10_000,
        time_budget_s=0.0,
        out_dir=tmp_path / "m",
        config={"depth": 2},
        **TINY,
    )
    assert r.stopped == "time_budget" and r.steps == 1
    assert (tmp_path / "m" / "model.pt").is_file() and (tmp_path / "m" / "checkpoint.pt").is_file()


def test_bad_input_one_line_errors(small):
    x, t = small
    cases = [
        (lambda: train_generator([x[0], x[1][:12]], t.iloc[:2], **TINY), ParameterError, "mixed sizes"),
        (lambda: train_generator(x * 3, t, **TINY), ParameterError, r"give grey values in \[0, 1\]"),
        (lambda: train_generator(x, t.iloc[:5], **TINY), TableError, "5 rows for 24 images"),
        (lambda: train_generator(x, t.assign(burst_count=4), **TINY), TableError, "single value"),
        (lambda: train_generator(x, t, model="vae", **TINY), ParameterError, "acwgan, ddpm"),
        (lambda: train_generator(x, t, **{**TINY, "size": 64}), ParameterError, "smaller than size=64"),
    ]
    for call, exc, match in cases:
        with pytest.raises(exc, match=match) as e:
            call()
        assert "\n" not in str(e.value)


@pytest.mark.slow
def test_unknown_condition_value_at_sampling(small):
    x, t = small
    r = train_generator(x, t, model="acwgan", steps=1, n_critic=1, **TINY)
    with pytest.raises(ParameterError, match=r"burst_count=2 is not a level .* choose one of 1, 8"):
        r.generator.sample({"burst_count": 2}, 2)
    with pytest.raises(ParameterError, match="guidance"):
        r.generator.sample({"burst_count": 1}, 2, guidance=-1)


@pytest.mark.slow
def test_several_conditions(small):
    x, t = small
    t = t.assign(temper=np.where(np.arange(len(t)) % 2, "T6", "T5"), speed=np.linspace(1, 2, len(t)))
    r = train_generator(x, t, model="acwgan", steps=1, n_critic=1, kinds={"speed": "continuous"}, **TINY)
    spec = r.generator.spec
    assert [c.kind for c in spec.conditions] == ["categorical", "categorical", "continuous"]
    assert r.model.embed.dim == 60 and len(r.model.heads) == 2 and len(r.model.regressors) == 1
    s = r.generator.sample({"burst_count": 8, "temper": "T6", "speed": 1.5}, 2)
    assert s.shape == (2, 16, 16)
    assert isinstance(pd.DataFrame(s[0]), pd.DataFrame)


class _Bomb:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_planted_checkpoint_is_refused_without_running(small, tmp_path):
    from semlab.errors import FileFormatError

    x, t = small
    marker = tmp_path / "ran"
    out = tmp_path / "m"
    out.mkdir()
    torch.save({"fingerprint": _Bomb(marker)}, out / "checkpoint.pt")
    with pytest.raises(FileFormatError, match="can run code"):
        train_generator(x, t, model="ddpm", steps=2, seed=0, out_dir=out, config={"depth": 2}, **TINY)
    assert not marker.exists()


def test_device_is_the_engines(small):
    x, t = small
    a = train_generator(x, t, model="acwgan", steps=1, n_critic=1, seed=0, **TINY)
    b = train_generator(x, t, model="acwgan", steps=1, n_critic=1, seed=0, device="cpu", amp="off", **TINY)
    if torch.cuda.is_available():  # "auto" is the engine's CUDA
        assert next(a.model.parameters()).device.type == "cuda"
    else:  # "auto" is the CPU: the same weights as device="cpu"
        assert _same(a.model, b.model)
    if not torch.cuda.is_available():
        with pytest.raises(ParameterError, match="CUDA is not available"):
            train_generator(x, t, model="acwgan", steps=1, device="cuda", **TINY)
