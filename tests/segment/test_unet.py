"""U-Net: registry, training, checkpoints, tiled inference, stacks, bad input (tiny, CPU)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from semlab.errors import FileFormatError, MissingFileError, ParameterError  # noqa: E402
from semlab.registry import create, load_artifact, save_artifact  # noqa: E402
from semlab.segment import (  # noqa: E402
    Segmenter,
    check_training_pairs,
    class_weights_from_labels,
    load_segmenter,
    score_segmentation,
    segment_image,
    segment_stack,
    train_segmenter,
)


def _blobs(seed, shape=(64, 64)):
    """Bright disks (label 255) on a darker, noisy background (label 0)."""
    rng = np.random.default_rng(seed)
    rr, cc = np.mgrid[: shape[0], : shape[1]]
    truth = np.zeros(shape, np.uint8)
    for _ in range(6):
        r, c, rad = rng.integers(0, shape[0]), rng.integers(0, shape[1]), rng.integers(4, 9)
        truth[(rr - r) ** 2 + (cc - c) ** 2 <= rad**2] = 255
    image = np.where(truth > 0, 170.0, 80.0) + rng.normal(0, 20, shape)
    return np.clip(image, 0, 255).astype(np.uint8), truth


def _segmenter(depth=3, width=4, seed=0):
    torch.manual_seed(seed)
    model = create("segmenter", "unet", depth=depth, width=width).eval()
    return Segmenter(model=model, classes=(0, 1), class_names=("a", "b"))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("model") / "unet"
    pairs = [_blobs(s) for s in range(4)]
    res = train_segmenter(
        [p[0] for p in pairs],
        [p[1] for p in pairs],
        class_names=("background", "disk"),
        model_options={"depth": 2, "width": 8},
        patch_size=32,
        batch_size=4,
        max_steps=60,
        val_every=10,
        patience=20,
        lr=1e-2,
        seed=0,
        device="cpu",
        out=out,
    )
    return res, out


@pytest.mark.slow
def test_training_learns_and_checkpoints(trained):
    res, out = trained
    assert res.steps == 60 and res.stopped == "max_steps" and res.device == "cpu"
    assert len(res.history) == 6 and res.best_val_iou == res.history["val_mean_iou"].max()
    image, truth = _blobs(99)
    pred = res.segmenter.predict(image, tile_size=32, overlap=8)
    assert set(np.unique(pred)) <= {0, 255}
    assert score_segmentation(truth, pred).mean_iou > 0.8
    meta = json.loads((out / "config.json").read_text())
    assert meta["kind"] == "segmenter" and meta["name"] == "unet" and meta["seed"] == 0
    assert meta["extra"]["classes"] == [0, 255] and meta["extra"]["class_names"] == ["background", "disk"]
    assert meta["preprocessing"]["equalize"] == "none" and meta["semlab_version"]
    assert (out / "history.csv").is_file()
    loaded = load_segmenter(out)
    assert loaded.classes == (0, 255)
    np.testing.assert_array_equal(loaded.predict(image, tile_size=32), res.segmenter.predict(image, tile_size=32))
    np.testing.assert_array_equal(segment_image(image, method=out, tile_size=32), loaded.predict(image, tile_size=32))


@pytest.mark.slow
def test_training_is_seeded():
    pairs = [_blobs(s, (40, 40)) for s in range(2)]
    kw = dict(model_options={"depth": 2, "width": 4}, patch_size=32, batch_size=2, max_steps=4, val_every=2, device="cpu")
    a = train_segmenter([p[0] for p in pairs], [p[1] for p in pairs], seed=3, **kw)
    b = train_segmenter([p[0] for p in pairs], [p[1] for p in pairs], seed=3, **kw)
    for k, v in a.segmenter.model.state_dict().items():
        assert torch.equal(v, b.segmenter.model.state_dict()[k]), k


def test_tiled_inference_equals_whole_image_away_from_tile_borders():
    seg = _segmenter(depth=3, width=4)
    image = np.random.default_rng(1).normal(size=(160, 160)).astype(np.float32)
    whole = seg.predict_proba(image, tile_size=None)
    tiled = seg.predict_proba(image, tile_size=96, overlap=32)  # tiles at 0 and 64 on each axis
    assert tiled.shape == whole.shape == (2, 160, 160)
    np.testing.assert_allclose(tiled.sum(axis=0), 1.0, atol=1e-5)
    # receptive-field radius of a depth-3 U-Net: 2+4+8+4+2 = 20 px; the band 64…96 is within
    # 22 px of the border of one of the two tiles that cover it, everything else is not
    ok = np.r_[np.arange(0, 64), np.arange(96, 160)]
    np.testing.assert_allclose(tiled[:, ok][:, :, ok], whole[:, ok][:, :, ok], atol=1e-5)
    # and the arg-max agrees nearly everywhere
    assert np.mean(tiled.argmax(0) == whole.argmax(0)) > 0.97


def test_any_image_size_and_stacks():
    seg = _segmenter(depth=3, width=4)
    odd = np.random.default_rng(2).normal(size=(37, 53))
    for tile_size in (None, 32, 64):
        assert seg.predict(odd, tile_size=tile_size, overlap=8).shape == (37, 53)
    volume = np.random.default_rng(3).integers(0, 255, (3, 40, 56)).astype(np.uint8)
    labels = seg.predict_stack(volume, tile_size=32, overlap=8)
    assert labels.shape == (3, 40, 56) and labels.dtype == np.uint8
    np.testing.assert_array_equal(labels[1], seg.predict(volume[1], tile_size=32, overlap=8))
    np.testing.assert_array_equal(segment_stack(volume, method=seg, tile_size=32, overlap=8), labels)
    otsu = segment_stack(volume, method="otsu")
    assert otsu.shape == volume.shape
    with pytest.raises(ParameterError, match="multiple of 4"):
        seg.predict(odd, tile_size=30)
    with pytest.raises(ParameterError, match=r"\(P, M, N\)"):
        seg.predict_stack(odd)


def test_class_weights_median_frequency():
    labels = [np.array([0] * 75 + [1] * 25)]
    w = class_weights_from_labels(labels, 2)
    np.testing.assert_allclose(w, [0.5 / 0.75, 0.5 / 0.25])


def test_bad_training_input():
    image, truth = _blobs(0, (32, 32))
    with pytest.raises(ParameterError, match="no training images"):
        check_training_pairs([], [])
    with pytest.raises(ParameterError, match=r"image 0: labels have shape \(32, 31\)"):
        check_training_pairs([image], [truth[:, :31]])
    with pytest.raises(ParameterError, match=r"unexpected value\(s\) \[255\]"):
        check_training_pairs([image], [truth], classes=(0, 1))
    with pytest.raises(ParameterError, match="at least two classes"):
        check_training_pairs([image], [np.zeros_like(truth)])
    with pytest.raises(ParameterError, match="different values"):
        check_training_pairs([image], [np.arange(32 * 32).reshape(32, 32)])
    with pytest.raises(ParameterError, match="patch_size"):
        train_segmenter([image], [truth], patch_size=30, device="cpu")
    with pytest.raises(ParameterError, match="no option"):
        train_segmenter([image], [truth], model_options={"layers": 3}, device="cpu")


@pytest.mark.slow
def test_artifacts_that_are_not_segmenters(tmp_path, trained):
    _, out = trained
    with pytest.raises(MissingFileError, match="no such model folder"):
        load_segmenter(tmp_path / "missing")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileFormatError, match="has no config.json"):
        load_segmenter(empty)
    stray = tmp_path / "weights.pt"
    stray.write_bytes(b"not a model")
    with pytest.raises(FileFormatError, match="not a semlab model"):
        load_segmenter(stray)
    # a model of another kind
    other = tmp_path / "other"
    other.mkdir()
    meta = json.loads((out / "config.json").read_text())
    (other / "config.json").write_text(json.dumps({**meta, "kind": "backbone", "name": "resnet"}))
    with pytest.raises(FileFormatError, match="holds a backbone .*not a segmenter"):
        load_segmenter(other)
    # weights replaced after training
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    (damaged / "config.json").write_text((out / "config.json").read_text())
    (damaged / "model.pt").write_bytes(b"garbage")
    with pytest.raises(FileFormatError, match="does not match the hash"):
        load_segmenter(damaged)
    # a config.json that is not semlab's
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "config.json").write_text('{"architectures": ["Bert"]}')
    with pytest.raises(FileFormatError, match="not a semlab artifact"):
        load_artifact(foreign)


def test_save_artifact_round_trip(tmp_path):
    model = create("segmenter", "unet", depth=2, width=4, n_classes=3)
    src = tmp_path / "input.tif"
    src.write_bytes(b"abc")
    folder = save_artifact(
        tmp_path / "a", model, kind="segmenter", name="unet", config=model.config, seed=7,
        inputs=[src], preprocessing={"equalize": "clahe"}, extra={"classes": [0, 1, 2]},
    )
    meta = json.loads((folder / "config.json").read_text())
    assert meta["inputs"][0]["sha256"] == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    art = load_artifact(folder, kind="segmenter")
    assert art.config == model.config and art.config.n_classes == 3
    for k, v in model.state_dict().items():
        assert torch.equal(v, art.model.state_dict()[k])
    assert load_segmenter(folder).preprocessing["equalize"] == "clahe"


@pytest.mark.slow
def test_downsampled_segmenter_predicts_full_size():
    seg = _segmenter(depth=2, width=4)
    seg = Segmenter(seg.model, (0, 1), ("a", "b"), {"equalize": "none", "standardize": "image", "downsample": 3})
    image = np.random.default_rng(4).integers(0, 255, (37, 53)).astype(np.uint8)
    probs = seg.predict_proba(image, tile_size=16, overlap=4)
    assert probs.shape == (2, 37, 53)
    np.testing.assert_allclose(probs.sum(axis=0), 1.0, atol=1e-5)
    pairs = [_blobs(s, (48, 48)) for s in range(2)]
    res = train_segmenter(
        [p[0] for p in pairs], [p[1] for p in pairs], downsample=2, invert=True,
        model_options={"depth": 2, "width": 4}, patch_size=16, batch_size=2, max_steps=2, val_every=1, device="cpu",
    )
    assert res.segmenter.preprocessing["downsample"] == 2
    assert res.segmenter.predict(pairs[0][0], tile_size=16).shape == (48, 48)


@pytest.mark.slow
def test_training_resumes_from_a_checkpoint_exactly(tmp_path):
    from semlab.segment import SegmenterConfig
    from semlab.training import TrainConfig

    pairs = [_blobs(s, (40, 40)) for s in range(2)]
    ims, lbs = [p[0] for p in pairs], [p[1] for p in pairs]
    cfg = SegmenterConfig(model_options={"depth": 2, "width": 4}, patch_size=32, batch_size=2)
    train = TrainConfig(max_steps=6, validate_every=2, patience=8, seed=3, device="cpu")
    whole = train_segmenter(ims, lbs, config=cfg, train=train)
    ck = str(tmp_path / "ck.pt")
    train_segmenter(ims, lbs, config=cfg, train=dataclasses.replace(train, max_steps=4, checkpoint=ck))
    rest = train_segmenter(ims, lbs, config=cfg, train=dataclasses.replace(train, checkpoint=ck))
    assert rest.steps == 6 and rest.best_step == whole.best_step
    for k, v in whole.segmenter.model.state_dict().items():
        assert torch.equal(v, rest.segmenter.model.state_dict()[k]), k
    np.testing.assert_allclose(rest.history["val_loss"], whole.history["val_loss"])
    with pytest.raises(ParameterError, match="another run"):
        other = dataclasses.replace(cfg, lr=1e-3)
        train_segmenter(ims, lbs, config=other, train=dataclasses.replace(train, checkpoint=ck))
