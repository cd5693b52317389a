"""The U-Net's fast exact inference path: ONNX export cache, OpenVINO / ONNX Runtime against torch fp32."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from semlab import _onnx  # noqa: E402
from semlab.errors import ParameterError  # noqa: E402
from semlab.io import read_micrograph  # noqa: E402
from semlab.registry import create  # noqa: E402
from semlab.segment import Segmenter, load_segmenter, read_labels, train_segmenter  # noqa: E402
from semlab.segment import _runtime as rt  # noqa: E402

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
ISBI = DATA / "segmentation" / "isbi-membrane"
SEM = DATA / "sem-metadata" / "test_tiff_Zeiss_SEM_1k.tif"
INSTALLED = [r for r in _onnx.FAST_RUNTIMES if _onnx.installed(r)]
needs_fast = pytest.mark.skipif(not INSTALLED, reason="neither openvino nor onnxruntime is installed")


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    """A fresh export cache folder; sessions opened before are forgotten."""
    monkeypatch.setenv(_onnx.CACHE_ENV, str(tmp_path / "cache"))
    rt._SESSIONS.clear()
    yield tmp_path / "cache" / "onnx"
    rt._SESSIONS.clear()


def _segmenter(depth=3, width=4, seed=0):
    torch.manual_seed(seed)
    model = create("segmenter", "unet", depth=depth, width=width).eval()
    for mod in model.modules():  # non-trivial batch-norm statistics, as after training
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.5, 0.5)
            mod.running_var.uniform_(0.5, 2.0)
    return Segmenter(model=model, classes=(0, 255), class_names=("a", "b"))


def _image(shape=(150, 210), seed=1):
    rng = np.random.default_rng(seed)
    f = np.cumsum(np.cumsum(rng.standard_normal(shape), axis=0), axis=1)
    return ((f - f.min()) / np.ptp(f) * 200 + rng.normal(0, 10, shape)).clip(0, 255).astype(np.uint8)


@needs_fast
@pytest.mark.parametrize("runtime", INSTALLED)
def test_fast_runtime_matches_torch_fp32(cache, runtime):
    seg, image = _segmenter(), _image()
    ref = seg.predict_proba(image, tile_size=64, overlap=16, runtime="torch", device="cpu")
    assert seg.last_runtime.startswith("torch ")
    got = seg.predict_proba(image, tile_size=64, overlap=16, runtime=runtime, device="cpu")
    assert seg.last_runtime.startswith(f"{runtime} ") and "fp32 (ONNX)" in seg.last_runtime
    assert got.shape == ref.shape == (2, 150, 210)
    assert np.abs(got - ref).max() <= rt.MAX_ABS_DIFF
    margin = np.abs(ref[0] - ref[1])
    same = got.argmax(0) == ref.argmax(0)
    assert same[margin > 2 * rt.MAX_ABS_DIFF].all()
    # the whole image at once (another shape: checked again, OpenVINO compiles it)
    whole_ref = seg.predict_proba(image, tile_size=None, runtime="torch", device="cpu")
    whole = seg.predict_proba(image, tile_size=None, runtime=runtime, device="cpu")
    assert np.abs(whole - whole_ref).max() <= rt.MAX_ABS_DIFF
    session = rt.unet_session(seg.model, runtime)
    assert set(session.checked) == {(64, 64), (152, 212)}  # tiles, and the whole image padded to 4s
    assert max(session.checked.values()) <= rt.MAX_ABS_DIFF


@needs_fast
def test_export_is_cached_once_per_weights(cache):
    seg = _segmenter(depth=2, width=4)
    path, meta = rt.export_unet(seg.model, folder=Path("some/model"))
    assert path.is_file() and path.parent == cache
    assert meta["weights_sha256"] == _onnx.state_dict_sha256(seg.model.state_dict())
    assert (
        meta["opset"] == _onnx.OPSET and meta["layout"] == rt.LAYOUT and meta["model_folder"] == "some/model"
    )
    assert json.loads(path.with_suffix(".json").read_text())["file"] == path.name
    stamp = path.stat().st_mtime_ns
    again, _ = rt.export_unet(seg.model)
    assert again == path and path.stat().st_mtime_ns == stamp  # not exported twice
    with torch.no_grad():
        seg.model.head.bias.add_(0.5)
    other, meta2 = rt.export_unet(seg.model)
    assert other != path and meta2["weights_sha256"] != meta["weights_sha256"]
    assert sorted(p.name for p in cache.glob("*.onnx")) == sorted([path.name, other.name])


@needs_fast
def test_new_weights_open_a_new_session(cache):
    seg, image = _segmenter(depth=2, width=4), _image((64, 64))
    runtime = INSTALLED[0]
    seg.predict_proba(image, tile_size=32, overlap=8, runtime=runtime, device="cpu")
    first = rt.unet_session(seg.model, runtime)
    with torch.no_grad():
        seg.model.head.bias.add_(1.0)
    ref = seg.predict_proba(image, tile_size=32, overlap=8, runtime="torch", device="cpu")
    got = seg.predict_proba(image, tile_size=32, overlap=8, runtime=runtime, device="cpu")
    assert rt.unet_session(seg.model, runtime) is not first
    assert np.abs(got - ref).max() <= rt.MAX_ABS_DIFF


@needs_fast
def test_auto_uses_torch_for_few_tiles_then_the_open_session(cache):
    seg, image = _segmenter(depth=2, width=4), _image((56, 56))
    seg.predict_proba(image, tile_size=32, overlap=8, device="cpu")  # 4 tiles < AUTO_MIN_TILES
    assert seg.last_runtime.startswith("torch ")
    assert not (cache.is_dir() and any(cache.glob("*.onnx")))  # nothing exported for 4 tiles
    big = _image((120, 120))  # 25 tiles
    seg.predict_proba(big, tile_size=32, overlap=8, device="cpu")
    assert seg.last_runtime.startswith(INSTALLED[0])
    seg.predict_proba(image, tile_size=32, overlap=8, device="cpu")  # few tiles, but a session is open
    assert seg.last_runtime.startswith(INSTALLED[0])
    seg.predict_proba(image, tile_size=None, device="cpu")  # a whole image: a new shape, torch
    assert seg.last_runtime.startswith("torch ")
    assert set(rt.unet_session(seg.model, INSTALLED[0]).checked) == {(32, 32)}


@needs_fast
def test_a_wrong_or_failing_runtime_falls_back_to_torch_with_a_warning(cache, monkeypatch):
    seg, image = _segmenter(depth=2, width=4), _image((64, 64))
    runtime = INSTALLED[0]
    ref = seg.predict_proba(image, tile_size=32, overlap=8, runtime="torch", device="cpu")
    real = {"onnxruntime": rt.ort_runner, "openvino": rt.ov_runner}[runtime]

    def off_by_1e3(path, threads, sub):
        run = real(path, threads, sub)
        return lambda x: [o + 1e-3 for o in run(x)]

    monkeypatch.setattr(rt, "ort_runner" if runtime == "onnxruntime" else "ov_runner", off_by_1e3)
    with pytest.warns(RuntimeWarning, match=r"differ from torch by 1\.00e-03"):
        got = seg.predict_proba(image, tile_size=32, overlap=8, runtime=runtime, device="cpu")
    assert seg.last_runtime.startswith("torch ") and np.array_equal(got, ref)
    rt._SESSIONS.clear()

    def broken(*args, **kwargs):
        raise ValueError("no exporter here")

    monkeypatch.setattr(rt, "export_unet", broken)
    with pytest.warns(RuntimeWarning, match="could not run this network.*no exporter here"):
        got = seg.predict_proba(image, tile_size=32, overlap=8, runtime=runtime, device="cpu")
    assert seg.last_runtime.startswith("torch ") and np.array_equal(got, ref)
    with warnings.catch_warnings(record=True) as caught:  # the failure is remembered, warned each call
        warnings.simplefilter("always")
        seg.predict_proba(image, tile_size=32, overlap=8, runtime=runtime, device="cpu")
    assert len(caught) == 1


def test_runtime_errors():
    seg, image = _segmenter(depth=2, width=4), _image((40, 40))
    with pytest.raises(ParameterError, match="runtime='tensorrt' is not one of"):
        seg.predict(image, tile_size=32, runtime="tensorrt")
    seg.predict(image, tile_size=32, runtime="torch")
    assert seg.last_runtime.startswith("torch ")


# ----------------------------------------------------------------- a trained network, real images


@pytest.fixture(scope="module")
def trained_isbi(tmp_path_factory):
    if not (ISBI / "images" / "0.png").is_file():
        pytest.skip(f"ISBI membrane images not found at {ISBI}")
    images = [read_micrograph(ISBI / "images" / f"{i}.png").image for i in range(2)]
    labels = [read_micrograph(ISBI / "labels" / f"{i}.png").image for i in range(2)]
    out = tmp_path_factory.mktemp("isbi") / "unet"
    train_segmenter(
        images, labels, class_names=("membrane", "cell"), model_options={"depth": 3, "width": 8},
        patch_size=64, batch_size=4, max_steps=25, val_every=25, lr=1e-2, seed=0, device="cpu", out=out,
    )  # fmt: skip
    return out


@pytest.mark.slow  # training 25 steps and exporting: ~15 s
@needs_fast
@pytest.mark.parametrize("runtime", INSTALLED)
def test_trained_unet_on_real_sem_images_gives_the_same_labels(trained_isbi, cache, runtime):
    seg = load_segmenter(trained_isbi)
    for image in (
        read_micrograph(ISBI / "images" / "5.png").image,  # ISBI ssTEM, 512 x 512
        *([read_micrograph(SEM).image[:690]] if SEM.is_file() else []),  # Zeiss SEM above its data bar
    ):
        ref = seg.predict_proba(image, runtime="torch", tile_size=128, overlap=32, device="cpu")
        got = seg.predict_proba(image, runtime=runtime, tile_size=128, overlap=32, device="cpu")
        assert seg.last_runtime.startswith(runtime)
        assert np.abs(got - ref).max() <= rt.MAX_ABS_DIFF
        assert 0.02 < np.mean(ref.argmax(0) == 0) < 0.98  # both classes found: the labels say something
        np.testing.assert_array_equal(
            seg.predict(image, runtime=runtime, tile_size=128, overlap=32, device="cpu"),
            seg.predict(image, runtime="torch", tile_size=128, overlap=32, device="cpu"),
        )


@pytest.mark.slow
@needs_fast
def test_segment_cli_prints_and_records_the_runtime(trained_isbi, cache, tmp_path, capsys):
    from semlab.cli import main

    runtime = INSTALLED[0]
    out = tmp_path / "seg"
    args = ["segment", str(ISBI / "images" / "7.png"), "--method", str(trained_isbi), "--out", str(out)]
    assert main([*args, "--runtime", runtime, "--tile-size", "128", "--no-overlay"]) == 0
    printed = capsys.readouterr().out
    label = _onnx.runtime_label(runtime)
    assert f"runtime: {label}" in printed
    assert read_labels(out / "7.tif").metadata["runtime"] == label
    fast = read_labels(out / "7.tif").labels
    assert main([*args, "--runtime", "torch", "--tile-size", "128", "--no-overlay"]) == 0
    assert f"runtime: {_onnx.runtime_label('torch')}" in capsys.readouterr().out
    np.testing.assert_array_equal(read_labels(out / "7.tif").labels, fast)


def test_last_runtime_is_per_thread_and_the_segmenter_still_copies():
    """The web app segments on a thread pool with one cached Segmenter: each thread reads the
    runtime of its own last call; a Segmenter still copies."""
    import copy
    import threading

    torch.manual_seed(0)
    seg = Segmenter(model=create("segmenter", "unet", depth=2, width=4).eval(), classes=(0, 1),
                    class_names=("a", "b"))  # fmt: skip
    image = np.random.default_rng(0).random((64, 64)).astype(np.float32)
    seg.predict_proba(image, tile_size=32, runtime="torch")
    here = seg.last_runtime
    seen = []
    t = threading.Thread(target=lambda: seen.append(seg.last_runtime))
    t.start()
    t.join()
    assert here.startswith("torch ") and seen == [None]
    again = copy.deepcopy(seg)
    assert np.allclose(
        again.predict_proba(image, tile_size=32, runtime="torch"),
        seg.predict_proba(image, tile_size=32, runtime="torch"),
    )
