"""Data-bar location lives in io (the workspace records it at ingest); preprocess re-exports it."""

from __future__ import annotations

import doctest

import numpy as np

import semlab.io.databar
from semlab.io import find_databar, locate_databar


def test_docstring_examples_run():
    result = doctest.testmod(semlab.io.databar, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted > 0


def test_preprocess_exports_the_same_functions():
    import semlab.preprocess

    assert semlab.preprocess.find_databar is find_databar
    assert semlab.preprocess.locate_databar is locate_databar


def test_metadata_row_wins_over_detection():
    image = np.zeros((100, 40), np.uint8)
    assert locate_databar(image, {"databar_row": 90}) == (90, "metadata")
    assert locate_databar(image, {"databar_row": 0}) == (None, None)
    assert locate_databar(image, None, detect=False) == (None, None)
