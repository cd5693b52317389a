"""Map benchmarks: embedding methods on 20 000 / 100 000 CNN-like features, and the map page
with 100 000 points (and the older 20 000-point canvas run) in headless Chromium.

``--embedding 20000,100000``: umap-learn (NN-descent) on the raw 1280-d features, PCA(50) →
UMAP, and PCA(50) → UMAP fitted on a seeded 10 000-point subsample with ``transform`` for the
rest (semlab's default above 10 000 points); each in its own niced process under a timeout;
wall and CPU seconds, ``sklearn.manifold.trustworthiness`` (15 neighbours) and cluster purity
on 2 000 random points; rows under ``embedding_benchmark``.

``--points 100000 [--coords coords.npy]``: the map served and exported (sprite sheets from 2 000
real SEM crops of the shared data), opened in Chromium 1280 × 800: first render, frame intervals
(requestAnimationFrame) while panning and zooming zoomed out and panning zoomed in, with the
renderer the page picks and with WebGL and the 2-D canvas forced; the WebGL renderer's name
(WEBGL_debug_renderer_info); export size; machine load.  Row ``map_100k`` with ``summary``.

The original 20 000-point run (no option) is described below.

Synthetic features (20 000 × 64, eight Gaussian clusters, seed 0) are embedded with PCA
(``--umap`` also times UMAP), and every point gets one of 64 small JPEG thumbnails and
descriptor columns (200 samples, four burst counts, a continuous porosity).  The map is
served by :func:`semlab.maps.serve_map` and opened in Chromium (1280 × 800, software
canvas, no GPU).  Measured in one run:

* time to first render: from navigation start to the first frame with every point drawn
  (page clock), and the wall time of ``page.goto`` until then;
* frame time while panning, zoomed out (all 20 000 points as dots) and zoomed in
  (thumbnails): 120 ``requestAnimationFrame`` frames, each panning the view and drawing
  it; the draw time of each frame and the interval between frames;
* the same zoomed-out frame drawn the naive way (every point its own path and fill, no
  culling, no batching) → ratio naive / semlab, both timed until the canvas has its pixels;
* hover hit-testing through the spatial grid (time per pick);
* the standalone export of the same map (dots only): file size and time to first render
  from ``file://``.

Run:  ``.venv/bin/python benchmarks/bench_maps.py [--umap]``
Writes ``benchmarks/results/maps.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "maps.json"
N = 20_000
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]

PAN_JS = """async (frames) => {
  const api = window.semlabMap, draw = [], gaps = [];
  let last = null;
  for (let k = 0; k < frames; k++) {
    await new Promise((res) => requestAnimationFrame((t) => {
      if (last !== null) gaps.push(t - last);
      last = t;
      api.panBy(k % 60 < 30 ? 6 : -6, k % 40 < 20 ? 3 : -3);
      draw.push(api.render());
      res();
    }));
  }
  const s = api.state();
  return {draw, gaps, visible: s.visible, dots: s.drawnDots, thumbs: s.drawnThumbs};
}"""

NAIVE_JS = """(frames) => {
  // Every point its own path and fill, colour set per point, no culling: the straightforward way.
  const D = JSON.parse(document.getElementById('semlab-data').textContent);
  const c = document.getElementById('map'), g = c.getContext('2d');
  const pal = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728'];
  const col = D.columns.find((k) => k.name === 'burst_count');
  let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
  for (let i = 0; i < D.n; i++) { x0 = Math.min(x0, D.x[i]); x1 = Math.max(x1, D.x[i]); y0 = Math.min(y0, D.y[i]); y1 = Math.max(y1, D.y[i]); }
  const s = 0.82 * Math.min(c.clientWidth, c.clientHeight) / Math.max(x1 - x0, y1 - y0);
  const times = [];
  for (let f = 0; f < frames; f++) {
    const t0 = performance.now();
    g.setTransform(1, 0, 0, 1, 0, 0);
    g.fillStyle = '#f5f6f8'; g.fillRect(0, 0, c.width, c.height);
    for (let i = 0; i < D.n; i++) {
      g.fillStyle = pal[col.codes[i]];
      g.beginPath(); g.arc((D.x[i] - x0) * s + 20 + f, (D.y[i] - y0) * s + 20, 2, 0, 6.2832); g.fill();
    }
    g.getImageData(0, 0, 1, 1);  // wait for the drawing to finish
    times.push(performance.now() - t0);
  }
  return times;
}"""


def summary(values: list[float]) -> dict[str, float]:
    v = sorted(values)
    return {
        "median_ms": round(statistics.median(v), 3),
        "p95_ms": round(v[min(len(v) - 1, int(0.95 * len(v)))], 3),
        "max_ms": round(v[-1], 3),
        "n": len(v),
    }


def synthetic(tmp: Path, seed: int = 0):
    import pandas as pd

    from semlab.maps.thumbs import encode_image

    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 4, size=(8, 64))
    cluster = rng.integers(0, 8, N)
    feats = (centres[cluster] + rng.normal(size=(N, 64))).astype(np.float32)
    burst = np.array([1, 2, 4, 8])[cluster % 4]
    table = pd.DataFrame(
        {
            "hash": [f"{i:064x}" for i in range(N)],
            "original_name": [f"img_{i:05d}.tif" for i in range(N)],
            "sample": [f"S{k:03d}" for k in rng.integers(0, 200, N)],
            "pixel_size_um": 0.008,
            "burst_count": burst,
            "porosity": np.clip(0.45 - 0.03 * burst + rng.normal(0, 0.02, N), 0, 1),
        }
    )
    thumbs = []
    yy, xx = np.mgrid[:64, :64]
    for k in range(64):
        img = (127 + 120 * np.sin(xx / (3 + k % 7) + yy / (4 + k % 5))).astype(np.uint8)
        p = tmp / f"t{k}.jpg"
        p.write_bytes(encode_image(img, format="jpeg"))
        thumbs.append(str(p))
    return feats, table, [thumbs[i % 64] for i in range(N)]


def bench_page_20k(args: argparse.Namespace) -> None:
    """The original 20 000-point canvas measurements (top-level keys of maps.json)."""
    from playwright.sync_api import sync_playwright

    from semlab.maps import embed, export_html, map_from_coords, serve_map

    results: dict = {"n_points": N, "platform": platform.platform(), "python": platform.python_version()}
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        feats, table, thumbs = synthetic(tmp)
        t = time.perf_counter()
        coords = embed(feats, method="pca", seed=0)
        results["embed_pca_s"] = round(time.perf_counter() - t, 3)
        print(f"PCA of {N} × 64 features: {results['embed_pca_s']:.2f} s")
        if args.umap:
            t = time.perf_counter()
            embed(feats, method="umap", seed=0)
            results["embed_umap_s"] = round(time.perf_counter() - t, 3)
            print(f"UMAP of {N} × 64 features: {results['embed_umap_s']:.1f} s (numba compilation included)")
        data = map_from_coords(coords, table, color_by="burst_count", thumbnails=thumbs, method="pca")

        with sync_playwright() as pw, serve_map(data, port=0) as server:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
            ctx = browser.new_context(viewport={"width": 1280, "height": 800})
            page = ctx.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            t = time.perf_counter()
            page.goto(server.url)
            page.wait_for_function(f"window.semlabMap && semlabMap.state().drawn === {N}", timeout=60000)
            wall = time.perf_counter() - t
            st = page.evaluate("semlabMap.state()")
            html_bytes = len(page.content().encode())
            results["served"] = {
                "first_render_ms_since_navigation": round(st["firstRenderMs"], 1),
                "goto_to_all_drawn_wall_s": round(wall, 3),
                "page_bytes": html_bytes,
            }
            print(
                f"first render of {N} points: {st['firstRenderMs']:.0f} ms after navigation start "
                f"(wall {wall:.2f} s, page {html_bytes / 1e6:.1f} MB)"
            )

            page.evaluate("semlabMap.fit()")
            out = page.evaluate(PAN_JS, 120)
            assert out["dots"] == N, out
            zo = {
                "draw": summary(out["draw"]),
                "frame_interval": summary(out["gaps"]),
                "points_drawn": out["dots"],
            }
            zo["fps"] = round(1000 / zo["frame_interval"]["median_ms"], 1)
            results["pan_zoomed_out"] = zo
            print(
                f"pan, zoomed out ({out['dots']} dots): draw median {zo['draw']['median_ms']:.2f} ms "
                f"(p95 {zo['draw']['p95_ms']:.2f}), frame interval median {zo['frame_interval']['median_ms']:.1f} ms "
                f"→ {zo['fps']} fps"
            )

            scale = page.evaluate("semlabMap.state().view.scale")
            while True:  # zoom in on a point until thumbnails are drawn instead of dots
                scale *= 1.5
                page.evaluate(f"semlabMap.centerOn(0, {scale}); semlabMap.render()")
                if page.evaluate("semlabMap.state().visible") <= 400:
                    break
            page.wait_for_function(
                "semlabMap.state().frames > 0 && semlabMap.state().drawnThumbs > 0 "
                "&& semlabMap.state().thumbnailsPending === 0",
                timeout=60000,
            )
            out = page.evaluate(PAN_JS, 120)
            zi = {
                "draw": summary(out["draw"]),
                "frame_interval": summary(out["gaps"]),
                "visible": out["visible"],
                "thumbnails_drawn": out["thumbs"],
            }
            zi["fps"] = round(1000 / zi["frame_interval"]["median_ms"], 1)
            results["pan_zoomed_in"] = zi
            print(
                f"pan, zoomed in ({out['thumbs']} thumbnails of {out['visible']} visible): draw median "
                f"{zi['draw']['median_ms']:.2f} ms (p95 {zi['draw']['p95_ms']:.2f}), {zi['fps']} fps"
            )

            page.evaluate("semlabMap.fit()")
            naive = page.evaluate(NAIVE_JS, 20)
            page.evaluate("semlabMap.fit()")
            ours = page.evaluate(
                """(frames) => {
              const g = document.getElementById('map').getContext('2d'), times = [];
              for (let f = 0; f < frames; f++) {
                const t0 = performance.now();
                semlabMap.panBy(1, 0); semlabMap.render(); g.getImageData(0, 0, 1, 1);
                times.push(performance.now() - t0);
              }
              return times;
            }""",
                20,
            )
            results["naive_draw_zoomed_out"] = summary(naive)
            results["semlab_draw_zoomed_out_sync"] = summary(ours)
            ratio = statistics.median(naive) / statistics.median(ours)
            results["naive_over_semlab_draw"] = round(ratio, 2)
            print(
                f"draw all {N} points: naive {statistics.median(naive):.1f} ms vs semlab "
                f"{statistics.median(ours):.1f} ms → {ratio:.1f}× faster"
            )

            picks = page.evaluate("""() => {
              const api = window.semlabMap, s = api.state(), t0 = performance.now();
              let hits = 0;
              for (let k = 0; k < 2000; k++) hits += api.pick((k * 7919) % s.width, (k * 104729) % s.height) >= 0;
              return {ms: (performance.now() - t0) / 2000, hits};
            }""")
            results["pick_ms_per_call"] = round(picks["ms"], 4)
            print(f"hover hit test through the grid: {picks['ms'] * 1000:.1f} µs per pick")

            plain = map_from_coords(coords, table, color_by="porosity", method="pca")
            html = export_html(plain, tmp / "map.html")
            t = time.perf_counter()
            page.goto(html.as_uri())
            page.wait_for_function(f"window.semlabMap && semlabMap.state().drawn === {N}", timeout=60000)
            wall = time.perf_counter() - t
            st = page.evaluate("semlabMap.state()")
            results["standalone"] = {
                "bytes": html.stat().st_size,
                "first_render_ms_since_navigation": round(st["firstRenderMs"], 1),
                "goto_to_all_drawn_wall_s": round(wall, 3),
            }
            print(
                f"standalone export: {html.stat().st_size / 1e6:.1f} MB, first render {st['firstRenderMs']:.0f} ms "
                f"from file://"
            )
            results["page_errors"] = errors
            browser.close()
    _merge(results)
    print(f"wrote {OUT}")


# ----------------------------------------------------------------------------- embedding methods
EMBED_METHODS = ("umap", "pca50_umap", "pca50_umap_subsample", "pca50_umap_subsample20k")
EMBED_TIMEOUT_S = 1500
SUBSAMPLE = 10_000  # the subsample method measured (semlab fits up to UMAP_FIT_SAMPLE = 100 000 whole)


def cnn_like_features(
    n: int, *, dim: int = 1280, clusters: int = 24, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic pooled CNN features: ``clusters`` groups in a 32-d latent space, mapped
    linearly to ``dim`` channels and rectified (non-negative, sparse, correlated channels like
    the global-average-pooled SiLU/ReLU outputs of EfficientNet-Lite0), plus channel noise."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 2.5, size=(clusters, 32))
    label = rng.integers(0, clusters, n)
    z = centres[label] + rng.normal(size=(n, 32))
    w = rng.normal(0, 1 / np.sqrt(32), size=(32, dim))
    x = np.maximum(z @ w + 0.3, 0) + 0.05 * np.abs(rng.normal(size=(n, dim)))
    return x.astype(np.float32), label


def embed_one(method: str, n: int, seed: int = 0, save_coords: str | None = None) -> dict:
    """Time one embedding method on ``n`` synthetic 1280-d features; trustworthiness on 2 000 points."""
    import warnings

    import umap
    from sklearn.decomposition import PCA
    from sklearn.manifold import trustworthiness

    warnings.filterwarnings("ignore")
    x, label = cnn_like_features(n, seed=seed)
    t = time.perf_counter()  # numba compiles umap-learn's kernels on the first call (cached on disk after)
    warm_model = umap.UMAP(n_neighbors=15, random_state=seed, n_jobs=1).fit(x[:300, :50])
    if "subsample" in method and method.endswith(
        "20k"
    ):  # rows before this one timed transform's compilation too
        warm_model.transform(x[300:400, :50])
    warm = time.perf_counter() - t
    load0 = os.getloadavg()
    t, cpu = time.perf_counter(), time.process_time()
    if method == "umap":
        y = umap.UMAP(n_neighbors=15, random_state=seed, n_jobs=1).fit_transform(x)
        fit_points = n
    else:
        pca = PCA(n_components=50, random_state=seed)
        if method == "pca50_umap":
            x50 = pca.fit_transform(x)
            y = umap.UMAP(n_neighbors=15, random_state=seed, n_jobs=1).fit_transform(x50)
            fit_points = n
        else:
            size = 20_000 if method.endswith("20k") else SUBSAMPLE
            sub = np.sort(np.random.default_rng(seed).choice(n, min(n, size), replace=False))
            pca.fit(x[sub])
            x50 = pca.transform(x).astype(np.float32)
            reducer = umap.UMAP(n_neighbors=15, random_state=seed, n_jobs=1)
            y = np.empty((n, 2), np.float32)
            y[sub] = reducer.fit_transform(x50[sub])
            rest = np.setdiff1d(np.arange(n), sub)
            if rest.size:
                y[rest] = reducer.transform(x50[rest])
            fit_points = int(sub.size)
    seconds, cpu = time.perf_counter() - t, time.process_time() - cpu
    load1 = os.getloadavg()
    if save_coords:
        np.save(save_coords, y.astype(np.float32))
    idx = np.random.default_rng(1).choice(n, 2000, replace=False)
    tw = trustworthiness(x[idx], y[idx], n_neighbors=15)
    # Cluster purity of the map: share of each point's 15 map neighbours from its own cluster.
    from sklearn.neighbors import NearestNeighbors

    nn = NearestNeighbors(n_neighbors=16).fit(y)
    _, nb = nn.kneighbors(y[idx])
    purity = float((label[nb[:, 1:]] == label[idx, None]).mean())
    return {
        "method": method,
        "n_points": n,
        "dim": int(x.shape[1]),
        "fit_points": fit_points,
        "seconds": round(seconds, 2),
        "cpu_seconds": round(cpu, 2),
        "numba_warmup_s": round(warm, 2),
        "trustworthiness_15nn_2000": round(float(tw), 4),
        "cluster_purity_15nn_2000": round(purity, 4),
        "load_avg_1min_before_after": [round(load0[0], 2), round(load1[0], 2)],
    }


def bench_embedding(sizes: list[int], methods: list[str], save_dir: str | None = None) -> dict:
    """Each (method, size) in its own niced process under a timeout; rows merged into maps.json."""
    import subprocess
    import sys

    rows = []
    for n in sizes:
        for m in methods:
            cmd = [
                "nice",
                "-n",
                "10",
                "timeout",
                str(EMBED_TIMEOUT_S),
                sys.executable,
                __file__,
                "--embed-one",
                m,
                "--n",
                str(n),
            ]
            if save_dir:
                cmd += ["--save-coords", str(Path(save_dir) / f"coords_{m}_{n}.npy")]
            print("running", " ".join(cmd[4:]), flush=True)
            t = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode == 0:
                row = json.loads(proc.stdout.strip().splitlines()[-1])
            else:
                row = {
                    "method": m,
                    "n_points": n,
                    "seconds": None,
                    "timed_out_after_s": EMBED_TIMEOUT_S if proc.returncode in (124, 137) else None,
                    "error": proc.stderr.strip().splitlines()[-1][:200]
                    if proc.stderr.strip()
                    else f"rc {proc.returncode}",
                    "wall_s": round(time.perf_counter() - t, 1),
                }
            print(json.dumps(row), flush=True)
            rows.append(row)
            _merge_rows(rows)
    return {"rows": rows}


def _merge(update: dict) -> None:
    """Merge top-level keys into maps.json, keeping the keys other runs wrote."""
    old = json.loads(OUT.read_text()) if OUT.is_file() else {}
    for k, v in update.items():
        if isinstance(v, dict) and isinstance(old.get(k), dict):
            old[k] = {**old[k], **v}
        else:
            old[k] = v
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(old, indent=2) + "\n")


def _merge_rows(rows: list[dict]) -> None:
    """Add embedding rows to maps.json, replacing rows of the same method and size."""
    old = json.loads(OUT.read_text()) if OUT.is_file() else {}
    have = old.get("embedding_benchmark", {}).get("rows", [])
    keys = {(r["method"], r["n_points"]) for r in rows}
    merged = [r for r in have if (r["method"], r["n_points"]) not in keys] + rows
    _merge({"embedding_benchmark": {"rows": sorted(merged, key=lambda r: (r["n_points"], r["method"]))}})


# ----------------------------------------------------------------------------- 100 000-point page
FRAMES_JS = """async ([frames, mode]) => {
  // One requestAnimationFrame per step: pan (or zoom about the centre) the view, then draw it.
  const api = window.semlabMap, draw = [], gaps = [];
  let last = null;
  for (let k = 0; k < frames; k++) {
    await new Promise((res) => requestAnimationFrame((t) => {
      if (last !== null) gaps.push(t - last);
      last = t;
      if (mode === 'zoom') api.zoomBy(k % 40 < 20 ? 1.03 : 1 / 1.03);
      else api.panBy(k % 60 < 30 ? 6 : -6, k % 40 < 20 ? 3 : -3);
      draw.push(api.render());
      res();
    }));
  }
  await new Promise((res) => requestAnimationFrame(() => res()));
  const s = api.state();
  return {draw, gaps, visible: s.visible, dots: s.drawnDots, thumbs: s.drawnThumbs};
}"""

SYNC_JS = """(frames) => {
  const api = window.semlabMap, times = [];
  for (let f = 0; f < frames; f++) {
    const t0 = performance.now();
    api.panBy(1, 0); api.renderSync();
    times.push(performance.now() - t0);
  }
  return times;
}"""


def frame_summary(values: list[float]) -> dict[str, float]:
    """p50/p95/max of frame times (ms)."""
    v = sorted(values)
    return {
        "p50_ms": round(statistics.median(v), 2),
        "p95_ms": round(v[min(len(v) - 1, int(0.95 * len(v)))], 2),
        "max_ms": round(v[-1], 2),
        "n": len(v),
    }


def real_thumbnails(tmp: Path, count: int = 2000, side: int = 128, seed: int = 0) -> list[str]:
    """``count`` distinct grey thumbnails cropped from the shared real SEM images (nanofibres,
    nanowires): realistic JPEG sizes for the atlas; synthetic noisy textures without the data."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    data = ROOT.parent / "shared" / "data"
    files = sorted((data / "nanofiber-defects" / "images").glob("*.png")) + sorted(
        (data / "nanowires-deepsem" / "images").glob("*.png")
    )
    sources = [np.asarray(Image.open(f).convert("L")) for f in files[:40]]
    out = []
    for k in range(count):
        if sources:
            a = sources[k % len(sources)]
            s = int(rng.integers(160, 480))
            r, c = int(rng.integers(0, a.shape[0] - s)), int(rng.integers(0, a.shape[1] - s))
            crop = a[r : r + s, c : c + s]
        else:
            yy, xx = np.mgrid[:side, :side]
            crop = np.clip(
                127 + 90 * np.sin(xx / (3 + k % 7) + yy / (4 + k % 5)) + rng.normal(0, 25, (side, side)),
                0,
                255,
            )
            crop = crop.astype(np.uint8)
        p = tmp / f"real_{k:05d}.jpg"
        Image.fromarray(crop).resize((side, side), Image.Resampling.LANCZOS).save(p, "JPEG", quality=85)
        out.append(str(p))
    return out


def _measure_views(page, n: int) -> dict:
    """Pan zoomed out, zoom zoomed out, pan zoomed in (thumbnails) and forced-sync draws."""
    res: dict = {}
    page.evaluate("semlabMap.fit()")
    page.wait_for_timeout(300)
    for key, mode in (("pan_zoomed_out", "pan"), ("zoom_zoomed_out", "zoom")):
        page.evaluate("semlabMap.fit()")
        out = page.evaluate(FRAMES_JS, [180, mode])
        res[key] = {"frame_interval": frame_summary(out["gaps"]), "draw_js": frame_summary(out["draw"])}
        if mode == "pan":
            res[key]["points_drawn"] = out["dots"]
    page.evaluate("semlabMap.fit()")
    res["draw_forced_sync_zoomed_out"] = frame_summary(page.evaluate(SYNC_JS, 30))
    scale = page.evaluate("semlabMap.state().view.scale")
    while True:  # zoom in on a point until thumbnails are drawn instead of dots
        scale *= 1.5
        page.evaluate(f"semlabMap.centerOn(0, {scale}); semlabMap.render()")
        if page.evaluate("semlabMap.state().visible") <= 300:
            break
    t = time.perf_counter()
    page.wait_for_function(
        "semlabMap.state().drawnThumbs > 0 && semlabMap.state().thumbnailsPending === 0", timeout=120000
    )
    res["zoomed_in_thumbnails_loaded_s"] = round(time.perf_counter() - t, 3)
    out = page.evaluate(FRAMES_JS, [180, "pan"])
    res["pan_zoomed_in"] = {
        "frame_interval": frame_summary(out["gaps"]),
        "draw_js": frame_summary(out["draw"]),
        "visible": out["visible"],
        "thumbnails_drawn": out["thumbs"],
    }
    return res


def _open(page, url: str, n: int) -> dict:
    t = time.perf_counter()
    page.goto(url, timeout=120000)
    page.wait_for_function(f"window.semlabMap && semlabMap.state().drawn === {n}", timeout=120000)
    wall = time.perf_counter() - t
    st = page.evaluate("semlabMap.state()")
    return {
        "first_render_ms_since_navigation": round(st["firstRenderMs"], 1),
        "goto_to_all_drawn_wall_s": round(wall, 3),
        "renderer": st["renderer"],
        "webgl_renderer": st["glRenderer"],
    }


def bench_page(n: int, coords_file: str | None) -> dict:
    """The ``n``-point map served and exported, in headless Chromium (WebGL and canvas 2-D)."""
    import pandas as pd
    from playwright.sync_api import sync_playwright

    from semlab.maps import export_html, map_from_coords, serve_map

    rng = np.random.default_rng(0)
    load0 = os.getloadavg()
    row: dict = {"n_points": n, "platform": platform.platform(), "chromium": CHROMIUM, "viewport": "1280x800"}
    if coords_file:
        coords = np.load(coords_file)
        row["coordinates_from"] = Path(coords_file).name
        # The embedding that made these coordinates (file coords_<method>_<n>.npy from --embedding).
        old = json.loads(OUT.read_text()) if OUT.is_file() else {}
        for r in old.get("embedding_benchmark", {}).get("rows", []):
            if Path(coords_file).stem == f"coords_{r['method']}_{r['n_points']}":
                row["embedding"] = r
    else:
        feats, _ = cnn_like_features(n)
        from semlab.maps import embed

        coords = embed(feats[:, :256], method="pca", seed=0)
        row["coordinates_from"] = "PCA of the synthetic features (layout only)"
    cluster = np.argsort(np.argsort(coords[:, 0])) * 8 // n
    burst = np.array([1, 2, 4, 8])[cluster % 4]
    table = pd.DataFrame(
        {
            "hash": [f"{i:064x}" for i in range(n)],
            "original_name": [f"img_{i:06d}.tif" for i in range(n)],
            "sample": [f"S{k:03d}" for k in rng.integers(0, 200, n)],
            "pixel_size_um": 0.008,
            "burst_count": burst,
            "porosity": np.clip(0.45 - 0.03 * burst + rng.normal(0, 0.02, n), 0, 1),
            "mean_pore_diameter_um": np.abs(0.2 + 0.05 * burst + rng.normal(0, 0.03, n)),
        }
    )
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        pics = real_thumbnails(tmp)
        thumbs = [pics[i % len(pics)] for i in range(n)]
        data = map_from_coords(coords, table, color_by="porosity", thumbnails=thumbs, method="umap")
        t = time.perf_counter()
        html = export_html(data, tmp / "export" / "map.html")
        row["export_s"] = round(time.perf_counter() - t, 2)
        folder = html.with_name("map_files")
        sheet_files = sorted(folder.glob("atlas-*.jpg"))
        size = html.stat().st_size + sum(f.stat().st_size for f in folder.iterdir())
        row["export"] = {
            "total_bytes": size,
            "total_mb": round(size / 1e6, 2),
            "html_bytes": html.stat().st_size,
            "atlas_sheets": len(sheet_files),
            "atlas_bytes": sum(f.stat().st_size for f in sheet_files),
            "bytes_per_point": round(size / n, 1),
            "thumbnails": f"{len(pics)} distinct 128 px crops of the shared real SEM images, one per point",
        }
        print(f"export of {n} points: {size / 1e6:.1f} MB in {row['export_s']} s", flush=True)
        with sync_playwright() as pw, serve_map(data, port=0) as server:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
            ctx = browser.new_context(viewport={"width": 1280, "height": 800})
            page = ctx.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            row["served"] = _open(page, server.url, n)
            row["served"].update(_measure_views(page, n))
            print("served (renderer chosen by the page):", json.dumps(row["served"]), flush=True)
            for key, query in (
                ("served_webgl_forced", "?renderer=webgl"),
                ("served_canvas2d_forced", "?renderer=canvas"),
            ):
                row[key] = _open(page, server.url + query, n)
                for name, mode in (("pan_zoomed_out", "pan"), ("zoom_zoomed_out", "zoom")):
                    page.evaluate("semlabMap.fit()")
                    out = page.evaluate(FRAMES_JS, [120, mode])
                    row[key][name] = {
                        "frame_interval": frame_summary(out["gaps"]),
                        "draw_js": frame_summary(out["draw"]),
                    }
                print(key, json.dumps(row[key]), flush=True)
            requested: list[str] = []
            page.on("request", lambda r: requested.append(r.url) if "atlas-" in r.url else None)
            row["exported_file"] = _open(page, html.as_uri(), n)
            row["exported_file"].update(_measure_views(page, n))
            row["exported_file"]["atlas_sheets_loaded_zoomed_in"] = len(set(requested))
            print("exported file:", json.dumps(row["exported_file"]), flush=True)
            row["page_errors"] = errors
            browser.close()
    row["load_avg_1_5_15_before"] = [round(v, 2) for v in load0]
    row["load_avg_1_5_15_after"] = [round(v, 2) for v in os.getloadavg()]
    row["summary"] = summarise(row)
    return row


def summarise(row: dict) -> dict:
    """The numbers the issue asks for, from one 100 000-point row: first render, worst frame
    p50/p95/max over panning and zooming (zoomed out and in) with the page's own renderer,
    export size, embedding."""
    out: dict = {"n_points": row["n_points"]}
    for key in ("served", "exported_file"):
        r = row[key]
        views = {
            k: v["frame_interval"] for k, v in r.items() if isinstance(v, dict) and "frame_interval" in v
        }
        out[key] = {
            "renderer": r["renderer"],
            "webgl_renderer": r["webgl_renderer"],
            "first_render_ms": r["first_render_ms_since_navigation"],
            "frame_p50_ms_worst_view": max(v["p50_ms"] for v in views.values()),
            "frame_p95_ms_worst_view": max(v["p95_ms"] for v in views.values()),
            "frame_max_ms_worst_view": max(v["max_ms"] for v in views.values()),
            "draw_js_p95_ms_worst_view": max(r[k]["draw_js"]["p95_ms"] for k in views if "draw_js" in r[k]),
        }
    out["export_mb"] = row["export"]["total_mb"]
    emb = row.get("embedding") or {}
    out["embedding_method"] = emb.get("method", row["coordinates_from"])
    out["embedding_wall_s"] = emb.get("seconds")
    out["embedding_cpu_s"] = emb.get("cpu_seconds")
    out["embedding_trustworthiness"] = emb.get("trustworthiness_15nn_2000")
    out["load_avg_1min"] = [row["load_avg_1_5_15_before"][0], row["load_avg_1_5_15_after"][0]]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--umap", action="store_true", help="20 000-point page run: also time UMAP on 20 000 × 64"
    )
    parser.add_argument("--points", type=int, help="measure the page with this many points (e.g. 100000)")
    parser.add_argument("--coords", help="map coordinates (.npy, n × 2) for --points, e.g. from --embedding")
    parser.add_argument(
        "--embedding", help="comma-separated sizes: time the embedding methods on 1280-d features"
    )
    parser.add_argument("--methods", default=",".join(EMBED_METHODS), help="embedding methods to time")
    parser.add_argument("--save-dir", help="with --embedding: keep each run's coordinates here")
    parser.add_argument("--embed-one", help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--save-coords", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.embed_one:
        print(json.dumps(embed_one(args.embed_one, args.n, save_coords=args.save_coords)))
    elif args.embedding:
        bench_embedding([int(v) for v in args.embedding.split(",")], args.methods.split(","), args.save_dir)
    elif args.points:
        row = bench_page(args.points, args.coords)
        _merge({"map_100k" if args.points == 100_000 else f"map_{args.points}": row})
        print(f"wrote {OUT}")
    else:
        bench_page_20k(args)


if __name__ == "__main__":
    main()
