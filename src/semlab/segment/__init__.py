"""Segmentation: histogram thresholds, the SLIC hybrid annotation, and a U-Net.

This is the porous-copper FIB-SEM workflow: a conventional threshold misses pores whose
floor "shines through" with solid-like grey values; a hybrid of a histogram threshold and
SLIC superpixels annotates solid, pore and shine-through pore; a U-Net trained on such
annotations (or on a ground truth) segments whole images and stacks.

>>> from semlab.segment import segment_image, save_overlay, score_segmentation

Thresholds (0 = solid/bright, 1 = pore/dark)
    :func:`otsu_threshold`, :func:`derivative_threshold`, :func:`threshold_image`
Hybrid annotation (0 = solid, 1 = pore, 2 = shine-through)
    :func:`hybrid_annotation`
U-Net (torch imported when used)
    :func:`train_segmenter`, :func:`load_segmenter`, :class:`Segmenter`
    (``predict``, ``predict_proba`` tiled with overlap blending, ``predict_stack``),
    :class:`UNetConfig`; models live in :mod:`semlab.registry` as ``("segmenter", "unet")``
One call for any method
    :func:`segment_image`, :func:`segment_stack`
Scores and pictures
    :func:`score_segmentation`, :func:`save_overlay`, :func:`overlay_panels`

Importing this package does not import torch.
"""

from semlab.segment.api import CLASSIC_METHODS, method_classes, segment_image, segment_stack
from semlab.segment.hybrid import HYBRID_CLASSES, HybridAnnotation, hybrid_annotation
from semlab.segment.infer import Segmenter, load_segmenter, prepare_image, resolve_device
from semlab.segment.metrics import SegmentationScores, confusion_matrix, score_segmentation
from semlab.segment.overlay import overlay_panels, save_overlay
from semlab.segment.threshold import (
    THRESHOLD_METHODS,
    ThresholdResult,
    derivative_threshold,
    otsu_threshold,
    threshold_image,
)
from semlab.segment.train import TrainResult, check_training_pairs, class_weights_from_labels, train_segmenter
from semlab.segment.unet import UNetConfig, build_unet

__all__ = [
    "CLASSIC_METHODS",
    "HYBRID_CLASSES",
    "THRESHOLD_METHODS",
    "HybridAnnotation",
    "SegmentationScores",
    "Segmenter",
    "ThresholdResult",
    "TrainResult",
    "UNetConfig",
    "build_unet",
    "check_training_pairs",
    "class_weights_from_labels",
    "confusion_matrix",
    "derivative_threshold",
    "hybrid_annotation",
    "load_segmenter",
    "method_classes",
    "otsu_threshold",
    "overlay_panels",
    "prepare_image",
    "resolve_device",
    "save_overlay",
    "score_segmentation",
    "segment_image",
    "segment_stack",
    "threshold_image",
    "train_segmenter",
]
