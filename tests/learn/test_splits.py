"""Splits grouped by sample never share a sample; they are stratified, seeded and refuse impossible inputs."""

from __future__ import annotations

import numpy as np
import pytest

from semlab.errors import ParameterError
from semlab.learn import make_splits


def _data(n_samples=20, n_classes=4, rows=6):
    y = np.repeat(np.arange(n_samples) % n_classes, rows)
    groups = np.repeat([f"sample{s}" for s in range(n_samples)], rows)
    return y, groups


@pytest.mark.parametrize("folds", [None, 2, 5])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sample_split_never_shares_a_sample(folds, seed):
    y, groups = _data()
    splits = make_splits(y, groups, folds=folds, seed=seed)
    assert len(splits) == (folds or 1)
    for sp in splits:
        sides = [set(groups[sp.train]), set(groups[sp.val]), set(groups[sp.test])]
        assert not sides[0] & sides[1] and not sides[0] & sides[2] and not sides[1] & sides[2]
        assert sp.train.size + sp.val.size + sp.test.size == y.size
        assert set(y[sp.test]) == set(range(4))  # stratified: every class in the test set
        assert set(y[sp.train]) == set(range(4))
        assert not sp.leaky
    if folds:  # every sample is tested exactly once
        tested = np.concatenate([sp.test for sp in splits])
        assert np.array_equal(np.sort(tested), np.arange(y.size))


def test_single_split_is_about_80_10_10():
    y, groups = _data(n_samples=40)
    sp = make_splits(y, groups, seed=0)[0]
    n = np.array([len(set(groups[i])) for i in (sp.train, sp.val, sp.test)])
    assert n.sum() == 40 and 30 <= n[0] <= 34 and 3 <= n[1] <= 5 and 3 <= n[2] <= 5


def test_split_is_seeded():
    y, groups = _data()
    a, b, c = (make_splits(y, groups, folds=3, seed=s) for s in (7, 7, 8))
    assert all(np.array_equal(p.test, q.test) for p, q in zip(a, b, strict=True))
    assert not all(np.array_equal(p.test, q.test) for p, q in zip(a, c, strict=True))


def test_patch_split_is_leaky_and_shares_samples():
    y, groups = _data()
    sp = make_splits(y, groups, scheme="patch", seed=0)[0]
    assert sp.leaky and sp.scheme == "patch"
    assert set(groups[sp.train]) & set(groups[sp.test])  # what makes it leaky


def test_regression_split_groups_by_sample():
    y = np.repeat(np.linspace(0, 1, 15), 4)
    groups = np.repeat(np.arange(15), 4)
    for sp in make_splits(y, groups, task="regress", folds=3, seed=0):
        assert not set(groups[sp.train]) & set(groups[sp.test])


def test_class_with_one_sample_is_named():
    y = np.array([0, 0, 1, 1, 2, 2])
    groups = np.array(["a", "a", "b", "c", "d", "d"])  # class 2 only in sample d, class 0 only in a
    with pytest.raises(ParameterError, match=r"class 'x' has only one sample.*--split patch"):
        make_splits(y, groups, class_names=["x", "y", "z"])


def test_too_few_samples_for_folds():
    y, groups = _data(n_samples=4, n_classes=2)
    with pytest.raises(ParameterError, match=r"only 4 samples for 5 folds"):
        make_splits(y, groups, folds=5)


def test_unknown_scheme():
    y, groups = _data()
    with pytest.raises(ParameterError, match="split='image'"):
        make_splits(y, groups, scheme="image")
