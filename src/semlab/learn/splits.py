"""Train/validation/test splits grouped by sample (honest) or by patch (leaky, opt-in).

A sample (one film, one specimen) gives several micrographs and each micrograph many
patches; patches of one sample are near-duplicates, so a split that puts some of them in
training and others in the test set measures memory, not generalisation.  The default
scheme ``"sample"`` keeps every sample on one side.  ``"patch"`` reproduces the random
patch-level split of the μ-SLS paper and is labelled ``leaky``.

Classification splits are stratified at the group level: the groups of each class are
shuffled (seeded) and dealt out class by class, so every class with at least two groups
appears in training and in the test set.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from semlab.errors import ParameterError

__all__ = ["SPLIT_SCHEMES", "Split", "make_splits"]

SPLIT_SCHEMES = ("sample", "patch")
#: Share of a fold's training groups moved to validation (≈ 10 % of all groups for 5 folds).
_VAL_SHARE = 0.125


@dataclass(frozen=True)
class Split:
    """Row indices of one train/validation/test partition.

    Attributes
    ----------
    train, val, test : (k,) ndarray of int64
        Row indices; disjoint.  ``val`` may be empty (too few groups to spare one).
    fold : int
        Fold number (0 for a single split).
    scheme : {"sample", "patch"}
        What the split is grouped by.
    leaky : bool
        True for the patch-level split: rows of one sample can sit on both sides.
    """

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    fold: int
    scheme: str
    leaky: bool

    def to_dict(self) -> dict[str, Any]:
        """Sizes and labels (not the indices)."""
        return {
            "fold": self.fold,
            "scheme": self.scheme,
            "leaky": self.leaky,
            "n_train": int(self.train.size),
            "n_val": int(self.val.size),
            "n_test": int(self.test.size),
        }


def _group_labels(y: np.ndarray, gid: np.ndarray, n_groups: int, task: str) -> np.ndarray:
    """One stratification key per group: majority class, or the rank bin of the mean target."""
    if task == "classify":
        out = np.empty(n_groups, dtype=np.int64)
        for g in range(n_groups):
            vals, counts = np.unique(y[gid == g], return_counts=True)
            out[g] = vals[np.argmax(counts)]
        return out
    means = np.array([float(np.mean(y[gid == g])) for g in range(n_groups)])
    order = np.argsort(means, kind="stable")
    bins = np.empty(n_groups, dtype=np.int64)
    n_bins = max(1, min(5, n_groups // 3))
    bins[order] = np.arange(n_groups) * n_bins // n_groups
    return bins


def _rows(gid: np.ndarray, groups: list[int]) -> np.ndarray:
    return np.flatnonzero(np.isin(gid, np.asarray(groups, dtype=np.int64))).astype(np.int64)


def _carve_val(train_groups: dict[int, list[int]], fraction: float, rng: np.random.Generator) -> list[int]:
    """Move about ``fraction`` of each stratum's training groups to validation, keeping ≥ 2 in training."""
    val: list[int] = []
    for key in sorted(train_groups):
        gs = train_groups[key]
        k = max(1, int(round(fraction * len(gs))))
        if len(gs) - k < 2:
            continue
        perm = rng.permutation(len(gs))
        val += [gs[i] for i in perm[:k]]
    return val


def make_splits(
    y: np.ndarray,
    groups: np.ndarray,
    *,
    task: str = "classify",
    scheme: str = "sample",
    folds: int | None = None,
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    class_names: list[str] | None = None,
) -> list[Split]:
    """Partition rows into train/validation/test, grouped by sample (default) or by row.

    Parameters
    ----------
    y : (n,) ndarray
        Class indices (classification) or values (regression), one per row (patch).
    groups : (n,) array-like
        Sample id of each row.  Ignored for ``scheme="patch"`` (every row its own group).
    task : {"classify", "regress"}
        Stratify by class, or by rank bins of the group's mean value.
    scheme : {"sample", "patch"}
        ``"sample"``: no sample on two sides.  ``"patch"``: rows split at random (leaky).
    folds : int, optional
        ``None``: one split with ``fractions`` (train, val, test) of the groups — at least
        one group per class in the test set.  ``K``: K folds, each group in the test set of
        exactly one fold; the validation groups come out of that fold's training groups.
        Validation is left empty where a class would keep fewer than two training groups.
    fractions : (float, float, float)
        Train, validation and test shares for a single split; must sum to 1.
    seed : int
        Seed of the shuffles; the same inputs and seed give the same splits.
    class_names : list of str, optional
        Class labels for messages.

    Returns
    -------
    list of Split
        One (single split) or ``folds`` splits.

    Raises
    ------
    ParameterError
        Unknown scheme; a class with a single group (it cannot be on both sides); fewer
        groups than folds; bad fractions.
    """
    if scheme not in SPLIT_SCHEMES:
        raise ParameterError(f"split={scheme!r} is not one of {', '.join(SPLIT_SCHEMES)}")
    if task not in ("classify", "regress"):
        raise ParameterError(f"task={task!r} must be 'classify' or 'regress'")
    y = np.asarray(y)
    n = y.shape[0]
    if scheme == "patch":
        gid = np.arange(n, dtype=np.int64)
    else:
        g = np.asarray(groups, dtype=object)
        if g.shape[0] != n:
            raise ParameterError(f"groups has {g.shape[0]} rows but y has {n}; give one sample id per row")
        _, gid = np.unique(g.astype(str), return_inverse=True)
        gid = gid.astype(np.int64)
    n_groups = int(gid.max()) + 1 if n else 0
    what = "samples" if scheme == "sample" else "patches"
    key = _group_labels(y, gid, n_groups, task)
    strata: dict[int, list[int]] = {}
    for gi in range(n_groups):
        strata.setdefault(int(key[gi]), []).append(gi)
    if task == "classify":
        for k, gs in sorted(strata.items()):
            if len(gs) < 2:
                name = class_names[k] if class_names is not None else str(k)
                raise ParameterError(
                    f"class {name!r} has only one {what[:-1]}, so it cannot be in both training and test; "
                    f"add {what} of it, drop that class, or use --split patch (leaky)"
                )
    elif n_groups < 3:
        raise ParameterError(f"only {n_groups} {what}; a regression split needs at least 3")
    rng = np.random.default_rng(seed)
    shuffled = {k: [gs[i] for i in rng.permutation(len(gs))] for k, gs in sorted(strata.items())}
    if folds is None:
        return [_single_split(gid, shuffled, fractions, task, scheme, rng)]
    return _fold_splits(gid, shuffled, folds, what, scheme, rng)


def _single_split(
    gid: np.ndarray,
    shuffled: dict[int, list[int]],
    fractions: tuple[float, float, float],
    task: str,
    scheme: str,
    rng: np.random.Generator,
) -> Split:
    """One train/validation/test split of the shuffled strata of groups by ``fractions``."""
    n_groups = sum(len(gs) for gs in shuffled.values())
    f_train, f_val, f_test = (float(f) for f in fractions)
    if (
        min(f_train, f_val, f_test) < 0
        or f_train <= 0
        or f_test <= 0
        or abs(f_train + f_val + f_test - 1) > 1e-6
    ):
        raise ParameterError(f"fractions={fractions} must be (train, val, test) shares summing to 1")
    test: list[int] = []
    rest: dict[int, list[int]] = {k: list(gs) for k, gs in shuffled.items()}
    if task == "classify":  # at least one group of every class in the test set
        for k, gs in shuffled.items():
            m = min(max(1, int(round(f_test * len(gs)))), len(gs) - 1)
            test += gs[:m]
            rest[k] = gs[m:]
        val = _carve_val(rest, f_val / (f_train + f_val), rng) if f_val > 0 else []
    else:  # deal test, then validation groups from the value bins in turn
        m = max(1, int(round(f_test * n_groups)))
        test = _deal(rest, m)
        v = int(round(f_val * n_groups))
        v = max(1, v) if f_val > 0 and n_groups - m - max(1, v) >= 2 else 0
        val = _deal(rest, v)
    train = [g for gs in rest.values() for g in gs if g not in set(val)]
    return _split(gid, train, val, test, 0, scheme)


def _fold_splits(
    gid: np.ndarray,
    shuffled: dict[int, list[int]],
    folds: int,
    what: str,
    scheme: str,
    rng: np.random.Generator,
) -> list[Split]:
    """``folds`` splits: each group in the test set of one fold, strata dealt round-robin."""
    n_groups = sum(len(gs) for gs in shuffled.values())
    k_folds = int(folds)
    if k_folds < 2:
        raise ParameterError(f"folds={folds} must be at least 2 (or leave it out for one 80/10/10 split)")
    if n_groups < k_folds:
        raise ParameterError(
            f"only {n_groups} {what} for {k_folds} folds; use --folds {max(2, n_groups)} or fewer"
        )
    assign = np.empty(n_groups, dtype=np.int64)
    offset = 0
    for gs in shuffled.values():  # deal each stratum round-robin, continuing where the last stopped
        for j, gi in enumerate(gs):
            assign[gi] = (offset + j) % k_folds
        offset = (offset + len(gs)) % k_folds
    splits: list[Split] = []
    for f in range(k_folds):
        test = [int(gi) for gi in np.flatnonzero(assign == f)]
        rest = {k: [gi for gi in gs if assign[gi] != f] for k, gs in shuffled.items()}
        val = _carve_val(rest, _VAL_SHARE, rng)
        vset = set(val)
        train = [g for gs in rest.values() for g in gs if g not in vset]
        splits.append(_split(gid, train, val, test, f, scheme))
    return splits


def _deal(strata: dict[int, list[int]], m: int) -> list[int]:
    """Take ``m`` groups from the strata in turn (removing them), largest strata first."""
    out: list[int] = []
    while len(out) < m and any(strata.values()):
        for k in sorted(strata, key=lambda k: -len(strata[k])):
            if strata[k] and len(out) < m:
                out.append(strata[k].pop())
    return out


def _split(
    gid: np.ndarray, train: list[int], val: list[int], test: list[int], fold: int, scheme: str
) -> Split:
    return Split(
        train=_rows(gid, train),
        val=_rows(gid, val),
        test=_rows(gid, test),
        fold=fold,
        scheme=scheme,
        leaky=scheme == "patch",
    )
