"""Large maps: sprite-sheet export, thumbnails on demand, size per point, renderer and colour switching."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from semlab.maps import export_html, map_from_coords, serve_map
from semlab.maps.atlas import ATLAS_BUDGET_BYTES, BYTES_PER_PIXEL, atlas_tile_side, write_atlas, z_order

SHOTS = Path(
    os.environ.get("SEMLAB_SCREENSHOTS", Path(__file__).resolve().parents[1] / "_artifacts" / "screenshots")
)
N = 3000


def _textures(folder: Path, count: int = 40, side: int = 128) -> list[str]:
    """Grey micrograph-like textures (grains + noise) as JPEG files."""
    from PIL import Image

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:side, :side]
    out = []
    for k in range(count):
        img = (
            128
            + 70 * np.sin(xx / (3 + k % 7) + k) * np.cos(yy / (4 + k % 5))
            + rng.normal(0, 12, (side, side))
        )
        p = folder / f"t{k:02d}.jpg"
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(p, "JPEG", quality=85)
        out.append(str(p))
    return out


@pytest.fixture(scope="module")
def big_map(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bigmap")
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 6, (6, 2))
    cluster = rng.integers(0, 6, N)
    coords = centres[cluster] + rng.normal(0, 1, (N, 2))
    pics = _textures(tmp)
    table = pd.DataFrame(
        {
            "hash": [f"{i:064x}" for i in range(N)],
            "original_name": [f"img_{i:05d}.tif" for i in range(N)],
            "sample": [f"S{c}" for c in cluster],
            "pixel_size_um": 0.01,
            "porosity": np.clip(0.1 + 0.05 * cluster + rng.normal(0, 0.02, N), 0, 1),
            "mean_pore_diameter_um": 0.2 + 0.1 * cluster + rng.normal(0, 0.01, N),
        }
    )
    thumbs = [pics[i % len(pics)] for i in range(N)]
    return map_from_coords(
        coords, table, color_by="porosity", thumbnails=thumbs, method="umap", title="Large map"
    )


@pytest.fixture
def page(chromium_browser):
    context = chromium_browser.new_context(viewport={"width": 1200, "height": 800})
    pg = context.new_page()
    pg.errors = []
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    yield pg
    context.close()


def _zoom_in_until_thumbnails(page) -> dict:
    scale = page.evaluate("semlabMap.state().view.scale")
    for _ in range(30):
        scale *= 1.6
        page.evaluate(f"semlabMap.centerOn(0, {scale}); semlabMap.render()")
        if page.evaluate("semlabMap.state().visible") <= 400:
            break
    page.wait_for_function(
        "semlabMap.state().drawnThumbs > 0 && semlabMap.state().thumbnailsPending === 0", timeout=30000
    )
    page.evaluate("semlabMap.render()")
    return page.evaluate("semlabMap.state()")


def test_z_order_keeps_neighbours_together_and_tile_side_follows_the_budget():
    rng = np.random.default_rng(0)
    pts = rng.random((4096, 2))
    order = z_order(pts)
    assert sorted(order.tolist()) == list(range(4096))
    # Consecutive points along the curve are far closer than random pairs.
    step = np.linalg.norm(np.diff(pts[order], axis=0), axis=1).mean()
    assert step < 0.2 * np.linalg.norm(pts[1:] - pts[:-1], axis=1).mean()
    for n in (1000, 20_000, 100_000, 1_000_000):
        side = atlas_tile_side(n)
        assert side % 8 == 0 and 24 <= side <= 128
        assert side == 24 or n * side**2 * BYTES_PER_PIXEL <= ATLAS_BUDGET_BYTES
    assert atlas_tile_side(100_000) == 32


def test_atlas_tiles_are_the_thumbnails(tmp_path):
    """Each point's tile, cut from its sheet, is its thumbnail shrunk to the tile (aspect kept)."""
    from PIL import Image

    rng = np.random.default_rng(1)
    pics = []
    for k in range(5):
        a = (rng.random((60, 90)) * 255).astype(np.uint8)
        p = tmp_path / f"p{k}.png"
        Image.fromarray(a).save(p)
        pics.append(str(p))
    coords = rng.random((6, 2))
    atlas = write_atlas([*pics, None], coords, tmp_path / "sheets", tile=32, url_prefix="x/")
    assert atlas["slot"][5] == -1 and atlas["w"][0] == 32 and atlas["h"][0] == 21
    sheet = np.asarray(Image.open(tmp_path / "sheets" / atlas["sheets"][0].removeprefix("x/")), np.float64)
    for k in range(5):
        s = atlas["slot"][k]
        r, c = divmod(s % (atlas["cols"] ** 2), atlas["cols"])
        tile = sheet[r * 32 : r * 32 + 21, c * 32 : c * 32 + 32]
        want = Image.open(pics[k]).convert("L")
        want.thumbnail((32, 32), Image.Resampling.LANCZOS)
        assert np.abs(tile - np.asarray(want, np.float64)).mean() < 12  # JPEG q80 round-off


def test_export_size_per_point_stays_in_the_100k_budget(big_map, tmp_path):
    """With the 32 px tiles a 100 000-point export gets, the whole export (page, data, sheets)
    takes under 500 bytes per point: 50 MB for 100 000."""
    html = export_html(big_map, tmp_path / "map.html", atlas_tile=32)
    files = list((tmp_path / "map_files").iterdir())
    assert files and all(f.name.startswith("atlas-") for f in files)
    total = html.stat().st_size + sum(f.stat().st_size for f in files)
    assert total / N < 500, total / N
    text = html.read_text(encoding="utf-8")
    assert "data:image" not in text  # no base64 picture per point


@pytest.mark.slow
def test_exported_large_map_renders_all_points_switches_colours_and_loads_sheets_on_demand(
    big_map, page, tmp_path
):
    html = export_html(big_map, tmp_path / "big map.html")
    sheets = sorted((tmp_path / "big map_files").glob("atlas-*.jpg"))
    assert len(sheets) > 3
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url) if "atlas-" in r.url else None)
    page.goto(html.as_uri())
    page.wait_for_function(f"window.semlabMap && semlabMap.state().drawn === {N}", timeout=30000)
    st = page.evaluate("semlabMap.state()")
    assert st["drawnDots"] == N and st["atlas"] and requested == []  # zoomed out: dots, no sheet loaded
    assert (
        "unitless" in page.locator("#axis-x").inner_text()
        and "UMAP 1" in page.locator("#axis-x").inner_text()
    )
    # Colour by another column: the colour bar shows its unit; by sample: a legend with counts.
    page.evaluate("semlabMap.setColorBy('mean_pore_diameter_um')")
    assert page.evaluate("semlabMap.state().colorBy") == "mean_pore_diameter_um"
    assert "µm" in page.locator("#legend .bar-unit").inner_text()
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "map-large-zoomed-out.png"))
    page.evaluate("semlabMap.setColorBy('sample')")
    items = page.locator("#legend .item").all_inner_texts()
    counts = big_map.table["sample"].value_counts()
    assert sorted(items) == sorted(f"{s} ({c})" for s, c in counts.items())
    st = _zoom_in_until_thumbnails(page)
    assert st["drawnThumbs"] == st["visible"] > 0
    loaded = {u.rsplit("/", 1)[1] for u in requested}
    assert 0 < len(loaded) < len(sheets)  # only the sheets of the points in view
    page.screenshot(path=str(SHOTS / "map-large-zoomed-in.png"))
    assert page.errors == []


@pytest.mark.slow
def test_served_large_map_fetches_thumbnails_only_when_zoomed_in(big_map, page):
    with serve_map(big_map, port=0) as server:
        asked: list[str] = []
        page.on("request", lambda r: asked.append(r.url) if "/thumb/" in r.url else None)
        page.goto(server.url)
        page.wait_for_function(f"window.semlabMap && semlabMap.state().drawn === {N}", timeout=30000)
        page.evaluate("semlabMap.render()")
        assert asked == []
        st = _zoom_in_until_thumbnails(page)
        fetched = {int(u.rsplit("/", 1)[1]) for u in asked}
        # The view's thumbnails (at most 400) and those of the layer's margin (0.2 of the larger
        # side on each side: at most 2.5x the view's area): never the whole map.
        assert st["visible"] <= len(fetched) <= 1000 < N
        for renderer in ("webgl", "canvas"):  # both renderers draw every point
            page.goto(server.url + "?renderer=" + renderer)
            page.wait_for_function(f"window.semlabMap && semlabMap.state().drawn === {N}", timeout=30000)
            st = page.evaluate("semlabMap.state()")
            if renderer == "webgl" and st["glRenderer"] is None:
                continue  # no WebGL in this browser: the page drew with the 2-D canvas
            assert st["renderer"] == ("webgl" if renderer == "webgl" else "canvas2d")
        assert page.errors == []


def test_full_images_are_exported_once_per_image(tmp_path):
    """A per-patch map points many times at one image: the export holds it once (in the page for a
    small map, in NAME_files/ for a large one), and a small re-export removes the old folder's pictures."""
    from PIL import Image

    rng = np.random.default_rng(2)
    files = []
    for k in range(3):
        p = tmp_path / f"full{k}.png"
        Image.fromarray((rng.random((64, 80)) * 255).astype(np.uint8)).save(p)
        files.append(str(p))
    thumbs = _textures(tmp_path, count=3)
    for n, atlas in ((30, False), (600, True)):
        table = pd.DataFrame({"hash": [f"{i:064x}" for i in range(n)], "original_name": "x", "sample": "S"})
        m = map_from_coords(
            rng.random((n, 2)),
            table,
            thumbnails=[thumbs[i % 3] for i in range(n)],
            images=[files[i % 3] for i in range(n)],
        )
        html = export_html(m, tmp_path / "out.html")
        text = html.read_text(encoding="utf-8")
        folder = tmp_path / "out_files"
        if atlas:
            assert sorted(f.name for f in folder.glob("image-*")) == [f"image-{k:05d}.png" for k in range(3)]
            assert text.count("out_files/image-") == 3
        else:
            assert text.count("data:image/png;base64,") == 3
            assert not folder.exists() or not any(folder.iterdir())
    export_html(m, tmp_path / "out.html", atlas=False)  # the same map as one file again
    assert not list(folder.glob("atlas-*")) and not list(folder.glob("image-*"))
