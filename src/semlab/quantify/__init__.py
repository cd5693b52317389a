"""Microstructure descriptors in physical units: 2-D, 3-D and topology.

Every length is in µm when ``pixel_size`` (µm per pixel, or per voxel) is given and in
pixels otherwise; dataclass ``to_dict()`` keys and table columns carry the unit
(``specific_perimeter_per_um``, ``area_um2``).

>>> from semlab.quantify import describe_2d, describe_3d, persistence_diagram, descriptor_table

2-D (label images)
    :func:`phase_fraction`, :func:`perimeter`, :func:`specific_perimeter`,
    :func:`shape_index`, :func:`region_table`, :func:`two_point_correlation`,
    :func:`chord_lengths`, :func:`describe_2d`
3-D (label volumes)
    :func:`surface_mesh`, :func:`surface_area`, :func:`specific_surface_area`,
    :func:`strut_diameters`, :func:`geodesic_tortuosity`, :func:`surface_curvature`,
    :func:`describe_3d`
Topology (grey or label images)
    :func:`persistence_diagram`, :func:`persistence_image`, :func:`common_ranges`,
    :func:`area_fractions`, :func:`condition_value_ranges`
Tables
    :func:`descriptor_table`, :func:`load_labels`
Plots (matplotlib, imported when called)
    :mod:`semlab.quantify.plots`
"""

from semlab.quantify._common import QuantifyWarning
from semlab.quantify.table import descriptor_table, load_labels
from semlab.quantify.threed import (
    Descriptors3D,
    StrutDiameters,
    SurfaceCurvature,
    Tortuosity,
    describe_3d,
    geodesic_tortuosity,
    specific_surface_area,
    strut_diameters,
    surface_area,
    surface_curvature,
    surface_mesh,
)
from semlab.quantify.topology import (
    PersistenceImage,
    area_fractions,
    common_ranges,
    condition_value_ranges,
    persistence_diagram,
    persistence_image,
)
from semlab.quantify.twod import (
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
    "PersistenceImage",
    "QuantifyWarning",
    "StrutDiameters",
    "SurfaceCurvature",
    "Tortuosity",
    "area_fractions",
    "chord_lengths",
    "common_ranges",
    "condition_value_ranges",
    "describe_2d",
    "describe_3d",
    "descriptor_table",
    "geodesic_tortuosity",
    "load_labels",
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
    "two_point_correlation",
]
