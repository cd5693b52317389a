"""Does the demo print the same numbers on a loaded and an idle machine?  (issue 17)

Runs ``semlab demo --json`` twice into fresh folders: once alone, once with CPU hogs
(busy-loop subprocesses, one per core) beside it.  Compares every number of the two
summaries except wall times and paths, and writes ``benchmarks/results/demo_load.json``
(``demo_load_quick.json`` with ``--quick``: the printed numbers, both wall times, and the
differences; none is expected, because
every budget of the demo is counted in steps or fits, never in seconds).

    .venv/bin/python benchmarks/bench_demo_load.py [--quick] [--hogs 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from semlab._util import write_json

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "demo_load.json"
HOG = "while True: pass"


def numbers(summary: object, prefix: str = "") -> dict[str, float | str]:
    """Flatten a demo summary to ``{dotted.key: value}``, leaving out wall times and paths."""
    out: dict[str, float | str] = {}
    if isinstance(summary, dict):
        for k, v in summary.items():
            out.update(numbers(v, f"{prefix}{k}."))
    elif isinstance(summary, list):
        for i, v in enumerate(summary):
            out.update(numbers(v, f"{prefix}{i}."))
    elif isinstance(summary, (int, float)) and not isinstance(summary, bool):
        key = prefix.rstrip(".")
        if "seconds" not in key:
            out[key] = float(summary)
    return out


def run_demo(out: Path, *, quick: bool, hogs: int) -> tuple[dict, float]:
    """``semlab demo --json`` into ``out`` with ``hogs`` busy loops beside it; (summary, wall s)."""
    procs = [subprocess.Popen([sys.executable, "-c", HOG]) for _ in range(hogs)]
    try:
        t0 = time.perf_counter()
        cmd = [sys.executable, "-m", "semlab", "demo", "--json", "--out", str(out)] + (
            ["--quick"] if quick else []
        )
        done = subprocess.run(cmd, check=True, capture_output=True, text=True)
        wall = time.perf_counter() - t0
    finally:
        for p in procs:
            p.kill()
            p.wait()
    return json.loads(done.stdout), wall


def compare(idle: dict, loaded: dict, rel: float = 1e-6) -> list[str]:
    """Keys whose numbers differ between the two runs (beyond ``rel`` relative)."""
    a, b = numbers(idle), numbers(loaded)
    diffs = [k for k in sorted(set(a) | set(b)) if k not in a or k not in b]
    for k in sorted(set(a) & set(b)):
        x, y = float(a[k]), float(b[k])
        if not (x == y or abs(x - y) <= rel * max(abs(x), abs(y)) or (x != x and y != y)):
            diffs.append(f"{k}: {x} vs {y}")
    return diffs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="the quick demo (smaller series)")
    ap.add_argument(
        "--hogs", type=int, default=os.cpu_count() or 2, help="busy-loop processes beside the loaded run"
    )
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        idle, idle_s = run_demo(Path(tmp) / "idle", quick=args.quick, hogs=0)
        loaded, loaded_s = run_demo(Path(tmp) / "loaded", quick=args.quick, hogs=args.hogs)
    diffs = compare(idle, loaded)
    keep = ("porosity_measured_by_burst", "porosity_truth_by_burst", "relative_density_by_burst",
            "specific_perimeter_by_burst", "pore_iou_vs_truth")  # fmt: skip
    result = {
        "what": "semlab demo run twice into fresh folders, alone and beside CPU hogs; numbers compared",
        "quick": args.quick,
        "hogs": args.hogs,
        "idle_seconds": round(idle_s, 1),
        "loaded_seconds": round(loaded_s, 1),
        "n_numbers_compared": len(numbers(idle)),
        "differences": diffs,
        "numbers": {k: idle[k] for k in keep}
        | {
            "learn": {k: idle["learn"][k] for k in ("accuracy", "balanced_accuracy", "image_accuracy")},
            "relate": {k: idle["relate"][k] for k in ("features", "loocv_r2", "loocv_rmse")},
            "generate": {k: idle["generate"][k] for k in ("steps", "porosity_r2", "porosity_trend")},
        },
        "machine": f"{platform.machine()}, {os.cpu_count()} cores (shared)",
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
    }
    write_json(RESULTS.with_name("demo_load_quick.json") if args.quick else RESULTS, result)
    print(json.dumps(result, indent=2))
    return 1 if diffs else 0


if __name__ == "__main__":
    raise SystemExit(main())
