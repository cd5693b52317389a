"""Shared fixtures: the real microscopy files in ../shared/data (skip cleanly when absent)."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path of ``../shared/data``; skips the test when the folder is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real test data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def sem_dir(shared_data: Path) -> Path:
    """Folder of real vendor SEM TIFFs."""
    d = shared_data / "sem-metadata"
    if not d.is_dir():
        pytest.skip(f"{d} not found")
    return d
