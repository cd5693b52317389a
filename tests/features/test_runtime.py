"""The fast exact inference path: ONNX export cache, OpenVINO / ONNX Runtime against torch fp32."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("timm")

from semlab.errors import ParameterError  # noqa: E402
from semlab.features import create_backbone, extract_features  # noqa: E402
from semlab.features import extract as ex  # noqa: E402
from semlab.features import runtime as rt  # noqa: E402

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
NANOWIRES = DATA / "nanowires-deepsem" / "images"
INSTALLED = [r for r in rt.FAST_RUNTIMES if rt._installed(r)]


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    """A fresh export cache folder; sessions opened before are forgotten."""
    monkeypatch.setenv(rt.CACHE_ENV, str(tmp_path / "cache"))
    rt._SESSIONS.clear()
    yield tmp_path / "cache" / "onnx"
    rt._SESSIONS.clear()


@pytest.fixture(scope="module")
def tiny():
    return create_backbone("test_efficientnet", pretrained=False, seed=3)


def _synthetic(n: int, side: int, seed: int = 0) -> np.ndarray:
    """Smooth random fields and noise in [0, 1] (structure at many scales, like micrographs)."""
    rng = np.random.default_rng(seed)
    f = np.cumsum(np.cumsum(rng.standard_normal((n, side, side)), axis=1), axis=2)
    f = (f - f.min(axis=(1, 2), keepdims=True)) / np.ptp(f, axis=(1, 2), keepdims=True)
    f[: n // 4] = rng.random((n // 4, side, side))
    return f.astype(np.float32)


@pytest.mark.slow  # exporting (torch.export) takes 5-30 s
@pytest.mark.skipif(not INSTALLED, reason="neither openvino nor onnxruntime is installed")
@pytest.mark.parametrize("runtime", INSTALLED)
def test_fast_runtime_matches_torch_fp32_on_synthetic_patches(tiny, cache, runtime):
    patches = _synthetic(12, 72)  # not the model's input size: resized first, as torch does
    dev = ex.resolve_device("cpu")
    ref = ex._run(tiny, patches, 5, dev, None, "fp32", ("final", "multiscale"), runtime="torch")
    info: dict = {}
    got = ex._run(tiny, patches, 5, dev, None, "fp32", ("multiscale", "final"), runtime=runtime, info=info)
    assert info["runtime"].startswith(runtime)
    for s in ("final", "multiscale"):
        assert got[s].shape == ref[s].shape and got[s].dtype == np.float32
        assert _cos(got[s], ref[s]).min() >= 0.9999
    # the export is cached once (model, weights hash, opset, layout, sets), with its metadata
    files = sorted(p.name for p in cache.glob("*.onnx"))
    assert files == [f for f in files if f.startswith("test_efficientnet-final+multiscale-opset")] != []
    meta = rt.export_onnx(tiny, sets=("final", "multiscale"))[1]
    from semlab.features.backbones import state_dict_sha256

    assert meta["weights_sha256"] == state_dict_sha256(tiny.model.state_dict())
    assert meta["layout"] == rt.LAYOUT and meta["opset"] == rt.OPSET and "exporter" in meta
    assert meta["grey_stem"] is True  # timm EfficientNet: the stem convolution takes the grey patch


@pytest.mark.slow
@pytest.mark.skipif(not INSTALLED, reason="neither openvino nor onnxruntime is installed")
def test_export_cache_is_reused_keyed_by_weights_and_a_corrupt_file_is_exported_again(cache):
    bb = create_backbone("test_efficientnet", pretrained=False, seed=4)
    path, meta = rt.export_onnx(bb)
    stamp = path.stat().st_mtime_ns
    assert rt.export_onnx(bb)[0] == path and path.stat().st_mtime_ns == stamp  # reused
    # a damaged file: the session notices, exports again and still matches torch
    path.write_bytes(b"not an onnx graph")
    session = rt.fast_session(bb, INSTALLED[0])
    assert session.cosine >= 0.9999 and path.stat().st_size > 1000
    # other weights: another file
    with torch.no_grad():
        next(bb.model.parameters()).mul_(1.5)
    other, meta2 = rt.export_onnx(bb)
    assert other != path and meta2["weights_sha256"] != meta["weights_sha256"]
    # no temporary files left behind (atomic writes)
    assert not [p for p in cache.iterdir() if p.name.startswith(".")]


def test_resolve_runtime_refuses_what_cannot_run():
    with pytest.raises(ParameterError, match="runtime="):
        rt.resolve_runtime("tensorrt")
    assert rt.resolve_runtime("torch") == "torch"
    assert rt.resolve_runtime("auto", device="cuda") == "torch"
    assert rt.resolve_runtime("auto", precision="bf16") == "torch"
    assert rt.resolve_runtime("auto") == (INSTALLED[0] if INSTALLED else "torch")
    with pytest.raises(ParameterError, match="fp32"):
        rt.resolve_runtime("onnxruntime", precision="bf16")
    with pytest.raises(ParameterError, match="CPU"):
        rt.resolve_runtime("openvino", device="cuda")


def test_auto_uses_torch_for_few_patches_and_falls_back_with_a_warning(tiny, cache, monkeypatch):
    assert ex.choose_runtime("auto", tiny, ex.resolve_device("cpu"), "fp32", 8) == "torch"
    if not INSTALLED:
        return
    assert ex.choose_runtime("auto", tiny, ex.resolve_device("cpu"), "fp32", 64) == INSTALLED[0]

    def broken(*args, **kwargs):
        raise RuntimeError("features differ from torch")

    monkeypatch.setattr(rt, "fast_session", broken)
    patches = _synthetic(4, 48)
    with pytest.warns(RuntimeWarning, match="using torch"):
        got = extract_features(patches, backbone=tiny, runtime=INSTALLED[0])
    np.testing.assert_allclose(
        got, extract_features(patches, backbone=tiny, runtime="torch"), rtol=1e-5, atol=1e-6
    )


def test_physical_cores_is_at_most_the_cores_this_process_may_use():
    assert 1 <= rt.physical_cores() <= len(os.sched_getaffinity(0))


@pytest.mark.slow
@pytest.mark.skipif(not INSTALLED, reason="neither openvino nor onnxruntime is installed")
@pytest.mark.parametrize("runtime", INSTALLED)
def test_fast_runtime_matches_torch_fp32_on_real_sem_patches(lite0, cache, runtime):
    """EfficientNet-Lite0 (offline weights) on CLAHE patches of real SEM nanowire images."""
    if not NANOWIRES.is_dir() or not sorted(NANOWIRES.glob("*.png")):
        pytest.skip(f"real SEM images not found at {NANOWIRES}")
    from semlab.io import read_micrograph
    from semlab.preprocess import equalize, sample_patches

    files = sorted(NANOWIRES.glob("*.png"))[:2]
    patches = np.concatenate(
        [
            sample_patches(equalize(read_micrograph(f).image), 8, 224, rng=i, normalize=False)
            for i, f in enumerate(files)
        ]
    ).astype(np.float32)
    torch_fp32 = extract_features(patches, backbone=lite0, runtime="torch", batch_size=8)
    fast = extract_features(patches, backbone=lite0, runtime=runtime, batch_size=8)
    cos = _cos(fast, torch_fp32)
    assert cos.min() >= 0.9999
    # the features say something about the patches: not all alike
    assert _cos(torch_fp32[:1], torch_fp32[8:9]).item() < 0.99


@pytest.mark.slow
@pytest.mark.skipif(not INSTALLED, reason="neither openvino nor onnxruntime is installed")
def test_embed_workspace_records_the_runtime_and_matches_torch(small_ws, tiny, cache):
    import json

    from semlab.features import embed_workspace
    from semlab.preprocess import Preparation

    prep = Preparation(patch_size=64, patches_per_image=3, seed=0)
    with rt.use_runtime("torch"):
        ref = embed_workspace(small_ws, backbone=tiny, preparation=prep)
    assert ref.cache["runtime"].startswith("torch")
    for f in Path(ref.cache["path"]).parent.glob("*/images/*.npz"):
        f.unlink()  # compute both CNN sets again, now with the fast runtime, into the same folders
    with rt.use_runtime(INSTALLED[0]):
        fast = embed_workspace(small_ws, backbone=tiny, preparation=prep, feature_set="multiscale")
    assert fast.cache["computed"] == ref.cache["computed"] and fast.cache["runtime"].startswith(INSTALLED[0])
    final = embed_workspace(
        small_ws, backbone=tiny, preparation=prep
    )  # the sibling set, cached in the same pass
    assert final.cache["computed"] == 0 and final.cache["runtime"] is None
    assert _cos(final.features, ref.features).min() >= 0.9999
    meta = json.loads((Path(ref.cache["path"]) / "embedding.json").read_text())
    assert [r.split()[0] for r in meta["runtimes"]] == sorted({"torch", INSTALLED[0]})
    with pytest.raises(ParameterError, match="runtime="):
        with rt.use_runtime("cuda-graph"):
            pass


def test_grey_stem_is_the_normalised_first_convolution(tiny):
    """The stem rewritten for grey input gives the model's features on the normalised patch."""
    stemmed = rt._grey_stem_model(tiny)
    assert stemmed is not None and stemmed is not tiny.model
    grey = torch.from_numpy(_synthetic(6, 96, seed=2))  # another size than the check patches: resized
    x = ex.make_input(grey, tiny.data_config, channels_last=False)
    g = ex.resize_grey(grey, tiny.data_config)
    with torch.inference_mode():
        ref, got = ex._pooled(tiny.model, x), ex._pooled(stemmed, g)
    torch.testing.assert_close(got, ref, atol=1e-4, rtol=1e-4)
    # the model itself is untouched: its stem still takes three channels
    assert tiny.model.conv_stem.in_channels == 3 and stemmed.conv_stem.conv.in_channels == 1


def test_thread_counts_follow_omp_num_threads(monkeypatch):
    """A Ray worker's OMP_NUM_THREADS share caps torch's and the ONNX runtimes' threads."""
    from semlab.features.extract import _cpu_count
    from semlab.features.runtime import physical_cores

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    full_torch, full_rt = _cpu_count(), physical_cores()
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert _cpu_count() == 1 and physical_cores() == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "not a number")
    assert _cpu_count() == full_torch and physical_cores() == full_rt
