"""Heads on arrays: above chance on separable features, seeded, exact copies of scikit-learn, saved and reloaded."""

from __future__ import annotations

import numpy as np
import pytest

from semlab.errors import ParameterError
from semlab.learn import MODELS, fit_head, train_head, wilson_interval


@pytest.mark.parametrize("model", MODELS)
def test_separable_features_are_learned(separable, model):
    x, y, g, im = separable
    res = train_head(
        x,
        y,
        g,
        task="classify",
        model=model,
        image_ids=im,
        classes=["a", "b", "c"],
        folds=3,
        epochs=20,
        seed=0,
        permutations=0,  # the permutation test has its own tests (50 refits here)
    )
    # chance is 1/3; the classes are 3 standard deviations apart
    assert res.metrics["patch"]["balanced_accuracy"] > 0.85
    assert res.metrics["image"]["accuracy"] > 0.9
    assert not res.metrics["split"]["leaky"]
    assert len(res.image_predictions) == len(set(im))  # every image predicted once (K folds)
    # image-level probabilities are the mean of their patches'
    first = res.image_predictions.iloc[0]
    rows = res.predictions[res.predictions["image"] == first["image"]]
    assert first["p_a"] == pytest.approx(rows["p_a"].mean())


def test_mlp_is_seeded(separable):
    x, y, g, im = separable
    a, b, c = (
        train_head(x, y, g, task="classify", image_ids=im, epochs=10, seed=s, permutations=0)
        for s in (3, 3, 4)
    )
    pa, pb, pc = (r.predictions.filter(like="p_").to_numpy() for r in (a, b, c))
    assert np.array_equal(pa, pb)
    assert not np.array_equal(pa, pc)


def test_mlp_history_validates_every_10_epochs(separable):
    x, y, g, _ = separable
    res = train_head(x, y, g, task="classify", epochs=25, seed=0, permutations=0)
    hist = res.head.history
    assert [h["epoch"] for h in hist] == list(range(1, 26))
    assert [h["epoch"] for h in hist if "val_loss" in h] == [10, 20, 25]
    assert res.head.best_epoch in (10, 20, 25)
    assert hist[-1]["train_loss"] < hist[0]["train_loss"]


def test_logreg_copy_equals_sklearn(make_blobs):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y, _, _ = make_blobs(n_samples=6, sep=1.0, seed=1)
    head = fit_head(x, y, task="classify", model="logreg", class_weight=False)
    ref = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(x, y)
    assert np.allclose(head.predict(x), ref.predict_proba(x), atol=1e-4)


def test_regression_recovers_a_linear_target():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 8)).astype(np.float32)
    y = 2.0 * x[:, 0] - x[:, 1] + 0.05 * rng.normal(size=300)
    groups = np.arange(300) // 5
    for model in ("logreg", "mlp"):
        res = train_head(
            x, y, groups, task="regress", model=model, folds=3, epochs=60, seed=0, permutations=0
        )
        assert res.metrics["patch"]["r2"] > 0.9, model
        assert res.predictions["confidence"].isna().all()


def test_patch_split_is_labelled_leaky(separable):
    x, y, g, _ = separable
    res = train_head(x, y, g, task="classify", model="logreg", split="patch")
    assert res.metrics["split"]["leaky"] and "LEAKY" in res.metrics["split"]["warning"]


@pytest.mark.parametrize("model", ["mlp", "svm", "pca-logreg"])
def test_head_artifact_round_trip(tmp_path, separable, model):
    from semlab.registry import load_artifact, save_artifact

    x, y, _, _ = separable
    head = fit_head(x, y, task="classify", model=model, epochs=3)
    save_artifact(tmp_path / model, head.module, kind="head", name=head.name, config=head.config, seed=0)
    art = load_artifact(tmp_path / model, kind="head")
    from semlab.learn.train import _predict_module

    assert np.allclose(_predict_module(art.model, x, "classify"), head.predict(x), atol=1e-6)
    assert np.allclose(head.predict(x).sum(1), 1.0, atol=1e-5)


def test_bad_inputs(make_blobs):
    x, y, g, _ = make_blobs(n_samples=6)
    with pytest.raises(ParameterError, match="model='forest' is unknown; choose one of mlp, logreg"):
        train_head(x, y, g, task="classify", model="forest")
    with pytest.raises(ParameterError, match="task="):
        train_head(x, y, g, task="cluster")
    with pytest.raises(ParameterError, match="one target per row"):
        fit_head(x, y[:-1], task="classify")


@pytest.mark.parametrize("folds", [None, 3])
def test_linear_heads_train_on_the_validation_rows_too(make_blobs, folds):
    """Heads without early stopping fit on every non-test row of a split (issue 21, item 1): the fold's
    model equals one fitted on train ∪ validation, and the final refit uses all rows."""
    x, y, g, im = make_blobs(n_samples=24, sep=1.0, seed=2)
    res = train_head(x, y, g, task="classify", model="logreg", image_ids=im, folds=folds, seed=0)
    sp = res.splits[0]
    assert sp.val.size > 0  # the split does carve out validation rows
    rows = np.sort(np.concatenate([sp.train, sp.val]))
    assert res.fold_heads[0].details["n_train_rows"] == rows.size == x.shape[0] - sp.test.size
    ref = fit_head(x[rows], y[rows], task="classify", model="logreg", seed=sp.fold)
    assert np.allclose(res.fold_heads[0].predict(x[sp.test]), ref.predict(x[sp.test]), atol=1e-6)
    if folds is not None:
        assert res.head.details["n_train_rows"] == x.shape[0]
    assert "merged into training" in res.metrics["split"]["validation"]


def _group_labels_shuffled(y, g, seed):
    """Each sample's label replaced by another sample's (the features no longer predict it)."""
    names = np.unique(g)
    label = dict(
        zip(names, np.random.default_rng(seed).permutation([y[g == k][0] for k in names]), strict=True)
    )
    return np.array([label[k] for k in g])


def test_uncertainty_and_permutation_p_value(make_blobs):
    x, y, g, im = make_blobs(n_samples=18, sep=2.0, seed=3)
    res = train_head(x, y, g, task="classify", model="logreg", image_ids=im, folds=3, seed=0)
    u = res.metrics["uncertainty"]
    assert u["metric"] == "accuracy" and u["n_images"] == 36 and u["n_groups"] == 18
    k = round(u["value"] * u["n_images"])
    assert u["wilson_95"] == pytest.approx(list(wilson_interval(k, 36)))
    assert u["wilson_95"][0] <= u["value"] <= u["wilson_95"][1]
    assert u["bootstrap_95"][0] <= u["value"] <= u["bootstrap_95"][1]
    assert u["permutations"] == 50 and u["permutation_p"] < 0.1  # measured 1/51
    assert res.metrics["warnings"] == []  # 6 samples per class
    y_shuffled = _group_labels_shuffled(y, g, seed=5)
    null = train_head(x, y_shuffled, g, task="classify", model="logreg", image_ids=im, folds=3, seed=0)
    assert null.metrics["uncertainty"]["permutation_p"] > 0.2
    skipped = train_head(x, y, g, task="classify", model="logreg", folds=3, permutations=0)
    assert skipped.metrics["uncertainty"]["permutation_p"] is None


def test_regression_gets_a_bootstrap_interval_of_r2():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 6)).astype(np.float32)
    y = 2.0 * x[:, 0] + 0.1 * rng.normal(size=120)
    groups = np.arange(120) // 4
    res = train_head(x, y, groups, task="regress", model="logreg", folds=3, seed=0, permutations=10)
    u = res.metrics["uncertainty"]
    assert u["metric"] == "r2" and 0.9 < u["bootstrap_95"][0] <= u["value"] <= u["bootstrap_95"][1]
    assert u["permutation_p"] == pytest.approx(1 / 11)


def test_fewer_than_three_samples_per_class_warns(make_blobs):
    x, y, g, im = make_blobs(n_samples=4, n_classes=2, sep=3.0)
    res = train_head(x, y, g, task="classify", model="logreg", image_ids=im, folds=2, classes=["a", "b"])
    warnings = res.metrics["warnings"]
    assert len(warnings) == 2 and "class 'a' has only 2 independent sample(s)" in warnings[0]
