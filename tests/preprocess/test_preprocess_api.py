"""semlab.preprocess: a light import and docstring examples that run."""

from __future__ import annotations

import doctest
import subprocess
import sys

import pytest

import semlab.preprocess
from semlab.preprocess import databar, intensity, patches

HEAVY = ("torch", "timm", "sklearn", "matplotlib", "umap", "fastapi", "skimage", "scipy", "pandas")


def test_import_is_light():
    code = "import semlab.preprocess, sys; print(' '.join(sorted(sys.modules)))"
    mods = set(
        subprocess.run(
            [sys.executable, "-c", code], check=True, capture_output=True, text=True
        ).stdout.split()
    )
    assert not {m.split(".")[0] for m in mods}.intersection(HEAVY)


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
