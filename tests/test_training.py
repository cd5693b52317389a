"""The one training engine: seeds, budgets, early stopping with the best weights, exact resume,
and loading that never runs code from a file."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from semlab.errors import FileFormatError, ParameterError  # noqa: E402
from semlab.training import TrainConfig, fit, load_torch_file, resolve_device  # noqa: E402


def _problem(seed=0):
    """A tiny regression (y = x·w + noise), a linear model, SGD, and a data generator."""
    torch.manual_seed(seed)  # the model's initialisation: trainers seed before they build
    rng = np.random.default_rng(seed)
    x = torch.from_numpy(rng.normal(size=(64, 4)).astype(np.float32))
    y = x @ torch.tensor([1.0, -2.0, 0.5, 3.0]) + 0.1 * torch.from_numpy(
        rng.normal(size=64).astype(np.float32)
    )
    model = torch.nn.Linear(4, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    gen = torch.Generator().manual_seed(seed)

    def step(k):
        idx = torch.randperm(64, generator=gen)[:16]
        opt.zero_grad()
        loss = ((model(x[idx])[:, 0] - y[idx]) ** 2).mean()
        loss.backward()
        opt.step()
        return {"loss": float(loss.detach())}

    def validate():
        with torch.no_grad():
            return {"val_loss": float(((model(x)[:, 0] - y) ** 2).mean())}

    return model, opt, gen, step, validate


def _weights(model):
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def test_same_seed_same_weights_and_the_loss_falls():
    runs = []
    for _ in range(2):
        model, opt, gen, step, validate = _problem()
        res = fit(step, config=TrainConfig(max_steps=30, seed=3), model=model, validate=validate)
        runs.append(_weights(model))
    assert torch.equal(runs[0], runs[1])
    assert res.history[-1]["val_loss"] < res.history[0]["val_loss"] / 5
    assert res.steps == 30 and res.stopped == "max_steps" and len(res.history) == 30


def test_early_stopping_restores_the_best_weights():
    model, opt, gen, step, validate = _problem()
    values = iter([5.0, 3.0, 4.0, 4.5, 6.0, 1.0])
    kept = {}

    def val():
        v = next(values)
        kept[v] = _weights(model).clone()
        return {"val_loss": v}

    res = fit(step, config=TrainConfig(max_steps=6, patience=3), model=model, validate=val)
    assert res.stopped == "early_stopping" and res.steps == 5 and res.best_step == 2
    assert torch.equal(_weights(model), kept[3.0])


def test_time_budget_caps_a_step_budget():
    model, opt, gen, step, validate = _problem()
    res = fit(step, config=TrainConfig(max_steps=10_000, time_budget_s=0.05), model=model)
    assert res.stopped == "time_budget" and 1 <= res.steps < 10_000


def test_resume_equals_uninterrupted_training(tmp_path):
    model, opt, gen, step, validate = _problem()
    whole = fit(step, config=TrainConfig(max_steps=20, seed=1), model=model, validate=validate)
    reference = _weights(model)

    ck = str(tmp_path / "ck.pt")
    model, opt, gen, step, validate = _problem()
    state = {"model": model, "opt": opt}
    fit(
        step,
        config=TrainConfig(max_steps=8, seed=1, checkpoint=ck, restore_best=False),
        model=model,
        validate=validate,
        state=state,
        generators=[gen],
    )
    model, opt, gen, step, validate = _problem()  # a new process: fresh objects
    res = fit(
        step,
        config=TrainConfig(max_steps=20, seed=1, checkpoint=ck),
        model=model,
        validate=validate,
        state={"model": model, "opt": opt},
        generators=[gen],
    )
    assert res.resumed_from == 8 and res.steps == 20
    assert torch.equal(_weights(model), reference)
    assert [r["loss"] for r in res.history] == pytest.approx([r["loss"] for r in whole.history])


class _Bomb:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_a_pickled_file_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "ran"
    bad = tmp_path / "weights.pt"
    bad.write_bytes(pickle.dumps({"w": _Bomb(marker)}))
    with pytest.raises(FileFormatError, match="can run code"):
        load_torch_file(bad)
    torch.save({"state": {"w": _Bomb(marker)}}, tmp_path / "torch_bomb.pt")
    with pytest.raises(FileFormatError, match="can run code"):
        load_torch_file(tmp_path / "torch_bomb.pt", what="checkpoint")
    assert not marker.exists()


def test_bad_config_and_device_are_one_line_errors():
    with pytest.raises(ParameterError, match="max_steps"):
        TrainConfig(max_steps=0)
    with pytest.raises(ParameterError, match="patience"):
        TrainConfig(patience=0)
    with pytest.raises(ParameterError, match="amp"):
        TrainConfig(amp="fp8")
    with pytest.raises(ParameterError, match="device"):
        resolve_device("tpu:7")


def test_amp_changes_nothing_on_the_cpu():
    runs = []
    for amp in ("auto", "off"):
        model, opt, gen, step, validate = _problem()
        res = fit(step, config=TrainConfig(max_steps=10, seed=2, amp=amp, device="cpu"), model=model)
        runs.append(_weights(model))
    assert torch.equal(runs[0], runs[1]) and res.device == "cpu"


def test_step_budget_counts_steps_and_reports_progress():
    model, opt, gen, step, validate = _problem()
    seen = []
    res = fit(
        step,
        config=TrainConfig(max_steps=7, validate_every=3),
        model=model,
        validate=validate,
        progress=lambda done, total: seen.append((done, total)),
    )
    assert res.steps == 7 and res.stopped == "max_steps"
    assert seen == [(k, 7) for k in range(1, 8)]
    assert [r["step"] for r in res.history if "val_loss" in r] == [3, 6, 7]  # and after the last


def test_a_checkpoint_loads_with_weights_only(tmp_path):
    model, opt, gen, step, validate = _problem()
    ck = tmp_path / "ck.pt"
    fit(step, config=TrainConfig(max_steps=3, checkpoint=str(ck)), model=model, generators=[gen])
    state = torch.load(ck, map_location="cpu", weights_only=True)
    assert state["step"] == 3 and set(state["modules"]) == {"model"}
