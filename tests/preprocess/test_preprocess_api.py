"""semlab.preprocess: docstring examples that run (the light import is tested in tests/test_light_imports.py)."""

from __future__ import annotations

import doctest

import pytest

import semlab.preprocess
from semlab.preprocess import databar, intensity, patches


@pytest.mark.parametrize("module", [semlab.preprocess, databar, intensity, patches], ids=lambda m: m.__name__)
def test_docstring_examples_run(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
    assert result.attempted > 0


def test_public_api():
    assert set(semlab.preprocess.__all__) >= {
        "find_databar",
        "crop_databar",
        "equalize",
        "resample",
        "resample_shape",
        "sample_patches",
        "sample_patch_boxes",
        "tile",
        "untile",
        "TileGrid",
    }
    for name in semlab.preprocess.__all__:
        assert hasattr(semlab.preprocess, name)
