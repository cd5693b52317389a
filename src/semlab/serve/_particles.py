"""The per-particle table of a web segmentation, written as the quantify job's CSV download.

With :func:`semlab.segment.split_particles` and :func:`semlab.segment.particle_table` (touching
particles split) when this semlab has them; else the connected components of the measured
phase (:func:`semlab.quantify.region_table`, 8-connectivity).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def particle_table(labels: np.ndarray, measured: Any, pixel_size: float | None) -> tuple[Any, str]:
    """(table, how particles were separated) of the measured phase of ``labels`` (data bar cut)."""
    import semlab.segment as S

    mask = np.isin(labels, list(measured))
    split, table = getattr(S, "split_particles", None), getattr(S, "particle_table", None)
    if split is not None and table is not None:  # newer semlab.segment: touching particles split
        instances = split(mask, pixel_size=pixel_size)
        return table(instances, pixel_size=pixel_size), "watershed split of touching particles"
    from semlab.quantify import region_table

    return region_table(
        mask.astype(np.uint8), pixel_size=pixel_size, phase=1
    ), "connected components (8-connectivity)"


def particle_csv(labels: np.ndarray, measured: Any, pixel_size: float | None, path: Path) -> dict[str, Any]:
    """Write the table to ``path`` (atomically); a summary for the job's result."""
    from semlab._util import atomic_write_text

    table, how = particle_table(labels, measured, pixel_size)
    atomic_write_text(path, table.to_csv(index=False))
    unit = "um" if pixel_size else "px"
    diameter = next((c for c in table.columns if c.startswith("equivalent_diameter")), None)
    median = float(np.median(table[diameter])) if diameter and len(table) else None
    return {
        "n_particles": int(len(table)),
        "separation": how,
        "unit": "µm" if unit == "um" else "px",
        "median_equivalent_diameter": median,
        "columns": [str(c) for c in table.columns],
    }
