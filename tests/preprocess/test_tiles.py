"""tile / untile: full coverage, exact round trip, and blending of per-tile results."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest

from semlab.errors import ParameterError
from semlab.preprocess import TileGrid, tile, untile

SHAPES = [(50, 70), (64, 64), (33, 100), (100, 31), (20, 15), (1, 1), (1, 40), (97, 131)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("overlap", [0, 8, 31])
@pytest.mark.parametrize("blend", ["mean", "linear", "cosine"])
def test_round_trip_is_exact(shape, overlap, blend):
    rng = np.random.default_rng(0)
    for image in (rng.integers(0, 256, size=shape).astype(np.uint8), rng.normal(size=shape)):
        tiles, grid = tile(image, 32, overlap=overlap)
        back = untile(tiles, grid, blend=blend)
        assert back.shape == image.shape
        assert np.array_equal(back, image), (shape, overlap, blend)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("overlap", [0, 5, 16])
def test_grid_covers_the_image(shape, overlap):
    size = 32
    image = np.arange(math.prod(shape), dtype=np.float32).reshape(shape)
    tiles, grid = tile(image, size, overlap=overlap)
    step = size - overlap
    expected = [1 if n <= size else math.ceil((n - size) / step) + 1 for n in shape]
    assert tiles.shape == (expected[0] * expected[1], size, size)
    assert grid.n_tiles == len(grid.positions) == len(tiles)
    covered = np.zeros(grid.padded_shape, dtype=int)
    for t, (r, c) in zip(tiles, grid.positions, strict=True):
        covered[r : r + size, c : c + size] += 1
        view = image[r : r + size, c : c + size]
        np.testing.assert_array_equal(t[: view.shape[0], : view.shape[1]], view)
    assert covered.min() >= 1
    starts = sorted({r for r, _ in grid.positions})
    assert starts[0] == 0 and starts[-1] == max(0, shape[0] - size)
    assert all(b - a == step for a, b in zip(starts[:-1], starts[1:-1], strict=False))


def test_small_images_are_padded_reflectively():
    image = np.arange(20 * 15, dtype=np.uint16).reshape(20, 15)
    tiles, grid = tile(image, 32)
    assert grid.positions == ((0, 0),) and grid.padded_shape == (32, 32)
    padded = np.pad(image, [(0, 12), (0, 17)], mode="reflect")
    np.testing.assert_array_equal(tiles[0], padded)


def test_channels_are_carried():
    image = np.random.default_rng(1).random((45, 70, 3)).astype(np.float32)
    tiles, grid = tile(image, 32, overlap=6)
    assert tiles.shape[1:] == (32, 32, 3)
    assert np.array_equal(untile(tiles, grid), image)


def test_per_tile_function_scales_exactly():
    image = np.random.default_rng(2).random((90, 110))
    tiles, grid = tile(image, 32, overlap=10)
    for blend in ("mean", "linear"):
        np.testing.assert_allclose(
            untile(2.0 * tiles - 1.0, grid, blend=blend), 2.0 * image - 1.0, rtol=0, atol=1e-12
        )


def test_mean_blend_averages_overlapping_tiles():
    image = np.random.default_rng(3).random((80, 104))
    tiles, grid = tile(image, 32, overlap=8)
    offsets = np.arange(grid.n_tiles, dtype=np.float64) * 10.0
    shifted = tiles + offsets[:, None, None]
    total = np.zeros(image.shape)
    count = np.zeros(image.shape)
    for (r, c), off in zip(grid.positions, offsets, strict=True):
        total[r : r + 32, c : c + 32] += off
        count[r : r + 32, c : c + 32] += 1
    out = untile(shifted, grid, blend="mean")
    np.testing.assert_allclose(out - image, total / count, atol=1e-9)


def test_linear_blend_has_no_seams():
    # Tiles that fit exactly (80 = 32 + 2 * 24): every overlap is 8 pixels wide.
    image = np.zeros((80, 104))
    tiles, grid = tile(image, 32, overlap=8)
    rng = np.random.default_rng(4)
    offsets = rng.uniform(0.0, 1.0, size=grid.n_tiles)
    shifted = tiles + offsets[:, None, None]
    jump = np.ptp(offsets)

    def max_step(a):
        return max(np.abs(np.diff(a, axis=0)).max(), np.abs(np.diff(a, axis=1)).max())

    linear = untile(shifted, grid, blend="linear")
    mean = untile(shifted, grid, blend="mean")
    assert linear.min() >= offsets.min() - 1e-12 and linear.max() <= offsets.max() + 1e-12
    # Linear ramps over the 8-pixel overlap: steps of at most jump / 9 between neighbours.
    assert max_step(linear) <= jump / 9 + 1e-9
    assert max_step(mean) > 2 * max_step(linear)  # equal weights leave visible seams


def test_tile_grid_is_frozen_and_serialisable():
    _, grid = tile(np.zeros((40, 50)), 32, overlap=4)
    assert isinstance(grid, TileGrid)
    with pytest.raises(dataclasses.FrozenInstanceError):
        grid.size = 16  # type: ignore[misc]
    d = json.loads(json.dumps(grid.to_dict()))
    assert d["image_shape"] == [40, 50] and d["size"] == 32 and d["overlap"] == 4
    assert [tuple(p) for p in d["positions"]] == list(grid.positions)


def test_bad_arguments():
    with pytest.raises(ParameterError, match="overlap"):
        tile(np.zeros((40, 40)), 16, overlap=16)
    with pytest.raises(ParameterError, match="size"):
        tile(np.zeros((40, 40)), 0)
    tiles, grid = tile(np.zeros((40, 40)), 16)
    with pytest.raises(ParameterError, match="blend"):
        untile(tiles, grid, blend="max")
    with pytest.raises(ParameterError, match="tiles have shape"):
        untile(tiles[:-1], grid)
    with pytest.raises(ParameterError, match="TileGrid"):
        untile(tiles, {"size": 16})  # type: ignore[arg-type]
