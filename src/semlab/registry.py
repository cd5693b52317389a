"""The model registry: create backbones, segmenters and generators by name.

Every model kind (``"segmenter"``, ``"backbone"``, ``"generator"``) has factories
registered under a name, each taking a small frozen config dataclass::

    @register("segmenter", "unet")
    def build_unet(config: UNetConfig) -> torch.nn.Module: ...

    model = create("segmenter", "unet", depth=3, width=16)

Trained models are stored as *artifact folders*: ``model.pt`` (a PyTorch state dict) and
``config.json`` (kind, name, config, semlab version, seed, input file hashes,
preprocessing, weight hash and free-form extras), both written atomically.
:func:`load_artifact` rebuilds the model from the folder.

This module imports no third-party library; torch is imported by the functions that save
or load weights.  Built-in providers are imported on first use of their kind.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import importlib
import inspect
import json
import os
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from semlab.errors import FileFormatError, MissingFileError, ParameterError

__all__ = [
    "ARTIFACT_CONFIG",
    "ARTIFACT_WEIGHTS",
    "Artifact",
    "ModelSpec",
    "available",
    "create",
    "get_spec",
    "is_registered",
    "load_artifact",
    "make_config",
    "read_artifact_config",
    "register",
    "save_artifact",
]

#: File names inside an artifact folder.
ARTIFACT_CONFIG = "config.json"
ARTIFACT_WEIGHTS = "model.pt"
_FORMAT = "semlab-artifact"
_FORMAT_VERSION = 1

#: Modules that register the built-in models of each kind, imported on first use.
_PROVIDERS: dict[str, tuple[str, ...]] = {
    "segmenter": ("semlab.segment.unet",),
    "backbone": ("semlab.features.backbones",),
    "generator": ("semlab.generate.models",),
    "head": ("semlab.learn.heads",),
    "finetuned": ("semlab.learn.heads",),
    "regressor": ("semlab.relate.models",),
}

_REGISTRY: dict[str, dict[str, ModelSpec]] = {}


@dataclass(frozen=True)
class ModelSpec:
    """A registered model: its kind, name, config dataclass and factory."""

    kind: str
    name: str
    config_class: type[Any]
    factory: Callable[[Any], Any]
    doc: str = field(default="", compare=False)

    def to_dict(self) -> dict[str, Any]:
        """Kind, name, config class and the config's default fields."""
        return {
            "kind": self.kind,
            "name": self.name,
            "config_class": f"{self.config_class.__module__}.{self.config_class.__qualname__}",
            "defaults": dataclasses.asdict(self.config_class()),
            "doc": self.doc,
        }


def _check_name(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value or value != value.strip():
        raise ParameterError(f"{what}={value!r} must be a non-empty string")
    return value


def register(kind: str, name: str, *, config: type | None = None) -> Callable:
    """Decorator: register ``factory(config) -> model`` as ``kind``/``name``.

    Parameters
    ----------
    kind : str
        Model kind, e.g. ``"segmenter"``, ``"backbone"``, ``"generator"``.
    name : str
        Model name, unique within the kind.
    config : type, optional
        The factory's config dataclass (every field needs a default); default: the type
        annotation of the factory's first parameter.
    """
    kind, name = _check_name(kind, "kind"), _check_name(name, "name")

    def decorator(factory: Callable[[Any], Any]) -> Callable[[Any], Any]:
        cls = config
        if cls is None:
            params = list(inspect.signature(factory).parameters)
            hints = typing.get_type_hints(factory) if params else {}
            cls = hints.get(params[0]) if params else None
        if cls is None or not dataclasses.is_dataclass(cls):
            raise TypeError(f"register({kind!r}, {name!r}): the factory must take a config dataclass")
        doc = (inspect.getdoc(factory) or "").split("\n")[0]
        _REGISTRY.setdefault(kind, {})[name] = ModelSpec(kind, name, cls, factory, doc)
        return factory

    return decorator


def _load_providers(kind: str) -> None:
    for module in _PROVIDERS.get(kind, ()):
        importlib.import_module(module)


def available(kind: str) -> list[str]:
    """Sorted names registered for ``kind`` (built-in providers included)."""
    _load_providers(kind)
    return sorted(_REGISTRY.get(kind, {}))


def is_registered(kind: str, name: str) -> bool:
    """Whether ``kind``/``name`` is registered now (built-in providers are not imported).

    For providers that register names on first use (e.g. timm backbones), so they can
    check without importing themselves again.
    """
    return name in _REGISTRY.get(kind, {})


def get_spec(kind: str, name: str) -> ModelSpec:
    """The :class:`ModelSpec` of ``kind``/``name``; ParameterError listing the choices if unknown."""
    _load_providers(kind)
    specs = _REGISTRY.get(kind, {})
    if name not in specs:
        known = ", ".join(sorted(specs)) or "none"
        raise ParameterError(f"no {kind} named {name!r}; available {kind}s: {known}")
    return specs[name]


def make_config(kind: str, name: str, config: Any = None, **overrides: Any) -> Any:
    """The config dataclass of ``kind``/``name``: defaults, or ``config`` (instance or dict),
    with ``overrides`` applied.  Unknown fields raise ParameterError."""
    spec = get_spec(kind, name)
    cls = spec.config_class
    fields = {f.name for f in dataclasses.fields(cls)}
    if config is None:
        base: dict[str, Any] = {}
    elif isinstance(config, cls):
        base = dataclasses.asdict(config)
    elif isinstance(config, Mapping):
        base = dict(config)
    else:
        raise ParameterError(f"config must be a {cls.__name__} or a dict, not {type(config).__name__}")
    base.update(overrides)
    unknown = sorted(set(base) - fields)
    if unknown:
        raise ParameterError(
            f"{kind} {name!r} has no option {', '.join(unknown)}; its options are {', '.join(sorted(fields))}"
        )
    for f in dataclasses.fields(cls):  # JSON turns tuples into lists
        if f.name in base and isinstance(base[f.name], list) and "tuple" in str(f.type):
            base[f.name] = tuple(base[f.name])
    try:
        return cls(**base)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, ParameterError):
            raise
        raise ParameterError(f"{kind} {name!r}: invalid options ({exc})") from None


def create(kind: str, name: str, *, config: Any = None, **overrides: Any) -> Any:
    """Build a registered model: ``create("segmenter", "unet", depth=3, width=16)``.

    Parameters
    ----------
    kind, name : str
        As registered; :func:`available` lists the names.
    config : dataclass or dict, optional
        A full config; ``overrides`` are applied on top.
    **overrides
        Config fields.

    Returns
    -------
    object
        What the factory returns (e.g. a ``torch.nn.Module`` with a ``config`` attribute).
    """
    spec = get_spec(kind, name)
    return spec.factory(make_config(kind, name, config, **overrides))


# --------------------------------------------------------------------------- artifacts


@dataclass(frozen=True, eq=False)
class Artifact:
    """A model loaded from an artifact folder.

    Attributes
    ----------
    model : object
        The rebuilt model with the saved weights, in eval mode.
    config : dataclass
        The model's config.
    meta : dict
        The whole ``config.json``.
    path : Path
        The artifact folder.
    """

    model: Any
    config: Any
    meta: dict[str, Any]
    path: Path

    @property
    def kind(self) -> str:
        return self.meta["kind"]

    @property
    def name(self) -> str:
        return self.meta["name"]

    def to_dict(self) -> dict[str, Any]:
        """The folder and its ``config.json`` contents."""
        return {"path": str(self.path), **self.meta}


def _jsonable(value: Any) -> Any:
    from semlab._util import to_jsonable

    return to_jsonable(value)


def input_hashes(paths: Iterable[str | os.PathLike]) -> list[dict[str, str | None]]:
    """``[{"path": ..., "sha256": ...}]`` for the files (the provenance of a training run); ``sha256``
    is ``None`` for a path that is not a file."""
    from semlab._util import file_sha256

    out = []
    for p in paths:
        p = Path(p)
        out.append({"path": str(p), "sha256": file_sha256(p) if p.is_file() else None})
    return out


def save_artifact(
    folder: str | os.PathLike,
    model: Any,
    *,
    kind: str,
    name: str,
    config: Any,
    seed: int | None = None,
    inputs: Iterable[str | os.PathLike] | list[dict[str, Any]] | None = None,
    preprocessing: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Save a model as an artifact folder: ``model.pt`` + ``config.json``.

    Parameters
    ----------
    folder : str or Path
        Created if missing; existing ``model.pt`` / ``config.json`` are replaced atomically
        (weights first, then the config, which carries the weights' SHA-256, so a folder
        caught half-way is detected on load).
    model : torch.nn.Module
        Its ``state_dict()`` is saved.
    kind, name : str
        Registry entry that rebuilds the model (checked to exist).
    config : dataclass
        The model's config.
    seed : int, optional
        Seed of the run that produced the weights.
    inputs : iterable of paths, or list of dicts, optional
        Input files (hashed with SHA-256) or ready ``{"path", "sha256"}`` records.
    preprocessing : mapping, optional
        How inputs must be prepared for this model (e.g. equalization, normalisation).
    extra : mapping, optional
        Anything else JSON-compatible (classes, metrics, training options, history).

    Returns
    -------
    Path
        The folder.
    """
    import torch

    from semlab import __version__
    from semlab._util import atomic_path, file_sha256, write_json

    get_spec(kind, name)
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ParameterError(f"{folder} is a file; give a folder for the model artifact")
    folder.mkdir(parents=True, exist_ok=True)
    weights = folder / ARTIFACT_WEIGHTS
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    with atomic_path(weights) as tmp:
        torch.save(state, tmp)
    records: list[dict[str, Any]] = []
    if inputs is not None:
        items = list(inputs)
        if items and all(isinstance(i, Mapping) for i in items):
            records = [dict(i) for i in items]  # type: ignore[arg-type]
        else:
            records = input_hashes(items)  # type: ignore[arg-type]
    meta = {
        "format": _FORMAT,
        "format_version": _FORMAT_VERSION,
        "kind": kind,
        "name": name,
        "config": _jsonable(config),
        "semlab_version": __version__,
        "torch_version": torch.__version__,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "seed": seed,
        "inputs": _jsonable(records),
        "preprocessing": _jsonable(dict(preprocessing or {})),
        "weights": ARTIFACT_WEIGHTS,
        "weights_sha256": file_sha256(weights),
        "extra": _jsonable(dict(extra or {})),
    }
    write_json(folder / ARTIFACT_CONFIG, meta)
    return folder


def _artifact_folder(path: str | os.PathLike) -> Path:
    p = Path(path)
    if not p.exists():
        raise MissingFileError(f"{p}: no such model folder; give a folder written by semlab (model.pt + config.json)")
    if p.is_file():
        if p.name in (ARTIFACT_CONFIG, ARTIFACT_WEIGHTS):
            return p.parent
        raise FileFormatError(
            f"{p}: is a file, not a semlab model; give the model folder (holding model.pt and config.json)"
        )
    return p


def read_artifact_config(path: str | os.PathLike, *, kind: str | None = None) -> dict[str, Any]:
    """The ``config.json`` of an artifact folder, checked (no torch import).

    Parameters
    ----------
    path : str or Path
        Artifact folder, or its ``config.json`` / ``model.pt``.
    kind : str, optional
        Expected kind; another kind raises FileFormatError.

    Raises
    ------
    MissingFileError, FileFormatError
        No such folder; not a semlab artifact; of another kind.
    """
    folder = _artifact_folder(path)
    cfg = folder / ARTIFACT_CONFIG
    what = f"a semlab {kind}" if kind else "a semlab model"
    if not cfg.is_file():
        raise FileFormatError(f"{folder}: has no {ARTIFACT_CONFIG}, so it is not {what}; give a folder written by semlab")
    try:
        meta = json.loads(cfg.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FileFormatError(f"{cfg}: cannot be read as JSON ({exc}); the artifact is damaged, train or copy it again") from None
    if not isinstance(meta, dict) or meta.get("format") != _FORMAT:
        raise FileFormatError(f"{cfg}: is not a semlab artifact config; give a folder written by semlab")
    for key in ("kind", "name", "config"):
        if key not in meta:
            raise FileFormatError(f"{cfg}: lacks {key!r}; the artifact is damaged, train or copy it again")
    if kind is not None and meta["kind"] != kind:
        raise FileFormatError(f"{folder}: holds a {meta['kind']} ({meta['name']}), not a {kind}; give a {kind} model")
    return meta


def load_artifact(path: str | os.PathLike, *, kind: str | None = None, map_location: Any = "cpu") -> Artifact:
    """Rebuild a model from an artifact folder written by :func:`save_artifact`.

    Parameters
    ----------
    path : str or Path
        Artifact folder, or its ``config.json`` / ``model.pt``.
    kind : str, optional
        Expected kind (e.g. ``"segmenter"``); anything else raises FileFormatError.
    map_location : str or torch.device, default "cpu"
        Where the weights are loaded.

    Returns
    -------
    Artifact
        ``model`` in eval mode, ``config``, ``meta`` (the JSON), ``path``.

    Raises
    ------
    MissingFileError, FileFormatError
        Not a semlab artifact, of another kind, weights missing, damaged or not matching
        the config.
    """
    import torch

    from semlab._util import file_sha256

    meta = read_artifact_config(path, kind=kind)
    folder = _artifact_folder(path)
    weights = folder / str(meta.get("weights", ARTIFACT_WEIGHTS))
    if not weights.is_file():
        raise FileFormatError(f"{folder}: {weights.name} is missing; the artifact is incomplete, train or copy it again")
    expected = meta.get("weights_sha256")
    if expected and file_sha256(weights) != expected:
        raise FileFormatError(
            f"{weights}: does not match the hash in {ARTIFACT_CONFIG} (replaced or damaged); train or copy it again"
        )
    try:
        spec = get_spec(meta["kind"], meta["name"])
    except ParameterError:
        raise FileFormatError(
            f"{folder}: needs {meta['kind']} {meta['name']!r}, which this semlab does not provide; update semlab"
        ) from None
    try:
        config = make_config(meta["kind"], meta["name"], meta["config"])
    except ParameterError as exc:
        raise FileFormatError(f"{folder}: config does not fit this semlab ({exc})") from None
    model = spec.factory(config)
    try:
        state = torch.load(weights, map_location=map_location, weights_only=True)
        model.load_state_dict(state)
    except Exception as exc:  # torch raises many types on foreign or damaged files
        raise FileFormatError(f"{weights}: cannot be loaded into {meta['name']} ({str(exc).splitlines()[0]})") from None
    model.eval()
    return Artifact(model=model, config=config, meta=meta, path=folder)
