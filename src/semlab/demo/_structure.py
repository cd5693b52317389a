"""The demo's structure step: descriptors of semlab's own segmentations in physical units, joined to the series' table."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from semlab._util import atomic_path

#: Columns of the structure table that hold the generator's ground truth (comparison only).
TRUTH_COLUMNS = ("porosity_truth", "pore_iou_vs_truth")


def measure_structure(
    synthetic: Path, labels: list[np.ndarray], segmentation: Any, out: Path, *, pixel_size: float | None
) -> Any:
    """Quantify semlab's segmentations of the series (pores, labels 1 and 2, as the described phase).

    Every descriptor is measured on the label images of :func:`semlab.segment.segment_labelled`
    (:func:`semlab.quantify.descriptor_table`): porosity (``porosity_measured``), relative
    density, specific perimeter in µm⁻¹, pore sizes in µm, … per image.  They are joined to
    the descriptor table (process parameters, properties); the generator's true porosity is
    kept only as ``porosity_truth``, for comparison.  Written to ``out/structure.parquet``
    and ``out/structure.csv``.

    Parameters
    ----------
    synthetic : Path
        Folder of the rendered series (``descriptors.csv``).
    labels : list of ndarray
        Label images (0 solid, 1 pore, 2 shine-through pore), in the order of ``segmentation``.
    segmentation : pandas.DataFrame
        One row per image (``image``, ``burst_count`` and the segmentation's scores).
    out : Path
        The demo's output folder.
    pixel_size : float or None
        µm per pixel of the label images.

    Returns
    -------
    pandas.DataFrame
        One row per image.
    """
    from semlab.quantify import descriptor_table

    names = [str(n) for n in segmentation["image"]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pores cut by the border are excluded from size statistics
        structure = descriptor_table(
            labels, names=names, pixel_size=pixel_size, table=synthetic / "descriptors.csv", phase=(1, 2)
        )
    structure = structure.rename(
        columns={"phase_fraction": "porosity_measured", "porosity": "porosity_truth"}
    )
    structure["relative_density"] = 1.0 - structure["porosity_measured"]
    scores = segmentation.drop(columns=["burst_count", "porosity_segmented"]).rename(
        columns={"image": "_name"}
    )
    structure = structure.merge(scores, left_on="image", right_on="_name", how="left").drop(columns="_name")
    with atomic_path(out / "structure.parquet") as tmp:
        structure.to_parquet(tmp, index=False)
    with atomic_path(out / "structure.csv") as tmp:
        structure.to_csv(tmp, index=False)
    return structure
