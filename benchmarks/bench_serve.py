"""Web-app load test: 200 distinct images uploaded by 8 concurrent clients to a real uvicorn server.

Loopback only, bounded: a server on 127.0.0.1 (free port) over a fresh workspace, 8 client
threads (one httpx.Client each) sending 200 small distinct synthetic images (half PNG,
half 16-bit TIFF with a pixel size, 96–160 px), each asking for ``segment`` and ``quantify``
so the background worker competes with the uploads for the CPU, as in real use.  Then 20
of the same files again (they must be recognised as stored).

Checked: every upload answered 201; the hashes the server returned are the SHA-256 of the
bytes sent; the catalog holds exactly 200 distinct images (``serve_images``), 220 upload
rows, 200 files in the store; every job finished.  Reported: upload latency p50/p95/max
(ms, request sent → answer received), uploads per second, time until all jobs were done.

Run:  .venv/bin/python benchmarks/bench_serve.py [--images 200] [--clients 8]
Writes benchmarks/results/serve.json.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import platform
import socket
import sqlite3
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "serve.json"


def make_images(n: int, seed: int = 0) -> list[tuple[str, bytes]]:
    """``n`` distinct small micrograph-like files: (name, bytes), PNG and 16-bit TIFF alternating."""
    from PIL import Image

    from semlab.io import write_micrograph

    rng = np.random.default_rng(seed)
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(n):
            rows, cols = (int(v) for v in rng.integers(96, 161, size=2))
            rr, cc = np.mgrid[:rows, :cols]
            image = np.full((rows, cols), 180.0)
            for _ in range(12):  # dark pores on a bright solid
                r, c, rad = rng.uniform(0, rows), rng.uniform(0, cols), rng.uniform(3, 10)
                image[(rr - r) ** 2 + (cc - c) ** 2 <= rad**2] = 60.0
            image += rng.normal(0, 10, image.shape)
            if i % 2 == 0:
                buf = io.BytesIO()
                Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(buf, format="PNG")
                out.append((f"img_{i:03d}.png", buf.getvalue()))
            else:
                path = Path(tmp) / f"img_{i:03d}.tif"
                write_micrograph(path, np.clip(image * 256, 0, 65535).astype(np.uint16), pixel_size=0.01)
                out.append((path.name, path.read_bytes()))
    assert len({hashlib.sha256(b).hexdigest() for _, b in out}) == n
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def upload_all(url: str, files: list[tuple[str, bytes]], clients: int, tasks: str) -> list[dict]:
    """Send every file once, ``clients`` at a time; one record per file."""
    import httpx

    local = threading.local()

    def client() -> httpx.Client:
        if not hasattr(local, "c"):
            local.c = httpx.Client(base_url=url, timeout=120.0)
        return local.c

    def send(item: tuple[str, bytes]) -> dict:
        name, data = item
        t0 = time.perf_counter()
        r = client().post("/api/uploads", files={"file": (name, data)}, data={"tasks": tasks})
        dt = time.perf_counter() - t0
        body = r.json()
        return {
            "name": name,
            "status": r.status_code,
            "seconds": dt,
            "sent_sha256": hashlib.sha256(data).hexdigest(),
            "image_hash": body.get("image_hash"),
            "duplicate": body.get("duplicate"),
            "detail": body.get("detail"),
        }

    with ThreadPoolExecutor(clients) as pool:
        return list(pool.map(send, files))


def percentiles(seconds: list[float]) -> dict[str, float]:
    ms = np.asarray(seconds) * 1000.0
    return {
        "p50_ms": round(float(np.percentile(ms, 50)), 1),
        "p95_ms": round(float(np.percentile(ms, 95)), 1),
        "max_ms": round(float(ms.max()), 1),
        "mean_ms": round(float(ms.mean()), 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=20, help="files sent a second time (dedup check)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    import uvicorn

    from semlab.dataset import Workspace
    from semlab.serve import create_app

    files = make_images(args.images)
    total_mb = sum(len(b) for _, b in files) / 2**20
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace.init(Path(tmp) / "ws")
        app = create_app(ws)
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        url = f"http://127.0.0.1:{port}"
        try:
            t0 = time.perf_counter()
            first = upload_all(url, files, args.clients, "segment,quantify")
            wall = time.perf_counter() - t0
            again = upload_all(url, files[: args.repeat], args.clients, "none")
            t_jobs = time.perf_counter()
            finished = app.state.runner.wait_idle(1800)
            jobs_done_s = time.perf_counter() - t0
            counts = app.state.store.counts()
        finally:
            server.should_exit = True
            thread.join(timeout=30)

        with sqlite3.connect(ws.catalog) as conn:
            n_images = conn.execute("SELECT COUNT(*) FROM serve_images").fetchone()[0]
            n_distinct = conn.execute("SELECT COUNT(DISTINCT hash) FROM serve_images").fetchone()[0]
            n_uploads = conn.execute("SELECT COUNT(*) FROM serve_uploads").fetchone()[0]
            n_jobs = conn.execute("SELECT status, COUNT(*) FROM serve_jobs GROUP BY status").fetchall()
            catalog_hashes = {r[0] for r in conn.execute("SELECT hash FROM serve_images")}
        n_files = sum(1 for p in (ws.path / "files").rglob("*") if p.is_file() and not p.name.startswith("."))
        _ = t_jobs

    sent = {r["sent_sha256"] for r in first}
    checks = {
        "all_201": all(r["status"] == 201 for r in first + again),
        "returned_hash_is_sha256_of_bytes": all(r["image_hash"] == r["sent_sha256"] for r in first + again),
        "none_lost": catalog_hashes == sent,
        "none_duplicated": n_images == n_distinct == args.images and n_files == args.images,
        "uploads_recorded": n_uploads == args.images + args.repeat,
        "first_uploads_new": not any(r["duplicate"] for r in first),
        "repeats_recognised": all(r["duplicate"] for r in again),
        "all_jobs_finished": bool(finished) and counts["queued"] == counts["running"] == 0,
    }
    result = {
        "benchmark": "semlab.serve upload load test (loopback, real uvicorn)",
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "clients": args.clients,
        "images": args.images,
        "bytes_total_mb": round(total_mb, 2),
        "tasks_per_upload": ["segment", "quantify"],
        "upload_latency": percentiles([r["seconds"] for r in first]),
        "repeat_upload_latency": percentiles([r["seconds"] for r in again]) if again else None,
        "uploads_per_second": round(args.images / wall, 1),
        "upload_wall_s": round(wall, 2),
        "all_jobs_done_s": round(jobs_done_s, 2),
        "jobs": dict(n_jobs),
        "catalog": {"serve_images": n_images, "serve_uploads": n_uploads, "files_in_store": n_files},
        "checks": checks,
        "failures": [r for r in first + again if r["status"] != 201][:5],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    lat = result["upload_latency"]
    print(
        f"{args.images} uploads from {args.clients} clients in {wall:.1f} s ({result['uploads_per_second']}/s): "
        f"p50 {lat['p50_ms']} ms, p95 {lat['p95_ms']} ms, max {lat['max_ms']} ms; "
        f"all {sum(dict(n_jobs).values())} jobs done after {jobs_done_s:.1f} s"
    )
    print(
        f"catalog: {n_images} images, {n_uploads} uploads, {n_files} files; checks: "
        + ", ".join(f"{k}={v}" for k, v in checks.items())
    )
    print(f"wrote {args.out}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
