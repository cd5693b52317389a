"""The generic pieces of the fast exact inference path (ONNX export, OpenVINO, ONNX Runtime).

Shared by :mod:`semlab.features.runtime` (CNN backbones) and :mod:`semlab.segment` (the U-Net's
tiled inference), which may not import each other: which runtime runs
(:func:`resolve_runtime`), its threads (:func:`physical_cores`), the export cache folder
(:func:`onnx_cache_dir`) and its atomic writes (:func:`cached_export`), the export itself
(:func:`export_module`: torch's dynamo exporter, the TorchScript one where that fails), a
provenance label (:func:`runtime_label`) and the runners of an exported file
(:func:`ort_runner`, :func:`ov_runner`).

This module imports torch, onnx, onnxruntime and openvino only inside its functions.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import threading
import warnings
from collections.abc import Callable
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import numpy as np

from semlab.errors import ParameterError

__all__ = [
    "CACHE_ENV",
    "FAST_RUNTIMES",
    "OPSET",
    "RUNTIMES",
    "cached_export",
    "cosine",
    "export_module",
    "fingerprint",
    "installed",
    "onnx_cache_dir",
    "ort_runner",
    "ov_runner",
    "physical_cores",
    "resolve_runtime",
    "runtime_label",
    "state_dict_sha256",
]

#: Values of the ``runtime`` option.
RUNTIMES = ("auto", "torch", "onnxruntime", "openvino")
#: The ONNX runtimes, in the order ``"auto"`` tries them (fastest measured here first: for the
#: backbones ``benchmarks/results/features.json``, for the U-Net ``benchmarks/results/unet_runtime.json``).
FAST_RUNTIMES = ("openvino", "onnxruntime")
#: ONNX opset of the exports.
OPSET = 18
#: Environment variable naming the export cache folder.
CACHE_ENV = "SEMLAB_CACHE_DIR"

_log = logging.getLogger("semlab")
_PACKAGES = {"onnxruntime": "onnxruntime", "openvino": "openvino"}


def installed(name: str) -> bool:
    """Whether the runtime ``name`` (``"onnxruntime"``/``"openvino"``) and onnx are installed."""
    return find_spec(_PACKAGES[name]) is not None and find_spec("onnx") is not None


def resolve_runtime(runtime: str, *, device: Any = "cpu", precision: str = "fp32") -> str:
    """The runtime that will run: ``"torch"``, ``"onnxruntime"`` or ``"openvino"``.

    ``"auto"`` is the first installed of :data:`FAST_RUNTIMES` on a CPU in fp32, and torch
    elsewhere (a CUDA device, bf16).  A runtime asked for by name must be installed and
    fit the device and precision, else a ParameterError says what to change.
    """
    if runtime not in RUNTIMES:
        raise ParameterError(f"runtime={runtime!r} is not one of {', '.join(RUNTIMES)}")
    dev_type = getattr(device, "type", str(device).split(":")[0])
    if runtime == "torch":
        return "torch"
    if runtime == "auto":
        if dev_type != "cpu" or precision != "fp32":
            return "torch"
        return next((r for r in FAST_RUNTIMES if installed(r)), "torch")
    if dev_type != "cpu":
        raise ParameterError(f"runtime={runtime!r} runs on the CPU; use device='cpu' or runtime='torch'")
    if precision != "fp32":
        raise ParameterError(
            f"runtime={runtime!r} computes fp32 only; use precision='fp32' or runtime='torch'"
        )
    if not installed(runtime):
        raise ParameterError(
            f"runtime={runtime!r} needs the onnx and {_PACKAGES[runtime]} packages; "
            "pip install 'semlab[fast]' or use runtime='torch'"
        )
    return runtime


def physical_cores() -> int:
    """Physical cores this process may run on (hyper-threads of one core count once), capped
    by ``OMP_NUM_THREADS`` when set (a Ray worker gets its share of the node that way)."""
    env = os.environ.get("OMP_NUM_THREADS", "").strip()
    cap = int(env) if env.isdigit() and int(env) > 0 else None
    n = _physical_cores()
    return min(n, cap) if cap else n


def _physical_cores() -> int:
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, (os.cpu_count() or 2) // 2)
    cores = set()
    for c in cpus:
        base = Path(f"/sys/devices/system/cpu/cpu{c}/topology")
        try:
            pkg = (base / "physical_package_id").read_text().strip()
            core = (base / "core_id").read_text().strip()
        except OSError:
            return max(1, len(cpus))
        cores.add((pkg, core))
    return max(1, len(cores))


def onnx_cache_dir() -> Path:
    """Folder of the cached ONNX exports: ``$SEMLAB_CACHE_DIR/onnx``, else
    ``$XDG_CACHE_HOME/semlab/onnx``, else ``~/.cache/semlab/onnx``."""
    root = os.environ.get(CACHE_ENV)
    if root:
        return Path(root) / "onnx"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "semlab" / "onnx"


def runtime_label(runtime: str) -> str:
    """``"<runtime> <version> fp32"`` for provenance (``"torch <version>"`` for torch)."""
    from importlib.metadata import PackageNotFoundError, version

    dist = {"torch": "torch", "onnxruntime": "onnxruntime", "openvino": "openvino"}[runtime]
    try:
        ver = version(dist)
    except PackageNotFoundError:  # pragma: no cover
        ver = "?"
    return f"{runtime} {ver}" + ("" if runtime == "torch" else " fp32 (ONNX)")


def state_dict_sha256(state: Any) -> str:
    """SHA-256 (hex) of a state dict: each key, dtype, shape and the tensor bytes, in order."""
    import torch

    h = hashlib.sha256()
    for key, tensor in state.items():
        t = tensor.detach().cpu().contiguous()
        h.update(key.encode())
        h.update(str(t.dtype).encode())
        h.update(str(tuple(t.shape)).encode())
        if t.numel():
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def fingerprint(model: Any) -> tuple:
    """Changes whenever a parameter or buffer is replaced or modified in place (e.g. by training)."""
    return tuple((t.data_ptr(), t._version) for t in model.state_dict(keep_vars=True).values())


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Smallest cosine similarity of the rows of ``a`` and ``b`` (rows of zeros count as 1)."""
    a, b = a.reshape(len(a), -1), b.reshape(len(b), -1)
    num = (a * b).sum(1)
    den = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return float(np.min(np.where(den > 0, num / np.maximum(den, 1e-30), 1.0)))


# --------------------------------------------------------------------------- export


def export_module(
    module: Any,
    example: Any,
    path: Path,
    *,
    input_name: str,
    output_names: list[str],
    dynamic: dict[int, int],
) -> str:
    """Write the ONNX graph of ``module`` (one input tensor) to ``path``; returns the exporter used.

    ``dynamic`` maps each free axis of the input to the multiple its size must be (1: any
    size), e.g. ``{0: 1}`` for a dynamic batch.  torch's dynamo exporter (``torch.export``)
    first; the TorchScript exporter where that fails.
    """
    import torch

    names: dict[str, Any] = {
        "input_names": [input_name],
        "output_names": output_names,
        "opset_version": OPSET,
    }
    with open(os.devnull, "w") as sink, warnings.catch_warnings(), contextlib.redirect_stdout(sink):
        warnings.simplefilter("ignore")
        try:
            dims: dict[int, Any] = {}
            for axis, multiple in dynamic.items():
                if multiple == 1:
                    dims[axis] = torch.export.Dim(f"d{axis}", min=1, max=65536)
                else:
                    dims[axis] = multiple * torch.export.Dim(f"d{axis}", min=1, max=max(1, 65536 // multiple))
            torch.onnx.export(
                module,
                (example,),
                str(path),
                dynamo=True,
                external_data=False,
                dynamic_shapes={input_name: dims},
                verbose=False,
                **names,
            )
            return f"torch.onnx.export(dynamo=True) torch {torch.__version__}"
        except Exception as exc:  # noqa: BLE001 - any failure: the older exporter
            _log.info("dynamo ONNX export failed (%s); using the TorchScript exporter", type(exc).__name__)
        axes = {n: {a: f"d{a}" for a in dynamic} for n in [input_name, *output_names]}
        torch.onnx.export(
            module, (example,), str(path), dynamo=False, dynamic_axes=axes, do_constant_folding=True, **names
        )
        return f"torch.onnx.export(dynamo=False) torch {torch.__version__}"


def cached_export(
    stem: str, ident: dict[str, Any], write: Callable[[Path], dict[str, Any]], *, refresh: bool = False
) -> tuple[Path, dict[str, Any]]:
    """``(path, metadata)`` of the export ``<stem>.onnx`` in :func:`onnx_cache_dir`, written once.

    ``write(tmp)`` writes the ONNX file to ``tmp`` and returns metadata to store beside
    ``ident`` in ``<stem>.json``; both files are written atomically.  ``refresh`` exports again
    even when the cache has the file (e.g. a damaged one); damaged metadata does too.
    """
    from semlab._util import atomic_path, write_json

    folder = onnx_cache_dir()
    path, meta_path = folder / f"{stem}.onnx", folder / f"{stem}.json"
    if not refresh and path.is_file() and meta_path.is_file():
        try:
            return path, json.loads(meta_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            pass  # damaged metadata: export again
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        extra = write(tmp)
        for data in tmp.parent.glob(f"{tmp.name}.data"):  # pragma: no cover - external data is off
            data.unlink()
    meta = {**ident, **extra, "file": path.name}
    write_json(meta_path, meta)
    return path, meta


# --------------------------------------------------------------------------- runners


def ort_runner(path: Path, threads: int, sub_batch: int) -> Callable[[np.ndarray], list[np.ndarray]]:
    """``run(x) -> outputs`` of an ONNX file in ONNX Runtime (``threads`` intra-op threads, one
    call per ``sub_batch`` items of ``x``: small calls keep the activations in cache)."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name

    def run(x: np.ndarray) -> list[np.ndarray]:
        parts = [sess.run(None, {name: x[i : i + sub_batch]}) for i in range(0, len(x), sub_batch)]
        return [np.concatenate([p[k] for p in parts]) for k in range(len(parts[0]))] if parts else []

    return run


def ov_runner(path: Path, threads: int, sub_batch: int) -> Callable[[np.ndarray], list[np.ndarray]]:
    """``run(x) -> outputs`` of an ONNX file in OpenVINO, in throughput mode.

    One stream per core; ``x`` is cut into sub-batches of ``sub_batch`` items (the last one
    zero-padded) run asynchronously, two requests per stream, on the graph reshaped to that
    static batch and to ``x``'s other axes (compiled once per shape).  Items must be
    independent (the outputs are those of one request of the whole batch).
    """
    import openvino as ov

    core = ov.Core()
    model = core.read_model(str(path))
    config = {
        "PERFORMANCE_HINT": "THROUGHPUT",
        "NUM_STREAMS": threads,
        "INFERENCE_NUM_THREADS": threads,
        "INFERENCE_PRECISION_HINT": "f32",
    }
    n_out = len(model.outputs)
    queues: dict[tuple[int, ...], Any] = {}
    results: dict[int, list[np.ndarray]] = {}

    def done(request: Any, i: int) -> None:
        results[i] = [np.array(request.get_output_tensor(k).data) for k in range(n_out)]

    def queue_for(shape: tuple[int, ...]) -> Any:
        if shape not in queues:
            model.reshape({0: [sub_batch, *shape]})
            compiled = core.compile_model(model, "CPU", config)
            optimal = max(1, int(compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")))
            queues[shape] = ov.AsyncInferQueue(compiled, 2 * optimal)
            queues[shape].set_callback(done)
        return queues[shape]

    lock = threading.Lock()  # one set of queues: one call at a time (ONNX Runtime's run is thread-safe)

    def run(x: np.ndarray) -> list[np.ndarray]:
        with lock:
            queue = queue_for(tuple(int(v) for v in x.shape[1:]))
            results.clear()
            n = len(x)
            pad = -n % sub_batch
            if pad:
                x = np.concatenate([x, np.zeros((pad, *x.shape[1:]), dtype=x.dtype)])
            parts = [np.ascontiguousarray(x[i : i + sub_batch]) for i in range(0, len(x), sub_batch)]
            for i, part in enumerate(parts):
                queue.start_async({0: part}, userdata=i)
            queue.wait_all()
            if len(results) != len(parts):
                raise RuntimeError(f"OpenVINO returned {len(results)} of {len(parts)} sub-batches")
            return [np.concatenate([results[i][k] for i in range(len(parts))])[:n] for k in range(n_out)]

    return run
