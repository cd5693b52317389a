"""Fixtures for the dataset tests: small synthetic SEM TIFFs with a black data bar."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from semlab.io import write_micrograph

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
SEM_METADATA = SHARED_DATA / "sem-metadata"

BAR_ROW = 48  # first row of the synthetic data bar


def _make_image(
    path: Path, seed: int, *, shape=(64, 80), bar: bool = True, pixel_size: float | None = 0.05
) -> Path:
    """Write a noisy uint8 micrograph with a black bar (white text) at the bottom."""
    rng = np.random.default_rng(seed)
    image = rng.integers(40, 220, size=shape, dtype=np.uint8)
    if bar:
        image[BAR_ROW:] = 0
        image[BAR_ROW + 5 : BAR_ROW + 9, 8:30] = 255
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_micrograph(path, image, pixel_size=pixel_size)


@pytest.fixture
def images_dir(tmp_path: Path) -> Path:
    """A folder with six images a0.tif … a5.tif."""
    folder = tmp_path / "images"
    for i in range(6):
        _make_image(folder / f"a{i}.tif", seed=i)
    return folder


@pytest.fixture
def make_image():
    """``make_image(path, seed, *, shape=(64, 80), bar=True, pixel_size=0.05) -> path``."""
    return _make_image


@pytest.fixture
def sem_metadata() -> Path:
    """The real vendor SEM files in ../shared/data (skips when absent)."""
    if not SEM_METADATA.is_dir():
        pytest.skip(f"real SEM files not available ({SEM_METADATA} is absent)")
    return SEM_METADATA
