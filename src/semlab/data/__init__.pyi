# Public API of semlab.data: read by type checkers, and at import time by
# ``lazy_loader.attach_stub`` in ``__init__.py``, which loads each name from its module on
# first use.  Add a public name here (import + ``__all__``); tests/test_public_api.py
# checks that every name resolves and that ``__all__`` matches the imports.

from ._databar import add_databar, databar_height, nice_scale_bar
from .sintering import (
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
