"""The demo's generate step: train once, reuse on the next run, report porosity agreement per burst count."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow  # docs/conventions.md: slow tests are skipped by `make test-fast`

pytest.importorskip("torch")


def test_generate_step_trains_then_reuses(quick_ws, tmp_path, one_torch_thread):
    from semlab.demo._generate import generate_step

    calls = []
    first = generate_step(
        quick_ws, out_dir=tmp_path, quick=True, steps=10, train_progress=lambda d, t: calls.append((d, t))
    )
    # a budget in steps, never seconds: exactly 10 steps, reported step by step
    assert first.trained and first.steps == 10 and calls[-1][0] == 10
    assert list(first.porosity_real) == ["1", "2", "4", "8"] == list(first.porosity_generated)
    # the real patches carry the series' trend: porosity falls from burst 1 to burst 8
    assert first.porosity_real["1"] > first.porosity_real["8"]
    assert all(0 <= v <= 1 for v in first.porosity_generated.values())
    assert (tmp_path / "model" / "model.pt").is_file() and (tmp_path / "report" / "report.json").is_file()
    lines = first.lines()
    assert len(lines) == 3 and all(line.startswith("generate: ") for line in lines)
    second = generate_step(quick_ws, out_dir=tmp_path, quick=True, steps=10)
    assert not second.trained and second.steps == first.steps
    assert second.porosity_generated == first.porosity_generated  # same model, same seed
    assert "loaded" in second.lines()[0]


def test_generate_step_prints_the_same_digits_whatever_the_callers_threads(quick_ws, tmp_path):
    """Two fresh trainings, the second with the caller's torch set to another thread count (as a
    loaded or a bigger machine might be): the step fixes its own thread count and counts its
    budget in steps, so the printed lines agree digit for digit (paths aside)."""
    import torch

    from semlab.demo._generate import DEMO_THREADS, generate_step

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        a = generate_step(quick_ws, out_dir=tmp_path / "a", quick=True, steps=8)
        torch.set_num_threads(DEMO_THREADS + 1)
        b = generate_step(quick_ws, out_dir=tmp_path / "b", quick=True, steps=8)
        assert torch.get_num_threads() == DEMO_THREADS + 1  # the caller's setting is restored
    finally:
        torch.set_num_threads(before)
    assert a.trained and b.trained and a.steps == b.steps == 8 and a.images_seen == 8 * 32
    strip = [line.split(" → ")[0] for line in a.lines()]
    assert strip == [line.split(" → ")[0] for line in b.lines()]
    assert a.porosity_generated == b.porosity_generated and a.porosity_r2 == b.porosity_r2
