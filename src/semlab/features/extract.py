"""Batched feature extraction from grey patches with a timm backbone."""

from __future__ import annotations

import contextlib
import numbers
import os
import warnings
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from semlab.errors import ParameterError
from semlab.training import device_of, resolve_device

if TYPE_CHECKING:
    from semlab.features.backbones import Backbone

__all__ = ["PRECISIONS", "extract_features", "resolve_precision"]

_MODEL_CACHE: dict[tuple, Backbone] = {}
_MODEL_CACHE_SIZE = 2


#: Values of the ``precision`` option.
PRECISIONS = ("auto", "fp32", "bf16")


def resolve_precision(precision: str, device: Any) -> str:
    """``"fp32"`` or ``"bf16"``: ``"auto"`` is bf16 where the hardware computes it natively.

    Native bf16 means a CPU with AMX or AVX512-BF16 instructions, or a CUDA GPU with bf16
    support; elsewhere bf16 would be emulated (slow), so ``"auto"`` gives fp32.
    """
    import torch

    if precision not in PRECISIONS:
        raise ParameterError(f"precision={precision!r} is not one of {', '.join(PRECISIONS)}")
    if precision != "auto":
        return precision
    dev = resolve_device(device)
    if dev.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    cpu = getattr(torch, "cpu", None)
    native = any(
        bool(getattr(cpu, f, lambda: False)())
        for f in ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    )
    return "bf16" if native else "fp32"


def _cpu_count() -> int:
    """The cores this process may use: ``OMP_NUM_THREADS`` when set (a Ray worker gets its
    share of the node that way), else the CPU affinity."""
    env = os.environ.get("OMP_NUM_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


@contextlib.contextmanager
def _threads() -> Iterator[None]:
    """Use every core this process may run on (restored afterwards)."""
    import torch

    before = torch.get_num_threads()
    want = _cpu_count()
    if want != before:
        torch.set_num_threads(want)
    try:
        yield
    finally:
        if want != before:
            torch.set_num_threads(before)


def get_backbone(
    backbone: str | Backbone, *, pretrained: bool = True, weights: str | os.PathLike | None = None
) -> Backbone:
    """A :class:`Backbone` as given, or built by name (the last two are kept for re-use)."""
    from semlab.features.backbones import Backbone, create_backbone

    if isinstance(backbone, Backbone):
        return backbone
    if not isinstance(backbone, str):
        raise ParameterError(f"backbone={backbone!r} must be a timm model name or a Backbone")
    stamp = None
    if weights is not None:
        p = Path(weights)
        stamp = (os.path.abspath(p), p.stat().st_mtime_ns, p.stat().st_size) if p.exists() else str(p)
    key = (backbone, bool(pretrained), stamp)
    hit = _MODEL_CACHE.get(key)
    if hit is None:
        hit = create_backbone(backbone, pretrained=pretrained, weights=weights)
        _MODEL_CACHE[key] = hit
        while len(_MODEL_CACHE) > _MODEL_CACHE_SIZE:
            _MODEL_CACHE.pop(next(iter(_MODEL_CACHE)))
    return hit


def _as_unit_patches(patches: Any) -> np.ndarray:
    """(n, H, W) float32 in [0, 1] from an array or a list of equal-shape 2-D arrays."""
    if isinstance(patches, (list, tuple)):
        if not patches:
            raise ParameterError("patches is empty; give an (n, H, W) array of grey patches")
        shapes = {np.shape(p) for p in patches}
        if len(shapes) != 1:
            raise ParameterError(
                f"patches have different shapes {sorted(shapes)[:3]}; give equal-size patches"
            )
        patches = np.stack([np.asarray(p) for p in patches])
    a = np.asarray(patches)
    if a.ndim == 2:
        a = a[None]
    if a.ndim != 3:
        raise ParameterError(
            f"patches have shape {a.shape}; give an (n, H, W) array of grey patches in [0, 1]"
        )
    if a.shape[1] < 1 or a.shape[2] < 1:
        raise ParameterError(f"patches have shape {a.shape}; each patch needs at least one pixel")
    kind = a.dtype.kind
    if kind == "b":
        return a.astype(np.float32)
    if kind == "u":
        return (a.astype(np.float32) / float(np.iinfo(a.dtype).max)).astype(np.float32)
    if kind not in "fi":
        raise ParameterError(f"patches have dtype {a.dtype}; give real grey values in [0, 1]")
    a = a.astype(np.float32, copy=False)
    if a.size:
        lo, hi = float(np.min(a)), float(np.max(a))
        if not (np.isfinite(lo) and np.isfinite(hi)):
            raise ParameterError("patches contain NaN or infinite values; give grey values in [0, 1]")
        if lo < -1e-3 or hi > 1.001:
            raise ParameterError(
                f"patch values span [{lo:.3g}, {hi:.3g}]; give grey values in [0, 1] "
                "(semlab.preprocess.equalize or rescale_unit scale them)"
            )
    return a


def _interp_mode(name: str) -> str:
    return {"bicubic": "bicubic", "bilinear": "bilinear", "nearest": "nearest"}.get(str(name), "bilinear")


def resize_grey(chunk: Any, data_config: dict[str, Any], *, device: Any = "cpu") -> Any:
    """Grey patches (b, h, w) in [0, 1] as a (b, 1, H, W) float32 tensor at the model's input size.

    Interpolation from the data config, antialiased when shrinking; unchanged when the
    patches already have the input size.
    """
    import torch
    import torch.nn.functional as F

    x = chunk if isinstance(chunk, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(chunk))
    x = x.to(device=device, dtype=torch.float32, non_blocking=True)[:, None]
    _, h_in, w_in = data_config["input_size"]
    if x.shape[-2:] != (h_in, w_in):
        mode = _interp_mode(data_config.get("interpolation", "bilinear"))
        shrink = x.shape[-2] > h_in or x.shape[-1] > w_in
        kwargs: dict[str, Any] = {} if mode == "nearest" else {"align_corners": False, "antialias": shrink}
        x = F.interpolate(x, size=(h_in, w_in), mode=mode, **kwargs)
    return x


def make_input(
    chunk: Any, data_config: dict[str, Any], *, device: Any = "cpu", channels_last: bool = True
) -> Any:
    """Model input (b, 3, H, W) from grey patches (b, h, w) in [0, 1].

    Each patch is resized to the model's ``input_size`` (interpolation from its data config,
    antialiased when shrinking), replicated to 3 channels and normalised with the config's
    per-channel ``mean`` and ``std``.  Works on a whole batch of tensors at once.
    """
    import torch

    x = resize_grey(chunk, data_config, device=device)
    mean = torch.tensor(data_config["mean"], dtype=torch.float32, device=x.device).view(1, 3, 1, 1)
    inv_std = 1.0 / torch.tensor(data_config["std"], dtype=torch.float32, device=x.device).view(1, 3, 1, 1)
    x = (x - mean) * inv_std  # (b, 1, H, W) broadcast to (b, 3, H, W): the grey value in all channels
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    return x


def _pooled(model: Any, x: Any) -> Any:
    """Pooled pre-classifier features of a timm model."""
    if getattr(model, "num_classes", 0) and hasattr(model, "forward_head"):
        return model.forward_head(model.forward_features(x), pre_logits=True)
    return model(x)


def extract_features(
    patches: Any,
    *,
    backbone: str | Backbone = "efficientnet_lite0",
    pretrained: bool = True,
    weights: str | os.PathLike | None = None,
    batch_size: int = 32,
    device: str = "auto",
    precision: str = "fp32",
    runtime: str = "auto",
    progress: Callable[[int, int], None] | None = None,
    **embed_options: Any,
) -> Any:
    """Backbone features of grey patches, batched.

    Parameters
    ----------
    patches : (n, H, W) ndarray, list of 2-D arrays, Workspace or path
        Grey patches with values in [0, 1] (uint8/uint16 are scaled by their range).  A
        :class:`~semlab.dataset.Workspace` (or its folder) is embedded with
        :func:`embed_workspace` instead, and its :class:`FeatureTable` returned;
        ``embed_options`` (``patch_size``, ``patches_per_image``, ``seed``) go there.
    backbone : str or Backbone, default "efficientnet_lite0"
        timm model name (built with :func:`create_backbone`, kept for re-use) or a ready
        :class:`Backbone`.
    pretrained, weights
        How a backbone given by name gets its weights (see :func:`create_backbone`).
    batch_size : int, default 32
        Patches per forward pass.
    device : {"auto", "cpu", "cuda"}, default "auto"
        Where to run; ``"auto"`` uses CUDA when available.  The model is moved there.
    precision : {"fp32", "auto", "bf16"}, default "fp32"
        Arithmetic of the convolutions and matrix products: ``"bf16"`` (autocast) is 2-3×
        faster on CPUs with AMX / AVX512-BF16 and on GPUs, and changes features by a cosine
        similarity of about 0.9993 (EfficientNet-Lite0) to 0.99999 (ConvNeXt-Tiny) against
        fp32; ``"auto"`` uses it where the hardware computes bf16 natively, fp32 elsewhere.
    progress : callable, optional
        ``progress(done, total)`` after each batch, in patches.

    Returns
    -------
    (n, d) ndarray of float32
        Pooled features, one row per patch (``d = Backbone.num_features``).

    Notes
    -----
    Preprocessing follows the model's own data config: each patch is resized to its
    input size, replicated to 3 channels and normalised by its mean and std, all on
    tensors for a whole batch.  Inference runs under ``torch.inference_mode`` on every
    core available to the process; from 64 patches on, on a copy of the model with its
    batch norms folded into the convolutions, in channels-last layout (checked against
    the model once and kept until the model's weights change).
    """
    from semlab.dataset import Workspace

    if isinstance(patches, (Workspace, str, os.PathLike)):
        from semlab.features.embed import embed_workspace
        from semlab.features.runtime import use_runtime

        with use_runtime(runtime):
            return embed_workspace(
                patches,
                backbone=backbone,
                pretrained=pretrained,
                weights=weights,
                batch_size=batch_size,
                device=device,
                precision=precision,
                progress=progress,
                **embed_options,
            )
    if embed_options:
        raise ParameterError(
            f"extract_features got unknown option(s) {', '.join(sorted(embed_options))} for an array of patches"
        )
    if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
        raise ParameterError(f"batch_size={batch_size!r} must be an integer >= 1")
    a = _as_unit_patches(patches)
    bb = get_backbone(backbone, pretrained=pretrained, weights=weights)
    dev = resolve_device(device)
    prec = resolve_precision(precision, dev)
    engine = choose_runtime(runtime, bb, dev, prec, a.shape[0])
    return _run(bb, a, int(batch_size), dev, progress, prec, runtime=engine)


def choose_runtime(
    runtime: str, bb: Backbone | None, dev: Any, precision: str, n: int, sets: tuple[str, ...] = ("final",)
) -> str:
    """The runtime for ``n`` patches: :func:`~semlab.features.runtime.resolve_runtime`, and
    with ``"auto"`` torch for fewer than 64 patches unless a fast session is open already
    (exporting costs seconds; few patches do not repay it)."""
    from semlab.features import runtime as rt

    engine = rt.resolve_runtime(runtime, device=dev, precision=precision)
    if runtime == "auto" and engine != "torch" and n < _FAST_MIN_PATCHES:
        if bb is None or not rt.has_session(bb, engine, _fast_sets(sets)):
            return "torch"
    return engine


def _fast_sets(sets: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(s for s in ("final", "multiscale") if s in sets)


# --------------------------------------------------------------------------- inference copy

# Per backbone model: (fingerprint, device, inference copy).  Weak keys: dropped with the model.
_INFERENCE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
#: Patches from which extraction makes the fast inference copy of a backbone.
_FAST_MIN_PATCHES = 64


def _fingerprint(model: Any) -> tuple:
    """Changes whenever a parameter or buffer is replaced or modified in place (e.g. by training)."""
    from semlab._onnx import fingerprint

    return fingerprint(model)


def fold_batchnorm(model: Any, example: Any) -> int:
    """Fold eval-mode batch norms into the convolutions that feed them, in place.

    The layers called in one forward pass of ``example`` are recorded; each BatchNorm2d whose
    input is the output of the convolution called just before it (each called once) is
    folded into that convolution's weight and bias and replaced by its activation (timm's
    ``BatchNormAct2d``) or an identity.  Returns the number of folded pairs.  The caller
    checks the folded model against the original.
    """
    import torch
    from torch import nn

    calls: list[tuple[str, Any, Any]] = []
    hooks = []
    for name, m in model.named_modules():
        if isinstance(m, (nn.Conv2d, nn.BatchNorm2d)):
            hooks.append(m.register_forward_hook(lambda mod, i, o, name=name: calls.append((name, i[0], o))))
    try:
        with torch.inference_mode():
            model(example)
    finally:
        for h in hooks:
            h.remove()
    counts: dict[str, int] = {}
    for name, _, _ in calls:
        counts[name] = counts.get(name, 0) + 1
    modules = dict(model.named_modules())
    folded = 0
    for (prev, _, out), (cur, inp, _) in zip(calls, calls[1:], strict=False):
        conv, bn = modules[prev], modules[cur]
        if not (isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d)):
            continue
        if inp is not out or counts[prev] != 1 or counts[cur] != 1:
            continue
        if bn.running_var is None or bn.running_mean is None:
            continue
        with torch.no_grad():
            scale = torch.rsqrt(bn.running_var + bn.eps)
            if bn.affine:
                scale = scale * bn.weight
            shift = -bn.running_mean * scale + (bn.bias if bn.affine else 0.0)
            bias = conv.bias * scale + shift if conv.bias is not None else shift
            conv.weight.mul_(scale.view(-1, 1, 1, 1))
            conv.bias = nn.Parameter(bias.clone())
        parent_name, _, attr = cur.rpartition(".")
        parent = modules[parent_name] if parent_name else model
        after = [getattr(bn, k) for k in ("drop", "act") if isinstance(getattr(bn, k, None), nn.Module)]
        setattr(parent, attr, nn.Sequential(*after) if after else nn.Identity())
        folded += 1
    return folded


def _inference_model(bb: Backbone, dev: Any) -> Any:
    """A copy of the backbone for fast inference: batch norms folded, channels-last, on ``dev``.

    The copy is checked against the model (cosine similarity of pooled features >= 0.99999
    on random input) and kept until the model's weights change; the model itself is only
    put in eval mode.
    """
    import copy

    import torch

    model = bb.model
    model.eval()
    key = (_fingerprint(model), str(dev))
    hit = _INFERENCE.get(model)
    if hit is not None and hit[0] == key:
        return hit[1]
    fast = copy.deepcopy(model).to(dev).eval()
    side = bb.data_config["input_size"][1:]
    gen = torch.Generator().manual_seed(0)
    grey = torch.rand((2, *side), generator=gen)
    x = make_input(grey, bb.data_config, device=dev, channels_last=False)
    # the reference runs where the copy runs, without moving the caller's model (a move inside
    # inference mode would also turn its weights into inference tensors)
    ref_model = model if _same_device(device_of(model), dev) else copy.deepcopy(model).to(dev)
    try:
        if fold_batchnorm(fast, x):
            with torch.inference_mode():
                ref = _pooled(ref_model, x).flatten(1).float()
                got = _pooled(fast, x).flatten(1).float()
            cos = torch.nn.functional.cosine_similarity(ref, got, dim=1).min().item()
            if not cos >= 0.99999:
                fast = copy.deepcopy(model).to(dev).eval()
    except Exception:  # any model the folding does not understand: use it as it is
        fast = copy.deepcopy(model).to(dev).eval()
    fast.to(memory_format=torch.channels_last)
    for p in fast.parameters():
        p.requires_grad_(False)
    _INFERENCE[model] = (key, fast)
    return fast


def _model_for(bb: Backbone, dev: Any, n: int) -> tuple[Any, bool]:
    """(model, channels_last): the fast inference copy when it exists or ``n`` repays making it.

    Making the copy costs a few forward passes (and CPU kernels are set up anew for each new
    input shape), which only pays off for many patches; few patches use the model as it is.
    """
    hit = _INFERENCE.get(bb.model)
    if (
        n >= _FAST_MIN_PATCHES
        or (hit is not None and hit[0] == (_fingerprint(bb.model), str(dev)))
        or not _same_device(device_of(bb.model), dev)  # never move the caller's model
    ):
        return _inference_model(bb, dev), True
    bb.model.eval()
    return bb.model, False


def _same_device(a: Any, b: Any) -> bool:
    """``a`` and ``b`` name the same device (``"cuda"`` is the current CUDA device)."""
    import torch

    def norm(d: Any) -> Any:
        d = torch.device(d)
        return (
            torch.device("cuda", torch.cuda.current_device()) if d.type == "cuda" and d.index is None else d
        )

    return bool(norm(a) == norm(b))


@contextlib.contextmanager
def _exact_fp32(dev: Any, precision: str) -> Iterator[None]:
    """On CUDA, fp32 means fp32: TF32 convolutions and matrix products are switched off while
    extracting (they change features by a cosine of about 1e-5 against the CPU), then restored."""
    import torch

    if torch.device(dev).type != "cuda" or precision == "bf16":
        yield
        return
    old = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = old


def _stage_names(model: Any) -> list[str]:
    """Module names of a timm model's feature stages (``feature_info``: one per reduction)."""
    info = getattr(model, "feature_info", None)
    names = [d.get("module") for d in info] if isinstance(info, (list, tuple)) else []
    names = [n for n in names if isinstance(n, str) and n]
    if not names:
        raise ParameterError(
            f"backbone {type(model).__name__} lists no feature stages (timm feature_info); "
            "use feature_set='final' or another timm model"
        )
    return names


def stage_channels(bb: Backbone) -> list[int]:
    """Channels of each feature stage of a backbone (timm ``feature_info``)."""
    info = getattr(bb.model, "feature_info", None) or []
    return [int(d["num_chs"]) for d in info if isinstance(d.get("module"), str) and d.get("module")]


#: Channels the Gram statistic of a stage is computed on (a fixed projection of wider stages).
GRAM_CHANNELS = 16
#: Seed of the fixed orthonormal channel projections of the Gram statistic.
GRAM_SEED = 0


def multiscale_width(channels: list[int]) -> int:
    """Width of the multiscale features of stages with these channel counts."""
    return sum(2 * c + _gram_k(c) * (_gram_k(c) + 1) // 2 for c in channels)


def _gram_k(c: int) -> int:
    return min(int(c), GRAM_CHANNELS)


def _projection(c: int, device: Any) -> Any:
    """(c, k) matrix with orthonormal columns (identity for c <= k), seeded."""
    import torch

    k = _gram_k(c)
    if c <= k:
        return torch.eye(c, device=device)
    g = np.random.default_rng([GRAM_SEED, c]).standard_normal((c, k))
    q, _ = np.linalg.qr(g)
    return torch.from_numpy(q.astype(np.float32)).to(device)


def stage_statistics(f: Any) -> Any:
    """(b, 2C + k(k+1)/2) statistics of a stage's activations ``f`` (b, C, h, w), float32.

    Per channel the spatial mean and standard deviation; then the Gram matrix (second
    moments about the mean, divided by h·w) of the map projected on ``k = min(C, 16)``
    fixed orthonormal channel directions (seeded), its upper triangle with the diagonal.
    """
    import torch

    f = f.float()
    b, c = f.shape[:2]
    flat = f.reshape(b, c, -1)
    mean = flat.mean(dim=2)
    centred = flat - mean[:, :, None]
    std = centred.pow(2).mean(dim=2).sqrt()
    z = torch.einsum("bcn,ck->bkn", centred, _projection(c, f.device))
    gram = torch.bmm(z, z.transpose(1, 2)) / max(1, z.shape[2])
    iu = torch.triu_indices(gram.shape[1], gram.shape[1], device=f.device)
    return torch.cat([mean, std, gram[:, iu[0], iu[1]]], dim=1)


def _run(
    bb: Backbone,
    a: np.ndarray,
    batch_size: int,
    dev: Any,
    progress: Callable | None,
    precision: str = "fp32",
    sets: tuple[str, ...] | None = None,
    *,
    runtime: str = "torch",
    info: dict[str, Any] | None = None,
) -> Any:
    """Pooled final-layer features (n, d) of patches ``a`` (n, H, W); with ``sets``, a dict
    ``{"final": (n, d), "multiscale": (n, m)}`` of those asked, from one forward pass per batch.

    The multiscale features are :func:`stage_statistics` of each feature stage, caught by
    forward hooks, concatenated in stage order.  ``runtime`` is a resolved runtime
    (``"torch"``, ``"onnxruntime"``, ``"openvino"``); a fast session that cannot be made
    falls back to torch with a warning.  ``info["runtime"]`` gets the label of what ran.
    """
    if sets is None:
        return _run(bb, a, batch_size, dev, progress, precision, ("final",), runtime=runtime, info=info)[
            "final"
        ]
    if runtime != "torch" and a.shape[0]:
        from semlab.features import runtime as rt

        try:
            session = rt.fast_session(bb, runtime, _fast_sets(sets))
        except Exception as exc:  # noqa: BLE001 - any export/runtime failure: torch, said once
            warnings.warn(
                f"{runtime} cannot run {bb.name} ({type(exc).__name__}: {str(exc)[:120]}); using torch",
                RuntimeWarning,
                stacklevel=3,
            )
        else:
            if info is not None:
                info["runtime"] = session.label
            return _run_fast(session, bb, a, batch_size, progress)
    if info is not None:
        from semlab.features.runtime import runtime_label

        info["runtime"] = runtime_label("torch") + (" bf16" if precision == "bf16" else " fp32")
    return _run_torch(bb, a, batch_size, dev, progress, precision, sets)


def _run_fast(session: Any, bb: Backbone, a: np.ndarray, batch_size: int, progress: Callable | None) -> Any:
    """:func:`_run` on an ONNX session (patches of another size are resized with torch first)."""
    n = a.shape[0]
    out = {s: np.empty((n, 0), dtype=np.float32) for s in session.sets}
    cfg = bb.data_config
    same = tuple(a.shape[1:]) == tuple(cfg["input_size"][1:])

    def grey(start: int) -> np.ndarray:
        chunk = a[start : min(n, start + batch_size)]
        return chunk[:, None] if same else resize_grey(chunk, cfg).numpy()

    for start in range(0, n, batch_size):
        stop = min(n, start + batch_size)
        feats = session(grey(start))
        for s, f in feats.items():
            if out[s].shape[1] != f.shape[1]:
                out[s] = np.empty((n, f.shape[1]), dtype=np.float32)
            out[s][start:stop] = f
        if progress is not None:
            progress(stop, n)
    return out


def _run_torch(
    bb: Backbone,
    a: np.ndarray,
    batch_size: int,
    dev: Any,
    progress: Callable | None,
    precision: str,
    sets: tuple[str, ...],
) -> Any:
    """:func:`_run` with torch."""
    import torch

    n = a.shape[0]
    want_ms = "multiscale" in sets
    width = {"final": bb.num_features, "multiscale": multiscale_width(stage_channels(bb)) if want_ms else 0}
    out = {s: np.empty((n, width[s]), dtype=np.float32) for s in sets}
    if n == 0:
        return out
    with _threads():
        model, channels_last = _model_for(bb, dev, n)
    caught: list[Any] = []
    hooks = []
    if want_ms:
        modules = dict(model.named_modules())
        for name in _stage_names(model):
            hooks.append(
                modules[name].register_forward_hook(lambda m, i, o: caught.append(stage_statistics(o)))
            )
    low = precision == "bf16"
    try:
        with (
            _threads(),
            _exact_fp32(dev, precision),
            torch.inference_mode(),
            torch.autocast(dev.type, dtype=torch.bfloat16, enabled=low),
        ):
            for start in range(0, n, batch_size):
                stop = min(n, start + batch_size)
                x = make_input(a[start:stop], bb.data_config, device=dev, channels_last=channels_last)
                caught.clear()
                y = _pooled(model, x) if "final" in sets else model.forward_features(x)
                if "final" in sets:
                    out["final"][start:stop] = (y if y.ndim == 2 else y.flatten(1)).float().cpu().numpy()
                if want_ms:
                    out["multiscale"][start:stop] = torch.cat(caught, dim=1).float().cpu().numpy()
                if progress is not None:
                    progress(stop, n)
    finally:
        for h in hooks:
            h.remove()
    return out
