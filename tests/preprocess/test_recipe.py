"""The Preparation recipe: one way from a micrograph to patches, saved and applied unchanged."""

from __future__ import annotations

import json

import numpy as np
import pytest

from semlab.errors import ParameterError
from semlab.io import Micrograph
from semlab.preprocess import (
    Preparation,
    PreparedImage,
    common_pixel_size,
    equalize,
    prepare_image,
    prepare_patches,
    prepared_shape,
    resample,
    sample_patches,
)


def _image(shape=(200, 300), seed=0):
    return (np.random.default_rng(seed).random(shape) * 255).astype(np.uint8)


def test_round_trip_through_json():
    recipe = Preparation(equalize="global", pixel_size=0.01, patch_size=32, patches_per_image=5, seed=3)
    data = json.loads(json.dumps(recipe.to_dict()))
    assert data["version"] == 1
    assert Preparation.from_dict(data) == recipe


def test_reads_older_runs_preprocessing():
    old = {
        "equalize_method": "none",
        "target_pixel_size_um": 0.008,
        "patch_size": 64,
        "patches_per_image": 4,
        "seed": 2,
        "sampling": "uniform random boxes, no flips or rotations",
        "mean": [0.5, 0.5, 0.5],
    }
    r = Preparation.from_dict(old)
    assert (r.equalize, r.pixel_size, r.patch_size, r.patches_per_image, r.seed) == ("none", 0.008, 64, 4, 2)
    assert r.sampling == "random"


@pytest.mark.parametrize(
    "bad",
    [{"equalize": "fancy"}, {"pixel_size": -1}, {"patch_size": 0}, {"max_rescale": 0.5}, {"sampling": "x"}],
)
def test_bad_fields_are_one_line_errors(bad):
    with pytest.raises(ParameterError) as err:
        Preparation(**bad)
    assert "\n" not in str(err.value) and next(iter(bad)) in str(err.value)


def test_same_steps_as_the_separate_functions():
    """prepare_image = equalize, then resample to the recipe's pixel size, clipped to [0, 1]."""
    a = _image()
    recipe = Preparation(pixel_size=0.02, patch_size=32, patches_per_image=6, seed=1)
    prepared = prepare_image(a, recipe, pixel_size=0.01)
    expected = np.clip(resample(equalize(a, method="clahe"), 0.01, 0.02), 0, 1).astype(np.float32)
    assert prepared.pixel_size == 0.02 and prepared.source_pixel_size == 0.01
    np.testing.assert_array_equal(prepared.image, expected)
    patches, boxes = prepare_patches(a, recipe, pixel_size=0.01, key="00000000000000ff")
    ref, ref_boxes = sample_patches(
        expected,
        6,
        32,
        rng=np.random.default_rng([1, 255]),
        flips=False,
        rotations=False,
        normalize=False,
        return_boxes=True,
    )
    np.testing.assert_array_equal(patches, ref)
    np.testing.assert_array_equal(boxes, ref_boxes)


def test_patches_depend_on_the_image_not_the_call_order():
    recipe = Preparation(patch_size=16, patches_per_image=3)
    a, b = _image(seed=1), _image(seed=2)
    first = prepare_patches(a, recipe)[1]
    prepare_patches(b, recipe)
    np.testing.assert_array_equal(prepare_patches(a, recipe)[1], first)


def test_data_bar_is_cut_from_the_metadata_row():
    a = _image((120, 100))
    m = Micrograph(a, pixel_size=None, metadata={"databar_row": 100})
    out = prepare_image(m, Preparation(equalize="none"))
    assert out.image.shape == (100, 100) and out.databar_row == 100
    # a workspace image (crop_box recorded) is not cut again
    again = prepare_image(
        Micrograph(a[:100], None, {"databar_row": 90, "crop_box": [0, 100, 0, 100]}), Preparation()
    )
    assert again.image.shape == (100, 100)


def test_far_scale_is_refused_in_one_line_before_any_allocation():
    recipe = Preparation(pixel_size=0.008, scale_policy="refuse")
    big = np.zeros((768, 1024), dtype=np.uint8)
    with pytest.raises(ParameterError) as err:
        prepare_image(big, recipe, pixel_size=2.615, name="zeiss.tif")
    msg = str(err.value)
    assert "\n" not in msg and "zeiss.tif" in msg and "2.615" in msg and "0.008" in msg
    with pytest.raises(ParameterError):
        prepared_shape((768, 1024), recipe, pixel_size=2.615)


def test_unknown_pixel_size_is_used_at_its_own_scale_and_said_so():
    out = prepare_image(_image(), Preparation(pixel_size=0.01))
    assert out.image.shape == (200, 300) and out.pixel_size is None


def test_scale_factor_without_pixel_sizes():
    out = prepare_image(_image(), Preparation(scale=0.5), pixel_size=0.01)
    assert out.image.shape == (100, 150) and out.pixel_size == pytest.approx(0.02)


def test_grid_tiles_cover_the_image_without_overlap():
    recipe = Preparation(sampling="grid", patch_size=50, equalize="none")
    tiles, boxes = prepare_patches(_image(), recipe)
    assert tiles.shape == (4 * 6, 50, 50)
    assert set(map(tuple, boxes[:, :2])) == {(r, c) for r in range(0, 200, 50) for c in range(0, 300, 50)}


def test_image_smaller_than_patch_is_a_one_line_error():
    with pytest.raises(ParameterError, match="smaller than the patch size 64"):
        prepare_patches(_image((40, 40)), Preparation(patch_size=64), name="tiny.png")
    with pytest.raises(ParameterError, match="tiny.png"):
        prepare_patches(_image((40, 40)), Preparation(patch_size=64), name="tiny.png")


def test_prepared_image_is_used_as_it_is():
    prepared = PreparedImage(np.full((64, 64), 0.5, np.float32), None, None, None)
    patches, _ = prepare_patches(prepared, Preparation(patch_size=32, patches_per_image=2))
    assert np.all(patches == 0.5)


def test_common_pixel_size_rules():
    assert common_pixel_size([0.01, None, float("nan"), 0.03, 0.02]) == 0.03
    assert common_pixel_size([0.01, 0.03, 0.02], rule="median") == 0.02
    assert common_pixel_size([None]) is None


def test_patches_from_files_is_what_the_cli_writes(tmp_path):
    from semlab.cli import main
    from semlab.io import write_micrograph
    from semlab.preprocess import patches_from_files

    files = []
    for k in range(2):
        path = tmp_path / f"im{k}.tif"
        write_micrograph(path, _image((120, 160), seed=k), pixel_size=0.5)
        files.append(path)
    recipe = Preparation(equalize="none", pixel_size=1.0, patch_size=16, patches_per_image=3, seed=4)
    result = patches_from_files(files, recipe)
    assert result.patches.shape == (6, 16, 16) and result.image_index.tolist() == [0, 0, 0, 1, 1, 1]
    np.testing.assert_allclose(result.pixel_size_um, [1.0, 1.0])
    csv_path = result.save(tmp_path / "api.npz")
    assert csv_path.read_text().count("\n") == 7
    argv = [
        "patches",
        *map(str, files),
        "--n",
        "3",
        "--size",
        "16",
        "--seed",
        "4",
        "--no-flips",
        "--no-rotations",
    ]
    assert main([*argv, "--target-pixel-size", "1.0", "--out", str(tmp_path / "cli.npz"), "-q"]) == 0
    with np.load(tmp_path / "cli.npz") as cli, np.load(tmp_path / "api.npz") as api:
        np.testing.assert_array_equal(cli["patches"], api["patches"])
        assert Preparation.from_dict(json.loads(str(cli["recipe"]))) == recipe


def test_field_of_view_sets_the_pixel_size():
    r = Preparation(field_of_view=10.0, patch_size=100)
    assert r.pixel_size == pytest.approx(0.1)
    assert Preparation.from_dict(r.to_dict()) == r
    with pytest.raises(ParameterError, match="give one of the two"):
        Preparation(field_of_view=10.0, patch_size=100, pixel_size=0.5)


def test_scale_policy_native_tiles_far_images_at_their_own_resolution_and_warns():
    from semlab.errors import ScaleWarning

    recipe = Preparation(pixel_size=0.008)  # default scale_policy="native"
    assert recipe.scale_policy == "native"
    big = _image((300, 400))
    with pytest.warns(ScaleWarning, match=r"zeiss\.tif: pixel size 2\.615 µm is 327× coarser") as rec:
        out = prepare_image(big, recipe, pixel_size=2.615, name="zeiss.tif")
    assert len(rec) == 1 and "\n" not in str(rec[0].message) and "native" in str(rec[0].message)
    assert out.image.shape == (300, 400) and out.scale == "native"
    assert out.pixel_size == pytest.approx(2.615) and out.source_pixel_size == pytest.approx(2.615)
    assert prepared_shape((300, 400), recipe, pixel_size=2.615) == (300, 400)
    # within max_rescale the image is resampled to the target, silently
    near = prepare_image(_image((200, 300)), recipe, pixel_size=0.016)
    assert near.image.shape == (400, 600) and near.scale == "target" and near.pixel_size == 0.008


def test_scale_policy_resample_ignores_the_ratio_and_states_are_recorded():
    recipe = Preparation(pixel_size=0.01, scale_policy="resample", max_rescale=2)
    out = prepare_image(_image((100, 100)), recipe, pixel_size=0.05)  # 5× > max_rescale
    assert out.image.shape == (500, 500) and out.scale == "target"
    from semlab.errors import ScaleWarning

    with pytest.warns(ScaleWarning, match=r"im\.tif: pixel size unknown; used at its own scale"):
        unknown = prepare_image(_image((100, 100)), recipe, name="im.tif")
    assert unknown.scale == "unknown" and unknown.pixel_size is None
    own = prepare_image(_image((100, 100)), Preparation(), pixel_size=0.05)
    assert own.scale == "own" and own.pixel_size == pytest.approx(0.05)
    with pytest.raises(ParameterError, match="scale_policy='x' is not one of native, refuse, resample"):
        Preparation(scale_policy="x")


def test_recipes_without_scale_policy_keep_refusing():
    """A run saved before scale_policy existed loads with "refuse" (its behaviour then)."""
    old = Preparation(pixel_size=0.008).to_dict()
    del old["scale_policy"]
    r = Preparation.from_dict(old)
    assert r.scale_policy == "refuse" and r.pixel_size == 0.008
    with pytest.raises(ParameterError, match="327× coarser"):
        prepare_image(_image(), r, pixel_size=2.615)
    new = Preparation(pixel_size=0.008, scale_policy="native")
    assert Preparation.from_dict(json.loads(json.dumps(new.to_dict()))) == new
    assert Preparation.from_dict(None) == Preparation() and Preparation.from_dict({}).scale_policy == "native"
