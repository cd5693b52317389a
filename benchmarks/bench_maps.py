"""Map page benchmark: a 20 000-point map in headless Chromium (Debian ``chromium``).

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--umap", action="store_true", help="also time UMAP on the 20 000 × 64 features")
    args = parser.parse_args()

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
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
