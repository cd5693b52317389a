"""The demo's structure step: descriptors of every label image in physical units, joined to the series' table."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from semlab._util import atomic_path


def measure_structure(synthetic: Path, segmentation: Any, out: Path) -> Any:
    """Quantify the series' solid/pore label images (pores as the described phase).

    Porosity (``porosity_measured``), relative density, specific perimeter in µm⁻¹, pore
    sizes in µm, … per image (:func:`semlab.quantify.descriptor_table`), joined to the
    descriptor table and to the hybrid segmentation's scores, written to
    ``out/structure.parquet`` and ``out/structure.csv``.

    Parameters
    ----------
    synthetic : Path
        Folder of the rendered series (``labels/*.tif``, ``descriptors.csv``).
    segmentation : pandas.DataFrame
        One row per image (``image``, ``burst_count`` and the segmentation's scores).
    out : Path
        The demo's output folder.

    Returns
    -------
    pandas.DataFrame
        One row per image.
    """
    from semlab.quantify import descriptor_table

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pores cut by the border are excluded from size statistics
        structure = descriptor_table(
            sorted((synthetic / "labels").glob("*.tif")), table=synthetic / "descriptors.csv", phase=1
        )
    structure = structure.rename(columns={"phase_fraction": "porosity_measured"})
    structure["relative_density"] = 1.0 - structure["porosity_measured"]
    structure = structure.merge(
        segmentation.drop(columns="burst_count").rename(columns={"image": "_name"}),
        left_on=structure["image"].map(lambda s: Path(str(s)).name),
        right_on="_name",
        how="left",
    ).drop(columns=["_name", "key_0"], errors="ignore")
    with atomic_path(out / "structure.parquet") as tmp:
        structure.to_parquet(tmp, index=False)
    with atomic_path(out / "structure.csv") as tmp:
        structure.to_csv(tmp, index=False)
    return structure
