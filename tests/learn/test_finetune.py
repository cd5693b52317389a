"""Fine-tuning a tiny timm model (random init, 64 px input) end to end, and the stage freezing."""

from __future__ import annotations

import json

import numpy as np
import pytest

from semlab.cli import main
from semlab.errors import ParameterError
from semlab.learn import finetune, load_predictor

pytestmark = pytest.mark.slow  # docs/conventions.md: slow tests are skipped by `make test-fast`


def _images(n_per_class=4, size=96, seed=0):
    """Two SEM-like categories: fine grains (σ = 1 px) and coarse grains (σ = 4 px); one sample per image."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    images, labels = [], []
    for label, sigma in (("fine", 1.0), ("coarse", 4.0)):
        for _ in range(n_per_class):
            im = gaussian_filter(rng.normal(size=(size, size)), sigma)
            images.append(((im - im.min()) / np.ptp(im) * 255).astype(np.uint8))
            labels.append(label)
    return images, labels


def test_set_trainable_unfreezes_the_last_stages():
    import timm

    from semlab.learn.finetune import set_trainable

    model = timm.create_model("test_resnet", pretrained=False, num_classes=3)
    head_only, total = set_trainable(model, 0)
    last, _ = set_trainable(model, 1)
    two, _ = set_trainable(model, 2)
    assert 0 < head_only < last < two < total
    assert all(p.requires_grad for p in model.get_classifier().parameters())
    assert not any(p.requires_grad for p in model.layer2.parameters())
    assert all(p.requires_grad for p in model.layer3.parameters())


def test_finetune_writes_a_run_that_predicts(tmp_path):
    images, labels = _images()
    res = finetune(
        images,
        labels,
        names=[f"im{k}" for k in range(len(images))],
        backbone="test_resnet",
        pretrained=False,
        patch_size=48,
        input_size=64,
        patches_per_image=2,
        epochs=2,
        batch_size=8,
        unfreeze=1,
        seed=0,
        out=tmp_path / "ft",
    )
    assert res.classes == ["coarse", "fine"]
    assert len(res.head.history) == 2 and res.metrics["training"]["stopped"] == "max_steps"
    cfg = json.loads((tmp_path / "ft" / "config.json").read_text())
    assert cfg["kind"] == "finetuned" and cfg["preprocessing"]["input_size"] == [3, 64, 64]
    assert (tmp_path / "ft" / "metrics.json").is_file() and (tmp_path / "ft" / "loss_curves.png").is_file()
    pred = load_predictor(tmp_path / "ft").predict(images[:2])
    assert len(pred) == 2 and set(pred["prediction"]) <= {"coarse", "fine"}
    assert np.allclose(pred[["p_coarse", "p_fine"]].sum(axis=1), 1.0, atol=1e-5)
    # the reloaded model gives the test predictions of the run
    test_names = res.image_predictions["image"].tolist()
    idx = [int(n[2:]) for n in test_names]
    again = load_predictor(tmp_path / "ft").predict([images[i] for i in idx], names=test_names)
    assert np.allclose(again["p_fine"], res.image_predictions["p_fine"], atol=1e-4)


def test_time_budget_and_early_stopping(tmp_path):
    images, labels = _images(n_per_class=8, size=64)
    groups = [f"s{k // 2}" for k in range(len(images))]  # two images per sample, four samples per class
    res = finetune(
        images,
        labels,
        groups,
        backbone="test_resnet",
        pretrained=False,
        patch_size=48,
        input_size=64,
        patches_per_image=2,
        epochs=50,
        batch_size=8,
        time_budget_s=0.01,
        seed=1,
    )
    assert res.metrics["training"]["stopped"] == "time_budget" and len(res.head.history) == 1
    train_groups = set(np.asarray(groups)[res.splits[0].train])
    assert not train_groups & set(res.predictions["group"])  # split by sample
    # lr 0 and only the classifier trainable: the validation loss never improves after epoch 1
    res = finetune(
        images,
        labels,
        groups,
        backbone="test_resnet",
        pretrained=False,
        patch_size=48,
        input_size=64,
        patches_per_image=2,
        epochs=50,
        batch_size=8,
        lr=0.0,
        unfreeze=0,
        patience=1,
        seed=1,
    )
    assert res.metrics["training"]["stopped"] == "early_stopping"
    assert len(res.head.history) == 2 and res.head.best_epoch == 1


def test_cli_finetune_folder(tmp_path, capsys):
    from PIL import Image

    images, labels = _images(n_per_class=3)
    for k, (im, label) in enumerate(zip(images, labels, strict=True)):
        (tmp_path / "cats" / label).mkdir(parents=True, exist_ok=True)
        Image.fromarray(im).save(tmp_path / "cats" / label / f"{k}.png")
    code = main(
        [
            "finetune",
            str(tmp_path / "cats"),
            "--backbone",
            "test_resnet",
            "--no-pretrained",
            "--patch-size",
            "48",
            "--input-size",
            "64",
            "--epochs",
            "1",
            "--patches-per-image",
            "2",
            "--out",
            str(tmp_path / "run"),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "image level" in out and (tmp_path / "run" / "model.pt").is_file()
    code = main(["finetune", str(tmp_path / "cats"), "--target", "x"])
    assert code == 2 and "--target needs a workspace" in capsys.readouterr().err


def test_one_class_is_refused():
    images, _ = _images(n_per_class=2)
    with pytest.raises(ParameterError, match="two classes"):
        finetune(images, ["a"] * len(images), backbone="test_resnet", pretrained=False)


def test_finetune_workspace_groups_by_sample(series_ws, tmp_path):
    from semlab.learn import finetune_workspace

    res = finetune_workspace(
        series_ws,
        target="burst_count",
        backbone="test_resnet",
        pretrained=False,
        patch_size=48,
        input_size=64,
        patches_per_image=2,
        epochs=1,
        batch_size=8,
        out=tmp_path / "ws-ft",
    )
    assert res.classes == ["1", "2", "4", "8"]
    tested = set(res.image_predictions["group"])
    from semlab.dataset import Workspace

    table = Workspace.open(series_ws).table()
    assert len(tested) == 4  # one sample of each burst count is held out
    trained = set(table["sample"].iloc[res.splits[0].train]) | set(table["sample"].iloc[res.splits[0].val])
    assert not tested & trained and len(trained) == 4
    cfg = json.loads((tmp_path / "ws-ft" / "config.json").read_text())
    assert cfg["preprocessing"]["pixel_size"] == pytest.approx(table["pixel_size_um"].max())
    assert len(cfg["inputs"]) == 16


def test_resume_from_a_checkpoint_equals_one_run(tmp_path):
    import dataclasses

    import torch

    from semlab.learn import FinetuneConfig
    from semlab.preprocess import Preparation
    from semlab.training import TrainConfig

    images, labels = _images(n_per_class=3, size=64)
    cfg = FinetuneConfig(
        backbone="test_resnet",
        pretrained=False,
        input_size=64,
        batch_size=4,
        steps_per_epoch=2,
        preparation=Preparation(patch_size=48, patches_per_image=2),
    )
    train = TrainConfig(max_steps=3, seed=0, device="cpu")
    whole = finetune(images, labels, config=cfg, train=train)
    ck = str(tmp_path / "ck.pt")
    finetune(images, labels, config=cfg, train=dataclasses.replace(train, max_steps=2, checkpoint=ck))
    rest = finetune(images, labels, config=cfg, train=dataclasses.replace(train, checkpoint=ck))
    a, b = whole.head.module.state_dict(), rest.head.module.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [h["train_loss"] for h in rest.head.history] == pytest.approx([h["train_loss"] for h in whole.head.history])
    with pytest.raises(ParameterError, match="another fine-tuning run"):
        finetune(images, labels[::-1], config=cfg, train=dataclasses.replace(train, checkpoint=ck))
