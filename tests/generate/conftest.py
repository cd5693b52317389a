"""Fixtures of the generate tests: a small synthetic sintering workspace and its patches."""

from __future__ import annotations

import contextlib

import pytest


@contextlib.contextmanager
def one_thread():
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


@pytest.fixture(autouse=True)
def _one_torch_thread():
    with one_thread():
        yield


@pytest.fixture(scope="session")
def series_ws(tmp_path_factory):
    """Workspace of a small sintering series (256 px, 2 samples × 2 images per burst count 1/2/4/8)."""
    from semlab.data import sintering_series
    from semlab.dataset import Workspace

    root = tmp_path_factory.mktemp("gen_series")
    sintering_series(root / "series", shape=(256, 256), samples_per_level=2, images_per_sample=2, seed=0)
    ws = Workspace.init(root / "ws")
    ws.add(table=root / "series" / "descriptors.csv", images_dir=root / "series")
    return ws


@pytest.fixture(scope="session")
def burst_patches(series_ws):
    """32-px patches at half resolution (no equalization) of burst counts 1 and 8, with their table."""
    from semlab.generate import workspace_patches

    patches, table, px = workspace_patches(
        series_ws, ["burst_count"], size=32, scale=0.5, patches_per_image=32, equalize="none", seed=0
    )
    keep = table["burst_count"].isin([1, 8]).to_numpy()
    return patches[keep], table[keep].reset_index(drop=True), px


#: The tiny configuration that learns burst count on CPU (measured: ~150 steps, 30-60 s on 2 cores).
LEARN = {
    "model": "ddpm",
    "size": 32,
    "width": 16,
    "batch_size": 32,
    "steps": 150,
    "lr": 3e-3,
    "grid_every": 0,
}


@pytest.fixture(scope="session")
def trained_ddpm(burst_patches, tmp_path_factory):
    """A conditional DDPM trained on burst 1 vs 8 patches (saved as a model folder)."""
    from semlab.generate import train_generator

    patches, table, px = burst_patches
    out = tmp_path_factory.mktemp("gen_model") / "ddpm"
    with one_thread():
        result = train_generator(
            patches,
            table[["burst_count"]],
            seed=0,
            out_dir=out,
            pixel_size=px,
            preprocessing={"equalize": "none", "scale": 0.5, "size": 32},
            **LEARN,
        )
    return result
