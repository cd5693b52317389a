"""Training runs on a workspace's features, and the run folder they write.

A run folder holds::

    config.json              the head's artifact config (semlab.registry.save_artifact): versions,
                             seed, input image hashes, preprocessing (the feature extraction
                             config), and under extra.run: target, task, classes, model,
                             split, folds, backbone and its weights
    model.pt                 the head's weights
    metrics.json             patch- and image-level metrics, per-fold scores, split details,
                             image-level 95 % intervals and permutation p-value (uncertainty),
                             warnings (e.g. a class with fewer than 3 independent samples),
                             calibration (temperature, ECE before/after, reliability bins),
                             feature_sets (name → image score and 95 % interval, same splits and
                             head), shortcut (the nuisance-only model's verdict), domain
    domain.npz               the domain model (training images' standardised mean features;
                             threshold in config.json extra.run.domain); plain arrays, no pickle
    predictions.csv          held-out patch predictions
    image_predictions.csv    held-out image predictions (mean of patch probabilities/values)
    loss_curves.png          MLP only: train loss per epoch, validation loss every 10 epochs
    roc.png, confusion.png   classification: one-vs-rest ROC curves; confusion matrices
    reliability.png          classification: reliability diagram before/after temperature scaling
    pred_vs_true.png         regression: predicted against true values
    pca.png                  the features' first two principal components coloured by the target
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from semlab._util import atomic_write_text
from semlab.errors import ParameterError, TableError

if TYPE_CHECKING:
    from semlab.learn.train import HeadConfig
    from semlab.training import Progress

__all__ = ["RunResult", "choose_task", "target_column", "train_workspace", "write_run"]

#: Numeric targets with at most this many distinct integer values are classified by default.
MAX_INTEGER_CLASSES = 10


@dataclass(frozen=True)
class RunResult:
    """A finished training run.

    Attributes
    ----------
    run_dir : Path
        The run folder.
    task : str
        ``classify`` or ``regress``.
    task_reason : str
        Why (given by the user, or chosen from the target's values).
    target : str
    model : str
    classes : list of str or None
    metrics : dict
        As in ``metrics.json``.
    files : dict
        Name → path of everything written.
    seconds : float
    """

    run_dir: Path
    task: str
    task_reason: str
    target: str
    model: str
    classes: list[str] | None
    metrics: dict[str, Any]
    files: dict[str, str]
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_dir": str(self.run_dir),
            "task": self.task,
            "task_reason": self.task_reason,
            "target": self.target,
            "model": self.model,
            "classes": self.classes,
            "metrics": self.metrics,
            "files": self.files,
            "seconds": self.seconds,
        }

    def summary_lines(self) -> list[str]:
        """Lines for people: headline metrics (patch and image level) and the run folder."""
        m = self.metrics
        lines = []
        if m["split"].get("leaky"):
            lines.append(m["split"]["warning"])
        split = "patch-level (LEAKY)" if m["split"].get("leaky") else "grouped by sample"
        if not m["split"].get("leaky") and m["split"].get("group_column", "sample") != "sample":
            split += f" ({m['split']['group_column']} column)"
        folds = f"{m['split']['folds']}-fold" if m["split"].get("folds") else "80/10/10"
        lines.append(
            f"{self.model} {self.task} of {self.target} ({self.task_reason}); split {split}, {folds}"
        )
        for level in ("patch", "image"):
            s = m[level]
            if self.task == "classify":
                auc = s.get("macro_roc_auc")
                lines.append(
                    f"{level:5s} level (n={s['n']}): accuracy {s['accuracy']:.3f}, balanced accuracy "
                    f"{s['balanced_accuracy']:.3f}, macro F1 {s['macro_f1']:.3f}, macro ROC-AUC "
                    + ("n/a" if auc is None else f"{auc:.3f}")
                )
            else:
                r2 = "n/a" if s["r2"] is None else f"{s['r2']:.3f}"
                lines.append(
                    f"{level:5s} level (n={s['n']}): R² {r2}, MAE {s['mae']:.4g}, RMSE {s['rmse']:.4g}"
                )
        n_test = min(f.get("test_samples", 3) for f in m["folds"])
        if not m["split"].get("folds") and not m["split"].get("leaky") and n_test < 3:
            lines.append(
                f"note: the test set holds only {n_test} sample(s); use --folds K for a steadier estimate"
            )
        if self.task == "classify":
            lines.append(f"chance level (balanced accuracy) {1 / len(self.classes or [1, 1]):.3f}")
        if m.get("uncertainty"):
            lines.append(uncertainty_line(m["uncertainty"]))
        lines += [f"warning: {w}" for w in m.get("warnings", [])]
        lines += check_lines(m)
        lines.append(f"run folder: {self.run_dir}")
        shortcut = m.get("shortcut") or {}
        if shortcut.get("warning"):
            lines.insert(0, "!" * 78)
            lines.insert(1, str(shortcut["message"]))
            lines.insert(2, "!" * 78)
        return lines


def check_lines(m: dict[str, Any]) -> list[str]:
    """Lines for people: calibration, the feature-set table, the shortcut check, the domain threshold."""
    lines = []
    cal = m.get("calibration")
    if cal:
        lines.append(
            f"calibration: temperature {cal['temperature']:.3f}; image ECE {cal['ece_before']:.3f} before, "
            f"{cal['ece_after']:.3f} after ({cal['n']} out-of-fold images, {cal['n_bins']} bins)"
        )
    table = m.get("feature_sets") or {}
    if len(table) > 1:
        lines.append("feature sets (same grouped splits and head; image score, 95 % interval):")
        for name, e in table.items():
            ci = e.get("interval_95")
            span = f"{ci[0]:.3f}–{ci[1]:.3f}" if ci else "n/a"
            score = "n/a" if e.get("image_score") is None else f"{e['image_score']:.3f}"
            mark = "  <- chosen" if e.get("chosen") else ""
            lines.append(f"  {name:12s} {e['metric']} {score} ({span}), {e['n_features']} features{mark}")
    sc = m.get("shortcut")
    if sc and not sc.get("warning"):
        nui = sc.get("nuisance_score")
        lines.append(
            "shortcut check: the nuisance-only model (grey values, sharpness, size, pixel size) scores "
            + ("n/a" if nui is None else f"{nui:.3f}")
            + f" against chance {sc['chance']:.3f}: no sign the label follows acquisition differences"
        )
    elif sc:
        lines.append(str(sc["message"]))
    dom = m.get("domain")
    if dom:
        lines.append(
            f"domain: images scoring above {dom['threshold']:.3f} (the {dom['quantile']:.0%} quantile of "
            "out-of-fold training scores) are flagged outside the training domain at prediction"
        )
    return lines


def uncertainty_line(u: dict[str, Any]) -> str:
    """One line for people: the image-level score with its 95 % intervals and permutation p-value."""

    def span(key: str) -> str | None:
        v = u.get(key)
        return None if v is None else f"{v[0]:.3f}–{v[1]:.3f}"

    name = "accuracy" if u["metric"] == "accuracy" else "R²"
    value = "n/a" if u.get("value") is None else f"{u['value']:.3f}"
    parts = [
        f"{label} {span(key)}"
        for key, label in (("wilson_95", "Wilson"), ("bootstrap_95", "sample bootstrap"))
        if span(key) is not None
    ]
    line = f"image {name} {value} (95 % CI: {', '.join(parts) or 'n/a'}; {u['n_groups']} independent samples)"
    if u.get("permutation_p") is not None:
        line += f"; permutation p = {u['permutation_p']:.3f} ({u['permutations']} shuffles)"
    else:
        line += f"; permutation test {u.get('permutation_note') or 'skipped'}"
    return line


#: Columns that may group samples into larger independent units (first one present wins).
GROUP_COLUMNS = ("specimen", "micrograph")


def _missing(v: Any) -> bool:
    if v is None:
        return True
    if isinstance(v, float) and not np.isfinite(v):
        return True
    return isinstance(v, str) and v.strip().lower() in ("", "none", "nan", "na", "<na>")


def target_column(table: Any, target: str, *, where: str = "the workspace") -> Any:
    """The ``target`` column of a table; TableError listing the columns when it is absent."""
    if target not in table.columns:
        from semlab.dataset.workspace import WORKSPACE_COLUMNS

        cols = [c for c in table.columns if c not in WORKSPACE_COLUMNS]
        raise TableError(
            f"{where} has no column {target!r}; available columns: {', '.join(cols) or 'none (add a descriptor table)'}"
        )
    return table[target]


def choose_task(values: Any, task: str | None = None) -> tuple[str, str]:
    """``(task, reason)``: ``task`` if given, else classify for text or few distinct integers.

    Parameters
    ----------
    values : sequence
        The target's values (missing ones already removed).
    task : {"classify", "regress"}, optional
    """
    if task is not None:
        if task not in ("classify", "regress"):
            raise ParameterError(f"--task {task!r} must be classify or regress")
        return task, "as asked"
    vals = list(values)
    try:
        nums = np.asarray([float(v) for v in vals])
    except (TypeError, ValueError):
        return "classify", "categorical target"
    distinct = np.unique(nums)
    if np.all(distinct == np.round(distinct)) and distinct.size <= MAX_INTEGER_CLASSES:
        return "classify", f"{distinct.size} distinct integer values"
    return "regress", f"numeric target with {distinct.size} distinct values"


def class_labels(values: Any) -> tuple[list[str], np.ndarray]:
    """Sorted class labels (numbers numerically, e.g. 1, 2, 4, 8) and each value's index."""

    def label(v: Any) -> str:
        if isinstance(v, (int, np.integer)) or (
            isinstance(v, (float, np.floating)) and float(v).is_integer()
        ):
            return str(int(v))
        return str(v)

    labels = [label(v) for v in values]

    def key(s: str) -> tuple:
        try:
            return (0, float(s), s)
        except ValueError:
            return (1, 0.0, s)

    classes = sorted(set(labels), key=key)
    pos = {c: i for i, c in enumerate(classes)}
    return classes, np.array([pos[s] for s in labels], dtype=np.int64)


def train_workspace(
    workspace: Any,
    *,
    target: str,
    task: str | None = None,
    config: HeadConfig | None = None,
    split: str = "sample",
    folds: int | None = None,
    backbone: str | None = None,
    seed: int = 0,
    out: str | os.PathLike | None = None,
    plots: bool = True,
    progress: Progress | None = None,
    **options: Any,
) -> RunResult:
    """Train a head on a workspace's stored features and write a run folder.

    Parameters
    ----------
    workspace : Workspace or path
        With features from ``semlab embed`` (:func:`semlab.features.embed_workspace`).
    target : str
        Descriptor column to predict, e.g. ``"burst_count"``.
    task : {"classify", "regress"}, optional
        Default: classify a categorical target or one with at most 10 distinct integer
        values, else regress (:func:`choose_task`).
    config : HeadConfig, optional
        The head's model and training (default ``HeadConfig()``: the MLP, 100 epochs).
    split : {"sample", "patch"}
        ``"sample"`` groups rows by their independent unit: the descriptor table's
        ``specimen`` (else ``micrograph``) column where it has one — samples cut from one
        specimen or micrograph are one unit, never on both sides of a split and counted
        once — else the ``sample``.  ``"patch"`` is the paper's leaky split, labelled as such.
    folds : int, optional
        K-fold cross-validation grouped by sample; default one 80/10/10 split.
    backbone : str, optional
        Which stored features (default the latest embedding).
    seed : int
    out : path, optional
        Run folder; default ``<workspace>/runs/<target>-<model>-<split>[-kK]-seed<seed>``.
    plots : bool, default True
        Write the PNG plots.
    progress : callable, optional
        ``progress(done, total)`` in fitted models.
    **options
        Single fields of ``config``: ``model="logreg"`` ({"mlp", "logreg", "svm",
        "pca-logreg"}), ``epochs=60`` (MLP epochs), ``permutations=50`` (label permutations
        of the permutation test, each refitting the head per split; 0 skips; default 50 for the
        linear heads, 0 for the MLP) … (see
        :class:`semlab.learn.HeadConfig`).  Not head fields: ``feature_set`` (the kept model's
        features, one of :data:`semlab.features.FEATURE_SETS` but ``nuisance``; default
        ``DEFAULT_FEATURE_SET``) and ``compare`` (sets scored with the same splits and head:
        names, ``"all"`` or ``"none"``; default the chosen set, ``nuisance`` (whose score gives
        ``metrics["shortcut"]``) and the sets embedded before).  Runs also get ``calibration`` and ``domain``
        (module docstring), which :meth:`Predictor.predict` applies.

    Returns
    -------
    RunResult

    Raises
    ------
    WorkspaceError
        No features yet (run ``semlab embed``).
    TableError
        ``target`` is not a column (the message lists the columns), or no image has a value.
    ParameterError
        Bad options; a class with a single sample; too few samples for the folds.

    Examples
    --------
    >>> from semlab.learn import train_workspace
    >>> run = train_workspace("study", target="burst_count", model="logreg", folds=3)  # doctest: +SKIP
    """
    from semlab.dataset import Workspace
    from semlab.learn.compare import compare_list, fit_run_domain, load_feature_set, run_checks
    from semlab.learn.train import MODELS, HeadConfig, train_head

    t0 = time.perf_counter()
    feature_set, compare = options.pop("feature_set", None), options.pop("compare", None)
    model = options.get("model", config.model if config is not None else "mlp")
    if model not in MODELS:
        raise ParameterError(f"--model {model!r} is unknown; choose one of {', '.join(MODELS)}")
    cfg = HeadConfig.from_options(config, options)
    ws = workspace if isinstance(workspace, Workspace) else Workspace.open(workspace)
    ft, feature_set = load_feature_set(ws, feature_set, backbone=backbone)
    sets = compare_list(ws, feature_set, compare, backbone)
    rows = _target_rows(ws, ft, target)
    task, reason = choose_task(rows.values, task)
    classes, y = _encode_target(rows.values, task, target)
    result = train_head(
        rows.x,
        y,
        rows.groups,
        task=task,
        config=cfg,
        image_ids=rows.hashes,
        classes=classes,
        split=split,
        folds=folds,
        seed=seed,
        progress=progress,
    )
    result.metrics["split"]["group_column"] = rows.group_column
    how: dict[str, Any] = {"target": target, "task": task, "classes": classes, "config": cfg, "split": split}
    how.update(folds=folds, seed=seed, backbone=backbone, feature_set=feature_set)
    result.metrics.update(run_checks(ws, rows, result, how=how, sets=sets))
    domain = fit_run_domain(rows)
    result.metrics["domain"] = domain.to_dict()
    run_name = f"{target}-{cfg.model}-{split}" + (f"-k{folds}" if folds else "") + f"-seed{seed}"
    run_dir = Path(out) if out is not None else ws.path / "runs" / run_name
    run_cfg = _run_config(how, reason, options, result.metrics, _provenance(ws, ft, rows))
    pca_values = rows.values if classes is None else [classes[k] for k in y]
    files = _write_workspace_run(result, run_dir, run_cfg, ft, rows, pca_values, plots=plots)
    files["domain"] = str(domain.save(run_dir))
    return RunResult(
        run_dir, task, reason, target, cfg.model, classes, result.metrics, files, time.perf_counter() - t0
    )


def _run_config(
    how: dict[str, Any], reason: str, options: dict[str, Any], metrics: dict[str, Any], provenance: dict
) -> dict[str, Any]:
    """``extra.run`` of a workspace run's config.json."""
    cfg = how["config"]
    run_cfg = {
        "target": how["target"],
        "task": how["task"],
        "task_reason": reason,
        "classes": how["classes"],
        "model": cfg.model,
        "split": how["split"],
        "leaky": how["split"] == "patch",
        "folds": how["folds"],
        "seed": how["seed"],
        "epochs": cfg.epochs,
        "options": {k: v for k, v in options.items() if k not in ("model", "epochs")},
        **provenance,
        "feature_set": how["feature_set"],
        "domain": metrics["domain"],
    }
    if "calibration" in metrics:
        run_cfg["calibration"] = {"temperature": metrics["calibration"]["temperature"]}
    return run_cfg


@dataclass(frozen=True, eq=False)
class _TargetRows:
    """Feature rows (patches) whose image has a value in the target column."""

    x: np.ndarray  # (n, d) features
    values: np.ndarray  # (n,) target values, object
    hashes: np.ndarray  # (n,) image hashes
    samples: np.ndarray  # (n,) sample ids
    groups: np.ndarray  # (n,) independent units: the specimen/micrograph column where given, else the sample
    group_column: str  # "sample", "specimen" or "micrograph"
    names: np.ndarray  # (n,) original file names
    keep: np.ndarray  # (n_all,) bool: which stored feature rows these are


def _target_rows(ws: Any, ft: Any, target: str) -> _TargetRows:
    """The stored feature rows with a ``target`` value, with their images and samples."""
    table = ws.table()
    column = target_column(table, target, where=f"workspace {ws.path}")
    by_hash = table.set_index("hash")
    hashes = ft.index["image_hash"].astype(str).to_numpy()
    known = np.isin(hashes, by_hash.index.to_numpy())
    values = column.set_axis(table["hash"]).reindex(hashes).to_numpy(dtype=object)
    keep = known & np.array([not _missing(v) for v in values], dtype=bool)
    if not keep.any():
        raise TableError(
            f"no image with features has a value in column {target!r}; add it to the descriptor table"
        )
    h = hashes[keep]
    samples = by_hash["sample"].reindex(h).astype(str).to_numpy()
    group_column = next((c for c in GROUP_COLUMNS if c in table.columns and c != target), "sample")
    groups = samples
    if group_column != "sample":
        units = by_hash[group_column].reindex(h).to_numpy(dtype=object)
        groups = np.array(
            [s if _missing(u) else f"{group_column}:{u}" for u, s in zip(units, samples, strict=True)]
        )
    return _TargetRows(
        x=ft.features[keep],
        values=values[keep],
        hashes=h,
        samples=samples,
        groups=groups,
        group_column=group_column,
        names=by_hash["original_name"].reindex(h).astype(str).to_numpy(),
        keep=keep,
    )


def _encode_target(vals: np.ndarray, task: str, target: str) -> tuple[list[str] | None, np.ndarray]:
    """Class labels and indices (classification), or ``None`` and float values (regression)."""
    if task == "classify":
        classes, y = class_labels(vals)
        if len(classes) < 2:
            raise TableError(
                f"column {target!r} holds a single class ({classes[0]}); classification needs two or more"
            )
        return classes, y
    try:
        return None, vals.astype(np.float64)
    except (TypeError, ValueError):
        raise TableError(f"column {target!r} is not numeric; use --task classify") from None


def _provenance(ws: Any, ft: Any, rows: _TargetRows) -> dict[str, Any]:
    """Where a workspace run's rows came from: workspace, features, counts (for config.json)."""
    return {
        "workspace": str(ws.path),
        "backbone": ft.backbone,
        "weights": ft.weights,
        "weights_sha256": ft.weights_sha256,
        "feature_config": dict(ft.config),
        "n_features": ft.n_features,
        "n_rows": int(rows.keep.sum()),
        "n_images": int(np.unique(rows.hashes).size),
        "n_samples": int(np.unique(rows.samples).size),
        "group_column": rows.group_column,
        "n_groups": int(np.unique(rows.groups).size),
        "rows_without_target": int((~rows.keep).sum()),
    }


def _write_workspace_run(
    result: Any,
    run_dir: Path,
    run_cfg: dict[str, Any],
    ft: Any,
    rows: _TargetRows,
    pca_values: Any,
    *,
    plots: bool,
) -> dict[str, str]:
    """:func:`write_run` for a run on stored features: inputs by hash, the features' preprocessing."""
    names_by_hash = dict(zip(rows.hashes, rows.names, strict=True))
    return write_run(
        result,
        run_dir,
        run_cfg=run_cfg,
        inputs=[{"path": names_by_hash[k], "sha256": k} for k in dict.fromkeys(rows.hashes)],
        preprocessing={
            "backbone": ft.backbone,
            "weights": ft.weights,
            "weights_sha256": ft.weights_sha256,
            **dict(ft.config),
        },
        image_names=names_by_hash,
        features=rows.x,
        feature_values=pca_values,
        plots=plots,
    )


def write_run(
    result: Any,
    run_dir: str | os.PathLike,
    *,
    run_cfg: dict[str, Any],
    inputs: list[dict[str, Any]] | None = None,
    preprocessing: dict[str, Any] | None = None,
    image_names: dict[str, str] | None = None,
    features: np.ndarray | None = None,
    feature_values: Any = None,
    plots: bool = True,
    artifact: tuple[Any, str, str, Any] | None = None,
) -> dict[str, str]:
    """Write a run folder (see the module docstring) for a :class:`~semlab.learn.TrainResult`.

    ``artifact`` overrides the model saved: ``(module, kind, name, config)``; default the
    result's head.  Returns name → path of the files written.
    """
    from semlab.registry import save_artifact

    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise ParameterError(f"{run_dir} is a file; give a folder for the run (--out)")
    run_dir.mkdir(parents=True, exist_ok=True)
    module, kind, name, config = artifact or (
        result.head.module,
        "head",
        result.head.name,
        result.head.config,
    )
    extra = {
        "run": {
            **run_cfg,
            "best_epoch": getattr(result.head, "best_epoch", None),
            "details": getattr(result.head, "details", {}),
        }
    }
    save_artifact(
        run_dir,
        module,
        kind=kind,
        name=name,
        config=config,
        seed=run_cfg.get("seed"),
        inputs=inputs,
        preprocessing=preprocessing,
        extra=extra,
    )
    files = {"config": str(run_dir / "config.json"), "model": str(run_dir / "model.pt")}
    metrics = {
        "target": run_cfg["target"],
        "task": result.task,
        "model": run_cfg["model"],
        "classes": result.classes,
        **result.metrics,
    }
    if result.metrics["split"].get("leaky"):
        metrics = {"warning": result.metrics["split"]["warning"], **metrics}
    atomic_write_text(run_dir / "metrics.json", json.dumps(_clean(metrics), indent=2) + "\n")
    files["metrics"] = str(run_dir / "metrics.json")
    pred, img = result.predictions.copy(), result.image_predictions.copy()
    if image_names:
        pred.insert(2, "image_name", pred["image"].map(image_names))
        img.insert(1, "image_name", img["image"].map(image_names))
    for key, df in (("predictions", pred), ("image_predictions", img)):
        atomic_write_text(run_dir / f"{key}.csv", df.to_csv(index=False))
        files[key] = str(run_dir / f"{key}.csv")
    if plots:
        files.update(_plots(result, run_dir, run_cfg, features, feature_values))
    return files


def _plots(result: Any, run_dir: Path, run_cfg: dict[str, Any], features: Any, values: Any) -> dict[str, str]:
    from semlab.learn import plots as P

    out: dict[str, str] = {}
    target = run_cfg["target"]
    leak = " (LEAKY patch split)" if result.metrics["split"].get("leaky") else ""
    hists = [getattr(h, "history", []) for h in result.fold_heads]
    if any(hists):
        out["loss_curves"] = str(
            P.plot_loss_curves(
                hists, run_dir / "loss_curves.png", title=f"{run_cfg['model']} on {target}{leak}"
            )
        )
    pred, img = result.predictions, result.image_predictions
    if result.task == "classify":
        cls = result.classes
        pos = {c: i for i, c in enumerate(cls)}
        cols = [f"p_{c}" for c in cls]
        panels = {
            "patch": (pred["true"].map(pos).to_numpy(), pred[cols].to_numpy()),
            "image": (img["true"].map(pos).to_numpy(), img[cols].to_numpy()),
        }
        out["roc"] = str(
            P.plot_roc(panels, cls, run_dir / "roc.png", title=f"{target}: one-vs-rest ROC{leak}")
        )
        cms = {lvl: result.metrics[lvl]["confusion_matrix"] for lvl in ("patch", "image")}
        out["confusion"] = str(P.plot_confusion(cms, cls, run_dir / "confusion.png", title=f"{target}{leak}"))
        if result.metrics.get("calibration"):
            out["reliability"] = str(
                P.plot_reliability(
                    result.metrics["calibration"],
                    run_dir / "reliability.png",
                    title=f"{target}: image-level calibration (out of fold){leak}",
                )
            )
    else:
        panels = {
            "patch": (pred["true"].to_numpy(float), pred["prediction"].to_numpy(float)),
            "image": (img["true"].to_numpy(float), img["prediction"].to_numpy(float)),
        }
        out["pred_vs_true"] = str(P.plot_regression(panels, run_dir / "pred_vs_true.png", label=target))
    if features is not None and len(features) >= 2:
        out["pca"] = str(
            P.plot_pca(
                features,
                values,
                run_dir / "pca.png",
                categorical=result.task == "classify",
                label=target,
                seed=int(run_cfg.get("seed") or 0),
            )
        )
    return out


def _clean(obj: Any) -> Any:
    """JSON-safe: NaN/inf → None, numpy scalars → Python."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj
