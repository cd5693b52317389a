"""extract_features: preprocessing from the model's data config, batching, validation."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("timm")

from semlab.errors import ParameterError  # noqa: E402
from semlab.features import create_backbone, extract_features  # noqa: E402
from semlab.features.extract import make_input  # noqa: E402


@pytest.fixture(scope="module")
def tiny():
    return create_backbone("test_efficientnet", pretrained=False, seed=1)


def _naive(bb, patches):
    """One patch at a time, plain preprocessing: resize, replicate to RGB, normalise."""
    cfg = bb.data_config
    _, h, w = cfg["input_size"]
    mean = torch.tensor(cfg["mean"]).view(3, 1, 1)
    std = torch.tensor(cfg["std"]).view(3, 1, 1)
    out = []
    with torch.no_grad():
        for p in patches:
            x = torch.from_numpy(p)[None, None].float()
            x = torch.nn.functional.interpolate(
                x, size=(h, w), mode=cfg["interpolation"], align_corners=False, antialias=p.shape[0] > h
            )
            rgb = (x[0].repeat(3, 1, 1) - mean) / std
            out.append(bb.model(rgb[None])[0].numpy())
    return np.stack(out)


def test_batched_features_equal_per_patch_features(tiny):
    patches = np.random.default_rng(0).random((7, 200, 200)).astype(np.float32)
    batched = extract_features(patches, backbone=tiny, batch_size=3, precision="fp32")
    naive = _naive(tiny, patches)
    cos = (batched * naive).sum(1) / np.linalg.norm(batched, axis=1) / np.linalg.norm(naive, axis=1)
    assert cos.min() > 0.9999
    again = extract_features(patches, backbone=tiny, batch_size=7, precision="fp32")
    np.testing.assert_allclose(batched, again, atol=1e-5)


def test_make_input_follows_data_config(tiny):
    cfg = tiny.data_config
    side = cfg["input_size"][1]
    grey = np.random.default_rng(1).random((2, 37, 37)).astype(np.float32)
    x = make_input(grey, cfg)
    assert tuple(x.shape) == (2, 3, side, side)
    # every channel is the same grey image, normalised with that channel's mean and std
    back = [x[:, c] * cfg["std"][c] + cfg["mean"][c] for c in range(3)]
    torch.testing.assert_close(back[0], back[1], atol=1e-5, rtol=0)
    torch.testing.assert_close(back[0], back[2], atol=1e-5, rtol=0)
    same = make_input(np.full((1, side, side), 0.25, np.float32), cfg)  # no resize needed
    for c in range(3):
        assert torch.allclose(same[0, c], torch.tensor((0.25 - cfg["mean"][c]) / cfg["std"][c]), atol=1e-6)


def test_integer_patches_are_scaled_by_their_range(tiny):
    rng = np.random.default_rng(2)
    u8 = rng.integers(0, 256, size=(2, 32, 32)).astype(np.uint8)
    a = extract_features(u8, backbone=tiny)
    b = extract_features(u8.astype(np.float32) / 255.0, backbone=tiny)
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_progress_and_empty_input(tiny):
    calls = []
    extract_features(
        np.zeros((5, 16, 16), np.float32),
        backbone=tiny,
        batch_size=2,
        progress=lambda d, t: calls.append((d, t)),
    )
    assert calls == [(2, 5), (4, 5), (5, 5)]
    out = extract_features(np.zeros((0, 16, 16), np.float32), backbone=tiny)
    assert out.shape == (0, tiny.num_features)


@pytest.mark.parametrize(
    ("patches", "words"),
    [
        (np.full((2, 8, 8), 3.0, np.float32), "[0, 1]"),
        (np.zeros((2, 2, 8, 8), np.float32), "(n, H, W)"),
        (np.full((1, 8, 8), np.nan, np.float32), "NaN"),
    ],
)
def test_bad_patches(tiny, patches, words):
    with pytest.raises(ParameterError) as err:
        extract_features(patches, backbone=tiny)
    assert words in str(err.value) and "\n" not in str(err.value)


def test_bad_options(tiny):
    x = np.zeros((1, 8, 8), np.float32)
    with pytest.raises(ParameterError, match="batch_size"):
        extract_features(x, backbone=tiny, batch_size=0)
    with pytest.raises(ParameterError, match="device"):
        extract_features(x, backbone=tiny, device="tpu")
    with pytest.raises(ParameterError, match="backbone"):
        extract_features(x, backbone=3)
    with pytest.raises(ParameterError, match="precision"):
        extract_features(x, backbone=tiny, precision="fp8")


def test_bf16_features_stay_close_to_fp32(lite0):
    from semlab.preprocess import equalize, sample_patches

    rng = np.random.default_rng(5)
    image = equalize(rng.gamma(2.0, 20.0, size=(300, 300)).astype(np.uint16))
    patches = sample_patches(image, 6, 224, rng=0, normalize=False)
    a = extract_features(patches, backbone=lite0, precision="fp32")
    b = extract_features(patches, backbone=lite0, precision="bf16")
    cos = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    assert cos.min() >= 0.999 and not np.array_equal(a, b)


def test_fast_inference_copy_folds_batchnorm_and_follows_weight_changes(tiny):
    from semlab.features import extract as ex

    ex._INFERENCE.pop(tiny.model, None)
    patches = np.random.default_rng(4).random((ex._FAST_MIN_PATCHES, 40, 40)).astype(np.float32)
    fast = extract_features(patches, backbone=tiny, precision="fp32", runtime="torch")  # a folded copy
    copy = ex._INFERENCE[tiny.model][1]
    n_bn = sum(isinstance(m, torch.nn.BatchNorm2d) for m in copy.modules())
    assert n_bn < sum(isinstance(m, torch.nn.BatchNorm2d) for m in tiny.model.modules())
    plain = _naive(tiny, patches)
    cos = (fast * plain).sum(1) / np.linalg.norm(fast, axis=1) / np.linalg.norm(plain, axis=1)
    assert cos.min() > 0.9999
    # training changes the weights in place: the copy is remade, features follow
    with torch.no_grad():
        next(tiny.model.parameters()).mul_(1.5)
    few = extract_features(patches[:4], backbone=tiny, precision="fp32", runtime="torch")  # stale copy unused
    np.testing.assert_allclose(few, _naive(tiny, patches[:4]), rtol=1e-3, atol=1e-4)
    assert not np.allclose(few, fast[:4], atol=1e-4)
    many = extract_features(patches, backbone=tiny, precision="fp32", runtime="torch")  # the copy is remade
    assert ex._INFERENCE[tiny.model][1] is not copy
    np.testing.assert_allclose(many[:4], few, rtol=1e-3, atol=1e-4)


def test_fold_batchnorm_is_exact_on_a_conv_bn_pair():
    from semlab.features.extract import fold_batchnorm

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.ReLU()).eval()
    net[1].running_mean.uniform_(-1, 1)
    net[1].running_var.uniform_(0.5, 2)
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        ref = net(x)
    assert fold_batchnorm(net, x) == 1 and isinstance(net[1], torch.nn.Identity)
    with torch.no_grad():
        torch.testing.assert_close(net(x), ref, atol=1e-5, rtol=1e-5)
