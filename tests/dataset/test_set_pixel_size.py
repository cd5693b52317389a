"""Per-image pixel sizes set by the user: catalog, table, status, CLI and the feature cache."""

from __future__ import annotations

import numpy as np
import pytest

from semlab.cli import main
from semlab.errors import ParameterError, TableError, WorkspaceError


def _names(ws):
    return list(ws.table()["original_name"])


def test_set_by_name_and_hash_prefix_records_the_source(small_ws):
    table = small_ws.table()
    assert (table["pixel_size_source"] == "semlab").all()  # the synthetic TIFFs carry it
    first, second = _names(small_ws)[:2]
    rec = small_ws.set_pixel_size(first, 0.0073)
    assert rec.pixel_size_um == pytest.approx(0.0073) and rec.pixel_size_source == "user"
    h = table["hash"].iloc[1]
    small_ws.set_pixel_size(h[:8], None)  # cleared: unknown
    after = small_ws.table().set_index("original_name")
    assert after.loc[first, "pixel_size_source"] == "user" and after.loc[first, "pixel_size_um"] == 0.0073
    assert (
        np.isnan(after.loc[second, "pixel_size_um"]) and after.loc[second, "pixel_size_source"] == "unknown"
    )
    st = small_ws.status()
    assert dict(st.pixel_size_sources) == {"semlab": 6, "user": 1, "unknown": 1}
    assert st.to_dict()["pixel_size_sources"][0] == {"source": "semlab", "n_images": 6}


def test_unknown_image_and_bad_value_are_one_line_errors(small_ws):
    with pytest.raises(WorkspaceError, match="no image named 'nope.tif'"):
        small_ws.set_pixel_size("nope.tif", 0.01)
    with pytest.raises(ParameterError):
        small_ws.set_pixel_size(_names(small_ws)[0], -2)
    with pytest.raises(WorkspaceError, match="source="):
        small_ws.set_pixel_size(_names(small_ws)[0], 0.01, source="guess")


def test_only_that_images_cached_features_are_recomputed(small_ws):
    from semlab.features import create_backbone, embed_workspace
    from semlab.preprocess import Preparation

    tiny = create_backbone("test_efficientnet", pretrained=False)
    prep = Preparation(patch_size=48, patches_per_image=2)
    first = embed_workspace(small_ws, backbone=tiny, preparation=prep)
    assert first.cache["computed"] == len(small_ws)
    name = _names(small_ws)[3]
    px = small_ws.table()["pixel_size_um"].iloc[3]
    small_ws.set_pixel_size(name, 1.5 * px)  # the median (the target) stays px
    again = embed_workspace(small_ws, backbone=tiny, preparation=prep)
    assert again.cache == {**again.cache, "computed": 1, "cached": len(small_ws) - 1}
    assert again.config["pixel_size"] == pytest.approx(px)
    h = small_ws.table()["hash"].iloc[3]
    rows = again.index["image_hash"] == h
    # its patches were cut at the new scale: 1.5x upsampled image, so boxes reach further
    assert not np.array_equal(again.features[rows], first.features[rows])
    np.testing.assert_array_equal(again.features[~rows], first.features[~rows])
    # the cache key holds the pixel size the image was prepared from
    from pathlib import Path

    cached = {p.name for p in (Path(again.cache["path"]) / "images").glob(f"{h}*.npz")}
    assert cached == {f"{h}-px{1.5 * px:.6g}.npz"}


def test_cli_single_value_in_nm_and_csv(small_ws, tmp_path, capsys):
    names = _names(small_ws)
    assert main(["set-pixel-size", str(small_ws.path), names[0], "7.3", "--unit", "nm"]) == 0
    out = capsys.readouterr().out
    assert names[0] in out and "0.0073 µm per pixel (set by user" in out
    csv = tmp_path / "px.csv"
    csv.write_text(f"image,pixel_size,unit\n{names[1]},0.02,um\n{names[2]},15,nm\n", encoding="utf-8")
    assert main(["set-pixel-size", str(small_ws.path), "--csv", str(csv)]) == 0
    t = small_ws.table().set_index("original_name")
    assert t.loc[names[0], "pixel_size_um"] == pytest.approx(0.0073)
    assert t.loc[names[1], "pixel_size_um"] == pytest.approx(0.02)
    assert t.loc[names[2], "pixel_size_um"] == pytest.approx(0.015)
    assert (t.loc[names[:3], "pixel_size_source"] == "user").all()
    assert main(["status", str(small_ws.path)]) == 0
    assert "user ×3" in capsys.readouterr().out
    # errors: one line, exit 2, nothing changed by a CSV with one bad name
    bad = tmp_path / "bad.csv"
    bad.write_text(f"image,pixel_size\n{names[3]},0.5\nmissing.tif,0.1\n", encoding="utf-8")
    assert main(["set-pixel-size", str(small_ws.path), "--csv", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert "missing.tif" in err and len(err.splitlines()) == 1
    assert small_ws.table().set_index("original_name").loc[names[3], "pixel_size_source"] == "semlab"
    assert main(["set-pixel-size", str(small_ws.path), names[0]]) == 2
    assert "give IMAGE and VALUE" in capsys.readouterr().err
    nan_csv = tmp_path / "nan.csv"
    nan_csv.write_text(f"image,pixel_size\n{names[0]},abc\n", encoding="utf-8")
    with pytest.raises(TableError, match="row 2"):
        from semlab.cli._dataset import _pixel_size_rows

        _pixel_size_rows(nan_csv, "um")
