"""Training a U-Net segmenter from label images (hybrid annotations or ground truth).

torch is imported inside :func:`train_segmenter`.
"""

from __future__ import annotations

import copy
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
    prepare_image,
    resolve_device,
)

__all__ = ["TrainResult", "check_training_pairs", "class_weights_from_labels", "train_segmenter"]

_MAX_CLASSES = 32


@dataclass(frozen=True, eq=False)
class TrainResult:
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
        raise ParameterError(f"{len(images)} images but {len(labels)} label images; give one label image per image")
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
                raise ParameterError(f"{name}: labels have dtype {lab.dtype} with non-integer values; give integer labels")
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


def train_segmenter(
    images: Sequence[np.ndarray],
    labels: Sequence[np.ndarray],
    *,
    val_images: Sequence[np.ndarray] | None = None,
    val_labels: Sequence[np.ndarray] | None = None,
    val_fraction: float = 0.15,
    classes: Sequence[int] | None = None,
    class_names: Sequence[str] | None = None,
    model: str = "unet",
    model_options: dict[str, Any] | None = None,
    patch_size: int = 128,
    batch_size: int = 8,
    max_steps: int = 5000,
    lr: float = 2e-3,
    class_weights: str | Sequence[float] | None = "auto",
    dice_weight: float = 1.0,
    augment: bool = True,
    invert: bool = False,
    val_every: int = 50,
    val_patches: int = 32,
    patience: int = 8,
    time_budget_s: float | None = None,
    equalize: str = "none",
    downsample: int = 1,
    seed: int = 0,
    device: Any = "auto",
    out: str | os.PathLike | None = None,
    input_paths: Sequence[str | os.PathLike] | None = None,
    image_names: Sequence[str] | None = None,
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> TrainResult:
    """Train a segmentation network on images and their label images.

    Each step draws ``batch_size`` random ``patch_size`` patches (images picked in
    proportion to their area) with random 90° rotations, flips and mild contrast jitter,
    and minimises class-weighted cross-entropy plus ``dice_weight`` × (1 − soft Dice).
    Every ``val_every`` steps the mean IoU on fixed validation patches is measured; the
    best weights are kept (and saved to ``out``), and training stops after ``patience``
    validations without improvement, after ``time_budget_s`` or after ``max_steps``.

    Parameters
    ----------
    images : sequence of (M, N) ndarray
        Grey training images (any size ≥ 1 pixel; smaller than a patch is mirror-padded).
    labels : sequence of (M, N) ndarray of int
        Label images (e.g. :func:`hybrid_annotation` labels or a ground truth).
    val_images, val_labels : sequences of ndarray, optional
        Validation pairs; default: ``val_fraction`` of the training images, chosen with
        ``seed`` (at least one, and the training images themselves when only one is given,
        flagged as ``leaky_validation``).
    val_fraction : float, default 0.15
        See above.
    classes : sequence of int, optional
        Label values in output order; default the sorted values found.  Predictions write
        these values.
    class_names : sequence of str, optional
        A name per class (stored with the model).
    model : str, default "unet"
        Registered segmenter name (:func:`semlab.registry.available` ``("segmenter")``).
    model_options : dict, optional
        Config fields, e.g. ``{"depth": 4, "width": 16}``; ``n_classes`` is set for you.
    patch_size : int, default 128
        Training patch side in pixels (a multiple of ``2 ** (depth - 1)``).
    batch_size : int, default 8
    max_steps : int, default 5000
    lr : float, default 2e-3
        AdamW learning rate, halved after 3 validations without improvement.
    class_weights : "auto", sequence of float or None, default "auto"
        Cross-entropy weights; ``"auto"`` = median-frequency balancing from the training
        labels (:func:`class_weights_from_labels`).
    dice_weight : float, default 1.0
        Weight of the soft-Dice term (0 = cross-entropy only).
    augment : bool, default True
    invert : bool, default False
        Also invert the grey values of half the patches (with ``augment``): for data whose
        phases are dark on some images and bright on others (e.g. particles in TEM and SEM).
    val_every : int, default 50
        Steps between validations.
    val_patches : int, default 32
        Number of fixed validation patches.
    patience : int, default 8
        Validations without improvement before stopping.
    time_budget_s : float, optional
        Stop after this many seconds of training (then validate once more).
    equalize : {"none", "global", "clahe"}, default "none"
        Histogram equalization before per-image standardisation (stored with the model and
        applied at inference).
    downsample : int, default 1
        Shrink images (block means) and labels by this factor for the network, so a patch
        sees more context; stored with the model and undone at inference (probabilities
        interpolated back to full size).
    seed : int, default 0
        Seeds numpy and torch; the same inputs and seed give the same model on the same
        device (up to non-deterministic GPU kernels).
    device : "auto", "cpu", "cuda" or torch.device
    out : str or Path, optional
        Artifact folder for the best checkpoint (``model.pt`` + ``config.json`` with semlab
        version, seed, input hashes, preprocessing, classes, options) and ``history.csv``.
    input_paths : sequence of paths, optional
        Files the images and labels came from, hashed into ``config.json``.
    image_names : sequence of str, optional
        Names for error messages (default ``image <i>``).
    progress : callable, optional
        Called with a dict (step, seconds, train_loss, val_loss, val_mean_iou) after each
        validation.

    Returns
    -------
    TrainResult

    Raises
    ------
    ParameterError
        Mismatched shapes, unexpected label values, bad options.
    """
    import pandas as pd
    import torch
    import torch.nn.functional as F

    from semlab.preprocess import EQUALIZE_METHODS
    from semlab.registry import create, make_config, save_artifact

    if equalize not in EQUALIZE_METHODS:
        raise ParameterError(f"equalize={equalize!r} is not one of {', '.join(EQUALIZE_METHODS)}")
    imgs, labs, cls = check_training_pairs(images, labels, classes=classes, names=image_names)
    n_classes = len(cls)
    if class_names is not None and len(class_names) != n_classes:
        raise ParameterError(f"class_names has {len(class_names)} entries for {n_classes} classes {list(cls)}")
    names = tuple(class_names) if class_names is not None else tuple(f"class_{c}" for c in cls)
    patch_size = positive_int(patch_size, "patch_size")
    batch_size = positive_int(batch_size, "batch_size")
    max_steps = positive_int(max_steps, "max_steps")
    val_every = positive_int(val_every, "val_every")
    val_patches = positive_int(val_patches, "val_patches")
    patience = positive_int(patience, "patience")
    lr = positive_float(lr, "lr")
    dice_weight = positive_float(dice_weight, "dice_weight", allow_zero=True)
    if time_budget_s is not None:
        time_budget_s = positive_float(time_budget_s, "time_budget_s")
    if not 0 < float(val_fraction) < 1:
        raise ParameterError(f"val_fraction={val_fraction!r} must be between 0 and 1")
    config = make_config("segmenter", model, {**(model_options or {}), "n_classes": n_classes})
    multiple = getattr(config, "multiple", 1)
    if patch_size % multiple:
        raise ParameterError(f"patch_size={patch_size} must be a multiple of {multiple} for depth {config.depth}")

    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    dev = resolve_device(device)
    downsample = positive_int(downsample, "downsample")
    preprocessing = {**DEFAULT_PREPROCESSING, "equalize": equalize, "downsample": downsample}

    # --- split
    leaky = False
    if val_images is not None or val_labels is not None:
        if val_images is None or val_labels is None:
            raise ParameterError("give both val_images and val_labels, or neither")
        v_imgs, v_labs, _ = check_training_pairs(val_images, val_labels, classes=cls)
        t_imgs, t_labs = imgs, labs
    elif len(imgs) == 1:
        t_imgs, t_labs, v_imgs, v_labs, leaky = imgs, labs, imgs, labs, True
    else:
        order = rng.permutation(len(imgs))
        n_val = min(len(imgs) - 1, max(1, int(round(val_fraction * len(imgs)))))
        v_idx, t_idx = sorted(order[:n_val]), sorted(order[n_val:])
        t_imgs, t_labs = [imgs[i] for i in t_idx], [labs[i] for i in t_idx]
        v_imgs, v_labs = [imgs[i] for i in v_idx], [labs[i] for i in v_idx]

    def prep(ims, lbs):
        xs = [_pad_min(prepare_image(im, preprocessing), patch_size) for im in ims]
        if downsample > 1:
            lbs = [downsample_labels(lb, downsample) for lb in lbs]
        ys = [_pad_min(lb, patch_size) for lb in lbs]
        return xs, ys

    tx, ty = prep(t_imgs, t_labs)
    vx, vy = prep(v_imgs, v_labs)
    area = np.array([x.size for x in tx], dtype=np.float64)
    p_train = area / area.sum()
    v_area = np.array([x.size for x in vx], dtype=np.float64)
    val_x, val_y = _crop(vx, vy, np.random.default_rng([seed, 1]), val_patches, patch_size, v_area / v_area.sum())

    if isinstance(class_weights, str):
        if class_weights != "auto":
            raise ParameterError(f"class_weights={class_weights!r} must be 'auto', a list of numbers or None")
        weights = class_weights_from_labels(t_labs, n_classes)
    elif class_weights is None:
        weights = np.ones(n_classes)
    else:
        weights = np.asarray(class_weights, dtype=np.float64)
        if weights.shape != (n_classes,) or not np.all(weights > 0):
            raise ParameterError(f"class_weights must be {n_classes} positive numbers, one per class {list(cls)}")
    w_t = torch.tensor(weights, dtype=torch.float32, device=dev)

    net = create("segmenter", model, config=config).to(dev)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="max", factor=0.5, patience=3)

    def loss_fn(logits, target):
        ce = F.cross_entropy(logits, target, weight=w_t)
        if dice_weight == 0:
            return ce
        prob = torch.softmax(logits, dim=1)
        onehot = F.one_hot(target, n_classes).permute(0, 3, 1, 2).float()
        inter = (prob * onehot).sum(dim=(0, 2, 3))
        denom = prob.sum(dim=(0, 2, 3)) + onehot.sum(dim=(0, 2, 3))
        dice = (2 * inter + 1.0) / (denom + 1.0)
        return ce + dice_weight * (1 - dice.mean())

    def validate() -> tuple[float, float]:
        net.eval()
        cm = np.zeros((n_classes, n_classes), dtype=np.int64)
        total = 0.0
        with torch.inference_mode():
            for s in range(0, len(val_x), batch_size):
                xb = torch.from_numpy(val_x[s : s + batch_size, None]).to(dev)
                yb = torch.from_numpy(val_y[s : s + batch_size]).to(dev)
                logits = net(xb)
                total += float(loss_fn(logits, yb)) * len(xb)
                pred = logits.argmax(1).cpu().numpy().ravel()
                cm += np.bincount(
                    val_y[s : s + batch_size].ravel() * n_classes + pred, minlength=n_classes**2
                ).reshape(n_classes, n_classes)
        net.train()
        tp = np.diag(cm).astype(np.float64)
        den = cm.sum(0) + cm.sum(1) - tp
        iou = tp[den > 0] / den[den > 0]
        return total / len(val_x), float(iou.mean()) if iou.size else float("nan")

    out_path = Path(out) if out is not None else None
    extra_base = {
        "classes": list(cls),
        "class_names": list(names),
        "training": {
            "n_train_images": len(t_imgs),
            "n_val_images": len(v_imgs),
            "leaky_validation": leaky,
            "patch_size": patch_size,
            "batch_size": batch_size,
            "lr": lr,
            "class_weights": weights.tolist(),
            "dice_weight": dice_weight,
            "augment": bool(augment),
            "invert": bool(invert),
            "val_every": val_every,
            "val_patches": val_patches,
            "patience": patience,
            "time_budget_s": time_budget_s,
            "max_steps": max_steps,
            "device": str(dev),
        },
    }
    hashed_inputs = None
    if out_path is not None and input_paths is not None:
        from semlab.registry import input_hashes

        hashed_inputs = input_hashes(input_paths)

    history: list[dict[str, Any]] = []
    best_iou, best_step, best_state = -1.0, 0, copy.deepcopy(net.state_dict())
    bad = 0
    stopped = "max_steps"
    running, n_run = 0.0, 0
    net.train()
    t0 = time.perf_counter()
    step = 0
    while step < max_steps:
        bx, by = _crop(tx, ty, rng, batch_size, patch_size, p_train)
        if augment:
            bx, by = _augment(bx, by, rng, invert=invert)
        xb = torch.from_numpy(np.ascontiguousarray(bx[:, None])).to(dev)
        yb = torch.from_numpy(np.ascontiguousarray(by)).to(dev)
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(net(xb), yb)
        loss.backward()
        opt.step()
        step += 1
        running += float(loss.detach())
        n_run += 1
        elapsed = time.perf_counter() - t0
        over_budget = time_budget_s is not None and elapsed >= time_budget_s
        if step % val_every == 0 or over_budget or step == max_steps:
            val_loss, val_iou = validate()
            row = {
                "step": step,
                "seconds": time.perf_counter() - t0,
                "train_loss": running / max(n_run, 1),
                "val_loss": val_loss,
                "val_mean_iou": val_iou,
                "lr": opt.param_groups[0]["lr"],
            }
            history.append(row)
            running, n_run = 0.0, 0
            if progress is not None:
                progress(row)
            sched.step(val_iou)
            if val_iou > best_iou:
                best_iou, best_step, bad = val_iou, step, 0
                best_state = copy.deepcopy(net.state_dict())
                if out_path is not None:
                    save_artifact(
                        out_path,
                        net,
                        kind="segmenter",
                        name=model,
                        config=config,
                        seed=seed,
                        inputs=hashed_inputs,
                        preprocessing=preprocessing,
                        extra={**extra_base, "best_step": step, "best_val_mean_iou": val_iou},
                    )
            else:
                bad += 1
                if bad >= patience:
                    stopped = "early_stopping"
                    break
        if over_budget:
            stopped = "time_budget"
            break
    seconds = time.perf_counter() - t0
    net.load_state_dict(best_state)
    net.eval()
    hist = pd.DataFrame(history, columns=["step", "seconds", "train_loss", "val_loss", "val_mean_iou", "lr"])
    if out_path is not None:
        from semlab._util import atomic_write_text

        atomic_write_text(out_path / "history.csv", hist.to_csv(index=False))
    seg = Segmenter(
        model=net,
        classes=cls,
        class_names=names,
        preprocessing=preprocessing,
        path=out_path,
        meta={},
    )
    return TrainResult(
        segmenter=seg,
        history=hist,
        best_step=best_step,
        best_val_iou=best_iou,
        steps=step,
        seconds=seconds,
        stopped=stopped,
        device=str(dev),
        leaky_validation=leaky,
        path=out_path,
    )
