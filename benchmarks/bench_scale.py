"""The Ray engine: ``semlab embed`` images/s locally and on a local Ray cluster of 1 and 2 workers.

All engines embed the same synthetic workspace (``--images`` micrographs of 256 px, the offline
EfficientNet-Lite0, ``--patches`` random patches of 224 px per image, fp32), from an empty
cache each time (the feature folder is deleted between runs), in one process, one after the
other:

* ``local``: ``embed_workspace(ws)`` in this process (the model built in the call);
* ``ray_1``, ``ray_2``: ``embed_workspace(ws, engine=Engine("ray", num_workers=W))`` on a Ray
  instance started once here with ``num_cpus=2`` (``ray_start_s`` is its start-up time, paid
  once per session; it is not in the runs' times).

For each run the JSON has ``wall_s`` (the whole call: for Ray, the pipeline and its workers'
start-up and model loading included), ``first_result_s`` (call → first image cached: the
start-up), ``steady_images_per_s`` (images after the first / time from the first to the last
result) and ``images_per_s`` (all images / wall).  ``ratios`` are local / Ray of both.

The cost model of docs/scale.md comes from the same run:

* ``steady_cpu_s_per_image``: CPU seconds per image from the first result to the last, of this
  process (the driver: Ray Data's executor, receiving results, writing the cache) and of the
  pool's worker processes (psutil, sampled at the first and the last result): what a core
  spends per image whatever the machine's load (the robust figure for extrapolation);
* ``startup_cpu_s`` / ``first_result_s``: CPU and wall seconds to the first result (process
  start, imports, model loading, the first batch);
* ``driver_write_s_per_image``: wall seconds to write one image's two cache files (final and
  multiscale, ``np.savez``), what the one writer pays per image whatever the cluster;
* ``per_task_overhead_s``: seconds Ray Data adds per batch, from a no-op actor pool run over
  ``--noop`` items in batches of one (steady time per item), and from no-op Ray tasks.

The machine's load (``os.getloadavg``, CPU count) is recorded before and after: on a loaded
box all numbers shrink alike, the ratios less.  Step-budgeted (fixed image counts), so the
work done does not depend on the load.  Writes ``benchmarks/results/scale.json``.

Usage: python benchmarks/bench_scale.py [--images 48] [--patches 8] [--noop 120]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results" / "scale.json"


def make_workspace(root: Path, n_images: int) -> Any:
    """A workspace of synthetic sintering micrographs of 256 px: ``n_images`` rounded up to 8s."""
    from semlab.data import sintering_series
    from semlab.dataset import Workspace

    per_level = max(1, -(-n_images // 8))  # 4 burst counts x per_level samples x 2 images
    sintering_series(root / "s", shape=(256, 256), samples_per_level=per_level, images_per_sample=2, seed=0)
    ws = Workspace.init(root / "ws")
    ws.add(table=root / "s" / "descriptors.csv", images_dir=root / "s")
    return ws


def timed_embed(ws: Any, prep: Any, engine: Any) -> dict[str, Any]:
    """One embedding from an empty cache: wall, start-up, steady images/s, CPU seconds."""
    from semlab.features import embed_workspace

    shutil.rmtree(ws.path / "features", ignore_errors=True)
    stamps: list[float] = []
    cpu: list[float] = []  # CPU seconds of this process at the first and last result
    pool: list[float] = []  # and of the pool's worker processes
    workers: dict[int, float] = {}  # pool worker pid -> CPU seconds (user + system), last seen
    load = os.getloadavg()[0]
    t0, cpu0 = time.perf_counter(), time.process_time()

    def progress(done: int, total: int) -> None:
        if done > 0:
            stamps.append(time.perf_counter())
            if len(stamps) == 1 or done == total:  # pool workers' CPU at the first and last result only
                workers.update(pool_cpu())
                cpu.append(time.process_time() - cpu0)
                pool.append(sum(workers.values()))

    table = embed_workspace(
        ws, backbone="efficientnet_lite0", preparation=prep, progress=progress, engine=engine
    )
    wall = time.perf_counter() - t0
    n = table.cache["computed"]
    # the first batch's images arrive together: steady figures count from the first result on
    first = sum(1 for t in stamps if t - stamps[0] < 0.05)
    span = stamps[-1] - stamps[0]
    steady = n - first
    return {
        "images": n,
        "patches": table.cache["computed_patches"],
        "runtime": table.cache.get("runtime"),
        "load_1min_at_start": round(load, 2),
        "wall_s": round(wall, 3),
        "first_result_s": round(stamps[0] - t0, 3),
        "images_in_first_result": first,
        "images_per_s": round(n / wall, 4),
        "steady_images_per_s": round(steady / span, 4) if span > 0 else None,
        "startup_cpu_s": {"driver": round(cpu[0], 3), "workers": round(pool[0], 3)},
        "steady_cpu_s_per_image": {
            "driver": round((cpu[-1] - cpu[0]) / steady, 4) if steady else None,
            "workers": round((pool[-1] - pool[0]) / steady, 4) if steady else None,
        },
        "total_cpu_s": round(cpu[-1] + pool[-1], 3),
        "features": table.features,
        "write_s_per_image": driver_write(table),
    }


def pool_cpu() -> dict[int, float]:
    """CPU seconds (user + system) of each Ray Data pool worker process now running."""
    import psutil

    out = {}
    for proc in psutil.process_iter(["pid", "cmdline"]):
        if " ".join(proc.info.get("cmdline") or []).startswith("ray::MapWorker"):
            try:
                t = proc.cpu_times()
            except psutil.Error:
                continue
            out[proc.info["pid"]] = t.user + t.system
    return out


def driver_write(table: Any, n: int = 200) -> float:
    """Seconds the driver spends writing one image's cache files (both CNN sets, as ``embed`` does)."""
    import numpy as np

    k = table.config["patches_per_image"]
    feats = {
        "final": table.features[:k],
        "multiscale": np.zeros((k, 2 * table.features.shape[1]), np.float32),
    }
    boxes = np.zeros((k, 4), np.int64)
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        for i in range(n):
            for s, f in feats.items():
                with open(Path(d) / f"{s}-{i}.npz", "wb") as fh:
                    np.savez(fh, features=f, boxes=boxes)
        return (time.perf_counter() - t0) / n


def _noop(state: Any, items: list[dict]) -> list[int]:
    return [0 for _ in items]


def _noop_setup() -> None:
    return None


def overhead(n: int) -> dict[str, Any]:
    """Seconds Ray Data adds per batch (no-op work, batches of one item), actor pool and tasks."""
    from semlab.scale import Engine, run_batches

    out: dict[str, Any] = {"items": n}
    for kind, setup in (("actor_pool_2", _noop_setup), ("tasks", None)):
        stamps: list[float] = []
        t0 = time.perf_counter()
        run_batches([{"name": str(i)} for i in range(n)], _noop, on_result=lambda it, r, s=stamps: s.append(time.perf_counter()),
                    setup=setup, engine=Engine("ray", num_workers=2, batch_size=1))  # fmt: skip
        wall = time.perf_counter() - t0
        steady = (stamps[-1] - stamps[0]) / (n - 1)
        out[kind] = {"wall_s": round(wall, 3), "first_result_s": round(stamps[0] - t0, 3),
                     "steady_s_per_item": round(steady, 5)}  # fmt: skip
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=48)
    ap.add_argument("--patches", type=int, default=8)
    ap.add_argument("--noop", type=int, default=120)
    args = ap.parse_args()
    os.environ.setdefault("RAY_DISABLE_USAGE_STATS", "1")
    import numpy as np
    import ray

    from semlab._util import write_json
    from semlab.preprocess import Preparation
    from semlab.scale import Engine

    load_before = os.getloadavg()
    prep = Preparation(patch_size=224, patches_per_image=args.patches, seed=0)
    runs: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as d:
        ws = make_workspace(Path(d), args.images)
        runs["local"] = timed_embed(ws, prep, "local")
        t0 = time.perf_counter()
        ray.init(num_cpus=2, include_dashboard=False, object_store_memory=200 * 2**20, log_to_driver=False)
        ray_start = time.perf_counter() - t0
        try:
            for w in (1, 2):
                runs[f"ray_{w}"] = timed_embed(ws, prep, Engine("ray", num_workers=w))
            noop = overhead(args.noop)
        finally:
            ray.shutdown()
    write_s = runs["local"]["write_s_per_image"]
    for r in runs.values():
        r.pop("write_s_per_image")
    ref = runs["local"].pop("features")
    diffs = {k: float(np.abs(r.pop("features") - ref).max()) for k, r in runs.items() if k != "local"}
    loc = runs["local"]
    ratios = {
        k: {"wall": round(loc["wall_s"] / r["wall_s"], 3),
            "steady": round(r["steady_images_per_s"] / loc["steady_images_per_s"], 3)}
        for k, r in runs.items() if k != "local"
    }  # fmt: skip
    result = {
        "benchmark": "bench_scale",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "ray": ray.__version__,
            "load_before": [round(x, 2) for x in load_before],
            "load_after": [round(x, 2) for x in os.getloadavg()],
        },  # fmt: skip
        "inputs": {
            "images": args.images,
            "shape": [256, 256],
            "backbone": "efficientnet_lite0 (offline weights)",
            "patches_per_image": args.patches,
            "patch_size": 224,
            "precision": "fp32",
        },  # fmt: skip
        "ray_start_s": round(ray_start, 3),
        "runs": runs,
        "ratios_ray_over_local": ratios,
        "max_abs_feature_difference_vs_local": diffs,
        "cost_model": {
            "per_image_s_local_wall": round(1.0 / loc["steady_images_per_s"], 4),
            "per_image_cpu_s": {
                k: round(sum(v for v in r["steady_cpu_s_per_image"].values() if v), 4)
                for k, r in runs.items()
            },
            "per_image_driver_cpu_s": {k: r["steady_cpu_s_per_image"]["driver"] for k, r in runs.items()},
            "startup_cpu_s": {k: r["startup_cpu_s"] for k, r in runs.items()},
            "startup_wall_s": {k: r["first_result_s"] for k, r in runs.items()},
            "driver_write_s_per_image": round(write_s, 5),
            "per_task_overhead_s": noop["actor_pool_2"]["steady_s_per_item"],
            "per_task_overhead_tasks_s": noop["tasks"]["steady_s_per_item"],
            "ray_start_s": round(ray_start, 3),
        },
        "noop_overhead": noop,
        "notes": "ratios: wall = local wall / Ray wall (> 1: Ray faster, start-up included); steady = Ray steady "
        "images/s / local steady images/s. Both engines share the 2 CPUs of this box (and its load): the 2-worker "
        "run cannot beat one process using both cores by more than the per-process overhead it removes.",
    }
    write_json(RESULTS, result)
    print(RESULTS.read_text())


if __name__ == "__main__":
    main()
