"""Prediction at another pixel size than training, and a workspace of mixed magnifications.

Issue 15 item 1: patches are cut at the run's pixel size; an image within ``max_rescale`` of
it is resampled, one further off follows the recipe's ``scale_policy`` ("native": tiled at
its own resolution with a one-line warning; "refuse": a one-line error).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import warnings

import pytest

from semlab.cli import main
from semlab.errors import ParameterError, ScaleWarning
from semlab.learn import HeadConfig, load_predictor, train_workspace


@pytest.fixture(scope="module")
def series_run(series_ws, tmp_path_factory):
    out = tmp_path_factory.mktemp("scale-run") / "run"
    train_workspace(series_ws, target="burst_count", model="logreg", out=out, plots=False)
    return out


@pytest.mark.slow
def test_image_at_twice_the_pixel_size_gets_the_same_class(series_ws, series_run):
    from semlab.dataset import Workspace
    from semlab.io import Micrograph
    from semlab.preprocess import resample

    predictor = load_predictor(series_run)
    assert predictor.preparation.scale_policy == "native"
    ws = Workspace.open(series_ws)
    originals = [ws.read(h) for h in ws.table()["hash"]]
    coarse = [  # the same field imaged with pixels twice as large (half the pixels per side)
        Micrograph(
            resample(m.image, m.pixel_size, 2 * m.pixel_size),
            2 * m.pixel_size,
            {"crop_box": [0, 1, 0, 1], "original_name": m.metadata["original_name"]},
        )
        for m in originals
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("error", ScaleWarning)  # within max_rescale: resampled silently
        a = predictor.predict(originals)
        b = predictor.predict(coarse)
    # half the pixels per side is a real loss (the model sees upsampled, blurred patches):
    # measured 10 of 16 images keep their class, 8 of 16 are right (chance 4 of 16)
    same = (a["prediction"].astype(str) == b["prediction"].astype(str)).mean()
    assert same > 0.5, (a[["image", "prediction"]], b[["image", "prediction"]])
    truth = ws.table()["burst_count"].astype(str).to_numpy()
    right = (b["prediction"].astype(str).to_numpy() == truth).mean()
    assert right > 1.5 / len(predictor.classes), right


@pytest.mark.slow
def test_image_300x_off_is_tiled_natively_or_refused_as_the_policy_says(
    series_ws, series_run, tmp_path, capsys
):
    from semlab.dataset import Workspace
    from semlab.io import Micrograph, write_micrograph

    predictor = load_predictor(series_run)
    m = Workspace.open(series_ws).read(Workspace.open(series_ws).table()["hash"].iloc[0])
    far = Micrograph(m.image, 300 * m.pixel_size, {"crop_box": [0, 1, 0, 1]})
    with pytest.warns(ScaleWarning, match=r"far\.tif: pixel size .* is 300× coarser") as caught:
        pred = predictor.predict([far], names=["far.tif"])
    assert len(pred) == 1 and all("\n" not in str(w.message) for w in caught)
    # the same run with scale_policy="refuse": one-line error naming the file and both scales
    refusing = dataclasses.replace(
        predictor,
        config={**predictor.config, "preprocessing": {**predictor.preprocessing, "scale_policy": "refuse"}},
        _cache={},
    )
    with pytest.raises(ParameterError, match=r"far\.tif: pixel size .* 300× coarser than the recipe") as err:
        refusing.predict([far], names=["far.tif"])
    assert "\n" not in str(err.value)
    # CLI: a run saved before scale_policy existed (no key) refuses; exit 2, one line
    old_run = tmp_path / "old-run"
    shutil.copytree(series_run, old_run)
    cfg_path = old_run / "config.json"
    cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    del cfg["preprocessing"]["scale_policy"]
    cfg_path.write_text(json.dumps(cfg), encoding="utf-8")
    path = tmp_path / "far.tif"
    write_micrograph(path, m.image, pixel_size=300 * m.pixel_size)
    assert main(["predict", str(old_run), str(path)]) == 2
    err_text = capsys.readouterr().err.strip()
    assert "far.tif" in err_text and "300× coarser" in err_text and len(err_text.splitlines()) == 1


@pytest.mark.slow
def test_workspace_of_the_shared_vendor_files_embeds_trains_and_predicts(sem_dir, tmp_path):
    """FEI 3.37 µm/px, Zeiss 0.012–2.6 µm/px, ImageJ 0.17 µm/px and one without a pixel size."""
    from semlab.dataset import Workspace
    from semlab.features import embed_workspace
    from semlab.preprocess import Preparation

    files = sorted(sem_dir.glob("*.tif"))
    if len(files) < 6:
        pytest.skip(f"{sem_dir} lacks the vendor files")
    rows = ["image,sample,vendor"]
    for i, f in enumerate(files):  # a made-up label: which vendor's software wrote the file
        rows.append(f"{f},s{i},{'fei' if f.name.startswith('FEI') else 'other'}")
    table = tmp_path / "vendor.csv"
    table.write_text("\n".join(rows) + "\n", encoding="utf-8")
    ws = Workspace.init(tmp_path / "ws")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the navcam file's unparseable metadata floats
        ws.add(table=table)
    sizes = ws.table()["pixel_size_um"]
    assert sizes.max() / sizes.min() > 200 and sizes.isna().sum() == 1  # mixed, one unknown
    prep = Preparation(patch_size=32, patches_per_image=2)
    with pytest.warns(ScaleWarning) as caught:
        ft = embed_workspace(ws, backbone="efficientnet_lite0", preparation=prep, device="cpu")
    messages = " ".join(str(w.message) for w in caught)
    assert "ZEISS_SEM_multipage.tif" in messages and "native resolution" in messages
    assert "FEI-Helios-navcam-with-no-IRBeam-bad-floats.tif: pixel size unknown" in messages
    assert ft.features.shape[0] == 2 * len(files)
    assert ft.config["pixel_size"] == pytest.approx(sizes.median())  # the median, not the coarsest
    run = train_workspace(
        ws,
        target="vendor",
        config=HeadConfig(model="logreg", permutations=0),
        folds=2,
        out=tmp_path / "run",
        plots=False,
    )
    assert run.run_dir.is_dir()
    predictor = load_predictor(tmp_path / "run")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScaleWarning)
        pred = predictor.predict([ws.read(h) for h in ws.table()["hash"]])
    assert len(pred) == len(files) and set(pred["prediction"].astype(str)) <= {"fei", "other"}
