"""Fine-tuning a timm backbone for SEM category classification.

The SEM-classification study fine-tuned an ImageNet network on ten SEM categories.  Here
:func:`finetune` takes micrographs with a class each and a sample id each, splits them by
sample (80/10/10, stratified), and trains a timm classifier
(:func:`semlab.features.create_backbone` with ``num_classes``) on random patches:

* only the last ``unfreeze`` stages (timm ``feature_info``) and everything after them
  (final convolution, pooling, classifier) learn; frozen stages keep their batch-norm
  statistics;
* augmentations: flips, 90° rotations, slight intensity jitter (gain ×(1 ± 0.1), offset
  ± 0.05 on [0, 1] grey values);
* class weights inversely proportional to class frequency (imbalance);
* validation after every epoch on fixed patches of the validation images, early stopping
  after ``patience`` epochs without a better validation loss (the best weights are kept),
  and a wall-time budget.

Test images are predicted from ``patches_per_image`` fixed patches each (mean of the patch
probabilities).  :func:`finetune_workspace` and :func:`finetune_folder` load the inputs from
a workspace (``--target`` column, samples from the table) or from a folder of class
sub-folders (each image its own sample, unless its name starts with a sample id given by
``sample_pattern``).
"""

from __future__ import annotations

import dataclasses
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from semlab.errors import MissingFileError, ParameterError
from semlab.preprocess import Preparation
from semlab.training import Progress, TrainConfig, fit, resolve_device

__all__ = [
    "FINETUNE_TRAINING",
    "FinetuneConfig",
    "finetune",
    "finetune_folder",
    "finetune_workspace",
    "predict_patches",
]


def _to_input(patches: np.ndarray, pre: dict[str, Any]) -> Any:
    """(n, h, w) grey [0, 1] → (n, 3, H, W) at the model's input size, normalised by its mean/std.

    The same conversion as feature extraction (:func:`semlab.features.extract.make_input`).
    """
    from semlab.features.extract import make_input

    cfg = {
        "input_size": tuple(pre["input_size"]),
        "mean": tuple(pre["mean"]),
        "std": tuple(pre["std"]),
        "interpolation": pre.get("interpolation", "bilinear"),
    }
    return make_input(np.ascontiguousarray(patches, dtype=np.float32), cfg, channels_last=False)


def predict_patches(
    model: Any, patches: np.ndarray, pre: dict[str, Any], *, batch_size: int = 64, device: str = "cpu"
) -> np.ndarray:
    """Class probabilities ``(n, C)`` of prepared grey patches ``(n, h, w)`` in [0, 1]."""
    import torch

    model.eval()
    outs = []
    with torch.inference_mode():
        for i in range(0, len(patches), batch_size):
            x = _to_input(patches[i : i + batch_size], pre).to(device)
            outs.append(torch.softmax(model(x).float(), dim=1).cpu().double().numpy())
    return np.concatenate(outs) if outs else np.zeros((0, 0))


def _stage_prefixes(model: Any) -> list[str]:
    info = getattr(model, "feature_info", None)
    names = []
    if info is not None:
        for item in info:
            mod = item.get("module") if isinstance(item, dict) else None
            if mod:
                names.append(str(mod))
    return names


def set_trainable(model: Any, unfreeze: int) -> tuple[int, int]:
    """Freeze all but the last ``unfreeze`` stages and what follows them; returns (trainable, total) counts."""
    params = list(model.named_parameters())
    stages = _stage_prefixes(model)
    start = len(params)
    if stages and unfreeze > 0:
        prefix = stages[max(0, len(stages) - int(unfreeze))]
        hits = [i for i, (n, _) in enumerate(params) if n == prefix or n.startswith(prefix + ".")]
        start = hits[0] if hits else 0
    elif stages:  # unfreeze 0: only what follows the last stage
        last = stages[-1]
        hits = [i for i, (n, _) in enumerate(params) if n.startswith(last + ".")]
        start = hits[-1] + 1 if hits else 0
    else:
        start = 0
    classifier = model.get_classifier() if hasattr(model, "get_classifier") else None
    cls_ids = {id(p) for p in classifier.parameters()} if classifier is not None else set()
    for i, (_, p) in enumerate(params):
        p.requires_grad_(i >= start or id(p) in cls_ids)
    return sum(p.numel() for _, p in params if p.requires_grad), sum(p.numel() for _, p in params)


def _frozen_eval(model: Any) -> None:
    """Keep batch-norm statistics of fully frozen modules fixed while training."""
    from torch import nn

    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            if not any(p.requires_grad for p in m.parameters(recurse=False)):
                m.eval()


def _augment(batch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    out = np.empty_like(batch)
    for j, p in enumerate(batch):
        p = np.rot90(p, int(rng.integers(0, 4)))
        if rng.random() < 0.5:
            p = p[:, ::-1]
        if rng.random() < 0.5:
            p = p[::-1]
        gain, offset = 1.0 + rng.uniform(-0.1, 0.1), rng.uniform(-0.05, 0.05)
        out[j] = np.clip(p * gain + offset, 0.0, 1.0)
    return out


def _crop(images: list[np.ndarray], idx: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    out = np.empty((idx.size, size, size), dtype=np.float32)
    for j, i in enumerate(idx):
        im = images[i]
        r = int(rng.integers(0, im.shape[0] - size + 1))
        c = int(rng.integers(0, im.shape[1] - size + 1))
        out[j] = im[r : r + size, c : c + size]
    return out


@dataclass(frozen=True)
class FinetuneConfig:
    """What is fine-tuned and how its inputs are made (:func:`finetune`).

    Attributes
    ----------
    target : str
        Name of what is predicted (for the report).
    backbone : str
        timm model name (e.g. ``resnet18``, ``efficientnet_lite0``, ``inception_resnet_v2``).
    pretrained, weights
        Weight resolution of :func:`semlab.features.create_backbone`.
    unfreeze : int
        Trainable stages counted from the end (0 = classifier and final layers only).
    input_size : int, optional
        Side in pixels of the model input; default the model's data config (e.g. 224).
    batch_size, lr, weight_decay, steps_per_epoch
        Optimisation (AdamW); default ``steps_per_epoch`` covers each training image about
        four times per epoch.
    class_weight : bool
        Weight the loss by inverse class frequency.
    fractions : (float, float, float)
        Train/validation/test shares of the samples.
    preparation : Preparation
        How images become patches (data bar, equalization, pixel size — default the
        coarsest of the images —, patch size, fixed patches per validation/test image);
        saved with the run and applied by :func:`load_predictor`.
    """

    target: str = "category"
    backbone: str = "resnet18"
    pretrained: bool = True
    weights: str | os.PathLike | None = None
    unfreeze: int = 2
    input_size: int | None = None
    batch_size: int = 16
    lr: float = 3e-4
    weight_decay: float = 1e-4
    steps_per_epoch: int | None = None
    class_weight: bool = True
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
    preparation: Preparation = field(default_factory=lambda: Preparation(patch_size=224, patches_per_image=8))


#: The engine's defaults for fine-tuning: 20 epochs (a step is an epoch), patience 3.
FINETUNE_TRAINING = TrainConfig(max_steps=20, patience=3)
# keyword options of earlier versions → (config, field)
_ALIASES = {
    "epochs": ("train", "max_steps"),
    "patience": ("train", "patience"),
    "time_budget_s": ("train", "time_budget_s"),
    "device": ("train", "device"),
    "patch_size": ("prep", "patch_size"),
    "patches_per_image": ("prep", "patches_per_image"),
    "equalize_method": ("prep", "equalize"),
    "target_pixel_size": ("prep", "pixel_size"),
}


def _configs(
    config: FinetuneConfig | None, train: TrainConfig | None, options: dict[str, Any]
) -> tuple[FinetuneConfig, TrainConfig]:
    import dataclasses

    cfg, tr = config or FinetuneConfig(), train or FINETUNE_TRAINING
    fields = {f.name for f in dataclasses.fields(FinetuneConfig)}
    own, tr_opts, prep = {}, {}, {}
    for k, v in options.items():
        if k == "seed":
            tr_opts["seed"], prep["seed"] = v, v
        elif k in _ALIASES:
            where, name = _ALIASES[k]
            (tr_opts if where == "train" else prep)[name] = v
        elif k in fields:
            own[k] = v
        else:
            raise ParameterError(f"unknown fine-tuning option {k}; see FinetuneConfig and TrainConfig")
    cfg = dataclasses.replace(cfg, **own)
    if prep:
        cfg = dataclasses.replace(cfg, preparation=cfg.preparation.replace(**prep))
    return cfg, dataclasses.replace(tr, **tr_opts)


def _prepare(images: list[Any], names: list[str], recipe: Preparation) -> tuple[Preparation, list[Any]]:
    """The recipe with its pixel size settled (coarsest known) and every image prepared."""
    from semlab.preprocess import common_pixel_size, prepare_image

    if recipe.pixel_size is None:
        target = common_pixel_size(getattr(im, "pixel_size", None) for im in images)
        if target is not None:
            recipe = recipe.replace(pixel_size=target)
    prepared = [prepare_image(im, recipe, name=n) for im, n in zip(images, names, strict=True)]
    small = [n for n, p in zip(names, prepared, strict=True) if min(p.image.shape) < recipe.patch_size]
    if small:
        raise ParameterError(
            f"{small[0]} is smaller than --patch-size {recipe.patch_size} after preprocessing; use a smaller patch size"
        )
    return recipe, prepared


def finetune(
    images: Sequence[Any],
    labels: Sequence[Any],
    groups: Sequence[Any] | None = None,
    *,
    config: FinetuneConfig | None = None,
    train: TrainConfig | None = None,
    names: Sequence[str] | None = None,
    out: str | os.PathLike | None = None,
    inputs: list[dict[str, Any]] | None = None,
    progress: Progress | None = None,
    log: Callable[[dict[str, Any]], None] | None = None,
    **options: Any,
) -> Any:
    """Fine-tune a timm classifier on micrographs, split by sample; optionally write a run folder.

    Parameters
    ----------
    images : list of Micrograph or (M, N) ndarray
        Micrographs, prepared by ``config.preparation`` (data bar cropped when still
        present; resampled to its pixel size when theirs is known).
    labels : list
        A class per image (any labels; numbers are ordered numerically).
    groups : list, optional
        Sample id per image; default each image its own sample.
    config : FinetuneConfig, optional
    train : TrainConfig, optional
        Epochs (``max_steps``: a step is an epoch), patience, optional wall-clock cap, seed,
        device, ``amp``, and ``checkpoint`` (a file; with ``resume`` a later call with the same
        images and options continues from it exactly); default :data:`FINETUNE_TRAINING`.
    names : list of str, optional
        Image names for the predictions table.
    out : path, optional
        Write a run folder (model, config, metrics, predictions, plots) here.
    inputs : list of dict, optional
        Provenance records (``path``, ``sha256``) for ``config.json``.
    progress : callable, optional
        ``progress(epoch, epochs)``.
    log : callable, optional
        Called with each epoch's history row.
    **options
        Single fields of the configs: ``backbone=``, ``unfreeze=``, ``epochs=``,
        ``patience=``, ``time_budget_s=``, ``seed=``, ``patch_size=``, ``input_size=`` …

    Returns
    -------
    TrainResult
        As :func:`semlab.learn.train_head` (``head.module`` is the fine-tuned model,
        ``head.history`` the epochs); ``run_dir`` in ``metrics["run_dir"]`` when written.
    """
    from semlab.learn.run import class_labels
    from semlab.learn.splits import make_splits

    t0 = time.perf_counter()
    cfg, tr = _configs(config, train, options)
    seed = 0 if tr.seed is None else tr.seed
    images = list(images)
    if len(images) != len(labels):
        raise ParameterError(f"{len(images)} images but {len(labels)} labels; give one label per image")
    if not images:
        raise ParameterError("no images given")
    names = [str(n) for n in names] if names is not None else [f"image {k}" for k in range(len(images))]
    groups_arr = np.asarray([str(g) for g in groups] if groups is not None else names)
    classes, y = class_labels(list(labels))
    if len(classes) < 2:
        raise ParameterError(
            f"all images have the class {classes[0]!r}; fine-tuning needs two classes or more"
        )
    recipe, prepared = _prepare(images, names, cfg.preparation)
    sp = make_splits(
        y,
        groups_arr,
        task="classify",
        scheme="sample",
        fractions=cfg.fractions,
        seed=seed,
        class_names=classes,
    )[0]
    data = _Data(images, prepared, names, groups_arr, y, classes, sp, recipe)
    head, pre, stopped = _train(data, cfg, tr, seed, (progress, log))
    test_p, test_y, test_i = data.fixed(sp.test)
    prob = predict_patches(head.module, test_p, pre, device=head.details["device"])
    head.module.cpu()
    result = _evaluate(prob, test_y, test_i, names, groups_arr, classes, sp, head, time.perf_counter() - t0)
    if out is not None:
        _write(result, out, (cfg, tr, seed), data, head, pre, inputs)
    return result


@dataclass(frozen=True, eq=False)
class _Data:
    """Images, their prepared arrays, names, groups, class indices, classes, split and recipe."""

    images: list[Any]
    prepared: list[Any]
    names: list[str]
    groups: np.ndarray
    y: np.ndarray
    classes: list[str]
    split: Any
    recipe: Preparation

    def fixed(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The recipe's fixed patches of images ``idx``, their classes and image indices."""
        from semlab.preprocess import prepare_patches

        ps, ys, ims = [], [], []
        for i in idx:
            key = (getattr(self.images[i], "metadata", None) or {}).get("hash")
            p, _ = prepare_patches(self.prepared[i], self.recipe, key=key, name=self.names[i])
            ps.append(p)
            ys += [self.y[i]] * len(p)
            ims += [i] * len(p)
        return np.concatenate(ps), np.asarray(ys), np.asarray(ims)


def _identity(data: _Data, cfg: FinetuneConfig) -> dict[str, Any]:
    """What a checkpoint must match to be resumed: the options, classes, images and split."""
    from semlab._util import to_jsonable

    options = {k: v for k, v in dataclasses.asdict(cfg).items() if k != "preparation"}
    return to_jsonable(
        {
            "config": options,
            "preparation": data.recipe.to_dict(),
            "classes": data.classes,
            "names": data.names,
            "labels": data.y,
            "train": data.split.train,
        }
    )


def _check_identity(saved: Any, data: _Data, cfg: FinetuneConfig) -> None:
    if saved != _identity(data, cfg):
        raise ParameterError(
            "the checkpoint belongs to another fine-tuning run (other images, split or options); "
            "give another checkpoint file or pass resume=False"
        )


def _train(data: _Data, cfg: FinetuneConfig, tr: TrainConfig, seed: int, callbacks: tuple) -> tuple:
    """(fitted head, preprocessing record, stop reason): the model's epoch on the training engine."""
    import torch

    from semlab.features import create_backbone
    from semlab.learn.heads import FinetunedConfig
    from semlab.learn.train import FittedHead

    dev = str(resolve_device(tr.device))
    bb = create_backbone(
        cfg.backbone, pretrained=cfg.pretrained, weights=cfg.weights, num_classes=len(data.classes), seed=seed
    )
    model = bb.model.to(dev)
    n_train, n_total = set_trainable(model, cfg.unfreeze)
    size = cfg.input_size
    pre = {
        **data.recipe.to_dict(),
        "input_size": [3, int(size), int(size)] if size else list(bb.data_config["input_size"]),
        "mean": list(bb.data_config["mean"]),
        "std": list(bb.data_config["std"]),
        "interpolation": bb.data_config.get("interpolation", "bilinear"),
    }
    sp = data.split
    train_imgs = [data.prepared[i].image for i in sp.train]
    y_train = data.y[sp.train]
    counts = np.bincount(y_train, minlength=len(data.classes)).astype(np.float64)
    w = np.where(counts > 0, counts.sum() / (len(data.classes) * np.maximum(counts, 1)), 0.0)
    loss_fn = torch.nn.CrossEntropyLoss(
        weight=torch.tensor(w, dtype=torch.float32).to(dev) if cfg.class_weight else None
    )
    opt = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=cfg.lr, weight_decay=cfg.weight_decay
    )
    steps = int(cfg.steps_per_epoch or max(1, int(np.ceil(4 * len(sp.train) / cfg.batch_size))))
    val = data.fixed(sp.val) if sp.val.size else None
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    patch = data.recipe.patch_size

    def epoch(k: int) -> dict[str, Any]:
        model.train()
        _frozen_eval(model)
        total = 0.0
        for _ in range(steps):
            idx = rng.integers(0, len(train_imgs), size=cfg.batch_size)
            xb = _to_input(_augment(_crop(train_imgs, idx, patch, rng), rng), pre).to(dev)
            opt.zero_grad()
            loss = loss_fn(model(xb), torch.from_numpy(y_train[idx]).to(dev))
            loss.backward()
            opt.step()
            total += float(loss.detach())
        return {"epoch": k, "train_loss": total / steps, "seconds": time.perf_counter() - t0}

    def validate() -> dict[str, float]:
        assert val is not None
        pv = predict_patches(model, val[0], pre, device=dev)
        logp = torch.log(torch.from_numpy(pv).float().clamp_min(1e-12)).to(dev)
        return {
            "val_loss": float(loss_fn(logp, torch.from_numpy(val[1]).to(dev))),
            "val_score": float((pv.argmax(1) == val[1]).mean()),
        }

    import dataclasses

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        run = fit(
            epoch,
            config=dataclasses.replace(tr, seed=None),
            model=model,
            validate=validate if val is not None else None,
            state={"model": model, "optimizer": opt},
            generators=[rng],
            extra_state=lambda: _identity(data, cfg),
            on_resume=lambda saved: _check_identity(saved, data, cfg),
            progress=callbacks[0],
            on_row=callbacks[1],
        )
        if callbacks[1] is not None and val is None:
            for row in run.history:
                callbacks[1](row)
    model.eval()
    history = [{k: v for k, v in row.items() if k != "step"} for row in run.history]
    details = {
        "stopped": run.stopped,
        "trainable_parameters": n_train,
        "parameters": n_total,
        "unfreeze": cfg.unfreeze,
        "device": dev,
        "weights": bb.weights,
        "weights_sha256": bb.weights_sha256,
    }
    head = FittedHead(
        model,
        "timm",
        FinetunedConfig(backbone=cfg.backbone, num_classes=len(data.classes)),
        "finetune",
        "classify",
        history,
        run.best_step,
        details,
    )
    return head, pre, run.stopped


def _write(
    result: Any, out: Any, configs: tuple, data: _Data, head: Any, pre: dict[str, Any], inputs: Any
) -> None:
    from semlab.learn.run import write_run

    cfg, tr, seed = configs
    run_cfg = {
        "target": cfg.target,
        "task": "classify",
        "task_reason": "fine-tuning classifies",
        "classes": data.classes,
        "model": "finetune",
        "split": "sample",
        "leaky": False,
        "folds": None,
        "seed": seed,
        "epochs": tr.max_steps,
        "backbone": cfg.backbone,
        "weights": head.details["weights"],
        "weights_sha256": head.details["weights_sha256"],
        "unfreeze": cfg.unfreeze,
        "lr": cfg.lr,
        "batch_size": cfg.batch_size,
        "patience": tr.patience,
        "time_budget_s": tr.time_budget_s,
        "stopped": head.details["stopped"],
        "n_images": len(data.images),
        "n_samples": int(np.unique(data.groups).size),
    }
    write_run(
        result,
        out,
        run_cfg=run_cfg,
        inputs=inputs,
        preprocessing=pre,
        artifact=(head.module, "finetuned", "timm", head.config),
    )
    result.metrics["run_dir"] = str(Path(out))


def _evaluate(prob, test_y, test_i, names, groups, classes, sp, head, seconds) -> Any:
    from semlab.learn.train import TrainResult, _classify_outputs, _Held

    rows = np.arange(len(test_y))
    held = _Held(
        rows,
        np.zeros(len(rows), dtype=np.int64),
        np.asarray(test_y),
        prob,
        np.asarray(names)[test_i],
        np.asarray(groups)[test_i],
        list(classes),
    )
    pred, img, metrics, _ = _classify_outputs(held)
    metrics.update(
        {
            "folds": [sp.to_dict()],
            "split": {
                "scheme": "sample",
                "leaky": False,
                "folds": None,
                "fractions": list(sp.to_dict().get("fractions", [0.8, 0.1, 0.1])),
                "n_images": len(names),
                "n_groups": int(np.unique(groups).size),
                "validation": "grouped" if sp.val.size else "none (too few samples per class)",
            },
            "training": {
                k: head.details[k] for k in ("stopped", "trainable_parameters", "parameters", "device")
            },
            "best_epoch": head.best_epoch,
        }
    )
    return TrainResult("classify", "finetune", classes, metrics, pred, img, head, [head], [sp], seconds)


def finetune_workspace(
    workspace: Any, *, target: str, out: str | os.PathLike | None = None, **options: Any
) -> Any:
    """:func:`finetune` on a workspace's images with the class in column ``target``.

    Images without a value are skipped; samples come from the descriptor table.  Default
    ``out``: ``<workspace>/runs/<target>-finetune-<backbone>-seed<seed>``.
    """
    from semlab.dataset import Workspace
    from semlab.learn.run import _missing, target_column

    ws = workspace if isinstance(workspace, Workspace) else Workspace.open(workspace)
    table = ws.table()
    col = target_column(table, target, where=f"workspace {ws.path}")
    keep = [i for i, v in enumerate(col.tolist()) if not _missing(v)]
    if not keep:
        raise ParameterError(f"no image has a value in column {target!r}; add it to the descriptor table")
    rows = table.iloc[keep]
    images = [ws.read(h, crop=True) for h in rows["hash"]]
    if out is None:
        out = (
            ws.path
            / "runs"
            / f"{target}-finetune-{options.get('backbone', 'resnet18')}-seed{options.get('seed', 0)}"
        )
    return finetune(
        images,
        col.iloc[keep].tolist(),
        rows["sample"].astype(str).tolist(),
        names=rows["original_name"].astype(str).tolist(),
        target=target,
        out=out,
        inputs=[{"path": n, "sha256": h} for n, h in zip(rows["original_name"], rows["hash"], strict=True)],
        **options,
    )


def finetune_folder(
    folder: str | os.PathLike,
    *,
    sample_pattern: str | None = None,
    out: str | os.PathLike | None = None,
    **options: Any,
) -> Any:
    """:func:`finetune` on a folder of class sub-folders (``folder/<class>/<image>``).

    Each image is its own sample unless ``sample_pattern`` (a regular expression whose
    first group, or whole match, applied to the file name gives the sample id) says
    otherwise.  Default ``out``: ``<folder>-finetune``.
    """
    import warnings

    from semlab._util import file_sha256
    from semlab.io import IMAGE_SUFFIXES, read_micrograph

    root = Path(folder)
    if not root.is_dir():
        raise MissingFileError(f"{root}: no such folder; give a workspace or a folder of class sub-folders")
    subs = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    files = [
        (d.name, f)
        for d in subs
        for f in sorted(d.iterdir())
        if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES
    ]
    if len({c for c, _ in files}) < 2:
        raise ParameterError(
            f"{root}: needs at least two class sub-folders holding images (folder/<class>/<image>)"
        )
    images, labels, groups, names = [], [], [], []
    pat = re.compile(sample_pattern) if sample_pattern else None
    for cls, f in files:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            images.append(read_micrograph(f))
        labels.append(cls)
        names.append(f"{cls}/{f.name}")
        m = pat.search(f.name) if pat else None
        groups.append(f"{cls}/{(m.group(1) if m.groups() else m.group(0)) if m else f.name}")
    out = out if out is not None else root.parent / f"{root.name}-finetune"
    return finetune(
        images,
        labels,
        groups,
        names=names,
        out=out,
        inputs=[{"path": str(f), "sha256": file_sha256(f)} for _, f in files],
        **options,
    )
