"""Thresholds on the real ISBI membrane images in ../shared/data (skipped when absent)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from semlab.io import read_micrograph
from semlab.segment import derivative_threshold, otsu_threshold, score_segmentation

ISBI = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "segmentation" / "isbi-membrane"


@pytest.fixture(scope="module")
def isbi0():
    if not (ISBI / "images" / "0.png").is_file():
        pytest.skip(f"ISBI membrane images not found at {ISBI}")
    image = read_micrograph(ISBI / "images" / "0.png").image
    truth = read_micrograph(ISBI / "labels" / "0.png").image
    return image, (truth < 128).astype(np.uint8)  # 1 = membrane (dark), as thresholds label


def test_thresholds_on_isbi(isbi0):
    image, membrane = isbi0
    t_otsu, otsu = otsu_threshold(image)
    t_knee, knee = derivative_threshold(image)
    # the ISBI histogram has a single broad peak: both thresholds land on its upper flank,
    # within a few grey levels of each other
    assert 100 < t_otsu < 170 and abs(t_knee - t_otsu) < 15
    # both find membranes better than chance but far from perfect (the reason for a U-Net)
    for labels in (otsu, knee):
        s = score_segmentation(membrane, labels, classes=(0, 1))
        assert 0.2 < s.iou[1] < 0.6
