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


CHROMIUM = Path("/usr/bin/chromium")
#: Flags for headless Chromium on this closed network (no background connections).
CHROMIUM_ARGS = [
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


@pytest.fixture(scope="session")
def chromium_browser():
    """A Playwright ``Browser`` on Debian's chromium (``.ci/run`` installs it with apt).

    Never ``playwright install``: the browser is the system one, at ``/usr/bin/chromium``.
    Skips when chromium or the playwright package is absent.
    """
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()
