"""Training a U-Net segmenter from label images (hybrid annotations or ground truth).

torch is imported inside :func:`train_segmenter`.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from semlab.errors import ParameterError
from semlab.segment._common import image_2d, positive_float, positive_int
from semlab.segment.infer import (
    DEFAULT_PREPROCESSING,
    Segmenter,
    downsample_labels,
    network_input,
)
from semlab.training import Progress, TrainConfig, fit, resolve_device

__all__ = [
    "SEGMENTER_TRAINING",
    "SegmenterConfig",
    "SegmenterTrainResult",
    "check_training_pairs",
    "class_weights_from_labels",
    "train_segmenter",
]

_MAX_CLASSES = 32


@dataclass(frozen=True, eq=False)
class SegmenterTrainResult:
    """Outcome of :func:`train_segmenter`.

    Attributes
    ----------
    segmenter : Segmenter
        The network with the weights of the best validation step.
    history : pandas.DataFrame
        One row per validation: ``step``, ``seconds``, ``train_loss``, ``val_loss``,
        ``val_mean_iou``, ``lr``.
    best_step : int
        Step of the best validation mean IoU.
    best_val_iou : float
        Mean IoU over the classes on the validation patches at ``best_step``.
    steps : int
        Optimiser steps run.
    seconds : float
        Wall-clock training time in s.
    stopped : str
        ``"early_stopping"``, ``"time_budget"`` or ``"max_steps"``.
    device : str
        Where it trained.
    leaky_validation : bool
        True when validation used training images (fewer than two images given).
    path : Path or None
        Artifact folder of the best checkpoint.
    """

    segmenter: Segmenter
    history: Any
    best_step: int
    best_val_iou: float
    steps: int
    seconds: float
    stopped: str
    device: str
    leaky_validation: bool
    path: Path | None

    def to_dict(self) -> dict[str, Any]:
        """Summary (no weights, no history)."""
        return {
            "best_step": self.best_step,
            "best_val_iou": self.best_val_iou,
            "steps": self.steps,
            "seconds": self.seconds,
            "stopped": self.stopped,
            "device": self.device,
            "leaky_validation": self.leaky_validation,
            "path": None if self.path is None else str(self.path),
            "classes": list(self.segmenter.classes),
        }


def check_training_pairs(
    images: Sequence[np.ndarray],
    labels: Sequence[np.ndarray],
    *,
    classes: Sequence[int] | None = None,
    names: Sequence[str] | None = None,
) -> tuple[list[np.ndarray], list[np.ndarray], tuple[int, ...]]:
    """Check image/label pairs; return the images, labels as class indices, and the classes.

    Parameters
    ----------
    images, labels : sequences of (M, N) ndarray
        Pairs of equal shape; labels hold integer values.
    classes : sequence of int, optional
        The label values, in output-channel order; default the sorted values found.
    names : sequence of str, optional
        A name per image for messages (e.g. file names).

    Raises
    ------
    ParameterError
        No images, unequal counts, a label image of another shape than its image,
        non-integer labels, values not in ``classes``, or fewer than two classes.
    """
    images, labels = list(images), list(labels)
    if not images:
        raise ParameterError("no training images given; pass at least one image with its label image")
    if len(images) != len(labels):
        raise ParameterError(
            f"{len(images)} images but {len(labels)} label images; give one label image per image"
        )
    names = list(names) if names is not None else [f"image {i}" for i in range(len(images))]
    imgs, labs = [], []
    for name, im, lab in zip(names, images, labels, strict=True):
        im = image_2d(im, "train_segmenter", name=str(name))
        lab = np.asarray(lab)
        if lab.shape != im.shape:
            raise ParameterError(
                f"{name}: labels have shape {lab.shape} but the image {im.shape}; give labels of the same size"
            )
        if lab.dtype == bool:
            lab = lab.astype(np.uint8)
        if lab.dtype.kind not in "iu":
            if not (lab.dtype.kind == "f" and np.isfinite(lab).all() and (lab == np.round(lab)).all()):
                raise ParameterError(
                    f"{name}: labels have dtype {lab.dtype} with non-integer values; give integer labels"
                )
        imgs.append(im)
        labs.append(lab.astype(np.int64))
    found = np.unique(np.concatenate([np.unique(lab) for lab in labs]))
    if classes is None:
        if len(found) > _MAX_CLASSES:
            raise ParameterError(
                f"labels hold {len(found)} different values; a label image needs a few class values "
                "(binarise instance maps first, or pass classes=...)"
            )
        cls = tuple(int(c) for c in found)
    else:
        cls = tuple(int(c) for c in classes)
        if len(set(cls)) != len(cls):
            raise ParameterError(f"classes={cls} has repeated values")
    if len(cls) < 2:
        raise ParameterError(f"labels hold only the value(s) {cls}; training needs at least two classes")
    values = np.asarray(cls)
    order = np.argsort(values)
    idx_labels = []
    for name, lab in zip(names, labs, strict=True):
        bad = np.setdiff1d(np.unique(lab), values)
        if bad.size:
            raise ParameterError(
                f"{name}: labels hold unexpected value(s) {bad[:5].tolist()}; expected only {list(cls)}"
            )
        pos = np.searchsorted(values[order], lab)
        idx_labels.append(order[pos].astype(np.int64))
    return imgs, idx_labels, cls


def class_weights_from_labels(labels: Sequence[np.ndarray], n_classes: int) -> np.ndarray:
    """Median-frequency class weights ``median(f) / f_c`` (clipped to 0.1…10), from index labels."""
    counts = np.zeros(n_classes, dtype=np.float64)
    for lab in labels:
        counts += np.bincount(lab.ravel(), minlength=n_classes)[:n_classes]
    f = counts / counts.sum()
    present = f > 0
    w = np.ones(n_classes)
    w[present] = np.median(f[present]) / f[present]
    return np.clip(w, 0.1, 10.0)


def _pad_min(a: np.ndarray, size: int) -> np.ndarray:
    pr, pc = max(0, size - a.shape[0]), max(0, size - a.shape[1])
    if pr or pc:
        a = np.pad(a, ((0, pr), (0, pc)), mode="symmetric")
    return a


def _crop(xs, ys, rng, n, size, p):
    k = rng.choice(len(xs), size=n, p=p)
    bx = np.empty((n, size, size), dtype=np.float32)
    by = np.empty((n, size, size), dtype=np.int64)
    for j, i in enumerate(k):
        r = rng.integers(0, xs[i].shape[0] - size + 1)
        c = rng.integers(0, xs[i].shape[1] - size + 1)
        bx[j] = xs[i][r : r + size, c : c + size]
        by[j] = ys[i][r : r + size, c : c + size]
    return bx, by


def _augment(
    bx: np.ndarray, by: np.ndarray, rng: np.random.Generator, invert: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    for j in range(len(bx)):
        k = int(rng.integers(0, 4))
        x, y = np.rot90(bx[j], k), np.rot90(by[j], k)
        if rng.random() < 0.5:
            x, y = x[:, ::-1], y[:, ::-1]
        # mild contrast / brightness jitter on the standardised grey values
        sign = -1.0 if invert and rng.random() < 0.5 else 1.0
        bx[j] = sign * x * rng.uniform(0.85, 1.15) + rng.normal(0.0, 0.1)
        by[j] = y
    return bx, by


#: Ranges of the strong augmentation (``augmentation="strong"``), drawn per patch.
STRONG_AUGMENTATION: dict[str, Any] = {
    "scale": (0.7, 1.4),  # crop side / patch side, log-uniform, resized back (scale jitter)
    "gamma": (0.6, 1.6),  # log-uniform, on the patch's min-max range
    "contrast": (0.7, 1.3),
    "brightness_sd": 0.2,  # in units of the image's standard deviation
    "blur_p": 0.3,
    "blur_sigma": (0.5, 1.5),  # px
    "noise_p": 0.5,
    "noise_sd": (0.0, 0.3),  # in units of the image's standard deviation
}
AUGMENTATIONS = ("mild", "strong")


def _crop_scaled(xs, ys, rng, n, size, p, scale):  # noqa: ANN001, ANN202
    """Like :func:`_crop`, but each patch covers ``s × size`` pixels (``s`` log-uniform in
    ``scale``, at most the image) resized to ``size`` (bilinear image, nearest labels)."""
    from scipy.ndimage import zoom

    k = rng.choice(len(xs), size=n, p=p)
    bx = np.empty((n, size, size), dtype=np.float32)
    by = np.empty((n, size, size), dtype=np.int64)
    lo, hi = np.log(scale[0]), np.log(scale[1])
    for j, i in enumerate(k):
        x, y = xs[i], ys[i]
        side = int(min(round(size * np.exp(rng.uniform(lo, hi))), x.shape[0], x.shape[1]))
        r = rng.integers(0, x.shape[0] - side + 1)
        c = rng.integers(0, x.shape[1] - side + 1)
        px, py = x[r : r + side, c : c + side], y[r : r + side, c : c + side]
        if side != size:
            f = size / side
            px = zoom(px, f, order=1, grid_mode=True, mode="nearest")[:size, :size]
            py = zoom(py, f, order=0, grid_mode=True, mode="nearest")[:size, :size]
        bx[j], by[j] = px, py
    return bx, by


def _augment_strong(
    bx: np.ndarray, by: np.ndarray, rng: np.random.Generator, invert: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """90° turns and flips, then gamma, contrast, brightness, polarity inversion (with
    ``invert``), Gaussian blur and Gaussian noise (:data:`STRONG_AUGMENTATION`), on the
    per-image standardised grey values."""
    from scipy.ndimage import gaussian_filter

    a = STRONG_AUGMENTATION
    for j in range(len(bx)):
        k = int(rng.integers(0, 4))
        x, y = np.rot90(bx[j], k), np.rot90(by[j], k)
        if rng.random() < 0.5:
            x, y = x[:, ::-1], y[:, ::-1]
        lo, hi = float(x.min()), float(x.max())
        if hi > lo:
            g = np.exp(rng.uniform(np.log(a["gamma"][0]), np.log(a["gamma"][1])))
            x = lo + (hi - lo) * ((x - lo) / (hi - lo)) ** g
        sign = -1.0 if invert and rng.random() < 0.5 else 1.0
        x = sign * x * rng.uniform(*a["contrast"]) + rng.normal(0.0, a["brightness_sd"])
        if rng.random() < a["blur_p"]:
            x = gaussian_filter(x, rng.uniform(*a["blur_sigma"]))
        if rng.random() < a["noise_p"]:
            x = x + rng.normal(0.0, rng.uniform(*a["noise_sd"]), x.shape)
        bx[j], by[j] = x, y
    return bx, by


@dataclass(frozen=True)
class SegmenterConfig:
    """The network and its training data pipeline (:func:`train_segmenter`).

    Attributes
    ----------
    model : str
        Registered segmenter name (:func:`semlab.registry.available` ``("segmenter")``).
    model_options : dict
        Config fields, e.g. ``{"depth": 4, "width": 16}`` or ``{"encoder": "efficientnet_lite0"}``
        (:class:`UNetConfig`); ``n_classes`` is set for you.
    encoder_weights : str
        With an ``encoder``: ``"pretrained"`` (ImageNet weights of the offline package, never a
        download), ``"random"``, or the path of a local weights file
        (:func:`semlab.segment.unet.load_encoder_weights`); the source and its SHA-256 are stored
        with the model.  Ignored for the plain U-Net.
    classes : sequence of int, optional
        Label values in output order; default the sorted values found.
    class_names : sequence of str, optional
        A name per class (stored with the model).
    patch_size : int
        Training patch side in pixels (a multiple of ``2 ** (depth - 1)``).
    batch_size : int
    lr : float
        AdamW learning rate, halved after 3 validations without improvement.
    class_weights : "auto", sequence of float or None
        Cross-entropy weights; ``"auto"`` = median-frequency balancing from the training
        labels (:func:`class_weights_from_labels`).
    dice_weight : float
        Weight of the soft-Dice term (0 = cross-entropy only).
    augment : bool
        Augment the training patches (see ``augmentation``).
    augmentation : {"mild", "strong"}
        ``"mild"``: random 90° rotations, flips and mild contrast jitter.  ``"strong"``: also
        scale jitter (0.7…1.4× crops resized), gamma, stronger contrast and brightness, Gaussian
        blur and noise (:data:`STRONG_AUGMENTATION`), for models meant to transfer to other
        microscopes.
    invert : bool
        Also invert the grey values of half the patches (with ``augment``): for data whose
        phases are dark on some images and bright on others.
    val_fraction : float
        Share of the images held out for validation when no validation pairs are given.
    val_patches : int
        Number of fixed validation patches.
    equalize : {"none", "global", "clahe"}
        Histogram equalization before per-image standardisation (stored, applied at inference).
    downsample : int
        Shrink images (block means) and labels by this factor for the network; undone at
        inference.
    """

    model: str = "unet"
    model_options: dict[str, Any] | None = None
    encoder_weights: str = "pretrained"
    classes: Sequence[int] | None = None
    class_names: Sequence[str] | None = None
    patch_size: int = 128
    batch_size: int = 8
    lr: float = 2e-3
    class_weights: str | Sequence[float] | None = "auto"
    dice_weight: float = 1.0
    augment: bool = True
    augmentation: str = "mild"
    invert: bool = False
    val_fraction: float = 0.15
    val_patches: int = 32
    equalize: str = "none"
    downsample: int = 1


#: The training engine's defaults for a segmenter: 5000 steps, validation every 50, patience 8.
SEGMENTER_TRAINING = TrainConfig(max_steps=5000, validate_every=50, patience=8)
_TRAIN_ALIASES = {"val_every": "validate_every"}


def _configs(
    config: SegmenterConfig | None, train: TrainConfig | None, options: dict[str, Any]
) -> tuple[SegmenterConfig, TrainConfig]:
    """The two configs with keyword options applied to whichever holds them."""
    import dataclasses

    cfg, tr = config or SegmenterConfig(), train or SEGMENTER_TRAINING
    seg_fields = {f.name for f in dataclasses.fields(SegmenterConfig)}
    tr_fields = {f.name for f in dataclasses.fields(TrainConfig)}
    seg_opts, tr_opts = {}, {}
    for k, v in options.items():
        name = _TRAIN_ALIASES.get(k, k)
        if name in seg_fields:
            seg_opts[name] = v
        elif name in tr_fields:
            tr_opts[name] = v
        else:
            raise ParameterError(
                f"unknown option {k}; give a field of SegmenterConfig or TrainConfig ({', '.join(sorted(seg_fields | tr_fields))})"
            )
    if tr_opts.get("device") is not None and not isinstance(tr_opts["device"], str):
        tr_opts["device"] = str(tr_opts["device"])
    return dataclasses.replace(cfg, **seg_opts), dataclasses.replace(tr, **tr_opts)


def _split(imgs, labs, cls, val_pairs, fraction, rng):  # noqa: ANN001, ANN202
    """(train images, train labels, val images, val labels, leaky)."""
    val_images, val_labels = val_pairs
    if val_images is not None or val_labels is not None:
        if val_images is None or val_labels is None:
            raise ParameterError("give both val_images and val_labels, or neither")
        v_imgs, v_labs, _ = check_training_pairs(val_images, val_labels, classes=cls)
        return imgs, labs, v_imgs, v_labs, False
    if len(imgs) == 1:
        return imgs, labs, imgs, labs, True
    order = rng.permutation(len(imgs))
    n_val = min(len(imgs) - 1, max(1, int(round(fraction * len(imgs)))))
    v_idx, t_idx = sorted(order[:n_val]), sorted(order[n_val:])
    return (
        [imgs[i] for i in t_idx],
        [labs[i] for i in t_idx],
        [imgs[i] for i in v_idx],
        [labs[i] for i in v_idx],
        False,
    )


def _class_weights(cfg: SegmenterConfig, t_labs: list[np.ndarray], cls: tuple[int, ...]) -> np.ndarray:
    n_classes = len(cls)
    if isinstance(cfg.class_weights, str):
        if cfg.class_weights != "auto":
            raise ParameterError(
                f"class_weights={cfg.class_weights!r} must be 'auto', a list of numbers or None"
            )
        return class_weights_from_labels(t_labs, n_classes)
    if cfg.class_weights is None:
        return np.ones(n_classes)
    weights = np.asarray(cfg.class_weights, dtype=np.float64)
    if weights.shape != (n_classes,) or not np.all(weights > 0):
        raise ParameterError(f"class_weights must be {n_classes} positive numbers, one per class {list(cls)}")
    return weights


def _loss(weights: Any, dice_weight: float, n_classes: int) -> Callable[[Any, Any], Any]:
    """Class-weighted cross-entropy + ``dice_weight`` × (1 − soft Dice)."""
    import torch
    import torch.nn.functional as F

    def loss_fn(logits: Any, target: Any) -> Any:
        ce = F.cross_entropy(logits, target, weight=weights)
        if dice_weight == 0:
            return ce
        prob = torch.softmax(logits, dim=1)
        onehot = F.one_hot(target, n_classes).permute(0, 3, 1, 2).float()
        inter = (prob * onehot).sum(dim=(0, 2, 3))
        denom = prob.sum(dim=(0, 2, 3)) + onehot.sum(dim=(0, 2, 3))
        dice = (2 * inter + 1.0) / (denom + 1.0)
        return ce + dice_weight * (1 - dice.mean())

    return loss_fn


def _val_scores(
    net: Any, val: tuple[np.ndarray, np.ndarray], loss_fn: Any, batch_size: int, dev: Any
) -> tuple[float, float]:
    """(mean loss, mean IoU over the classes) of fixed validation patches."""
    import torch

    val_x, val_y = val
    n_classes = net.config.n_classes if hasattr(net, "config") else int(val_y.max()) + 1
    net.eval()
    cm = None
    total = 0.0
    with torch.inference_mode():
        for s in range(0, len(val_x), batch_size):
            xb = torch.from_numpy(val_x[s : s + batch_size, None]).to(dev)
            yb = torch.from_numpy(val_y[s : s + batch_size]).to(dev)
            logits = net(xb)
            n_classes = logits.shape[1]
            total += float(loss_fn(logits, yb)) * len(xb)
            pred = logits.argmax(1).cpu().numpy().ravel()
            part = np.bincount(val_y[s : s + batch_size].ravel() * n_classes + pred, minlength=n_classes**2)
            cm = part if cm is None else cm + part
    net.train()
    cm = np.asarray(cm).reshape(n_classes, n_classes)
    tp = np.diag(cm).astype(np.float64)
    den = cm.sum(0) + cm.sum(1) - tp
    iou = tp[den > 0] / den[den > 0]
    return total / len(val_x), float(iou.mean()) if iou.size else float("nan")


def _check(cfg: SegmenterConfig, n_classes: int) -> Any:
    """Validated options; returns the network's registry config."""
    from semlab.preprocess import EQUALIZE_METHODS
    from semlab.registry import make_config

    if cfg.equalize not in EQUALIZE_METHODS:
        raise ParameterError(f"equalize={cfg.equalize!r} is not one of {', '.join(EQUALIZE_METHODS)}")
    if cfg.class_names is not None and len(cfg.class_names) != n_classes:
        raise ParameterError(f"class_names has {len(cfg.class_names)} entries for {n_classes} classes")
    for name in ("patch_size", "batch_size", "val_patches", "downsample"):
        positive_int(getattr(cfg, name), name)
    positive_float(cfg.lr, "lr")
    positive_float(cfg.dice_weight, "dice_weight", allow_zero=True)
    if not 0 < float(cfg.val_fraction) < 1:
        raise ParameterError(f"val_fraction={cfg.val_fraction!r} must be between 0 and 1")
    if cfg.augmentation not in AUGMENTATIONS:
        raise ParameterError(f"augmentation={cfg.augmentation!r} must be one of {', '.join(AUGMENTATIONS)}")
    config = make_config("segmenter", cfg.model, {**(cfg.model_options or {}), "n_classes": n_classes})
    multiple = getattr(config, "multiple", 1)
    if cfg.patch_size % multiple:
        raise ParameterError(
            f"patch_size={cfg.patch_size} must be a multiple of {multiple} for this network "
            f"(depth {config.depth}, encoder {getattr(config, 'encoder', 'none')})"
        )
    return config


def train_segmenter(
    images: Sequence[np.ndarray],
    labels: Sequence[np.ndarray],
    *,
    config: SegmenterConfig | None = None,
    train: TrainConfig | None = None,
    val_images: Sequence[np.ndarray] | None = None,
    val_labels: Sequence[np.ndarray] | None = None,
    out: str | os.PathLike | None = None,
    input_paths: Sequence[str | os.PathLike] | None = None,
    image_names: Sequence[str] | None = None,
    progress: Progress | None = None,
    log: Callable[[dict[str, Any]], None] | None = None,
    **options: Any,
) -> SegmenterTrainResult:
    """Train a segmentation network on images and their label images.

    Each step draws ``batch_size`` random ``patch_size`` patches (images picked in
    proportion to their area) with random 90° rotations, flips and mild contrast jitter
    (``augmentation="strong"``: also scale, gamma, blur and noise), and minimises class-weighted cross-entropy plus ``dice_weight`` × (1 − soft Dice).  The
    training engine (:func:`semlab.training.fit`) validates the mean IoU on fixed patches
    every ``validate_every`` steps, keeps the best weights, and stops after ``patience``
    validations without improvement, after ``max_steps`` (default 5000) or at the optional
    wall-clock cap ``time_budget_s``.

    Parameters
    ----------
    images : sequence of (M, N) ndarray
        Grey training images (any size ≥ 1 pixel; smaller than a patch is mirror-padded).
    labels : sequence of (M, N) ndarray of int
        Label images (e.g. :func:`hybrid_annotation` labels or a ground truth).
    config : SegmenterConfig, optional
        The network, patches, loss and augmentation.
    train : TrainConfig, optional
        Budget, validation, early stopping, seed, device, ``amp``, and ``checkpoint`` (a file;
        with ``resume`` a later call with the same images and options continues from it
        exactly); default :data:`SEGMENTER_TRAINING`.
    val_images, val_labels : sequences of ndarray, optional
        Validation pairs; default ``val_fraction`` of the training images, chosen with the
        seed (the training images themselves when only one is given: ``leaky_validation``).
    out : str or Path, optional
        Artifact folder for the best weights (``model.pt`` + ``config.json`` with semlab
        version, seed, input hashes, preprocessing, classes, options) and ``history.csv``.
    input_paths : sequence of paths, optional
        Files the images and labels came from, hashed into ``config.json``.
    image_names : sequence of str, optional
        Names for error messages (default ``image <i>``).
    progress : callable, optional
        ``progress(step, max_steps)``.
    log : callable, optional
        Called with each validation row (step, seconds, train_loss, val_loss, val_mean_iou, lr).
    **options
        Single fields of either config (``patch_size=64``, ``max_steps=200``, ``seed=3``,
        ``val_every=20`` …).

    Returns
    -------
    SegmenterTrainResult

    Raises
    ------
    ParameterError
        Mismatched shapes, unexpected label values, bad options.
    """
    import torch

    cfg, tr = _configs(config, train, options)
    imgs, labs, cls = check_training_pairs(images, labels, classes=cfg.classes, names=image_names)
    net_config = _check(cfg, len(cls))
    seed = 0 if tr.seed is None else tr.seed
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    dev = resolve_device(tr.device)
    preprocessing = {**DEFAULT_PREPROCESSING, "equalize": cfg.equalize, "downsample": int(cfg.downsample)}
    data = _segment_data((imgs, labs, cls), cfg, (val_images, val_labels), preprocessing, seed, rng)
    loss_fn = _loss(
        torch.tensor(data.weights, dtype=torch.float32, device=dev), float(cfg.dice_weight), len(cls)
    )

    from semlab.registry import create

    net = create("segmenter", cfg.model, config=net_config)
    encoder = None
    if getattr(net_config, "encoder", "none") != "none":
        from semlab.segment.unet import load_encoder_weights

        encoder = load_encoder_weights(net, cfg.encoder_weights)
    net = net.to(dev)
    opt = torch.optim.AdamW(net.parameters(), lr=float(cfg.lr), weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="max", factor=0.5, patience=3)
    trainer = _Steps(net, opt, sched, loss_fn, data, cfg, rng, dev)
    net.train()
    run = fit(
        trainer.step,
        config=dataclasses.replace(tr, seed=None),
        model=net,
        validate=trainer.validate,
        monitor="val_mean_iou",
        mode="max",
        state={"model": net, "optimizer": opt, "scheduler": sched},
        generators=[rng],
        extra_state=trainer.state,
        on_resume=trainer.restore,
        progress=progress,
        on_row=log,
    )
    net.eval()
    names = tuple(cfg.class_names) if cfg.class_names is not None else tuple(f"class_{c}" for c in cls)
    extra = {
        "classes": list(cls),
        "class_names": list(names),
        "training": {**_training_record(cfg, tr, data.weights, str(dev)), **data.record()},
        "encoder": encoder,
    }
    return _finish(
        run, net, (cfg, net_config, seed, preprocessing, extra), cls, names, data.leaky, (out, input_paths)
    )


class _Steps:
    """The U-Net's training step and validation for the engine."""

    def __init__(self, net, opt, sched, loss_fn, data, cfg, rng, dev) -> None:  # noqa: ANN001
        self.net, self.opt, self.sched, self.loss_fn = net, opt, sched, loss_fn
        self.data, self.cfg, self.rng, self.dev = data, cfg, rng, dev
        self.running: list[float] = []
        self.t0 = time.perf_counter()

    def state(self) -> dict[str, Any]:
        """What a checkpoint keeps besides weights and random states: the run's identity and
        the training losses since the last validation."""
        from semlab._util import to_jsonable

        fingerprint = {
            "config": dataclasses.asdict(self.cfg),
            "n_train": len(self.data.tx),
            "shapes": [list(x.shape) for x in self.data.tx],
            "class_weights": self.data.weights.tolist(),
        }
        return {"fingerprint": to_jsonable(fingerprint), "running": list(self.running)}

    def restore(self, saved: Any) -> None:
        if not isinstance(saved, dict) or saved.get("fingerprint") != self.state()["fingerprint"]:
            raise ParameterError(
                "the checkpoint belongs to another run (other images, labels or options); "
                "give another checkpoint file or pass resume=False"
            )
        self.running = [float(v) for v in saved["running"]]

    def step(self, k: int) -> dict[str, float]:
        import torch

        cfg = self.cfg
        strong = cfg.augment and cfg.augmentation == "strong"
        if strong:
            bx, by = _crop_scaled(self.data.tx, self.data.ty, self.rng, cfg.batch_size, cfg.patch_size,
                                  self.data.p, STRONG_AUGMENTATION["scale"])  # fmt: skip
            bx, by = _augment_strong(bx, by, self.rng, invert=cfg.invert)
        else:
            bx, by = _crop(self.data.tx, self.data.ty, self.rng, cfg.batch_size, cfg.patch_size, self.data.p)
            if cfg.augment:
                bx, by = _augment(bx, by, self.rng, invert=cfg.invert)
        self.opt.zero_grad(set_to_none=True)
        loss = self.loss_fn(
            self.net(torch.from_numpy(np.ascontiguousarray(bx[:, None])).to(self.dev)),
            torch.from_numpy(np.ascontiguousarray(by)).to(self.dev),
        )
        loss.backward()
        self.opt.step()
        self.running.append(float(loss.detach()))
        return {"loss": self.running[-1]}

    def validate(self) -> dict[str, float]:
        val_loss, val_iou = _val_scores(self.net, self.data.val, self.loss_fn, self.cfg.batch_size, self.dev)
        row = {
            "seconds": time.perf_counter() - self.t0,
            "train_loss": float(np.mean(self.running)) if self.running else float("nan"),
            "val_loss": val_loss,
            "val_mean_iou": val_iou,
            "lr": self.opt.param_groups[0]["lr"],
        }
        self.running.clear()
        self.sched.step(val_iou)
        return row


@dataclass(frozen=True, eq=False)
class _SegData:
    """Training images and labels (prepared, padded), their sampling weights, the fixed
    validation patches, the class weights and how the split was made."""

    tx: list[np.ndarray]
    ty: list[np.ndarray]
    p: np.ndarray
    val: tuple[np.ndarray, np.ndarray]
    weights: np.ndarray
    leaky: bool
    n_train: int
    n_val: int

    def record(self) -> dict[str, Any]:
        return {"n_train_images": self.n_train, "n_val_images": self.n_val, "leaky_validation": self.leaky}


def _segment_data(pairs, cfg, val_pairs, preprocessing, seed, rng) -> _SegData:  # noqa: ANN001
    imgs, labs, cls = pairs
    t_imgs, t_labs, v_imgs, v_labs, leaky = _split(imgs, labs, cls, val_pairs, cfg.val_fraction, rng)
    tx, ty = _prepare_pairs(t_imgs, t_labs, preprocessing, cfg.patch_size)
    vx, vy = _prepare_pairs(v_imgs, v_labs, preprocessing, cfg.patch_size)
    area = np.array([x.size for x in tx], dtype=np.float64)
    v_area = np.array([x.size for x in vx], dtype=np.float64)
    val = _crop(
        vx, vy, np.random.default_rng([seed, 1]), cfg.val_patches, cfg.patch_size, v_area / v_area.sum()
    )
    weights = _class_weights(cfg, t_labs, cls)
    return _SegData(tx, ty, area / area.sum(), val, weights, leaky, len(t_imgs), len(v_imgs))


def _prepare_pairs(ims, lbs, preprocessing: dict[str, Any], patch_size: int):  # noqa: ANN001, ANN202
    k = int(preprocessing.get("downsample", 1))
    xs = [_pad_min(network_input(im, preprocessing), patch_size) for im in ims]
    if k > 1:
        lbs = [downsample_labels(lb, k) for lb in lbs]
    return xs, [_pad_min(lb, patch_size) for lb in lbs]


def _training_record(
    cfg: SegmenterConfig, tr: TrainConfig, weights: np.ndarray, device: str
) -> dict[str, Any]:
    return {
        "patch_size": cfg.patch_size,
        "batch_size": cfg.batch_size,
        "lr": cfg.lr,
        "class_weights": weights.tolist(),
        "dice_weight": cfg.dice_weight,
        "augment": bool(cfg.augment),
        "augmentation": cfg.augmentation if cfg.augment else "none",
        "invert": bool(cfg.invert),
        "val_every": tr.validate_every,
        "val_patches": cfg.val_patches,
        "val_fraction": cfg.val_fraction,
        "downsample": cfg.downsample,
        "patience": tr.patience,
        "time_budget_s": tr.time_budget_s,
        "max_steps": tr.max_steps,
        "device": device,
    }


def _finish(
    run: Any, net: Any, saved: tuple, cls: tuple[int, ...], names: tuple[str, ...], leaky: bool, where: tuple
) -> SegmenterTrainResult:  # noqa: ANN001
    """The result (and the artifact folder with the best weights and history.csv)."""
    import pandas as pd

    cfg, net_config, seed, preprocessing, extra = saved
    out, input_paths = where
    columns = ["step", "seconds", "train_loss", "val_loss", "val_mean_iou", "lr"]
    hist = pd.DataFrame([{c: r[c] for c in columns} for r in run.history if "val_loss" in r], columns=columns)
    best_iou = float(run.best_value) if run.best_step is not None else -1.0
    out_path = Path(out) if out is not None else None
    if out_path is not None:
        from semlab._util import atomic_write_text
        from semlab.registry import input_hashes, save_artifact

        save_artifact(
            out_path,
            net,
            kind="segmenter",
            name=cfg.model,
            config=net_config,
            seed=seed,
            inputs=input_hashes(input_paths) if input_paths is not None else None,
            preprocessing=preprocessing,
            extra={**extra, "best_step": run.best_step, "best_val_mean_iou": best_iou},
        )
        atomic_write_text(out_path / "history.csv", hist.to_csv(index=False))
    seg = Segmenter(
        model=net,
        classes=cls,
        class_names=names,
        preprocessing=preprocessing,
        path=out_path,
        meta={"extra": {**extra, "best_step": run.best_step, "best_val_mean_iou": best_iou}},
    )
    return SegmenterTrainResult(
        segmenter=seg,
        history=hist,
        best_step=int(run.best_step or 0),
        best_val_iou=best_iou,
        steps=run.steps,
        seconds=run.seconds,
        stopped=run.stopped,
        device=run.device,
        leaky_validation=leaky,
        path=out_path,
    )
