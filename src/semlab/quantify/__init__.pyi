# Public API of semlab.quantify: read by type checkers, and at import time by
# ``lazy_loader.attach_stub`` in ``__init__.py``, which loads each name from its module on
# first use.  Add a public name here (import + ``__all__``); tests/test_public_api.py
# checks that every name resolves and that ``__all__`` matches the imports.

from ._common import QuantifyWarning
from .table import descriptor_table, load_labels
from .threed import (
    Descriptors3D,
    LocalThickness,
    StrutDiameters,
    SurfaceCurvature,
    Tortuosity,
    TortuosityFactor,
    describe_3d,
    geodesic_tortuosity,
    local_thickness,
    specific_surface_area,
    strut_diameters,
    surface_area,
    surface_curvature,
    surface_mesh,
    tortuosity_factor,
)
from .topology import (
    PersistenceImage,
    area_fractions,
    common_ranges,
    condition_value_ranges,
    persistence_diagram,
    persistence_image,
)
from .twod import (
    Descriptors2D,
    chord_lengths,
    describe_2d,
    perimeter,
    phase_fraction,
    region_table,
    shape_index,
    specific_perimeter,
    two_point_correlation,
)

__all__ = [
    "Descriptors2D",
    "Descriptors3D",
    "LocalThickness",
    "PersistenceImage",
    "QuantifyWarning",
    "StrutDiameters",
    "SurfaceCurvature",
    "Tortuosity",
    "TortuosityFactor",
    "area_fractions",
    "chord_lengths",
    "common_ranges",
    "condition_value_ranges",
    "describe_2d",
    "describe_3d",
    "descriptor_table",
    "geodesic_tortuosity",
    "load_labels",
    "local_thickness",
    "perimeter",
    "persistence_diagram",
    "persistence_image",
    "phase_fraction",
    "region_table",
    "shape_index",
    "specific_perimeter",
    "specific_surface_area",
    "strut_diameters",
    "surface_area",
    "surface_curvature",
    "surface_mesh",
    "tortuosity_factor",
    "two_point_correlation",
]
