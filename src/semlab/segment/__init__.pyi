# Public API of semlab.segment: read by type checkers, and at import time by
# ``lazy_loader.attach_stub`` in ``__init__.py``, which loads each name from its module on
# first use.  Add a public name here (import + ``__all__``); tests/test_public_api.py
# checks that every name resolves and that ``__all__`` matches the imports.

from .api import (
    CLASSIC_METHODS,
    Segmentation,
    method_classes,
    phase_fractions,
    segment_image,
    segment_labelled,
    segment_stack,
)
from .files import (
    LabelFile,
    read_array,
    read_labels,
    score_folders,
    segment_files,
    sidecar_path,
    write_labels,
)
from .hybrid import HYBRID_CLASSES, HybridAnnotation, hybrid_annotation
from .infer import Segmenter, load_segmenter, network_input
from .metrics import SegmentationScores, confusion_matrix, score_segmentation
from .overlay import legend_entries, overlay_panels, save_overlay
from .particle_files import particle_files
from .particles import (
    InstanceScores,
    LogNormalFit,
    fit_lognormal,
    particle_table,
    plot_size_distribution,
    save_particle_overlay,
    score_instances,
    split_particles,
)
from .phases import (
    FOREGROUND_RULES,
    FOREGROUNDS,
    NO_DATA,
    UNCERTAIN_MARGIN,
    ForegroundChoice,
    auto_foreground,
)
from .threshold import (
    THRESHOLD_METHODS,
    ThresholdResult,
    derivative_threshold,
    otsu_threshold,
    threshold_image,
)
from .train import (
    AUGMENTATIONS,
    SEGMENTER_TRAINING,
    STRONG_AUGMENTATION,
    SegmenterConfig,
    SegmenterTrainResult,
    check_training_pairs,
    class_weights_from_labels,
    train_segmenter,
)
from .unet import ENCODERS, UNetConfig, build_unet, load_encoder_weights

__all__ = [
    "InstanceScores",
    "particle_files",
    "LogNormalFit",
    "fit_lognormal",
    "particle_table",
    "plot_size_distribution",
    "save_particle_overlay",
    "score_instances",
    "split_particles",
    "LabelFile",
    "legend_entries",
    "read_labels",
    "sidecar_path",
    "FOREGROUNDS",
    "FOREGROUND_RULES",
    "ForegroundChoice",
    "NO_DATA",
    "UNCERTAIN_MARGIN",
    "Segmentation",
    "auto_foreground",
    "segment_labelled",
    "SEGMENTER_TRAINING",
    "SegmenterConfig",
    "CLASSIC_METHODS",
    "HYBRID_CLASSES",
    "HybridAnnotation",
    "SegmentationScores",
    "Segmenter",
    "THRESHOLD_METHODS",
    "ThresholdResult",
    "SegmenterTrainResult",
    "UNetConfig",
    "AUGMENTATIONS",
    "ENCODERS",
    "STRONG_AUGMENTATION",
    "load_encoder_weights",
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
    "phase_fractions",
    "network_input",
    "read_array",
    "save_overlay",
    "score_folders",
    "score_segmentation",
    "segment_files",
    "segment_image",
    "segment_stack",
    "threshold_image",
    "train_segmenter",
    "write_labels",
]
