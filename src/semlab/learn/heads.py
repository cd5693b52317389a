"""Heads on CNN features: the paper's MLP and exact torch copies of linear scikit-learn baselines.

Registered in :mod:`semlab.registry` under kind ``"head"``:

* ``"mlp"`` — the network of the μ-SLS study: three hidden layers, each
  ``Linear → BatchNorm1d → ReLU → Dropout``, then a linear output layer.  Inputs are
  standardised with the training set's mean and standard deviation (stored as buffers);
  for regression the target is standardised too and the output mapped back.
* ``"linear"`` — an affine map ``(x - mean) / scale @ W.T + b`` with an output transform:
  ``"softmax"`` (logistic regression, PCA + logistic regression), ``"platt"`` (a linear
  SVM with per-class Platt sigmoids, normalised to sum to one) or ``"identity"``
  (regression).  The scikit-learn baselines are fitted with scikit-learn and copied into
  this module, so every head is saved and loaded the same way (:func:`semlab.registry.
  save_artifact`, no pickles).

Kind ``"finetuned"``, name ``"timm"``: a timm classifier (any timm name) rebuilt without
pretrained weights; its fine-tuned weights come from the artifact.

Every head's ``forward`` maps features ``(B, in_features)`` to class probabilities
``(B, out_features)`` (classification) or values ``(B, 1)`` in the target's unit
(regression).  Importing this module does not import torch; the factories do.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass
from typing import Any

from semlab.errors import ParameterError
from semlab.registry import register

__all__ = [
    "FinetunedConfig",
    "LinearHeadConfig",
    "MLPHeadConfig",
    "build_finetuned",
    "build_linear",
    "build_mlp",
]

_OUTPUTS = ("softmax", "platt", "identity")


@dataclass(frozen=True)
class MLPHeadConfig:
    """The MLP head.

    Attributes
    ----------
    in_features : int
        Feature width (e.g. 1280 for EfficientNet-Lite0).
    out_features : int
        Number of classes (classification) or 1 (regression).
    hidden : tuple of int
        Widths of the three hidden layers.
    dropout : float
        Dropout probability after each hidden layer.
    task : {"classify", "regress"}
        ``classify``: ``forward`` returns softmax probabilities; ``regress``: values.
    """

    in_features: int = 1280
    out_features: int = 2
    hidden: tuple[int, ...] = (256, 128, 64)
    dropout: float = 0.3
    task: str = "classify"

    def __post_init__(self) -> None:
        if self.in_features < 1 or self.out_features < 1:
            raise ParameterError("in_features and out_features must be positive")
        if len(self.hidden) != 3 or any(int(h) < 1 for h in self.hidden):
            raise ParameterError(f"hidden={self.hidden!r} must be three positive layer widths")
        if not 0.0 <= self.dropout < 1.0:
            raise ParameterError(f"dropout={self.dropout} must be in [0, 1)")
        if self.task not in ("classify", "regress"):
            raise ParameterError(f"task={self.task!r} must be 'classify' or 'regress'")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class LinearHeadConfig:
    """An affine head with an output transform (see the module docstring).

    Attributes
    ----------
    in_features, out_features : int
        Input width; classes (or 1 for regression).
    output : {"softmax", "platt", "identity"}
        How scores become the output.
    """

    in_features: int = 1280
    out_features: int = 2
    output: str = "softmax"

    def __post_init__(self) -> None:
        if self.in_features < 1 or self.out_features < 1:
            raise ParameterError("in_features and out_features must be positive")
        if self.output not in _OUTPUTS:
            raise ParameterError(f"output={self.output!r} must be one of {', '.join(_OUTPUTS)}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class FinetunedConfig:
    """A fine-tuned timm classifier.

    Attributes
    ----------
    backbone : str
        timm model name.
    num_classes : int
        Output classes.
    """

    backbone: str = "resnet18"
    num_classes: int = 2

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@functools.cache
def _classes() -> tuple[type, type]:
    import torch
    from torch import nn

    class MLPHead(nn.Module):
        """Three hidden layers (Linear, BatchNorm1d, ReLU, Dropout) and a linear output."""

        def __init__(self, config: MLPHeadConfig) -> None:
            super().__init__()
            self.config = config
            layers: list[nn.Module] = []
            width = config.in_features
            for h in config.hidden:
                layers += [
                    nn.Linear(width, int(h)),
                    nn.BatchNorm1d(int(h)),
                    nn.ReLU(),
                    nn.Dropout(config.dropout),
                ]
                width = int(h)
            layers.append(nn.Linear(width, config.out_features))
            self.net = nn.Sequential(*layers)
            # buffers (saved with the weights), declared for the type checker
            self.x_mean: torch.Tensor
            self.x_scale: torch.Tensor
            self.y_mean: torch.Tensor
            self.y_scale: torch.Tensor
            self.register_buffer("x_mean", torch.zeros(config.in_features))
            self.register_buffer("x_scale", torch.ones(config.in_features))
            self.register_buffer("y_mean", torch.zeros(1))
            self.register_buffer("y_scale", torch.ones(1))

        def raw(self, x: torch.Tensor) -> torch.Tensor:
            """Logits (classification) or the standardised target (regression)."""
            return self.net((x - self.x_mean) / self.x_scale)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            z = self.raw(x)
            if self.config.task == "classify":
                return torch.softmax(z, dim=1)
            return z * self.y_scale + self.y_mean

    class LinearHead(nn.Module):
        """``(x - mean) / scale @ weight.T + bias``, then softmax, Platt sigmoids or nothing."""

        def __init__(self, config: LinearHeadConfig) -> None:
            super().__init__()
            self.config = config
            # buffers (saved with the weights), declared for the type checker
            self.x_mean: torch.Tensor
            self.x_scale: torch.Tensor
            self.weight: torch.Tensor
            self.bias: torch.Tensor
            self.platt_a: torch.Tensor
            self.platt_b: torch.Tensor
            self.register_buffer("x_mean", torch.zeros(config.in_features))
            self.register_buffer("x_scale", torch.ones(config.in_features))
            self.register_buffer("weight", torch.zeros(config.out_features, config.in_features))
            self.register_buffer("bias", torch.zeros(config.out_features))
            self.register_buffer("platt_a", torch.ones(config.out_features))
            self.register_buffer("platt_b", torch.zeros(config.out_features))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            z = ((x - self.x_mean) / self.x_scale) @ self.weight.T + self.bias
            if self.config.output == "softmax":
                return torch.softmax(z, dim=1)
            if self.config.output == "platt":
                p = torch.sigmoid(self.platt_a * z + self.platt_b)
                return p / p.sum(dim=1, keepdim=True).clamp_min(1e-12)
            return z

    return MLPHead, LinearHead


@register("head", "mlp")
def build_mlp(config: MLPHeadConfig) -> Any:
    """MLP head of the μ-SLS study: 3 hidden layers, ReLU, batch norm, dropout."""
    return _classes()[0](config)


@register("head", "linear")
def build_linear(config: LinearHeadConfig) -> Any:
    """Affine head holding a fitted scikit-learn baseline (logistic regression, SVM, PCA, ridge)."""
    return _classes()[1](config)


@register("finetuned", "timm")
def build_finetuned(config: FinetunedConfig) -> Any:
    """A timm classifier (random init; the artifact supplies the fine-tuned weights)."""
    import timm

    try:
        model: Any = timm.create_model(config.backbone, pretrained=False, num_classes=config.num_classes)
    except RuntimeError as exc:
        raise ParameterError(f"backbone {config.backbone!r}: {str(exc).splitlines()[0]}") from None
    model.config = config
    return model
