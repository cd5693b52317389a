"""The learning step of ``semlab demo``: a burst-count classifier on the demo workspace's features."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from semlab.training import Progress

#: The demo's head: logistic regression on the multiscale features, the combination
#: ``benchmarks/results/learn.json`` measured best on the synthetic series.  Its budget is a
#: fixed fit (no epochs, no time limit), so its numbers do not depend on the machine's load.
DEMO_HEAD = "logreg"


@dataclass(frozen=True)
class DemoLearnResult:
    """What :func:`learn_step` trained and measured.

    Attributes
    ----------
    run_dir : str
        The run folder (config.json, model.pt, metrics.json, predictions, plots).
    report : str
        ``metrics.json`` in it.
    model, split : str
        :data:`DEMO_HEAD`; ``"sample"`` (grouped by sample, never leaky).
    folds : int
        Cross-validation folds (grouped by sample, stratified).
    n_classes, n_images, n_samples, n_patches : int
    accuracy, balanced_accuracy, macro_f1 : float
        Patch level, held-out samples only, in [0, 1].
    image_accuracy, image_balanced_accuracy : float
        Image level (mean of patch probabilities), in [0, 1].
    chance : float
        Balanced accuracy of guessing, ``1 / n_classes``.
    seconds : float
        Wall time.
    image_accuracy_ci : (float, float) or None
        Wilson 95 % interval of the image-level accuracy (from the run's ``metrics.json``).
    """

    run_dir: str
    report: str
    model: str
    split: str
    folds: int
    n_classes: int
    n_images: int
    n_samples: int
    n_patches: int
    accuracy: float
    balanced_accuracy: float
    macro_f1: float
    image_accuracy: float
    image_balanced_accuracy: float
    chance: float
    seconds: float
    image_accuracy_ci: tuple[float, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)

    def lines(self) -> list[str]:
        """What the demo prints."""
        return [
            f"burst-count classifier ({self.model} on multiscale features, split by sample, {self.folds}-fold, "
            f"{self.n_samples} samples, {self.n_images} images, {self.n_patches} patches):",
            f"  accuracy {self.accuracy:.3f}, balanced accuracy {self.balanced_accuracy:.3f} "
            f"(chance {self.chance:.3f}), macro F1 {self.macro_f1:.3f}",
            f"  image-level accuracy {self.image_accuracy:.3f} (mean of patch probabilities"
            + (
                f"; 95 % CI {self.image_accuracy_ci[0]:.2f}–{self.image_accuracy_ci[1]:.2f} Wilson, "
                f"{self.n_images} images of {self.n_samples} samples)"
                if self.image_accuracy_ci
                else ")"
            ),
            f"  report: {self.report}",
        ]


def learn_step(
    workspace: Any,
    *,
    out_dir: str | os.PathLike,
    quick: bool,
    seed: int = 0,
    target: str = "burst_count",
    progress: Progress | None = None,
) -> DemoLearnResult:
    """Train a burst-count classifier on the demo workspace's stored features.

    Call it after the features step (``semlab.features.embed_workspace``).  The split is
    grouped by sample and stratified by burst count, with K-fold cross-validation
    (K = 2 for the quick series with two samples per burst count, else 3), so every
    sample is predicted once by a model that never saw it.

    Parameters
    ----------
    workspace : Workspace or path
        The demo workspace (with features).
    out_dir : path
        The run folder goes to ``out_dir / "learn"``.
    quick : bool
        The quick series (2 samples per burst count: 2 folds, no label permutations).
    seed : int
        Seeds split and training.
    target : str
        Column to classify.
    progress : callable, optional
        ``progress(done, total)`` in fitted models.

    Returns
    -------
    DemoLearnResult
    """
    from semlab.dataset import Workspace
    from semlab.demo._features import DEMO_FEATURE_SET
    from semlab.learn import train_workspace

    ws = workspace if isinstance(workspace, Workspace) else Workspace.open(workspace)
    table = ws.table()
    per_class = table.groupby(target)["sample"].nunique().min() if target in table.columns else 2
    folds = int(max(2, min(3, per_class)))
    run = train_workspace(
        ws,
        target=target,
        task="classify",
        model=DEMO_HEAD,
        feature_set=DEMO_FEATURE_SET,
        split="sample",
        folds=folds,
        permutations=0 if quick else 20,
        seed=seed,
        out=Path(out_dir) / "learn",
        progress=progress,
    )
    m = run.metrics
    return DemoLearnResult(
        run_dir=str(run.run_dir.resolve()),
        report=str((run.run_dir / "metrics.json").resolve()),
        model=run.model,
        split="sample",
        folds=folds,
        n_classes=len(run.classes or []),
        n_images=int(m["split"]["n_images"]),
        n_samples=int(m["split"]["n_groups"]),
        n_patches=int(m["split"]["n_rows"]),
        accuracy=float(m["patch"]["accuracy"]),
        balanced_accuracy=float(m["patch"]["balanced_accuracy"]),
        macro_f1=float(m["patch"]["macro_f1"]),
        image_accuracy=float(m["image"]["accuracy"]),
        image_balanced_accuracy=float(m["image"]["balanced_accuracy"]),
        chance=float(1.0 / max(1, len(run.classes or []))),
        seconds=float(run.seconds),
        image_accuracy_ci=_wilson(m),
    )


def _wilson(metrics: dict[str, Any]) -> tuple[float, float] | None:
    ci = (metrics.get("uncertainty") or {}).get("wilson_95")
    return None if ci is None else (float(ci[0]), float(ci[1]))
