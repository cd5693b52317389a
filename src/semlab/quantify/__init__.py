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

import lazy_loader as _lazy

# The public names and their modules are listed in __init__.pyi (also read by type checkers).
__getattr__, __dir__, __all__ = _lazy.attach_stub(__name__, __file__)
