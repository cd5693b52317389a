"""Fast exact U-Net inference: the network exported to ONNX once, run by OpenVINO or ONNX Runtime.

A segmenter's network with its softmax (tiles ``(b, 1, H, W)`` of :func:`network_input` values
→ class probabilities ``(b, C, H, W)``) is exported to ONNX once per network class, config,
weights SHA-256, opset and layout, with free batch, height and width (multiples of the
network's :attr:`Segmenter.multiple`); the file is cached in
:func:`semlab._onnx.onnx_cache_dir` beside a JSON of its key and the model folder it came
from.  The runtimes, threads and cache are those of the backbones
(:mod:`semlab.features.runtime`), shared through :mod:`semlab._onnx`.

Every tile shape a session meets is checked once against torch fp32 on two synthetic tiles
(largest absolute difference of the probabilities <= :data:`MAX_ABS_DIFF`); where the export,
the runtime or the check fails, :meth:`Segmenter.predict_proba` uses torch with a warning.

This module imports torch, onnx, onnxruntime and openvino only inside its functions.
"""

from __future__ import annotations

import hashlib
import json
import threading
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from semlab._onnx import (
    OPSET,
    cached_export,
    export_module,
    fingerprint,
    ort_runner,
    ov_runner,
    physical_cores,
    runtime_label,
    state_dict_sha256,
)

__all__ = ["MAX_ABS_DIFF", "UNetSession", "export_unet", "has_session", "unet_session"]

#: Input layout of the exported graph (part of the cache key): standardised grey tiles in,
#: softmax probabilities out.
LAYOUT = "unet-b1hw-standardised-softmax-v1"
#: Largest absolute difference of the probabilities to torch fp32 a session may have on its
#: check tiles.
MAX_ABS_DIFF = 1e-4
#: Tiles per OpenVINO request (one stream per core, two requests per stream).
OV_SUB_BATCH = 1
#: Tiles per ONNX Runtime call (2: ~1.1x the tiles/s of 1 or 4 for both U-Nets of
#: benchmarks/results/unet_runtime.json, "sub_batch"; OpenVINO: 1, 2 and 4 alike, 1 pads nothing).
ORT_SUB_BATCH = 2
#: ``runtime="auto"`` uses torch for fewer tiles than this unless a session is open already
#: (opening one costs about a second with the export cached, 5-15 s without).
AUTO_MIN_TILES = 8

# Per network: {(fingerprint, runtime, threads): UNetSession or the error text}.  Dropped with the network.
_SESSIONS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _probs_module(model: Any) -> Any:
    """``model`` followed by the softmax over the classes (what the tiles are blended from)."""
    import torch
    from torch import nn

    class Probabilities(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = model

        def forward(self, x: Any) -> Any:
            return torch.softmax(self.net(x), dim=1).float()

    return Probabilities().eval()


def _cache_key(model: Any) -> tuple[str, dict[str, Any]]:
    cfg = getattr(model, "config", None)
    to_dict = getattr(cfg, "to_dict", None)
    cfg_dict = to_dict() if callable(to_dict) else None
    name = type(model).__name__
    ident = {
        "model": name,
        "config": cfg_dict,
        "multiple": _multiple(model),
        "weights_sha256": state_dict_sha256(model.state_dict()),
        "opset": OPSET,
        "layout": LAYOUT,
    }
    digest = hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return f"segmenter-{name.lower()}-opset{OPSET}-{digest}", ident


def _multiple(model: Any) -> int:
    return int(getattr(getattr(model, "config", None), "multiple", 1))


def export_unet(model: Any, *, folder: Path | None = None, refresh: bool = False) -> tuple[Path, dict]:
    """The cached ONNX export of a segmentation network with its softmax: (path, metadata).

    Parameters
    ----------
    model : torch.nn.Module
        (B, 1, H, W) → logits (B, C, H, W), e.g. :attr:`Segmenter.model`; put in eval mode.
    folder : Path, optional
        The model folder it was loaded from (recorded in the metadata, not part of the key).
    refresh : bool, default False
        Export again even when the cache has the file (e.g. a damaged one).

    Notes
    -----
    The file ``segmenter-<class>-opset<N>-<key>.onnx`` (``key``: SHA-256 of the network class,
    its config, the weights' SHA-256, opset and layout) and its ``.json`` metadata are written
    atomically to :func:`semlab._onnx.onnx_cache_dir`.
    """
    import torch

    stem, ident = _cache_key(model.eval())
    m = _multiple(model)

    def write(tmp: Path) -> dict[str, Any]:
        side = m * max(1, -(-64 // m))
        example = torch.from_numpy(_check_tiles(2, side))
        dynamic = {0: 1, 2: m, 3: m}
        exporter = export_module(
            _probs_module(model),
            example,
            tmp,
            input_name="tiles",
            output_names=["probabilities"],
            dynamic=dynamic,
        )
        return {"exporter": exporter, "model_folder": None if folder is None else str(folder)}

    return cached_export(stem, ident, write, refresh=refresh)


def _check_tiles(n: int, rows: int, cols: int | None = None) -> np.ndarray:
    """(n, 1, rows, cols) standardised tiles: smooth random fields (structure at many scales) and noise."""
    cols = rows if cols is None else cols
    rng = np.random.default_rng(0)
    f = np.cumsum(np.cumsum(rng.standard_normal((n, rows, cols)), axis=1), axis=2)
    f[(n + 1) // 2 :] = rng.standard_normal((n - (n + 1) // 2, rows, cols))  # one tile: the smooth field
    f = (f - f.mean(axis=(1, 2), keepdims=True)) / np.maximum(f.std(axis=(1, 2), keepdims=True), 1e-3)
    return f.astype(np.float32)[:, None]


@dataclass(frozen=True, eq=False)
class UNetSession:
    """An ONNX Runtime or OpenVINO session of a segmentation network's export.

    Attributes
    ----------
    runtime : str
        ``"onnxruntime"`` or ``"openvino"``.
    threads : int
        Intra-op threads (physical cores).
    label : str
        Runtime and version, for provenance.
    export : dict
        The export's metadata (exporter, opset, weights SHA-256, file, model folder).
    checked : dict
        Tile shape ``(rows, cols)`` → largest absolute difference of the probabilities to
        torch fp32 on the check tiles of that shape (filled as shapes are met).
    """

    runtime: str
    threads: int
    label: str
    export: dict
    _run: Any
    _model: Any = field(repr=False)  # weakref.ref to the torch network (the reference)
    checked: dict = field(default_factory=dict)
    _lock: Any = field(default_factory=threading.Lock, repr=False)

    def check(self, rows: int, cols: int) -> float:
        """Largest absolute difference of the probabilities to torch fp32 on two check tiles of
        this shape (one above 512 x 512 px; computed once per shape); RuntimeError when above
        :data:`MAX_ABS_DIFF`."""
        import torch

        with self._lock:
            if (rows, cols) not in self.checked:
                tiles = _check_tiles(
                    2 if rows * cols <= 512 * 512 else 1, rows, cols
                )  # 1: a large whole image
                model = self._model()
                if model is None:
                    raise RuntimeError("the network of this session is gone")
                with torch.inference_mode():
                    ref = _probs_module(model)(torch.from_numpy(tiles)).numpy()
                got = np.asarray(self._run(tiles)[0])
                self.checked[(rows, cols)] = (
                    float(np.abs(got - ref).max()) if got.shape == ref.shape else np.inf
                )
        diff = self.checked[(rows, cols)]
        if not diff <= MAX_ABS_DIFF:
            raise RuntimeError(
                f"{self.runtime} probabilities differ from torch by {diff:.2e} > {MAX_ABS_DIFF} on {rows}x{cols} tiles"
            )
        return diff

    def __call__(self, tiles: np.ndarray) -> np.ndarray:
        """(B, C, H, W) float32 probabilities of (B, H, W) network-input tiles (checked shapes only)."""
        self.check(int(tiles.shape[1]), int(tiles.shape[2]))
        x = np.ascontiguousarray(tiles[:, None], dtype=np.float32)
        return np.asarray(self._run(x)[0], dtype=np.float32)


def _open(model: Any, runtime: str, threads: int, folder: Path | None) -> UNetSession:
    """Export (or reuse the cached export) and open it; a cached file that cannot be run is exported again."""
    path, meta = export_unet(model, folder=folder)
    maker = ort_runner if runtime == "onnxruntime" else ov_runner
    sub = ORT_SUB_BATCH if runtime == "onnxruntime" else OV_SUB_BATCH
    try:
        run = maker(path, threads, sub)
    except Exception:  # noqa: BLE001 - a damaged cache file: export again, once
        path, meta = export_unet(model, folder=folder, refresh=True)
        run = maker(path, threads, sub)
    return UNetSession(runtime, threads, runtime_label(runtime), meta, run, weakref.ref(model))


def unet_session(model: Any, runtime: str, *, folder: Path | None = None) -> UNetSession:
    """The session of a segmentation network for ``runtime`` (opened once per network and weights).

    Raises RuntimeError when the network cannot be exported or run (the reason is kept: later
    calls raise it again without retrying); :meth:`Segmenter.predict_proba` then uses torch.
    """
    model.eval()
    threads = physical_cores()
    key = (fingerprint(model), runtime, threads)
    per_model = _SESSIONS.setdefault(model, {})
    hit = per_model.get(key)
    if hit is None:
        try:
            hit = _open(model, runtime, threads, folder)
        except Exception as exc:  # noqa: BLE001 - any failure: torch, with the reason
            hit = f"{runtime} could not run this network ({type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:200]})"
        for old in [k for k in per_model if k[0] != key[0]]:  # older weights' sessions are stale
            del per_model[old]
        per_model[key] = hit
    if isinstance(hit, str):
        raise RuntimeError(hit)
    return hit


def has_session(model: Any, runtime: str) -> bool:
    """Whether a working session of this network (with these weights) and runtime is open."""
    per_model = _SESSIONS.get(model) or {}
    return isinstance(per_model.get((fingerprint(model), runtime, physical_cores())), UNetSession)
