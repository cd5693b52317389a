"""``semlab train, finetune, predict`` (stage: learn)."""

from __future__ import annotations

from pathlib import Path

import typer

from semlab.cli import app
from semlab.cli._engine import ADDRESS, ENGINE

_PANEL = "Learn"


def _progress_bar(description: str):  # noqa: ANN202
    """A transient progress bar on stderr when it is a terminal (stdout keeps only the results)."""
    from semlab.cli._progress import progress_bar

    return progress_bar(description, eta=False)


@app.command("train", rich_help_panel=_PANEL)
def train_cmd(
    workspace: Path = typer.Argument(..., help="Workspace folder with features (from `semlab embed`)."),
    target: str = typer.Option(..., "--target", "-t", help="Descriptor column to predict, e.g. burst_count."),
    task: str | None = typer.Option(
        None,
        "--task",
        help="classify or regress (default: classify text or ≤ 10 distinct integers, else regress).",
    ),
    split: str = typer.Option(
        "sample", "--split", help="sample (grouped by sample, honest) or patch (the paper's split; LEAKY)."
    ),
    folds: int | None = typer.Option(
        None, "--folds", "-k", min=2, help="K-fold CV grouped by sample (default 80/10/10)."
    ),
    model: str = typer.Option("mlp", "--model", "-m", help="mlp, logreg, svm or pca-logreg."),
    backbone: str | None = typer.Option(
        None, "--backbone", help="Which stored features (default: the latest)."
    ),
    epochs: int = typer.Option(100, "--epochs", min=1, help="MLP epochs (validation every 10)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the split and the model."),
    permutations: int | None = typer.Option(
        None,
        "--permutations",
        min=0,
        help="Label permutations of the permutation test (each refits the head once per fold: "
        "seconds for logreg/svm, N times the training for mlp); 0 skips it. Default: 50 for "
        "logreg/svm/pca-logreg, 0 for mlp.",
    ),
    feature_set: str | None = typer.Option(
        None,
        "--feature-set",
        help="Features the kept model learns from: final, multiscale or texture (see `semlab embed "
        "--help`; default the package default). Missing ones are computed from the latest embedding's patches.",
    ),
    compare: str | None = typer.Option(
        None,
        "--compare",
        help="Feature sets scored beside it with the same grouped splits and head: comma-separated "
        "names, 'all', or 'none' (no comparison and no shortcut check). Default: the chosen set, "
        "the nuisance-only set (the shortcut check) and any set embedded before.",
    ),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Run folder (default WORKSPACE/runs/<target>-<model>-<split>-seed<seed>)."
    ),
    plots: bool = typer.Option(True, "--plots/--no-plots", help="Write the PNG plots."),
) -> None:
    """Train a head on a workspace's CNN features to predict a process parameter or category.

    Splits are grouped by sample (no sample on both sides) and stratified; a `specimen` (or `micrograph`) column in the descriptor table groups samples cut from one specimen. --split patch reproduces the paper's patch-level split and is labelled LEAKY. Metrics at patch and image level (mean of patch probabilities): accuracy, balanced accuracy, macro F1, per-class ROC-AUC, confusion matrix; R², MAE, RMSE for regression. Image accuracy (or R²) comes with 95 % intervals (Wilson; bootstrap over samples) and a permutation p-value; a class with fewer than 3 independent samples is warned about.

    Also: a nuisance-only model (grey values, sharpness, image size, pixel size) with the same splits and head; when it comes close to the image model the summary warns "the label may be predictable from acquisition differences". Probabilities are calibrated by temperature scaling on the out-of-fold predictions (ECE before/after in metrics.json, reliability.png), and a domain model (distance to the training images, threshold from the training folds) lets `semlab predict` flag images outside the training domain.

    Writes RUN/config.json, model.pt, metrics.json, domain.npz, predictions.csv, image_predictions.csv and PNG plots (loss curves, ROC curves, confusion matrix, reliability diagram, PCA scatter).

    Example: semlab train study/ --target burst_count --folds 3
    """
    from semlab.learn import train_workspace

    with _progress_bar("training") as bar:
        job = bar.add_task("fit", total=None)

        def progress(done: int, total: int | None) -> None:
            bar.update(job, completed=done, total=total)

        res = train_workspace(
            workspace,
            target=target,
            task=task,
            model=model,
            split=split,
            folds=folds,
            backbone=backbone,
            epochs=epochs,
            permutations=permutations,
            seed=seed,
            out=out,
            plots=plots,
            progress=progress,
            feature_set=feature_set,
            compare=compare,
        )
    for line in res.summary_lines():
        typer.echo(line)
    _dropped_note(workspace, target)


def _dropped_note(workspace: Path, target: str) -> None:
    """Say how many catalogued images had no ``target`` value and were left out of training."""
    import math

    from semlab.dataset import Workspace
    from semlab.learn.run import target_column

    def _missing(v: object) -> bool:  # as training decides (semlab.learn.run)
        if v is None:
            return True
        if isinstance(v, float) and not math.isfinite(v):
            return True
        return isinstance(v, str) and v.strip().lower() in ("", "none", "nan", "na", "<na>")

    table = Workspace.open(workspace).table()
    try:
        column = target_column(table, target, where=f"workspace {workspace}")
    except Exception:  # noqa: BLE001 - training already checked the column
        return
    missing = sum(_missing(v) for v in column.tolist())
    if missing:
        typer.echo(
            f"note: {missing} of {len(table)} image(s) have no {target!r} value and were left out of training; "
            "fill the column in the descriptor table to use them",
            err=True,
        )


@app.command("finetune", rich_help_panel=_PANEL)
def finetune_cmd(
    source: Path = typer.Argument(
        ..., help="A workspace (with --target), or a folder of class sub-folders (folder/<class>/<image>)."
    ),
    target: str | None = typer.Option(
        None, "--target", "-t", help="Workspace: the class column, e.g. category."
    ),
    backbone: str = typer.Option("resnet18", "--backbone", help="timm model name."),
    weights: Path | None = typer.Option(
        None, "--weights", help="Pretrained weights file (state dict / timm checkpoint)."
    ),
    pretrained: bool = typer.Option(
        True, "--pretrained/--no-pretrained", help="Start from pretrained weights."
    ),
    unfreeze: int = typer.Option(
        2, "--unfreeze", min=0, help="Trainable stages counted from the end (0 = head only)."
    ),
    patch_size: int = typer.Option(
        224, "--patch-size", min=8, help="Patch side in pixels (resized to the model input)."
    ),
    input_size: int | None = typer.Option(
        None, "--input-size", min=16, help="Model input side in pixels (default: the model's own, e.g. 224)."
    ),
    patches_per_image: int = typer.Option(
        8, "--patches-per-image", min=1, help="Patches per evaluated image."
    ),
    epochs: int = typer.Option(20, "--epochs", min=1),
    batch_size: int = typer.Option(16, "--batch-size", min=1),
    lr: float = typer.Option(3e-4, "--lr"),
    patience: int = typer.Option(
        3, "--patience", min=1, help="Epochs without better validation loss before stopping."
    ),
    time_budget: float | None = typer.Option(
        None, "--time-budget", help="Stop training after this many seconds."
    ),
    sample_pattern: str | None = typer.Option(
        None, "--sample-pattern", help="Folder mode: regex whose first group in a file name is its sample id."
    ),
    seed: int = typer.Option(0, "--seed"),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Run folder."),
) -> None:
    """Fine-tune a timm classifier on micrographs (e.g. SEM categories), split by sample.

    Unfreezes the last --unfreeze stages; augments with flips, 90° rotations and slight intensity jitter; weights classes by inverse frequency; validates every epoch with early stopping; stops at --time-budget. In folder mode each image is its own sample unless --sample-pattern says otherwise.

    Writes the same run folder as `semlab train`; use it with `semlab predict`.

    Example: semlab finetune sem-categories/ --backbone resnet18 --time-budget 600
    """
    from semlab.errors import ParameterError
    from semlab.learn import finetune_folder, finetune_workspace

    def report(row: dict) -> None:
        val = (
            f"  val loss {row['val_loss']:.4f}  val accuracy {row['val_score']:.3f}"
            if "val_loss" in row
            else ""
        )
        typer.echo(f"epoch {row['epoch']:3d}  {row['seconds']:7.1f} s  loss {row['train_loss']:.4f}{val}")

    options = dict(
        backbone=backbone,
        weights=weights,
        pretrained=pretrained,
        unfreeze=unfreeze,
        patch_size=patch_size,
        input_size=input_size,
        patches_per_image=patches_per_image,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        patience=patience,
        time_budget_s=time_budget,
        seed=seed,
        device=device,
        log=report,
    )
    if (source / "semlab.sqlite").is_file():
        if target is None:
            raise ParameterError(f"{source} is a workspace; give --target COLUMN (the class column)")
        res = finetune_workspace(source, target=target, out=out, **options)
    else:
        if target is not None:
            raise ParameterError(
                f"{source} is not a workspace (no semlab.sqlite); --target needs a workspace"
            )
        res = finetune_folder(source, sample_pattern=sample_pattern, out=out, **options)
    m = res.metrics
    for level in ("patch", "image"):
        s = m[level]
        typer.echo(
            f"{level:5s} level (n={s['n']}): accuracy {s['accuracy']:.3f}, balanced accuracy "
            f"{s['balanced_accuracy']:.3f}, macro F1 {s['macro_f1']:.3f}"
        )
    typer.echo(
        f"{m['training']['stopped']} after {len(res.head.history)} epoch(s), best epoch {m['best_epoch']}; "
        f"run folder: {m.get('run_dir')}"
    )


@app.command("predict", rich_help_panel=_PANEL)
def predict_cmd(
    model: Path = typer.Argument(..., help="Run folder from `semlab train` or `semlab finetune`."),
    images: list[Path] = typer.Argument(..., help="Image files or folders of images."),
    out: Path | None = typer.Option(
        None,
        "--out",
        "-o",
        help="Predictions file: .csv, or .json (with the model's description); default MODEL/predict.csv.",
    ),
    pixel_size: float | None = typer.Option(None, "--pixel-size", help="µm per pixel, overriding the files."),
    engine: str = ENGINE,
    address: str | None = ADDRESS,
) -> None:
    """Predict the class (with confidence) or value of each image with a trained run.

    The preprocessing recorded at training is applied (data-bar crop, equalization, resampling to the training pixel size, patches); the prediction is the mean of the patch probabilities, temperature-scaled (calibrated on the training folds). Every image also gets a domain score: an image scoring above the run's threshold is OUTSIDE THE TRAINING DOMAIN and its prediction is an extrapolation; blank, saturated or out-of-focus images are flagged (the prediction is still given, marked). Prints the model used, one line per image, and writes a CSV or JSON (image, prediction, confidence, n_patches, p_<class>..., domain_score, domain_threshold, in_domain, quality_flags, quality_messages).

    With --engine ray the files are read and predicted on a Ray cluster (the run loaded once per worker); the rows are the same.

    Example: semlab predict study/runs/burst_count-mlp-sample-seed0 new/*.tif
    """
    import json
    import warnings

    from semlab._util import atomic_write_text, shown_text
    from semlab.io import list_images, read_micrograph
    from semlab.learn import load_predictor

    if pixel_size is not None:
        from semlab._util import check_pixel_size
        from semlab.errors import ParameterError
        from semlab.learn.predict import PIXEL_SIZE_RANGE_UM

        lo, hi = PIXEL_SIZE_RANGE_UM
        if not lo <= check_pixel_size(pixel_size, "--pixel-size") <= hi:
            raise ParameterError(
                f"--pixel-size {pixel_size:g} is outside what an SEM image can have ({lo:g}–{hi:g} µm per pixel); "
                "give µm per pixel (e.g. 0.005 for 5 nm)"
            )
    predictor = load_predictor(model)
    typer.echo(model_line(predictor.info()))
    files = list_images(images)
    mics: list = []
    for f in files:
        if engine.strip().lower() == "ray":  # read by the workers
            mics.append(f)
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # colour → grey notes
            mics.append(read_micrograph(f, pixel_size=pixel_size))
    with _progress_bar("predicting") as bar:
        job = bar.add_task("predict", total=len(mics))
        table = predictor.predict(
            mics,
            names=[shown_text(str(f)) for f in files],
            progress=lambda d, t: bar.update(job, completed=d, total=t),
            pixel_size=pixel_size,
            engine=engine,
            address=address,
        )
    for _, row in table.iterrows():
        if predictor.task == "classify":
            line = f"{row['image']}: {predictor.target} = {row['prediction']} (confidence {row['confidence']:.3f})"
        else:
            line = f"{row['image']}: {predictor.target} = {row['prediction']:.4g}"
        typer.echo(line + _limits_note(row))
    target = out if out is not None else Path(model) / "predict.csv"
    if target.suffix.lower() == ".json":
        from semlab._util import write_json

        rows = json.loads(table.to_json(orient="records"))
        write_json(target, {"model": predictor.info(), "predictions": rows})
    else:
        atomic_write_text(target, table.to_csv(index=False))
    typer.echo(f"wrote {target}")


def model_line(info: dict) -> str:
    """One line naming the model a prediction used: run, target, date, feature set, CV score."""
    score = info.get("cv_score")
    metric = "accuracy" if info.get("cv_metric") == "accuracy" else "R²"
    cv = "n/a" if score is None else f"{score:.3f}"
    ci = info.get("cv_interval")
    if score is not None and ci:
        cv += f" (95 % CI {ci[0]:.2f}–{ci[1]:.2f})"
    line = (
        f"model: {info['name']} ({info.get('model')} {info.get('task')} of {info.get('target')}, "
        f"{info.get('feature_set') or info.get('kind')} features of {info.get('backbone')}, trained "
        f"{info.get('created')}; held-out image {metric} {cv})"
    )
    if info.get("shortcut_warning"):
        line += "\nwarning (from training): " + str(info["shortcut_warning"])
    return line


def _limits_note(row: object) -> str:
    """`` — OUTSIDE THE TRAINING DOMAIN (score x > threshold y)`` and quality flags, or ``""``."""
    get = row.get  # type: ignore[attr-defined]
    notes = []
    flag = get("in_domain")
    if flag is not None and flag == flag and not bool(flag):  # False, not None/NaN (no domain model)
        notes.append(
            f"OUTSIDE THE TRAINING DOMAIN (domain score {get('domain_score'):.3g} > threshold "
            f"{get('domain_threshold'):.3g}; the prediction is an extrapolation)"
        )
    if get("quality_flags"):
        notes.append(f"image flagged: {str(get('quality_flags')).replace(';', ', ')}")
    return "".join(f" — {n}" for n in notes)
