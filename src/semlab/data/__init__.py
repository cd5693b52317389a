"""Synthetic microstructures with ground truth, for demos, tests and benchmarks.

>>> from semlab.data import render_sintered_film, sintering_series
"""

from semlab.data._databar import add_databar, databar_height, nice_scale_bar
from semlab.data.sintering import (
    COPPER_CONDUCTIVITY_MS_PER_M,
    DEFAULT_DUTY_CYCLES,
    FilmSample,
    SyntheticMicrograph,
    effective_exposure,
    expected_porosity,
    film_conductivity,
    grain_growth_factor,
    render_sintered_film,
    sintering_series,
)

__all__ = [
    "COPPER_CONDUCTIVITY_MS_PER_M",
    "DEFAULT_DUTY_CYCLES",
    "FilmSample",
    "SyntheticMicrograph",
    "add_databar",
    "databar_height",
    "effective_exposure",
    "expected_porosity",
    "film_conductivity",
    "grain_growth_factor",
    "nice_scale_bar",
    "render_sintered_film",
    "sintering_series",
]
