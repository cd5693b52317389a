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


# ----------------------------------------------------------------------------- synthetic series
# Shared by the stage tests and the demo's step tests (one definition each).


@pytest.fixture()
def one_torch_thread():
    """Run torch on one thread: on a shared 2-core machine two OpenMP threads per process spin
    against the other processes and run 5-10× slower (measured); restored afterwards."""
    try:
        import torch
    except ImportError:  # pragma: no cover
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture(scope="session")
def small_series_dir(tmp_path_factory) -> Path:
    """A synthetic sintering series: 4 burst counts × 1 sample × 2 images of 160×160 px."""
    from semlab.data import sintering_series

    d = tmp_path_factory.mktemp("small-series")
    sintering_series(d, shape=(160, 160), samples_per_level=1, images_per_sample=2, seed=0)
    return d


@pytest.fixture()
def small_ws(small_series_dir, tmp_path):
    """A fresh workspace holding the small series (8 images, with their descriptor table)."""
    from semlab.dataset import Workspace

    ws = Workspace.init(tmp_path / "ws")
    ws.add(table=small_series_dir / "descriptors.csv", images_dir=small_series_dir)
    return ws


@pytest.fixture(scope="session")
def uint16_ws(tmp_path_factory):
    """Workspace of 16 synthetic 16-bit TIFF micrographs of 128 px (4 burst counts × 2 samples ×
    2 images), without features or label images."""
    from semlab.data import sintering_series
    from semlab.dataset import Workspace

    d = tmp_path_factory.mktemp("uint16-series")
    sintering_series(
        d, shape=(128, 128), samples_per_level=2, images_per_sample=2, seed=0, dtype="uint16", write_labels=False
    )
    ws = Workspace.init(d / "ws")
    ws.add(table=d / "descriptors.csv", images_dir=d)
    return ws
