"""The U-Net segmenter, registered as ``("segmenter", "unet")``.

Importing this module does not import torch; :func:`build_unet` does.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass
from typing import Any

from semlab.errors import ParameterError
from semlab.registry import register

__all__ = ["UNetConfig", "build_unet"]


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
    """

    in_channels: int = 1
    n_classes: int = 2
    depth: int = 4
    width: int = 16
    dropout: float = 0.0

    def __post_init__(self) -> None:
        for name, lo in (("in_channels", 1), ("n_classes", 2), ("depth", 1), ("width", 1)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < lo:
                raise ParameterError(f"UNetConfig.{name}={v!r} must be an integer >= {lo}")
        if self.depth > 7:
            raise ParameterError(f"UNetConfig.depth={self.depth} must be at most 7")
        if not 0.0 <= float(self.dropout) < 1.0:
            raise ParameterError(f"UNetConfig.dropout={self.dropout!r} must be in [0, 1)")

    @property
    def multiple(self) -> int:
        """Input sides must be multiples of this many pixels."""
        return 2 ** (self.depth - 1)

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

    return UNet


@register("segmenter", "unet")
def build_unet(config: UNetConfig) -> Any:
    """U-Net with configurable depth and width (trained from scratch on CPU or CUDA)."""
    return _classes()(config)
