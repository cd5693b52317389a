"""Metrics on hand-checked cases, equal to scikit-learn's; image-level aggregation by hand."""

from __future__ import annotations

import numpy as np
import pytest

from semlab.learn import (
    aggregate_by_image,
    classification_metrics,
    grouped_bootstrap_interval,
    regression_metrics,
    wilson_interval,
)

# Six rows, three classes; predictions (arg-max) 0, 1, 1, 1, 2, 0.
Y = np.array([0, 0, 1, 1, 2, 2])
P = np.array(
    [
        [0.8, 0.1, 0.1],
        [0.3, 0.6, 0.1],
        [0.2, 0.7, 0.1],
        [0.1, 0.5, 0.4],
        [0.1, 0.2, 0.7],
        [0.5, 0.2, 0.3],
    ]
)


def test_classification_metrics_by_hand():
    m = classification_metrics(Y, P, classes=["a", "b", "c"])
    assert m["n"] == 6
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["balanced_accuracy"] == pytest.approx((1 / 2 + 1 + 1 / 2) / 3)
    assert m["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    # F1 per class: a: p=1/2, r=1/2 → 1/2; b: p=2/3, r=1 → 4/5; c: p=1, r=1/2 → 2/3
    assert m["macro_f1"] == pytest.approx((1 / 2 + 4 / 5 + 2 / 3) / 3)
    # one-vs-rest AUC of class c: scores of positives {0.7, 0.3} vs negatives {0.1, 0.1, 0.1, 0.4}:
    # pairs won 4 + 3 = 7 of 8
    assert m["roc_auc"]["c"] == pytest.approx(7 / 8)


def test_classification_metrics_equal_sklearn():
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score, roc_auc_score

    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 200)
    p = rng.dirichlet(np.ones(4), 200) + np.eye(4)[y] * 0.3
    p /= p.sum(1, keepdims=True)
    m = classification_metrics(y, p, classes=list("wxyz"))
    pred = p.argmax(1)
    assert m["accuracy"] == pytest.approx(accuracy_score(y, pred))
    assert m["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y, pred))
    assert m["macro_f1"] == pytest.approx(f1_score(y, pred, average="macro"))
    for c, name in enumerate("wxyz"):
        assert m["roc_auc"][name] == pytest.approx(roc_auc_score(y == c, p[:, c]))


def test_auc_of_absent_class_is_none():
    m = classification_metrics(
        np.array([0, 0, 1]), np.array([[0.9, 0.1, 0], [0.6, 0.4, 0], [0.2, 0.8, 0]]), classes=["a", "b", "c"]
    )
    assert m["roc_auc"]["c"] is None and m["roc_auc"]["a"] == pytest.approx(1.0)


def test_regression_metrics_by_hand():
    m = regression_metrics(np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.5, 2.0, 2.0, 4.5]))
    assert m["mae"] == pytest.approx(0.5)
    assert m["rmse"] == pytest.approx(np.sqrt((0.25 + 0 + 1 + 0.25) / 4))
    assert m["r2"] == pytest.approx(1 - 1.5 / 5.0)


def test_image_level_aggregation_by_hand():
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.1, 0.9], [0.3, 0.7]])
    ids = np.array(["b", "a", "b", "a", "c"])
    got_ids, means = aggregate_by_image(probs, ids)
    assert got_ids.tolist() == ["b", "a", "c"]  # order of first appearance
    assert np.allclose(means, [[0.75, 0.25], [0.15, 0.85], [0.3, 0.7]])
    _, values = aggregate_by_image(np.array([1.0, 2.0, 4.0]), np.array(["x", "y", "x"]))
    assert np.allclose(values, [2.5, 2.0])


def test_wilson_interval_by_hand():
    # 8 of 10: p = 0.8, z = 1.959964; centre = (p + z²/2n) / (1 + z²/n) = 0.716745,
    # half-width = z·sqrt(p(1-p)/n + z²/4n²) / (1 + z²/n) = 0.226582
    lo, hi = wilson_interval(8, 10)
    assert lo == pytest.approx(0.490162, abs=1e-5) and hi == pytest.approx(0.943318, abs=1e-5)
    assert wilson_interval(0, 5)[0] == 0.0 and wilson_interval(5, 5)[1] == 1.0
    assert wilson_interval(0, 0) is None


def test_grouped_bootstrap_resamples_whole_groups():
    # two groups, one all right and one all wrong: resampling groups gives 0, 0.5 or 1 only
    correct = np.array([1, 1, 1, 0, 0, 0], float)
    groups = np.array(["a", "a", "a", "b", "b", "b"])
    lo, hi = grouped_bootstrap_interval(correct, np.ones(6), groups, resamples=500, seed=0)
    assert (lo, hi) == (0.0, 1.0)
    again = grouped_bootstrap_interval(correct, np.ones(6), groups, resamples=500, seed=0)
    assert again == (lo, hi)
    # many independent groups: the interval shrinks around the accuracy
    rng = np.random.default_rng(0)
    ok = (rng.random(400) < 0.7).astype(float)
    lo, hi = grouped_bootstrap_interval(ok, np.ones(400), np.arange(400), seed=1)
    assert lo < ok.mean() < hi and hi - lo < 0.1
    t = rng.normal(size=50)
    lo, hi = grouped_bootstrap_interval(t, t + 0.1 * rng.normal(size=50), np.arange(50), metric="r2")
    assert 0.95 < lo < hi <= 1.0
