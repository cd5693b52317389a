"""Training heads on feature arrays, with honest (sample-grouped) evaluation.

:func:`fit_head` fits one model on given rows; :func:`train_head` splits rows by sample,
fits, predicts the held-out rows, aggregates patch predictions per image and computes the
metrics at patch and image level.  Both work on plain arrays; :mod:`semlab.learn.run`
wires them to a workspace's stored features.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from semlab.errors import ParameterError
from semlab.learn.metrics import aggregate_by_image, classification_metrics, regression_metrics
from semlab.learn.splits import Split, make_splits

if TYPE_CHECKING:
    from semlab.training import Progress

__all__ = ["MODELS", "TASKS", "FittedHead", "HeadConfig", "TrainResult", "fit_head", "train_head"]

#: Model names: the paper's MLP and the scikit-learn baselines.
MODELS = ("mlp", "logreg", "svm", "pca-logreg")
TASKS = ("classify", "regress")


@dataclass(frozen=True)
class HeadConfig:
    """How a head is built and trained (:func:`fit_head`, :func:`train_head`).

    Attributes
    ----------
    model : {"mlp", "logreg", "svm", "pca-logreg"}
        ``mlp``: the paper's network (3 hidden layers, batch norm, ReLU, dropout; Adam with
        ``lr`` and ``weight_decay``, ``batch_size``, ``epochs``, validation every
        ``val_every`` epochs, the weights of the best validation loss kept).  ``logreg``:
        standardised logistic regression (regression: ridge).  ``svm``: linear SVM with Platt
        scaled probabilities (regression: linear SVR).  ``pca-logreg``: standardise, PCA to
        ``pca_components``, then logistic regression (regression: ridge).
    epochs, batch_size, lr, weight_decay, hidden, dropout, val_every
        The MLP's training (the engine's step is one epoch).
    class_weight : bool
        Weight classes inversely to their frequency.
    pca_components : int
    fractions : (float, float, float)
        Train/validation/test shares of a single split (``train_head`` without folds).
    permutations : int or None
        :func:`train_head` only: label permutations of the permutation test; 0 skips it.
        Each permutation refits this head once per split, so the test costs
        ``permutations × splits`` fits: well under a second each for the linear heads, but
        ``permutations`` times the whole training for the MLP.  Default (None): 50 for the
        linear heads, 0 for the MLP (the report says it was skipped and how to run it).
    bootstrap : int
        :func:`train_head` only: resamples of the grouped bootstrap interval (cheap; no refit).
    """

    model: str = "mlp"
    epochs: int = 100
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-4
    hidden: tuple[int, int, int] = (256, 128, 64)
    dropout: float = 0.3
    val_every: int = 10
    class_weight: bool = True
    pca_components: int = 32
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
    permutations: int | None = None
    bootstrap: int = 1000

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise ParameterError(f"model={self.model!r} is unknown; choose one of {', '.join(MODELS)}")
        for name in ("permutations", "bootstrap"):
            if getattr(self, name) is not None and int(getattr(self, name)) < 0:
                raise ParameterError(f"{name}={getattr(self, name)} must be 0 (skip) or more")
        for name in ("epochs", "val_every", "batch_size"):
            if int(getattr(self, name)) < 1:
                raise ParameterError(f"{name}={getattr(self, name)} must be at least 1")

    @property
    def n_permutations(self) -> int:
        """Permutations the test runs: ``permutations``, or by default 50 (linear heads) / 0 (MLP)."""
        if self.permutations is not None:
            return int(self.permutations)
        return 0 if self.model == "mlp" else 50

    @classmethod
    def from_options(cls, config: HeadConfig | None, options: dict[str, Any]) -> HeadConfig:
        """``config`` (default ``HeadConfig()``) with keyword options applied; unknown ones are
        a one-line error."""
        import dataclasses

        base = config if config is not None else cls()
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(options) - names)
        if unknown:
            raise ParameterError(
                f"unknown head option(s) {', '.join(unknown)}; the options are {', '.join(sorted(names))}"
            )
        if "hidden" in options:
            options = {**options, "hidden": tuple(int(h) for h in options["hidden"])}
        return dataclasses.replace(base, **options) if options else base


@dataclass(frozen=True, eq=False)
class FittedHead:
    """A fitted head.

    Attributes
    ----------
    module : torch.nn.Module
        The head in eval mode (registry kind ``"head"``); ``forward`` gives probabilities
        ``(B, C)`` or values ``(B, 1)``.
    name : str
        Registry name (``"mlp"`` or ``"linear"``).
    config : dataclass
        Its registry config.
    model : str
        The model asked for (``mlp``, ``logreg``, ``svm``, ``pca-logreg``).
    task : str
        ``classify`` or ``regress``.
    history : list of dict
        MLP only: ``epoch``, ``train_loss`` every epoch; ``val_loss`` and ``val_score``
        (accuracy, or R²) every ``val_every`` epochs when there is a validation set.
    best_epoch : int or None
        Epoch whose weights were kept (best validation loss); ``None`` without validation
        (the last epoch's weights) or for baselines.
    details : dict
        Model specifics (e.g. PCA components, explained variance).
    """

    module: Any
    name: str
    config: Any
    model: str
    task: str
    history: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: int | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def predict(self, features: np.ndarray, *, batch_size: int = 4096) -> np.ndarray:
        """Probabilities ``(n, C)`` (classification) or values ``(n,)`` (regression)."""
        return _predict_module(self.module, features, self.task, batch_size=batch_size)


def _predict_module(module: Any, features: np.ndarray, task: str, *, batch_size: int = 4096) -> np.ndarray:
    import torch

    x = np.asarray(features, dtype=np.float32)
    outs = []
    module.eval()
    with torch.inference_mode():
        for i in range(0, x.shape[0], batch_size):
            outs.append(module(torch.from_numpy(x[i : i + batch_size])).double().numpy())
    out = np.concatenate(outs) if outs else np.zeros((0, 1))
    return out[:, 0] if task == "regress" else out


def _standardiser(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-8] = 1.0
    return mean.astype(np.float32), scale.astype(np.float32)


def _check_xy(x: np.ndarray, y: np.ndarray, task: str) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=np.float32)
    y = np.asarray(y)
    if x.ndim != 2:
        raise ParameterError(f"features must be a 2-D array (rows, features), not shape {x.shape}")
    if y.shape != (x.shape[0],):
        raise ParameterError(
            f"y has shape {y.shape} but features have {x.shape[0]} rows; give one target per row"
        )
    if not np.isfinite(x).all():
        raise ParameterError("features hold NaN or infinite values; re-run `semlab embed`")
    if task == "regress":
        y = y.astype(np.float64)
        if not np.isfinite(y).all():
            raise ParameterError("the regression target holds NaN or infinite values; drop those rows")
    else:
        ok = y.dtype.kind in "iub" or (
            y.dtype.kind == "f" and np.isfinite(y).all() and bool(np.all(y == np.round(y)))
        )
        if not ok or (y.size and y.min() < 0):
            raise ParameterError(
                "classification needs class indices 0, 1, …, C-1 per row; map the labels first "
                "(e.g. semlab.learn.run.class_labels) or use task='regress'"
            )
        y = y.astype(np.int64)
    return x, y


def fit_head(
    x: np.ndarray,
    y: np.ndarray,
    *,
    task: str,
    config: HeadConfig | None = None,
    n_classes: int | None = None,
    x_val: np.ndarray | None = None,
    y_val: np.ndarray | None = None,
    seed: int = 0,
    progress: Progress | None = None,
    **options: Any,
) -> FittedHead:
    """Fit one head on feature rows.

    Parameters
    ----------
    x : (n, d) ndarray
        Features (e.g. one row per patch).
    y : (n,) ndarray
        Class indices ``0 … n_classes-1`` (classification) or values (regression).
    task : {"classify", "regress"}
    config : HeadConfig, optional
        The model and its training; ``**options`` change single fields
        (``fit_head(x, y, task="classify", model="logreg")``).
    n_classes : int, optional
        Default ``y.max() + 1``.
    x_val, y_val : ndarray, optional
        Validation rows (MLP model selection and loss curves).
    seed : int
        Seeds initialisation, shuffling and dropout; the same inputs and seed give the
        same head.
    progress : callable, optional
        ``progress(epoch, epochs)`` (MLP).

    Returns
    -------
    FittedHead
    """
    cfg = HeadConfig.from_options(config, options)
    if task not in TASKS:
        raise ParameterError(f"task={task!r} must be 'classify' or 'regress'")
    x, y = _check_xy(x, y, task)
    if x.shape[0] < 2:
        raise ParameterError(f"only {x.shape[0]} training row(s); training needs at least 2")
    if task == "classify":
        n_classes = int(n_classes if n_classes is not None else y.max() + 1)
        if n_classes < 2:
            raise ParameterError("the target has a single class; classification needs at least two")
        if y.min() < 0 or y.max() >= n_classes:
            raise ParameterError(f"class indices must lie in 0 … {n_classes - 1}")
    xv = yv = None
    if x_val is not None and y_val is not None and len(y_val) > 0:
        xv, yv = _check_xy(x_val, y_val, task)
    if cfg.model == "mlp":
        return _fit_mlp(x, y, task, n_classes or 1, (xv, yv), cfg, seed, progress)
    return _fit_sklearn(
        x,
        y,
        task=task,
        model=cfg.model,
        n_classes=n_classes or 1,
        class_weight=cfg.class_weight,
        pca_components=cfg.pca_components,
        seed=seed,
    )


def _fit_mlp(
    x: np.ndarray,
    y: np.ndarray,
    task: str,
    n_classes: int,
    val: tuple[np.ndarray | None, np.ndarray | None],
    cfg: HeadConfig,
    seed: int,
    progress: Progress | None,
) -> FittedHead:
    import torch

    from semlab.learn.heads import MLPHeadConfig

    config = MLPHeadConfig(
        in_features=x.shape[1],
        out_features=n_classes if task == "classify" else 1,
        hidden=tuple(int(h) for h in cfg.hidden),
        dropout=float(cfg.dropout),
        task=task,
    )
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices: one thread is fastest and never waits on busy cores
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return _mlp_loop(x, y, config, val, cfg, seed, progress)
    finally:
        torch.set_num_threads(threads)


def _mlp_loss(y: np.ndarray, yv: np.ndarray | None, config: Any, net: Any, class_weight: bool) -> tuple:
    """(loss function, training target, validation target); sets the net's target scaling."""
    import torch

    if config.task == "regress":
        ym, ys = float(y.mean()), float(y.std()) or 1.0
        net.y_mean.fill_(ym)
        net.y_scale.fill_(ys)
        target = torch.from_numpy(((y - ym) / ys).astype(np.float32))[:, None]
        val_target = None if yv is None else torch.from_numpy(((yv - ym) / ys).astype(np.float32))[:, None]
        return torch.nn.MSELoss(), target, val_target
    weight = None
    if class_weight:
        n_classes = config.out_features
        counts = np.bincount(y, minlength=n_classes).astype(np.float64)
        w = np.where(counts > 0, counts.sum() / (n_classes * np.maximum(counts, 1)), 0.0)
        weight = torch.tensor(w, dtype=torch.float32)
    val_target = None if yv is None else torch.from_numpy(yv)
    return torch.nn.CrossEntropyLoss(weight=weight), torch.from_numpy(y), val_target


def _mlp_loop(
    x: np.ndarray,
    y: np.ndarray,
    config: Any,
    val: tuple[np.ndarray | None, np.ndarray | None],
    cfg: HeadConfig,
    seed: int,
    progress: Progress | None,
) -> FittedHead:
    """The MLP's epoch as the training engine's step (torch seeded by the caller)."""
    import torch

    from semlab.learn.heads import build_mlp
    from semlab.training import TrainConfig, fit

    xv, yv = val
    net = build_mlp(config)
    mean, scale = _standardiser(x)
    net.x_mean.copy_(torch.from_numpy(mean))
    net.x_scale.copy_(torch.from_numpy(scale))
    loss_fn, target, val_target = _mlp_loss(y, yv, config, net, cfg.class_weight)
    xt = torch.from_numpy(x)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    gen = torch.Generator().manual_seed(seed)
    n, batch_size = x.shape[0], int(cfg.batch_size)

    def epoch(k: int) -> dict[str, Any]:
        net.train()
        perm = torch.randperm(n, generator=gen)
        total = 0.0
        for i in range(0, n, batch_size):
            idx = perm[i : i + batch_size]
            if idx.numel() < 2:  # batch norm needs two rows
                continue
            opt.zero_grad()
            loss = loss_fn(net.raw(xt[idx]), target[idx])
            loss.backward()
            opt.step()
            total += float(loss.detach()) * idx.numel()
        return {"epoch": k, "train_loss": total / n}

    def validate() -> dict[str, float]:
        net.eval()
        with torch.inference_mode():
            z = net.raw(torch.from_numpy(xv))
            out = {"val_loss": float(loss_fn(z, val_target))}
            if config.task == "classify":
                out["val_score"] = float((z.argmax(1) == val_target).double().mean())
            else:
                ss = float(((val_target - val_target.mean()) ** 2).sum()) or 1.0
                out["val_score"] = 1.0 - float(((z - val_target) ** 2).sum()) / ss
        return out

    run = fit(
        epoch,
        config=TrainConfig(
            max_steps=int(cfg.epochs), seed=None, device="cpu", validate_every=int(cfg.val_every)
        ),
        model=net,
        validate=validate if xv is not None else None,
        progress=progress,
    )
    net.eval()
    history = [{k: v for k, v in row.items() if k != "step"} for row in run.history]
    return FittedHead(
        net,
        "mlp",
        config,
        "mlp",
        config.task,
        history,
        run.best_step,
        {"weight_decay": cfg.weight_decay, "lr": cfg.lr},
    )


def _fit_sklearn(x, y, *, task, model, n_classes, class_weight, pca_components, seed) -> FittedHead:
    import warnings

    import torch
    from sklearn.exceptions import ConvergenceWarning

    from semlab.learn.heads import LinearHeadConfig, build_linear

    mean, scale = _standardiser(x)
    z = (x - mean) / scale
    details: dict[str, Any] = {"n_train_rows": int(x.shape[0])}
    proj = None  # (k, d) PCA components, applied to the standardised features
    if model == "pca-logreg":
        from sklearn.decomposition import PCA

        k = int(max(1, min(pca_components, x.shape[0] - 1, x.shape[1])))
        pca = PCA(n_components=k, random_state=seed).fit(z)
        proj = pca.components_
        zc = z - pca.mean_
        z_fit = zc @ proj.T
        details.update(pca_components=k, pca_explained_variance=float(pca.explained_variance_ratio_.sum()))
    else:
        z_fit = z
    cw = "balanced" if class_weight and task == "classify" else None
    output = "identity"
    platt_a = platt_b = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if task == "regress":
            ym, ys = float(y.mean()), float(y.std()) or 1.0  # fit on the standardised target
            if model == "svm":
                from sklearn.svm import LinearSVR

                est = LinearSVR(random_state=seed, max_iter=5000, dual="auto").fit(z_fit, (y - ym) / ys)
            else:
                from sklearn.linear_model import Ridge

                est = Ridge(alpha=1.0).fit(z_fit, (y - ym) / ys)
            w = np.atleast_2d(est.coef_).astype(np.float64) * ys  # back to the target's unit
            b = np.atleast_1d(est.intercept_).astype(np.float64) * ys + ym
        elif model == "svm":
            from sklearn.linear_model import LogisticRegression
            from sklearn.svm import LinearSVC

            est = LinearSVC(class_weight=cw, random_state=seed, max_iter=5000, dual="auto").fit(z_fit, y)
            w, b = _multiclass_affine(est, n_classes)
            scores = z_fit @ w.T + b
            platt_a, platt_b = np.ones(n_classes), np.zeros(n_classes)
            for c in range(n_classes):  # Platt scaling of each one-vs-rest score
                pos = y == c
                if 0 < pos.sum() < y.size:
                    lr = LogisticRegression(C=1e4).fit(scores[:, c : c + 1], pos)
                    platt_a[c], platt_b[c] = float(lr.coef_[0, 0]), float(lr.intercept_[0])
            output = "platt"
        else:
            from sklearn.linear_model import LogisticRegression

            est = LogisticRegression(C=1.0, class_weight=cw, max_iter=2000, random_state=seed).fit(z_fit, y)
            w, b = _multiclass_affine(est, n_classes)
            output = "softmax"
    if proj is not None:  # fold PCA into the affine map: (z - m) @ P.T @ W.T + b
        b = b - (pca.mean_ @ proj.T) @ w.T
        w = w @ proj
    config = LinearHeadConfig(in_features=x.shape[1], out_features=w.shape[0], output=output)
    head = build_linear(config)
    with torch.no_grad():
        head.x_mean.copy_(torch.from_numpy(mean))
        head.x_scale.copy_(torch.from_numpy(scale))
        head.weight.copy_(torch.from_numpy(w.astype(np.float32)))
        head.bias.copy_(torch.from_numpy(b.astype(np.float32)))
        if platt_a is not None and platt_b is not None:
            head.platt_a.copy_(torch.from_numpy(platt_a.astype(np.float32)))
            head.platt_b.copy_(torch.from_numpy(platt_b.astype(np.float32)))
    head.eval()
    return FittedHead(head, "linear", config, model, task, [], None, details)


def _multiclass_affine(est: Any, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """(C, k) weights and (C,) biases of a fitted linear classifier, for all ``n_classes``.

    Binary models have one score ``s`` for ``classes_[1]``; it becomes ``(-s/2, s/2)``
    (softmax of that equals the logistic of ``s``).  Classes absent from training get a
    very low score.
    """
    coef = np.atleast_2d(est.coef_).astype(np.float64)
    inter = np.atleast_1d(est.intercept_).astype(np.float64)
    seen = np.asarray(est.classes_, dtype=np.int64)
    if coef.shape[0] == 1 and seen.size == 2:
        coef = np.vstack([-coef / 2, coef / 2])
        inter = np.array([-inter[0] / 2, inter[0] / 2])
    w = np.zeros((n_classes, coef.shape[1]))
    b = np.full(n_classes, -1e4)
    w[seen], b[seen] = coef, inter
    return w, b


# --------------------------------------------------------------------------- evaluation


@dataclass(frozen=True, eq=False)
class TrainResult:
    """Outcome of :func:`train_head`.

    Attributes
    ----------
    task, model : str
    classes : list of str or None
        Class labels (classification), in index order.
    metrics : dict
        ``{"patch": {...}, "image": {...}, "folds": [...], "split": {...}}``; see
        :func:`~semlab.learn.metrics.classification_metrics` and
        :func:`~semlab.learn.metrics.regression_metrics`.  ``split["leaky"]`` is True for
        the patch-level split, and then ``split["warning"]`` says why.  ``uncertainty``: the
        image-level score (``metric`` accuracy or R², ``value``) with ``wilson_95``
        (accuracy), ``bootstrap_95`` (percentile bootstrap over sample groups, seeded) and
        ``permutation_p`` (labels shuffled across sample groups, same splits, head refitted
        ``permutations`` times; ``None`` when skipped).  ``warnings``: one line per class
        with fewer than 3 independent samples (groups).  ``calibration`` (classification):
        temperature scaling of the out-of-fold image probabilities
        (:func:`~semlab.learn.metrics.calibration_report`: ``temperature``, ``ece_before``,
        ``ece_after``, ``n_bins``, ``reliability``).
    predictions : pandas.DataFrame
        One row per held-out row: ``row``, ``image``, ``group``, ``fold``, ``true``,
        ``prediction``, ``confidence`` (classification; NaN for regression) and
        ``p_<class>`` columns.
    image_predictions : pandas.DataFrame
        The same per image (mean of its rows' probabilities or values).
    head : FittedHead
        The model to keep: the single split's model, or for K folds a model refitted on
        all rows (with a grouped validation part).
    fold_heads : list of FittedHead
        The model of each fold (for loss curves).
    splits : list of Split
    seconds : float
        Wall time.
    """

    task: str
    model: str
    classes: list[str] | None
    metrics: dict[str, Any]
    predictions: Any
    image_predictions: Any
    head: FittedHead
    fold_heads: list[FittedHead]
    splits: list[Split]
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        """Task, model, classes, metrics and time (no arrays)."""
        return {
            "task": self.task,
            "model": self.model,
            "classes": self.classes,
            "metrics": self.metrics,
            "seconds": self.seconds,
        }


LEAKY_WARNING = (
    "LEAKY: patch-level split; patches of one sample are on both sides, so these scores overstate "
    "how well the model generalises to new samples"
)


def train_head(
    x: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    *,
    task: str,
    config: HeadConfig | None = None,
    image_ids: np.ndarray | None = None,
    classes: list[str] | None = None,
    split: str = "sample",
    folds: int | None = None,
    seed: int = 0,
    progress: Progress | None = None,
    **options: Any,
) -> TrainResult:
    """Split rows by sample, fit a head, and score its held-out predictions.

    Parameters
    ----------
    x : (n, d) ndarray
        Features, one row per patch (or per image).
    y : (n,) ndarray
        Class indices into ``classes`` (classification) or values (regression).
    groups : (n,) array-like
        Sample id of each row; no sample is on two sides of a ``split="sample"`` split.
    task : {"classify", "regress"}
    config : HeadConfig, optional
        Model and training (``**options`` change single fields: ``model="logreg"``,
        ``epochs=60``, ``fractions=(0.8, 0.1, 0.1)`` …).
    image_ids : (n,) array-like, optional
        Image of each row, for image-level predictions (mean of patch probabilities or
        values); default each row is its own image.
    classes : list of str, optional
        Class labels; default ``"0" … "C-1"``.
    split : {"sample", "patch"}
        ``"patch"`` is the leaky split of the paper; metrics are then marked ``leaky``.
    folds : int, optional
        K-fold cross-validation (grouped); default one split by ``config.fractions``.
    seed : int
        Seeds the split and the model.
    progress : callable, optional
        ``progress(done, total)`` in fitted models.

    Returns
    -------
    TrainResult
    """
    t0 = time.perf_counter()
    cfg = HeadConfig.from_options(config, options)
    if task not in TASKS:
        raise ParameterError(f"task={task!r} must be 'classify' or 'regress'")
    x, y = _check_xy(x, y, task)
    n = x.shape[0]
    groups = np.asarray(groups).astype(str)
    image_ids = np.arange(n).astype(str) if image_ids is None else np.asarray(image_ids).astype(str)
    if groups.shape[0] != n or image_ids.shape[0] != n:
        raise ParameterError("groups and image_ids need one entry per feature row")
    n_classes = None
    if task == "classify":
        n_classes = len(classes) if classes is not None else int(y.max()) + 1
        classes = [str(c) for c in (classes if classes is not None else range(n_classes))]
    splits = make_splits(
        y,
        groups,
        task=task,
        scheme=split,
        folds=folds,
        fractions=cfg.fractions,
        seed=seed,
        class_names=classes,
    )
    n_fits = len(splits) + (1 if folds is not None else 0)
    all_fits = n_fits + cfg.n_permutations * len(splits)
    heads, pred_rows, probs, final = _fit_splits(
        (x, y, groups), splits, cfg, (task, n_classes, split, folds, seed), _shifted(progress, 0, all_fits)
    )
    rows = np.concatenate(pred_rows)
    out = np.concatenate(probs)
    data = _Held(rows[:, 0], rows[:, 1], y, out, image_ids, groups, classes)
    pred, img, metrics, per_fold = _classify_outputs(data) if task == "classify" else _regress_outputs(data)
    metrics.update(_split_report(splits, per_fold, data, split=split, folds=folds, cfg=cfg))
    metrics["uncertainty"] = _uncertainty(img, metrics["image"], task, cfg, seed)
    metrics["uncertainty"].update(
        _permutation_test(
            (x, y, groups, image_ids),
            splits,
            cfg,
            (task, n_classes, seed),
            _shifted(progress, n_fits, all_fits),
            observed=metrics["image"]["accuracy" if task == "classify" else "r2"],
        )
    )
    metrics["warnings"] = _sample_warnings(y, groups, classes) if task == "classify" else []
    if task == "classify":
        metrics["calibration"] = _calibration(img, classes or [])
    return TrainResult(
        task,
        cfg.model,
        classes,
        metrics,
        pred.sort_values("row").reset_index(drop=True),
        img,
        final,
        heads,
        splits,
        time.perf_counter() - t0,
    )


def _calibration(img: Any, classes: list[str]) -> dict[str, Any]:
    """Temperature scaling of the out-of-fold image probabilities (what ``predict`` reports)."""
    from semlab.learn.metrics import calibration_report

    pos = {c: i for i, c in enumerate(classes)}
    proba = img[[f"p_{c}" for c in classes]].to_numpy(dtype=np.float64)
    report = calibration_report(proba, img["true"].map(pos).to_numpy(dtype=np.int64), n_bins=10)
    report["level"] = "image (mean of patch probabilities), out of fold"
    return report


def _fit_splits(data: tuple, splits: list[Split], cfg: HeadConfig, how: tuple, progress: Any) -> tuple:
    """Fit a head per split (and, with folds, a final one on all rows): (heads, held-out rows,
    held-out outputs, the model kept for later use)."""
    x, y, groups = data
    task, n_classes, split, folds, seed = how
    total = len(splits) + (1 if folds is not None else 0)
    heads: list[FittedHead] = []
    pred_rows, probs = [], []
    for sp in splits:
        train_idx, val_idx = _training_rows(sp.train, sp.val, cfg)
        head = fit_head(
            x[train_idx],
            y[train_idx],
            task=task,
            config=cfg,
            n_classes=n_classes,
            x_val=x[val_idx] if val_idx.size else None,
            y_val=y[val_idx] if val_idx.size else None,
            seed=seed + sp.fold,
        )
        heads.append(head)
        probs.append(head.predict(x[sp.test]))
        pred_rows.append(np.column_stack([sp.test, np.full(sp.test.size, sp.fold)]))
        if progress is not None:
            progress(len(heads), total)
    final = heads[0]
    if folds is not None:  # a model for later use, trained on all rows
        val_idx, train_idx = _refit_parts(y, groups, task=task, split=split, seed=seed)
        train_idx, val_idx = _training_rows(train_idx, val_idx, cfg)
        final = fit_head(
            x[train_idx],
            y[train_idx],
            task=task,
            config=cfg,
            n_classes=n_classes,
            x_val=x[val_idx] if val_idx.size else None,
            y_val=y[val_idx] if val_idx.size else None,
            seed=seed,
        )
        if progress is not None:
            progress(total, total)
    return heads, pred_rows, probs, final


def _training_rows(train: np.ndarray, val: np.ndarray, cfg: HeadConfig) -> tuple[np.ndarray, np.ndarray]:
    """(training rows, validation rows) of a fit: only the MLP early-stops on validation rows; the
    scikit-learn heads train on the training and validation rows together."""
    if cfg.model == "mlp" or val.size == 0:
        return train, val
    return np.sort(np.concatenate([train, val])), val[:0]


def _shifted(progress: Any, offset: int, total: int) -> Any:
    """``progress`` for a part of a longer job: ``done`` counted from ``offset``, ``total`` fixed."""
    if progress is None:
        return None
    return lambda done, _total=None: progress(offset + done, total)


#: Independent samples per class below which a run's metrics carry a warning.
MIN_INDEPENDENT_SAMPLES = 3


def _sample_warnings(y: np.ndarray, groups: np.ndarray, classes: list[str] | None) -> list[str]:
    """One line per class with fewer than :data:`MIN_INDEPENDENT_SAMPLES` independent groups."""
    out = []
    for c in np.unique(y):
        k = int(np.unique(groups[y == c]).size)
        if k < MIN_INDEPENDENT_SAMPLES:
            name = classes[int(c)] if classes is not None else str(c)
            out.append(
                f"class {name!r} has only {k} independent sample(s); with fewer than "
                f"{MIN_INDEPENDENT_SAMPLES} per class the scores can hardly be told from chance "
                "(crops of one micrograph or specimen count once): add samples"
            )
    return out


def _uncertainty(img: Any, image_metrics: dict[str, Any], task: str, cfg: HeadConfig, seed: int) -> dict:
    """Intervals of the image-level score: Wilson (accuracy) and a bootstrap over sample groups."""
    from semlab.learn.metrics import grouped_bootstrap_interval, wilson_interval

    groups = img["group"].to_numpy()
    boot = {"resamples": int(cfg.bootstrap), "unit": "sample group", "seed": seed, "confidence": 0.95}
    if task == "classify":
        correct = (img["true"] == img["prediction"]).to_numpy(dtype=np.float64)
        interval = grouped_bootstrap_interval(
            correct, np.ones_like(correct), groups, resamples=int(cfg.bootstrap), seed=seed
        )
        wilson = wilson_interval(int(correct.sum()), int(correct.size))
        return {
            "level": "image",
            "metric": "accuracy",
            "value": image_metrics["accuracy"],
            "n_images": int(correct.size),
            "n_groups": int(np.unique(groups.astype(str)).size),
            "wilson_95": None if wilson is None else list(wilson),
            "bootstrap_95": None if interval is None else list(interval),
            "bootstrap": boot,
        }
    t, q = img["true"].to_numpy(float), img["prediction"].to_numpy(float)
    interval = grouped_bootstrap_interval(t, q, groups, metric="r2", resamples=int(cfg.bootstrap), seed=seed)
    return {
        "level": "image",
        "metric": "r2",
        "value": image_metrics["r2"],
        "n_images": int(t.size),
        "n_groups": int(np.unique(groups.astype(str)).size),
        "bootstrap_95": None if interval is None else list(interval),
        "bootstrap": boot,
    }


def _image_score(task: str, rows: np.ndarray, out: np.ndarray, y: np.ndarray, image_ids: np.ndarray) -> float:
    """Image-level accuracy (classification) or R² (regression) of held-out row outputs."""
    ids = image_ids[rows]
    _, mean_out = aggregate_by_image(out, ids)
    _, y_img = aggregate_by_image(y[rows].astype(np.float64), ids)
    if task == "classify":
        return float(np.mean(mean_out.argmax(1) == np.round(y_img)))
    r2 = regression_metrics(y_img, mean_out)["r2"]
    return np.nan if r2 is None else float(r2)


def _permutation_test(
    data: tuple, splits: list[Split], cfg: HeadConfig, how: tuple, progress: Any, *, observed: Any
) -> dict[str, Any]:
    """Permutation p-value of the image-level score: sample groups' labels shuffled across groups,
    the same splits, the head refitted per split (``cfg.permutations`` times)."""
    from semlab.learn.splits import _group_labels

    x, y, groups, image_ids = data
    task, n_classes, seed = how
    n_perm = cfg.n_permutations
    res: dict[str, Any] = {"permutations": n_perm, "permutation_p": None}
    if n_perm == 0 or observed is None:
        if observed is None:
            res["permutation_note"] = "no score to test"
        elif cfg.permutations is None:
            res["permutation_note"] = (
                "skipped for the MLP by default (each permutation retrains it); "
                "pass permutations=N (--permutations N) to run it"
            )
        else:
            res["permutation_note"] = "skipped (permutations=0)"
        return res
    _, gid = np.unique(groups, return_inverse=True)
    n_groups = int(gid.max()) + 1
    if task == "classify":
        key: np.ndarray = _group_labels(y, gid, n_groups, task)
    else:
        key = np.bincount(gid, weights=y, minlength=n_groups) / np.bincount(gid, minlength=n_groups)
    rng = np.random.default_rng([seed, 21])
    null = np.full(n_perm, np.nan)
    for k in range(n_perm):
        y_perm = key[rng.permutation(n_groups)][gid]
        try:
            _, rows, outs, _ = _fit_splits(
                (x, y_perm, groups), splits, cfg, (task, n_classes, "sample", None, seed), None
            )
        except ValueError:  # a permuted training part with a single class
            continue
        finally:
            if progress is not None:
                progress((k + 1) * len(splits), None)
        null[k] = _image_score(task, np.concatenate(rows)[:, 0], np.concatenate(outs), y_perm, image_ids)
    ok = null[np.isfinite(null)]
    res.update(
        permutation_p=float((1 + np.sum(ok >= float(observed) - 1e-12)) / (1 + ok.size)),
        permutation_null_mean=float(ok.mean()) if ok.size else None,
        permutation_note=f"{ok.size} label permutations across sample groups, same splits, head refitted",
    )
    return res


@dataclass(frozen=True, eq=False)
class _Held:
    """Held-out predictions: row index, fold, targets, outputs, and each row's image and group."""

    idx: np.ndarray
    fold: np.ndarray
    y: np.ndarray
    out: np.ndarray
    image_ids: np.ndarray
    groups: np.ndarray
    classes: list[str] | None

    def first_rows(self) -> tuple[np.ndarray, dict[str, int]]:
        ids = self.image_ids[self.idx]
        return ids, {k: i for i, k in reversed(list(enumerate(ids)))}


def _classify_outputs(d: _Held) -> tuple[Any, Any, dict[str, Any], list[dict[str, Any]]]:
    import pandas as pd

    classes, idx, out, fold = d.classes or [], d.idx, d.out, d.fold
    pred = pd.DataFrame({"row": idx, "image": d.image_ids[idx], "group": d.groups[idx], "fold": fold})
    pred["true"] = [classes[k] for k in d.y[idx]]
    pred["prediction"] = [classes[k] for k in out.argmax(1)]
    pred["confidence"] = out.max(1)
    for c, name in enumerate(classes):
        pred[f"p_{name}"] = out[:, c]
    metrics: dict[str, Any] = {"patch": classification_metrics(d.y[idx], out, classes=classes)}
    ids_all, first = d.first_rows()
    ids, mean_p = aggregate_by_image(out, ids_all)
    y_img = np.array([d.y[idx][first[k]] for k in ids])
    img = pd.DataFrame(
        {
            "image": ids,
            "group": [d.groups[idx][first[k]] for k in ids],
            "fold": [fold[first[k]] for k in ids],
            "n_rows": 0,
            "true": [classes[k] for k in y_img],
            "prediction": [classes[k] for k in mean_p.argmax(1)],
            "confidence": mean_p.max(1),
        }
    )
    for c, name in enumerate(classes):
        img[f"p_{name}"] = mean_p[:, c]
    metrics["image"] = classification_metrics(y_img, mean_p, classes=classes)
    metrics["chance_balanced_accuracy"] = 1.0 / len(classes or [0, 0])
    per_fold = [
        classification_metrics(d.y[idx][fold == f], out[fold == f], classes=classes)
        for f in sorted(set(fold.tolist()))
    ]
    img["n_rows"] = img["image"].map(pd.Series(ids_all).value_counts()).astype(int)
    return pred, img, metrics, per_fold


def _regress_outputs(d: _Held) -> tuple[Any, Any, dict[str, Any], list[dict[str, Any]]]:
    import pandas as pd

    idx, out, fold = d.idx, d.out, d.fold
    pred = pd.DataFrame({"row": idx, "image": d.image_ids[idx], "group": d.groups[idx], "fold": fold})
    pred["true"] = d.y[idx]
    pred["prediction"] = out
    pred["confidence"] = np.nan
    metrics: dict[str, Any] = {"patch": regression_metrics(d.y[idx], out)}
    ids_all, first = d.first_rows()
    ids, mean_v = aggregate_by_image(out, ids_all)
    _, y_img = aggregate_by_image(d.y[idx], ids_all)
    img = pd.DataFrame(
        {
            "image": ids,
            "group": [d.groups[idx][first[k]] for k in ids],
            "fold": [fold[first[k]] for k in ids],
            "n_rows": 0,
            "true": y_img,
            "prediction": mean_v,
            "confidence": np.nan,
        }
    )
    metrics["image"] = regression_metrics(y_img, mean_v)
    per_fold = [regression_metrics(d.y[idx][fold == f], out[fold == f]) for f in sorted(set(fold.tolist()))]
    img["n_rows"] = img["image"].map(pd.Series(ids_all).value_counts()).astype(int)
    return pred, img, metrics, per_fold


def _split_report(
    splits: list[Split],
    per_fold: list[dict[str, Any]],
    d: _Held,
    *,
    split: str,
    folds: int | None,
    cfg: HeadConfig,
) -> dict[str, Any]:
    """The ``folds`` and ``split`` entries of a run's metrics."""
    report: dict[str, Any] = {
        "folds": [
            {
                **sp.to_dict(),
                "test_samples": int(np.unique(d.groups[sp.test]).size),
                **{k: v for k, v in m.items() if k in _FOLD_KEYS},
            }
            for sp, m in zip(splits, per_fold, strict=True)
        ],
        "split": {
            "scheme": split,
            "leaky": split == "patch",
            "folds": folds,
            "fractions": None if folds is not None else list(cfg.fractions),
            "n_rows": int(d.y.shape[0]),
            "n_groups": int(np.unique(d.groups).size),
            "n_images": int(np.unique(d.image_ids).size),
            "validation": _validation_note(splits, cfg),
        },
    }
    if split == "patch":
        report["split"]["warning"] = LEAKY_WARNING
    return report


def _validation_note(splits: list[Split], cfg: HeadConfig) -> str:
    if not any(sp.val.size for sp in splits):
        return "none (too few samples per class)"
    if cfg.model != "mlp":
        return f"grouped, merged into training ({cfg.model} does not early-stop)"
    return "grouped"


_FOLD_KEYS = ("accuracy", "balanced_accuracy", "macro_f1", "macro_roc_auc", "r2", "mae", "rmse")


def _refit_parts(
    y: np.ndarray, groups: np.ndarray, *, task: str, split: str, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(validation rows, training rows) for the final model: about 1/8 of the groups, stratified, where each
    class keeps at least two training groups; otherwise no validation."""
    from semlab.learn.splits import _VAL_SHARE, _carve_val, _group_labels

    n = y.shape[0]
    if split == "patch":
        gid = np.arange(n, dtype=np.int64)
    else:
        _, gid = np.unique(groups, return_inverse=True)
        gid = gid.astype(np.int64)
    n_groups = int(gid.max()) + 1
    key = _group_labels(y, gid, n_groups, task)
    strata: dict[int, list[int]] = {}
    for gi in range(n_groups):
        strata.setdefault(int(key[gi]), []).append(gi)
    val = _carve_val(strata, _VAL_SHARE, np.random.default_rng(seed))
    is_val = np.isin(gid, np.asarray(val, dtype=np.int64))
    return np.flatnonzero(is_val), np.flatnonzero(~is_val)
