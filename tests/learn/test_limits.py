"""Predictions that know their limits: temperature calibration, the in-domain score, the shortcut check."""

from __future__ import annotations

import numpy as np
import pytest

from semlab.learn.domain import fit_domain, load_domain
from semlab.learn.metrics import (
    apply_temperature,
    calibration_report,
    expected_calibration_error,
    fit_temperature,
)
from semlab.learn.shortcut import SHORTCUT_MESSAGE, shortcut_verdict


def _overconfident(n: int = 600, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three classes; the true class probability is 0.6 but the model says ≈0.97."""
    rng = np.random.default_rng(seed)
    pred = rng.integers(0, 3, n)
    y = np.where(rng.random(n) < 0.6, pred, (pred + rng.integers(1, 3, n)) % 3)
    p = np.full((n, 3), 0.015)
    p[np.arange(n), pred] = 0.97
    return p, y


def test_ece_of_known_cases():
    # every row 0.8 confident, 80 % right: perfectly calibrated
    p = np.tile([0.8, 0.2], (10, 1))
    y = np.array([0] * 8 + [1] * 2)
    ece, bins = expected_calibration_error(p, y, n_bins=10)
    assert ece == pytest.approx(0.0, abs=1e-12)
    assert sum(b["count"] for b in bins) == 10 and len(bins) == 10
    # 0.6 confident and always right: ECE 0.4
    ece, _ = expected_calibration_error(np.tile([0.6, 0.4], (5, 1)), np.zeros(5, int))
    assert ece == pytest.approx(0.4)


def test_temperature_softens_an_overconfident_model():
    p, y = _overconfident()
    rep = calibration_report(p, y, n_bins=10)
    assert rep["temperature"] > 1.5
    assert rep["ece_before"] == pytest.approx(0.37, abs=0.05)  # 0.97 said, 0.6 observed
    assert rep["ece_after"] < 0.05 < rep["ece_before"]
    q = apply_temperature(p, rep["temperature"])
    assert np.allclose(q.sum(1), 1.0) and (q.argmax(1) == p.argmax(1)).all()
    # the calibrated confidence is near the observed accuracy 0.6
    assert q.max(1).mean() == pytest.approx(0.6, abs=0.05)


def test_calibrated_probabilities_keep_a_temperature_near_one():
    rng = np.random.default_rng(1)
    p = rng.dirichlet([1, 1, 1], 2000)
    y = np.array([rng.choice(3, p=row) for row in p])
    assert 0.85 < fit_temperature(p, y) < 1.15


def test_domain_threshold_separates_far_images():
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(10), 3)
    centres = rng.normal(0, 1, (10, 64))
    train = centres[groups] + rng.normal(0, 0.3, (30, 64))
    dom = fit_domain(train, groups)
    held_out = rng.normal(0, 1, (20, 64)) + rng.normal(0, 0.3, (20, 64))
    far = rng.normal(0, 1, (5, 64)) * 6 + 10
    inside = dom.score(held_out) <= dom.threshold
    assert inside.mean() >= 0.8
    assert (dom.score(far) > dom.threshold).all()
    assert dom.oof_scores.shape == (30,)
    assert dom.threshold == pytest.approx(np.quantile(dom.oof_scores, 0.99))


def test_domain_model_round_trips_without_pickle(tmp_path):
    rng = np.random.default_rng(2)
    dom = fit_domain(rng.normal(size=(8, 5)), np.arange(8) // 2, k=3)
    dom.save(tmp_path)
    back = load_domain(tmp_path)
    assert back is not None and back.k == 3 and back.threshold == dom.threshold
    x = rng.normal(size=(4, 5))
    assert np.allclose(back.score(x), dom.score(x))
    assert load_domain(tmp_path / "nothing-here") is None


def test_shortcut_verdict():
    # nuisance 0.95 against an image model of 1.0, chance 0.5, 40 images: warn
    hit = shortcut_verdict(
        1.0, 0.95, task="classify", chance=0.5, image_interval=[0.91, 1.0], nuisance_interval=[0.83, 0.99]
    )
    assert hit["warning"] and SHORTCUT_MESSAGE in hit["message"]
    assert hit["ratio_above_chance"] == pytest.approx(0.9)
    # nuisance at chance: no warning
    miss = shortcut_verdict(
        1.0, 0.5, task="classify", chance=0.5, image_interval=[0.91, 1.0], nuisance_interval=[0.35, 0.65]
    )
    assert not miss["warning"] and miss["message"] is None
    # both near chance: no warning even though the ratio is high
    low = shortcut_verdict(
        0.55, 0.55, task="classify", chance=0.5, image_interval=[0.4, 0.7], nuisance_interval=[0.4, 0.7]
    )
    assert not low["warning"]
    # regression: R² 0.8 from nuisance against 0.85
    assert shortcut_verdict(0.85, 0.8, task="regress", chance=0.0, nuisance_interval=[0.6, 0.9])["warning"]
