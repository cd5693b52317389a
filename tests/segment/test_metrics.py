"""Segmentation scores equal hand-computed values; overlay images have the right layout."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from semlab.errors import ParameterError
from semlab.segment import confusion_matrix, overlay_panels, save_overlay, score_segmentation

TRUTH = np.array([[0, 0, 1, 1], [0, 2, 2, 1]])
PRED = np.array([[0, 1, 1, 1], [0, 2, 0, 1]])


def test_scores_by_hand():
    # class 0: TP 2 (0,0),(1,0); FP 1 (1,2); FN 1 (0,1)
    # class 1: TP 3; FP 1 (0,1); FN 0
    # class 2: TP 1; FP 0; FN 1 (1,2)
    s = score_segmentation(TRUTH, PRED)
    assert s.classes == (0, 1, 2)
    np.testing.assert_allclose(s.iou, [2 / 4, 3 / 4, 1 / 2])
    np.testing.assert_allclose(s.dice, [4 / 6, 6 / 7, 2 / 3])
    np.testing.assert_allclose(s.precision, [2 / 3, 3 / 4, 1.0])
    np.testing.assert_allclose(s.recall, [2 / 3, 1.0, 1 / 2])
    assert s.accuracy == 6 / 8
    assert s.mean_iou == pytest.approx((0.5 + 0.75 + 0.5) / 3)
    assert s.confusion.tolist() == [[2, 1, 0], [0, 3, 0], [1, 0, 1]]
    d = s.to_dict()
    assert d["iou_class_1"] == 0.75 and d["n_pixels"] == 8
    frame = s.to_frame()
    assert frame["truth_pixels"].tolist() == [3, 3, 2]


def test_absent_class_is_nan_and_left_out_of_the_mean():
    s = score_segmentation(np.zeros((2, 2), int), np.zeros((2, 2), int), classes=(0, 1), names=("a", "b"))
    assert s.iou[0] == 1.0 and math.isnan(s.iou[1])
    assert s.mean_iou == 1.0


def test_ignore_and_class_subset():
    truth = np.array([0, 1, 9, 9])
    pred = np.array([0, 0, 1, 0])
    s = score_segmentation(truth, pred, ignore=9)
    assert s.confusion.sum() == 2 and s.accuracy == 0.5
    assert confusion_matrix(truth, pred, [0, 1]).tolist() == [[1, 0], [1, 0]]


@pytest.mark.parametrize(
    "truth, pred, match",
    [
        (np.zeros((2, 2), int), np.zeros((2, 3), int), "shape"),
        (np.zeros((2, 2)) + 0.5, np.zeros((2, 2), int), "non-integer"),
    ],
)
def test_bad_labels(truth, pred, match):
    with pytest.raises(ParameterError, match=match):
        score_segmentation(truth, pred)


def test_names_length_checked():
    with pytest.raises(ParameterError, match="names"):
        score_segmentation(TRUTH, PRED, names=("a",))


def test_overlay_layout_and_png(tmp_path):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (20, 30)).astype(np.uint8)
    labels = (image > 128).astype(np.uint8)
    truth = labels.copy()
    truth[0, :5] ^= 1
    two = overlay_panels(image, labels)
    assert two.shape == (20 + 14, 2 * 30 + 4, 3)
    four = overlay_panels(image, labels, truth=truth)
    assert four.shape == (34, 4 * 30 + 3 * 4, 3)
    # error panel: wrong pixels red, others dimmed grey
    err = four[14:, 3 * 34 :]
    assert (err[0, :5] == (230, 30, 30)).all()
    assert (err[1:, :][..., 0] == err[1:, :][..., 1]).all()
    path = save_overlay(tmp_path / "o.png", image, labels, truth=truth)
    assert np.array_equal(np.asarray(Image.open(path)), four)
    with pytest.raises(ParameterError, match="shape"):
        overlay_panels(image, labels[:5])
    with pytest.raises(ParameterError, match=".png"):
        save_overlay(tmp_path / "o.jpg", image, labels)
