"""Map data from a workspace: columns, thumbnails cache, saved embedding, bad input."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from semlab.errors import ParameterError, WorkspaceError
from semlab.maps import build_map, export_html, full_picture, map_from_features, page_payload, place_on_map


def test_build_map_has_one_point_per_image_with_metadata(uint16_ws, series_map):
    table = uint16_ws.table()
    assert len(series_map) == len(table) == 16
    assert series_map.coords.shape == (16, 2)
    assert set(series_map.table["hash"]) == set(table["hash"])
    assert {"sample", "pixel_size_um", "burst_count", "porosity", "conductivity_MS_per_m"} <= set(
        series_map.columns
    )
    assert "stored_path" not in series_map.columns and "hash" not in series_map.columns
    assert series_map.method == "pca" and series_map.color_by == "burst_count"
    # The grey-histogram features order the images by porosity (which falls with burst count): porosity is
    # nearly linear in the map coordinates, and images of one burst count sit together.
    c = series_map.coords.astype(np.float64)
    design = np.column_stack([c, np.ones(len(c))])
    por = series_map.table["porosity"].to_numpy()
    resid = por - design @ np.linalg.lstsq(design, por, rcond=None)[0]
    assert 1 - resid.var() / por.var() > 0.6  # R² (chance: about 0.13 for 16 points)
    dist = np.linalg.norm(c[:, None] - c[None], axis=-1)
    b = series_map.table["burst_count"].to_numpy()
    same = (b[:, None] == b[None]) & ~np.eye(len(b), dtype=bool)
    assert dist[same].mean() < 0.6 * dist[b[:, None] != b[None]].mean()


def test_thumbnails_are_cached_8bit_files_keyed_by_hash_and_size(uint16_ws, series_map):
    thumbs = [p for p in series_map.thumbnails]
    assert all(p is not None for p in thumbs)
    for h, p in zip(series_map.table["hash"], thumbs, strict=True):
        assert p.endswith(f"{h}_128.jpg") and str(uint16_ws.path / "maps" / "thumbs") in p
        with Image.open(p) as im:
            assert im.mode == "L" and max(im.size) <= 128
    mtimes = [__import__("os").stat(p).st_mtime_ns for p in thumbs]
    again = build_map(uint16_ws, method="pca", features=_features(uint16_ws))
    assert [__import__("os").stat(p).st_mtime_ns for p in again.thumbnails] == mtimes  # made once


def _features(ws):
    from semlab.features import intensity_features

    return intensity_features(ws)


def test_full_picture_converts_the_16bit_tiff_to_png(uint16_ws, series_map):
    rec = uint16_ws.get(series_map.table["hash"].iloc[0])
    assert rec.dtype == "uint16" and rec.stored_path.suffix == ".tif"
    p = full_picture(series_map, 0)
    assert p.suffix == ".png" and p.parent == uint16_ws.path / "maps" / "full"
    with Image.open(p) as im:
        assert im.mode == "L" and im.size == (rec.shape[1], rec.shape[0])  # whole image, data bar included


def test_page_payload_kinds_of_columns(series_map):
    payload = page_payload(series_map)
    cols = {c["name"]: c for c in payload["columns"]}
    # A number gets an ordered colour map by default; its few levels can be shown as categories.
    assert cols["burst_count"]["kind"] == "continuous" and cols["burst_count"]["levels"] == [
        "1",
        "2",
        "4",
        "8",
    ]
    assert cols["burst_count"]["numeric"] is True
    assert cols["sample"]["kind"] == "categorical" and not cols["sample"]["numeric"]
    assert len(cols["sample"]["levels"]) == 8
    assert cols["porosity"]["kind"] == "continuous"
    assert cols["porosity"]["min"] == pytest.approx(series_map.table["porosity"].min(), rel=1e-5)
    json.dumps(payload, allow_nan=False)  # strict JSON


def test_place_on_map_puts_known_images_where_the_map_has_them(uint16_ws, series_map, series_features):
    pooled = series_features.per_image()
    order = [pooled.index["image_hash"].tolist().index(h) for h in series_map.table["hash"]]
    placed = place_on_map(uint16_ws, pooled.features[order])
    np.testing.assert_allclose(placed, series_map.coords, atol=1e-4)
    one = place_on_map(uint16_ws.path, pooled.features[order[0]])
    assert one.shape == (1, 2)
    cfg = json.loads((uint16_ws.path / "maps" / "latest" / "config.json").read_text())
    assert cfg["method"] == "pca" and cfg["backbone"] == "grey-histogram+spectrum" and cfg["n_points"] == 16


def test_per_patch_map_has_one_point_per_patch(uint16_ws, series_features):
    from semlab.features.table import FeatureTable

    rng = np.random.default_rng(0)
    k = len(series_features)
    feats = np.repeat(series_features.features, 3, axis=0) + rng.normal(
        0, 0.01, (3 * k, series_features.n_features)
    )
    index = pd.DataFrame(
        {
            "image_hash": np.repeat(series_features.index["image_hash"].to_numpy(), 3),
            "patch": np.tile([0, 1, 2], k),
            "row": 0,
            "col": 0,
            "size_px": 32,
        }
    )
    ft = FeatureTable(feats.astype(np.float32), index, "test", "none", None, {})
    per_patch = build_map(uint16_ws, method="pca", features=ft, per_patch=True)
    assert len(per_patch) == 3 * k and per_patch.table["patch"].tolist()[:3] == [0, 1, 2]
    per_image = build_map(uint16_ws, method="pca", features=ft)
    assert len(per_image) == k


def test_colour_column_that_does_not_exist(uint16_ws, series_features):
    with pytest.raises(ParameterError) as info:
        build_map(uint16_ws, method="pca", color_by="critical_current", features=series_features)
    msg = str(info.value)
    assert "\n" not in msg and "'critical_current'" in msg
    assert "columns: sample, pixel_size_um" in msg and "burst_count" in msg


def test_workspace_without_features_says_run_embed(tmp_path):
    from semlab.data import sintering_series
    from semlab.dataset import Workspace

    sintering_series(
        tmp_path / "s", shape=(64, 64), samples_per_level=1, images_per_sample=1, write_labels=False
    )
    ws = Workspace.init(tmp_path / "ws")
    ws.add(table=tmp_path / "s" / "descriptors.csv", images_dir=tmp_path / "s")
    with pytest.raises(WorkspaceError, match="semlab embed"):
        build_map(ws, method="pca")
    with pytest.raises(WorkspaceError, match="no map yet"):
        place_on_map(ws, np.zeros((1, 4)))


def test_empty_workspace(tmp_path):
    from semlab.dataset import Workspace

    ws = Workspace.init(tmp_path / "empty")
    with pytest.raises(WorkspaceError, match="no images; add some"):
        build_map(ws)


def test_arrays_only_map_and_standalone_export_is_self_contained(tmp_path):
    rng = np.random.default_rng(0)
    table = pd.DataFrame({"sample": ["a", "b", "</script><b>x"] * 4, "value": rng.random(12)})
    m = map_from_features(rng.normal(size=(12, 5)), table, method="pca", color_by="value")
    assert m.thumbnails == (None,) * 12 and m.to_dict()["n_points"] == 12
    path = export_html(m, tmp_path / "m.html")
    html = path.read_text()
    assert "http://" not in html and "https://" not in html  # no CDN, nothing fetched
    assert "</script><b>x" not in html  # data cannot end its script element
    with pytest.raises(ParameterError, match="12 points"):
        map_from_features(rng.normal(size=(12, 5)), table.iloc[:5], method="pca")


def test_numeric_columns_are_ordered_with_unit_and_identifiers_are_not_offered():
    """Numbers: continuous with the unit from the name; all-missing, path, hash and index columns left out."""
    import pandas as pd

    from semlab.maps import map_from_coords
    from semlab.maps.mapdata import color_columns

    n = 6
    table = pd.DataFrame(
        {
            "hash": [f"{i:064x}" for i in range(n)],
            "anneal_temperature_c": [20.0, 100.0, 200.0, 300.0, 400.0, 400.0],
            "mean_diameter_um": np.linspace(0.1, 0.6, n),
            "empty": [np.nan] * n,
            "source_file_path": [f"/data/run/img_{i}.tif" for i in range(n)],
            "checksum": [f"{i:032x}" for i in range(n)],
            "row_number": np.arange(n),
            "layer": np.arange(1, n + 1),  # a short series' parameter 1..6, not an index
            "sample": ["a", "b", "a", "b", "a", "b"],
        }
    )
    assert color_columns(table) == ["anneal_temperature_c", "mean_diameter_um", "layer", "sample"]
    long = pd.DataFrame({"n": np.arange(30), "value_um": np.linspace(0, 1, 30)})
    assert color_columns(long) == ["value_um"]  # 0..29 in a 30-row table: a row number
    data = map_from_coords(
        np.random.default_rng(0).normal(size=(n, 2)), table, color_by="anneal_temperature_c"
    )
    payload = page_payload(data)
    cols = {c["name"]: c for c in payload["columns"]}
    assert cols["anneal_temperature_c"]["kind"] == "continuous"
    assert cols["anneal_temperature_c"]["label"] == "anneal temperature (°C)"
    assert cols["mean_diameter_um"]["unit"] == "µm" and "levels" not in cols["mean_diameter_um"]
    assert cols["sample"]["kind"] == "categorical"
    assert payload["coordinates"].startswith("coordinates as given")
    with pytest.raises(ParameterError):
        map_from_coords(np.zeros((n, 2)), table, color_by="empty")


def test_map_says_what_its_coordinates_are_and_has_sharper_thumbnails(series_map):
    payload = page_payload(series_map)
    assert payload["coordinates"].startswith("PCA of grey-histogram+spectrum features")
    assert "one point per image" in payload["coordinates"]
    assert len(series_map.thumbnails_large) == len(series_map)
    with Image.open(series_map.thumbnails[0]) as small, Image.open(series_map.thumbnails_large[0]) as large:
        full = Image.open(full_picture(series_map, 0))
        assert max(small.size) == min(128, max(full.size)) and max(large.size) == min(512, max(full.size))


def test_per_patch_points_show_their_patch(uint16_ws, series_features):
    """A per-patch point's thumbnail is its 32 px box cut from the image, not the whole image."""
    from semlab.features.table import FeatureTable

    k = len(series_features)
    feats = np.repeat(series_features.features, 2, axis=0)
    feats = feats + np.random.default_rng(1).normal(0, 0.01, feats.shape)
    index = pd.DataFrame(
        {
            "image_hash": np.repeat(series_features.index["image_hash"].to_numpy(), 2),
            "patch": np.tile([0, 1], k),
            "row": np.tile([0, 40], k),
            "col": np.tile([0, 50], k),
            "size_px": 32,
        }
    )
    ft = FeatureTable(feats.astype(np.float32), index, "test", "none", None, {})
    data = build_map(uint16_ws, method="pca", features=ft, per_patch=True)
    image = uint16_ws.read(data.table["hash"].iloc[1], crop=True).image
    with Image.open(data.thumbnails[1]) as thumb, Image.open(data.thumbnails_large[1]) as large:
        assert thumb.size == (32, 32) and large.size == (32, 32)  # the patch, never enlarged
        patch = np.asarray(large, dtype=float)
    # The picture is the box at (40, 50): it matches that crop better than the box at the origin.
    from semlab.maps.thumbs import to_uint8

    want = to_uint8(image)[40:72, 50:82].astype(float)
    other = to_uint8(image)[0:32, 0:32].astype(float)
    assert np.abs(patch - want).mean() < np.abs(patch - other).mean()
    assert data.thumbnails[0] != data.thumbnails[1]
