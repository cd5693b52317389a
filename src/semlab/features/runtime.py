"""Fast exact CNN inference: the backbone exported to ONNX, run by OpenVINO or ONNX Runtime.

A backbone (and the pooled-feature head, exactly as :func:`semlab.features.extract_features`
computes it with torch) is exported to ONNX once per model name, weights SHA-256, opset,
input layout and feature sets; the file is cached on disk (:func:`onnx_cache_dir`) and run
in fp32 by OpenVINO or ONNX Runtime, whichever is installed (``"auto"`` prefers OpenVINO,
the faster of the two here: ``benchmarks/results/features.json``).  Every session is checked
against torch on random patches once (cosine similarity of the features >= 0.9999); where
that fails, or no runtime is installed, extraction uses torch and says so.

The graph's input is the grey patch batch ``(b, 1, H, W)`` in [0, 1] at the model's input
size; the per-channel normalisation (mean, std of the model's data config) and the grey →
RGB replication are part of the graph, folded exactly into the first convolution where the
model allows (:func:`_grey_stem_model`: one input channel plus a constant map).  Its outputs are the pooled final features
(``"final"``) and/or the stage statistics (``"multiscale"``) of
:func:`semlab.features.extract.stage_statistics`.

This module imports torch, onnx, onnxruntime and openvino only inside its functions.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import json
import logging
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from semlab._onnx import (
    CACHE_ENV as CACHE_ENV,
)
from semlab._onnx import (
    FAST_RUNTIMES,
    OPSET,
    RUNTIMES,
    cached_export,
    cosine,
    export_module,
    installed,
    onnx_cache_dir,
    ort_runner,
    ov_runner,
    physical_cores,
    resolve_runtime,
    runtime_label,
)
from semlab.errors import ParameterError

if TYPE_CHECKING:
    from semlab.features.backbones import Backbone

__all__ = [
    "FAST_RUNTIMES",
    "RUNTIMES",
    "FastSession",
    "current_runtime",
    "export_onnx",
    "fast_session",
    "onnx_cache_dir",
    "physical_cores",
    "resolve_runtime",
    "runtime_label",
    "use_runtime",
]

# RUNTIMES, FAST_RUNTIMES, OPSET, CACHE_ENV, resolve_runtime, physical_cores, onnx_cache_dir and
# runtime_label live in semlab._onnx (shared with the U-Net's inference) and are re-exported here.
#: Input layout of the exported graph (part of the cache key).
LAYOUT = "grey-b1hw-unit-v2"
#: Smallest cosine similarity to torch fp32 a session must reach on its check patches.
MIN_COSINE = 0.9999
#: Patches per OpenVINO request (the batch is cut into these, run on one stream per core):
#: small requests keep each stream's activations in its core's cache (2: 1.2x the
#: throughput of 8 on the 2-core benchmark machine, 4 requests of a static shape).
OV_SUB_BATCH = 2
#: Patches per ONNX Runtime call (the batch is run in these, one after the other; 4: 1.4x
#: the throughput of one call of 32 on the 2-core benchmark machine, activations stay in cache).
ORT_SUB_BATCH = 4

_log = logging.getLogger("semlab.features")
_installed = installed
# Per backbone model: {(fingerprint, runtime, sets, threads): FastSession}.  Dropped with the model.
_SESSIONS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_CURRENT: contextvars.ContextVar[str] = contextvars.ContextVar("semlab_runtime", default="auto")


@contextlib.contextmanager
def use_runtime(runtime: str) -> Iterator[None]:
    """Run the CNN feature extraction inside the block with ``runtime`` (one of :data:`RUNTIMES`).

    :func:`semlab.features.embed_workspace` (and what calls it) takes its runtime from here,
    ``"auto"`` outside any block; ``semlab embed --runtime`` sets it.
    """
    if runtime not in RUNTIMES:
        raise ParameterError(f"runtime={runtime!r} is not one of {', '.join(RUNTIMES)}")
    token = _CURRENT.set(runtime)
    try:
        yield
    finally:
        _CURRENT.reset(token)


def current_runtime() -> str:
    """The runtime of the innermost :func:`use_runtime` block, ``"auto"`` outside any."""
    return _CURRENT.get()


# --------------------------------------------------------------------------- export


def _grey_stem_model(bb: Backbone) -> Any | None:
    """A copy of the model whose first convolution takes the grey patch (b, 1, H, W) directly.

    The normalised input is ``x_c = g / s_c - m_c / s_c`` in each channel ``c``, so a first
    convolution ``conv(x)`` (zero padding, one group) equals ``conv1(g) + K``: ``conv1`` has the
    weights ``sum_c W_c / s_c`` on one channel, and ``K = conv(planes of -m_c / s_c)`` (bias and
    the effect of the padding at the borders included) is a constant map of the input size.
    Exact up to float rounding, a third of the stem's work and no 3-channel input.  None where
    the model's first convolution does not take the model input as it is, or the copy's
    features differ from the model's (cosine < 0.99999).
    """
    import copy

    import torch
    from torch import nn

    from semlab.features.extract import make_input

    model, cfg = bb.model.eval(), bb.data_config
    side = tuple(cfg["input_size"][1:])
    grey = torch.from_numpy(_check_patches(bb)[:, 0])
    x = make_input(grey, cfg, channels_last=False)
    first: list[tuple[str, Any]] = []
    names = {m: n for n, m in model.named_modules()}
    hooks = [
        m.register_forward_pre_hook(
            lambda mod, inp: first.append((names[mod], inp[0])) if not first else None
        )
        for m in model.modules()
        if isinstance(m, nn.Conv2d)
    ]
    try:
        with torch.inference_mode():
            ref = _pooled_of(model, x)
    finally:
        for h in hooks:
            h.remove()
    if not first or first[0][1] is not x:
        return None
    name, _ = first[0]
    conv = dict(model.named_modules())[name]
    if conv.groups != 1 or conv.padding_mode != "zeros" or conv.in_channels != 3:
        return None
    inv_s = 1.0 / torch.tensor(cfg["std"], dtype=torch.float32)
    planes = (-torch.tensor(cfg["mean"], dtype=torch.float32) * inv_s).view(1, 3, 1, 1).expand(1, 3, *side)
    with torch.no_grad():
        k_map = conv(planes.contiguous()).detach().clone()
        one = copy.deepcopy(conv)
        one.weight = nn.Parameter((conv.weight * inv_s.view(1, 3, 1, 1)).sum(1, keepdim=True))
        one.bias = None
        one.in_channels = 1

    class GreyStem(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = one
            self.register_buffer("k_map", k_map)

        def forward(self, g: Any) -> Any:
            return self.conv(g) + self.k_map

    stemmed = copy.deepcopy(model)
    parent_name, _, attr = name.rpartition(".")
    setattr(dict(stemmed.named_modules())[parent_name] if parent_name else stemmed, attr, GreyStem())
    try:
        with torch.inference_mode():
            got = _pooled_of(stemmed, grey[:, None])
        cos = torch.nn.functional.cosine_similarity(ref.flatten(1), got.flatten(1), dim=1).min().item()
    except Exception:  # noqa: BLE001 - the model uses its input elsewhere too: no stem folding
        return None
    return stemmed.eval() if cos >= 0.99999 else None


def _pooled_of(model: Any, x: Any) -> Any:
    """Pooled pre-classifier features of a timm model (as :func:`semlab.features.extract_features`)."""
    from semlab.features import extract

    return extract._pooled(model, x)


def _graph_module(bb: Backbone, sets: tuple[str, ...], *, grey_stem: bool = False) -> Any:
    """A torch module: grey (b, 1, H, W) in [0, 1] → the feature sets, as extraction computes them.

    With ``grey_stem``, the model's first convolution takes the grey patch directly
    (:func:`_grey_stem_model`) where that is exact; ``module.grey_stem`` says whether it does.
    """
    import torch
    from torch import nn

    from semlab.features import extract

    stemmed = _grey_stem_model(bb) if grey_stem else None

    class Features(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = stemmed if stemmed is not None else bb.model
            self.grey_stem = stemmed is not None
            cfg = bb.data_config
            self.register_buffer("mean", torch.tensor(cfg["mean"], dtype=torch.float32).view(1, 3, 1, 1))
            inv = 1.0 / torch.tensor(cfg["std"], dtype=torch.float32).view(1, 3, 1, 1)
            self.register_buffer("inv_std", inv)
            self.stages = extract._stage_names(bb.model) if "multiscale" in sets else []

        def forward(self, grey: Any) -> tuple[Any, ...]:
            # (b, 1) broadcast to (b, 3): grey in every channel, unless the stem takes the grey patch
            x = grey if self.grey_stem else (grey - self.mean) * self.inv_std
            caught: list[Any] = []
            modules = dict(self.model.named_modules())
            hooks = [
                modules[n].register_forward_hook(lambda m, i, o: caught.append(extract.stage_statistics(o)))
                for n in self.stages
            ]
            try:
                if "final" in sets:
                    y = extract._pooled(self.model, x)
                    y = y if y.ndim == 2 else y.flatten(1)
                else:
                    self.model.forward_features(x)
            finally:
                for h in hooks:
                    h.remove()
            out: dict[str, Any] = {"final": y if "final" in sets else None}
            if self.stages:
                out["multiscale"] = torch.cat(caught, dim=1)
            return tuple(out[s].float() for s in sets)

    return Features().eval()


def _cache_key(bb: Backbone, sets: tuple[str, ...]) -> tuple[str, dict[str, Any]]:
    from semlab.features.backbones import state_dict_sha256

    side = list(bb.data_config["input_size"])
    ident = {
        "model": bb.name,
        "weights_sha256": state_dict_sha256(bb.model.state_dict()),
        "opset": OPSET,
        "layout": LAYOUT,
        "input_size": side,
        "mean": list(bb.data_config["mean"]),
        "std": list(bb.data_config["std"]),
        "sets": list(sets),
    }
    digest = hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:16]
    return f"{bb.name}-{'+'.join(sets)}-opset{OPSET}-{digest}", ident


def _export(module: Any, side: tuple[int, int], sets: tuple[str, ...], path: Path) -> str:
    """Write the ONNX graph of ``module`` to ``path`` with a dynamic batch axis; returns the
    exporter used (:func:`semlab._onnx.export_module`)."""
    import torch

    example = torch.rand((2, 1, *side), generator=torch.Generator().manual_seed(0))
    return export_module(module, example, path, input_name="grey", output_names=list(sets), dynamic={0: 1})


def export_onnx(
    bb: Backbone, *, sets: tuple[str, ...] = ("final",), refresh: bool = False
) -> tuple[Path, dict]:
    """The cached ONNX export of a backbone's feature head: (path, metadata).

    Parameters
    ----------
    bb : Backbone
    sets : tuple of {"final", "multiscale"}
        Outputs of the graph, in this order.
    refresh : bool, default False
        Export again even when the cache has the file (e.g. a damaged one).

    Notes
    -----
    The file ``<name>-<sets>-opset<N>-<key>.onnx`` (``key``: SHA-256 of the model name, the
    weights' SHA-256, opset, input layout, input size, normalisation and sets) and its
    ``.json`` metadata are written atomically to :func:`onnx_cache_dir`.
    """
    stem, ident = _cache_key(bb, sets)

    def write(tmp: Path) -> dict[str, Any]:
        side = tuple(int(v) for v in bb.data_config["input_size"][1:])
        module = _graph_module(bb, sets, grey_stem=True)
        exporter = _export(module, (side[0], side[1]), sets, tmp)
        return {"exporter": exporter, "grey_stem": bool(module.grey_stem)}

    return cached_export(stem, ident, write, refresh=refresh)


# --------------------------------------------------------------------------- sessions


@dataclass(frozen=True, eq=False)
class FastSession:
    """An ONNX Runtime or OpenVINO session of a backbone's exported feature head.

    Attributes
    ----------
    runtime : str
        ``"onnxruntime"`` or ``"openvino"``.
    sets : tuple of str
        Outputs, in order (``"final"``, ``"multiscale"``).
    threads : int
        Intra-op threads (physical cores).
    label : str
        Runtime and version, for provenance.
    export : dict
        The export's metadata (exporter, opset, weights SHA-256, file).
    cosine : float
        Smallest cosine similarity to torch fp32 on the check patches.
    """

    runtime: str
    sets: tuple[str, ...]
    threads: int
    label: str
    export: dict
    cosine: float
    _run: Any

    def __call__(self, grey: np.ndarray) -> dict[str, np.ndarray]:
        """``{set: (b, d) float32}`` of grey patches ``(b, 1, H, W)`` float32 in [0, 1]."""
        outs = self._run(np.ascontiguousarray(grey, dtype=np.float32))
        return {s: np.asarray(o, dtype=np.float32) for s, o in zip(self.sets, outs, strict=True)}


def _ort_runner(path: Path, threads: int) -> Any:
    """ONNX Runtime, the batch run in calls of :data:`ORT_SUB_BATCH` patches."""
    return ort_runner(path, threads, ORT_SUB_BATCH)


def _ov_runner(path: Path, threads: int) -> Any:
    """OpenVINO in throughput mode: one stream per core, the batch cut into sub-batches of
    :data:`OV_SUB_BATCH` (the last one zero-padded) run asynchronously on a graph reshaped to
    that static batch, two requests per stream.  Patches are independent, so the numbers are
    those of one request of the whole batch; 1.2x the dynamic-batch requests of 8 here."""
    return ov_runner(path, threads, OV_SUB_BATCH)


def _check_patches(bb: Backbone) -> np.ndarray:
    side = tuple(bb.data_config["input_size"][1:])
    rng = np.random.default_rng(0)
    smooth = np.cumsum(np.cumsum(rng.standard_normal((3, *side)), axis=1), axis=2)
    smooth = (smooth - smooth.min(axis=(1, 2), keepdims=True)) / np.ptp(smooth, axis=(1, 2), keepdims=True)
    noise = rng.random((1, *side))
    return np.concatenate([smooth, noise]).astype(np.float32)[:, None]


_cosine = cosine  # the smallest row cosine (kept under its old name)


def _torch_reference(bb: Backbone, grey: np.ndarray, sets: tuple[str, ...]) -> dict[str, np.ndarray]:
    import torch

    module = _graph_module(bb, sets)
    with torch.inference_mode():
        outs = module(torch.from_numpy(grey))
    return {s: o.numpy() for s, o in zip(sets, outs, strict=True)}


def _open_session(bb: Backbone, runtime: str, sets: tuple[str, ...], threads: int) -> FastSession:
    """Export (or reuse the cached export), open it and check it against torch."""
    path, meta = export_onnx(bb, sets=sets)
    maker = _ort_runner if runtime == "onnxruntime" else _ov_runner
    grey = _check_patches(bb)
    ref = _torch_reference(bb, grey, sets)
    for attempt in range(2):
        try:
            run = maker(path, threads)
            got = dict(zip(sets, run(grey), strict=True))
            cos = min(_cosine(ref[s], np.asarray(got[s])) for s in sets)
        except Exception as exc:  # noqa: BLE001 - a damaged cache file: export again, once
            if attempt:
                raise
            _log.info("cached ONNX export %s cannot be run (%s); exporting again", path, type(exc).__name__)
            path, meta = export_onnx(bb, sets=sets, refresh=True)
            continue
        if cos >= MIN_COSINE or attempt:
            break
        path, meta = export_onnx(bb, sets=sets, refresh=True)
    if not cos >= MIN_COSINE:
        raise RuntimeError(f"{runtime} features differ from torch (cosine {cos:.6f} < {MIN_COSINE})")
    return FastSession(runtime, sets, threads, runtime_label(runtime), meta, cos, run)


def fast_session(bb: Backbone, runtime: str, sets: tuple[str, ...] = ("final",)) -> FastSession:
    """The checked session of a backbone for ``runtime`` (made once per model and weights).

    Raises RuntimeError when the export cannot be run or its features differ from torch
    fp32 (cosine < :data:`MIN_COSINE`); :func:`semlab.features.extract_features` then uses
    torch with a warning.
    """
    from semlab.features.extract import _fingerprint

    bb.model.eval()
    threads = physical_cores()
    key = (_fingerprint(bb.model), runtime, tuple(sets), threads)
    per_model = _SESSIONS.setdefault(bb.model, {})
    hit = per_model.get(key)
    if hit is None:
        hit = _open_session(bb, runtime, tuple(sets), threads)
        for old in [k for k in per_model if k[0] != key[0]]:  # older weights' sessions are stale
            del per_model[old]
        per_model[key] = hit
    return hit


def has_session(bb: Backbone, runtime: str, sets: tuple[str, ...]) -> bool:
    """Whether a checked session of this backbone, runtime and sets is open already."""
    from semlab.features.extract import _fingerprint

    per_model = _SESSIONS.get(bb.model) or {}
    return (_fingerprint(bb.model), runtime, tuple(sets), physical_cores()) in per_model
