"""Segmentation: histogram thresholds, the SLIC hybrid annotation, and a U-Net.

This is the porous-copper FIB-SEM workflow: a conventional threshold misses pores whose
floor "shines through" with solid-like grey values; a hybrid of a histogram threshold and
SLIC superpixels annotates solid, pore and shine-through pore; a U-Net trained on such
annotations (or on a ground truth) segments whole images and stacks.

>>> from semlab.segment import segment_image, save_overlay, score_segmentation

Named phases (``docs/segmentation.md``)
    :func:`auto_foreground` (:class:`ForegroundChoice`), :data:`NO_DATA` (255: data-bar rows),
    :func:`segment_labelled` (:class:`Segmentation`: labels of the input's shape, class names,
    measured phase, warnings), :func:`read_labels`, :func:`legend_entries`
Thresholds (1 = the ``foreground`` phase; default dark = pore, 0 = the other)
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
    :func:`score_segmentation`, :func:`save_overlay`, :func:`overlay_panels`, :func:`phase_fractions`
Files and folders (what ``semlab segment`` / ``score-segmentation`` do)
    :func:`segment_files`, :func:`score_folders`, :func:`read_array`, :func:`write_labels`

Importing this package does not import torch.
"""

import lazy_loader as _lazy

# The public names and their modules are listed in __init__.pyi (also read by type checkers).
__getattr__, __dir__, __all__ = _lazy.attach_stub(__name__, __file__)
