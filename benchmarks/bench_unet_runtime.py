"""U-Net tiled inference: torch fp32 vs the same network in ONNX Runtime and OpenVINO, in one run.

The image is a real SEM micrograph (``../shared/data/sem-metadata/test_tiff_Zeiss_SEM_1k.tif``,
the 690 rows above its data bar; a synthetic one where the data folder is absent), cut into
the tiles :meth:`semlab.segment.Segmenter.predict_proba` makes (256 px, overlap 32).  Two
networks with seeded random weights (speed does not depend on the weights; batch-norm
statistics perturbed as after training): the default plain U-Net (depth 4, width 16) and the
U-Net on an EfficientNet-Lite0 encoder (``encoder="efficientnet_lite0"``).

For each network:

* ``tiles_per_s``: the network alone on the same tiles (standardised grey values in,
  probabilities out): torch fp32 in batches of 4 (predict_proba's default) under
  ``torch.inference_mode``, and the ONNX export (:func:`semlab.segment._runtime.export_unet`)
  run by ONNX Runtime and OpenVINO exactly as predict_proba runs them (16 tiles per call, cut
  into requests of ``ORT_SUB_BATCH`` / ``OV_SUB_BATCH``).  Interleaved rounds, order reversed
  every other round (ABBA), so load from other processes hits every runtime alike; the medians.
* ``image_s``: the whole ``predict_proba`` per runtime (standardisation, tiling, network,
  blending), median of the rounds.
* ``speedup_vs_torch`` (tiles/s ratio), ``openvino_vs_onnxruntime``, ``max_abs_diff`` of the
  probabilities to torch and ``labels_differ`` (pixels whose arg-max differs) on the image.
* ``export_s`` (fresh cache) and ``open_s`` (cached export: session, compile, one shape check).
* ``sub_batch``: tiles/s of each runtime for requests of 1, 2 and 4 tiles (the constants' basis).

``default`` is the runtime ``runtime="auto"`` picks here (:func:`semlab._onnx.resolve_runtime`)
and ``default_is_fastest`` whether that is the fastest measured.  The machine load
(``os.getloadavg``) is recorded before and after: the machine is shared, so the ratios are the
figures to compare.  Writes ``benchmarks/results/unet_runtime.json``.

Usage: python benchmarks/bench_unet_runtime.py [--rounds R] [--no-encoder] [--out PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from semlab._util import atomic_path

RESULTS = Path(__file__).resolve().parent / "results" / "unet_runtime.json"
SEM = (
    Path(__file__).resolve().parents[1].parent
    / "shared"
    / "data"
    / "sem-metadata"
    / "test_tiff_Zeiss_SEM_1k.tif"
)
TILE, OVERLAP = 256, 32


def load_image() -> tuple[np.ndarray, str]:
    """The Zeiss SEM image above its data bar, else a synthetic sintered film of the same size."""
    if SEM.is_file():
        from semlab.io import read_micrograph

        return read_micrograph(SEM).image[:690], f"{SEM.name} rows 0-689 (real SEM, 8-bit)"
    from semlab.data import render_sintered_film

    return render_sintered_film(4, shape=(690, 1024), rng=0).content, "synthetic sintered film 690x1024"


def make_segmenter(encoder: str):
    import torch

    from semlab.registry import create
    from semlab.segment import Segmenter

    torch.manual_seed(0)
    opts = {"depth": 4, "width": 16} if encoder == "none" else {"encoder": encoder, "width": 16}
    model = create("segmenter", "unet", **opts).eval()
    for mod in model.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.5, 0.5)
            mod.running_var.uniform_(0.5, 2.0)
    return Segmenter(model=model, classes=(0, 1), class_names=("a", "b")), opts


def _rounds(fns: dict, n_rounds: int) -> dict[str, list[float]]:
    """Seconds per call of each function, interleaved rounds, order reversed every other round."""
    names = list(fns)
    for name in names:  # warm-up (OpenVINO compiles the tile shape, torch allocates)
        fns[name]()
    times: dict[str, list[float]] = {n: [] for n in names}
    for r in range(n_rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            t = time.perf_counter()
            fns[name]()
            times[name].append(time.perf_counter() - t)
    return times


def bench_network(encoder: str, image: np.ndarray, n_rounds: int, cache: Path) -> dict:
    import torch

    from semlab import _onnx
    from semlab.preprocess import tile
    from semlab.segment import _runtime as rt
    from semlab.segment import infer, network_input

    seg, opts = make_segmenter(encoder)
    tiles, _ = tile(network_input(image, seg.preprocessing), TILE, overlap=OVERLAP)
    n = len(tiles)
    fast = [r for r in _onnx.FAST_RUNTIMES if _onnx.installed(r)]
    export_s = open_s = None
    sessions = {}
    for i, r in enumerate(fast):
        os.environ[_onnx.CACHE_ENV] = str(cache / encoder)
        t = time.perf_counter()
        if i == 0:
            rt.export_unet(seg.model)
            export_s = time.perf_counter() - t
            t = time.perf_counter()
        sessions[r] = rt.unet_session(seg.model, r)
        sessions[r].check(TILE, TILE)
        open_s = {**(open_s or {}), r: time.perf_counter() - t}

    def torch_tiles():
        return np.concatenate(
            [infer._forward_probs(seg.model, tiles[s : s + 4], "cpu") for s in range(0, n, 4)]
        )

    def fast_tiles(r):
        return lambda: np.concatenate(
            [sessions[r](tiles[s : s + infer.FAST_CHUNK]) for s in range(0, n, infer.FAST_CHUNK)]
        )

    net = _rounds({"torch": torch_tiles, **{r: fast_tiles(r) for r in fast}}, n_rounds)
    whole = _rounds(
        {r: (lambda r=r: seg.predict_proba(image, runtime=r, device="cpu")) for r in ["torch", *fast]},
        n_rounds,
    )
    ref = seg.predict_proba(image, runtime="torch", device="cpu")
    tps = {r: n / float(np.median(v)) for r, v in net.items()}
    out: dict = {
        "model": {"name": "unet", **opts, "parameters": int(sum(p.numel() for p in seg.model.parameters()))},
        "tiles": n,
        "tile": TILE,
        "overlap": OVERLAP,
        "torch_threads": torch.get_num_threads(),
        "tiles_per_s": {r: round(v, 2) for r, v in tps.items()},
        "tiles_per_s_rounds": {r: [round(n / s, 2) for s in v] for r, v in net.items()},
        "image_s": {r: round(float(np.median(v)), 3) for r, v in whole.items()},
        "speedup_vs_torch": {r: round(tps[r] / tps["torch"], 2) for r in fast},
        "image_speedup_vs_torch": {
            r: round(float(np.median(whole["torch"]) / np.median(whole[r])), 2) for r in fast
        },
        "export_s": None if export_s is None else round(export_s, 2),
        "open_s": {r: round(v, 2) for r, v in (open_s or {}).items()},
        "max_abs_diff": {},
        "labels_differ": {},
        "sub_batch": {},
    }
    if len(fast) == 2:
        out["openvino_vs_onnxruntime"] = round(tps["openvino"] / tps["onnxruntime"], 2)
    for r in fast:
        got = seg.predict_proba(image, runtime=r, device="cpu")
        out["max_abs_diff"][r] = float(np.abs(got - ref).max())
        out["labels_differ"][r] = int((got.argmax(0) != ref.argmax(0)).sum())
        out["sub_batch"][r] = sub_batch_sweep(sessions[r].export["file"], cache / encoder, r, tiles, n_rounds)
    return out


def sub_batch_sweep(
    file: str, cache: Path, runtime: str, tiles: np.ndarray, n_rounds: int
) -> dict[str, float]:
    """tiles/s of the export with requests of 1, 2 and 4 tiles (16 tiles per call, as predict_proba)."""
    from semlab import _onnx

    path = cache / "onnx" / file
    maker = _onnx.ort_runner if runtime == "onnxruntime" else _onnx.ov_runner
    x = np.ascontiguousarray(tiles[:, None])
    fns = {}
    for sub in (1, 2, 4):
        run = maker(path, _onnx.physical_cores(), sub)
        fns[str(sub)] = lambda run=run: [run(x[s : s + 16]) for s in range(0, len(x), 16)]
    times = _rounds(fns, max(1, n_rounds // 2))
    return {k: round(len(x) / float(np.median(v)), 2) for k, v in times.items()}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="Interleaved timing rounds per runtime.")
    parser.add_argument(
        "--no-encoder", action="store_true", help="Only the plain U-Net (no EfficientNet-Lite0 one)."
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="Output JSON.")
    args = parser.parse_args(argv)

    import torch

    from semlab import _onnx

    load_before = os.getloadavg()
    image, what = load_image()
    networks = {}
    with tempfile.TemporaryDirectory() as d:
        old = os.environ.get(_onnx.CACHE_ENV)
        try:
            for enc in ["none"] + ([] if args.no_encoder else ["efficientnet_lite0"]):
                name = "plain" if enc == "none" else enc
                networks[name] = bench_network(enc, image, args.rounds, Path(d))
                print(name, json.dumps(networks[name]["tiles_per_s"]), flush=True)
        finally:
            if old is None:
                os.environ.pop(_onnx.CACHE_ENV, None)
            else:
                os.environ[_onnx.CACHE_ENV] = old
    default = _onnx.resolve_runtime("auto", device="cpu")
    fastest = {k: max(v["tiles_per_s"], key=v["tiles_per_s"].get) for k, v in networks.items()}
    versions = {
        r: _onnx.runtime_label(r) for r in ["torch", *(r for r in _onnx.FAST_RUNTIMES if _onnx.installed(r))]
    }
    result = {
        "benchmark": "unet_runtime",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "image": {"source": what, "shape": list(image.shape)},
        "default": default,
        "fastest": fastest,
        "default_is_fastest": all(f == default for f in fastest.values()),
        "networks": networks,
        "runtimes": versions,
        "machine": {
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "physical_cores": _onnx.physical_cores(),
            "torch": torch.__version__,
            "load_before": [round(v, 2) for v in load_before],
            "load_after": [round(v, 2) for v in os.getloadavg()],
            "note": "cores shared with other processes; loadavg shows how busy they were: compare the ratios",
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(args.out) as tmp:
        tmp.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: result[k] for k in ("default", "fastest", "default_is_fastest")}))
    return result


if __name__ == "__main__":
    main()
