"""Peak memory per pixel of ``semlab segment`` (hybrid, otsu) and ``semlab quantify`` on large images.

Each case runs the real CLI command (``semlab.cli.main``) in a fresh Python process on a
synthetic 16-bit TIFF (a sintered film rendered at 512 px and tiled up with noise, so the
image has structure everywhere) and reports the process's peak resident memory
(``ru_maxrss``).  The same command on a 256 × 256 image gives the fixed cost (Python,
imports, plotting); ``bytes_per_px = (peak − fixed) / pixels``.  The issue's bound is
200 bytes per pixel (issue 19, item 3).

Run:  ``.venv/bin/python benchmarks/bench_memory.py [--sizes 2048 4096] [--cases hybrid otsu quantify]``
Writes ``benchmarks/results/memory.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "memory.json"
BOUND = 200  # bytes per pixel

_CHILD = r"""
import json, resource, sys, time
from semlab.cli import main
t = time.perf_counter()
rc = main(sys.argv[1:])
print(json.dumps({"rc": rc, "seconds": time.perf_counter() - t,
                  "maxrss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
"""


def write_image(path: Path, side: int, seed: int = 0) -> None:
    """A 16-bit ``side`` × ``side`` micrograph with a pixel size: a rendered film tiled, plus noise."""
    from semlab.data import render_sintered_film
    from semlab.io import write_micrograph

    film = render_sintered_film(4, shape=(512, 512), rng=seed)
    tile = np.asarray(film.content, dtype=np.float32)
    tile = (tile - tile.min()) / max(float(np.ptp(tile)), 1e-9)
    reps = -(-side // tile.shape[0]), -(-side // tile.shape[1])
    image = np.tile(tile, reps)[:side, :side]
    rng = np.random.default_rng(seed)
    image = np.clip(image * 50000 + 5000 + rng.normal(0, 1500, image.shape).astype(np.float32), 0, 65535)
    write_micrograph(path, image.astype(np.uint16), pixel_size=film.pixel_size)


def run(args: list[str], timeout: float) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    last = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else "{}"
    try:
        res = json.loads(last)
    except json.JSONDecodeError:
        res = {"rc": out.returncode}
    if res.get("rc") != 0:
        res["stderr"] = out.stderr.strip().splitlines()[-1:] if out.stderr.strip() else []
    return res


def commands(case: str, image: Path, work: Path) -> list[str]:
    seg = work / f"seg-{case}"
    if case == "quantify":  # quantify the otsu labels written by the otsu case
        return ["quantify", str(work / "seg-otsu"), "-o", str(work / "q.csv")]
    return ["segment", str(image), "--method", case, "--foreground", "dark", "--out", str(seg)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[2048, 4096])
    ap.add_argument("--cases", nargs="+", default=["otsu", "quantify", "hybrid"])
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds per command")
    ap.add_argument("--label", default="", help="a note stored with the results (e.g. 'before')")
    ns = ap.parse_args()
    results = json.loads(OUT.read_text()) if OUT.exists() else {}
    runs = results.setdefault("runs", {})
    label = ns.label or time.strftime("%Y-%m-%dT%H:%M")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        fixed: dict[str, int] = {}
        for side in [256, *ns.sizes]:
            image = work / f"img{side}.tif"
            write_image(image, side)
            for case in ns.cases:
                res = run(commands(case, image, work), ns.timeout)
                if side == 256:
                    fixed[case] = int(res.get("maxrss_bytes", 0))
                    continue
                px = side * side
                peak = int(res.get("maxrss_bytes", 0))
                row = {
                    "case": case,
                    "side_px": side,
                    "megapixels": px / 1e6,
                    "peak_rss_mb": peak / 1e6,
                    "fixed_rss_mb": fixed.get(case, 0) / 1e6,
                    "bytes_per_px": round((peak - fixed.get(case, 0)) / px, 1),
                    "seconds": round(res.get("seconds", float("nan")), 1),
                    "rc": res.get("rc"),
                }
                if "stderr" in res:
                    row["error"] = res["stderr"]
                rows.append(row)
                print(json.dumps(row), flush=True)
    runs[label] = rows
    results.update(
        bound_bytes_per_px=BOUND,
        method="ru_maxrss of a fresh `semlab` CLI process per case minus the same command on 256x256",
        machine=f"{platform.machine()} {platform.system()}, Python {platform.python_version()}",
        image="synthetic 16-bit TIFF (rendered sintered film tiled + Gaussian noise), pixel size set",
    )
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
