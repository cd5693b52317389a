"""The relate step of ``semlab demo``: measured structure descriptors → conductivity, with LOOCV and SHAP.

The candidates are descriptors semlab measured on its own segmentations (``structure.csv``);
no column of the generator's ground truth is among them.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

DEMO_TARGET = "conductivity_MS_per_m"
#: Structure descriptors the demo searches (those present in the table are used).
DEMO_CANDIDATES = (
    "relative_density",
    "specific_perimeter_per_um",
    "shape_index",
    "mean_equivalent_diameter_um",
    "mean_chord_length_um",
    "correlation_length_um",
)


@dataclass(frozen=True)
class RelateDemo:
    """What the demo's relate step found.

    Attributes
    ----------
    run_dir : str
        The run folder (config, metrics, model, predictions, search table, plots).
    target : str
    n : int
        Rows (images) related.
    n_subsets : int
        Feature subsets cross-validated.
    features : list of str
        The subset with the best LOOCV R².
    loocv_r2 : float
    loocv_rmse : float
        In MS/m.
    top_features : list of str
        The chosen features by mean |SHAP|, largest first.
    shap_mean_abs : dict
        Feature → mean |SHAP value| in MS/m.
    warnings : list of str
        Warnings the fit raised (tiny-n diagnostics).
    seconds : float
    """

    run_dir: str
    target: str
    n: int
    n_subsets: int
    features: list[str]
    loocv_r2: float
    loocv_rmse: float
    top_features: list[str]
    shap_mean_abs: dict[str, float]
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def lines(self) -> list[str]:
        """The lines the demo prints."""
        shap = ", ".join(f"{k} ({v:.3g} MS/m)" for k, v in self.shap_mean_abs.items())
        return [
            f"relate: best of {self.n_subsets} subsets of measured descriptors for {self.target} over {self.n} images "
            f"(linear, LOOCV): {', '.join(self.features)}",
            f"relate: LOOCV R² = {self.loocv_r2:.3f}, RMSE = {self.loocv_rmse:.3g} MS/m",
            f"relate: top features by mean |SHAP|: {shap}",
        ]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def relate_step(
    structure_csv: str | os.PathLike,
    *,
    out_dir: str | os.PathLike,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> RelateDemo:
    """Relate the demo's structure table to conductivity and write a run folder.

    Searches every subset of up to three of :data:`DEMO_CANDIDATES` by LOOCV R² (linear),
    fits the best, explains it with exact linear SHAP values and writes the run folder
    (:func:`~semlab.relate.save_run`) with ``search.csv`` and the plots.

    Parameters
    ----------
    structure_csv : str or Path
        ``structure.csv`` of :func:`~semlab.demo.run_demo` (one row per image).
    out_dir : str or Path
        The run folder (created).
    seed : int, default 0
    progress : callable, optional
        ``progress(done, total)`` in cross-validated subsets.

    Returns
    -------
    RelateDemo
    """
    from semlab.dataset import read_table
    from semlab.relate import fit_relation, save_run, search_features, shap_values

    t0 = time.perf_counter()
    table = read_table(Path(structure_csv))
    candidates = [c for c in DEMO_CANDIDATES if c in table.columns]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        search = search_features(
            table, DEMO_TARGET, candidates, max_features=3, seed=seed, dropna=True, progress=progress
        )
        best = search["features"].iloc[0].split(",")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = fit_relation(table, DEMO_TARGET, best, seed=seed, dropna=True)
    shap = shap_values(result)
    run = save_run(
        result,
        out_dir,
        search=search,
        inputs=[structure_csv],
        config={"demo": True, "candidates": candidates},
    )
    return RelateDemo(
        run_dir=str(Path(run).resolve()),
        target=DEMO_TARGET,
        n=result.n,
        n_subsets=len(search),
        features=list(result.features),
        loocv_r2=round(result.cv_scores.r2, 4),
        loocv_rmse=round(result.cv_scores.rmse, 4),
        top_features=shap.top(3),
        shap_mean_abs={k: round(v, 4) for k, v in shap.mean_abs.items()},
        warnings=list(dict.fromkeys(str(w.message) for w in caught)),
        seconds=round(time.perf_counter() - t0, 2),
    )
