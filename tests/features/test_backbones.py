"""Backbones: the papers' models build with their documented widths; weights are resolved or refused."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("timm")

from semlab.errors import FileFormatError, MissingFileError, ParameterError  # noqa: E402
from semlab.features import BACKBONES, create_backbone, extract_features  # noqa: E402
from semlab.features.backbones import LITE0_PACKAGE, lite0_package_file, load_lite0_package_state  # noqa: E402

# Documented pooled-feature widths of the papers' backbones (timm model cards).
WIDTHS = {
    "convnext_tiny": 768,
    "resnet50": 2048,
    "inception_resnet_v2": 1536,
    "inception_v3": 2048,
    "densenet121": 1024,
    "efficientnet_lite0": 1280,
}
INPUT_SIDE = {"inception_resnet_v2": 299, "inception_v3": 299}


def test_named_backbones_are_the_papers_choices():
    from semlab import registry

    assert BACKBONES == WIDTHS
    assert set(WIDTHS) <= set(registry.available("backbone"))


@pytest.mark.parametrize("name", list(WIDTHS))
def test_named_backbone_builds_and_gives_documented_width(name):
    bb = create_backbone(name, pretrained=False)
    assert bb.name == name and bb.num_features == WIDTHS[name]
    assert bb.weights == "random init (pretrained=False)" and len(bb.weights_sha256) == 64
    # the model's own data config, not a hard-coded one
    assert bb.data_config["input_size"] == (3, INPUT_SIDE.get(name, 224), INPUT_SIDE.get(name, 224))
    assert len(bb.data_config["mean"]) == 3 and len(bb.data_config["std"]) == 3
    assert not bb.model.training
    # keep it fast: one small patch, fed at 96 px instead of the model's input size
    small = dataclasses.replace(bb, data_config={**bb.data_config, "input_size": (3, 96, 96)})
    patch = np.random.default_rng(0).random((1, 40, 40)).astype(np.float32)
    feats = extract_features(patch, backbone=small, device="cpu", precision="fp32")
    assert feats.shape == (1, WIDTHS[name]) and feats.dtype == np.float32
    assert np.isfinite(feats).all() and np.abs(feats).sum() > 0


def test_random_init_is_seeded():
    a = create_backbone("test_efficientnet", pretrained=False, seed=3)
    b = create_backbone("test_efficientnet", pretrained=False, seed=3)
    c = create_backbone("test_efficientnet", pretrained=False, seed=4)
    assert a.weights_sha256 == b.weights_sha256 != c.weights_sha256


def test_any_timm_name_works_through_the_registry():
    from semlab import registry

    bb = create_backbone("test_resnet", pretrained=False)
    assert bb.num_features == bb.model.num_features > 0
    assert "test_resnet" in registry.available("backbone")
    again = registry.create("backbone", "test_resnet", pretrained=False)
    assert again.weights_sha256 == bb.weights_sha256


def test_unknown_backbone_suggests_close_names():
    with pytest.raises(ParameterError) as err:
        create_backbone("convnext_tinny", pretrained=False)
    msg = str(err.value)
    assert "\n" not in msg and "convnext_tinny" in msg and "did you mean" in msg and "convnext_tiny" in msg


def test_lite0_package_keys_all_match_timm():
    import timm

    found = lite0_package_file()
    if found is None:
        pytest.skip(f"{LITE0_PACKAGE} not installed")
    src = torch.load(found[0], map_location="cpu", weights_only=True)
    target = timm.create_model("efficientnet_lite0", pretrained=False).state_dict()
    state = load_lite0_package_state()
    assert list(state) == list(target)  # every timm key, in order
    assert len(src) == len(target) == 296
    for (ks, vs), (kt, vt) in zip(src.items(), state.items(), strict=True):
        assert vs.shape == target[kt].shape
        assert torch.equal(vs, vt), (ks, kt)


def test_lite0_offline_weights_are_used_and_reported(lite0):
    from semlab._util import file_sha256

    path, version = lite0_package_file()
    assert lite0.source == "package"
    assert lite0.weights == f"offline package {LITE0_PACKAGE} {version}"
    assert lite0.weights_sha256 == file_sha256(path)
    assert lite0.num_features == 1280
    rand = create_backbone("efficientnet_lite0", pretrained=False)
    patches = np.random.default_rng(1).random((2, 64, 64)).astype(np.float32)
    a = extract_features(patches, backbone=lite0)
    b = extract_features(patches, backbone=rand)
    cos = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    assert (cos < 0.9).all()  # pretrained features are not those of a random network


def test_lite0_offline_weights_recognise_imagenet_classes():
    """The cat photo of scikit-image is an ImageNet cat (classes 281-285) for the offline weights."""
    data = pytest.importorskip("skimage.data")
    try:
        cat = data.chelsea()
    except Exception:  # pragma: no cover - image not bundled
        pytest.skip("skimage's chelsea image is not available")
    if lite0_package_file() is None:
        pytest.skip(f"{LITE0_PACKAGE} not installed")
    from semlab.features.extract import make_input

    bb = create_backbone("efficientnet_lite0", num_classes=1000)
    assert bb.model.num_classes == 1000
    rgb = torch.from_numpy(cat).permute(2, 0, 1).float()[None] / 255.0
    grey = rgb.mean(1)  # the extractor's path: grey replicated to 3 channels
    with torch.inference_mode():
        probs = bb.model(make_input(grey, bb.data_config)).softmax(-1)[0]
    top = probs.topk(5).indices.tolist()
    assert top[0] in range(281, 286), top


def test_weights_file_round_trip_state_dict_and_checkpoint(tmp_path):
    from semlab._util import file_sha256

    src = create_backbone("test_efficientnet", pretrained=False, seed=7)
    full = create_backbone("test_efficientnet", pretrained=False, seed=8, num_classes=10)
    patches = np.random.default_rng(2).random((3, 48, 48)).astype(np.float32)

    plain = tmp_path / "plain.pth"  # a state dict with a 10-class head
    torch.save(full.model.state_dict(), plain)
    ckpt = tmp_path / "ckpt.pth.tar"  # a timm/DataParallel training checkpoint
    torch.save(
        {"epoch": 3, "state_dict": {f"module.{k}": v for k, v in src.model.state_dict().items()}}, ckpt
    )
    for f, origin in ((plain, full), (ckpt, src)):
        bb = create_backbone("test_efficientnet", weights=f)
        assert bb.source == "file" and bb.weights == f"file {f}"
        assert bb.weights_sha256 == file_sha256(f)
        ref = extract_features(patches, backbone=origin)  # pooled features, head or not
        np.testing.assert_allclose(extract_features(patches, backbone=bb), ref, rtol=1e-5, atol=1e-5)
    # the classifier of the file is kept when it has the asked size
    head = create_backbone("test_efficientnet", weights=plain, num_classes=10)
    keys = [k for k in head.model.state_dict() if k.startswith("classifier")]
    assert keys and all(torch.equal(head.model.state_dict()[k], full.model.state_dict()[k]) for k in keys)


def test_weights_file_of_wrong_architecture_is_refused(tmp_path):
    other = create_backbone("test_resnet", pretrained=False)
    f = tmp_path / "resnet.pth"
    torch.save(other.model.state_dict(), f)
    with pytest.raises(FileFormatError) as err:
        create_backbone("test_efficientnet", weights=f)
    msg = str(err.value)
    assert "\n" not in msg and str(f) in msg and "do not fit test_efficientnet" in msg and "missing" in msg


def test_weights_file_not_weights(tmp_path):
    f = tmp_path / "notes.pth"
    f.write_text("not a checkpoint")
    with pytest.raises(FileFormatError) as err:
        create_backbone("test_efficientnet", weights=f)
    assert str(f) in str(err.value) and "\n" not in str(err.value)


def test_missing_weights_file(tmp_path):
    with pytest.raises(MissingFileError) as err:
        create_backbone("test_efficientnet", weights=tmp_path / "nope.pth")
    assert "nope.pth" in str(err.value) and "--weights" in str(err.value)


def test_no_pretrained_weights_gives_how_to(monkeypatch):
    import time

    from semlab.features import backbones

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(backbones, "_cached_timm_file", lambda cfg: None)
    start = time.perf_counter()
    with pytest.raises(ParameterError) as err:
        create_backbone("resnet50")
    assert time.perf_counter() - start < 30  # fails without waiting on the network
    msg = str(err.value)
    assert "\n" not in msg and "resnet50" in msg and "--weights FILE" in msg and "pretrained=False" in msg


def test_bad_num_classes():
    with pytest.raises(ParameterError):
        create_backbone("test_efficientnet", pretrained=False, num_classes=-1)


def test_timm_cache_is_used_when_present(tmp_path, monkeypatch):
    from semlab._util import file_sha256
    from semlab.features import backbones

    origin = create_backbone("test_efficientnet", pretrained=False, seed=5, num_classes=1000)
    f = tmp_path / "model.pth"
    torch.save(origin.model.state_dict(), f)
    monkeypatch.setattr(backbones, "_cached_timm_file", lambda cfg: f)
    bb = create_backbone("test_efficientnet")
    assert bb.source == "timm" and bb.weights == f"timm cache {f}" and bb.weights_sha256 == file_sha256(f)
    patches = np.random.default_rng(3).random((2, 40, 40)).astype(np.float32)
    np.testing.assert_allclose(
        extract_features(patches, backbone=bb), extract_features(patches, backbone=origin), atol=1e-5
    )


class _Bomb:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_weights_file_that_needs_pickle_is_refused_without_running(tmp_path):
    marker = tmp_path / "ran"
    f = tmp_path / "planted.pth"
    torch.save({"state_dict": {"w": _Bomb(marker)}}, f)
    with pytest.raises(FileFormatError, match="can run code") as err:
        create_backbone("test_efficientnet", weights=f)
    assert "\n" not in str(err.value) and not marker.exists()
