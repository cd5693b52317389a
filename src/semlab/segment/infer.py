"""Tiled U-Net inference with overlap blending, for images of any size and for stacks.

torch is imported inside the functions.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from semlab.errors import FileFormatError, ParameterError
from semlab.segment._common import image_2d, positive_int
from semlab.training import resolve_device

__all__ = ["Segmenter", "load_segmenter", "network_input"]

#: Default preprocessing of a segmenter's input.
DEFAULT_PREPROCESSING = {"equalize": "none", "standardize": "image", "downsample": 1}


def network_input(image: np.ndarray, preprocessing: dict[str, Any] | None = None) -> np.ndarray:
    """Grey image → the network's input: equalize to [0, 1], then standardise.

    Parameters
    ----------
    image : (M, N) ndarray
        Grey image, any real dtype.
    preprocessing : dict, optional
        ``equalize``: a method of :func:`semlab.preprocess.equalize` (``"none"`` scales by
        the dtype range for unsigned integers, min–max otherwise); ``standardize``:
        ``"image"`` (zero mean, unit variance per image) or ``"none"``; ``downsample``: an
        integer factor by which the image is shrunk (block means) before the network, so
        that its field of view covers more of the image (probabilities are interpolated
        back to full size by :meth:`Segmenter.predict_proba`).

    Returns
    -------
    (M, N) ndarray of float32
    """
    from semlab.preprocess import Preparation, prepare_image

    prep = {**DEFAULT_PREPROCESSING, **(preprocessing or {})}
    a = image_2d(image, "network_input")
    # the shared recipe's grey-value step (no data-bar crop: labels keep the image's shape)
    x = prepare_image(a, Preparation(crop_databar=False, equalize=prep["equalize"])).image
    x = np.nan_to_num(x, nan=0.0)
    k = int(prep.get("downsample", 1))
    if k > 1:
        x = downsample_mean(x, k)
    if prep["standardize"] == "image":
        x = (x - x.mean()) / max(float(x.std()), 1e-3)
    elif prep["standardize"] != "none":
        raise ParameterError(f"standardize={prep['standardize']!r} is not 'image' or 'none'")
    return x.astype(np.float32)


def downsample_mean(x: np.ndarray, k: int) -> np.ndarray:
    """Shrink a 2-D array by the integer factor ``k`` with block means (edges padded)."""
    rows, cols = x.shape
    pr, pc = (-rows) % k, (-cols) % k
    if pr or pc:
        x = np.pad(x, ((0, pr), (0, pc)), mode="edge")
    return x.reshape(x.shape[0] // k, k, x.shape[1] // k, k).mean(axis=(1, 3)).astype(np.float32)


def downsample_labels(y: np.ndarray, k: int) -> np.ndarray:
    """Shrink an integer label image by ``k``: the label at each block's centre pixel."""
    rows, cols = y.shape
    pr, pc = (-rows) % k, (-cols) % k
    if pr or pc:
        y = np.pad(y, ((0, pr), (0, pc)), mode="edge")
    return np.ascontiguousarray(y[k // 2 :: k, k // 2 :: k])


def _upsample_probs(p: np.ndarray, k: int, shape: tuple[int, int]) -> np.ndarray:
    """(C, m, n) probabilities of block-mean pixels → (C, M, N) by bilinear interpolation."""
    from scipy.ndimage import map_coordinates

    rr = (np.arange(shape[0]) + 0.5) / k - 0.5
    cc = (np.arange(shape[1]) + 0.5) / k - 0.5
    grid = np.meshgrid(rr, cc, indexing="ij")
    return np.stack([map_coordinates(c, grid, order=1, mode="nearest") for c in p]).astype(np.float32)


def _pad_to(x: np.ndarray, multiple: int) -> tuple[np.ndarray, tuple[int, int]]:
    rows, cols = x.shape
    pr, pc = (-rows) % multiple, (-cols) % multiple
    if pr or pc:
        mode: Literal["reflect", "symmetric"] = "reflect" if min(rows, cols) > max(pr, pc) else "symmetric"
        x = np.pad(x, ((0, pr), (0, pc)), mode=mode)
    return x, (rows, cols)


def _forward_probs(model: Any, batch: np.ndarray, device: Any) -> np.ndarray:
    """(B, H, W) float32 → (B, C, H, W) softmax probabilities."""
    import torch

    with torch.inference_mode():
        x = torch.from_numpy(np.ascontiguousarray(batch[:, None])).to(device)
        return torch.softmax(model(x), dim=1).float().cpu().numpy()


#: Tiles handed to an ONNX runtime per call (it cuts them into requests run on every core).
FAST_CHUNK = 16


def _forward(
    seg: Segmenter, model: Any, runtime: str, dev: Any, n_tiles: int, shape: tuple[int, int]
) -> tuple[Callable[[np.ndarray], np.ndarray], str, int]:
    """``(forward, runtime label, tiles per call)`` for ``n_tiles`` tiles of ``shape``
    (``n_tiles=0``: the whole image at once).

    ``runtime`` as in :meth:`Segmenter.predict_proba`; a fast runtime that cannot export,
    run or match torch (:func:`semlab.segment._runtime.unet_session`) gives torch, with a warning.
    """
    from semlab._onnx import resolve_runtime, runtime_label
    from semlab.segment import _runtime as rt

    engine = resolve_runtime(runtime, device=dev, precision="fp32")
    if runtime == "auto" and engine != "torch" and n_tiles < rt.AUTO_MIN_TILES:
        # few tiles: not worth opening a session; a whole image: a new shape to compile and check
        engine = engine if n_tiles and rt.has_session(model, engine) else "torch"
    if engine != "torch":
        try:
            session = rt.unet_session(model, engine, folder=seg.path)
            session.check(*shape)
            return session, session.label, FAST_CHUNK
        except RuntimeError as exc:
            warnings.warn(f"{exc}; segmenting with torch", RuntimeWarning, stacklevel=3)
    return (lambda batch: _forward_probs(model, batch, dev)), runtime_label("torch"), 0


@dataclass(frozen=True, eq=False)
class Segmenter:
    """A trained segmentation network with what it needs to read images.

    Attributes
    ----------
    model : torch.nn.Module
        Maps (B, 1, H, W) standardised images to class logits (B, C, H, W).
    classes : tuple of int
        The label value written for each output channel (e.g. ``(0, 255)``).
    class_names : tuple of str
        A name per class.
    preprocessing : dict
        See :func:`network_input`.
    path : Path or None
        The artifact folder it was loaded from.
    meta : dict
        The artifact's ``config.json``.
    """

    model: Any
    classes: tuple[int, ...]
    class_names: tuple[str, ...]
    preprocessing: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_PREPROCESSING))
    path: Path | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    # runtime label per thread id (the web app runs jobs on a thread pool with one cached
    # Segmenter); a plain dict, so a Segmenter still deep-copies
    _used: dict[int, str] = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def multiple(self) -> int:
        """Network input sides must be multiples of this many pixels."""
        return int(getattr(getattr(self.model, "config", None), "multiple", 1))

    @property
    def last_runtime(self) -> str | None:
        """What ran the network in this thread's last :meth:`predict_proba` call (e.g.
        ``"openvino 2026.4.0 fp32 (ONNX)"`` or ``"torch 2.9.1"``; :func:`semlab._onnx.runtime_label`),
        None before any."""
        return self._used.get(threading.get_ident())

    def to_dict(self) -> dict[str, Any]:
        cfg_to_dict = getattr(getattr(self.model, "config", None), "to_dict", None)
        return {
            "path": None if self.path is None else str(self.path),
            "classes": list(self.classes),
            "class_names": list(self.class_names),
            "preprocessing": dict(self.preprocessing),
            "config": cfg_to_dict() if callable(cfg_to_dict) else None,
        }

    def predict_proba(
        self,
        image: np.ndarray,
        *,
        tile_size: int | None = 256,
        overlap: int = 32,
        batch_size: int = 4,
        device: Any = "auto",
        runtime: str = "auto",
    ) -> np.ndarray:
        """Class probabilities of every pixel.

        Parameters
        ----------
        image : (M, N) ndarray
            Grey image of any size and dtype.
        tile_size : int or None, default 256
            Side of the square tiles the image is cut into (a multiple of
            :attr:`multiple`); neighbouring tiles' softmax outputs are blended with weights
            that ramp down over ``overlap`` pixels towards each tile edge, so seams do not
            show.  ``None`` runs the whole image at once (padded to a multiple).
        overlap : int, default 32
            Overlap of neighbouring tiles in pixels (at most half a tile; larger values
            are reduced to ``tile_size // 2``).
        batch_size : int, default 4
            Tiles per torch forward pass (the ONNX runtimes take 16 per call and cut them
            into requests themselves).
        device : "auto", "cpu", "cuda" or torch.device
            ``"auto"`` uses CUDA when available.
        runtime : {"auto", "torch", "openvino", "onnxruntime"}, default "auto"
            What runs the network.  ``"openvino"`` / ``"onnxruntime"``: the network exported
            to ONNX once per weights (cached on disk, :func:`semlab._onnx.onnx_cache_dir`),
            each tile shape checked against torch fp32 once (probabilities within 1e-4);
            CPU only.  ``"auto"``: OpenVINO, else ONNX Runtime, when installed, on a CPU,
            for 8 tiles or more (or fewer once a session is open); else torch, and torch for
            ``tile_size=None`` (a runtime compiles and checks each new shape: name it to use it
            there).  Tiles/s of each: ``benchmarks/results/unet_runtime.json``.  Where the export or
            the check fails, torch runs, with a warning.  :attr:`last_runtime` says which ran.

        Returns
        -------
        (C, M, N) ndarray of float32
            Probabilities summing to 1 over the classes.
        """
        from semlab.preprocess import tile, untile

        full = image_2d(image, "predict_proba").shape
        k = int(self.preprocessing.get("downsample", 1))
        x = network_input(image, self.preprocessing)  # shrunk by k
        batch_size = positive_int(batch_size, "batch_size")
        dev = resolve_device(device)
        model = self.model.to(dev).eval()
        m = self.multiple
        if tile_size is None:
            padded, (rows, cols) = _pad_to(x, m)
            forward, label, _ = _forward(self, model, runtime, dev, 0, padded.shape)
            self._used[threading.get_ident()] = label
            probs = forward(padded[None])[0][:, :rows, :cols]
            return _upsample_probs(probs, k, full) if k > 1 else probs
        tile_size = positive_int(tile_size, "tile_size")
        if tile_size % m:
            raise ParameterError(f"tile_size={tile_size} must be a multiple of {m} for this network (depth)")
        overlap = min(positive_int(overlap, "overlap", minimum=0), tile_size // 2)
        tiles, grid = tile(x, tile_size, overlap=overlap)
        forward, label, chunk = _forward(self, model, runtime, dev, len(tiles), (tile_size, tile_size))
        self._used[threading.get_ident()] = label
        chunk = chunk or batch_size
        out = np.empty((len(tiles), len(self.classes), tile_size, tile_size), dtype=np.float32)
        for s in range(0, len(tiles), chunk):
            out[s : s + chunk] = forward(tiles[s : s + chunk])
        probs = untile(np.moveaxis(out, 1, -1), grid, blend="linear")
        probs = np.moveaxis(probs, -1, 0)
        if k > 1:
            probs = _upsample_probs(probs, k, full)
        return (probs / probs.sum(axis=0, keepdims=True)).astype(np.float32)

    def predict(self, image: np.ndarray, **options: Any) -> np.ndarray:
        """(M, N) label image (the class values in :attr:`classes`); ``options`` as in
        :meth:`predict_proba`."""
        probs = self.predict_proba(image, **options)
        values = np.asarray(self.classes)
        dtype = np.uint8 if values.min() >= 0 and values.max() < 256 else np.int32
        return values[np.argmax(probs, axis=0)].astype(dtype)

    def predict_stack(self, volume: np.ndarray, **options: Any) -> np.ndarray:
        """(P, M, N) labels of a (P, M, N) stack, segmented slice by slice."""
        v = np.asarray(volume)
        if v.ndim != 3 or v.size == 0:
            raise ParameterError(
                f"volume has shape {v.shape}; predict_stack takes a non-empty (P, M, N) stack"
            )
        return np.stack([self.predict(s, **options) for s in v])


def load_segmenter(path: str | os.PathLike, *, device: Any = "cpu") -> Segmenter:
    """Load a segmenter artifact folder written by :func:`train_segmenter`.

    Raises
    ------
    MissingFileError, FileFormatError
        No such folder, or it does not hold a semlab segmenter.
    """
    from semlab.registry import load_artifact

    art = load_artifact(path, kind="segmenter", map_location=device)
    extra = art.meta.get("extra") or {}
    classes = tuple(int(c) for c in extra.get("classes", range(art.config.n_classes)))
    if len(classes) != art.config.n_classes:
        raise FileFormatError(
            f"{art.path}: config.json lists {len(classes)} classes for a {art.config.n_classes}-class network"
        )
    names: Sequence[str] = extra.get("class_names") or [f"class_{c}" for c in classes]
    return Segmenter(
        model=art.model,
        classes=classes,
        class_names=tuple(str(n) for n in names),
        preprocessing={**DEFAULT_PREPROCESSING, **(art.meta.get("preprocessing") or {})},
        path=art.path,
        meta=art.meta,
    )
