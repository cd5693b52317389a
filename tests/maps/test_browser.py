"""End-to-end: the map page in real headless Chromium, served and as a standalone file."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from semlab.maps import export_html, serve_map

VIEWPORT = {"width": 1200, "height": 800}
#: Screenshots are kept here (git-ignored) to be looked at; SEMLAB_SCREENSHOTS moves them.
SHOTS = Path(
    os.environ.get("SEMLAB_SCREENSHOTS", Path(__file__).resolve().parents[1] / "_artifacts" / "screenshots")
)


def _shot(page, name, **kw):
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / name
    page.screenshot(path=str(path), **kw)
    return path


@pytest.fixture
def page(chromium_browser):
    context = chromium_browser.new_context(viewport=VIEWPORT, accept_downloads=True)
    pg = context.new_page()
    pg.errors = []
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    pg.on("console", lambda m: pg.errors.append(m.text) if m.type == "error" else None)
    yield pg
    context.close()


def _all_drawn(pg, n):
    pg.wait_for_function(
        f"window.semlabMap && semlabMap.state().drawnThumbs === {n} && semlabMap.state().thumbnailsPending === 0",
        timeout=20000,
    )
    return pg.evaluate("semlabMap.state()")


def _positions(pg, n):
    return [pg.evaluate(f"semlabMap.screenPosition({i})") for i in range(n)]


def test_served_map_end_to_end(series_map, page, tmp_path):
    n = len(series_map)
    table = series_map.table
    with serve_map(series_map, port=0) as server:
        assert server.url.startswith("http://127.0.0.1:")
        page.goto(server.url)
        st = _all_drawn(page, n)
        # Every image is drawn, as its thumbnail, coloured by burst count: a number, so an ordered
        # colour bar; its levels as categories (a legend) when asked.
        assert st["n"] == n and st["visible"] == n and st["drawn"] == n and st["drawnDots"] == 0
        assert st["colorBy"] == "burst_count"
        assert page.locator("#legend canvas.colour-bar").count() == 1
        _shot(page, "map-served-burst-count.png")
        page.select_option("#color-by", "burst_count::categories")
        page.wait_for_function("semlabMap.state().asCategories")
        assert [t.strip() for t in page.locator("#legend .item").all_inner_texts()] == [
            f"{b} ({(table['burst_count'] == b).sum()})" for b in (1, 2, 4, 8)
        ]

        # Switch the colour column in the page: a continuous column gets a colour bar.
        page.select_option("#color-by", "porosity")
        page.wait_for_function("semlabMap.state().colorBy === 'porosity'")
        assert page.locator("#legend canvas.colour-bar").count() == 1
        labels = page.locator("#legend .bar-labels span").all_inner_texts()
        assert float(labels[0]) == pytest.approx(table["porosity"].min(), rel=1e-3)
        assert float(labels[-1]) == pytest.approx(table["porosity"].max(), rel=1e-3)

        # Hover: tooltip with thumbnail and metadata of the point under the mouse.
        pos = _positions(page, n)
        i = 5
        page.mouse.move(pos[i]["x"], pos[i]["y"])
        page.wait_for_function(f"semlabMap.state().hover === {i}")
        tip = page.locator("#tooltip")
        assert tip.is_visible()
        assert table["sample"].iloc[i] in tip.inner_text()
        assert tip.locator("img").get_attribute("src") == f"thumb/{i}"

        # Click: detail panel with the full image (converted 16-bit TIFF), sample, parameters and pixel size.
        page.mouse.click(pos[i]["x"], pos[i]["y"])
        page.wait_for_function("semlabMap.state().detailOpen")
        assert page.evaluate("semlabMap.state().detailIndex") == i
        page.wait_for_function("document.getElementById('detail-image').naturalWidth > 0", timeout=20000)
        detail = page.locator("#detail").inner_text()
        assert table["sample"].iloc[i] in detail and table["original_name"].iloc[i] in detail
        assert "0.008 µm/px" in detail
        assert f"burst_count\t{table['burst_count'].iloc[i]}" in detail
        assert page.evaluate("document.getElementById('detail-image').naturalHeight") == 128
        page.click("#detail-close")

        # Box selection of the left half of the points, then CSV download of the selection.
        xs = sorted(p["x"] for p in pos)
        cut = (xs[n // 2 - 1] + xs[n // 2]) / 2
        expected = {table["hash"].iloc[k] for k in range(n) if pos[k]["x"] < cut}
        top = min(p["y"] for p in pos) - 40
        bottom = max(p["y"] for p in pos) + 40
        left = min(p["x"] for p in pos) - 40
        page.click("#mode-box")
        page.mouse.move(left, top)
        page.mouse.down()
        page.mouse.move((left + cut) / 2, (top + bottom) / 2, steps=4)
        page.mouse.move(cut, bottom, steps=4)
        page.mouse.up()
        assert page.evaluate("semlabMap.state().selected") == len(expected) == n // 2
        with page.expect_download() as dl:
            page.click("#export-csv")
        download = dl.value
        assert download.suggested_filename.endswith(".csv")
        csv = pd.read_csv(io.StringIO(open(download.path(), encoding="utf-8").read()))
        assert len(csv) == len(expected) and set(csv["hash"]) == expected
        assert {"sample", "pixel_size_um", "burst_count", "porosity", "map_x", "map_y"} <= set(csv.columns)
        row = table.set_index("hash").loc[csv["hash"].iloc[0]]
        assert csv["sample"].iloc[0] == row["sample"] and csv["burst_count"].iloc[0] == row["burst_count"]

        # Lasso around every point selects them all.
        page.click("#mode-lasso")
        right = max(p["x"] for p in pos) + 40
        page.mouse.move(left, top)
        page.mouse.down()
        for x, y in [(right, top), (right, bottom), (left, bottom), (left, top + 5)]:
            page.mouse.move(x, y, steps=5)
        page.mouse.up()
        assert page.evaluate("semlabMap.state().selected") == n

        # Search by sample and filter by a parameter range.
        sample = table["sample"].iloc[0]
        page.fill("#search", sample)
        assert page.evaluate("semlabMap.state().shown") == (table["sample"] == sample).sum()
        page.fill("#search", "")
        page.select_option("#range-column", "burst_count")
        page.fill("#range-min", "2")
        page.fill("#range-max", "4")
        page.wait_for_function("semlabMap.state().frames > 0")
        assert page.evaluate("semlabMap.state().shown") == table["burst_count"].isin([2, 4]).sum()
        page.wait_for_function(f"semlabMap.state().visible === {table['burst_count'].isin([2, 4]).sum()}")

        shot = _shot(page, "map-served-filtered.png")
        assert shot.stat().st_size > 10_000
        assert page.errors == []


def test_standalone_html_opens_from_disk(series_map, page, tmp_path):
    n = len(series_map)
    path = export_html(series_map, tmp_path / "map.html")
    page.goto(path.as_uri())
    st = _all_drawn(page, n)
    assert st["drawn"] == n and st["colorBy"] == "burst_count"
    pos = page.evaluate("semlabMap.screenPosition(2)")
    page.mouse.click(pos["x"], pos["y"])
    page.wait_for_function("document.getElementById('detail-image').naturalWidth > 0")
    assert page.locator("#detail-image").get_attribute("src").startswith("data:image/png;base64,")
    assert series_map.table["sample"].iloc[2] in page.locator("#detail").inner_text()
    page.evaluate("semlabMap.select([0, 1, 2])")
    with page.expect_download() as dl:
        page.click("#export-csv")
    assert len(pd.read_csv(dl.value.path())) == 3
    _shot(page, "map-standalone.png")
    assert page.errors == []


@pytest.fixture
def annealing_map(tmp_path):
    """Twelve 600 px micrographs of a 5-level annealing series with identifier columns beside."""
    from PIL import Image

    from semlab.maps import map_from_coords
    from semlab.maps.thumbs import cached_picture

    rng = np.random.default_rng(0)
    temps = np.repeat([300.0, 400.0, 500.0, 600.0, 700.0], [3, 3, 2, 2, 2])
    n = len(temps)
    small, large, files = [], [], []
    yy, xx = np.mgrid[0:600, 0:600]
    for i, t in enumerate(temps):
        period = 8 + (t - 300) / 20  # coarser structure at higher temperature
        img = 128 + 90 * np.sin(xx / period + i) * np.cos(yy / period) + rng.normal(0, 8, (600, 600))
        arr = np.clip(img, 0, 255).astype(np.uint8)
        f = tmp_path / f"anneal_{i:02d}.png"
        Image.fromarray(arr).save(f)
        files.append(str(f))
        small.append(cached_picture(tmp_path / "thumbs", f"p{i}", lambda a=arr: a, size=128))
        large.append(cached_picture(tmp_path / "thumbs", f"p{i}", lambda a=arr: a, size=512))
    table = pd.DataFrame(
        {
            "hash": [f"{i:064x}" for i in range(n)],
            "original_name": [Path(f).name for f in files],
            "sample": [f"A{int(t)}" for t in temps],
            "pixel_size_um": 0.05,
            "anneal_temperature_c": temps,
            "mean_feature_size_um": 0.05 * (8 + (temps - 300) / 20),
            "empty_column": np.nan,
            "source_path": files,
            "row_index": np.arange(n),
        }
    )
    coords = np.column_stack([temps / 100 + rng.normal(0, 0.4, n), rng.normal(0, 1, n)])
    return map_from_coords(
        coords,
        table,
        color_by="anneal_temperature_c",
        thumbnails=small,
        thumbnails_large=large,
        images=files,
        title="Annealing series",
        method="umap",
        info={
            "backbone": "EfficientNet-Lite0",
            "patch_size_px": 224,
            "target_pixel_size_um": 0.05,
            "per_patch": False,
        },
    )


def test_map_page_explains_itself(annealing_map, page):
    """Title, what the coordinates are, an ordered colour bar with the unit; no identifier
    columns offered; thumbnails sharpen when zoomed in."""
    n = len(annealing_map)
    with serve_map(annealing_map, port=0) as server:
        page.goto(server.url)
        _all_drawn(page, n)
        assert page.locator("#title").inner_text() == "Annealing series"
        coords = page.locator("#coordinates").inner_text()
        assert "UMAP of EfficientNet-Lite0 features, 224 px patches at 0.05 µm/px" in coords
        legend = page.locator("#legend")
        assert legend.locator("canvas.colour-bar").count() == 1
        assert legend.locator(".title").inner_text() == "anneal temperature (°C)"
        assert "°C" in legend.locator(".bar-unit").inner_text()
        labels = legend.locator(".bar-labels span").all_inner_texts()
        assert float(labels[0]) == 300 and float(labels[-1]) == 700
        offered = page.eval_on_selector_all("#color-by option", "os => os.map(o => o.value)")
        assert "anneal_temperature_c" in offered and "mean_feature_size_um" in offered
        assert not {"empty_column", "source_path", "row_index", "hash"} & set(offered)
        _shot(page, "map-explains-itself.png")
        st = page.evaluate("semlabMap.state()")
        assert st["drawnLarge"] == 0  # the whole map: 128 px thumbnails are enough
        page.evaluate("semlabMap.centerOn(0, semlabMap.state().view.scale * 8)")
        page.wait_for_function(
            "semlabMap.state().drawnLarge > 0 && semlabMap.state().thumbnailsPending === 0", timeout=20000
        )
        page.evaluate("semlabMap.render()")
        _shot(page, "map-zoomed-sharp-thumbnails.png")
        assert page.errors == []


def test_per_patch_map_shows_each_patch(uint16_ws, series_features, page):
    """Each point of a per-patch map is drawn as its own patch, and its detail panel shows that patch."""
    from semlab.features.table import FeatureTable
    from semlab.maps import build_map

    k = len(series_features)
    feats = np.repeat(series_features.features, 2, axis=0)
    feats = feats + np.random.default_rng(1).normal(0, 0.01, feats.shape)
    index = pd.DataFrame(
        {
            "image_hash": np.repeat(series_features.index["image_hash"].to_numpy(), 2),
            "patch": np.tile([0, 1], k),
            "row": np.tile([0, 48], k),
            "col": np.tile([0, 48], k),
            "size_px": 64,
        }
    )
    ft = FeatureTable(feats.astype(np.float32), index, "test", "none", None, {})
    data = build_map(uint16_ws, method="pca", features=ft, per_patch=True, color_by="porosity")
    n = len(data)
    with serve_map(data, port=0) as server:
        page.goto(server.url)
        _all_drawn(page, n)
        sizes = page.evaluate(
            "Promise.all([0, 1].map(i => new Promise(r => { const im = new Image(); "
            "im.onload = () => r([im.naturalWidth, im.naturalHeight]); im.src = 'thumb/' + i; })))"
        )
        assert sizes == [[64, 64], [64, 64]]  # the 64 px patch, not the 128 px image
        page.evaluate("semlabMap.openDetail(1)")
        page.wait_for_function("document.getElementById('detail-image').naturalWidth > 0", timeout=20000)
        assert page.locator("#detail-image").get_attribute("src") == "image/1"
        assert "patch\t1" in page.locator("#detail").inner_text()
        # The whole image (128 px wide, data bar included) with the patch at (48, 48), 64 px, outlined.
        img = page.locator("#detail-image").bounding_box()
        box = page.locator("#detail-box").bounding_box()
        rows = uint16_ws.get(data.table["hash"].iloc[1]).shape[0]
        scale = img["width"] / 128
        assert box["x"] - img["x"] == pytest.approx(48 * scale, abs=2)
        assert box["y"] - img["y"] == pytest.approx(48 * img["height"] / rows, abs=2)
        assert box["width"] == pytest.approx(64 * scale, abs=2)
        _shot(page, "map-per-patch.png")
        assert page.errors == []
