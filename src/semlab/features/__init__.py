"""CNN features of micrograph patches: timm backbones, batched extraction, a cache per workspace.

>>> from semlab.features import create_backbone, extract_features, embed_workspace, load_features
>>> table = embed_workspace("my-study", backbone="efficientnet_lite0")  # doctest: +SKIP
>>> table.per_image().features.shape  # doctest: +SKIP
(24, 1280)

Backbones are timm models by name (:data:`BACKBONES` lists the papers' choices with their
feature widths; any timm name works), registered in :mod:`semlab.registry` as kind
``"backbone"``.  Weights come from an explicit file, the offline EfficientNet-Lite0 package,
or timm's hub cache, and the source used is always reported.  Extraction is batched, on a
copy of the model with batch norms folded, channels-last, in exact fp32 by default, or in
bf16 where the CPU/GPU computes it natively (``precision="auto"``, faster, features within
cosine 0.999 of fp32; features then differ between machines).  Importing this package
loads neither torch nor timm; they are imported on first use.
Named feature sets (:data:`FEATURE_SETS`: ``final``, ``multiscale``, ``texture``, ``nuisance``;
:func:`feature_table`, :func:`patch_features`) describe a patch by the final layer, by
statistics of the backbone's intermediate stages, by classical texture, or by acquisition
only (the shortcut check); :data:`DEFAULT_FEATURE_SET` is the best on average in
benchmarks/results/learn.json.
Without torch at all, :func:`intensity_features` gives hand-made per-image features (grey-value
histogram and radial power spectrum), e.g. for a map.
"""

import lazy_loader as _lazy

# The public names and their modules are listed in __init__.pyi (also read by type checkers).
__getattr__, __dir__, __all__ = _lazy.attach_stub(__name__, __file__)
